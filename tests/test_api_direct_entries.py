"""``POST /ledger/entries``'s direct path (``api.direct``, PostgreSQL): the plain request answered
without Flask or an ORM session, every other request handed to the app as it came. What the direct
path answers must be what the app answers, byte for byte but for the ids and hashes; what it hands
on must be answered as if it were not there, and it must never write what it then hands on."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import psycopg
import pytest
import sqlalchemy as sa
from helpers.engine import ENGINE

from ledger.api import direct, idempotency
from ledger.auth.models import IdempotencyRecord
from ledger.core.clock import FixedClock
from ledger.journal import append, wire
from ledger.journal.models import Entry
from ledger.runtime.database import get_session

pg_only = pytest.mark.skipif(ENGINE != "postgresql", reason="the direct path is PostgreSQL's (SQLite has one)")

ENTRY = {"date": "2026-02-03", "memo": "Cash in — café", "postings": [
    {"account": "Assets:Cash", "amount": "7.5"}, {"account": "Equity:Capital:Ben", "amount": "-7.50"}]}
VOLATILE = ("id", "hash", "prev_hash")


@pytest.fixture
def taken(monkeypatch) -> list:
    """The direct path's appends, as they are made (``post_direct``'s answers)."""
    made: list = []
    real = direct.post_direct

    def spy(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(direct, "post_direct", spy)
    return made


@pytest.fixture
def warm(api):
    """One entry posted first: the app's path reads the journal's facts into the cache (the direct
    path takes only what the cache can accept, so a cold cache sends the first request to the app)."""
    api.ok("POST", "/ledger/entries", ENTRY, key="warm-up", status=201)
    return api


def without(body: dict, keys=VOLATILE) -> dict:
    return {k: v for k, v in body.items() if k not in keys}


def headers(response) -> dict:
    return {k: v for k, v in response.headers.items() if k != "Content-Length"}


@pg_only
def test_the_plain_request_is_answered_as_the_app_answers_it(warm, api, founded, taken):
    first = api.post("/ledger/entries", ENTRY, key="direct-1")
    assert first.status_code == 201 and len(taken) == 1 and taken[0] is not None
    founded.config["API_DIRECT_ENTRIES"] = False
    other = api.post("/ledger/entries", ENTRY, key="app-1")
    assert other.status_code == 201 and len(taken) == 1
    # The same status, headers and body (but the entry's id and hashes), and the body is the
    # app's own serialisation: a replay through the app is the same bytes.
    assert headers(first) == headers(other)
    assert without(first.get_json()) == without(other.get_json())
    assert first.get_json()["id"] + 1 == other.get_json()["id"]
    replay = api.post("/ledger/entries", ENTRY, key="direct-1")
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.get_data() == first.get_data()
    # The entry and its record are what the app writes: the record names the entry.
    with founded.app_context():
        session = get_session()
        entry = session.get(Entry, first.get_json()["id"])
        assert (entry.memo, entry.source_type, entry.hash) == (ENTRY["memo"], "manual", first.get_json()["hash"])
        record = session.execute(sa.select(IdempotencyRecord.status, IdempotencyRecord.body, IdempotencyRecord.entry_id)
                                 .where(IdempotencyRecord.key == "direct-1")).one()
        assert tuple(record) == (201, None, entry.id)
    assert api.ok("GET", "/ledger/verify")["ok"] is True


@pg_only
def test_a_replay_through_the_direct_path_is_the_apps(warm, api, founded, taken):
    founded.config["API_DIRECT_ENTRIES"] = False
    first = api.post("/ledger/entries", ENTRY, key="k")
    founded.config["API_DIRECT_ENTRIES"] = True
    again = api.post("/ledger/entries", ENTRY, key="k")
    # The direct path's statement found the key used (no row, nothing called); the app replays.
    assert taken == [None] and again.get_data() == first.get_data() and again.headers["Idempotent-Replayed"] == "true"
    assert api.post("/ledger/entries", {**ENTRY, "memo": "other"}, key="k").status_code == 409


def _bad_requests(api):
    """Requests the direct path must hand to the app: (name, send) with send() -> response."""
    big = {**ENTRY, "memo": "x" * 2_000_000}
    return [
        ("no key", lambda: api.post("/ledger/entries", ENTRY)),
        ("a malformed key", lambda: api.post("/ledger/entries", ENTRY, key="a key with spaces")),
        ("malformed JSON", lambda: api.post("/ledger/entries", key="k1", data=b'{"date": ',
                                            headers={"Content-Type": "application/json"})),
        ("a key twice", lambda: api.post("/ledger/entries", key="k2", headers={"Content-Type": "application/json"},
                                         data=json.dumps(ENTRY)[:-1].encode() + b', "memo": "again"}')),
        ("NaN", lambda: api.post("/ledger/entries", key="k3", headers={"Content-Type": "application/json"},
                                 data=json.dumps(ENTRY).replace('"7.5"', "NaN").encode())),
        ("not JSON", lambda: api.post("/ledger/entries", key="k4", data=json.dumps(ENTRY).encode(),
                                      headers={"Content-Type": "text/plain"})),
        ("a list", lambda: api.post("/ledger/entries", [ENTRY], key="k5")),
        ("no token", lambda: api.post("/ledger/entries", ENTRY, key="k6", role=None)),
        ("an unknown token", lambda: api.post("/ledger/entries", ENTRY, key="k7", role=None,
                                              headers={"Authorization": "Bearer nope"})),
        ("a partner", lambda: api.post("/ledger/entries", ENTRY, key="k8", role="partner")),
        ("unbalanced", lambda: api.post("/ledger/entries", {**ENTRY, "postings": [
            {"account": "Assets:Cash", "amount": "7.50"}, {"account": "Equity:Capital:Ben", "amount": "-7.00"}]},
            key="k9")),
        ("an unknown account", lambda: api.post("/ledger/entries", {**ENTRY, "postings": [
            {"account": "Assets:Nowhere", "amount": "7.50"}, {"account": "Equity:Capital:Ben", "amount": "-7.50"}]},
            key="k10")),
        ("an unknown field", lambda: api.post("/ledger/entries", {**ENTRY, "extra": 1}, key="k11")),
        ("before the books", lambda: api.post("/ledger/entries", {**ENTRY, "date": "1990-01-01"}, key="k12")),
        ("years ahead", lambda: api.post("/ledger/entries", {**ENTRY, "date": "2099-01-01"}, key="k13")),
        ("a query string", lambda: api.post("/ledger/entries?x=1", ENTRY, key="k14")),  # posts, through the app
        ("too large", lambda: api.post("/ledger/entries", big, key="k15")),
    ]


@pg_only
def test_every_other_request_is_answered_as_if_the_path_were_not_there(warm, api, founded, taken):
    answers = {}
    entries = api.entry_count()
    for direct_on in (True, False):
        founded.config["API_DIRECT_ENTRIES"] = direct_on
        for name, send in _bad_requests(api):
            response = send()
            answers.setdefault(name, []).append((response.status_code, response.get_json(silent=True)))
    assert all(p is None for p in taken)  # what it looked at, it did not write
    for name, (on, off) in answers.items():
        if name in ("no key", "a query string"):  # both post, through the app each time
            assert on[0] == off[0] == 201, name
            assert without(on[1]) == without(off[1]), name
        else:
            assert on == off, name
            assert on[0] >= 400, (name, on)
    # The three entries the app posted (the keyless two, the query's one and its replay): nothing else.
    assert api.entry_count() == entries + 3 and api.ok("GET", "/ledger/verify")["ok"] is True


def _admin_connection(founded) -> psycopg.Connection:
    url = founded.extensions["ledger.engine"].url
    return psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))


@pg_only
def test_a_key_taken_in_a_race_is_answered_by_the_app_with_the_winner(warm, api, founded, taken):
    first = api.post("/ledger/entries", ENTRY, key="first")
    assert first.status_code == 201 and taken[-1] is not None
    entries = api.entry_count()
    # Another request holds the key, its record written and not committed yet: the direct path's
    # condition cannot see it, so it appends, then waits on the key's unique index. The other
    # commits (once this one is seen waiting): the direct statement fails whole, nothing written.
    with founded.app_context():
        session = get_session()
        user_id = session.scalar(sa.select(IdempotencyRecord.user_id).where(IdempotencyRecord.key == "first"))
    other = _admin_connection(founded)
    other.execute("INSERT INTO idempotency_record (user_id, key, request_hash, status, created_at, entry_id) "
                  "VALUES (%s, 'race', %s, 201, now(), %s)",
                  [user_id, idempotency.fingerprint("POST", direct.PATH, ENTRY), first.get_json()["id"]])

    def commit_once_waited_on():
        with _admin_connection(founded) as watch:
            for _ in range(200):
                if watch.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0]:
                    break
                time.sleep(0.05)
        other.commit()

    winner = threading.Thread(target=commit_once_waited_on)
    winner.start()
    try:
        again = api.post("/ledger/entries", ENTRY, key="race")
    finally:
        winner.join()
        other.close()
    # The app answers with the winner's entry, as a replay; the direct path's append raised (it
    # answered nothing, not even "no"), and took its entry number back with it.
    assert (again.status_code, again.get_data()) == (201, first.get_data())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(taken) == 1 and api.entry_count() == entries
    nxt = api.ok("POST", "/ledger/entries", ENTRY, key="after", status=201)
    assert nxt["id"] == entries + 1 and taken[-1] is not None and api.ok("GET", "/ledger/verify")["ok"] is True


@pg_only
def test_the_callers_checks_go_ahead_of_the_append_in_its_statement(warm, api, founded, taken):
    """A request the guard would refuse reaches the append's statement (the checks are in it) and
    the function is not called: had it been, its entry would be committed (only the record waits
    on the caller's row), and the chain head moved."""
    def head():
        with _admin_connection(founded) as conn:
            return conn.execute("SELECT seq, hash FROM chain_head WHERE id = 1").fetchone()

    before, entries = head(), api.entry_count()
    refused = [api.post("/ledger/entries", ENTRY, key="k1", role="partner"),
               api.post("/ledger/entries", ENTRY, key="k2", role=None, headers={"Authorization": "Bearer nope"}),
               api.post("/ledger/entries", ENTRY, key="warm-up")]  # a used key: the app replays it
    assert [r.status_code for r in refused] == [403, 401, 201] and refused[2].headers["Idempotent-Replayed"] == "true"
    assert taken == [None, None, None]  # each went as far as the statement, which answered no row
    assert head() == before and api.entry_count() == entries
    api.ok("POST", "/ledger/entries", ENTRY, key="k3", status=201)
    assert taken[-1] is not None and head() != before


@pg_only
def test_the_answer_waits_for_the_flush_that_covers_the_entry(warm, api, founded, monkeypatch):
    """The append's commit lets go of the chain without waiting for the WAL flush; the answer still
    waits for a flush past that commit (``append.FLUSHED``): acknowledged means on disk."""
    real, seen = direct.post_direct, []
    admin = _admin_connection(founded)
    admin.autocommit = True

    sent = wire.Statement.rows

    def watched(statement, conn, params):  # each statement sent, noting the WAL's end after it but the flush's
        answer = sent(statement, conn, params)
        if statement is not wire.statement(append.FLUSHED):
            seen.append(admin.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0])
        return answer

    def spy(conn, *args, **kwargs):
        posted = real(conn, *args, **kwargs)
        flushed = admin.execute("SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn", [seen[-1]]).fetchone()[0]
        seen.append(flushed)
        return posted

    monkeypatch.setattr(wire.Statement, "rows", watched)
    monkeypatch.setattr(direct, "post_direct", spy)
    try:
        for n in range(5):
            assert api.post("/ledger/entries", ENTRY, key=f"flushed-{n}").status_code == 201
    finally:
        admin.close()
    assert len(seen) == 10 and seen[1::2] == [True] * 5


@pg_only
def test_an_unexpected_failure_writes_nothing_and_the_app_answers(warm, api, monkeypatch, caplog):
    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug in the direct path")

    monkeypatch.setattr(direct, "post_direct", broken)
    entries = api.entry_count()
    response = api.post("/ledger/entries", ENTRY, key="k")
    assert response.status_code == 201 and api.entry_count() == entries + 1
    assert "the direct path gave up" in caplog.text
    assert api.post("/ledger/entries", ENTRY, key="k").get_data() == response.get_data()


@pg_only
def test_a_lost_connection_is_not_reused(warm, api, founded, taken):
    api.ok("POST", "/ledger/entries", ENTRY, key="direct", status=201)
    assert taken[-1] is not None
    engine = founded.extensions["ledger.engine"]
    from ledger.journal import group

    for conn in group._idle[engine]:  # the server ends the kept connections
        with psycopg.connect(engine.url.set(drivername="postgresql").render_as_string(hide_password=False),
                             autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [conn.info.backend_pid])
    response = api.post("/ledger/entries", ENTRY, key="after-loss")
    assert response.status_code == 201  # the app answered; the dead connection was dropped
    assert len(taken) == 1 and all(not c.closed for c in group._idle[engine])
    assert api.ok("POST", "/ledger/entries", ENTRY, key="next", status=201)["id"] == response.get_json()["id"] + 1
    assert len(taken) == 2 and taken[-1] is not None  # the direct path took the next one, on a new connection


@pg_only
def test_the_entry_and_its_record_take_the_apps_clock(make_app, db_url, charter_file, tokens_for, taken):
    at = dt.datetime(2026, 2, 10, 9, 30, tzinfo=dt.UTC)
    app = make_app(db_url, CLOCK=FixedClock(at))
    assert app.test_cli_runner().invoke(args=["init", str(charter_file)]).exit_code == 0
    api = tokens_for(app)
    api.ok("POST", "/ledger/entries", ENTRY, key="warm-up", status=201)
    body = api.ok("POST", "/ledger/entries", ENTRY, key="clocked", status=201)
    assert taken[-1] is not None and taken[-1].id == body["id"]  # the second went the direct way
    with app.app_context():
        session = get_session()
        assert session.get(Entry, body["id"]).created_at == at
        assert session.scalar(sa.select(IdempotencyRecord.created_at).where(IdempotencyRecord.key == "clocked")) == at


@pytest.fixture
def tokens_for():
    from fixtures.api import role_tokens
    from helpers.api import ApiClient

    return lambda app: ApiClient(app.test_client(), role_tokens(app))


def test_sqlite_keeps_one_path(founded):
    layer = founded.wsgi_app
    assert isinstance(layer, direct.DirectEntries) == (ENGINE == "postgresql")
