"""Bad input, answered as problem+json naming the field, with nothing written: the trial balance
and the entry count are the same after each refused request. Also: routing errors, closed
periods, oversized and non-JSON bodies, and an unexpected exception, all in the API's own shape."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from helpers.api import PROBLEM, assert_problem

from ledger.journal.models import Period
from ledger.runtime.database import get_session

INVOICE = {"amount": "100.00", "date": "2026-02-01"}
GOOD = {
    "/engagements/ENG-1/invoices": INVOICE,
    "/engagements/ENG-1/costs": {"amount": "100.00", "date": "2026-02-01", "kind": "expense"},
    "/payments": {"client": "acme", "amount": "100.00", "date": "2026-02-01"},
    "/overhead": {"amount": "100.00", "date": "2026-02-01", "category": "rent"},
    "/draws": {"partner": "ana", "amount": "100.00", "date": "2026-02-01"},
    "/clients": {"code": "gamma", "name": "Gamma"},
    "/engagements": {"ref": "ENG-2", "client": "acme", "practice": "msft", "originator": "ana", "title": "T",
                     "opened_on": "2026-02-01"},
    "/ledger/entries": {"date": "2026-02-01", "memo": "m", "postings": [
        {"account": "Assets:Cash", "amount": "1.00", "commodity": "USD"},
        {"account": "Equity:Capital:Ana", "amount": "-1.00", "commodity": "USD"}]},
}
MONEY_PATHS = ["/engagements/ENG-1/invoices", "/engagements/ENG-1/costs", "/payments", "/overhead", "/draws"]


def snapshot(api):
    return api.trial_balance(), api.entry_count(), api.ok("GET", "/engagements"), api.ok("GET", "/clients")


@pytest.fixture
def invoiced(booked):
    booked.ok("POST", "/engagements/ENG-1/invoices", {"amount": "500.00", "date": "2026-01-20"})
    return booked


BAD_AMOUNTS = [
    (100, "a JSON number"),
    (100.5, "a JSON float"),
    ("100.005", "three decimals"),
    ("100.50 ", "a trailing space"),
    ("-100.00", "negative"),
    ("0", "zero"),
    ("0.00", "zero with places"),
    ("1e3", "an exponent"),
    ("ten", "not a number"),
    ("", "empty"),
    (None, "null"),
    ("10000000000000", "too large"),
    ("١٢٣.٤٥", "Arabic-Indic digits"),
    ("１０", "fullwidth digits"),
    ("100.00\n", "a trailing newline"),
]


@pytest.mark.parametrize(("amount", "why"), BAD_AMOUNTS, ids=[why for _, why in BAD_AMOUNTS])
@pytest.mark.parametrize("path", MONEY_PATHS)
def test_a_bad_amount_is_refused_naming_the_field(shared, path, amount, why):
    before = snapshot(shared)
    response = shared.post(path, {**GOOD[path], "amount": amount})
    problem = assert_problem(response, 422, "amount")
    assert problem["type"].endswith("validation"), why
    assert snapshot(shared) == before


BAD_DATES = ["2026-02-30", "2026/02/01", "20260201", "2026-2-1", "2026-02-01T00:00:00", "2026-W05-1", "",
             20260201, None, "2025-12-31", "2040-01-01", "٢٠٢٦-٠٢-٠١", "2026-02-01\n", "0000-01-01", "9999-12-31"]


@pytest.mark.parametrize("date", BAD_DATES, ids=repr)
@pytest.mark.parametrize("path", MONEY_PATHS + ["/ledger/entries"])
def test_a_bad_date_is_refused_naming_the_field(shared, path, date):
    before = snapshot(shared)
    assert_problem(shared.post(path, {**GOOD[path], "date": date}), 422, "date")
    assert snapshot(shared) == before


@pytest.mark.parametrize("path", list(GOOD))
def test_every_missing_field_is_named(shared, path):
    before = snapshot(shared)
    problem = assert_problem(shared.post(path, {}), 422)
    required = {k for k in GOOD[path] if k not in ("memo", "kind")} | ({"kind"} if "costs" in path else set())
    assert required <= set(problem["errors"]), problem
    assert snapshot(shared) == before


@pytest.mark.parametrize(("path", "change", "status", "field"), [
    ("/engagements/ENG-404/invoices", {}, 404, None),
    ("/engagements/ENG-404/costs", {}, 404, None),
    ("/engagements/ENG-1/invoices", {"surprise": 1}, 422, "surprise"),
    ("/engagements/ENG-1/invoices", {"memo": "x" * 501}, 422, "memo"),
    ("/engagements/ENG-1/invoices", {"memo": "nul\u0000byte"}, 422, "memo"),
    ("/engagements/ENG-1/costs", {"firm": "bayside"}, 422, "firm"),
    ("/payments", {"client": "nobody"}, 422, "client"),
    ("/payments", {"client": "ACME"}, 422, "client"),
    ("/payments", {"amount": "500.01"}, 422, "amount"),
    ("/overhead", {"category": "Rent!"}, 422, "category"),
    ("/draws", {"partner": "zed"}, 422, "partner"),
    ("/clients", {"code": "acme"}, 409, "code"),
    ("/clients", {"name": "n" * 201}, 422, "name"),
    ("/engagements", {"practice": "nope"}, 422, "practice"),
    ("/ledger/entries", {"postings": "many"}, 422, "postings"),
    ("/ledger/entries", {"postings": [{"account": "Assets:Cash", "amount": "0.00", "commodity": "USD"},
                                      {"account": "Equity:Capital:Ana", "amount": "-0", "commodity": "USD"}]},
     422, "postings"),
    ("/ledger/entries", {"postings": [1, 2]}, 422, "postings[0]"),
    ("/ledger/entries", {"postings": [{"account": "Assets:Cash", "amount": 1, "commodity": "USD"},
                                      {"account": "Equity:Capital:Ana", "amount": "-1", "commodity": "usd"}]},
     422, "postings[0].amount"),
])
def test_unknown_codes_and_broken_fields_are_refused(shared, path, change, status, field):
    before = snapshot(shared)
    assert_problem(shared.post(path, {**GOOD[path.replace("ENG-404", "ENG-1")], **change}), status, field)
    assert snapshot(shared) == before


@pytest.mark.parametrize(("data", "content_type", "status", "field"), [
    (b"amount=100&date=2026-02-01", "application/x-www-form-urlencoded", 415, "Content-Type"),
    (b'{"amount": "100.00"', "application/json", 422, "body"),
    (b'{"amount": NaN, "date": "2026-02-01"}', "application/json", 422, "body"),
    (b"\xff\xfe{}", "application/json", 422, "body"),
    (b"[]", "application/json", 422, "body"),
    (b'"100.00"', "application/json", 422, "body"),
    (b"null", "application/json", 422, "body"),
    (b"[" * 100000, "application/json", 422, "body"),
    (b'{"amount": "100.00", "date": "2026-02-01"}', "text/plain", 415, "Content-Type"),
    # CONTRACT §7: duplicate keys are a 400, never "the last one wins" (at any depth).
    (b'{"amount": "100.00", "amount": "1.00", "date": "2026-02-01"}', "application/json", 400, "body"),
    (b'{"amount": "100.00", "date": "2026-02-01", "memo": {"a": 1, "a": 2}}', "application/json", 400, "body"),
])
def test_a_body_that_is_not_a_json_object_is_refused(shared, data, content_type, status, field):
    before = snapshot(shared)
    response = shared.post("/engagements/ENG-1/invoices", data=data, headers={"Content-Type": content_type})
    assert_problem(response, status, field)
    assert snapshot(shared) == before


def test_duplicate_keys_in_a_nested_body_are_a_400_naming_the_key(shared):
    body = (b'{"date": "2026-02-01", "memo": "m", "postings": [{"account": "Assets:Cash", "amount": "1.00",'
            b' "amount": "-1.00"}, {"account": "Equity:Capital:Ana", "amount": "-1.00"}]}')
    before = snapshot(shared)
    problem = assert_problem(shared.post("/ledger/entries", data=body, headers={"Content-Type": "application/json"}),
                             400, "body")
    assert "amount" in problem["detail"]
    assert snapshot(shared) == before


def test_an_oversized_body_is_refused(shared):
    before = snapshot(shared)
    body = {**INVOICE, "memo": "x" * (2 * 1024 * 1024)}
    assert_problem(shared.post("/engagements/ENG-1/invoices", body), 413)
    assert snapshot(shared) == before


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/api/v1/nowhere", 404),
    ("GET", "/api/v1", 404),
    ("GET", "/api/v1/", 404),
    ("GET", "/api/v1/partners/", 404),
    ("GET", "/api/v1/partners/an%00a", 404),
    ("GET", "/api/v1/ledger/entries/0", 404),
    ("GET", "/api/v1/ledger/entries/99999999999999999999999", 404),
    ("GET", "/api/v1/ledger/entries/-1", 404),
    ("DELETE", "/api/v1/clients", 405),
    ("PUT", "/api/v1/health", 405),
    ("POST", "/api/v1/partners", 405),
])
def test_routing_errors_are_problems_too(shared, method, path, status):
    response = shared.client.open(path, method=method, headers=shared.headers("treasurer"))
    assert_problem(response, status)
    assert b"<html" not in response.data.lower()
    if status == 405:
        assert "GET" in response.headers["Allow"] or "POST" in response.headers["Allow"]


def close_january(app):
    """Marks 2026-01 closed the way the close does (its row's status), without its postings."""
    with app.app_context():
        session = get_session()
        session.scalar(sa.select(Period).where(Period.id == "2026-01")).status = "closed"
        session.commit()


@pytest.mark.parametrize("path", MONEY_PATHS + ["/ledger/entries"])
def test_a_posting_dated_in_a_closed_period_is_a_conflict(invoiced, founded, path):
    close_january(founded)
    before = snapshot(invoiced)
    problem = assert_problem(invoiced.post(path, {**GOOD[path], "date": "2026-01-31"}), 409, "date")
    assert "closed" in problem["detail"]
    assert snapshot(invoiced) == before
    invoiced.ok("POST", path, {**GOOD[path], "amount": "1.00"} if "amount" in GOOD[path] else GOOD[path])


def test_a_reversal_into_a_closed_period_is_a_conflict(invoiced, founded):
    entry = invoiced.ok("GET", "/ledger/entries?account=Income:Practice:Voice")["items"][0]["id"]
    close_january(founded)
    assert_problem(invoiced.post(f"/ledger/entries/{entry}/reverse"), 409, "date")
    invoiced.ok("POST", f"/ledger/entries/{entry}/reverse", {"date": "2026-02-01"}, status=201)


def test_an_unexpected_error_is_a_logged_problem_and_writes_nothing(invoiced, monkeypatch, caplog):
    from ledger.practices import bookings

    real = bookings.record_draw

    def broken(session, *args, **kwargs):
        real(session, *args, **kwargs)  # writes, then fails: the write must not survive
        raise RuntimeError("boom")

    monkeypatch.setattr(bookings, "record_draw", broken)
    before = snapshot(invoiced)
    with caplog.at_level(logging.ERROR):
        response = invoiced.post("/draws", GOOD["/draws"])
    assert_problem(response, 500)
    assert response.mimetype == PROBLEM and "boom" not in response.get_data(as_text=True)
    assert any("boom" in (r.exc_text or "") or r.exc_info for r in caplog.records)
    assert snapshot(invoiced) == before


def test_a_bad_idempotency_key_is_refused(shared):
    before = snapshot(shared)
    assert_problem(shared.post("/engagements/ENG-1/invoices", INVOICE, key="k" * 201), 422, "Idempotency-Key")
    assert_problem(shared.post("/engagements/ENG-1/invoices", INVOICE, key="with space"), 422, "Idempotency-Key")
    assert snapshot(shared) == before


def test_a_value_the_database_refuses_is_a_422_not_a_500(invoiced, monkeypatch, caplog):
    """Defence in depth: should a value slip past validation and be refused by the database as out
    of its domain, the answer is a 422 (logged as a warning: a check is missing), nothing written."""
    from sqlalchemy.exc import DataError

    from ledger.practices import bookings

    def out_of_range(session, *args, **kwargs):
        raise DataError("SELECT 1", {}, Exception("integer out of range"))

    monkeypatch.setattr(bookings, "record_draw", out_of_range)
    before = snapshot(invoiced)
    with caplog.at_level(logging.WARNING):
        assert_problem(invoiced.post("/draws", GOOD["/draws"]), 422)
    assert any("integer out of range" in r.getMessage() for r in caplog.records)
    assert snapshot(invoiced) == before
