"""The API's people and bookings on both engines: each endpoint's answer, and the ledger entry
behind each booking, to the cent."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from helpers.api import assert_problem

from ledger.core.economics import nsa_status
from ledger.practices.models import Partner
from ledger.runtime.database import get_session


def postings(api, entry_id):
    entry = api.ok("GET", f"/ledger/entries/{entry_id}")
    return entry, [(p["account"], p["amount"], p["kind"], p["engagement"]) for p in entry["postings"]]


def test_health_answers_without_a_token(api):
    response = api.get("/health", role=None)
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_partners_list_their_status_and_vested_units(api):
    partners = api.ok("GET", "/partners", role="partner")
    assert [(p["code"], p["status"], p["vested_units"]) for p in partners] == [
        ("ana", "active", 500), ("ben", "active", 250), ("chen", "active", 250)]
    assert partners[0] == {"code": "ana", "name": "Ana", "email": "ana@example.com", "status": "active",
                           "joined_on": "2026-01-01", "retired_on": None, "vested_units": 500}


def test_a_partner_by_code_and_an_unknown_code(api):
    assert api.ok("GET", "/partners/ben")["vested_units"] == 250
    assert_problem(api.get("/partners/zed"), 404)
    assert_problem(api.get("/partners/NOT_A_CODE"), 404)


def test_practices_show_their_owners_as_percentages(api):
    practices = {p["code"]: p for p in api.ok("GET", "/practices", role="partner")}
    assert practices["voice"]["owners"] == {"ben": "70%", "chen": "30%"}
    assert practices["msft"]["owners"] == {"ana": "100%"}
    assert api.ok("GET", "/practices/voice") == {"code": "voice", "name": "Phone Systems",
                                                  "created_on": "2026-01-01", "owners": {"ben": "70%", "chen": "30%"}}
    assert_problem(api.get("/practices/nope"), 404)


def test_a_client_is_created_with_its_receivable_account(api):
    body = api.ok("POST", "/clients", {"code": "acme", "name": "Acme Dental"}, status=201)
    assert body == {"code": "acme", "name": "Acme Dental", "receivable_account": "Assets:Receivable:Acme"}
    accounts = {a["name"]: a["commodities"] for a in api.ok("GET", "/ledger/accounts")}
    assert accounts["Assets:Receivable:Acme"] == ["USD"]
    assert api.ok("GET", "/clients", role="partner") == [body]
    assert_problem(api.post("/clients", {"code": "acme", "name": "Again"}), 409, "code")


def test_a_firm_records_its_vetting_and_agreement(api):
    body = api.ok("POST", "/firms", {"code": "northwind", "name": "Northwind", "vetted": ["credit", "quality"],
                                     "nsa_signed_on": "2026-01-01", "nsa_expires_on": "2026-12-31"}, status=201)
    assert body == {"code": "northwind", "name": "Northwind", "vetted": ["quality", "credit"],
                    "nsa_signed_on": "2026-01-01", "nsa_expires_on": "2026-12-31", "fully_vetted": False,
                    "nsa_status": nsa_status(dt.date(2026, 1, 1), dt.date(2026, 12, 31), dt.datetime.now(dt.UTC).date())}
    firms = {f["code"]: f for f in api.ok("GET", "/firms")}
    assert firms["bayside"]["fully_vetted"] is True
    assert_problem(api.post("/firms", {"code": "northwind", "name": "Again"}), 409, "code")


@pytest.mark.parametrize(("body", "field"), [
    ({"vetted": ["quality", "charm"]}, "vetted[1]"),
    ({"vetted": ["quality", "quality"]}, "vetted[1]"),
    ({"nsa_signed_on": "2026-01-01"}, "nsa_expires_on"),
    ({"nsa_signed_on": "2026-06-01", "nsa_expires_on": "2026-01-01"}, "nsa_expires_on"),
    ({"nsa_signed_on": "2026-02-30", "nsa_expires_on": "2027-01-01"}, "nsa_signed_on"),
    ({"code": "No Caps"}, "code"),
    ({"name": ""}, "name"),
])
def test_a_firm_that_breaks_a_rule_is_refused(shared, body, field):
    before = shared.trial_balance()
    assert_problem(shared.post("/firms", {"code": "acmefirm", "name": "Acme", **body}), 422, field)
    assert "acmefirm" not in {f["code"] for f in shared.ok("GET", "/firms")}
    assert shared.trial_balance() == before


def test_an_engagement_starts_with_nothing_invoiced(booked):
    body = booked.ok("GET", "/engagements/ENG-1", role="partner")
    assert body == {"ref": "ENG-1", "client": "acme", "practice": "voice", "originator": "ben",
                    "title": "Phone system", "opened_on": "2026-01-05",
                    "profitability": {"invoiced": "0.00", "costs": "0.00", "net_margin": "0.00",
                                      "subcontracted": "0.00", "subcontracted_share": None}}
    assert [e["ref"] for e in booked.ok("GET", "/engagements")] == ["ENG-1"]
    assert_problem(booked.get("/engagements/ENG-404"), 404)


@pytest.mark.parametrize(("change", "status", "field"), [
    ({"ref": "ENG-1"}, 409, "ref"),
    ({"client": "nobody"}, 422, "client"),
    ({"practice": "cloud"}, 422, "practice"),
    ({"originator": "zed"}, 422, "originator"),
    ({"ref": "has space"}, 422, "ref"),
    ({"opened_on": "05/01/2026"}, 422, "opened_on"),
])
def test_an_engagement_that_names_nothing_is_refused(shared, change, status, field):
    body = {"ref": "ENG-2", "client": "acme", "practice": "voice", "originator": "ben", "title": "More",
            "opened_on": "2026-01-05", **change}
    assert_problem(shared.post("/engagements", body), status, field)
    assert len(shared.ok("GET", "/engagements")) == 1


def test_a_retired_partner_cannot_originate(booked, founded):
    with founded.app_context():
        session = get_session()
        session.scalar(sa.select(Partner).where(Partner.code == "chen")).status = "retired"
        session.commit()
    body = {"ref": "ENG-2", "client": "acme", "practice": "voice", "originator": "chen", "title": "More",
            "opened_on": "2026-02-01"}
    problem = assert_problem(booked.post("/engagements", body), 409, "originator")  # CONTRACT §7: a 409
    assert "retired" in problem["errors"]["originator"][0]


def test_an_invoice_debits_the_receivable_and_credits_the_practice(booked):
    body = booked.ok("POST", "/engagements/ENG-1/invoices", {"amount": "12000.00", "date": "2026-01-31"}, status=201)
    assert body == {"entry": body["entry"], "engagement": "ENG-1", "amount": "12000.00", "date": "2026-01-31",
                    "memo": "Invoice: Phone system"}
    entry, legs = postings(booked, body["entry"])
    assert (entry["source_type"], entry["source_ref"]) == ("invoice", "ENG-1")
    assert legs == [("Assets:Receivable:Acme", "12000.00", None, "ENG-1"),
                    ("Income:Practice:Voice", "-12000.00", None, "ENG-1")]


def test_a_subcontract_to_a_vetted_firm_is_a_direct_cost(booked):
    body = booked.ok("POST", "/engagements/ENG-1/costs", {"amount": "3000", "date": "2026-02-10", "kind": "subcontract",
                                                          "firm": "bayside", "memo": "Cabling"}, status=201)
    assert body == {"entry": body["entry"], "engagement": "ENG-1", "kind": "subcontract", "firm": "bayside",
                    "amount": "3000.00", "date": "2026-02-10", "memo": "Cabling"}
    entry, legs = postings(booked, body["entry"])
    assert (entry["source_type"], entry["source_ref"]) == ("cost", "ENG-1")
    assert legs == [("Expenses:Direct:Voice", "3000.00", "subcontract", "ENG-1"), ("Assets:Cash", "-3000.00", None, None)]


def test_an_expense_names_no_firm(booked):
    body = booked.ok("POST", "/engagements/ENG-1/costs", {"amount": "250.50", "date": "2026-02-11", "kind": "expense"})
    assert (body["kind"], body["firm"], body["amount"]) == ("expense", None, "250.50")
    assert postings(booked, body["entry"])[1] == [("Expenses:Direct:Voice", "250.50", None, "ENG-1"),
                                                  ("Assets:Cash", "-250.50", None, None)]


@pytest.mark.parametrize(("firm", "date", "message"), [
    ({"code": "halfway", "vetted": ["quality", "credit"], "nsa_signed_on": "2025-01-01",
      "nsa_expires_on": "2030-01-01"}, "2026-03-01", "lacks customer_commitment, track_record, reputation, rapport"),
    ({"code": "nonsa", "vetted": "all", "nsa_signed_on": None, "nsa_expires_on": None}, "2026-03-01",
     "no non-solicitation agreement"),
    ({"code": "early", "vetted": "all", "nsa_signed_on": "2026-03-02", "nsa_expires_on": "2027-01-01"}, "2026-03-01",
     "only signed on 2026-03-02"),
    ({"code": "lapsed", "vetted": "all", "nsa_signed_on": "2025-01-01", "nsa_expires_on": "2026-02-28"}, "2026-03-01",
     "expired on 2026-02-28"),
])
def test_a_subcontract_needs_a_fully_vetted_firm_under_agreement_on_the_date(booked, firm, date, message):
    from ledger.core.vetting import VETTING_CRITERIA

    if firm["vetted"] == "all":
        firm["vetted"] = list(VETTING_CRITERIA)
    booked.ok("POST", "/firms", {"name": firm["code"].title(), **firm}, status=201)
    before = booked.trial_balance()
    response = booked.post("/engagements/ENG-1/costs", {"amount": "100.00", "date": date, "kind": "subcontract",
                                                        "firm": firm["code"]})
    problem = assert_problem(response, 422, "firm")
    assert any(message in m for m in problem["errors"]["firm"]), problem
    assert booked.trial_balance() == before


@pytest.mark.parametrize("day", ["2026-02-01", "2026-02-28"])
def test_the_agreement_counts_on_its_first_and_last_day(booked, day):
    booked.ok("POST", "/firms", {"code": "edge", "name": "Edge", "vetted": ["quality", "customer_commitment",
              "track_record", "reputation", "credit", "rapport"], "nsa_signed_on": "2026-02-01",
              "nsa_expires_on": "2026-02-28"})
    booked.ok("POST", "/engagements/ENG-1/costs", {"amount": "1", "date": day, "kind": "subcontract", "firm": "edge"})


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "subcontract"}, "firm"),
    ({"kind": "subcontract", "firm": "nobody"}, "firm"),
    ({"kind": "expense", "firm": "bayside"}, "firm"),
    ({"kind": "gift"}, "kind"),
])
def test_a_cost_kind_and_its_firm_go_together(shared, body, field):
    before = shared.trial_balance()
    assert_problem(shared.post("/engagements/ENG-1/costs", {"amount": "10", "date": "2026-02-01", **body}), 422, field)
    assert shared.trial_balance() == before


def test_profitability_counts_invoices_costs_and_the_subcontracted_share(booked):
    booked.ok("POST", "/engagements/ENG-1/invoices", {"amount": "12000.00", "date": "2026-01-31"})
    booked.ok("POST", "/engagements/ENG-1/invoices", {"amount": "4000", "date": "2026-02-15", "memo": "Phase 2"})
    sub = booked.ok("POST", "/engagements/ENG-1/costs", {"amount": "6000", "date": "2026-02-10", "kind": "subcontract",
                                                         "firm": "bayside"})
    booked.ok("POST", "/engagements/ENG-1/costs", {"amount": "1000.00", "date": "2026-02-11", "kind": "expense"})
    figures = booked.ok("GET", "/engagements/ENG-1")["profitability"]
    assert figures == {"invoiced": "16000.00", "costs": "7000.00", "net_margin": "9000.00",
                       "subcontracted": "6000.00", "subcontracted_share": "37.5%"}
    # A reversed subcontract leaves the engagement's figures as if it never happened.
    booked.ok("POST", f"/ledger/entries/{sub['entry']}/reverse", {"date": "2026-02-20"}, status=201)
    figures = booked.ok("GET", "/engagements")[0]["profitability"]
    assert figures == {"invoiced": "16000.00", "costs": "1000.00", "net_margin": "15000.00",
                       "subcontracted": "0.00", "subcontracted_share": "0%"}


def test_a_payment_reduces_what_the_client_owes(booked):
    booked.ok("POST", "/engagements/ENG-1/invoices", {"amount": "12000.00", "date": "2026-01-31"})
    body = booked.ok("POST", "/payments", {"client": "acme", "amount": "5000.00", "date": "2026-02-05"}, status=201)
    assert body == {"entry": body["entry"], "client": "acme", "amount": "5000.00", "date": "2026-02-05",
                    "memo": "Payment from Acme Dental", "outstanding": "7000.00"}
    entry, legs = postings(booked, body["entry"])
    assert (entry["source_type"], entry["source_ref"]) == ("payment", "acme")
    assert legs == [("Assets:Cash", "5000.00", None, None), ("Assets:Receivable:Acme", "-5000.00", None, None)]


@pytest.mark.parametrize(("body", "field"), [
    ({"client": "acme", "amount": "400.01", "date": "2026-02-05"}, "amount"),    # 500 owed, 100 paid later
    ({"client": "acme", "amount": "100.00", "date": "2026-01-19"}, "amount"),    # before the invoice
    ({"client": "beta", "amount": "1.00", "date": "2026-02-05"}, "amount"),       # owes nothing
    ({"client": "nobody", "amount": "1.00", "date": "2026-02-05"}, "client"),
])
def test_a_payment_is_never_more_than_the_client_owes(shared, body, field):
    before = shared.trial_balance()
    assert_problem(shared.post("/payments", body), 422, field)
    assert shared.trial_balance() == before


def test_overhead_opens_its_category_account_on_first_use(api):
    body = api.ok("POST", "/overhead", {"amount": "1500.00", "date": "2026-01-03", "category": "rent"}, status=201)
    assert body == {"entry": body["entry"], "category": "rent", "account": "Expenses:Overhead:Rent",
                    "amount": "1500.00", "date": "2026-01-03", "memo": "Overhead: rent"}
    api.ok("POST", "/overhead", {"amount": "1500", "date": "2026-02-03", "category": "rent", "memo": "February"})
    entry, legs = postings(api, body["entry"])
    assert (entry["source_type"], entry["source_ref"]) == ("overhead", "rent")
    assert legs == [("Expenses:Overhead:Rent", "1500.00", None, None), ("Assets:Cash", "-1500.00", None, None)]
    balances = {(r["account"], r["commodity"]): r["balance"] for r in api.trial_balance()}
    assert balances[("Expenses:Overhead:Rent", "USD")] == "3000.00"


def test_a_draw_is_charged_to_the_partners_capital(api):
    body = api.ok("POST", "/draws", {"partner": "ana", "amount": "800.00", "date": "2026-01-20"}, status=201)
    assert body == {"entry": body["entry"], "partner": "ana", "amount": "800.00", "date": "2026-01-20",
                    "memo": "Draw: Ana"}
    entry, legs = postings(api, body["entry"])
    assert (entry["source_type"], entry["source_ref"]) == ("draw", "ana")
    assert legs == [("Equity:Capital:Ana", "800.00", "draw", None), ("Assets:Cash", "-800.00", None, None)]
    assert_problem(api.post("/draws", {"partner": "zed", "amount": "1", "date": "2026-01-20"}), 422, "partner")
