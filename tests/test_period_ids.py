"""A period id outside the partnership's years is a 404 everywhere it is taken (CONTRACT §7) — the
close, the preview and the statements (JSON, CSV, PDF), in the API and in the web app — never a
500 (``0000-01`` and the year ``0000`` have no first day), never a 409 and never an empty statement.

The worked example starts on 2026-01-01 with monthly periods; a date more than ten years ahead may
not be posted, so its period does not exist either.
"""

from __future__ import annotations

import pytest
from helpers.api import assert_problem
from helpers.web import login

OUTSIDE = ["0000-01", "0000-12", "1999-12", "2025-12", "9999-12", "2099-01"]
OUTSIDE_YEARS = ["0000", "1999", "2025", "9999", "2099"]
#: Well-shaped for no partnership with monthly periods, or not a period at all.
MALFORMED = ["0000-Q1", "2026-00", "2026-13", "٢٠٢٦-01", "2026-1", "2026-01\n"]


@pytest.mark.parametrize("period", OUTSIDE + ["0000-Q1"])
def test_the_api_close_and_preview_answer_404(shared, period):
    assert_problem(shared.post(f"/periods/{period}/close"), 404)
    assert_problem(shared.get(f"/periods/{period}/preview"), 404)


@pytest.mark.parametrize("fmt", ["json", "csv", "pdf"])
@pytest.mark.parametrize("query", [f"period={p}" for p in OUTSIDE + OUTSIDE_YEARS]
                         + [f"from={p}&to=2026-01" for p in OUTSIDE] + [f"from=2026-01&to={p}" for p in OUTSIDE])
def test_an_api_statement_outside_the_partnerships_years_is_a_404(shared, query, fmt):
    assert_problem(shared.get(f"/partners/ana/statement?{query}&format={fmt}"), 404)


@pytest.mark.parametrize("period", ["2026-00", "2026-13", "٢٠٢٦-01", "2026-1", "20261", "2026-01%0A"])
def test_an_api_statement_period_of_the_wrong_shape_is_a_422(shared, period):
    assert_problem(shared.get(f"/partners/ana/statement?period={period}"), 422, "period")


def test_a_year_with_nothing_closed_yet_is_still_a_409(shared):
    assert_problem(shared.get("/partners/ana/statement?period=2026"), 409)


@pytest.mark.parametrize("path", [
    "/periods/{p}/close",
    "/partners/ana/statements/{p}",
    "/partners/ana/statements/{p}/csv",
    "/partners/ana/statements/{p}/pdf",
])
@pytest.mark.parametrize("period", OUTSIDE + OUTSIDE_YEARS + MALFORMED)
def test_every_web_page_taking_a_period_answers_404(web_module, path, period):
    client = web_module.test_client()
    assert login(client, "treasurer").status_code == 302
    url = path.format(p=period.replace("\n", "%0A"))
    assert client.get(url).status_code == 404, url
    if path.endswith("/close"):
        assert client.post(url).status_code == 404, url


def test_the_year_of_a_closed_period_still_reads(web_module):
    client = web_module.test_client()
    assert login(client, "ana").status_code == 302
    assert client.get("/partners/ana/statements/2026").status_code == 200
