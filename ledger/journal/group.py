"""Group commit (PostgreSQL): concurrent writers share one lock acquisition and one commit.

``post_grouped`` validates its entry before the lock from the cached facts (as ``post_entries``
does), then, in one pipelined round trip:

1. queues the entry's ``ledger_append`` arguments in ``append_request`` and commits that alone
   (an UNLOGGED table: no WAL flush to wait for);
2. calls ``ledger_drain`` and commits. Whichever waiting writer gets the chain's lock first
   appends every request queued, in ticket order, each in its own subtransaction, and commits them
   together: one lock, one WAL flush for the batch. A writer whose request a batch already took
   finds its answer there and commits nothing durable.

Each writer gets its own answer: its entry's id, or its own refusal. A refusal of the cached facts
(an account or a period changed) is posted again from fresh reads through ``post_and_commit``,
which answers the refusal's error; a key already used answers the entry that has it (an idempotent
retry gets the same entry); any other error is the writer's alone. The chain stays one total
order (the drain order); ``verify`` proves what it always proved. A writer killed at any point
leaves at most an unanswered request, appended by the next batch or not at all (the queue is
UNLOGGED: a server crash drops it), never half an entry: each batch is one transaction.
Acknowledged means committed.

Like ``post_and_commit``, ``post_grouped`` commits the session's transaction: it is for a caller
whose transaction is the entry alone. SQLite has one writer at a time: it posts with
``post_and_commit``.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.errors import Conflict, ValidationError
from ledger.journal import append
from ledger.journal.models import Entry
from ledger.journal.service import EntrySpec, _names, _validate, post_and_commit

_QUEUE = "INSERT INTO append_request (args) VALUES (%s)"
_DRAIN = "SELECT o_status, o_entry_id, o_detail FROM ledger_drain(currval(pg_get_serial_sequence('append_request', 'ticket')))"


def _json(value):
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(f"{value!r} is not JSON")


def post_grouped(session: Session, spec: EntrySpec, field: str = "postings") -> int:
    """Append ``spec`` through the group appender and commit; its entry's id."""
    if session.get_bind().dialect.name != "postgresql":
        return post_and_commit(session, [spec], field)[0]
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
    payload = json.dumps(args, default=_json, ensure_ascii=False)
    conn = session.connection().connection.driver_connection
    cursor = conn.cursor()
    try:
        with conn.pipeline():
            cursor.execute(_QUEUE, (payload,), prepare=True)
            conn.commit()
            cursor.execute(_DRAIN, prepare=True)
            conn.commit()
        status, entry_id, detail = cursor.fetchone()
    finally:
        cursor.close()
    session.commit()  # SQLAlchemy's side: the driver has committed
    if status == "ok":
        return entry_id
    if status == "error" and detail and detail.startswith("23505") and spec.idempotency_key:
        existing = session.scalar(select(Entry.id).where(Entry.idempotency_key == spec.idempotency_key))
        session.rollback()
        if existing is not None:
            return existing
    if status in ("stale", "closed", "periods"):
        facts.clear()
        return post_and_commit(session, [spec], field)[0]
    raise Conflict(f"the entry was refused: {detail or 'no answer from the appender'}", {field: ["refused"]})
