"""Read-only lookups the pages need and no service offers: lists to choose from, a page of the
ledger's entries, the entries of one engagement, the periods. They decide nothing: every figure a
page shows about money comes from a service (statements, previews, balances, vesting)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ledger.core import chart
from ledger.journal.models import Account, Entry, Posting
from ledger.journal.periods import ensure_periods
from ledger.practices.models import Partner
from ledger.revenue.close import oldest_open
from ledger.revenue.models import Period

PAGE_SIZE = 50


def active_partners(session: Session) -> list[Partner]:
    return list(session.scalars(select(Partner).where(Partner.status == "active").order_by(Partner.code)))


def periods(session: Session) -> list[Period]:
    """Every period from the start to the oldest open one (rows made on demand, as the API does)."""
    ensure_periods(session, oldest_open(session))
    return list(session.scalars(select(Period).order_by(Period.id)))


def closed_periods(session: Session) -> list[Period]:
    return list(session.scalars(select(Period).where(Period.status == "closed").order_by(Period.id)))


def open_period_ids(session: Session, count: int = 12) -> list[str]:
    """The oldest open period and the ``count - 1`` after it (choices for an effective period)."""
    from ledger.core import periods as P
    from ledger.practices.service import get_partnership

    kind = get_partnership(session).period_kind
    out = [oldest_open(session)]
    while len(out) < count:
        out.append(P.next_period(out[-1], kind))
    return out


@dataclass(frozen=True)
class EntryPage:
    entries: list[Entry]
    #: The id to continue before (older entries), or ``None`` on the last page.
    before: int | None


def entry_page(session: Session, *, before: int | None = None, account: str | None = None,
               start: dt.date | None = None, end: dt.date | None = None,
               engagement_id: int | None = None, size: int = PAGE_SIZE) -> EntryPage:
    """Entries newest first, a page at a time (keyset on the entry id, which never changes)."""
    q = (select(Entry).options(selectinload(Entry.postings)).order_by(Entry.id.desc()).limit(size + 1))
    if before is not None:
        q = q.where(Entry.id < before)
    if account:
        q = q.where(Entry.id.in_(select(Posting.entry_id).join(Account, Account.id == Posting.account_id)
                                 .where(Account.name == account)))
    if engagement_id is not None:
        q = q.where(Entry.id.in_(select(Posting.entry_id).where(Posting.engagement_id == engagement_id)))
    if start:
        q = q.where(Entry.date >= start)
    if end:
        q = q.where(Entry.date <= end)
    rows = list(session.scalars(q))
    more = len(rows) > size
    rows = rows[:size]
    return EntryPage(rows, rows[-1].id if more and rows else None)


def accounts(session: Session) -> list[Account]:
    return list(session.scalars(select(Account).order_by(Account.name)))


def entry_touches_capital_of(entry: Entry, partner_code: str) -> bool:
    """Whether a posting of ``entry`` is on the partner's capital account (the entries a partner's
    statement links to)."""
    return any(p.account.name == chart.capital(partner_code) for p in entry.postings)


def reversal_of(session: Session, entry_id: int) -> Entry | None:
    """The entry that reverses ``entry_id``, if any."""
    return session.scalar(select(Entry).where(Entry.reverses_id == entry_id))
