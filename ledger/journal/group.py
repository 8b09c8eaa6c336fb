"""Group commit (PostgreSQL): concurrent writers share one lock acquisition and one commit.

``post_grouped`` validates its entry before the lock from the cached facts (as ``post_entries``
does), then makes one call on its own autocommit connection (one per thread and database, kept
open): ``CALL ledger_post(…)`` (migrations 0021, 0022, 0024, 0026–0028), sent through libpq itself
with every parameter as text (``wire``). In the database, the writer's cached facts are checked
first, before it asks for anything (a stale cache is answered at once, 0027), and then:

- when nobody is draining (the turn, an advisory lock, is free), the writer appends its entry and
  whatever others have queued, and commits: with an empty queue at once (a lone writer pays no
  queue), else with its own request put in the queue, so that the whole queue, its entry included,
  goes in as one ``ledger_append`` call (a call's cost is mostly fixed: 0024);
- when the turn is taken and nobody waits for it, the writer waits for it itself (it takes the
  waiter's slot, a second advisory lock) and then does the same: two writers take turns and
  neither queues;
- else it writes the request into its session's row of ``append_slot`` (UNLOGGED: no WAL flush to
  wait for; one row a session, rewritten in place, so the queue leaves no dead rows for a vacuum
  to take back: 0028), commits that alone, and waits — with every other waiter, on a shared turn —
  for the batch under way to commit. Answered, it returns; not yet taken, it takes the turn and
  drains the whole queue as one ``ledger_append`` call (each request alone in its own
  subtransaction when that fails), writes each answer into its request's row, and commits: one
  chain lock and one WAL flush for the batch.

Each writer gets its own answer: its entry's id, or its own refusal. A refusal of the cached facts
(an account or a period changed) is posted again from fresh reads through ``post_and_commit``,
which answers the refusal's error; a key already used answers the entry that has it (an idempotent
retry gets the same entry); any other error is the writer's alone. The chain stays one total
order (the drain order); ``verify`` proves what it always proved. A writer killed at any point
leaves at most an unanswered request, appended by the next batch or not at all (the queue is
UNLOGGED: a server crash drops it), never half an entry: each batch is one transaction.
Acknowledged means committed and on disk. A writer that appends its entry alone (nothing queued)
commits without waiting for the WAL flush and lets go of the turn, then commits a synchronous
transaction that writes one WAL record (so its commit waits for the flush, which covers the
entry's), and only then is answered (migration 0026): the next writer appends during that flush. For about a flush's time another session may
read an entry that a server crash would take back, its writer never answered.

Where a dedicated appender serves the database (``appender.attach``, ``LEDGER_APPENDER_SOCKET``),
the same arguments go to it over a Unix socket instead of ``ledger_post``, and its answer is
handled the same way: one process makes every waiting writer's entry one ``ledger_append`` call
(``appender``). No appender answering, the entry goes through ``ledger_post``.

``post_grouped`` writes on its own connection, outside the session's transaction: it is for a
caller whose transaction is the entry alone (the session is only read, on a cache miss). SQLite
has one writer at a time: it posts with ``post_and_commit``.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import sqlalchemy as sa
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from ledger.core.entries import beyond_storage
from ledger.core.errors import Conflict, ValidationError
from ledger.journal import append, appender, wire
from ledger.journal.models import APPEND_PARAMS, Entry
from ledger.journal.service import EntrySpec, _names, _validate, post_and_commit

# One call: the procedure appends the entry, or queues it and waits for its answer (migrations 0021, 0022).
# Bandit B608 silenced: the types are constants (models.APPEND_PARAMS); every value is a parameter.
# Sent through libpq itself (``wire``): one call an entry, so psycopg's cursor would be a fifth of
# the writer's CPU.
_CALL = wire.Statement("CALL ledger_post("  # nosec B608
                       + ", ".join(f"%s::{k}[]" if a else f"%s::{k}" for _n, k, a in APPEND_PARAMS)
                       + ", NULL, NULL, NULL)")


_idle: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@contextmanager
def driver_connection(engine: sa.Engine) -> Iterator[psycopg.Connection]:
    """An idle autocommit connection to ``engine``'s database for the block, kept for the next
    caller after it (one per concurrent caller, closed when the engine is disposed); closed instead
    when the block raises, as a connection in doubt. For the group appender and for a delivery
    path that writes through ``service.post_direct`` without an ORM session."""
    conn = _take(engine)
    try:
        yield conn
    except BaseException:
        conn.close()
        raise
    _idle[engine].append(conn)


def driver_dsn(engine: sa.Engine) -> str:
    """``engine``'s database as libpq's connection URL (its password included), for a connection
    of the driver's own: the kept ones here, the dedicated appender's."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _take(engine: sa.Engine) -> psycopg.Connection:
    """An idle autocommit connection to ``engine``'s database, opened when none is idle."""
    idle = _idle.get(engine)
    if idle is None:
        idle = _idle[engine] = []
        event.listen(engine, "engine_disposed", lambda _e: _close_all(idle))
    try:
        return idle.pop()
    except IndexError:
        return psycopg.connect(driver_dsn(engine), autocommit=True, client_encoding="UTF8")  # ``wire`` speaks UTF-8


def _close_all(idle: list) -> None:
    while idle:
        idle.pop().close()


def wait_for_flush(engine: sa.Engine) -> None:
    """Return once the WAL is on disk past every commit before this call (PostgreSQL; nothing to
    wait for on SQLite). For an answer that reports what another call wrote: the append path lets
    go of the chain before its flush (migration 0026), so an entry can be seen committed and not
    yet on disk, and a caller told of it — a key's retry, a replay — must not be told before."""
    if engine.dialect.name == "postgresql":
        with driver_connection(engine) as conn:
            wire.FLUSHED.rows(conn, ())


def post_grouped(session: Session, spec: EntrySpec, field: str = "postings") -> int:
    """Append ``spec`` through the group appender and commit; its entry's id."""
    if session.get_bind().dialect.name != "postgresql":
        return post_and_commit(session, [spec], field)[0]
    began = not session.in_transaction()
    entry_id = _post_grouped(session, spec, field)
    # End the read transaction this call began on a cache miss (it wrote nothing through the
    # session): an idle transaction's snapshot would hold back the vacuum of the queue's tables,
    # where every batch leaves dead rows, for as long as the writer lives.
    if began and session.in_transaction() and not (session.new or session.dirty or session.deleted):
        session.commit()
    return entry_id


def _post_grouped(session: Session, spec: EntrySpec, field: str) -> int:
    facts = append.journal_facts(session)
    session.flush()
    try:
        _validate(session, [spec], field, facts.resolve(session, _names([spec])))
    except (ValidationError, Conflict):
        return post_and_commit(session, [spec], field)[0]  # answered from fresh reads
    guard, first_pid, last_pid = append.dates_need_guard(session, facts, [spec.date])
    if guard:  # a period to create or a date to refuse: the authoritative path
        return post_and_commit(session, [spec], field)[0]
    args, _now = append.call_args(session, [spec], facts.accounts, first_pid, last_pid)
    answer = _through_appender(session.get_bind(), spec, args)
    if answer is not None:
        status, entry_id, detail = answer
    else:
        with driver_connection(session.get_bind()) as conn:
            status, entry_id, detail = _CALL.one(conn, args)
        status, entry_id, detail = wire.as_str(status), wire.as_int(entry_id), wire.as_str(detail)
    if status == "ok":
        return entry_id
    if status == "error" and detail and detail.startswith("23505") and spec.idempotency_key:
        existing = session.scalar(select(Entry.id).where(Entry.idempotency_key == spec.idempotency_key))
        session.rollback()
        if existing is not None:
            wait_for_flush(session.get_bind())  # another call's entry: answered once on disk
            return existing
    if status == "error" and detail and detail.startswith("22003"):
        raise beyond_storage(field)  # a maintained sum past BIGINT (``service.add_to``'s rule)
    if status in ("stale", "closed", "periods"):
        facts.clear()
        return post_and_commit(session, [spec], field)[0]
    raise Conflict(f"the entry was refused: {detail or 'no answer from the appender'}", {field: ["refused"]})


def _through_appender(engine: sa.Engine, spec: EntrySpec, args) -> tuple | None:
    """The dedicated appender's answer (``appender``), or ``None`` when the entry goes through
    ``ledger_post`` instead: no appender attached, none answering (nothing was sent), or — for a
    keyed entry only — the appender lost after the request went: the key's uniqueness makes the
    second attempt safe, and answers the entry the lost batch wrote, if it did. An unkeyed entry
    whose answer was lost raises ``appender.Lost`` (it may be written: only its caller can tell)."""
    try:
        client = appender.client_for(engine)
    except appender.Lost:
        return None
    if client is None:
        return None
    try:
        return client.call(args)
    except appender.Lost:
        if spec.idempotency_key is None:
            raise
        return None
