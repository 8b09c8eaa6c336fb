"""The treasurer's forms: clients, firms, engagements, invoices, costs, payments, overhead, draws.
Each refused submission re-renders the form with what was typed and the error beside its field,
and writes nothing; a partner gets a 403 page for every one of them."""

from __future__ import annotations

import datetime as dt

import pytest
from helpers.web import count_entries, count_rows, field_error, text

from ledger.practices.models import Client, Cost, Engagement, Firm
from ledger.read.statements import capital_balance
from ledger.runtime.database import get_session

TREASURER_PAGES = ["/clients", "/firms", "/engagements/new", "/invoices/new", "/costs/new", "/payments/new",
                   "/overhead/new", "/draws/new", "/periods", "/periods/2026-01/close", "/ledger/entries",
                   "/ledger/entries/new", "/ledger/accounts", "/ledger/trial-balance", "/ledger/verify"]


@pytest.mark.parametrize("path", TREASURER_PAGES)
def test_a_partner_gets_a_403_page_for_every_treasurer_page(worked_january, as_user, path):
    # A partner's GET and POST are refused alike, and nothing is written.
    client = as_user("ana")
    before = count_entries(worked_january)
    for response in (client.get(path), client.post(path, data={})):
        assert response.status_code in (403, 405), path
        if response.status_code == 403:
            assert "You may not open this page" in text(response), path
    assert count_entries(worked_january) == before


@pytest.mark.parametrize("path", TREASURER_PAGES)
@pytest.mark.parametrize("who", ["treasurer", "admin"])
def test_the_treasurer_and_an_admin_open_every_treasurer_page(worked_january, as_user, who, path):
    response = as_user(who).get(path)
    assert response.status_code == 200, (who, path, response.data[:300])


# --- clients and firms -------------------------------------------------------------------------------


def test_add_a_client(web, treasurer):
    response = treasurer.post("/clients", data={"code": "acme", "name": "Acme Dental"})
    assert response.status_code == 302
    page = text(treasurer.get("/clients"))
    assert "Client acme added." in page and "Acme Dental" in page
    assert count_rows(web, Client) == 1


@pytest.mark.parametrize("data, field, message", [
    ({"code": "Acme!", "name": "Acme"}, "code", "2 to 32 of a-z"),
    ({"code": "", "name": "Acme"}, "code", "This field is required"),
    ({"code": "acme", "name": ""}, "name", "This field is required"),
    ({"code": "acme", "name": "x" * 201}, "name", "200"),
    ({"code": "acme", "name": "Bad\x00name"}, "name", "control characters"),
])
def test_a_bad_client_is_re_rendered_with_the_error_beside_the_field(web, treasurer, data, field, message):
    response = treasurer.post("/clients", data=data)
    assert response.status_code == 422
    assert message in field_error(response, field)
    assert "Nothing was written" in text(response)
    html = response.get_data(as_text=True)
    if data["name"] and "\x00" not in data["name"]:
        assert f'value="{data["name"]}"' in html  # the typed value is kept
    assert count_rows(web, Client) == 0


def test_a_duplicate_client_is_refused_by_the_service_beside_the_code(worked_january, treasurer):
    response = treasurer.post("/clients", data={"code": "acme", "name": "Acme again"})
    assert response.status_code == 422
    assert "already exists" in field_error(response, "code")
    assert count_rows(worked_january, Client) == 1


def test_add_a_firm_and_see_whether_it_is_eligible(web, treasurer):
    response = treasurer.post("/firms", data={"code": "northwind", "name": "Northwind", "vetted": ["quality", "credit"],
                                              "nsa_signed_on": "2026-01-01", "nsa_expires_on": "2027-01-01"})
    assert response.status_code == 302
    page = text(treasurer.get("/firms"))
    assert "Northwind" in page and "not eligible" in page and "lacks customer_commitment" in page
    assert "Bayside Tech" in page


def test_a_firm_whose_agreement_ends_before_it_starts_is_refused(web, treasurer):
    response = treasurer.post("/firms", data={"code": "late", "name": "Late", "nsa_signed_on": "2026-05-01",
                                              "nsa_expires_on": "2026-01-01"})
    assert response.status_code == 422
    assert "expires before it is signed" in field_error(response, "nsa_expires_on")
    assert count_rows(web, Firm) == 1


# --- engagements --------------------------------------------------------------------------------------


def test_open_an_engagement(worked_january, treasurer):
    form = treasurer.get("/engagements/new")
    assert "Acme Dental (acme)" in text(form)
    response = treasurer.post("/engagements/new", data={
        "ref": "ENG-3", "client": "acme", "practice": "voice", "originator": "ana", "title": "Teams calling",
        "opened_on": "2026-02-01"})
    assert response.status_code == 302 and response.headers["Location"] == "/engagements/ENG-3"
    assert "Teams calling" in text(treasurer.get("/engagements/ENG-3"))


@pytest.mark.parametrize("change, field, message", [
    ({"ref": "e1"}, "ref", "already exists"),
    ({"ref": "has space"}, "ref", "1-64 of"),
    ({"client": "nobody"}, "client", "Not a valid choice"),
    ({"opened_on": "2026-02-30"}, "opened_on", "Not a valid date"),
    ({"title": ""}, "title", "This field is required"),
])
def test_a_bad_engagement_is_re_rendered(worked_january, treasurer, change, field, message):
    data = {"ref": "ENG-3", "client": "acme", "practice": "voice", "originator": "ana", "title": "Teams calling",
            "opened_on": "2026-02-01", **change}
    response = treasurer.post("/engagements/new", data=data)
    assert response.status_code == 422
    assert message in field_error(response, field)
    assert count_rows(worked_january, Engagement) == 2


# --- invoices and costs --------------------------------------------------------------------------------


def test_record_an_invoice(worked_january, treasurer):
    before = count_entries(worked_january)
    response = treasurer.post("/invoices/new", data={"engagement": "e2", "amount": "1,500.50", "date": "2026-01-25",
                                                     "memo": "Handsets"})
    assert response.status_code == 302 and response.headers["Location"] == "/engagements/e2"
    assert count_entries(worked_january) == before + 1
    page = text(treasurer.get("/engagements/e2"))
    assert "Invoice of 1500.50 recorded" in page and "2,735.07" in page and "Handsets" in page


@pytest.mark.parametrize("change, field, message", [
    ({"amount": "12.345"}, "amount", "at most two decimals"),
    ({"amount": "abc"}, "amount", "an amount such as"),
    ({"amount": "0"}, "amount", "more than 0"),
    ({"amount": "-5"}, "amount", "more than 0"),
    ({"amount": ""}, "amount", "This field is required"),
    ({"date": "2025-12-31"}, "date", "before the partnership starts"),
    ({"date": "31/01/2026"}, "date", "Not a valid date"),
    ({"engagement": "zzz"}, "engagement", "Not a valid choice"),
])
def test_a_bad_invoice_keeps_the_input_and_writes_nothing(worked_january, treasurer, change, field, message):
    before = count_entries(worked_january)
    data = {"engagement": "e2", "amount": "100.00", "date": "2026-01-25", "memo": "kept memo", **change}
    response = treasurer.post("/invoices/new", data=data)
    assert response.status_code == 422
    assert message in field_error(response, field), text(response)
    html = response.get_data(as_text=True)
    assert 'value="kept memo"' in html
    if field == "amount" and change["amount"]:
        assert f'value="{change["amount"]}"' in html
    assert count_entries(worked_january) == before


def test_an_invoice_in_a_closed_period_is_refused_beside_the_date(closed_january, treasurer):
    before = count_entries(closed_january)
    response = treasurer.post("/invoices/new", data={"engagement": "e2", "amount": "10.00", "date": "2026-01-31"})
    assert response.status_code == 422
    assert "period 2026-01 is closed" in field_error(response, "date")
    assert count_entries(closed_january) == before


def test_only_eligible_firms_are_offered_for_a_subcontract(worked_january, treasurer):
    treasurer.post("/firms", data={"code": "northwind", "name": "Northwind", "vetted": ["quality"]})
    html = treasurer.get("/costs/new?engagement=e1").get_data(as_text=True)
    assert '<option value="bayside">' in html
    assert '<option value="northwind">' not in html
    assert "Not offered on" in html and "Northwind (northwind): not fully vetted" in html


def test_a_firm_whose_agreement_has_expired_on_the_date_is_not_offered(worked_january, treasurer):
    html = treasurer.post("/costs/new", data={"engagement": "e1", "kind": "subcontract", "firm": "", "amount": "",
                                              "date": "2027-07-01"}).get_data(as_text=True)
    assert '<option value="bayside">' not in html
    assert "agreement expired on 2027-06-01" in html


def test_record_a_subcontract_and_an_expense(worked_january, treasurer):
    for data in ({"engagement": "e1", "kind": "subcontract", "firm": "bayside", "amount": "100", "date": "2026-01-21"},
                 {"engagement": "e2", "kind": "expense", "firm": "", "amount": "50.25", "date": "2026-01-22"}):
        response = treasurer.post("/costs/new", data=data)
        assert response.status_code == 302, text(response)
    assert count_rows(worked_january, Cost) == 3


@pytest.mark.parametrize("data, field, message", [
    ({"kind": "subcontract", "firm": ""}, "firm", "required for a subcontract"),
    ({"kind": "subcontract", "firm": "northwind"}, "firm", "not fully vetted"),
    ({"kind": "expense", "firm": "bayside"}, "firm", "not allowed for an expense"),
    ({"kind": "gift", "firm": ""}, "kind", "Not a valid choice"),
])
def test_a_refused_cost_is_shown_beside_its_field(worked_january, treasurer, data, field, message):
    treasurer.post("/firms", data={"code": "northwind", "name": "Northwind", "vetted": ["quality"]})
    before = count_entries(worked_january)
    response = treasurer.post("/costs/new", data={"engagement": "e1", "amount": "100", "date": "2026-01-21", **data})
    assert response.status_code == 422
    assert message in field_error(response, field)
    assert count_entries(worked_january) == before


# --- payments, overhead, draws ---------------------------------------------------------------------------


def test_record_a_payment(worked_january, treasurer):
    response = treasurer.post("/payments/new", data={"client": "acme", "amount": "1000", "date": "2026-01-30"})
    assert response.status_code == 302
    page = text(treasurer.get("/clients"))
    assert "the client still owes 10234.56" in page and "10,234.56" in page


def test_a_payment_above_what_the_client_owes_is_refused(worked_january, treasurer):
    before = count_entries(worked_january)
    response = treasurer.post("/payments/new", data={"client": "acme", "amount": "99999", "date": "2026-01-30"})
    assert response.status_code == 422
    assert "more than the 11234.56 outstanding" in field_error(response, "amount")
    assert count_entries(worked_january) == before


def test_record_overhead_and_a_draw(worked_january, treasurer):
    response = treasurer.post("/overhead/new", data={"category": "software", "amount": "99.99", "date": "2026-01-15",
                                                     "memo": ""})
    assert response.status_code == 302 and response.headers["Location"].startswith("/ledger/entries/")
    page = text(treasurer.get(response.headers["Location"]))
    assert "Expenses:Overhead:Software" in page and "99.99" in page
    response = treasurer.post("/draws/new", data={"partner": "chen", "amount": "300", "date": "2026-01-28"})
    assert response.status_code == 302
    with worked_january.app_context():
        assert capital_balance(get_session(), "chen") == -300


def test_a_bad_overhead_category_and_a_draw_to_nobody(worked_january, treasurer):
    before = count_entries(worked_january)
    response = treasurer.post("/overhead/new", data={"category": "Office Rent", "amount": "10", "date": "2026-01-15"})
    assert response.status_code == 422 and "2 to 32 of a-z" in field_error(response, "category")
    response = treasurer.post("/draws/new", data={"partner": "zed", "amount": "10", "date": "2026-01-15"})
    assert response.status_code == 422 and "Not a valid choice" in field_error(response, "partner")
    assert count_entries(worked_january) == before


def test_forms_default_the_date_to_today(web, treasurer):
    html = treasurer.get("/overhead/new").get_data(as_text=True)
    assert f'value="{dt.datetime.now(dt.UTC).date().isoformat()}"' in html
