"""Journal entries as the API, the web app and the CLI show them — one read model, one visibility rule.

- ``entry_view`` is one entry with its postings, its posting detail (a close's capital postings
  broken down by engagement), its reversal links and whether a person may reverse it;
  ``entry_list`` is a page of them in chain order (oldest first, after a cursor) or newest first
  (before one).
- Every entry read passes the viewer through ``core.access``: the treasurer sees every line; a
  partner sees their own capital lines (every partner's, with open books) and the other partners'
  as one aggregated "other partners" line per commodity, so an entry still balances on screen and
  nobody's share leaks (CONTRACT §7). A partner may open only an entry that moves capital they may
  see.
- Amounts are ``Decimal``; formatting happens at the edge (``core.money.fmt``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ledger.core import chart
from ledger.core.access import Viewer, may_open_entry, sees_capital_of
from ledger.core.entries import ACCOUNT_RE, Leg, reversal_refusal
from ledger.core.errors import Forbidden, NotFound, ValidationError
from ledger.journal.models import Account, Entry, Posting, PostingDetail
from ledger.journal.service import Posted
from ledger.practices.models import Engagement, Partner, Practice
from ledger.practices.service import get_partnership

#: The account name an aggregated line of other partners' capital is shown under.
OTHER_PARTNERS = "Equity:Capital:(other partners)"
PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class PostingLine:
    account: str
    #: Signed, debit positive.
    amount: Decimal
    commodity: str
    kind: str | None
    engagement: str | None


@dataclass(frozen=True, slots=True)
class DetailLine:
    account: str
    amount: Decimal
    commodity: str
    kind: str
    engagement: str | None
    practice: str | None


@dataclass(frozen=True, slots=True)
class EntryView:
    id: int
    date: dt.date
    memo: str
    source_type: str
    source_ref: str
    policy_version: int | None
    reverses: int | None
    #: The entry that reverses this one, if any (filled by ``entry_view``; lists leave it None).
    reversed_by: int | None
    hash: str
    prev_hash: str
    created_at: dt.datetime
    postings: list[PostingLine]
    detail: list[DetailLine]
    #: Whether a person may reverse it now (booked by a person, not a reversal, not reversed).
    reversible: bool
    #: Whether some capital lines are shown aggregated as "other partners" for this viewer.
    masked: bool = False


@dataclass(frozen=True, slots=True)
class EntryPage:
    items: list[EntryView]
    #: Whether entries remain past the last one of ``items`` (in the page's direction).
    more: bool


class _Capital:
    """Which capital account is whose, and which of them a viewer sees as they are."""

    def __init__(self, session: Session, viewer: Viewer):
        self.owner = {chart.capital(code): code for code in session.scalars(select(Partner.code))}
        self.viewer = viewer
        self.open_books = get_partnership(session).open_books

    def hidden(self, account: str) -> bool:
        code = self.owner.get(account)
        return code is not None and not sees_capital_of(self.viewer, code, self.open_books)

    def named(self, accounts: Iterable[str]) -> set[str]:
        return {self.owner[a] for a in accounts if a in self.owner}


def _aggregate(lines: Sequence, hidden, make) -> tuple[list, bool]:
    """``lines`` with the hidden ones replaced by one line per commodity (at the first one's place)."""
    kept, totals, first_at = [], defaultdict(Decimal), {}
    for line in lines:
        if hidden(line.account):
            if line.commodity not in first_at:
                first_at[line.commodity] = len(kept)
                kept.append(None)
            totals[line.commodity] += line.amount
        else:
            kept.append(line)
    for commodity, at in first_at.items():
        kept[at] = make(totals[commodity], commodity)
    return kept, bool(first_at)


def _mask(view: EntryView, capital: _Capital) -> EntryView:
    postings, p_masked = _aggregate(
        view.postings, capital.hidden, lambda amount, c: PostingLine(OTHER_PARTNERS, amount, c, None, None))
    detail, d_masked = _aggregate(
        view.detail, capital.hidden, lambda amount, c: DetailLine(OTHER_PARTNERS, amount, c, "other", None, None))
    if not (p_masked or d_masked):
        return view
    return replace(view, postings=postings, detail=detail, masked=True)


def engagement_refs(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(session.execute(select(Engagement.id, Engagement.ref).where(Engagement.id.in_(ids))).all())


def _detail(session: Session, entry_id: int) -> list[DetailLine]:
    rows = session.execute(
        select(Account.name, PostingDetail.amount, PostingDetail.commodity, PostingDetail.kind,
               Engagement.ref, Practice.code)
        .join(Account, Account.id == PostingDetail.account_id)
        .outerjoin(Engagement, Engagement.id == PostingDetail.engagement_id)
        .outerjoin(Practice, Practice.id == Engagement.practice_id)
        .where(PostingDetail.entry_id == entry_id).order_by(PostingDetail.line_no))
    return [DetailLine(*row) for row in rows]


def _views(session: Session, entries: Sequence[Entry], reversed_ids: set[int]) -> list[EntryView]:
    refs = engagement_refs(session, (p.engagement_id for e in entries for p in e.postings))
    return [EntryView(
        id=e.id, date=e.date, memo=e.memo, source_type=e.source_type, source_ref=e.source_ref,
        policy_version=e.policy_version, reverses=e.reverses_id, reversed_by=None, hash=e.hash,
        prev_hash=e.prev_hash, created_at=e.created_at,
        postings=[PostingLine(p.account.name, p.amount, p.commodity, p.kind, refs.get(p.engagement_id))
                  for p in e.postings],
        detail=[],
        reversible=e.id not in reversed_ids and reversal_refusal(e.source_type, e.reverses_id) is None,
    ) for e in entries]


def _reversed(session: Session, ids: Iterable[int]) -> dict[int, int]:
    """``{entry id: the id of the entry reversing it}`` for those of ``ids`` that are reversed."""
    ids = list(ids)
    if not ids:
        return {}
    return dict(session.execute(select(Entry.reverses_id, Entry.id).where(Entry.reverses_id.in_(ids))).all())


def entry_view(session: Session, entry_id: int, viewer: Viewer) -> EntryView:
    """One entry, with its detail, as ``viewer`` may see it; ``NotFound``, or ``Forbidden`` for a
    partner and an entry that moves no capital they may see."""
    entry = session.get(Entry, entry_id)
    if entry is None:
        raise NotFound(f"no entry {entry_id}")
    reversed_by = _reversed(session, [entry.id]).get(entry.id)
    view = replace(_views(session, [entry], {entry.id} if reversed_by else set())[0],
                   reversed_by=reversed_by, detail=_detail(session, entry.id))
    if viewer.is_treasurer:
        return view
    capital = _Capital(session, viewer)
    named = capital.named([p.account for p in view.postings] + [d.account for d in view.detail])
    if not may_open_entry(viewer, named, capital.open_books):
        raise Forbidden(f"entry {entry_id} is the treasurer's", {"entry": ["not yours to read"]})
    return _mask(view, capital)


def posted_view(entry: Entry | Posted, legs: Sequence[Leg]) -> EntryView:
    """The entry a treasurer just posted, as ``entry_view`` would show it to them, built from what
    was sent instead of read back: its ``legs`` are its postings, in order; nothing reverses it
    yet; it has no detail. Legs tagged with an engagement are not for this (their refs are read).
    ``entry`` is the ``Entry`` or, from ``journal.service.post_direct``, its columns as written."""
    if any(leg.engagement_id is not None for leg in legs):
        raise ValueError("posted_view takes legs without engagements; read the entry with entry_view")
    return EntryView(
        id=entry.id, date=entry.date, memo=entry.memo, source_type=entry.source_type, source_ref=entry.source_ref,
        policy_version=entry.policy_version, reverses=entry.reverses_id, reversed_by=None, hash=entry.hash,
        prev_hash=entry.prev_hash, created_at=entry.created_at,
        postings=[PostingLine(leg.account, leg.amount, leg.commodity, leg.kind, None) for leg in legs],
        detail=[], reversible=reversal_refusal(entry.source_type, entry.reverses_id) is None)


def entry_list(session: Session, viewer: Viewer, *, after: int | None = None, before: int | None = None,
               account: str | None = None, start: dt.date | None = None, end: dt.date | None = None,
               engagement_id: int | None = None, limit: int = PAGE_SIZE, newest_first: bool = False) -> EntryPage:
    """A page of entries (without detail) with their postings: oldest first after ``after``, or
    newest first before ``before``; filtered by account (``ValidationError`` when it names no
    account), dates and engagement. A partner sees the engagement's entries (``engagement_id``)
    only, with other partners' capital aggregated; every other list is the treasurer's."""
    if not viewer.is_treasurer and engagement_id is None:
        raise Forbidden("the ledger's entries are the treasurer's", {"entries": ["treasurer only"]})
    q = select(Entry).options(selectinload(Entry.postings)).limit(limit + 1)
    q = q.order_by(Entry.id.desc() if newest_first else Entry.id)
    if after is not None:
        q = q.where(Entry.id > after)
    if before is not None:
        q = q.where(Entry.id < before)
    if account:
        # A name that is no account name (a NUL, which PostgreSQL cannot even compare) names no account.
        account_id = session.scalar(select(Account.id).where(Account.name == account)) \
            if ACCOUNT_RE.fullmatch(account) else None
        if account_id is None:
            raise ValidationError(f"no account {account}", {"account": ["no such account"]})
        q = q.where(Entry.id.in_(select(Posting.entry_id).where(Posting.account_id == account_id)))
    if engagement_id is not None:
        q = q.where(Entry.id.in_(select(Posting.entry_id).where(Posting.engagement_id == engagement_id)))
    if start:
        q = q.where(Entry.date >= start)
    if end:
        q = q.where(Entry.date <= end)
    rows = list(session.scalars(q))
    more = len(rows) > limit
    rows = rows[:limit]
    reversed_by = _reversed(session, [e.id for e in rows])
    views = [replace(v, reversed_by=reversed_by.get(v.id)) for v in _views(session, rows, set(reversed_by))]
    if not viewer.is_treasurer:
        capital = _Capital(session, viewer)
        views = [_mask(v, capital) for v in views]
    return EntryPage(views, more)


def accounts(session: Session) -> list[Account]:
    """The chart of accounts, by name."""
    return list(session.scalars(select(Account).order_by(Account.name)))
