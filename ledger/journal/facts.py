"""The posting path's cache of the journal's facts, one per engine: the books' period kind and
first day, each account's id, commodities and last day, the last closed and the last created
period. Only ever trusted to accept an entry: ``ledger_append`` re-checks every fact under the
database's own reads, and a refusal is answered from fresh reads (``append``'s docstring). A
change made through this process (an account closed, a period closed) drops it (``forget``)."""

from __future__ import annotations

import datetime as dt
import weakref
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.journal.models import Account, Books, Period


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """What posting needs of an account: its id, the commodities it holds, its last day."""

    id: int
    name: str
    commodities: frozenset[str]
    closed_after: dt.date | None

    @property
    def commodity_list(self) -> list[str]:
        return list(self.commodities)


class JournalFacts:
    """One engine's cached journal facts. Only trusted to accept (see the module docstring)."""

    def __init__(self) -> None:
        self.accounts: dict[str, AccountFacts] = {}
        self.books: tuple[str, dt.date] | None = None  # (period kind, first day)
        self.closed: str | None = None  # the last closed period's id
        self.latest: str | None = None  # the last period row created
        self.currency: str | None = None  # the books' currency: set at founding, never changed

    def clear(self) -> None:
        self.__init__()

    def resolve(self, session: Session, names: set[str]) -> dict[str, AccountFacts]:
        missing = names - self.accounts.keys()
        if missing:
            self.accounts.update(read_accounts(session, missing))
        return self.accounts

    def load_periods(self, session: Session) -> None:
        if self.books is None:
            books = session.get(Books, 1)
            if books is None:
                return
            self.books = (books.period_kind, books.starts_on)
            self.currency = books.currency
        session.flush()  # as the ORM's autoflush would: a period row just made is seen
        self.closed, self.latest = session.connection().execute(_PERIODS).one()


def read_accounts(session: Session, names: set[str]) -> dict[str, AccountFacts]:
    """The facts of the accounts named, read now (those that exist; an account opened in this
    session and not yet flushed included, as the ORM's autoflush would)."""
    session.flush()
    return {a.name: AccountFacts(a.id, a.name, frozenset(c for c in a.commodities.split(",") if c), a.closed_after)
            for a in session.connection().execute(_ACCOUNTS, {"names": list(names)})}


#: Built once: a Core statement on the session's connection (no ORM layer, the compiled form cached).
_PERIODS = select(func.max(Period.id).filter(Period.status == "closed"), func.max(Period.id))


_ACCOUNTS = (select(Account.id, Account.name, Account.commodities, Account.closed_after)
             .where(Account.name.in_(sa.bindparam("names", expanding=True))))

_FACTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def journal_facts(session: Session) -> JournalFacts:
    return engine_facts(session.get_bind())


def engine_facts(engine: sa.Engine) -> JournalFacts:
    """The cached facts of ``engine``'s database (``journal_facts`` for a caller with no session)."""
    facts = _FACTS.get(engine)
    if facts is None:
        facts = _FACTS[engine] = JournalFacts()
    return facts


def forget(session: Session) -> None:
    """Drop the cached facts of ``session``'s database (a change to an account or a period)."""
    facts = _FACTS.get(session.get_bind())
    if facts is not None:
        facts.clear()
