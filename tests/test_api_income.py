"""GET /api/v1/reports/income and the firms' NSA status (CONTRACT §10) over HTTP."""

from __future__ import annotations

import csv
import io

import pytest
from helpers.api import assert_problem

ALL = ["quality", "customer_commitment", "track_record", "reputation", "credit", "rapport"]


@pytest.fixture
def worked(booked):
    booked.ok("POST", "/engagements/ENG-1/invoices", {"amount": "1000.00", "date": "2026-01-20"})
    booked.ok("POST", "/engagements/ENG-1/costs", {"amount": "300.00", "date": "2026-01-21", "kind": "subcontract",
                                                   "firm": "bayside"})
    booked.ok("POST", "/engagements/ENG-1/costs", {"amount": "100.00", "date": "2026-02-02", "kind": "expense"})
    booked.ok("POST", "/overhead", {"amount": "50.00", "date": "2026-02-03", "category": "rent"})
    booked.ok("POST", "/periods/2026-01/close")
    return booked


def test_the_income_statement_by_practice_with_its_totals(worked):
    body = worked.ok("GET", "/reports/income?from=2026-01&to=2026-02", role="partner")
    voice = next(r for r in body["rows"] if r["key"] == "voice")
    assert {k: voice[k] for k in ("revenue", "direct_costs", "subcontract", "margin", "margin_pct",
                                  "subcontract_share")} == {
        "revenue": "1000.00", "direct_costs": "400.00", "subcontract": "300.00", "margin": "600.00",
        "margin_pct": "0.6000", "subcontract_share": "0.7500"}
    msft = next(r for r in body["rows"] if r["key"] == "msft")
    assert (msft["revenue"], msft["margin_pct"], msft["subcontract_share"]) == ("0.00", None, None)
    t = body["totals"]
    assert (t["overhead"], t["unattributed"], t["net_income"], t["allocated"]) == ("50.00", "0.00", "550.00", "700.00")
    assert body["provisional"] == ["2026-02"]
    assert body["periods"] == [{"id": "2026-01", "status": "closed"}, {"id": "2026-02", "status": "open"}]


def test_by_period_marks_the_open_ones_provisional_and_by_firm_names_the_firm(worked):
    rows = worked.ok("GET", "/reports/income?from=2026-01&to=2026-02&by=period")["rows"]
    assert [(r["key"], r["revenue"], r["direct_costs"], r["provisional"]) for r in rows] == [
        ("2026-01", "1000.00", "300.00", False), ("2026-02", "0.00", "100.00", True)]
    (firm,) = worked.ok("GET", "/reports/income?from=2026-01&to=2026-02&by=firm")["rows"]
    assert (firm["key"], firm["revenue"], firm["subcontract"], firm["margin"]) == ("bayside", "1000.00", "300.00", "600.00")


def test_csv_has_a_row_per_key_then_the_totals(worked):
    response = worked.get("/reports/income?from=2026-01&to=2026-02&format=csv")
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:7] == ["key", "revenue", "direct_costs", "subcontract", "margin", "margin_pct", "subcontract_share"]
    assert ["total", "1000.00", "400.00", "300.00", "600.00", "0.6000", "0.7500", "yes"] in rows
    assert ["allocated", "700.00", "", "", "", "", "", ""] in rows


@pytest.mark.parametrize(("query", "status", "field"), [
    ("from=2026-03&to=2026-01", 422, "from"), ("by=client", 422, "by"), ("from=2026-13", 422, "from"),
    ("from=1999-01&to=2026-01", 404, None), ("format=pdf", 422, "format"), ("colour=red", 422, None),
])
def test_bad_ranges_and_groupings_are_problems(worked, query, status, field):
    assert_problem(worked.get(f"/reports/income?{query}"), status, field)


def test_any_signed_in_user_may_read_it_but_not_anonymously(worked):
    assert worked.get("/reports/income", role=None).status_code == 401
    assert worked.get("/reports/income", role="partner").status_code == 200


def test_firms_show_their_nsa_status(booked):
    booked.ok("POST", "/firms", {"code": "soon", "name": "Soon", "vetted": ALL, "nsa_signed_on": "2025-01-01",
                                 "nsa_expires_on": "2099-01-01"}, status=201)
    statuses = {f["code"]: f["nsa_status"] for f in booked.ok("GET", "/firms")}
    assert statuses["soon"] == "in_force" and set(statuses) == {"bayside", "soon"}
