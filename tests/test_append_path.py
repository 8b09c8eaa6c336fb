"""The fast append path (issue 16): the canonical form split around its id, the server-side append
(PostgreSQL's ``ledger_append``) agreeing with ``verify``, a stale cache never accepting what the
database refuses, the append committed in one round trip, and group commit — each writer its own
id and its own error, one chain, and kill -9 mid-batch losing no acknowledged entry."""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import os
import signal
import threading
import time
from decimal import Decimal

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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.core import chart
from ledger.core.entries import Leg, canonical_entry, canonical_parts
from ledger.core.errors import Conflict, ValidationError
from ledger.journal import group
from ledger.journal.balances import balance
from ledger.journal.group import post_grouped
from ledger.journal.models import Entry
from ledger.journal.service import EntrySpec, post_and_commit, post_entries, post_entry, post_manual
from ledger.journal.verify import verify
from ledger.runtime.database import get_session


@settings(max_examples=200, deadline=None)
@given(id=st.integers(min_value=1, max_value=10**12), memo=st.text(max_size=40), ref=st.text(max_size=10),
       detail=st.one_of(st.none(), st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)))
def test_the_canonical_form_splits_around_its_id(id, memo, ref, detail):
    fields = dict(date=DAY, memo=memo, source_type="manual", source_ref=ref, policy_version=None, reverses_id=None,
                  postings=[("Assets:Cash", "USD", Decimal("1.00"), None, None),
                            ("Equity:Capital:Ben", "USD", Decimal("-1.00"), "draw", 7)], detail=detail)
    head, tail = canonical_parts(**fields)
    assert head + str(id) + tail == canonical_entry(id=id, **fields)


def test_every_path_chains_entries_verify_agrees_with(founded):
    with founded.app_context():
        s = get_session()
        one = post_entry(s, date=DAY, memo='a "quoted" memo — ünïcode', source_type="manual", legs=_legs())
        assert one.id == 2 and len(one.hash) == 64 and [p.amount for p in one.postings] == [Decimal("1.00"), Decimal("-1.00")]
        s.commit()
        ids = post_entries(s, [EntrySpec(DAY, f"batch {i}", _legs("2.50"), "manual") for i in range(5)])
        s.commit()
        assert ids == [3, 4, 5, 6, 7]
        assert post_and_commit(s, [EntrySpec(DAY, "committed", _legs("3.00"), "manual")]) == [8]
        assert post_grouped(s, EntrySpec(DAY, "grouped", _legs("4.00"), "manual", idempotency_key="k-1")) == 9
        # An idempotent retry through the group appender answers the entry that has the key.
        if ENGINE == "postgresql":
            assert post_grouped(s, EntrySpec(DAY, "grouped", _legs("4.00"), "manual", idempotency_key="k-1")) == 9
        s.rollback()
        report = verify(s)
        assert report.ok, report.problems
        assert report.entries == 9
        assert balance(s, chart.CASH) == Decimal("1.00") + 5 * Decimal("2.50") + Decimal("3.00") + Decimal("4.00")
        stored = s.get(Entry, 2)
        s.expire(stored)
        assert stored.memo == 'a "quoted" memo — ünïcode'


def test_every_path_refuses_a_balance_past_what_the_ledger_stores_and_writes_nothing(founded):
    """``post_entry``, ``post_entries``, ``post_and_commit`` and the group appender: the same
    refusal, with the field, when an entry would take a maintained balance past what it stores;
    the ledger unchanged, and the next entry posts as usual."""
    near, over = "922337203000000.00", "1000000.00"
    with founded.app_context():
        s = get_session()
        post_entry(s, date=DAY, memo="near the bound", source_type="manual", legs=_legs(near))
        s.commit()
        posts = [
            lambda: post_entry(s, date=DAY, memo="over", source_type="manual", legs=_legs(over)),
            lambda: post_entries(s, [EntrySpec(DAY, "over", _legs(over), "manual")]),
            lambda: post_and_commit(s, [EntrySpec(DAY, "over", _legs(over), "manual")]),
            lambda: post_grouped(s, EntrySpec(DAY, "over", _legs(over), "manual")),
        ]
        for post in posts:
            with pytest.raises(ValidationError, match="beyond what the ledger can store") as exc:
                post()
            assert "postings" in exc.value.errors
            s.rollback()
            assert balance(s, chart.CASH) == Decimal(near)
        assert post_grouped(s, EntrySpec(DAY, "still posts", _legs("1.00"), "manual")) == 3
        s.rollback()
        report = verify(s)
        assert report.ok and report.entries == 3, report.problems


def test_a_change_behind_the_cache_is_refused_from_fresh_reads(founded):
    """The cache only ever accepts: an account closed and a period closed by another process (here,
    straight in the database, so this process's cache is not told) are refused all the same."""
    with founded.app_context():
        s = get_session()
        post_entry(s, date=DAY, memo="warm the cache", source_type="manual", legs=_legs())
        s.commit()
        s.execute(sa.text("UPDATE account SET closed_after = :d WHERE name = :n"),
                  {"d": dt.date(2026, 1, 5), "n": chart.capital("ben")})
        s.commit()
        with pytest.raises(Conflict, match="takes no posting dated after 2026-01-05"):
            post_entry(s, date=DAY, memo="refused", source_type="manual", legs=_legs())
        s.rollback()
        with pytest.raises(Conflict, match="takes no posting dated after 2026-01-05"):
            post_grouped(s, EntrySpec(DAY, "refused too", _legs(), "manual"))
        s.rollback()
        s.execute(sa.text("UPDATE account SET closed_after = NULL"))
        s.execute(sa.text("UPDATE period SET status = 'closed' WHERE id = '2026-01'"))
        s.commit()
        with pytest.raises(Conflict, match="period 2026-01 is closed"):
            post_entry(s, date=DAY, memo="into a closed period", source_type="manual", legs=_legs())
        s.rollback()
        with pytest.raises(Conflict, match="period 2026-01 is closed"):
            post_and_commit(s, [EntrySpec(DAY, "into a closed period", _legs(), "manual")])
        s.rollback()
        # A later period is still open, and its rows are created on the way.
        assert post_grouped(s, EntrySpec(dt.date(2026, 5, 3), "May", _legs(), "manual")) == 3
        s.execute(sa.text("UPDATE period SET status = 'open'"))  # closed by hand, without its snapshots
        s.commit()
        report = verify(s)
        assert report.ok, report.problems


def test_a_manual_entry_answers_a_closed_period_first_whatever_the_cache_knew(founded):
    """``post_manual`` checks the date from the cache when it can accept it; a period closed
    behind the cache (straight in the database) is still the answer, before the legs' problems."""
    with founded.app_context():
        s = get_session()
        post_manual(s, DAY, "warm the cache", _legs())
        s.commit()
        s.execute(sa.text("UPDATE period SET status = 'closed' WHERE id = '2026-01'"))
        s.commit()
        unbalanced = [Leg(chart.CASH, Decimal("1.00"), "USD"), Leg(chart.capital("ben"), Decimal("-0.99"), "USD")]
        for legs in (unbalanced, _legs()):
            with pytest.raises(Conflict, match="period 2026-01 is closed"):
                post_manual(s, DAY, "into a closed period", legs)
            s.rollback()
        with pytest.raises(ValidationError):  # an open period: the legs' own error
            post_manual(s, dt.date(2026, 2, 3), "unbalanced", unbalanced)
        s.rollback()
        s.execute(sa.text("UPDATE period SET status = 'open'"))
        s.commit()


def test_concurrent_grouped_writers_get_their_own_ids_in_one_chain(founded):
    def memo(n, i):
        return f"w{n}-{i}"

    got = grouped_writers(founded, 4, 15, lambda n, i: EntrySpec(DAY, memo(n, i), _legs(), "manual",
                                                                  idempotency_key=memo(n, i)))
    assert_each_in_order(founded, got, memo)


@pytest.mark.skipif(ENGINE != "postgresql", reason="group commit is PostgreSQL's; SQLite has one writer")
def test_a_key_used_again_is_answered_only_once_its_entry_is_on_disk(founded, db_url, monkeypatch):
    with founded.app_context():
        first = post_grouped(get_session(), EntrySpec(DAY, "once", _legs(), "manual", idempotency_key="k-once"))
    answered: list[int] = []

    def again():
        with founded.app_context():
            answered.append(post_grouped(get_session(), EntrySpec(DAY, "once", _legs(), "manual",
                                                                  idempotency_key="k-once")))

    # The first writer lets go of the chain before its flush: a retry that finds its entry may
    # find it committed and not yet on disk, and answers only after a flush past it.
    with flush_held(monkeypatch, libpq_url(db_url)):
        thread = threading.Thread(target=again)
        thread.start()
        time.sleep(0.5)
        assert answered == []
    thread.join(10)
    assert answered == [first]


@pytest.fixture
def sessions():
    """Connections that queue requests in tests (``_queue``), closed after the test: a live session
    keeps its slot."""
    conns: list = []
    yield conns
    for conn in conns:
        conn.close()


def _queue(session, specs: list[EntrySpec], dsn: str, sessions: list) -> list[int]:
    """Queue each of ``specs`` as a writer would, without draining: each request written into the
    slot of a session of its own (a connection appended to ``sessions``); their tickets."""
    import psycopg

    from ledger.journal import append
    from ledger.journal.append import text_arrays
    from ledger.journal.models import APPEND_PARAMS

    facts = append.journal_facts(session)
    facts.resolve(session, {leg.account for spec in specs for leg in spec.legs})
    _guard, first, last = append.dates_need_guard(session, facts, [spec.date for spec in specs])
    insert = (f"INSERT INTO append_slot (owner, ticket, pending, queued_at, {', '.join(n for n, _k, _a in APPEND_PARAMS)}) "
              "VALUES (pg_backend_pid(), nextval('append_ticket'), true, clock_timestamp(), "
              f"{', '.join(f'%s::{k}[]' if a else f'%s::{k}' for _n, k, a in APPEND_PARAMS)}) RETURNING ticket")
    tickets = []
    for spec in specs:
        args, _now = append.call_args(session, [spec], facts.accounts, first, last)
        sessions.append(psycopg.connect(dsn, autocommit=True))
        tickets.append(sessions[-1].execute(insert, text_arrays(args)).fetchone()[0])
    session.commit()
    return tickets


#: What the queue holds: its slots, those pending, and those still carrying a request's arguments.
_SLOTS = sa.text("SELECT count(*), count(*) FILTER (WHERE pending), count(e_date) FROM append_slot")


@pytest.mark.skipif(ENGINE != "postgresql", reason="group commit is PostgreSQL's; SQLite has one writer")
def test_a_drain_appends_the_queue_as_one_call_or_each_request_alone(founded, db_url, sessions):
    """Queued requests go in as one ``ledger_append`` (consecutive ids, each its own hash); when one
    of them fails the whole call, each request goes in alone: its own entry, or its own error. Each
    answer is written into its request's slot, the arguments cleared."""
    dsn = libpq_url(db_url)
    with founded.app_context():
        s = get_session()
        assert post_grouped(s, EntrySpec(DAY, "first", _legs(), "manual", idempotency_key="used")) == 2
        drain = sa.text("SELECT ledger_drain_batch()")
        answers = sa.text("SELECT ticket, status, entry_id, detail FROM append_slot "
                          "WHERE ticket = ANY (:t) ORDER BY ticket")
        calls = sa.text("SELECT calls FROM pg_stat_xact_user_functions WHERE funcname = 'ledger_append'")
        tickets = _queue(s, [EntrySpec(DAY, f"batch {i}", _legs(f"{i}.00"), "manual") for i in (1, 2, 3)],
                         dsn, sessions)
        assert s.execute(_SLOTS).one() == (3, 3, 3)
        s.execute(sa.text("SET track_functions = 'pl'"))
        assert s.scalar(drain) == 3
        assert s.scalar(calls) == 1  # the three requests in one call
        s.commit()
        done = s.execute(answers, {"t": tickets}).all()
        assert [(r.ticket, r.status, r.entry_id) for r in done] == [
            (t, "ok", i) for t, i in zip(tickets, (3, 4, 5), strict=True)]
        assert [r.detail for r in done] == list(s.scalars(sa.select(Entry.hash).where(Entry.id.in_([3, 4, 5]))
                                                          .order_by(Entry.id)))
        assert s.execute(_SLOTS).one() == (3, 0, 0)  # answered, the arguments cleared
        tickets = _queue(s, [EntrySpec(DAY, "ok 1", _legs(), "manual"),
                             EntrySpec(DAY, "a key used", _legs(), "manual", idempotency_key="used"),
                             EntrySpec(DAY, "ok 2", _legs(), "manual")], dsn, sessions)
        s.execute(sa.text("SET track_functions = 'pl'"))
        assert s.scalar(drain) == 3
        assert s.scalar(calls) == 3  # one a request (the batch's call, undone, counts for nothing)
        s.commit()
        first, refused, last = s.execute(answers, {"t": tickets}).all()
        assert (first.status, first.entry_id, last.status, last.entry_id) == ("ok", 6, "ok", 7)
        assert (refused.status, refused.entry_id) == ("error", None) and refused.detail.startswith("23505")
        assert dict(s.execute(sa.select(Entry.id, Entry.memo).where(Entry.id > 5)).all()) == {6: "ok 1", 7: "ok 2"}
        assert s.execute(_SLOTS).one() == (6, 0, 0)
        report = verify(s)
        assert report.ok, report.problems


@pytest.mark.skipif(ENGINE != "postgresql", reason="group commit is PostgreSQL's; SQLite has one writer")
def test_the_queue_is_rewritten_in_place_and_forgets_ended_sessions(founded, db_url, sessions):
    """Migration 0028: a session queues by rewriting its own slot and is answered in it: a thousand
    requests insert no row and delete none, so no dead row waits for a vacuum (0016's queue
    inserted and deleted two rows a request, and grew a page every few dozen requests). The slot
    of a session that has ended, with nothing pending, is deleted by a later batch."""
    from ledger.journal.models import APPEND_PARAMS

    dsn = libpq_url(db_url)
    with founded.app_context():
        s = get_session()
        before = _slot_counts(s)
        _queue(s, [EntrySpec(DAY, "from a session that ends", _legs(), "manual")], dsn, sessions)
        gone = sessions.pop()
        ended = gone.info.backend_pid
        gone.close()
        _queue(s, [EntrySpec(DAY, "request 0", _legs(), "manual")], dsn, sessions)
        writer = sessions[0]
        again = ("UPDATE append_slot x SET ticket = nextval('append_ticket'), pending = true, "
                 "queued_at = clock_timestamp(), "
                 + ", ".join(f"{n} = y.{n}" for n, _k, _a in APPEND_PARAMS)
                 + " FROM request y WHERE x.owner = pg_backend_pid()")
        writer.execute("CREATE TEMP TABLE request AS SELECT * FROM append_slot WHERE owner = pg_backend_pid()")
        drained = 0
        while True:
            assert s.scalar(sa.text("SELECT ledger_drain_batch()")) in (1, 2)
            s.commit()
            drained += 1
            if drained >= 1000 and not s.scalar(sa.text("SELECT count(*) FROM append_slot WHERE owner = :p"),
                                                {"p": ended}):
                break
            assert drained < 5000, "the ended session's slot was never dropped"
            writer.execute(again)  # the same request again (its chain fields are the server's)
        assert s.execute(_SLOTS).one() == (1, 0, 0)
        # Every request and every answer a rewrite of a slot: here two rows inserted (the two
        # sessions' first requests) and one deleted (the ended session's), however many went
        # through; the insert-and-delete queue makes a thousand of each. (PostgreSQL's counters
        # are cumulative and other sessions flush theirs on their own schedule: a handful from
        # earlier tests may land in the window. The table's size is PostgreSQL's pruning: one
        # page here when nothing else runs, more while a transaction anywhere in the cluster is
        # older than the rewrites.)
        writer.execute("SELECT pg_stat_force_next_flush()")
        inserted, updated, deleted = (a - b for a, b in zip(_slot_counts(s), before, strict=True))
        assert inserted < 20 and deleted < 20 and updated >= 2 * drained, (inserted, updated, deleted)
        assert s.scalar(sa.select(sa.func.count()).select_from(Entry)) == 2 + drained
        report = verify(s)
        assert report.ok, report.problems


def _slot_counts(session) -> tuple[int, int, int]:
    """Rows inserted into, updated in and deleted from ``append_slot`` so far, by PostgreSQL's
    counters (this session's own flushed first)."""
    session.execute(sa.text("SELECT pg_stat_force_next_flush()"))
    session.commit()
    session.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
    counts = session.execute(sa.text("SELECT n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables "
                                     "WHERE relname = 'append_slot'")).one()
    session.commit()
    return tuple(counts)


@pytest.mark.skipif(ENGINE != "postgresql", reason="group commit is PostgreSQL's; SQLite has one writer")
def test_a_request_that_waited_too_long_is_never_appended_and_its_writer_posts_from_fresh_reads(
        founded, db_url, sessions):
    """Migration 0028: a queued request older than 10 s is not appended by any batch (it was
    checked against its writer's cache when it queued, and is not checked again under the turn: a
    dead writer's request must not go in late). A writer still waiting for it is answered
    ``stale`` and posts again from fresh reads — its entry exactly once."""
    import psycopg

    dsn = libpq_url(db_url)
    with founded.app_context():
        s = get_session()
        _queue(s, [EntrySpec(DAY, "left behind", _legs(), "manual")], dsn, sessions)
        s.execute(sa.text("UPDATE append_slot SET queued_at = queued_at - interval '11 seconds'"))
        s.commit()
        assert s.scalar(sa.text("SELECT ledger_drain_batch()")) == 0  # nothing fresh to append
        s.commit()
        assert s.scalar(sa.select(sa.func.count()).select_from(Entry)) == 1  # the opening entry alone
    holder = psycopg.connect(dsn, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(16016), pg_advisory_lock(16017)")  # the writer must queue
    got: list = []

    def writer():
        try:
            with founded.app_context():
                got.append(post_grouped(get_session(), EntrySpec(DAY, "waited too long", _legs(), "manual")))
        except Exception as exc:  # noqa: BLE001 - asserted below
            got.append(exc)

    thread = threading.Thread(target=writer)
    try:
        thread.start()
        deadline = time.monotonic() + 20
        while not holder.execute("SELECT count(*) FROM append_slot WHERE pending AND e_memo = "
                                 "ARRAY['waited too long']").fetchone()[0]:
            assert time.monotonic() < deadline, "the writer did not queue"
            time.sleep(0.02)
        holder.execute("UPDATE append_slot SET queued_at = queued_at - interval '11 seconds' "
                       "WHERE e_memo = ARRAY['waited too long']")
    finally:
        holder.execute("SELECT pg_advisory_unlock(16016), pg_advisory_unlock(16017)")
        thread.join(timeout=30)
        holder.close()
    assert len(got) == 1 and isinstance(got[0], int), got
    with founded.app_context():
        s = get_session()
        memos = list(s.scalars(sa.select(Entry.memo).where(Entry.id > 1)))
        assert memos == ["waited too long"]  # posted once, from fresh reads; the old request never
        assert s.scalar(sa.text("SELECT count(*) FROM append_slot WHERE pending AND queued_at > "
                                "clock_timestamp() - interval '10 seconds'")) == 0
        report = verify(s)
        assert report.ok, report.problems


@pytest.mark.skipif(ENGINE != "postgresql", reason="group commit is PostgreSQL's; SQLite has one writer")
def test_a_writer_with_the_turn_free_appends_at_once_without_the_queue(founded):
    with founded.app_context():
        s = get_session()
        assert post_grouped(s, EntrySpec(DAY, "alone", _legs(), "manual")) == 2
        # No request was queued: the queue's ticket sequence was never drawn from.
        assert s.scalar(sa.text("SELECT pg_sequence_last_value('append_ticket')")) is None
        assert s.scalar(sa.text("SELECT count(*) FROM append_slot")) == 0  # no session ever queued
        s.rollback()


@pytest.mark.skipif(ENGINE != "postgresql", reason="group commit is PostgreSQL's; SQLite has one writer")
def test_a_lone_writer_lets_go_of_the_turn_before_the_flush_and_is_answered_after_it(founded):
    """Migration 0026: with nothing queued, the entry's transaction commits without waiting for the
    WAL flush (that transaction alone), the turn is let go, and a later synchronous commit that
    writes WAL — whose flush covers the entry's — comes before the answer: one WAL sync a lone
    entry, as before (a commit that writes no WAL would not wait for any). The writer's connection
    keeps its synchronous commits; the turn is free once answered."""

    def wal_syncs(conn) -> int:
        conn.execute("SELECT pg_stat_force_next_flush()")  # the writer's backend reports its counts
        conn.execute("SELECT 1")
        s.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
        return s.scalar(sa.text("SELECT wal_sync FROM pg_stat_wal"))

    with founded.app_context():
        s = get_session()
        body = s.scalar(sa.text("SELECT prosrc FROM pg_proc WHERE proname = 'ledger_post'"))
        branch = body[body.index("IF ledger_drain_batch() > 0 THEN"):]
        steps = ["COMMIT;", "pg_advisory_unlock(16016)", "set_config('synchronous_commit', 'off', true)", "COMMIT;",
                 "pg_advisory_unlock(16016)", "pg_logical_emit_message(true", "COMMIT;", "RETURN;"]
        at = 0
        for step in steps:  # in this order, each after the one before
            at = branch.index(step, at) + len(step)
        assert post_grouped(s, EntrySpec(DAY, "alone", _legs(), "manual")) == 2
        engine = s.get_bind()
        conn = group._take(engine)
        group._idle[engine].append(conn)
        n = 40
        before = wal_syncs(conn)
        for i in range(n):
            post_grouped(s, EntrySpec(DAY, f"alone {i}", _legs(), "manual"))
        assert group._take(engine) is conn  # the same connection wrote them all
        try:
            assert wal_syncs(conn) - before >= n  # each answer waited for a flush
            assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
        finally:
            group._idle[engine].append(conn)
        assert s.scalar(sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")) == 0
        assert s.scalar(sa.text("SELECT count(*) FROM entry WHERE memo LIKE 'alone%'")) == n + 1
        s.rollback()


@pytest.mark.skipif(ENGINE != "postgresql", reason="group commit is PostgreSQL's; SQLite has one writer")
def test_a_writers_cache_is_checked_once_before_the_turn(founded, db_url):
    """Migration 0027: ``ledger_post`` checks what the writer cached before it asks for the turn,
    and the append under the turn does not check it again (one check a lone entry, where the check
    inside ``ledger_append`` made two); a writer whose cache went stale is answered from fresh reads
    while another session still holds the turn, without waiting for it."""
    import psycopg


    with founded.app_context():
        s = get_session()
        assert post_grouped(s, EntrySpec(DAY, "warm", _legs(), "manual")) == 2
        engine = s.get_bind()
        conn = group._take(engine)
        conn.execute("SET track_functions = 'pl'")
        group._idle[engine].append(conn)

        def calls() -> dict[str, int]:
            conn.execute("SELECT pg_stat_force_next_flush()")  # the writer's backend reports its counts
            s.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
            return dict(s.execute(sa.text("SELECT funcname, calls FROM pg_stat_user_functions "
                                          "WHERE funcname IN ('ledger_append', 'ledger_append_stale')")).all())

        before = calls()
        assert post_grouped(s, EntrySpec(DAY, "checked once", _legs(), "manual")) == 3
        assert group._take(engine) is conn
        group._idle[engine].append(conn)
        after = calls()
        assert after["ledger_append"] - before.get("ledger_append", 0) == 1
        assert after["ledger_append_stale"] - before.get("ledger_append_stale", 0) == 1
        s.execute(sa.text("UPDATE account SET closed_after = :d WHERE name = :n"),
                  {"d": dt.date(2026, 1, 5), "n": chart.capital("ben")})  # behind the cache's back
        s.commit()
    holder = psycopg.connect(libpq_url(db_url), autocommit=True)
    holder.execute("SELECT pg_advisory_lock(16016)")
    errors: list[Exception] = []

    def writer():
        try:
            with founded.app_context():
                post_grouped(get_session(), EntrySpec(DAY, "stale", _legs(), "manual"))
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    thread = threading.Thread(target=writer)
    try:
        thread.start()
        thread.join(timeout=20)
        assert not thread.is_alive(), "the stale writer waited for the turn"
    finally:
        holder.execute("SELECT pg_advisory_unlock(16016)")
        thread.join(timeout=20)
        holder.close()
    assert len(errors) == 1 and isinstance(errors[0], Conflict)
    assert "takes no posting dated after 2026-01-05" in str(errors[0])
    with founded.app_context():
        s = get_session()
        assert s.scalar(sa.select(sa.func.count()).select_from(Entry)) == 3
        assert s.scalar(sa.text("SELECT count(*) FROM append_slot WHERE pending")) == 0
        report = verify(s)
        assert report.ok, report.problems


@pytest.mark.skipif(ENGINE != "postgresql", reason="group commit is PostgreSQL's; SQLite has one writer")
def test_writers_that_find_the_turn_taken_queue_and_go_in_as_one_batch(founded, db_url):
    """While another session holds the turn, the first writer to find it taken waits for the turn
    itself (the waiter's slot) and the others queue their requests; when the holder lets go, the
    waiter finds the queue full, puts its own request with them and appends all three as one
    ``ledger_append`` call (migration 0024), and commits them together; every writer gets its own
    entry, in one verified chain, with nothing left in the queue."""
    import psycopg

    holder = psycopg.connect(libpq_url(db_url), autocommit=True)
    holder.execute("SELECT pg_advisory_lock(16016)")
    got: dict[int, int] = {}
    errors = []

    def writer(n):
        try:
            with founded.app_context():
                got[n] = post_grouped(get_session(), EntrySpec(DAY, f"queued {n}", _legs(f"{n}.00"), "manual",
                                                               idempotency_key=f"q-{n}"))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in (1, 2, 3)]
    try:
        _start_behind_the_turn(holder, threads)  # writer 1 first: it takes the waiter's slot
        time.sleep(0.2)
        assert holder.execute(_WAITING).fetchone() == (2, 1, 1)  # two queued, one waiting: no third request
        assert got == {}  # nobody drains while the turn is held
    finally:
        _release_the_turn(holder, threads)
    assert errors == [] and sorted(got.values()) == [2, 3, 4]
    with founded.app_context():
        s = get_session()
        rows = s.execute(sa.text("SELECT id, memo, xmin::text AS tx FROM entry WHERE id > 1")).all()
        assert {r.id: r.memo for r in rows} == {i: f"queued {n}" for n, i in got.items()}
        # The queue, the waiter's request last, appended as one call: one subtransaction of the
        # waiter's transaction, so one xmin (0022 appended the waiter's entry in a call of its own).
        tx = {r.id: r.tx for r in rows}
        assert tx[2] == tx[3] == tx[4]
        assert got[1] == 4  # the waiter's request, last in the queue
        assert s.execute(_SLOTS).one() == (3, 0, 0)  # a slot a writer, answered
        assert s.scalar(sa.text("SELECT pg_sequence_last_value('append_ticket')")) == 3
        report = verify(s)
        assert report.ok, report.problems


@pytest.mark.skipif(ENGINE != "postgresql", reason="group commit is PostgreSQL's; SQLite has one writer")
def test_a_waiters_own_refusal_in_the_shared_batch_is_its_own(founded, db_url):
    """The waiter's request goes in with the queue's (migration 0024); when it is the one that
    fails the call (its key already used), the batch falls back to one subtransaction a request:
    the queued writers get their entries, the waiter the entry that has its key (an idempotent
    retry's answer), and nothing else is written."""
    import psycopg

    with founded.app_context():
        first = post_grouped(get_session(), EntrySpec(DAY, "first", _legs(), "manual", idempotency_key="used"))
    holder = psycopg.connect(libpq_url(db_url), autocommit=True)
    holder.execute("SELECT pg_advisory_lock(16016)")
    got: dict[str, int] = {}
    errors = []

    def writer(name, key):
        try:
            with founded.app_context():
                got[name] = post_grouped(get_session(), EntrySpec(DAY, name, _legs(), "manual", idempotency_key=key))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=args)
               for args in (("again", "used"), ("queued 1", "k-1"), ("queued 2", "k-2"))]
    try:
        _start_behind_the_turn(holder, threads)  # the retry first: it takes the waiter's slot
    finally:
        _release_the_turn(holder, threads)
    assert errors == []
    assert got["again"] == first and {got["queued 1"], got["queued 2"]} == {first + 1, first + 2}
    with founded.app_context():
        s = get_session()
        assert dict(s.execute(sa.select(Entry.id, Entry.memo).where(Entry.id >= first)).all()) == {
            first: "first", got["queued 1"]: "queued 1", got["queued 2"]: "queued 2"}
        assert s.execute(_SLOTS).one() == (3, 0, 0)
        report = verify(s)
        assert report.ok, report.problems


def _start_behind_the_turn(holder, threads) -> None:
    """With the turn held by ``holder``: start the first thread and wait until it holds the
    waiter's slot, then the others and wait until each has queued its request."""
    deadline = time.monotonic() + 20
    threads[0].start()
    while holder.execute(_WAITING).fetchone() != (0, 1, 1):
        assert time.monotonic() < deadline, "the first writer did not wait for the turn"
        time.sleep(0.02)
    for t in threads[1:]:
        t.start()
    while holder.execute(_WAITING).fetchone() != (len(threads) - 1, 1, 1):
        assert time.monotonic() < deadline, "the writers did not queue"
        time.sleep(0.02)


def _release_the_turn(holder, threads) -> None:
    """Let the turn go, wait for the writers that started, and close ``holder``."""
    holder.execute("SELECT pg_advisory_unlock(16016)")
    for t in threads:
        if t.ident is not None:
            t.join(timeout=30)
    holder.close()


#: Requests queued; writers waiting for the turn (advisory key 16016) exclusively; the waiter's
#: slot (16017) held.
_WAITING = ("SELECT (SELECT count(*) FROM append_slot WHERE pending), "
            "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 16016 AND NOT granted "
            "AND mode = 'ExclusiveLock'), "
            "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 16017 AND granted)")


@pytest.mark.skipif(ENGINE != "postgresql", reason="group commit is PostgreSQL's; SQLite has one writer")
def test_a_writer_cancelled_while_it_holds_the_turn_does_not_keep_it(founded, db_url):
    """The turn is a session lock: a writer whose call fails while it holds it (cancelled here,
    blocked on the chain's row lock) drops its connection, which lets the turn go; the next writer
    posts, and nothing half-written is left."""
    import psycopg

    dsn = libpq_url(db_url)
    blocker = psycopg.connect(dsn)
    blocker.execute("SELECT seq FROM chain_head WHERE id = 1 FOR UPDATE")  # held: the writer waits on it
    outcome: list = []

    def writer():
        try:
            with founded.app_context():
                outcome.append(post_grouped(get_session(), EntrySpec(DAY, "cancelled", _legs(), "manual")))
        except Exception as exc:  # noqa: BLE001 - asserted below
            outcome.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        with psycopg.connect(dsn, autocommit=True) as admin:
            deadline = time.monotonic() + 20
            while True:  # the writer holds the turn and waits for the chain's row
                pid = admin.execute("SELECT pid FROM pg_stat_activity WHERE query LIKE 'CALL ledger_post%' "
                                    "AND wait_event_type = 'Lock'").fetchone()
                if pid:
                    break
                assert time.monotonic() < deadline, "the writer never waited on the chain"
                time.sleep(0.02)
            assert admin.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                                 "AND pid = %s", pid).fetchone()[0] == 1
            admin.execute("SELECT pg_cancel_backend(%s)", pid)
            thread.join(timeout=20)
            assert len(outcome) == 1 and isinstance(outcome[0], psycopg.errors.QueryCanceled)
            blocker.rollback()
            deadline = time.monotonic() + 20
            while admin.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()[0]:
                assert time.monotonic() < deadline, "the turn was kept"
                time.sleep(0.02)
    finally:  # a failure above must not leave the chain's row held: the test would hang, not fail
        blocker.close()
        thread.join(timeout=20)
    with founded.app_context():
        s = get_session()
        assert post_grouped(s, EntrySpec(DAY, "next", _legs(), "manual")) == 2
        assert list(s.scalars(sa.select(Entry.memo).where(Entry.id > 1))) == ["next"]
        report = verify(s)
        assert report.ok, report.problems


@pytest.mark.skipif(ENGINE != "postgresql", reason="the literal is PostgreSQL's")
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.one_of(st.none(), st.integers(min_value=-2**63, max_value=2**63 - 1)), max_size=6),
       texts=st.lists(st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                                                          blacklist_characters="\x00"))), max_size=6))
def test_array_literals_read_back_as_the_values_sent(founded, values, texts):
    """``append.array_literal`` is PostgreSQL's text form of an array: what the server reads back
    from it is exactly the list (NULLs, quotes, backslashes, braces, commas, any text)."""
    from ledger.journal.append import array_literal

    with founded.app_context():
        s = get_session()
        back = s.execute(sa.text("SELECT CAST(:a AS bigint[]), CAST(:b AS text[]), CAST(:c AS date[])"),
                         {"a": array_literal(values), "b": array_literal(texts), "c": array_literal([DAY, None])}).one()
        assert (back[0], back[1], back[2]) == (values, texts, [DAY, None])
        s.rollback()


@pytest.mark.skipif(ENGINE != "postgresql", reason="group commit is PostgreSQL's; SQLite has one writer")
def test_kill_9_mid_batch_loses_no_acknowledged_entry(founded, db_url, tmp_path):
    ctx = mp.get_context("spawn")
    path = str(tmp_path / "acks.jsonl")
    procs = [ctx.Process(target=killable_writer, args=(db_url, n, path)) for n in range(4)]
    for p in procs:
        p.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not os.path.exists(path) or os.path.getsize(path) < 200):
        time.sleep(0.2)
    for round_ in range(6):  # kill one writer mid-stream, start another in its place
        time.sleep(0.4)
        victim = procs[round_ % len(procs)]
        os.kill(victim.pid, signal.SIGKILL)
        victim.join()
        procs[round_ % len(procs)] = ctx.Process(target=killable_writer, args=(db_url, 10 + round_, path))
        procs[round_ % len(procs)].start()
    time.sleep(1)
    for p in procs:
        os.kill(p.pid, signal.SIGKILL)
        p.join()
    assert_acknowledged_kept(founded, path)


@pytest.mark.skipif(ENGINE != "postgresql", reason="pipelines are PostgreSQL's (psycopg); SQLite commits in process")
def test_a_pipeline_raises_its_first_error_once_and_logs_nothing(founded, caplog):
    """``append.pipelined``: the failed statement's error, raised once, and the rest (the COMMIT
    among them) skipped. The second statement is sent late, so psycopg finds the first one's
    error already arrived and raises it inside the pipeline — which, left to propagate, makes the
    pipeline's end log the abort a second time (seen under the HTTP bench's retry storm)."""
    import psycopg

    from ledger.journal.append import pipelined

    class Late:
        def __init__(self, cursor):
            self.cursor = cursor

        def execute(self, *args, **kwargs):
            time.sleep(0.2)
            return self.cursor.execute(*args, **kwargs)

    with founded.app_context():
        conn = get_session().connection().connection.driver_connection
        conn.execute("CREATE TEMP TABLE pipelined_probe (n int)")
        conn.commit()
        with caplog.at_level("WARNING"), pytest.raises(psycopg.errors.DivisionByZero):
            pipelined(conn, [(conn.cursor(), "INSERT INTO pipelined_probe VALUES (1 / %s)", (0,)),
                             (Late(conn.cursor()), "INSERT INTO pipelined_probe VALUES (%s)", (2,)),
                             (conn.cursor(), "COMMIT", None)])
        assert [r.getMessage() for r in caplog.records if r.name.startswith("psycopg")] == []
        conn.rollback()
        pipelined(conn, [(conn.cursor(), "INSERT INTO pipelined_probe VALUES (%s)", (3,)),
                         (conn.cursor(), "COMMIT", None)])
        assert conn.execute("SELECT n FROM pipelined_probe").fetchall() == [(3,)]
