"""Every route of the app, with its path parameters filled in, for the walks over all of them:
who may call what (``test_api_access.py``, ``test_web_access.py``), what a GET writes
(``test_reads_write_nothing.py``) and how timestamps are written (``test_api_timestamps.py``).

Give a new path parameter a sample value in ``SAMPLES`` if the defaults do not fit.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter

from ledger.runtime.http import API_PREFIX

#: Path parameter values by name; anything else gets ``1`` (integers) or ``"ana"``.
SAMPLES = {"code": "ana", "ref": "ENG-1", "entry_id": 1, "period_id": "2026-01", "period": "2026-01", "id": 1,
           "kind": "resolution"}
#: The web walks' values, for ``web_module``'s partnership (``entry_id`` is set from the fixture:
#: ana's draw).
WEB_SAMPLES = {"code": "ana", "ref": "e1", "period_id": "2026-01", "period": "2026-01", "proposal_id": 1,
               "kind": "resolution", "filename": "app.css", "n": 0, "practice_code": "voice", "firm_code": "bayside"}


def routes(app: Flask, api: bool, samples: dict | None = None) -> list[tuple[str, str, str]]:
    """``(endpoint, method, url)`` for every route under /api/v1 (``api``) or outside it (the web
    app), path parameters filled in from ``samples`` (then ``SAMPLES``)."""
    values_for = {**SAMPLES, **(samples or {})}
    out = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(API_PREFIX) != api:
            continue
        values = {}
        for name, converter in rule._converters.items():
            values[name] = values_for.get(name, 1 if isinstance(converter, IntegerConverter) else "ana")
        url = rule.build(values)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, url))
    return out


def api_routes(app: Flask, samples: dict | None = None) -> list[tuple[str, str, str]]:
    """``(endpoint, method, url)`` for every route under /api/v1, path parameters filled in."""
    return routes(app, True, samples)


def web_routes(app: Flask, samples: dict | None = None) -> list[tuple[str, str, str]]:
    """``(endpoint, method, url)`` for every route of the web app (everything outside /api/v1)."""
    return routes(app, False, samples)
