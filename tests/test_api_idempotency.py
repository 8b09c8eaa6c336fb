"""``Idempotency-Key`` on every POST: a repeat with the same key and body gets the first response
and writes nothing; the same key with another body is a 409; refusals are not remembered; keys
are per user; and two concurrent requests with one key write once."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from helpers.api import assert_problem, blind_first_key_lookup

from ledger.auth.models import IdempotencyRecord
from ledger.runtime.database import get_session

INVOICE = {"amount": "1200.00", "date": "2026-02-01"}


def records(app) -> int:
    with app.app_context():
        return get_session().scalar(sa.select(sa.func.count()).select_from(IdempotencyRecord))


def test_a_repeat_returns_the_first_response_and_writes_nothing(booked, founded):
    first = booked.post("/engagements/ENG-1/invoices", INVOICE, key="inv-1")
    assert first.status_code == 201
    entries = booked.entry_count()
    balance = booked.trial_balance()
    # Same body, keys in another order and other spacing: the same request.
    again = booked.post("/engagements/ENG-1/invoices", data='{ "date": "2026-02-01",  "amount": "1200.00" }',
                        headers={"Content-Type": "application/json"}, key="inv-1")
    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert booked.entry_count() == entries
    assert booked.trial_balance() == balance
    assert records(founded) == 1


def test_the_same_key_with_another_body_is_a_conflict(booked):
    booked.ok("POST", "/engagements/ENG-1/invoices", INVOICE, key="inv-1")
    entries = booked.entry_count()
    problem = assert_problem(booked.post("/engagements/ENG-1/invoices", {**INVOICE, "amount": "1300.00"}, key="inv-1"),
                             409, "Idempotency-Key")
    assert "another request" in problem["detail"]
    assert_problem(booked.post("/engagements/ENG-1/costs", INVOICE | {"kind": "expense"}, key="inv-1"), 409)
    assert booked.entry_count() == entries


def test_a_refused_request_is_not_remembered(booked, founded):
    assert_problem(booked.post("/engagements/ENG-1/invoices", {**INVOICE, "amount": 1200}, key="k"), 422, "amount")
    assert records(founded) == 0
    body = booked.ok("POST", "/engagements/ENG-1/invoices", INVOICE, key="k", status=201)
    assert body["amount"] == "1200.00"


def test_keys_belong_to_their_user(booked):
    mine = booked.ok("POST", "/clients", {"code": "gamma", "name": "Gamma"}, key="same")
    theirs = booked.post("/clients", {"code": "delta", "name": "Delta"}, key="same", role="admin")
    assert theirs.status_code == 201 and theirs.get_json()["code"] == "delta"
    assert mine["code"] == "gamma"


@pytest.mark.parametrize(("path", "body"), [
    ("/clients", {"code": "gamma", "name": "Gamma"}),
    ("/firms", {"code": "nw", "name": "Northwind"}),
    ("/engagements", {"ref": "ENG-2", "client": "acme", "practice": "msft", "originator": "ana", "title": "T",
                      "opened_on": "2026-02-01"}),
    ("/engagements/ENG-1/costs", {"amount": "5", "date": "2026-02-01", "kind": "expense"}),
    ("/overhead", {"amount": "5", "date": "2026-02-01", "category": "rent"}),
    ("/draws", {"partner": "ben", "amount": "5", "date": "2026-02-01"}),
    ("/ledger/accounts", {"name": "Assets:Bank", "commodities": ["USD"]}),
    ("/ledger/entries", {"date": "2026-02-01", "memo": "m", "postings": [
        {"account": "Assets:Cash", "amount": "1", "commodity": "USD"},
        {"account": "Equity:Capital:Ana", "amount": "-1", "commodity": "USD"}]}),
    ("/ledger/entries/{manual}/reverse", None),
])
def test_every_post_replays(booked, path, body):
    if "{manual}" in path:  # only an entry a person booked may be reversed (CONTRACT §7)
        manual = booked.ok("POST", "/ledger/entries", {"date": "2026-02-01", "memo": "m", "postings": [
            {"account": "Assets:Cash", "amount": "1", "commodity": "USD"},
            {"account": "Equity:Capital:Ana", "amount": "-1", "commodity": "USD"}]}, status=201)
        path = path.format(manual=manual["id"])
    first = booked.post(path, body, key="once")
    assert first.status_code == 201, first.get_json()
    state = booked.trial_balance(), booked.entry_count(), booked.ok("GET", "/ledger/accounts")
    again = booked.post(path, body, key="once")
    assert (again.status_code, again.get_json()) == (201, first.get_json())
    assert (booked.trial_balance(), booked.entry_count(), booked.ok("GET", "/ledger/accounts")) == state


def test_concurrent_requests_with_one_key_write_once(booked, founded):
    """Two clients race with the same key: one writes, the other replays its answer."""
    barrier = threading.Barrier(2)
    results = []
    headers = booked.headers("treasurer", "race")

    def send():
        client = founded.test_client()
        barrier.wait()
        results.append(client.post("/api/v1/engagements/ENG-1/invoices", json=INVOICE, headers=headers))

    entries = booked.entry_count()
    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [201, 201]
    assert results[0].get_json() == results[1].get_json()
    assert booked.entry_count() == entries + 1
    assert records(founded) == 1


def test_a_lost_race_on_the_key_rolls_back_and_replays(booked, founded, monkeypatch):
    """The race's losing side, forced: its lookup (made with the token's, in one query) misses the
    first request's record, so it writes, hits the unique key at commit, rolls everything back and
    answers with the stored response."""
    first = booked.ok("POST", "/engagements/ENG-1/invoices", INVOICE, key="race")
    entries = booked.entry_count()
    calls = blind_first_key_lookup(monkeypatch)
    again = booked.post("/engagements/ENG-1/invoices", INVOICE, key="race")
    assert calls[0] is not None  # the record was there, and the lookup was made blind to it
    assert (again.status_code, again.get_json()) == (201, first)
    assert booked.entry_count() == entries
    other = booked.post("/engagements/ENG-1/invoices", {**INVOICE, "amount": "1.00"}, key="race")
    assert_problem(other, 409, "Idempotency-Key")


def test_a_storm_of_retries_on_a_manual_entry_writes_it_once(booked, founded):
    """Six clients send one manual entry with one key at the same moment (the API's hot path: the
    entry and its record written and committed in one statement on PostgreSQL): one entry, one record, and
    every client the same answer; then every key of a second storm, each its own entry."""
    entry = {"date": "2026-02-03", "memo": "retried", "postings": [
        {"account": "Assets:Cash", "amount": "7.00"}, {"account": "Equity:Capital:Ben", "amount": "-7.00"}]}
    before, kept = booked.entry_count(), records(founded)
    results: list = []
    barrier = threading.Barrier(6)

    def send(key: str) -> None:
        client = founded.test_client()
        barrier.wait()
        results.append(client.post("/api/v1/ledger/entries", json=entry, headers=booked.headers("treasurer", key)))

    for keys in (["storm"] * 6, [f"storm-{n}" for n in range(6)]):
        results.clear()
        threads = [threading.Thread(target=send, args=(key,)) for key in keys]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [r.status_code for r in results] == [201] * 6
        assert len({r.get_json()["id"] for r in results}) == len(set(keys))
    assert booked.entry_count() == before + 1 + 6
    assert records(founded) == kept + 1 + 6
    assert booked.ok("GET", "/ledger/verify")["ok"] is True
