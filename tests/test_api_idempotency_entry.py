"""``POST /ledger/entries`` stores its ``Idempotency-Key`` with the entry, in the append's own
commit (on PostgreSQL the call and the record are one statement, its own transaction): the record
names the entry and a replay rebuilds the answer from it. The answer must be the first one byte for byte,
the record and the entry must stand or fall together, and every other rule of the key holds."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from helpers.api import assert_problem, blind_first_key_lookup
from helpers.engine import ENGINE, libpq_url

from ledger.auth.models import IdempotencyRecord
from ledger.runtime.database import get_session

ENTRY = {"date": "2026-02-03", "memo": "Cash in", "postings": [
    {"account": "Assets:Cash", "amount": "7.5"}, {"account": "Equity:Capital:Ben", "amount": "-7.50"}]}


def stored(app) -> list[tuple]:
    with app.app_context():
        return get_session().execute(sa.select(IdempotencyRecord.key, IdempotencyRecord.status, IdempotencyRecord.body,
                                               IdempotencyRecord.entry_id).order_by(IdempotencyRecord.id)).all()


def test_the_replay_is_the_first_answer_byte_for_byte(booked, founded):
    first = booked.post("/ledger/entries", ENTRY, key="cash-1")
    assert first.status_code == 201
    entry_id = first.get_json()["id"]
    # The record names the entry it was written with, and holds no body.
    assert stored(founded) == [("cash-1", 201, None, entry_id)]
    entries = booked.entry_count()
    again = booked.post("/ledger/entries", ENTRY, key="cash-1")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    assert again.get_json()["postings"][0]["amount"] == "7.50"
    assert booked.entry_count() == entries
    # A later entry moves the head; the record still answers with its own entry.
    booked.ok("POST", "/ledger/entries", ENTRY, key="cash-2", status=201)
    assert booked.post("/ledger/entries", ENTRY, key="cash-1").get_data() == first.get_data()
    assert booked.ok("GET", "/ledger/verify")["ok"] is True


def test_an_admin_gets_the_same_replay(booked, founded):
    first = booked.post("/ledger/entries", ENTRY, key="by-admin", role="admin")
    assert first.status_code == 201
    again = booked.post("/ledger/entries", ENTRY, key="by-admin", role="admin")
    assert (again.status_code, again.get_data()) == (201, first.get_data())
    # Keys are the user's: the treasurer's same key is a request of its own.
    assert booked.post("/ledger/entries", ENTRY, key="by-admin").get_json()["id"] == first.get_json()["id"] + 1


def test_the_key_with_another_request_is_a_conflict(booked, founded):
    booked.ok("POST", "/ledger/entries", ENTRY, key="k", status=201)
    entries = booked.entry_count()
    assert_problem(booked.post("/ledger/entries", {**ENTRY, "memo": "Other"}, key="k"), 409, "Idempotency-Key")
    assert_problem(booked.post("/clients", {"code": "gamma", "name": "Gamma"}, key="k"), 409, "Idempotency-Key")
    assert booked.entry_count() == entries
    assert len(stored(founded)) == 1


def test_a_refused_entry_writes_neither_entry_nor_record(booked, founded):
    entries = booked.entry_count()
    bad = {**ENTRY, "postings": [{"account": "Assets:Cash", "amount": "7.50"},
                                 {"account": "Equity:Capital:Ben", "amount": "-7.00"}]}
    assert_problem(booked.post("/ledger/entries", bad, key="k"), 422, "postings")
    early = {**ENTRY, "date": "1990-01-01"}  # before the books begin
    assert booked.post("/ledger/entries", early, key="k").status_code >= 400
    assert booked.entry_count() == entries and stored(founded) == []
    # The key was not spent: fixed, the request runs.
    assert booked.post("/ledger/entries", ENTRY, key="k").status_code == 201
    assert booked.entry_count() == entries + 1


def test_without_a_key_the_entry_is_committed_and_no_record_written(booked, founded):
    entries = booked.entry_count()
    body = booked.ok("POST", "/ledger/entries", ENTRY, status=201)
    assert booked.entry_count() == entries + 1 and stored(founded) == []
    assert booked.ok("GET", f"/ledger/entries/{body['id']}")["hash"] == body["hash"]


def test_a_lost_race_on_the_key_takes_the_entry_back_and_replays(booked, founded, monkeypatch, caplog):
    """The race's losing side, forced: its lookup misses the first request's record, so it appends
    and sends the record with the commit; the key's unique constraint refuses the record, which
    takes the entry back with it, and the answer is the first one, rebuilt. Nothing is logged: the
    refusal is raised once (psycopg logs a pipeline's abort a second time when the first error is
    raised inside the pipeline, as it can be when its results arrive early)."""
    first = booked.post("/ledger/entries", ENTRY, key="race")
    entries, balance = booked.entry_count(), booked.trial_balance()
    calls = blind_first_key_lookup(monkeypatch)
    with caplog.at_level(logging.WARNING):
        again = booked.post("/ledger/entries", ENTRY, key="race")
    assert [r.getMessage() for r in caplog.records if r.name.startswith("psycopg")] == []
    assert calls[0] is not None  # the record was there, and the lookup was made blind to it
    assert (again.status_code, again.get_data()) == (201, first.get_data())
    assert (booked.entry_count(), booked.trial_balance()) == (entries, balance)
    assert len(stored(founded)) == 1
    assert booked.ok("GET", "/ledger/verify")["ok"] is True
    # The next entry takes the number the refused one had: no gap in the chain.
    assert booked.ok("POST", "/ledger/entries", ENTRY, key="after", status=201)["id"] == first.get_json()["id"] + 1


@pytest.mark.skipif(ENGINE != "postgresql", reason="SQLite appends from fresh reads always: no cached call to refuse")
def test_an_append_refused_from_the_cache_still_writes_its_record_with_the_entry(booked, founded, monkeypatch):
    """When ``ledger_append`` refuses what the cache said, the entry is posted again from fresh
    reads, in a new transaction: the record must be written in that one, with the entry."""
    from ledger.journal import append

    real_append = append.append
    refused = []

    def refuse_once(*args, commit=False, also=None, **kwargs):
        if commit and not refused:
            refused.append(also)
            raise append.Refused("ledger_append refused: forced by the test")
        return real_append(*args, commit=commit, also=also, **kwargs)

    monkeypatch.setattr(append, "append", refuse_once)
    first = booked.post("/ledger/entries", ENTRY, key="fresh")
    assert first.status_code == 201 and refused and refused[0] is not None
    assert stored(founded) == [("fresh", 201, None, first.get_json()["id"])]
    assert booked.post("/ledger/entries", ENTRY, key="fresh").get_data() == first.get_data()
    assert booked.ok("GET", "/ledger/verify")["ok"] is True


@pytest.mark.skipif(ENGINE != "postgresql", reason="PostgreSQL lets go of the chain before the flush; SQLite does not")
def test_a_replay_tells_of_the_entry_only_once_it_is_on_disk(booked, founded, db_url, monkeypatch):
    import threading
    import time

    from helpers.writers import flush_held


    first = booked.post("/ledger/entries", ENTRY, key="cash-held")
    assert first.status_code == 201
    answers: list = []
    replaying = threading.Thread(target=lambda: answers.append(booked.post("/ledger/entries", ENTRY, key="cash-held")))
    # The first entry's commit may be seen before its flush: a replay waits for a flush past it.
    with flush_held(monkeypatch, libpq_url(db_url)):
        replaying.start()
        time.sleep(0.5)
        assert answers == []
    replaying.join(10)
    assert answers[0].status_code == 201 and answers[0].get_data() == first.get_data()
    assert answers[0].headers["Idempotent-Replayed"] == "true"
