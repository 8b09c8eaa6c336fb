"""Every timestamp the API returns is RFC 3339 with an offset (CONTRACT §7: ``2026-12-02T02:24:32Z``).

A partnership with something of every kind that carries a time — a closed period (``closed_at``),
a pause that ended and one still open (``recorded_at``, ``ended_at``), an acceleration, proposals
open, passed and executed (``opened_at``, ``closes_at``, ``closed_at``, ``executed_at``) — then a
walk of every GET route of the API (and the answers of the writes that made them): every string
that looks like a time must carry an offset, and every value the document declares
``format: date-time`` must be one. On SQLite, which hands stored times back without their zone,
this is where a naive time would show.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from charters import API_ENTRANTS, with_partners
from helpers.routes import api_routes

from ledger.auth.service import create_token, get_user
from ledger.runtime.database import get_session
from ledger.schema import Timestamp

LATER = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).replace(microsecond=0).isoformat()
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
#: What a time looks like, with or without its offset (a date alone is not a time).
TIME_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


@pytest.fixture
def founded(app, runner, tmp_path):
    """Overrides conftest's: the worked example with dana and eve (who have grants to pause)."""
    path = tmp_path / "charter.toml"
    path.write_text(with_partners(API_ENTRANTS))
    assert runner.invoke(args=["init", str(path)]).exit_code == 0
    return app


def _amend(api, payload: dict) -> dict:
    """A passed ``amend_vesting`` proposal (vesting changes only by a vote): its closing answer."""
    opened = api.ok("POST", "/proposals", {"kind": "amend_vesting", "title": "Amend", "payload": payload,
                                           "closes_at": LATER}, role="partner")
    for voter in opened["electorate"]:
        api.tokens[voter["partner"]] = api.tokens.get(voter["partner"]) or _token(api, f"{voter['partner']}@example.com")
        api.ok("POST", f"/proposals/{opened['id']}/votes", {"choice": "yes"}, role=voter["partner"])
    closed = api.ok("POST", f"/proposals/{opened['id']}/close")
    assert closed["status"] == "passed", closed
    return closed


@pytest.fixture
def busy(api):
    """Something of every kind that carries a time; the answers of the writes that made them."""
    answers = [
        _amend(api, {"partner": "dana", "action": "pause", "date": "2026-03-01", "reason": "leave"}),
        _amend(api, {"partner": "dana", "action": "resume", "date": "2026-03-11", "reason": "back"}),
        _amend(api, {"partner": "eve", "action": "pause", "date": "2026-05-01", "reason": "open-ended"}),
        _amend(api, {"partner": "dana", "action": "accelerate", "date": "2027-02-01", "units": 10, "reason": "bonus"}),
        api.ok("POST", "/periods/2026-01/close"),
    ]
    proposal = api.ok("POST", "/proposals", {"kind": "resolution", "title": "Retreat", "payload": {"text": "May"},
                                             "closes_at": LATER}, role="partner")
    answers.append(proposal)
    api.ok("POST", "/proposals", {"kind": "resolution", "title": "Still open", "payload": {"text": "June"},
                                  "closes_at": LATER}, role="partner")
    for voter in proposal["electorate"]:
        token = api.tokens.get(voter["partner"]) or _token(api, f"{voter['partner']}@example.com")
        api.tokens[voter["partner"]] = token
        answers.append(api.ok("POST", f"/proposals/{proposal['id']}/votes", {"choice": "yes"}, role=voter["partner"]))
    answers.append(api.ok("POST", f"/proposals/{proposal['id']}/close"))
    assert answers[-1]["status"] == "passed" and answers[-1]["executed_at"]
    return answers


def _token(api, email: str) -> str:
    with api.client.application.app_context():
        s = get_session()
        token = create_token(s, get_user(s, email))
        s.commit()
    return token


def strings(value, where: str = "$"):
    """``(path, string)`` for every string in a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from strings(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from strings(item, f"{where}[{i}]")
    elif isinstance(value, str):
        yield where, value


def naive_times(value) -> list[str]:
    return [f"{where}: {text}" for where, text in strings(value) if TIME_LIKE.match(text) and not RFC3339.match(text)]


def test_the_walk_sees_a_naive_time():
    assert naive_times({"a": [{"recorded_at": "2026-03-01T10:00:00"}], "b": "2026-03-01", "c": "2026-03-01T10:00:00Z"}) \
        == ["$.a[0].recorded_at: 2026-03-01T10:00:00"]


def test_a_naive_stored_time_is_written_in_utc_with_a_z():
    assert Timestamp()._serialize(dt.datetime(2026, 3, 1, 10, 0), "t", None) == "2026-03-01T10:00:00Z"
    assert Timestamp()._serialize(dt.datetime(2026, 3, 1, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))),
                                  "t", None) == "2026-03-01T10:00:00Z"


def test_every_time_the_api_returns_has_an_offset(api, busy):
    app = api.client.application
    seen = []
    for answer in busy:
        assert naive_times(answer) == []
        seen += [t for _, t in strings(answer) if RFC3339.match(t)]
    samples = {"code": "dana", "proposal_id": busy[0]["id"]}
    for endpoint, method, url in api_routes(app, samples):
        if method != "GET" or endpoint == "api-docs.openapi_json":
            continue
        response = api.get(url.removeprefix("/api/v1") + ("?period=2026-01" if url.endswith("/statement") else ""))
        assert response.status_code < 500, (url, response.status_code)
        if response.mimetype.endswith("json"):
            body = response.get_json()
            assert naive_times(body) == [], url
            seen += [t for _, t in strings(body) if RFC3339.match(t)]
    # recorded_at x3 + ended_at, closed_at, opened/closes/closed/executed_at of two proposals...
    assert len(seen) >= 20, seen


def test_the_document_declares_its_times_as_date_time(api):
    doc = api.get("/openapi.json", role=None).get_json()
    schemas = doc["components"]["schemas"]
    declared = {f"{name}.{prop}" for name, schema in schemas.items()
                for prop, sub in schema.get("properties", {}).items() if sub.get("format") == "date-time"}
    assert {"PeriodOut.closed_at", "PauseOut.recorded_at", "PauseOut.ended_at", "AccelerationOut.recorded_at",
            "ProposalOut.opened_at", "ProposalOut.closes_at", "ProposalOut.closed_at",
            "ProposalOut.executed_at", "ProposalIn.closes_at"} <= declared
