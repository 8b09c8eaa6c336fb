"""The posting service's bulk path: ``ledger import``'s entries, tens of thousands per transaction.

An import's entry is the plainest there is (legs of an account, an amount and a commodity; no
kind, no engagement, no detail, no reversal), and it comes by the hundred thousand, so it skips
what ``service.post_entries`` spends per entry on generality:

- ``Draft``: the importer checks each entry once, in integer minor units, against the accounts
  read at the start (``Accounts``) — the same rules as ``check_legs`` and ``_validate`` — and
  builds its canonical JSON around the id (``canonical_parts``' ``head``/``tail``) as text, byte
  for byte what ``entries.canonical_entry`` makes (``tests/test_import.py`` holds them equal);
- ``write``: under the chain's lock, ``periods.guard_dates`` once for the batch's dates, then the
  hash chain in one loop, and the rows in bulk — PostgreSQL ``COPY`` (the guards are statement
  triggers on the transition tables, migration 0020, run once per ``COPY``, and so are the
  references' checks, 0029 and 0031, after ``service.claim_numbers`` moved the chain head over the
  batch) of text the draft already holds, all but the entry's number
  and hashes (``draft`` builds it where the import parses, in its reader, so it overlaps the
  server's work on the batch before); SQLite one
  ``executemany`` per table, with the per-row guard triggers set aside *inside* the transaction
  and their checks run over the batch as set-based queries before they are put back (see
  ``_sqlite_rows``), and — when the importer runs the batch in ``batch_transaction`` — the
  connection's per-row foreign-key checks off for the batch and its references checked
  set-wise instead (``_sqlite_references``), in the same transaction. On both, the maintained tables are added to from the batch's Python
  aggregates, one upsert each (``_maintain``).

Anything the fast checks do not accept goes back to the importer, which posts it through
``service.post_entries`` and answers its error there: the fast path never refuses, it only
declines.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from operator import attrgetter

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from ledger.core.entries import Leg
from ledger.core.errors import ValidationError
from ledger.core.money import (
    MAX_AMOUNT,
    MAX_PLACES,
    MAX_STORED_UNITS,
    UNITS,
    MoneyError,
    minor_formatter,
    places,
)
from ledger.db import clock_of, from_stored, minor_to_stored
from ledger.journal.models import Account, AccountBalance, AccountMonthTotal, ChainHead, Entry, head_moved
from ledger.journal.periods import guard_dates
from ledger.journal.service import EntrySpec, add_to, claim_numbers, lock_chain

#: The guard triggers an import's batch sets aside on SQLite, inside its transaction, and the
#: set-based check that stands for each (``_sqlite_rows``).
SQLITE_ROW_GUARDS = ("posting_entry_open", "entry_balanced", "entry_detail_agrees")

SOURCE = "import"

#: The most legs an entry the fast path takes may have: each amount is under ``MAX_AMOUNT``, so
#: this many legs' debits stay within what the ledger stores (``check_legs``' bound on an entry's
#: debits, which ``draft`` does not sum). A longer entry goes to the slow path, which checks it.
MOST_LEGS = MAX_STORED_UNITS // (int(MAX_AMOUNT) * 10**MAX_PLACES)


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: int
    commodities: frozenset[str]
    closed_after: dt.date | None
    quoted: str  # the name as a JSON string, for the canonical form


class Accounts:
    """The open accounts and the books' commodities, read once for a whole import; ``copy`` says
    whether drafts carry their ``COPY`` text (PostgreSQL's ``write`` needs it, SQLite's never reads it)."""

    def __init__(self, session: Session, currency: str):
        self.copy = session.get_bind().dialect.name == "postgresql"
        self.by_name = {
            a.name: AccountRow(a.id, frozenset(a.commodity_list), a.closed_after, json.dumps(a.name))
            for a in session.scalars(select(Account))}
        self.allowed = frozenset({currency, UNITS})
        self.places: dict[str, int] = {}
        self.scale: dict[str, int] = {}
        self.text: dict[str, Callable[[int], str]] = {}  # minor units as the canonical form writes them
        for c in self.allowed:
            try:
                self.places[c] = places(c)
            except MoneyError:
                continue
            self.scale[c] = minor_to_stored(1, c)
            self.text[c] = minor_formatter(c)
        self.names = {row.id: name for name, row in self.by_name.items()}
        self.legs: dict[tuple[str, str], tuple | None] = {}
        #: A date's canonical text up to the entry's id (``draft``'s ``head``), made once a date.
        self.heads: dict[dt.date, str] = {}

    def leg(self, name: str, commodity: str) -> tuple | None:
        """What ``draft`` needs of a leg on ``name`` in ``commodity``, worked out once per pair:
        ``(account id, stored units per minor unit, the leg's canonical text up to its amount,
        the account's closing date)``, or None when the pair is not one the fast path takes (no
        such account, a commodity it does not hold or the books do not allow)."""
        key = (name, commodity)
        if key in self.legs:
            return self.legs[key]
        account = self.by_name.get(name)
        if account is None or commodity not in account.commodities or commodity not in self.scale:
            found = None
        else:
            found = (account.id, self.scale[commodity], f'[{account.quoted},"{commodity}","', account.closed_after)
        self.legs[key] = found
        return found

    def spec(self, d: Draft) -> EntrySpec:
        """The line ``d`` came from, as the ``EntrySpec`` the importer's ``parse_line`` makes of it."""
        legs = [Leg(self.names[account_id], from_stored(stored), commodity) for account_id, commodity, stored in d.legs]
        return EntrySpec(d.date, d.memo, legs, SOURCE, d.key, idempotency_key=d.key)


@dataclass(slots=True)
class Draft:
    """An entry checked and ready to be numbered: ``head + str(id) + tail`` is its canonical JSON.
    (Not frozen: a frozen dataclass sets each field through ``object.__setattr__``, 0.7 µs a
    draft; nothing changes one once made.)"""

    key: str
    date: dt.date
    memo: str
    head: str
    tail: str
    #: ``(account id, commodity, stored amount)`` per leg, in order.
    legs: tuple[tuple[int, str, int], ...]
    #: PostgreSQL (``Accounts.copy``): the entry's ``COPY`` row between its id and its previous
    #: hash, and each posting's after its entry id; None elsewhere.
    copy_entry: str | None = None
    copy_legs: tuple[str, ...] | None = None

    def __reduce__(self):
        """Pickled as the call that makes it (the importer's reader process sends drafts): about
        2 µs a draft to load, against 3 µs and more by the default for slots."""
        return Draft, _draft_fields(self)


#: A draft's fields in the order ``Draft`` takes them.
_draft_fields = attrgetter(*(f.name for f in fields(Draft)))


def draft(key: str, date: dt.date, memo: str, legs: Sequence[tuple[str, str, int, str | None]],
          accounts: Accounts) -> Draft | None:
    """The entry ``legs`` (``(account, commodity, minor units, text)``) make, or None when it is not
    one the fast path takes (any rule of ``check_legs``/``_validate`` not met: the slow path
    answers). A leg's ``text`` is its amount as the canonical form writes it (``minor_formatter``'s
    text), when the caller has it — the line's own, when already canonical — else None.
    ``key`` and ``memo`` have passed ``text_problem``."""
    if not 2 <= len(legs) <= MOST_LEGS:
        return None
    sums: dict[str, int] = {}
    parts = []
    rows = []
    moves = False
    known = accounts.legs
    for name, commodity, minor, text in legs:
        leg = known.get((name, commodity), False)
        if leg is False:
            leg = accounts.leg(name, commodity)
        if leg is None:
            return None
        account_id, scale, prefix, closed_after = leg
        if closed_after is not None and date > closed_after:
            return None
        if commodity in sums:
            sums[commodity] += minor
        else:
            sums[commodity] = minor
        if minor:
            moves = True
        if text is None:
            text = accounts.text[commodity](minor)
        parts.append(prefix + text + _LEG_END)
        rows.append((account_id, commodity, minor * scale))
    if not moves or any(sums.values()):
        return None
    # canonical_entry's keys, sorted: date, id, memo, policy_version, postings, reverses, source.
    head = accounts.heads.get(date)
    if head is None:
        head = accounts.heads[date] = f'{{"date":"{date.isoformat()}","id":'
    tail = (f',"memo":{_quoted(memo)},"policy_version":null,"postings":[{",".join(parts)}],'
            f'"reverses":null,"source":["{SOURCE}",{_quoted(key)}]}}')
    if not accounts.copy:
        return Draft(key, date, memo, head, tail, tuple(rows))
    day = date.isoformat()
    quoted_key = _copy_text(key)
    return Draft(key, date, memo, head, tail, tuple(rows),
                 f"\t{day}\t{_copy_text(memo)}\t{SOURCE}\t{quoted_key}\t{quoted_key}\t",
                 tuple([f"\t{a}\t{c}\t{m}" for a, c, m in rows]))


#: A leg's canonical text after its amount: the kind and the engagement, which an import's leg lacks.
_LEG_END = '",null,null]'


def _quoted(text: str) -> str:
    """``json.dumps(text, ensure_ascii=False)`` for text ``text_problem`` accepts (no control
    character): only a quote or a backslash needs escaping."""
    if '"' in text or "\\" in text:
        return json.dumps(text, ensure_ascii=False)
    return f'"{text}"'


#: SQLite, for the length of an import: checkpoint the WAL every 160 MiB of it rather than every
#: 4 MiB (each checkpoint writes the hot index pages again, and syncs: at 1M postings, 40 MiB
#: spent about 0.4 s more in commits; the WAL file keeps its size until the last connection
#: closes), and hold 32 MiB of pages rather than 64 (the import's own batches need the memory;
#: RSS stays under 200 MB — a larger cache did not make the inserts faster).
SQLITE_IMPORT_PRAGMAS = {"wal_autocheckpoint": 40_000, "cache_size": -32_768}


def tune(session: Session):
    """Set ``SQLITE_IMPORT_PRAGMAS`` on the session's connection; returns what puts them back.
    Both are settings of this connection alone, not of the database (nothing on PostgreSQL)."""
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        return lambda: None
    before = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in SQLITE_IMPORT_PRAGMAS}
    for name, value in SQLITE_IMPORT_PRAGMAS.items():
        conn.exec_driver_sql(f"PRAGMA {name} = {int(value)}")

    def restore() -> None:
        # After the import's commits, through the session again: in the one-threaded command the
        # pool hands back the same connection (and another would only be set to its defaults).
        try:
            again = session.connection()
            for name, value in before.items():
                again.exec_driver_sql(f"PRAGMA {name} = {int(value)}")
        except SQLAlchemyError:  # a session failing with the import's own error: that one is raised
            return
    return restore


@contextmanager
def batch_transaction(session: Session) -> Iterator[bool]:
    """One batch's transaction, committed on a clean exit (rolled back on an error, which is
    raised); on SQLite, with the connection's per-row foreign-key checks off for it, when they can
    be: yields whether they are. ``_sqlite_checks`` then checks the batch's references set-wise,
    in the same transaction, before it commits — which it does in any case, so the yield only
    says which of the two checked.

    ``PRAGMA foreign_keys`` is a setting of the connection that SQLite ignores inside a
    transaction, and SQLAlchemy begins one (``BEGIN IMMEDIATE``) as it hands the connection over.
    So, with the session in no transaction when this is entered (else nothing is switched: the
    per-row checks stay on), the empty transaction just begun is ended at the driver, the checks
    turned off, and the batch's own begun; at the end the batch is committed (or rolled back) at
    the driver, the checks turned back on — and read back — and only then the session's
    transaction closed, which hands the connection back to the pool. A connection whose checks
    could not be put back is invalidated (closed, never reused), not returned with them off. A
    crash leaves nothing behind: the setting lives in the connection, and the batch was not
    committed."""
    if session.get_bind().dialect.name != "sqlite" or session.in_transaction():
        try:
            yield False
        except BaseException:
            session.rollback()
            raise
        session.commit()
        return
    conn = session.connection()  # BEGIN IMMEDIATE, nothing done in it yet
    raw = conn.connection.driver_connection
    switched = off = False
    try:
        try:
            raw.execute("COMMIT")
            switched = True
            off = _foreign_keys(raw, False)
            raw.execute("BEGIN IMMEDIATE")
            yield off
            session.flush()
            raw.execute("COMMIT")
        except BaseException:
            if raw.in_transaction:
                raw.execute("ROLLBACK")
            raise
        finally:
            if switched and not _foreign_keys(raw, True):
                raise RuntimeError("the import could not turn foreign keys back on")
    except BaseException:
        # Whatever failed, the connection must not go back to the pool unless its checks are on
        # and its transaction is over: if either is in doubt, it is discarded.
        if switched and not _checks_on_and_idle(raw):
            conn.invalidate()
        session.rollback()
        raise
    session.commit()  # SQLAlchemy's side of it: the driver has committed already


def _checks_on_and_idle(raw) -> bool:
    try:
        return not raw.in_transaction and raw.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    except Exception:  # noqa: BLE001 - a connection that cannot even say is discarded
        return False


def _foreign_keys(raw, on: bool) -> bool:
    """Set SQLite's per-row foreign-key checks on the driver connection ``raw`` (outside a
    transaction); says whether they now are as asked."""
    raw.execute(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")
    return raw.execute("PRAGMA foreign_keys").fetchone()[0] == int(on)


def write(session: Session, drafts: Sequence[Draft], accounts: Accounts, months: dict[tuple, int] | None = None) -> None:
    """Append ``drafts`` to the chain, in order, in the session's transaction (the caller commits).
    Raises ``ValidationError``/``Conflict`` before anything is written when the books refuse a
    date (``guard_dates``) or an account the drafts were checked against has changed since.
    ``months`` is ``tally(drafts)`` when the caller has it (the import's reader process adds it up
    on the other core); else it is added up here."""
    if not drafts:
        return
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres and any(d.copy_legs is None for d in drafts):
        # A programming error, not the data's: the drafts were made for another engine.
        raise RuntimeError("PostgreSQL's bulk write needs drafts made with their COPY text (Accounts.copy)")
    head = lock_chain(session)
    _check_accounts(session, drafts, accounts)
    guard_dates(session, {d.date for d in drafts})
    now = clock_of(session).now()
    # MAINTAINED TABLES: each engine's writer below adds the batch to them (``_maintain``).
    if postgres:
        claim_numbers(session, head.seq, len(drafts))
        seq, prev = _postgres_rows(session, drafts, head.seq, head.hash, now, months)
    else:
        seq, prev = _sqlite_write(session, drafts, head.seq, head.hash, now, months)
    session.execute(update(ChainHead).where(ChainHead.id == 1).values(seq=seq, hash=prev))
    head_moved(session)


def _check_accounts(session: Session, drafts: Sequence[Draft], accounts: Accounts) -> None:
    """Under the lock: the accounts the drafts name still hold what they held when the import
    read them (an account closed meanwhile sends the batch to the slow path, which reads afresh).
    One query, a constant statement with the ids as one parameter (an array on PostgreSQL, a JSON
    array on SQLite), straight to the driver."""
    used = sorted({account_id for d in drafts for account_id, _c, _s in d.legs})
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql("SELECT id, commodities, closed_after FROM account WHERE id = ANY(%s)", (used,))
    else:
        rows = conn.exec_driver_sql("SELECT id, commodities, closed_after FROM account "
                                    "WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(used),))
    # The driver's value as SQLAlchemy reads it (SQLite hands back the date as text).
    date_type = Account.__table__.c.closed_after.type.dialect_impl(conn.dialect)
    as_date = date_type.result_processor(conn.dialect, None) or (lambda v: v)
    now = {i: (frozenset(c for c in commodities.split(",") if c), as_date(closed)) for i, commodities, closed in rows}
    cached = {accounts.by_name[accounts.names[i]] for i in used}
    if len(now) != len(used) or any(now[a.id] != (a.commodities, a.closed_after) for a in cached):
        raise ValidationError("an account changed during the import", {"postings": ["account changed"]})


def _copy_text(value: str) -> str:
    # COPY's text format: the text rules (``text_problem``) already refuse tab, line breaks and
    # every control character, so a backslash is the one character left to escape.
    return value.replace("\\", "\\\\") if "\\" in value else value


#: Entries whose postings go to the server in one piece of the ``COPY``: each piece is small
#: enough to leave at once, so the server stores it while Python hashes the same entries.
COPY_CHUNK = 500


def _postgres_rows(session: Session, drafts: Sequence[Draft], seq: int, prev: str,
                   now: dt.datetime, summed: dict[tuple, int] | None) -> tuple[int, str]:
    """Number and hash ``drafts`` after ``seq``/``prev``, ``COPY`` the postings, then the entries
    that seal them (each ``COPY`` fires migration 0020's statement triggers once, over its
    transition table), then add them to the maintained tables; returns the new head. The rows'
    text is the drafts' own but for the numbers and hashes.

    A posting's row needs only its entry's number, so the postings go first, ``COPY_CHUNK``
    entries at a time, and each piece's entries are hashed while the server stores it."""
    stamp = now.isoformat()
    entry_rows: list[str] = []
    months: dict[tuple, int] = defaultdict(int) if summed is None else summed
    sha = hashlib.sha256
    cursor = session.connection().connection.driver_connection.cursor()
    try:
        with cursor.copy("COPY posting (entry_id, account_id, commodity, amount) FROM STDIN") as copy:
            for start in range(0, len(drafts), COPY_CHUNK):
                chunk = drafts[start:start + COPY_CHUNK]
                rows = []
                for i, d in enumerate(chunk, start=seq + 1):
                    n = str(i)
                    rows.append(n + ("\n" + n).join(d.copy_legs) + "\n")
                copy.write("".join(rows))
                for d in chunk:
                    seq += 1
                    n = str(seq)
                    digest = sha(f"{prev}{d.head}{n}{d.tail}".encode()).hexdigest()
                    entry_rows.append(f"{n}{d.copy_entry}{prev}\t{digest}\t{stamp}\n")
                    prev = digest
                    if summed is None:
                        _tally(d, months)
        with cursor.copy("COPY entry (id, date, memo, source_type, source_ref, idempotency_key, prev_hash, hash, "
                         "created_at) FROM STDIN") as copy:
            copy.write("".join(entry_rows))
    finally:
        cursor.close()
    _maintain(session, months)
    return seq, prev


def _sqlite_write(session: Session, drafts: Sequence[Draft], seq: int, prev: str,
                  now: dt.datetime, summed: dict[tuple, int] | None) -> tuple[int, str]:
    """Number and hash ``drafts`` after ``seq``/``prev``, write them (``_sqlite_rows``) and add
    them to the maintained tables from Python aggregates; returns the new head. The entries'
    rows are built here, as ``_sqlite_rows`` inserts them (dates and the stamp bound as
    ``service.post_entries`` binds them, so both paths store the same text)."""
    conn = session.connection()
    bind_date = _binder(conn, Entry.__table__.c.date)
    stamp = _binder(conn, Entry.__table__.c.created_at)(now)
    days: dict[dt.date, tuple[object, str]] = {}  # a date as bound, and its month
    first = seq + 1
    postings: list[tuple] = []
    entries: list[tuple] = []
    months: dict[tuple, int] = defaultdict(int) if summed is None else summed
    sha = hashlib.sha256
    add_postings = postings.extend
    add_entry = entries.append
    for d in drafts:
        seq += 1
        digest = sha(f"{prev}{d.head}{seq}{d.tail}".encode()).hexdigest()
        day = days.get(d.date)
        if day is None:
            day = days[d.date] = (bind_date(d.date), d.date.isoformat()[:7])
        add_entry((seq, day[0], d.memo, SOURCE, d.key, d.key, prev, digest, stamp))
        add_postings([(seq, account_id, commodity, stored) for account_id, commodity, stored in d.legs])
        if summed is None:
            _tally(d, months, day[1])
        prev = digest
    _sqlite_rows(session, postings, entries, first, seq)
    _maintain(session, months)
    return seq, prev


def _binder(conn, column) -> Callable:
    """What ``column``'s values are bound as on ``conn``, as SQLAlchemy and then the driver make
    them: for SQLite's dates and times, the text its ``sqlite3`` adapters write (the same text as
    every other writer's, made once per value rather than once a row)."""
    process = column.type.bind_processor(conn.dialect) or (lambda v: v)
    adapters = getattr(conn.dialect.dbapi, "adapters", {})
    protocol = getattr(conn.dialect.dbapi, "PrepareProtocol", None)

    def bind(value):
        value = process(value)
        adapt = adapters.get((type(value), protocol))
        return adapt(value) if adapt is not None else value
    return bind


def tally(drafts: Iterable[Draft], months: dict[tuple, int]) -> dict[tuple, int]:
    """``months`` (a ``defaultdict(int)``) with ``drafts``' legs added, by ``(month, account id,
    commodity)``: what ``write`` adds to the maintained tables for them."""
    for d in drafts:
        _tally(d, months)
    return months


def _tally(d: Draft, months: dict[tuple, int], month: str | None = None) -> None:
    """Add ``d``'s legs to the batch's sums by ``(month, account id, commodity)``, from which
    ``_maintain`` adds to the maintained tables; ``month`` is ``d``'s, when the caller has it.
    (One small key a leg: the tables' own keys are made once a batch, from the sums.)"""
    if month is None:
        month = d.date.isoformat()[:7]
    for account_id, commodity, stored in d.legs:
        months[(month, account_id, commodity)] += stored


def _maintain(session: Session, months: dict[tuple, int]) -> None:
    """MAINTAINED TABLES (the import's path, both engines; service.post_entries and ledger_append
    keep the same): every table kept in step with the postings is added to here, one upsert each
    from the batch's sums by ``(month, account id, commodity)`` (``_tally``). An import's postings
    name no engagement and no kind, so the engagement month totals are not touched."""
    balances: dict[tuple, int] = defaultdict(int)
    for (_month, account_id, commodity), amount in months.items():
        balances[(account_id, commodity)] += amount
    add_to(session, AccountBalance.__table__, ["account_id", "commodity"], balances)
    add_to(session, AccountMonthTotal.__table__,
           ["month", "account_id", "commodity", "source_type", "kind", "tagged"],
           {(month, account_id, commodity, SOURCE, "", False): amount
            for (month, account_id, commodity), amount in months.items()})


def _sqlite_rows(session: Session, postings: list[tuple], entry_rows: list[tuple], first: int, last: int) -> None:
    """SQLite: one ``executemany`` per table, with the per-row guard triggers set aside for the
    batch and their checks run over it, set-based, before they are put back; the foreign keys
    likewise, when ``batch_transaction`` turned the connection's per-row checks off.

    Safe because SQLite's DDL is transactional and this transaction holds the database's write
    lock (``BEGIN IMMEDIATE``): no other writer runs until it ends, and it ends either committed
    with the triggers re-created or rolled back — by SQLite itself after a crash — with them never
    dropped. Readers see the committed schema throughout. What each trigger checked, for these
    entries (ids ``first``..``last``, all above the chain head):

    - ``posting_entry_open`` (no posting added to an entry already written): no entry with one of
      these ids exists before they are inserted;
    - ``entry_balanced`` (at least two postings, summing to zero per commodity): one grouped scan
      of the batch's postings, which also counts the entries that have postings;
    - ``entry_detail_agrees`` (detail matches its entry): the batch has no detail lines, and the
      check asks that none exists for these ids.

    And each foreign key of the rows (``_sqlite_references``): every posting's entry is one of
    ``first``..``last`` and all of those exist; every account a posting names exists. The
    statements name no ``reverses_id`` or ``engagement_id``, so those are null, which no key
    checks. ``entry_rows`` are ``(id, date, memo, source type, source ref, key, previous hash,
    hash, created at)``, bound as the column types bind them."""
    conn = session.connection()
    if conn.exec_driver_sql("SELECT 1 FROM entry WHERE id BETWEEN ? AND ? LIMIT 1", (first, last)).first():
        raise RuntimeError(f"entries {first}..{last} already exist: the chain head is behind the entries")
    saved = conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN (?, ?, ?)",
        SQLITE_ROW_GUARDS).all()
    try:
        for name, _sql in saved:
            conn.exec_driver_sql(f"DROP TRIGGER {name}")  # one of SQLITE_ROW_GUARDS, a constant
        # The entries first, their guards being aside: each posting then finds its entry at once,
        # where the other order has SQLite count it as a pending foreign key and look it up again.
        if entry_rows:
            conn.exec_driver_sql(
                "INSERT INTO entry (id, date, memo, source_type, source_ref, idempotency_key, prev_hash, hash, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", entry_rows)
        conn.exec_driver_sql(
            "INSERT INTO posting (entry_id, account_id, commodity, amount) VALUES (?, ?, ?, ?)", postings)
        sealed, unbalanced = conn.exec_driver_sql(
            "SELECT count(*), min(CASE WHEN n < 2 OR off THEN entry_id END) FROM (SELECT entry_id, sum(n) AS n, "
            "max(total <> 0) AS off FROM (SELECT entry_id, count(*) AS n, sum(amount) AS total FROM posting "
            "WHERE entry_id BETWEEN ? AND ? GROUP BY entry_id, commodity) GROUP BY entry_id)", (first, last)).one()
        detail = conn.exec_driver_sql(
            "SELECT 1 FROM posting_detail WHERE entry_id BETWEEN ? AND ? LIMIT 1", (first, last)).first()
        if unbalanced is not None or sealed != last - first + 1 or detail:
            raise ValidationError("unbalanced entry: its postings must sum to zero per commodity",
                                  {"postings": [f"entry {unbalanced} does not balance"]})
        _sqlite_references(conn, postings, first, last)
    finally:
        # Put back whatever is missing, however this ended (a failed statement leaves the
        # transaction open; a transaction SQLite rolled back has them back already).
        there = {name for (name,) in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name IN (?, ?, ?)", SQLITE_ROW_GUARDS)}
        for name, sql in saved:
            if name not in there:
                conn.exec_driver_sql(sql)


def _sqlite_references(conn, postings: list[tuple], first: int, last: int) -> None:
    """The batch's foreign keys, set-wise, in its transaction: what SQLite checks per row when
    ``foreign_keys`` is on (posting → account at once, posting → entry at the commit), and
    refused with the error it raises then, before anything is committed. The maintained tables'
    rows name the same accounts as the postings (``_tally`` adds up the same legs)."""
    if not postings:
        return
    entry_ids = [row[0] for row in postings]
    accounts = sorted({row[1] for row in postings})
    known = conn.exec_driver_sql("SELECT count(*) FROM account WHERE id IN (SELECT value FROM json_each(?))",
                                 (json.dumps(accounts),)).scalar()
    there = conn.exec_driver_sql("SELECT count(*) FROM entry WHERE id BETWEEN ? AND ?", (first, last)).scalar()
    if (known != len(accounts) or min(entry_ids) < first or max(entry_ids) > last
            or there != last - first + 1):
        raise IntegrityError("INSERT INTO posting (entry_id, account_id, commodity, amount) VALUES (?, ?, ?, ?)",
                             None, conn.dialect.dbapi.IntegrityError("FOREIGN KEY constraint failed"))
