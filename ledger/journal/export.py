"""The whole ledger as a plain-text journal (Beancount or hledger), for ``ledger export``.

Design
- ``to_beancount(session)`` and ``to_hledger(session)`` are generators of text chunks (each one or
  more whole lines ending in ``\\n``). Entries and postings are read by two ``yield_per`` queries,
  entries by id and postings by ``(entry_id, id)``, merged in step the way ``verify`` does: memory
  stays flat however many postings the ledger holds. They run as Core queries on the session's
  connection, so rows are plain tuples: no ORM objects, no identity map to grow, and a million
  postings stream in seconds. Accounts (a chart, not a journal) are read whole.
- The export is a proof, not only a copy. After the entries comes one balance assertion per
  (account, commodity), dated the day after the last entry, whose figure is taken from
  ``service.trial_balance`` — the database's own ``SUM`` — not summed from the exported postings.
  ``bean-check`` / ``hledger check`` then prove that the exported postings add up to exactly the
  ledger's trial balance. Every account's declared commodities get an assertion too (zero when
  the account has no posting), so a posting on a wrong account cannot hide.
- Beancount's balance check tolerates a whole unit of the last digit written (``100.01 USD``
  passes against an account holding ``100.00``), so each assertion carries an explicit ``~ 0``
  tolerance: the check is exact. Beancount's ``open`` lists the account's commodities, so a
  posting in a commodity the account may not hold also fails ``bean-check``.
- An account opens on the earlier of its ``opened_on`` and its first posting's date: the posting
  service does not compare a posting's date with its account's opening, and an export that
  ``bean-check`` refuses for that would hide the real balances behind an error.
- Text is made safe per format. Beancount strings take C-style escapes, so ``\\``, ``"``, line
  breaks and tabs are escaped and memos survive exactly. hledger has no string quoting: a
  description ends at a line break and at ``;`` (a comment), and a leading ``(`` would be read as a
  transaction code, so those are replaced; the exact memo is in the Beancount export and the
  ``hash`` tag ties each transaction to its entry in the chain.
- Amounts are ``Decimal`` formatted with ``money.fmt`` at the commodity's places (USD 2, UNITS 0).
- Reading in one snapshot: the CLI runs the export in one transaction, at ``REPEATABLE READ`` on
  PostgreSQL, so entries written meanwhile cannot make the stream and the trial balance disagree
  (SQLite's transaction is already a snapshot).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.core.money import fmt
from ledger.journal.balances import trial_balance
from ledger.journal.models import Account, Entry, Posting
from ledger.journal.periods import get_books
from ledger.journal.service import COMMODITY_UNITS
from ledger.journal.stream import group_by_entry

ENTRY_BATCH = 2000
POSTING_BATCH = 5000
ONE_DAY = dt.timedelta(days=1)


# --- reading --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Account:
    name: str
    commodities: list[str]
    opens_on: dt.date


@dataclass(frozen=True, slots=True)
class _Entry:
    id: int
    date: dt.date
    memo: str
    source_type: str
    source_ref: str
    reverses_id: int | None
    hash: str
    postings: list[tuple[str, str, Decimal]]  # (account, commodity, amount) in posting order


@dataclass(frozen=True, slots=True)
class _Header:
    title: str
    currency: str
    commodities: list[str]
    accounts: list[_Account]
    #: The date of the balance assertions: the day after the last entry (or the last opening).
    check_on: dt.date


def _header(session: Session, title: str) -> _Header:
    books = get_books(session)  # an unfounded database is a Conflict, reported by the CLI
    first_posting = dict(
        session.execute(
            select(Posting.account_id, func.min(Entry.date))
            .join(Entry, Entry.id == Posting.entry_id)
            .group_by(Posting.account_id)
        ).all()
    )
    accounts = []
    for a in session.scalars(select(Account).order_by(Account.name)):
        first = first_posting.get(a.id)
        accounts.append(_Account(a.name, a.commodity_list, min(a.opened_on, first) if first else a.opened_on))
    last_entry = session.scalar(select(func.max(Entry.date)))
    # Beancount refuses an assertion on an account not yet open, so the date is after every opening
    # as well; in a ledger where nothing is opened after its last entry this is the day after it.
    latest = max([d for d in [last_entry, *(a.opens_on for a in accounts)] if d is not None],
                 default=books.starts_on)
    commodities = list(dict.fromkeys([books.currency, COMMODITY_UNITS,
                                      *(c for a in accounts for c in a.commodities)]))
    return _Header(title, books.currency, commodities, accounts, latest + ONE_DAY)


def _entries(session: Session) -> Iterator[_Entry]:
    """Every entry with its postings, in id order, streamed from two cursors merged in step."""
    names = dict(session.execute(select(Account.id, Account.name)).all())
    postings_q = (
        select(Posting.entry_id, Posting.account_id, Posting.commodity, Posting.amount)
        .order_by(Posting.entry_id, Posting.id)
        .execution_options(yield_per=POSTING_BATCH)
    )
    entries_q = (
        select(Entry.id, Entry.date, Entry.memo, Entry.source_type, Entry.source_ref, Entry.reverses_id,
               Entry.hash)
        .order_by(Entry.id)
        .execution_options(yield_per=ENTRY_BATCH)
    )
    # Core execution on the session's connection (same transaction, same snapshot): plain tuples
    # without the ORM's per-row loading, which is most of the cost on a million postings.
    conn = session.connection()
    # A posting without its entry cannot exist (deferred foreign key); the walk skips one should it
    # ever appear, and ``verify`` is the command that reports it.
    for e, postings in group_by_entry(conn.execute(entries_q).tuples(), conn.execute(postings_q).tuples()):
        yield _Entry(e[0], e[1], e[2], e[3], e[4] or "", e[5], e[6],
                     [(names[account_id], commodity, amount) for _, account_id, commodity, amount in postings])


def _assertions(session: Session, header: _Header) -> list[tuple[str, str, Decimal]]:
    """``(account, commodity, balance)`` for every account's commodities and every trial-balance row."""
    rows = {(a, c): amount for a, c, amount in trial_balance(session)}
    for account in header.accounts:
        for commodity in account.commodities:
            rows.setdefault((account.name, commodity), Decimal(0))
    return [(a, c, rows[(a, c)]) for a, c in sorted(rows)]


# --- Beancount ------------------------------------------------------------------------------------


_BEAN_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def bean_string(text: str) -> str:
    """A Beancount string literal that reads back as exactly ``text``."""
    return '"' + text.translate(_BEAN_ESCAPES) + '"'


def to_beancount(session: Session, title: str = "the ledger") -> Iterator[str]:
    """The ledger as a Beancount v3 file, in chunks of whole lines."""
    h = _header(session, title)
    first_day = min((a.opens_on for a in h.accounts), default=h.check_on - ONE_DAY)
    yield (f";; Practice Ledger export of {_one_line(h.title)}\n"
           f"option \"title\" {bean_string(h.title)}\n"
           f"option \"operating_currency\" {bean_string(h.currency)}\n\n")
    yield "".join(f"{first_day.isoformat()} commodity {c}\n" for c in h.commodities) + "\n"
    # Listing the commodities makes Beancount refuse a posting in one the account may not hold.
    yield "".join(f"{a.opens_on.isoformat()} open {a.name} {','.join(a.commodities)}".rstrip() + "\n"
                  for a in h.accounts) + "\n"
    for e in _entries(session):
        lines = [
            f"{e.date.isoformat()} * {bean_string(e.memo)}\n",
            f"  entry: \"{e.id}\"\n",
            f"  hash: \"{e.hash}\"\n",
            f"  source: {bean_string(f'{e.source_type}:{e.source_ref}')}\n",
        ]
        if e.reverses_id is not None:
            lines.append(f"  reverses: \"{e.reverses_id}\"\n")
        lines.extend(f"  {account}  {fmt(amount, commodity)} {commodity}\n"
                     for account, commodity, amount in e.postings)
        lines.append("\n")
        yield "".join(lines)
    day = h.check_on.isoformat()
    yield ";; The ledger's trial balance: bean-check proves the postings above sum to it exactly.\n"
    # ``~ 0``: without an explicit tolerance Beancount lets a balance be a cent off (see above).
    yield "".join(f"{day} balance {account}  {fmt(amount, commodity)} ~ 0 {commodity}\n"
                  for account, commodity, amount in _assertions(session, h))


# --- hledger --------------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.splitlines()).replace("\t", " ")


def hledger_description(text: str) -> str:
    """A memo as an hledger description: one line, no ``;`` (it starts a comment), no leading ``(``
    (it would be read as a transaction code)."""
    line = _one_line(text).replace(";", ",").strip()
    return "[" + line[1:] if line.startswith("(") else line


def hledger_tag_value(text: str) -> str:
    """A tag value ends at a comma or a line break, so those are replaced."""
    return _one_line(text).replace(",", " ").replace(";", " ").strip()


def _sample(commodity: str) -> str:
    # hledger wants a decimal mark in a commodity directive even with no decimals ("1000." UNITS).
    sample = fmt(Decimal(1000), commodity)
    return sample if "." in sample else sample + "."


def to_hledger(session: Session, title: str = "the ledger") -> Iterator[str]:
    """The ledger as an hledger journal, in chunks of whole lines."""
    h = _header(session, title)
    yield f"; Practice Ledger export of {_one_line(h.title)}\n\n"
    yield "".join(f"commodity {_sample(c)} {c}\n" for c in h.commodities) + "\n"
    yield "".join(f"account {a.name}\n" for a in h.accounts) + "\n"
    for e in _entries(session):
        tags = f"entry:{e.id}, hash:{e.hash}, source:{hledger_tag_value(f'{e.source_type}:{e.source_ref}')}"
        if e.reverses_id is not None:
            tags += f", reverses:{e.reverses_id}"
        lines = [f"{e.date.isoformat()} * {hledger_description(e.memo)}  ; {tags}\n"]
        lines.extend(f"    {account}  {fmt(amount, commodity)} {commodity}\n"
                     for account, commodity, amount in e.postings)
        lines.append("\n")
        yield "".join(lines)
    lines = [f"{h.check_on.isoformat()} * Trial balance of the ledger  ; balance assertions\n"]
    # A zero posting moves nothing; its ``=`` asserts the account's own balance in that commodity
    # (hledger's ``=`` leaves out subaccounts, as the trial balance does).
    lines.extend(f"    {account}  {fmt(Decimal(0), commodity)} {commodity} = {fmt(amount, commodity)} {commodity}\n"
                 for account, commodity, amount in _assertions(session, h))
    yield "".join(lines)


FORMATS: dict[str, Callable[..., Iterator[str]]] = {"beancount": to_beancount, "hledger": to_hledger}


# --- writing ----------------------------------------------------------------------------------------


def write_file(path: str, chunks: Iterator[str]) -> None:
    """Write to a temporary file beside ``path`` and rename it into place, so a failed export
    never leaves a truncated journal where a good one was expected."""
    target = Path(path)
    # Not mkstemp: its 0600 would become the journal's mode; ``open`` honours the umask.
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8", newline="\n") as out:
            for chunk in chunks:
                out.write(chunk)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_stdout(chunks: Iterator[str]) -> None:
    # UTF-8 whatever the locale says: a memo with "é" must not fail half-way through the export.
    stream = sys.stdout
    binary = getattr(stream, "buffer", None)
    stream.flush()
    for chunk in chunks:
        if binary is not None:
            binary.write(chunk.encode("utf-8"))
        else:
            stream.write(chunk)
    if binary is not None:
        binary.flush()
    stream.flush()
