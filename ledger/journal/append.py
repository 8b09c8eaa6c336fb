"""The PostgreSQL append path: everything before the chain's lock done in Python, the critical
section in one server-side call (``ledger_append``, migration 0016).

Before the lock, from a per-engine cache of the journal's facts (``JournalFacts``: the books, the
accounts' ids, commodities and last days, the last closed and the last created period):
- validate the entries (the same pure rules and the same errors as ``service.post_entries``);
- build each entry's canonical form split around its id (``entries.canonical_parts``), its posting
  rows and its detail rows.

Then one call, ``ledger_append``, which re-checks under the database's own reads everything the
cache answered (account id ↔ name, commodity, last day, the books' first day; under the lock: no
closed period, the period rows exist), hashes, inserts, maintains the balances and moves the head.
The cache is only ever trusted to *accept*: when the function answers anything but ``ok`` (it then
writes nothing and raises nothing), the cache is dropped and the entries are posted again from fresh
reads — the authoritative path, which takes the lock and runs ``periods.guard_dates`` — so a
refusal is always answered from the database, with the same error as before. A change made through
this process (an account closed, a period closed) also drops the cache (``forget``).

The lock is held from inside the call to the commit: no client round trip while it is held.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.util import identity_key

from ledger.core import periods as P
from ledger.core.entries import beyond_storage, canonical_parts, detail_digest
from ledger.core.errors import Conflict
from ledger.db import clock_of, minor_to_stored, outside_transaction, to_stored, transaction_open
from ledger.journal.facts import AccountFacts, JournalFacts, forget, journal_facts
from ledger.journal.models import Entry, head_moved
from ledger.journal.periods import MAX_FUTURE


def dates_need_guard(session: Session | None, facts: JournalFacts, dates: Sequence[dt.date],
                     today: dt.date | None = None) -> tuple[bool, str, str]:
    """Whether the cached facts cannot accept ``dates`` without the authoritative guard, and the
    first and last period ids (for the function's own check under the lock). ``today`` is the
    session's clock's unless given (a caller with no session: facts already loaded)."""
    if facts.books is None or facts.latest is None:
        facts.load_periods(session)
    if facts.books is None:
        return True, "", ""
    kind, starts_on = facts.books
    first, last = min(dates), max(dates)
    first_pid, last_pid = P.period_id(first, kind), P.period_id(last, kind)
    horizon = (today or clock_of(session).today()) + MAX_FUTURE
    ok = (starts_on <= first and last <= horizon and (facts.closed is None or first_pid > facts.closed)
          and facts.latest is not None and last_pid <= facts.latest)
    return not ok, first_pid, last_pid


#: Up to this many entries in a call are put in the session as written (``post_entry`` returns one
#: without reading it back); a close's or an import's batch returns its ids only.
RETURNED = 16

_CALL = (
    "SELECT o_status, o_first_id, o_first_prev, o_hashes FROM ledger_append("
    "%s::date[], %s::text[], %s::text[], %s::text[], %s::integer[], %s::bigint[], %s::text[], %s::text[], "
    "%s::text[], %s::timestamptz, "
    "%s::integer[], %s::integer[], %s::text[], %s::bigint[], %s::text[], %s::integer[], "
    "%s::integer[], %s::integer[], %s::integer[], %s::text[], %s::text[], %s::integer[], %s::bigint[], "
    "%s::integer[], %s::text[], %s, %s, %s)"
)


def call_args(session: Session | None, specs: Sequence, accounts: dict[str, AccountFacts], first_pid: str,
              last_pid: str, now: dt.datetime | None = None) -> tuple[tuple, dt.datetime]:
    """``ledger_append``'s arguments for ``specs`` (all but ``refuse``), built before the lock:
    each entry's canonical form around its id, its posting rows and its detail rows; and the
    time the entries are stamped with (``now``, else the session's clock's)."""
    e_cols: list[list] = [[] for _ in range(9)]
    p_cols: list[list] = [[] for _ in range(6)]
    d_cols: list[list] = [[] for _ in range(7)]
    used: dict[str, int] = {}
    for n, spec in enumerate(specs, 1):
        detail = spec.detail
        head, tail = canonical_parts(
            date=spec.date, memo=spec.memo, source_type=spec.source_type, source_ref=spec.source_ref,
            policy_version=spec.policy_version, reverses_id=spec.reverses_id,
            postings=[(leg.account, leg.commodity, leg.amount, leg.kind, leg.engagement_id) for leg in spec.legs],
            detail=detail_digest(detail) if detail else None)
        for col, value in zip(e_cols, (spec.date, spec.memo, spec.source_type, spec.source_ref, spec.policy_version,
                                       spec.reverses_id, spec.idempotency_key, head, tail), strict=True):
            col.append(value)
        for leg in spec.legs:
            account = accounts[leg.account]
            used[leg.account] = account.id
            for col, value in zip(p_cols, (n, account.id, leg.commodity, to_stored(leg.amount), leg.kind,
                                           leg.engagement_id), strict=True):
                col.append(value)
        if detail:
            scale = {c: minor_to_stored(1, c) for c in {line[1] for line in detail}}
            for no, (a, c, m, k, e) in enumerate(detail, 1):
                account_id = used[a] = accounts[a].id
                for col, value in zip(d_cols, (n, no, account_id, c, k, e, m * scale[c]), strict=True):
                    col.append(value)
    now = now or clock_of(session).now()
    return (*e_cols, now, *p_cols, *d_cols, list(used.values()), list(used.keys()), first_pid, last_pid), now


def array_literal(values) -> str:
    """``values`` as PostgreSQL's text form of an array (``{1,NULL,"a \\"b\\""}``): every element but
    a NULL quoted, a backslash and a double quote escaped. Sent as a text parameter cast to the
    array's type; about a quarter of what psycopg's generic list adaptation costs a call."""
    if not values:
        return "{}"
    out = []
    for v in values:
        if v is None:
            out.append("NULL")
        elif type(v) is int:
            out.append(str(v))
        else:
            out.append('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(out) + "}"


def text_arrays(params) -> list:
    """``ledger_append``'s (or ``ledger_post``'s) arguments with every list as its ``array_literal``."""
    return [array_literal(a) if type(a) is list else a for a in params]


#: ``post_entries`` writes a batch with more detail lines than this (a close: tens of thousands)
#: in Python under the lock, streaming the lines with ``COPY`` while it hashes: arrays that size
#: cost more to build, send and unnest than the round trips the call saves.
COPY_DETAIL = 2000


#: The answer of ``RowFor.with_call``'s statement; the second makes its commit one that is not
#: waited for (the chain's lock is let go at once), and ``FLUSHED`` then waits for the WAL flush
#: that covers it (migration 0026's early release, for one statement).
_ANSWER = "SELECT * FROM a"
_ANSWER_NOT_WAITED = "SELECT a.* FROM a CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) s"
#: A transaction of its own that writes one WAL record: its synchronous commit waits for the flush
#: up to its record, which comes after every commit before it (PostgreSQL flushes at commit only
#: for a transaction that wrote WAL).
FLUSHED = "SELECT pg_logical_emit_message(true, 'ledger_post', '')"


@dataclass(frozen=True, slots=True)
class Given:
    """A condition the call is sent under, in its own statement (PostgreSQL): ``select``, a query
    of one row or none with ``%s`` marks for ``values``. The entries are appended only when it
    yields its row, and that row's columns can fill the row written with them (``Column`` in
    ``RowFor.values``): an API request's caller and key, checked in the round trip that writes
    (``api.direct``)."""

    select: str
    values: tuple


@dataclass(frozen=True, slots=True)
class Column:
    """In ``RowFor.values``: the value of the ``Given`` row's column ``name``."""

    name: str


@dataclass(frozen=True, slots=True)
class RowFor:
    """A row to insert with the entries, in their transaction, naming the first one: ``insert`` is
    a constant ``INSERT INTO table (columns…, entry column)``; ``values`` fill every column but the
    last, which gets the entry's id (an API request's idempotency record: ``api.idempotency``).
    ``given``: the condition the whole statement writes under (``Given``)."""

    insert: str
    values: tuple
    given: Given | None = None

    def with_call(self, release_early: bool = False) -> str:
        """The call and the row's ``INSERT`` as one statement (PostgreSQL): the row takes its id
        from the call's answer. With ``given``, its query runs first and the call only when it
        found its row: a pseudo-constant condition, which PostgreSQL checks once, before it runs
        the function at all (a ``One-Time Filter``); no row, no entry, no row inserted and no row
        answered. ``release_early``: the statement's commit is not waited for (the caller then
        sends ``FLUSHED`` before it answers)."""
        row = "".join(f"g.{v.name}, " if type(v) is Column else "%s, " for v in self.values)
        answer = _ANSWER_NOT_WAITED if release_early else _ANSWER
        # Bandit B608 silenced: ``insert`` and ``given.select`` are the caller's constants; every value is bound.
        if self.given is None:
            return (f"WITH a AS MATERIALIZED ({_CALL}), r AS ({self.insert} SELECT {row}a.o_first_id "  # nosec B608
                    f"FROM a WHERE a.o_status = 'ok') {answer}")
        return (f"WITH g AS MATERIALIZED ({self.given.select}), "  # nosec B608
                f"a AS MATERIALIZED ({_CALL} WHERE EXISTS (SELECT FROM g)), "
                f"r AS ({self.insert} SELECT {row}a.o_first_id FROM a CROSS JOIN g WHERE a.o_status = 'ok') {answer}")

    def arguments(self, call: Sequence) -> list:
        """The statement's parameters, ``call`` being the call's own (``with_call``'s order)."""
        return [*(self.given.values if self.given else ()), *call, *(v for v in self.values if type(v) is not Column)]

    def write_after(self, session: Session, entry_id: int) -> None:
        """Insert the row once the entries are written, in their transaction (SQLite's path, and a
        refusal's fresh one on PostgreSQL). A row with a ``given`` condition goes with the call
        only (``post_direct``)."""
        if self.given is not None:
            raise ValueError("a row written under a given condition is written in the call's statement only")
        conn = session.connection()
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        conn.exec_driver_sql(f"{self.insert} VALUES ({', '.join([mark] * (len(self.values) + 1))})",
                             (*self.values, entry_id))


class Refused(Exception):
    """``ledger_append`` refused what the cache said, in a call sent with its ``COMMIT``: the
    transaction was rolled back."""


def append(session: Session, specs: Sequence, accounts: dict[str, AccountFacts], first_pid: str,
           last_pid: str, commit: bool = False, also: RowFor | None = None) -> list[int] | None:
    """Append ``specs`` (already validated) in one call; their ids, or None when the function
    refused what the cache said (nothing was written).

    ``commit``: commit as the call ends, in the same round trip, so the server releases the lock
    without waiting for this process. With no transaction open yet, the call is a statement of its
    own (autocommit); else the ``COMMIT`` follows it in one pipeline. A refusal then raises
    ``Refused`` (nothing was written; the transaction rolled back). ``also`` (with ``commit``
    only): a row inserted in the same statement, naming the first entry (``RowFor``)."""
    import psycopg  # PostgreSQL's alone: a command on SQLite starts without it (0.1 s)

    if also is not None and also.given is not None:
        raise ValueError("a row written under a given condition goes through service.post_direct")
    params, now = call_args(session, specs, accounts, first_pid, last_pid)
    session.flush()  # the call must see what this session has pending (an account just opened)
    conn = session.connection().connection.driver_connection
    params = [*text_arrays(params), commit]
    cursor = conn.cursor()
    try:
        if commit:
            call, args = (_CALL, params) if also is None else (also.with_call(), also.arguments(params))
            if transaction_open(session):
                pipelined(conn, [(cursor, call, args), (conn.cursor(), "COMMIT", None)])
            else:  # one statement, its own transaction: no BEGIN, no COMMIT, no pipeline to run
                with outside_transaction(session):
                    cursor.execute(call, args, prepare=True)
        else:
            cursor.execute(_CALL, params, prepare=True)
        status, first_id, prev, hashes = cursor.fetchone()
    except psycopg.errors.RaiseException as exc:
        if commit and str(exc).startswith("ledger_append refused"):
            raise Refused(str(exc)) from None
        raise DBAPIError.instance(_CALL, None, exc, psycopg.Error) from exc
    except psycopg.errors.NumericValueOutOfRange:
        # A maintained sum past BIGINT (``service.add_to``'s rule). The server has aborted the
        # transaction: end it, so the caller's next statement (a refusal's own reads) runs.
        cursor.close()
        session.rollback()
        raise beyond_storage() from None
    except psycopg.Error as exc:  # as SQLAlchemy would raise it (an IntegrityError for a key used twice)
        raise DBAPIError.instance(_CALL, None, exc, psycopg.Error) from exc
    finally:
        cursor.close()
    if status != "ok":
        return None
    # The entries as written, put in the session as loaded (their postings load on first use): no
    # round trip to read back what was just sent.
    ids, kept = [], []
    for i, spec in enumerate(specs):
        entry = Entry(id=first_id + i, date=spec.date, memo=spec.memo, source_type=spec.source_type,
                      source_ref=spec.source_ref, policy_version=spec.policy_version, reverses_id=spec.reverses_id,
                      idempotency_key=spec.idempotency_key, prev_hash=prev, hash=hashes[i], created_at=now)
        prev = hashes[i]
        ids.append(entry.id)
        if len(specs) <= RETURNED:
            stale = session.identity_map.get(identity_key(Entry, entry.id))
            if stale is not None:  # an entry of a transaction rolled back, the same id now
                session.expunge(stale)
            make_transient_to_detached(entry)
            session.add(entry)
            kept.append(entry)
    # The session's identity map holds clean objects weakly: keep the last call's entries alive so
    # ``session.get`` (``post_entry``) finds them.
    session.info["ledger.appended"] = kept
    head_moved(session)
    return ids


__all__ = ["AccountFacts", "JournalFacts", "append", "dates_need_guard", "forget", "journal_facts"]


def pipelined(conn, statements: Sequence[tuple]) -> None:
    """Send ``statements`` (cursor, query, parameters) in one pipeline: one round trip. A statement
    that fails makes the server skip the rest (a ``COMMIT`` among them). Its error is raised once,
    after the pipeline ends: psycopg raises it from whichever ``execute`` finds its result already
    arrived, and had it left the block then, the pipeline's end would log the abort a second time
    ("error ignored terminating … pipeline aborted")."""
    import psycopg

    error = None
    try:
        with conn.pipeline():
            try:
                for cursor, query, params in statements:
                    cursor.execute(query, params, prepare=params is not None)
            except psycopg.Error as exc:
                error = exc
    except psycopg.Error as exc:
        error = error or exc
    if error is not None:
        raise error


def refused_again() -> Conflict:
    return Conflict("the ledger changed while these entries were posted; try again")
