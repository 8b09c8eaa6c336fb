"""The posting service: the only code that writes entries and postings (with ``bulk``, its path
for ``ledger import``'s plain entries by the ten thousand).

Writing an entry:
1. check the legs (pure rules: balance per commodity, places), the accounts (open, commodity
   allowed) and the period (open), before anything is written;
2. lock the chain head (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already
   holds the database write lock), so entries are numbered and hashed one at a time;
3. insert the postings and their detail lines, then the entry that seals them (the database
   refuses an unbalanced entry, detail that does not sum to its postings, and any posting or line
   added to an entry that exists), then move the chain head.

On PostgreSQL steps 2–3 are one server-side call, ``ledger_append`` (migration 0016), fed from a
cache of the journal's facts it re-checks (``append``, ``facts``), so the lock is held for no client
round trip; on SQLite they run here, under the database's write lock. Either way the hashes and the
maintained tables are the same (``MAINTAINED TABLES`` marks where to add one: here, in
``ledger_append`` and in ``bulk.write``, the import's path).

Services receive the session and never commit: the request or command that called them does —
except ``post_and_commit`` (and ``group.post_grouped``), which a caller whose transaction is the
entries alone asks for, so the commit travels with the append.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ledger.core.clock import Clock
from ledger.core.entries import (
    Leg,
    beyond_storage,
    canonical_entry,
    chain_hash,
    check_account_name,
    check_detail,
    check_legs,
    detail_digest,
    reversal_refusal,
)
from ledger.core.errors import Conflict, NotFound, ValidationError
from ledger.core.money import MAX_STORED_UNITS, MoneyError, check_places, decimals_allowed, to_minor
from ledger.db import clock_of, minor_to_stored, to_stored, transaction_open
from ledger.journal import append
from ledger.journal.facts import JournalFacts, read_accounts
from ledger.journal.models import (
    Account,
    AccountBalance,
    AccountMonthTotal,
    EngagementMonthTotal,
    Entry,
    PostingDetail,
    head_moved,
)
from ledger.journal.periods import get_books, guard_dates

COMMODITY_UNITS = "UNITS"


def allowed_commodities(session: Session) -> set[str]:
    return {get_books(session).currency, COMMODITY_UNITS}


class ChainPosition(NamedTuple):
    """Where the chain stands: the last entry's id and hash."""

    seq: int
    hash: str


def lock_chain(session: Session) -> ChainPosition:
    """Take the chain's lock and say where the chain stands: ``SELECT … FOR UPDATE`` on the single
    ``chain_head`` row on PostgreSQL; on SQLite every transaction already began ``BEGIN IMMEDIATE``
    (the write lock). Every writer that must not interleave with another takes this one lock: the
    posting service, the close (so nothing slips into a period while it closes), and the changes
    that must see a period still open when they commit. Through the driver: it is on the posting
    path of every entry."""
    lock = " FOR UPDATE" if session.get_bind().dialect.name == "postgresql" else ""
    # Bandit B608 silenced: a constant statement, with or without the constant FOR UPDATE.
    return ChainPosition(*session.connection().exec_driver_sql(
        f"SELECT seq, hash FROM chain_head WHERE id = 1{lock}").one())  # nosec B608


def claim_numbers(session: Session, head: int, count: int) -> None:
    """Move the chain head's number over the ``count`` entries a writer numbers after ``head``,
    before it writes their postings (PostgreSQL, migration 0031: a posting beyond the head is
    refused, and the head's key finds its entry at the commit, so no posting is left without its
    entry); the writer sets the hash with the number when the entries are written. SQLite keeps
    the key from each posting to its entry, and needs no claim."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection().exec_driver_sql("UPDATE chain_head SET seq = %s WHERE id = 1", (head + count,))


def open_account(
    session: Session, name: str, commodities: Sequence[str], opened_on: dt.date | None = None
) -> Account:
    """Open an account; refuse a bad name, an unknown commodity or a name already open."""
    check_account_name(name)
    allowed = allowed_commodities(session)
    if not commodities:
        raise ValidationError("an account needs at least one commodity", {"commodities": ["required"]})
    unknown = [c for c in commodities if c not in allowed]
    if unknown:
        raise ValidationError(
            f"unknown commodity {', '.join(unknown)}; this ledger holds {', '.join(sorted(allowed))}",
            {"commodities": [f"unknown commodity {c!r}" for c in unknown]},
        )
    if session.scalar(select(Account.id).where(Account.name == name)) is not None:
        raise Conflict(f"account {name} is already open", {"name": ["already open"]})
    if opened_on is None:
        opened_on = get_books(session).starts_on
    account = Account(name=name, commodities=",".join(dict.fromkeys(commodities)), opened_on=opened_on)
    session.add(account)
    session.flush()
    return account


def close_account(session: Session, name: str, after: dt.date) -> Account:
    """From now on, refuse postings to ``name`` dated after ``after`` (the account's last day)."""
    account = session.scalar(select(Account).where(Account.name == name))
    if account is None:
        raise NotFound(f"no account {name}", {"account": ["not open"]})
    account.closed_after = after
    session.flush()
    append.forget(session)
    return account


def ensure_account(session: Session, name: str, commodities: Sequence[str], opened_on: dt.date) -> Account:
    """The account ``name``, opened now if it is not yet (the service's own accounts)."""
    account = session.scalar(select(Account).where(Account.name == name))
    return account or open_account(session, name, commodities, opened_on)


def _resolve_accounts(session: Session, legs: Sequence[Leg], field: str,
                      cache: dict[str, Account] | None = None) -> dict[str, Account]:
    found = cache if cache is not None else {}
    missing = {leg.account for leg in legs} - found.keys()
    if missing:
        found.update({a.name: a for a in session.scalars(select(Account).where(Account.name.in_(missing)))})
    holds: dict[str, frozenset[str]] = {}
    errors: dict[str, list[str]] = {}
    for i, leg in enumerate(legs):
        account = found.get(leg.account)
        if account is None:
            errors.setdefault(f"{field}[{i}].account", []).append(f"account {leg.account!r} is not open")
            continue
        allowed = holds.get(leg.account)
        if allowed is None:
            allowed = holds[leg.account] = frozenset(account.commodity_list)
        if leg.commodity not in allowed:
            errors.setdefault(f"{field}[{i}].commodity", []).append(
                f"{leg.account} does not hold {leg.commodity}"
            )
    if errors:
        raise ValidationError("a posting names an account that cannot take it", errors)
    return found


@dataclass(frozen=True)
class EntrySpec:
    """An entry to be written by ``post_entries``."""

    date: dt.date
    memo: str
    legs: Sequence[Leg]
    source_type: str
    source_ref: str = ""
    policy_version: int | None = None
    reverses_id: int | None = None
    idempotency_key: str | None = None
    #: Posting detail: ``(account, commodity, minor units, kind, engagement_id)`` lines breaking
    #: legs down by engagement; per (account, commodity, kind) they sum to the legs (``PostingDetail``).
    detail: Sequence[tuple[str, str, int, str, int | None]] = ()


def post_entry(
    session: Session,
    *,
    date: dt.date,
    memo: str,
    legs: Sequence[Leg],
    source_type: str,
    source_ref: str = "",
    policy_version: int | None = None,
    reverses_id: int | None = None,
    idempotency_key: str | None = None,
    field: str = "postings",
) -> Entry:
    """Validate, then append one balanced entry to the chain. Returns the stored entry."""
    spec = EntrySpec(date, memo, list(legs), source_type, source_ref, policy_version, reverses_id,
                     idempotency_key)
    entry_id = post_entries(session, [spec], field=field)[0]
    return session.get(Entry, entry_id)


def post_entries(session: Session, specs: Sequence[EntrySpec], field: str = "postings") -> list[int]:
    """Validate every entry, then append them all to the chain in order, in bulk: one lock, one
    account lookup, one period check per period, two multi-row inserts. Returns the new ids.

    Nothing is written unless every entry is good; errors name the entry when there are several
    (``entries[3].postings[0].account``).
    """
    if not specs:
        return []
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres and sum(len(spec.detail) for spec in specs) <= append.COPY_DETAIL:
        return _post_postgres(session, specs, field)
    # SQLite, and on PostgreSQL a close's tens of thousands of detail lines: here, under the lock,
    # the lines streamed with COPY while the entries are hashed (arrays that size cost more).
    # Read now, never from the cache (SQLite has no server-side re-check); through the driver, as
    # every statement of this path: the ORM's per-statement cost was most of SQLite's time an entry.
    accounts = read_accounts(session, _names(specs))
    _validate(session, specs, field, accounts)
    seq, prev = lock_chain(session)
    # Periods are read after the lock, so a close that commits first is always seen: the last
    # closed and last created period in one read (the books, fixed at founding, cached); the
    # authoritative guard answers any date they do not accept (and creates period rows).
    dates = [spec.date for spec in specs]
    facts = append.journal_facts(session)
    facts.load_periods(session)
    if append.dates_need_guard(session, facts, dates)[0]:
        guard_dates(session, dates)
    claim_numbers(session, seq, len(specs))
    posting_rows: list[tuple] = []
    engagement_deltas: dict[tuple[str, int, int, str], int] = defaultdict(int)
    entry_rows: list[tuple] = []
    conn = session.connection()
    dialect = conn.dialect
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    as_date = Entry.__table__.c.date.type.bind_processor(dialect) or (lambda v: v)
    as_time = Entry.__table__.c.created_at.type.bind_processor(dialect) or (lambda v: v)
    now = as_time(clock_of(session).now())
    detail = _DetailWriter(conn, mark)
    try:
        for spec in specs:
            seq += 1
            if spec.detail:
                # Sent first: on PostgreSQL the server stores these lines while this loop hashes on.
                detail.add(seq, as_date(spec.date), {name: accounts[name].id for name in {x[0] for x in spec.detail}},
                           spec.detail)
            prev = _number_entry(spec, seq, prev, accounts, now, as_date, posting_rows, engagement_deltas, entry_rows)
        detail.finish()
    except BaseException:
        detail.abort()
        raise
    # Straight to the driver's executemany: this is the ledger's hot path (closes and imports write
    # hundreds of thousands of rows), and SQLAlchemy's per-row parameter processing would double it.
    # Bandit B608 (SQL built from strings) is silenced below: the statements are constants; only the
    # driver's parameter mark ("?" or "%s") is joined in, and every value is a bound parameter.
    conn.exec_driver_sql(
        "INSERT INTO posting (entry_id, account_id, commodity, amount, kind, engagement_id) "  # nosec B608
        f"VALUES ({', '.join([mark] * 6)})", posting_rows)
    conn.exec_driver_sql(
        "INSERT INTO entry (id, date, memo, source_type, source_ref, policy_version, reverses_id, "  # nosec B608
        f"idempotency_key, prev_hash, hash, created_at) VALUES ({', '.join([mark] * 11)})", entry_rows)
    # MAINTAINED TABLES (SQLite's path; PostgreSQL's is step 6 of ledger_append: migration 0016, and 0018 for
    # the account-month totals):
    # every table kept in step with the postings is added to here.
    _bump_balances(session, posting_rows)
    _bump_engagement_totals(session, engagement_deltas)
    _bump_month_totals(session, specs, accounts)  # issue 19: the income statement's account-month totals
    # Bandit B608 silenced: only the driver's parameter mark is joined in; the values are bound.
    conn.exec_driver_sql(f"UPDATE chain_head SET seq = {mark}, hash = {mark} WHERE id = 1", (seq, prev))  # nosec B608
    head_moved(session)
    return [row[0] for row in entry_rows]


def _names(specs: Sequence[EntrySpec]) -> set[str]:
    names = {leg.account for spec in specs for leg in spec.legs}
    names.update(line[0] for spec in specs for line in spec.detail)
    return names


def _validate(session: Session, specs: Sequence[EntrySpec], field: str, accounts: dict) -> None:
    """The checks before the lock: the legs, the accounts (open, holding the commodity, taking a
    posting on that date) and the detail. ``accounts`` maps names to ``Account`` rows or to the
    cached ``append.AccountFacts``."""
    for n, spec in enumerate(specs):
        where = field if len(specs) == 1 else f"entries[{n}].{field}"
        check_legs(spec.legs, where)
        _resolve_accounts(session, spec.legs, where, accounts)
        if spec.detail:
            where = "detail" if len(specs) == 1 else f"entries[{n}].detail"
            unknown = sorted({line[0] for line in spec.detail} - accounts.keys())
            if unknown:
                raise ValidationError(f"the detail names accounts that are not open: {', '.join(unknown[:5])}",
                                      {where: [f"account {a!r} is not open" for a in unknown]})
            check_detail(spec.legs, spec.detail, where)
    for n, spec in enumerate(specs):
        for i, leg in enumerate(spec.legs):
            last = accounts[leg.account].closed_after
            if last is not None and spec.date > last:
                where = field if len(specs) == 1 else f"entries[{n}].{field}"
                raise Conflict(f"{leg.account} takes no posting dated after {last.isoformat()} "
                               f"({spec.date.isoformat()} is later)", {f"{where}[{i}].account": ["closed"]})


def post_and_commit(session: Session, specs: Sequence[EntrySpec], field: str = "postings",
                    also: append.RowFor | None = None) -> list[int]:
    """``post_entries``, then commit the session's transaction — on PostgreSQL in the same round
    trip as the append (``append.append(commit=True)``), so the chain's lock is released by the
    server alone, never waiting on this process. For a caller whose transaction is the entries
    alone (a writer posting one entry per call, the group appender, an API request): on a refusal
    the transaction is rolled back and the entries posted again from fresh reads, raising the
    refusal's error. The one service that commits: the caller asks for exactly that.

    ``also``: a row written in the same transaction, naming the first entry (on PostgreSQL in the
    call's own statement): what answers for the entries elsewhere — an API request's idempotency
    record. An error it raises (a unique key taken first) takes the entries back with it."""
    if session.get_bind().dialect.name != "postgresql":
        ids = post_entries(session, specs, field)
        if also is not None:
            also.write_after(session, ids[0])
        session.commit()
        return ids
    try:
        ids = _post_postgres(session, specs, field, commit=True, also=also)
    except append.Refused:
        session.rollback()
        ids = _post_postgres(session, specs, field, fresh=True)
    # Posted again from fresh reads (a refusal, the cache out of date), the entries are not
    # committed yet, nor is ``also`` written: both go now.
    if also is not None and transaction_open(session):
        also.write_after(session, ids[0])
    session.commit()  # after the server's commit: closes SQLAlchemy's side of the transaction
    return ids


class Posted(NamedTuple):
    """An entry ``post_direct`` wrote, as written: an ``Entry``'s columns without an ORM instance
    (``read.entries.posted_view`` takes either)."""

    id: int
    date: dt.date
    memo: str
    source_type: str
    source_ref: str
    policy_version: int | None
    reverses_id: int | None
    prev_hash: str
    hash: str
    created_at: dt.datetime


def post_direct(conn, facts: JournalFacts, clock: Clock, spec: EntrySpec, also: append.RowFor,
                field: str = "postings") -> Posted | None:
    """PostgreSQL: append ``spec`` with ``also`` (a row naming it: an API request's idempotency
    record) in one autocommit statement on the driver connection ``conn``, checked from the
    journal's cached ``facts`` alone — for a delivery path that answers with no ORM session
    (``api.direct``). ``None`` when the facts cannot accept the entry without reads (an account or
    a period not cached, a date the authoritative guard must see) or when ``ledger_append``
    refused what they said: nothing was written, and the caller posts through
    ``post_and_commit``, whose reads answer. An entry the checks refuse raises their error, as
    ``post_and_commit`` would (nothing written either); so does a database error (a key ``also``
    names, taken first). With ``also.given`` (``append.Given``: an API request's caller and key),
    the statement checks that condition before it calls, and ``None`` is also the answer when it
    did not hold (nothing was written): one round trip for the checks and the write.

    The statement's commit lets go of the chain without waiting for the WAL flush (migration
    0026's early release, as a lone ``ledger_post`` writer does): the next append runs during this
    one's flush. ``append.FLUSHED`` then waits for a flush past it before this returns, so an
    entry is answered only once it is on disk. (A connection lost in between raises: the entry may
    be committed, and the caller's fallback answers from what the database holds — the key's
    record, replayed.)"""
    import psycopg  # PostgreSQL's alone

    from ledger.journal import wire

    if facts.books is None or facts.latest is None or not {leg.account for leg in spec.legs} <= facts.accounts.keys():
        return None
    guard, first_pid, last_pid = append.dates_need_guard(None, facts, [spec.date], today=clock.today())
    if guard:
        return None
    _validate(None, [spec], field, facts.accounts)
    params, now = append.call_args(None, [spec], facts.accounts, first_pid, last_pid, now=clock.now())
    try:
        row = wire.statement(also.with_call(release_early=True)).one(conn, also.arguments([*params, True]))
    except psycopg.errors.RaiseException as exc:
        if str(exc).startswith("ledger_append refused"):
            return None
        raise
    if row is None:  # ``also.given`` found no row: nothing was called
        return None
    status, first_id, prev, hashes = row
    if status != b"ok":
        return None
    wire.FLUSHED.rows(conn, ())  # acknowledged means on disk
    return Posted(int(first_id), spec.date, spec.memo, spec.source_type, spec.source_ref, spec.policy_version,
                  spec.reverses_id, wire.as_str(prev), wire.as_words(hashes)[0], now)


def _post_postgres(session: Session, specs: Sequence[EntrySpec], field: str, fresh: bool = False,
                   commit: bool = False, also: append.RowFor | None = None) -> list[int]:
    """PostgreSQL: validate from the cached facts, then append in one server-side call
    (``append.append``). Whatever the call refuses is posted again from fresh reads (``fresh``):
    the lock, ``guard_dates`` and the accounts read from the database answer the refusal."""
    facts = append.journal_facts(session)
    if fresh:
        facts.clear()
    session.flush()
    try:
        _validate(session, specs, field, facts.resolve(session, _names(specs)))
    except (ValidationError, Conflict):
        if fresh:
            raise
        return _post_postgres(session, specs, field, fresh=True)
    dates = [spec.date for spec in specs]
    guard, first_pid, last_pid = append.dates_need_guard(session, facts, dates)
    if guard or fresh:
        lock_chain(session)
        guard_dates(session, dates)  # refuses with the period's error, creates the period rows
        facts.load_periods(session)
        guard, first_pid, last_pid = append.dates_need_guard(session, facts, dates)
    commit = commit and not fresh
    ids = append.append(session, specs, facts.accounts, first_pid, last_pid, commit=commit,
                        also=also if commit else None)
    if ids is None:
        if fresh:
            raise append.refused_again()
        return _post_postgres(session, specs, field, fresh=True)
    return ids


def _number_entry(spec: EntrySpec, seq: int, prev: str, accounts: dict[str, Account], now, as_date,
                  posting_rows: list[tuple], engagement_deltas: dict, entry_rows: list[tuple]) -> str:
    """Give ``spec`` its place ``seq`` in the chain: its hash, and its rows for the bulk inserts.
    Returns the hash, the next entry's ``prev``."""
    canonical = canonical_entry(
        id=seq, date=spec.date, memo=spec.memo, source_type=spec.source_type,
        source_ref=spec.source_ref, policy_version=spec.policy_version, reverses_id=spec.reverses_id,
        postings=[(leg.account, leg.commodity, leg.amount, leg.kind, leg.engagement_id) for leg in spec.legs],
        detail=detail_digest(spec.detail) if spec.detail else None,
    )
    digest = chain_hash(prev, canonical)
    # Amounts go in as the stored integers (``db.ExactAmount``); check_legs has already refused
    # more places than the commodity allows, so the conversion is exact.
    posting_rows.extend(
        (seq, accounts[leg.account].id, leg.commodity, to_stored(leg.amount), leg.kind, leg.engagement_id)
        for leg in spec.legs
    )
    month = f"{spec.date.year:04d}-{spec.date.month:02d}"
    for leg in spec.legs:
        if leg.engagement_id is not None:
            engagement_deltas[(month, accounts[leg.account].id, leg.engagement_id, leg.commodity)] += \
                to_stored(leg.amount)
    entry_rows.append((seq, as_date(spec.date), spec.memo, spec.source_type, spec.source_ref,
                       spec.policy_version, spec.reverses_id, spec.idempotency_key, prev, digest, now))
    return digest


class _DetailWriter:
    """Writes posting detail lines, entry by entry, before the entries that seal them.

    PostgreSQL: one ``COPY`` opened at the first entry with detail; each entry's lines are sent as
    soon as it is numbered, so the server stores them while Python hashes the next entries (a
    close sends tens of thousands of lines). SQLite: the lines are gathered and inserted with one
    ``executemany`` at ``finish``."""

    COLUMNS = "entry_id, line_no, account_id, date, commodity, kind, engagement_id, amount"

    def __init__(self, conn, mark: str):
        self.conn, self.mark = conn, mark
        self.pg = conn.dialect.name == "postgresql"
        self.rows: list[tuple] = []
        self._cursor = self._context = self._copy = None

    def add(self, seq: int, day, ids: dict[str, int], lines: Sequence[tuple]) -> None:
        # Lines carry the commodity's minor units; the column stores ten-thousandths of any commodity.
        scale = {c: minor_to_stored(1, c) for c in {line[1] for line in lines}}
        if not self.pg:
            self.rows.extend((seq, no, ids[a], day, c, k, e, m * scale[c]) for no, (a, c, m, k, e) in enumerate(lines, 1))
            return
        if self._copy is None:
            self._cursor = self.conn.connection.driver_connection.cursor()
            self._context = self._cursor.copy(f"COPY posting_detail ({self.COLUMNS}) FROM STDIN")
            self._copy = self._context.__enter__()
        # COPY's text format: every value is an int, a date or a checked identifier (commodity,
        # kind), so nothing needs escaping, and one write per entry beats a write_row per line.
        null = "\\N"
        self._copy.write("".join([f"{seq}\t{no}\t{ids[a]}\t{day}\t{c}\t{k}\t{null if e is None else e}\t{m * scale[c]}\n"
                                  for no, (a, c, m, k, e) in enumerate(lines, 1)]))

    def finish(self) -> None:
        if self._copy is not None:
            context, self._copy = self._context, None
            context.__exit__(None, None, None)
            self._cursor.close()
        elif self.rows:
            # Bandit B608 silenced: a constant column list and the parameter mark; values are bound.
            self.conn.exec_driver_sql(
                f"INSERT INTO posting_detail ({self.COLUMNS}) VALUES ({', '.join([self.mark] * 8)})",  # nosec B608
                self.rows)

    def abort(self) -> None:
        """Fail an open ``COPY`` (nothing it sent is kept) so the connection is usable again."""
        if self._copy is not None:
            context, self._copy = self._context, None
            try:
                context.__exit__(RuntimeError, RuntimeError("post_entries failed"), None)
            except Exception:  # noqa: BLE001 - the original error is the one to raise
                pass
            self._cursor.close()


def add_to(session: Session, table, keys: list[str], deltas: dict[tuple, int]) -> None:
    """Add ``deltas`` (``{key values: hundredths}``) to ``table``'s ``balance`` column, inserting the
    rows not there yet: one upsert — on PostgreSQL one statement over arrays, on SQLite one
    ``executemany`` (a statement a row, in process). Callers hold the chain-head lock, so no other
    writer races these rows.

    A sum past ``MAX_STORED_UNITS`` is refused (``beyond_storage``) and writes nothing: a delta by
    this check, a row's new balance by the database — PostgreSQL's BIGINT arithmetic raises; on
    SQLite, whose ``+`` would turn the row into an approximate REAL, the statement makes such a
    balance NULL, which the column refuses. The caller rolls its transaction back, as for any
    refusal (on PostgreSQL, whose server aborted it, it is rolled back here)."""
    if not deltas:
        return
    if any(not -MAX_STORED_UNITS <= v <= MAX_STORED_UNITS for v in deltas.values()):
        raise beyond_storage()
    conn = session.connection()
    added = f"{table.name}.balance + excluded.balance"
    rows = sorted(deltas.items())
    # Straight to the driver, as the inserts (SQLAlchemy built and compiled the upsert anew each
    # call).
    columns = ", ".join(keys)
    if conn.dialect.name == "postgresql":
        # One statement over arrays, one per column (``append.array_literal``): an ``executemany``
        # is one statement a row for the server (a 5,000-entry batch of ``import_bench.py``'s
        # journal adds to 271 rows of each table).
        types = [table.c[k].type.compile(dialect=conn.dialect) for k in keys]
        # Bandit B608 silenced: the table, column names and types are the models' own; values are bound.
        statement = (f"INSERT INTO {table.name} ({columns}, balance) "  # nosec B608
                     f"SELECT * FROM unnest({', '.join(f'%s::{k}[]' for k in types)}, %s::bigint[]) "
                     f"ON CONFLICT ({columns}) DO UPDATE SET balance = {added}")
        values = (*(append.array_literal(c) for c in zip(*(key for key, _v in rows), strict=True)),
                  append.array_literal([v for _key, v in rows]))
    else:
        added = f"CASE WHEN typeof({added}) = 'integer' THEN {added} END"
        # Bandit B608 silenced: the table and column names are the models' own; values are bound.
        statement = (f"INSERT INTO {table.name} ({columns}, balance) VALUES ({', '.join('?' * (len(keys) + 1))}) "  # nosec B608
                     f"ON CONFLICT ({columns}) DO UPDATE SET balance = {added}")
        values = [(*key, v) for key, v in rows]
    try:
        conn.exec_driver_sql(statement, values)
    except DBAPIError as exc:
        if not _out_of_range(exc.orig, f"{table.name}.balance"):
            raise
        if conn.dialect.name == "postgresql":
            session.rollback()  # the server aborted the transaction; SQLite undid the statement alone
        raise beyond_storage() from None


def _out_of_range(error: BaseException | None, column: str) -> bool:
    """Whether a driver's ``error`` is a maintained sum past what its column stores: PostgreSQL's
    ``numeric_value_out_of_range`` (22003), SQLite's NULL for ``column`` (``add_to``'s overflow)."""
    if getattr(error, "sqlstate", None) == "22003":
        return True
    text = str(error)
    return text.startswith("NOT NULL constraint failed") and column in text


def _bump_balances(session: Session, posting_rows: list[tuple]) -> None:
    """Add the postings to the maintained balances: one upsert per (account, commodity) touched."""
    deltas: dict[tuple[int, str], int] = defaultdict(int)
    for _entry, account_id, commodity, cents, _kind, _eng in posting_rows:
        deltas[(account_id, commodity)] += cents
    add_to(session, AccountBalance.__table__, ["account_id", "commodity"], deltas)


def _bump_engagement_totals(session: Session, deltas: dict[tuple[str, int, int, str], int]) -> None:
    """Add engagement-tagged postings to their (month, account, engagement, commodity) totals."""
    add_to(session, EngagementMonthTotal.__table__, ["month", "account_id", "engagement_id", "commodity"], deltas)


def _bump_month_totals(session: Session, specs: Sequence[EntrySpec], accounts: dict[str, Account]) -> None:
    """Add every posting to its account's (month, account, commodity, source type, kind, tagged)
    total (``AccountMonthTotal``): one upsert per key touched, however many postings."""
    deltas: dict[tuple[str, int, str, str, str, bool], int] = defaultdict(int)
    for spec in specs:
        month = f"{spec.date.year:04d}-{spec.date.month:02d}"
        for leg in spec.legs:
            deltas[(month, accounts[leg.account].id, leg.commodity, spec.source_type, leg.kind or "",
                    leg.engagement_id is not None)] += to_stored(leg.amount)
    add_to(session, AccountMonthTotal.__table__,
            ["month", "account_id", "commodity", "source_type", "kind", "tagged"], deltas)


def get_entry(session: Session, entry_id: int) -> Entry:
    entry = session.get(Entry, entry_id)
    if entry is None:
        raise NotFound(f"no entry {entry_id}")
    return entry


def check_amount(session: Session, amount: Decimal, field: str = "amount", commodity: str | None = None) -> Decimal:
    """Refuse an amount with more decimals than its commodity (the books' currency unless given)
    has minor units — ``"100.55"`` in JPY — naming the request's field; the schemas only check the
    shape, since the currency is the partnership's."""
    commodity = commodity or get_books(session).currency
    try:
        return check_places(amount, commodity)
    except MoneyError:
        raise ValidationError(f"{amount} has more decimals than {commodity} has minor units",
                              {field: [decimals_allowed(commodity)]}) from None


def post_manual(session: Session, date: dt.date, memo: str, legs: Sequence[Leg], *, commit: bool = False,
                also: append.RowFor | None = None) -> Entry:
    """A journal entry as the treasurer wrote it (errors name ``postings[i].…``); its date is
    checked first, so a closed period is the answer before any leg's problem.

    The date is checked from the journal's cached facts when they accept it (the append re-checks
    it under the lock); when they cannot, or when the entry is refused for any reason, the
    authoritative ``guard_dates`` runs first, so its error is the answer whatever the cache knew.

    ``commit`` (and ``also``): commit with the append, as ``post_and_commit`` does — for a caller
    whose transaction is this entry alone (an API request: its idempotency record is ``also``)."""
    facts = append.journal_facts(session)
    if append.dates_need_guard(session, facts, [date])[0]:
        guard_dates(session, [date])
    try:
        if commit:
            spec = EntrySpec(date, memo, list(legs), "manual")
            return session.get(Entry, post_and_commit(session, [spec], also=also)[0])
        return post_entry(session, date=date, memo=memo, legs=legs, source_type="manual")
    except (ValidationError, Conflict):
        guard_dates(session, [date])  # a period closed since the cache read it answers first
        raise


def reverse_entry(session: Session, entry_id: int, date: dt.date | None = None, memo: str | None = None) -> Entry:
    """Post the mirror image of an entry, linked to it. Only an entry a person booked may be
    reversed (``entries.reversal_refusal``: a reversal is not reversed, and what the product made
    is a 409), and at most once. Every surface (API, web, CLI) reverses through here."""
    if date is not None:
        guard_dates(session, [date])
    original = get_entry(session, entry_id)
    refusal = reversal_refusal(original.source_type, original.reverses_id)
    if original.reverses_id is not None:
        raise ValidationError(f"entry {entry_id} {refusal}", {"id": ["is a reversal"]})
    if refusal:
        raise Conflict(f"entry {entry_id} {refusal}", {"id": [f"made by the product ({original.source_type})"]})
    if session.scalar(select(Entry.id).where(Entry.reverses_id == entry_id)) is not None:
        raise Conflict(f"entry {entry_id} is already reversed", {"id": ["already reversed"]})
    legs = [
        Leg(p.account.name, -p.amount, p.commodity, p.kind, p.engagement_id) for p in original.postings
    ]
    # The posting detail is mirrored too, so the reversal undoes each engagement's line.
    detail = [(name, commodity, -to_minor(amount, commodity), kind, engagement)
              for name, commodity, amount, kind, engagement in session.execute(
                  select(Account.name, PostingDetail.commodity, PostingDetail.amount, PostingDetail.kind,
                         PostingDetail.engagement_id)
                  .join(Account, Account.id == PostingDetail.account_id)
                  .where(PostingDetail.entry_id == entry_id).order_by(PostingDetail.line_no))]
    spec = EntrySpec(date or original.date, memo or f"Reversal of entry {entry_id}: {original.memo}", legs,
                     "reversal", str(entry_id), reverses_id=entry_id, detail=detail)
    return session.get(Entry, post_entries(session, [spec])[0])
