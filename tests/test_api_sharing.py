"""The worked month through the HTTP API: bookings, preview, close, statements (JSON/CSV/PDF),
vesting, proposals and a retirement's buyout."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from helpers.api import assert_problem

LATER = (dt.datetime.now(dt.UTC) + dt.timedelta(days=5)).isoformat()


@pytest.fixture
def january(api):
    api.ok("POST", "/clients", {"code": "acme", "name": "Acme"}, status=201)
    for ref, practice, originator in (("e1", "msft", "ben"), ("e2", "voice", "chen")):
        api.ok("POST", "/engagements", {"ref": ref, "client": "acme", "practice": practice, "originator": originator,
                                        "title": ref, "opened_on": "2026-01-02"}, status=201)
    api.ok("POST", "/engagements/e1/invoices", {"amount": "9999.99", "date": "2026-01-10"}, status=201)
    api.ok("POST", "/engagements/e1/costs", {"amount": "3333.33", "date": "2026-01-12", "kind": "subcontract",
                                             "firm": "bayside"}, status=201)
    api.ok("POST", "/engagements/e2/invoices", {"amount": "1234.57", "date": "2026-01-20"}, status=201)
    api.ok("POST", "/overhead", {"amount": "500.00", "date": "2026-01-05", "category": "rent"}, status=201)
    api.ok("POST", "/draws", {"partner": "ben", "amount": "200.00", "date": "2026-01-25"}, status=201)
    return api


def test_preview_close_and_statements_to_the_cent(january):
    api = january
    preview = api.ok("GET", "/periods/2026-01/preview")
    assert preview["partners"]["ben"] == {"origination": "666.67", "practice": "518.52", "pool": "467.59"}
    assert_problem(api.get("/partners/ben/statement?period=2026-01"), 409)
    closed = api.ok("POST", "/periods/2026-01/close", status=200)
    assert (closed["id"], closed["status"], closed["policy_version"]) == ("2026-01", "closed", 1)
    for pid in ("2026-01", "2026-03", "2025-12"):
        assert_problem(api.post(f"/periods/{pid}/close"), 409 if pid != "2025-12" else 404)
    assert_problem(api.post("/periods/2026-13/close"), 404)
    assert_problem(api.post("/draws", {"partner": "ana", "amount": "1.00", "date": "2026-01-31"}), 409)
    st = api.ok("GET", "/partners/ben/statement?period=2026-01")
    assert (st["opening"], st["allocated"], st["draws"], st["closing"]) == ("0.00", "1652.78", "200.00", "1452.78")
    assert st["units"] == {"vested": 250, "unvested": 0}
    assert all("entry" in line for line in st["lines"])
    csv = api.get("/partners/chen/statement?period=2026-01&format=csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    rows = csv.data.decode().splitlines()
    assert rows[0] == "kind,amount,engagement,practice,entry"
    assert rows[-1] == "closing,813.27,,,"
    pdf = api.get("/partners/ana/statement?period=2026-01&format=pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    periods = api.ok("GET", "/periods")
    assert [(p["id"], p["status"]) for p in periods[:2]] == [("2026-01", "closed"), ("2026-02", "open")]


def test_statements_are_private_without_open_books(january):
    api = january
    api.ok("POST", "/periods/2026-01/close")
    assert api.get("/partners/ana/statement?period=2026-01", role="partner").status_code == 200
    assert_problem(api.get("/partners/ben/statement?period=2026-01", role="partner"), 403)
    assert_problem(api.get("/partners/zed/statement?period=2026-01"), 404)


def test_vesting_of_a_founder(api):
    v = api.ok("GET", "/partners/ana/vesting?as_of=2026-06-30", role="partner")
    assert (v["granted"], v["vested"], v["unvested"]) == (500, 500, 0)
    assert_problem(api.get("/partners/ben/vesting", role="partner"), 403)


def test_a_proposal_through_the_api(api, founded):
    from ledger.auth.service import create_token, get_user
    from ledger.runtime.database import get_session

    with founded.app_context():
        s = get_session()
        ben = create_token(s, get_user(s, "ben@example.com"))
        chen = create_token(s, get_user(s, "chen@example.com"))
        s.commit()
    api.tokens.update({"ben": ben, "chen": chen})
    body = {"kind": "add_practice", "title": "Cloud", "closes_at": LATER,
            "payload": {"code": "cloud", "name": "Cloud", "owners": {"ana": "100%"}}}
    assert_problem(api.post("/proposals", body, role="treasurer"), 403)
    assert_problem(api.post("/proposals", {**body, "closes_at": "2020-01-01T00:00:00+00:00"}, role="partner"), 422, "closes_at")
    prop = api.ok("POST", "/proposals", body, role="partner", status=201)
    assert [e["partner"] for e in prop["electorate"]] == ["ana", "ben", "chen"]
    assert_problem(api.post(f"/proposals/{prop['id']}/close", role="partner"), 409)
    for who in ("partner", "ben", "chen"):
        api.ok("POST", f"/proposals/{prop['id']}/votes", {"choice": "yes"}, role=who)
    closed = api.ok("POST", f"/proposals/{prop['id']}/close", role="treasurer")
    assert (closed["status"], closed["tally"]["yes"]) == ("passed", "3")
    assert api.ok("GET", "/practices/cloud")["owners"] == {"ana": "100%"}
    assert_problem(api.post(f"/proposals/{prop['id']}/votes", {"choice": "no"}, role="ben"), 409)
    assert api.ok("GET", "/proposals?status=open") == []


def test_a_statement_line_traces_to_its_entry_and_the_engagement_detail_there(january):
    """Every origination or practice line names an entry whose detail holds that very line, and
    whose capital posting for the partner and kind is the sum of such lines."""
    api = january
    api.ok("POST", "/periods/2026-01/close", status=200)
    st = api.ok("GET", "/partners/ben/statement?period=2026-01")
    for line in (x for x in st["lines"] if x["kind"] in ("origination", "practice")):
        entry = api.ok("GET", f"/ledger/entries/{line['entry']}")
        assert entry["source_type"] == "close"
        mine = [d for d in entry["detail"] if d["account"] == "Equity:Capital:Ben" and d["kind"] == line["kind"]]
        assert {"account": "Equity:Capital:Ben", "amount": f"-{line['amount']}", "commodity": "USD",
                "kind": line["kind"], "engagement": line["engagement"], "practice": line["practice"]} in mine
        posted = [p for p in entry["postings"] if p["account"] == "Equity:Capital:Ben" and p["kind"] == line["kind"]]
        assert len(posted) == 1 and posted[0]["engagement"] is None
        assert sum(Decimal(d["amount"]) for d in mine) == Decimal(posted[0]["amount"])
    listed = api.ok("GET", "/ledger/entries?limit=500")["items"]
    assert all("detail" not in e for e in listed)  # detail only on the one-entry read
