"""The dedicated appender (PostgreSQL, ``journal.appender``): writers' requests merged into one
``ledger_append`` call exactly as if one caller had sent all their entries; a batch one
transaction; a refusal or a key used twice its own writer's alone; a writer answered only after
the WAL flush past its batch; kill -9 of the appender or of a writer losing no acknowledged entry;
no appender answering, the entry posted directly; and ``ledger appender`` serving and stopping."""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from helpers.engine import ENGINE, libpq_url
from helpers.writers import (
    DAY,
    assert_acknowledged_kept,
    assert_each_in_order,
    flush_held,
    grouped_writers,
    killable_writer,
)
from helpers.writers import legs as _legs
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core import chart
from ledger.core.entries import Leg
from ledger.journal import append, appender
from ledger.journal.facts import AccountFacts
from ledger.journal.group import post_grouped
from ledger.journal.models import Entry
from ledger.journal.service import EntrySpec
from ledger.journal.verify import verify
from ledger.runtime.database import get_session

NOW = dt.datetime(2026, 1, 10, 9, 30, tzinfo=dt.UTC)
PG_ONLY = pytest.mark.skipif(ENGINE != "postgresql", reason="the appender is PostgreSQL's; SQLite has one writer")



def _short_socket() -> str:
    """A socket path well inside the 108 bytes a Unix socket's name may take."""
    folder = tempfile.mkdtemp(prefix="lga", dir="/tmp")  # nosec B108 - this test's own folder
    return os.path.join(folder, "a.sock")


_ACCOUNTS = {name: AccountFacts(n, name, frozenset({"USD", "EUR"}), None)
             for n, name in enumerate([chart.CASH, *(chart.capital(p) for p in ("ann", "ben", "cy"))], 1)}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(1, 10**7), st.sampled_from(["ann", "ben", "cy"]), st.text(max_size=12),
                                   st.sampled_from(["USD", "EUR"]), st.integers(0, 27),
                                   st.one_of(st.none(), st.text(min_size=1, max_size=8))),
                         min_size=1, max_size=3), min_size=1, max_size=6))
def test_requests_merged_are_the_call_of_all_their_entries_at_once(requests):
    def spec(cents, partner, memo, commodity, day, key):
        amount = Decimal(cents) / 100
        return EntrySpec(DAY + dt.timedelta(days=day), memo, [
            Leg(chart.CASH, amount, commodity), Leg(chart.capital(partner), -amount, commodity)], "manual",
            idempotency_key=key)

    batches = [[spec(*e) for e in request] for request in requests]
    firsts = [f"2026-{1 + n % 3:02d}" for n in range(len(batches))]
    sent = [appender.request_of(append.call_args(None, specs, _ACCOUNTS, first, "2026-03",
                                                 now=NOW + dt.timedelta(seconds=n % 4))[0])
            for n, (specs, first) in enumerate(zip(batches, firsts, strict=True))]
    everything = [s for specs in batches for s in specs]
    latest = NOW + dt.timedelta(seconds=max(n % 4 for n in range(len(batches))))
    at_once = append.call_args(None, everything, _ACCOUNTS, min(firsts), "2026-03", now=latest)[0]
    assert appender.merged(sent) == appender.request_of(at_once)


@contextmanager
def _serving(app, db_url: str, **options) -> Iterator[appender.Appender]:
    """An appender (``options`` its own) serving the test's database from a thread, attached to
    ``app``'s engine for the block."""
    path = _short_socket()
    server = appender.Appender(libpq_url(db_url), path, **options)
    up = threading.Event()
    thread = threading.Thread(target=server.serve, args=(up.set,), daemon=True)
    thread.start()
    assert up.wait(10)
    engine = app.extensions["ledger.engine"]
    appender.attach(engine, path)
    try:
        yield server
    finally:
        appender.attach(engine, None)
        server.stop.set()
        thread.join(10)
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)


@pytest.fixture
def served(founded, db_url):
    """An appender serving the test's database from a thread, attached to the app's engine."""
    with _serving(founded, db_url) as server:
        yield server


def _requests(session, specs: list[EntrySpec]) -> list[list]:
    """Each spec's request as a writer sends it."""
    facts = append.journal_facts(session)
    accounts = facts.resolve(session, {leg.account for spec in specs for leg in spec.legs})
    _guard, first, last = append.dates_need_guard(session, facts, [spec.date for spec in specs])
    return [appender.request_of(append.call_args(session, [spec], accounts, first, last)[0]) for spec in specs]


@pytest.fixture
def standalone(db_url):
    """An appender that is not serving, its appending connection open: ``_append`` called directly."""
    server = appender.Appender(libpq_url(db_url), "unused")
    server.conn = server._appending_connection()
    yield server
    server.conn.close()


@PG_ONLY
def test_a_batch_is_one_call_and_one_transaction(founded, standalone):
    with founded.app_context():
        s = get_session()
        requests = _requests(s, [EntrySpec(DAY, f"b{i}", _legs(f"{i}.00"), "manual") for i in range(1, 5)])
        s.rollback()
        answers = standalone._append(requests)
        assert answers == [("ok", n, None) for n in range(2, 6)]
        assert (standalone.batches, standalone.entries) == (1, 4)
        assert s.scalar(sa.text("SELECT count(DISTINCT xmin::text) FROM entry WHERE id BETWEEN 2 AND 5")) == 1
        assert [m for (m,) in s.execute(sa.select(Entry.memo).where(Entry.id > 1).order_by(Entry.id))] == \
            ["b1", "b2", "b3", "b4"]
        report = verify(s)
        assert report.ok, report.problems


@PG_ONLY
def test_a_refusal_or_a_key_used_twice_in_a_batch_is_its_own_writers_alone(founded, standalone):
    with founded.app_context():
        s = get_session()
        specs = [EntrySpec(DAY, "first", _legs(), "manual", idempotency_key="k1"),
                 EntrySpec(DAY, "stale", _legs(), "manual"),
                 EntrySpec(DAY, "twice", _legs(), "manual", idempotency_key="k1"),
                 EntrySpec(DAY, "last", _legs(), "manual")]
        requests = _requests(s, specs)
        s.rollback()
        names = requests[1][append_index("a_name")]
        requests[1][append_index("a_name")] = [f"{n}:renamed" for n in names]  # what a stale cache would hold
        answers = standalone._append(requests)
        assert answers[0] == ("ok", 2, None)
        assert answers[1] == ("stale", None, None)
        assert answers[2][0] == "error" and answers[2][2].startswith("23505")
        assert answers[3] == ("ok", 3, None)
        assert [m for (m,) in s.execute(sa.select(Entry.memo).where(Entry.id > 1).order_by(Entry.id))] == ["first", "last"]
        assert (standalone.batches, standalone.entries) == (1, 2)  # the batch refused, then two of four alone
        assert verify(s).ok


def append_index(name: str) -> int:
    return [n for n, _k, _a in appender.APPEND_PARAMS].index(name)


@PG_ONLY
def test_writers_through_the_appender_get_their_own_ids_in_one_chain(founded, served):
    def memo(n, i):
        return f"w{n}-{i}"

    got = grouped_writers(founded, 4, 15, lambda n, i: EntrySpec(DAY, memo(n, i), _legs(), "manual",
                                                                  idempotency_key=memo(n, i)))
    assert_each_in_order(founded, got, memo)
    assert served.entries == 4 * 15  # every entry went through the appender
    with founded.app_context():
        s = get_session()
        # A key used again answers the entry that has it, through the appender as without it.
        again = post_grouped(s, EntrySpec(DAY, "w0-0", _legs(), "manual", idempotency_key="w0-0"))
        assert again == got[0][0]
        # A stale cache is posted again from fresh reads: the account renamed behind the cache.
        facts = append.journal_facts(s)
        cached = facts.accounts[chart.CASH]
        facts.accounts[chart.CASH] = AccountFacts(cached.id + 1, cached.name, cached.commodities, None)
        fresh = post_grouped(s, EntrySpec(DAY, "after a stale cache", _legs(), "manual"))
        assert s.get(Entry, fresh).memo == "after a stale cache" and verify(s).ok


@PG_ONLY
def test_a_writer_is_answered_only_after_the_flush_past_its_batch(founded, served, db_url, monkeypatch):
    # The flush waits for a lock this test holds: the entry is committed, its writer not yet answered.
    answered: list[int] = []

    def writer():
        with founded.app_context():
            answered.append(post_grouped(get_session(), EntrySpec(DAY, "held", _legs(), "manual")))

    with flush_held(monkeypatch, libpq_url(db_url)) as holder:
        thread = threading.Thread(target=writer)
        thread.start()
        deadline = time.monotonic() + 10
        while holder.execute("SELECT count(*) FROM entry WHERE memo = 'held'").fetchone()[0] == 0:
            assert time.monotonic() < deadline, "the entry was never committed"
            time.sleep(0.02)
        time.sleep(0.3)
        assert answered == []  # committed, not yet flushed as far as the appender knows: no answer
    thread.join(10)
    assert answered == [2]


def test_a_lone_request_waits_for_the_flushing_thread_and_a_batch_commits_durably():
    assert [appender.durable(n) for n in (1, 2, 3, appender.BATCH)] == [False, True, True, True]


@PG_ONLY
def test_a_batch_of_two_or_more_is_on_disk_when_its_call_returns(founded, standalone):
    # The appending connection's commits do not wait for the flush; a batch's durable call does.
    # The WAL's insert position read in the call's statement, after the entries were written, is
    # flushed by the time the call's answer is in.
    from ledger.journal import wire

    with founded.app_context():
        s = get_session()
        requests = _requests(s, [EntrySpec(DAY, f"d{i}", _legs(), "manual") for i in range(3)])
        s.rollback()
    assert standalone.conn.execute("SHOW synchronous_commit").fetchone()[0] == "off"
    values = [wire.text(v) for v in appender._texts(appender.merged(requests))]
    result = standalone.conn.pgconn.exec_params(
        b"SELECT s.o_status, pg_current_wal_insert_lsn()::text FROM (" + appender._CALL_DURABLE.sql + b") s", values)
    assert result.get_value(0, 0) == b"ok", result.get_error_message()
    written = result.get_value(0, 1).decode()
    assert standalone.conn.execute("SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn", [written]).fetchone()[0]


@PG_ONLY
def test_writers_queued_behind_a_call_are_answered_without_waiting_for_the_flush(founded, served, db_url, monkeypatch):
    # The chain held by this test: the first writer's call waits on it, three more writers queue
    # behind it. Let go, the first (alone) waits for the flush this test also holds; the three,
    # one batch committed durably, are answered at once.
    answered: dict[str, int] = {}

    def writer(memo: str):
        with founded.app_context():
            answered[memo] = post_grouped(get_session(), EntrySpec(DAY, memo, _legs(), "manual"))

    with flush_held(monkeypatch, libpq_url(db_url)) as holder, \
            psycopg.connect(libpq_url(db_url)) as chain:
        chain.execute("SELECT 1 FROM chain_head FOR UPDATE")
        threads = [threading.Thread(target=writer, args=("first",))]
        threads[0].start()
        deadline = time.monotonic() + 10
        while not holder.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                 "AND query LIKE '%%ledger_append%%'").fetchone()[0]:
            assert time.monotonic() < deadline, "the first call never waited for the chain"
            time.sleep(0.02)
        threads += [threading.Thread(target=writer, args=(f"queued {n}",)) for n in range(3)]
        for thread in threads[1:]:
            thread.start()
        time.sleep(0.5)  # their requests sent, waiting behind the first call
        assert answered == {}
        chain.rollback()
        for thread in threads[1:]:
            thread.join(10)
        assert sorted(answered) == ["queued 0", "queued 1", "queued 2"]  # the flush still held
        assert served.flushes == 0
    threads[0].join(10)
    assert answered["first"] == 2 and sorted(answered.values()) == [2, 3, 4, 5]
    assert served.batches == 2


@PG_ONLY
def test_the_appender_connects_again_when_its_connection_is_lost(founded, served, db_url):
    # Its backend ended between batches (an administrator's pg_terminate_backend, a restart): the
    # appender sees its connection's end, connects again and keeps serving through the new one.
    def post(memo: str, key: str | None = None) -> int:
        got: list[int] = []

        def writer():
            with founded.app_context():
                got.append(post_grouped(get_session(), EntrySpec(DAY, memo, _legs(), "manual", idempotency_key=key)))

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        thread.join(10)
        assert got, f"{memo!r} was never answered"  # an appender not watching its new connection
        return got[0]

    assert post("before") == 2
    first = served.conn.info.backend_pid
    with psycopg.connect(libpq_url(db_url), autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [first]).fetchone()[0]
        deadline = time.monotonic() + 10
        while served.conn.closed or served.conn.info.backend_pid == first:
            assert time.monotonic() < deadline, "the appender never connected again"
            time.sleep(0.02)
    assert post("after", key="after") == 3
    assert [post(f"then {n}") for n in range(3)] == [4, 5, 6]
    assert served.entries == 5  # every one of them through the appender, the new connection's
    with founded.app_context():
        assert verify(get_session()).ok


@PG_ONLY
def test_no_appender_answering_the_entry_is_posted_directly(founded):
    engine = founded.extensions["ledger.engine"]
    appender.attach(engine, "/nonexistent/appender.sock")
    try:
        with founded.app_context():
            s = get_session()
            assert post_grouped(s, EntrySpec(DAY, "direct", _legs(), "manual")) == 2
            assert verify(s).ok
    finally:
        appender.attach(engine, None)


def _appender_process(url: str, path: str) -> None:
    appender.Appender(libpq_url(url), path).serve()


def _wait_for(path: str) -> None:
    deadline = time.monotonic() + 30
    while not os.path.exists(path):
        assert time.monotonic() < deadline, "the appender did not start"
        time.sleep(0.05)


@PG_ONLY
def test_kill_9_of_the_appender_or_a_writer_loses_no_acknowledged_entry(founded, db_url, tmp_path):
    ctx = mp.get_context("spawn")
    acks, sock = str(tmp_path / "acks.jsonl"), _short_socket()
    server = ctx.Process(target=_appender_process, args=(db_url, sock))
    server.start()
    _wait_for(sock)
    writers = [ctx.Process(target=killable_writer, args=(db_url, n, acks, sock)) for n in range(4)]
    for p in writers:
        p.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not os.path.exists(acks) or os.path.getsize(acks) < 200):
            time.sleep(0.2)
        for round_ in range(4):  # the appender killed mid-stream and started again; a writer too
            time.sleep(0.4)
            os.kill(server.pid, signal.SIGKILL)
            server.join()
            time.sleep(0.2)  # writers post directly meanwhile
            server = ctx.Process(target=_appender_process, args=(db_url, sock))
            server.start()
            victim = writers[round_]
            os.kill(victim.pid, signal.SIGKILL)
            victim.join()
            writers[round_] = ctx.Process(target=killable_writer, args=(db_url, 10 + round_, acks, sock))
            writers[round_].start()
        time.sleep(1)
    finally:
        for p in [*writers, server]:
            os.kill(p.pid, signal.SIGKILL)
            p.join()
        shutil.rmtree(os.path.dirname(sock), ignore_errors=True)
    assert_acknowledged_kept(founded, acks)


def test_the_appender_command_refuses_sqlite_and_wants_a_socket(founded, runner):
    result = runner.invoke(args=["appender"])
    assert result.exit_code == 1
    if ENGINE == "postgresql":
        assert "give --socket PATH or set LEDGER_APPENDER_SOCKET" in result.output
    else:
        assert "the appender is PostgreSQL's" in result.output


@PG_ONLY
def test_the_appender_command_serves_until_sigterm_and_one_socket_has_one(founded, db_url):
    sock = _short_socket()
    env = {**os.environ, "DATABASE_URL": db_url, "SECRET_KEY": "test"}
    ledger = [str(Path(sys.executable).parent / "ledger")]  # the console script
    proc = subprocess.Popen([*ledger, "appender", "--socket", sock, "--warn-after", "0"], env=env,  # nosec B603
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader = psycopg.connect(libpq_url(db_url))
    try:
        _wait_for(sock)
        with founded.app_context():  # serving holds no transaction open (it would hold back vacuum)
            assert get_session().scalar(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%'")) == 0
        engine = founded.extensions["ledger.engine"]
        appender.attach(engine, sock)
        holder = _holding_a_snapshot(reader)
        try:
            with founded.app_context():
                assert post_grouped(get_session(), EntrySpec(DAY, "served", _legs(), "manual")) == 2
        finally:
            appender.attach(engine, None)
        second = subprocess.run([*ledger, "appender", "--socket", sock], env=env, text=True,  # nosec B603
                                capture_output=True, timeout=60, check=False)
        assert second.returncode == 1 and f"an appender already serves {sock}" in second.stderr
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        reader.close()
        shutil.rmtree(os.path.dirname(sock), ignore_errors=True)
    assert proc.returncode == 0, err
    assert "stopped: 1 entries appended in 1 batches" in out
    assert f"warning: session {holder} (" in err  # the session holding a snapshot open, named
    assert not os.path.exists(sock)


def _holding_a_snapshot(conn: psycopg.Connection) -> int:
    """``conn`` left in a repeatable-read transaction that has read the ledger (its snapshot holds
    back the vacuum, as a forgotten ``BEGIN`` does); its backend's pid."""
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    return conn.execute("SELECT pg_backend_pid() FROM (SELECT count(*) FROM entry) e").fetchone()[0]


@PG_ONLY
def test_the_appender_warns_once_of_each_transaction_held_open_past_its_limit(founded, db_url):
    told: list[str] = []

    def post(memo: str) -> None:
        # Its writer is answered before the flushing thread looks: the look after one flush has
        # run once the next entry's answer is in (one thread, in turn).
        with founded.app_context():
            post_grouped(get_session(), EntrySpec(DAY, memo, _legs(), "manual"))

    with _serving(founded, db_url, warn=told.append, held_after=0):
        post("warm")
        post("warm again")
        assert told == []  # nobody holds a transaction open
        with psycopg.connect(libpq_url(db_url)) as reader:
            holder = _holding_a_snapshot(reader)
            for n in range(3):
                post(f"held {n}")
            assert len(told) == 1, told  # once a transaction, not once a flush
            assert told[0].startswith(f"session {holder} (") and ", idle in transaction) has held" in told[0]
            reader.rollback()
            holder_again = _holding_a_snapshot(reader)  # a new transaction of the same session
            post("again")
            post("and again")
            assert len(told) == 2 and told[1].startswith(f"session {holder_again} (")


@PG_ONLY
def test_an_idle_appender_still_looks_for_transactions_held_open(founded, db_url):
    # Nothing to flush (no writer, or only batches committed durably): the flushing thread wakes to look.
    told: list[str] = []
    with _serving(founded, db_url, warn=told.append, held_after=0) as server, \
            psycopg.connect(libpq_url(db_url)) as reader:
        holder = _holding_a_snapshot(reader)
        deadline = time.monotonic() + 10
        while not told:
            assert time.monotonic() < deadline, "the idle appender never looked"
            time.sleep(0.05)
        assert told[0].startswith(f"session {holder} (") and server.flushes == 0


def test_only_this_users_processes_are_read_on_either_end():
    import socket

    here, there = socket.socketpair()
    try:
        assert appender.same_user(here) and appender.same_user(there)
    finally:
        here.close()
        there.close()
    if os.getuid() != 0 or not os.access("/usr/bin/python3", os.X_OK):
        pytest.skip("another user's process needs root to start it, and a Python outside root's home")
    path = _short_socket()
    os.chmod(os.path.dirname(path), 0o755)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o777)  # an appender's socket is its owner's alone; opened here to reach the check behind it
    listener.listen(1)
    stranger = None
    try:
        stranger = subprocess.Popen(["/usr/bin/python3", "-c", "import socket, sys; s = socket.socket(socket.AF_UNIX); "  # nosec B603
                                     "s.connect(sys.argv[1]); s.recv(1)", path], user=65534)
        conn, _addr = listener.accept()
        assert not appender.same_user(conn)
        conn.close()
        assert stranger.wait(30) == 0
    finally:
        if stranger is not None:
            stranger.kill()
        listener.close()
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)


@PG_ONLY
def test_a_malformed_request_is_answered_as_such_and_the_appender_serves_on(founded, served):
    import marshal
    import socket
    import struct

    def ask(payload: bytes):
        """The appender's answer to ``payload``, or ``None`` when it closed the connection."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
            raw.connect(served.path)
            raw.sendall(payload)
            raw.settimeout(10)
            head = raw.recv(4, socket.MSG_WAITALL)
            if not head:
                return None
            return marshal.loads(raw.recv(struct.unpack(">I", head)[0], socket.MSG_WAITALL))

    for body in (marshal.dumps([1, 2, 3]), b"\xff\xfe not marshal", marshal.dumps("text")):
        assert ask(struct.pack(">I", len(body)) + body) == (
            "error", None, "malformed request: not ledger_append's arguments")
    assert ask(struct.pack(">I", appender.MAX_FRAME + 1)) is None  # too long to be a request: closed
    with founded.app_context():
        s = get_session()
        assert post_grouped(s, EntrySpec(DAY, "after them", _legs(), "manual")) == 2
        assert verify(s).ok
