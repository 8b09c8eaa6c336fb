"""The partnership's income statement and practice economics (CONTRACT §10), read from the
journal's maintained account-month totals (``AccountMonthTotal``), never from the postings: a
range of twelve periods is a few rows per account and month, however many engagements they hold.

How each figure is read off the totals of the range's months, in the books' currency, close
entries set aside (they empty these same accounts into the partners' capital):
- ``revenue``: minus what engagement-tagged postings moved on ``Income:Practice:*``;
- ``direct_costs``: what engagement-tagged postings moved on ``Expenses:Direct:*``, of which
  ``subcontract`` the postings of kind ``subcontract`` (a cost paid to an outside firm);
- ``overhead``: every posting on ``Expenses:Overhead:*``, whoever booked it;
- ``unattributed``: minus the rest of ``Income:*`` and ``Expenses:*`` (CONTRACT §7);
- ``allocated``: what the closes of the range credited to the partners' capital (kinds origination,
  practice and pool); an open period has allocated nothing yet, its figures are provisional.

So ``margin − overhead + unattributed`` is exactly minus the movement of every ``Income:`` and
``Expenses:`` account over the range before the closes, and for a range of closed periods it equals
``allocated``: the tests hold both to the cent on random ledgers.

By firm (``by=firm``) the rows are the outside firms that worked in the range: the engagements with
a subcontract cost to the firm dated in it, their revenue and direct costs over the range (from the
engagement month totals), and what the firm was paid (its subcontract costs, less those reversed).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ledger.core import chart
from ledger.core import periods as P
from ledger.core.economics import Figures, nsa_status
from ledger.core.errors import NotFound, ValidationError
from ledger.core.money import ZERO
from ledger.core.vetting import VETTING_CRITERIA
from ledger.db import clock_of
from ledger.journal.models import Account, AccountMonthTotal, EngagementMonthTotal, Entry, Period
from ledger.journal.periods import get_books, oldest_open, parse_period
from ledger.practices.models import Cost, Engagement, Firm, Partnership, Practice

GROUPINGS = ("practice", "firm", "period")
ALLOCATION_KINDS = ("origination", "practice", "pool")
REVENUE, DIRECT, OVERHEAD, CAPITAL = "Income:Practice:", "Expenses:Direct:", "Expenses:Overhead:", "Equity:Capital:"


@dataclass(frozen=True, slots=True)
class IncomeRow:
    """One row of the statement: a practice, a firm or a period (``key``) and its figures."""

    key: str
    name: str
    figures: Figures
    #: By period: whether the period is still open (its figures may change). Else None.
    provisional: bool | None = None


@dataclass(frozen=True, slots=True)
class IncomeStatement:
    """The income statement of the periods ``first``..``last`` grouped ``by``; ``totals`` are the
    partnership's whatever the grouping."""

    first: str
    last: str
    by: str
    currency: str
    periods: list[tuple[str, str]]  # (id, open|closed)
    rows: list[IncomeRow]
    totals: Figures
    overhead: Decimal
    unattributed: Decimal
    allocated: Decimal
    partnership: str = ""

    @property
    def net_income(self) -> Decimal:
        """What the range leaves to share: margin − overhead + unattributed."""
        return self.totals.margin - self.overhead + self.unattributed

    @property
    def provisional(self) -> list[str]:
        return [pid for pid, status in self.periods if status == "open"]


@dataclass
class _Sums:
    revenue: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    direct: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    subcontract: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    overhead: Decimal = ZERO
    unattributed: Decimal = ZERO
    allocated: Decimal = ZERO

    def figures(self, key: str) -> Figures:
        return Figures(self.revenue.get(key, ZERO), self.direct.get(key, ZERO), self.subcontract.get(key, ZERO))


def resolve_range(session: Session, first: str | None, last: str | None) -> tuple[str, str, dt.date, dt.date]:
    """The range's first and last period and days. ``last`` defaults to the oldest open period,
    ``first`` to the first period of ``last``'s year (or the partnership's first). A malformed id
    or one outside the partnership's years is a 404; ``first`` after ``last`` is a 422."""
    books = get_books(session)
    last = last or oldest_open(session)
    last, _, end = parse_period(session, last)
    if first is None:
        first = max(P.period_id(dt.date(end.year, 1, 1), books.period_kind),
                    P.period_id(books.starts_on, books.period_kind))
    first, start, _ = parse_period(session, first)
    if first > last:
        raise ValidationError(f"the range starts ({first}) after it ends ({last})", {"from": ["after to"]})
    return first, last, start, end


def _month_rows(session: Session, start: dt.date, end: dt.date, currency: str):
    """``(month, account name, is close, kind, tagged, amount)`` summed off the maintained totals."""
    t = AccountMonthTotal
    is_close = t.source_type == "close"
    return session.execute(
        select(t.month, Account.name, is_close, t.kind, t.tagged, func.sum(t.balance))
        .join(Account, Account.id == t.account_id)
        .where(t.month >= f"{start:%Y-%m}", t.month <= f"{end:%Y-%m}", t.commodity == currency,
               or_(Account.name.like("Income:%"), Account.name.like("Expenses:%"),
                   Account.name.like(f"{CAPITAL}%") & is_close))
        .group_by(t.month, Account.name, is_close, t.kind, t.tagged)).all()


def _sums(session: Session, start: dt.date, end: dt.date, currency: str, key_of) -> _Sums:
    """Classify the totals (the module docstring), keyed by ``key_of(month, practice code)``."""
    practice_of = {}
    for code in session.scalars(select(Practice.code)):
        practice_of[chart.revenue(code)] = practice_of[chart.direct_costs(code)] = code
    sums = _Sums()
    for month, name, is_close, kind, tagged, amount in _month_rows(session, start, end, currency):
        if is_close:
            if name.startswith(CAPITAL) and kind in ALLOCATION_KINDS:
                sums.allocated -= amount
        elif tagged and name.startswith(REVENUE) and name in practice_of:
            sums.revenue[key_of(month, practice_of[name])] -= amount
        elif tagged and name.startswith(DIRECT) and name in practice_of:
            key = key_of(month, practice_of[name])
            sums.direct[key] += amount
            if kind == "subcontract":
                sums.subcontract[key] += amount
        elif name.startswith(OVERHEAD):
            sums.overhead += amount
        elif not name.startswith(CAPITAL):
            sums.unattributed -= amount
    return sums


def income_statement(session: Session, first: str | None = None, last: str | None = None,
                     by: str = "practice") -> IncomeStatement:
    """The income statement of periods ``first``..``last`` (CONTRACT §10), rows ``by`` practice,
    firm or period. Writes nothing."""
    if by not in GROUPINGS:
        raise ValidationError(f"by must be one of {', '.join(GROUPINGS)}", {"by": [f"one of {', '.join(GROUPINGS)}"]})
    books = get_books(session)
    currency, kind = books.currency, books.period_kind
    first, last, start, end = resolve_range(session, first, last)
    ids = P.periods_between(first, last, kind)
    closed = set(session.scalars(select(Period.id).where(Period.id >= first, Period.id <= last,
                                                        Period.status == "closed")))
    period_of: dict[str, str] = {}

    def by_period(month: str, _practice: str) -> str:
        pid = period_of.get(month)
        if pid is None:
            pid = period_of[month] = P.period_id(dt.date.fromisoformat(f"{month}-01"), kind)
        return pid

    sums = _sums(session, start, end, currency, by_period if by == "period" else (lambda _m, practice: practice))
    keys = set(sums.revenue) | set(sums.direct)
    totals = sum((sums.figures(k) for k in keys), Figures())
    if by == "practice":
        names = dict(session.execute(select(Practice.code, Practice.name).order_by(Practice.code)).all())
        rows = [IncomeRow(code, name, sums.figures(code)) for code, name in names.items()]
    elif by == "period":
        rows = [IncomeRow(pid, pid, sums.figures(pid), pid not in closed) for pid in ids]
    else:
        rows = [IncomeRow(code, name, figures) for code, name, figures in firm_figures(session, start, end)]
    name = session.scalar(select(Partnership.name)) or ""
    return IncomeStatement(first, last, by, currency, [(pid, "closed" if pid in closed else "open") for pid in ids],
                           rows, totals, sums.overhead, sums.unattributed, sums.allocated, name)


def practice_months(session: Session, code: str, first: str | None = None,
                    last: str | None = None) -> list[tuple[str, Figures]]:
    """One practice's figures month by month over the range (its page's chart)."""
    books = get_books(session)
    first, last, start, end = resolve_range(session, first, last)
    sums = _sums(session, start, end, books.currency, lambda month, practice: f"{practice}\t{month}")
    months = [f"{d:%Y-%m}" for d in _month_starts(start, end)]
    return [(m, sums.figures(f"{code}\t{m}")) for m in months]


def _month_starts(start: dt.date, end: dt.date):
    day = dt.date(start.year, start.month, 1)
    while day <= end:
        yield day
        day = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _paid(session: Session, start: dt.date, end: dt.date, firm_id: int | None = None):
    """``{(firm id, engagement id): paid}``: subcontract costs dated in ``[start, end]``, less
    those whose reversal is dated in it."""
    paid: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    q = (select(Cost.firm_id, Cost.engagement_id, func.sum(Cost.amount))
         .where(Cost.kind == "subcontract", Cost.firm_id.is_not(None), Cost.date >= start, Cost.date <= end)
         .group_by(Cost.firm_id, Cost.engagement_id))
    r = (select(Cost.firm_id, Cost.engagement_id, func.sum(Cost.amount))
         .join(Entry, Entry.reverses_id == Cost.entry_id)
         .where(Cost.kind == "subcontract", Cost.firm_id.is_not(None), Entry.date >= start, Entry.date <= end)
         .group_by(Cost.firm_id, Cost.engagement_id))
    if firm_id is not None:
        q, r = q.where(Cost.firm_id == firm_id), r.where(Cost.firm_id == firm_id)
    for f, e, amount in session.execute(q):
        paid[(f, e)] += amount
    for f, e, amount in session.execute(r):
        paid[(f, e)] -= amount
    return paid


def _engagement_figures(session: Session, start: dt.date, end: dt.date, engagement_ids: set[int]
                        ) -> dict[int, tuple[Decimal, Decimal]]:
    """``{engagement id: (revenue, direct costs)}`` over the months of ``[start, end]``."""
    if not engagement_ids:
        return {}
    t = EngagementMonthTotal
    worked = (select(Cost.engagement_id).where(Cost.kind == "subcontract", Cost.firm_id.is_not(None))
              .distinct().scalar_subquery())
    out: dict[int, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for eng, name, amount in session.execute(
            select(t.engagement_id, Account.name, func.sum(t.balance)).join(Account, Account.id == t.account_id)
            .where(t.month >= f"{start:%Y-%m}", t.month <= f"{end:%Y-%m}", t.engagement_id.in_(worked),
                   t.commodity == get_books(session).currency,
                   or_(Account.name.like(f"{REVENUE}%"), Account.name.like(f"{DIRECT}%")))
            .group_by(t.engagement_id, Account.name)):
        if eng in engagement_ids:
            if name.startswith(REVENUE):
                out[eng][0] -= amount
            else:
                out[eng][1] += amount
    return {e: (v[0], v[1]) for e, v in out.items()}


def firm_figures(session: Session, start: dt.date, end: dt.date) -> list[tuple[str, str, Figures]]:
    """``(code, name, figures)`` for every outside firm: the revenue and direct costs of the
    engagements it worked in the range and what it was paid (its subcontract share)."""
    paid = _paid(session, start, end)
    engagements = _engagement_figures(session, start, end, {e for _, e in paid})
    out = []
    for firm_id, code, name in session.execute(select(Firm.id, Firm.code, Firm.name).order_by(Firm.code)):
        figures = Figures()
        for (f, e), amount in paid.items():
            if f == firm_id:
                revenue, costs = engagements.get(e, (ZERO, ZERO))
                figures = figures + Figures(revenue, costs, amount)
        out.append((code, name, figures))
    return out


@dataclass(frozen=True, slots=True)
class FirmWork:
    """One engagement an outside firm worked on, to date."""

    ref: str
    title: str
    practice: str
    paid: Decimal
    figures: Figures


@dataclass(frozen=True, slots=True)
class FirmView:
    """An outside firm as the firms list and its page show it."""

    code: str
    name: str
    vetted: list[str]
    missing: list[str]
    nsa_signed_on: dt.date | None
    nsa_expires_on: dt.date | None
    nsa_status: str
    #: Days until the NSA's last day (negative once past), or None without an agreement.
    nsa_days_left: int | None


def _firm_view(f: Firm, today: dt.date) -> FirmView:
    vetted = f.vetted_list
    return FirmView(f.code, f.name, [c for c in VETTING_CRITERIA if c in vetted],
                    [c for c in VETTING_CRITERIA if c not in vetted], f.nsa_signed_on, f.nsa_expires_on,
                    nsa_status(f.nsa_signed_on, f.nsa_expires_on, today),
                    (f.nsa_expires_on - today).days if f.nsa_expires_on else None)


def firms(session: Session) -> list[FirmView]:
    """Every outside firm with its criteria and its NSA's status today (the session's clock)."""
    today = clock_of(session).today()
    return [_firm_view(f, today) for f in session.scalars(select(Firm).order_by(Firm.code))]


def nsa_watch(session: Session) -> list[FirmView]:
    """The firms whose NSA expires within 60 days (the treasurer's home flags them)."""
    return [f for f in firms(session) if f.nsa_status == "expires_soon"]


def firm(session: Session, code: str) -> tuple[FirmView, list[FirmWork]]:
    """One firm and every engagement it worked on to date: what it was paid and the engagement's
    revenue, direct costs and margin."""
    row = session.scalar(select(Firm).where(Firm.code == code))
    if row is None:
        raise NotFound(f"no firm {code!r}")
    start, end = get_books(session).starts_on, dt.date.max
    paid = _paid(session, start, end, row.id)
    ids = {e for _, e in paid}
    engagements = _engagement_figures(session, start, end, ids)
    refs = {e.id: e for e in session.scalars(select(Engagement).where(Engagement.id.in_(sorted(ids))))} if ids else {}
    work = [FirmWork(refs[e].ref, refs[e].title, refs[e].practice.code, amount,
                     Figures(*engagements.get(e, (ZERO, ZERO)), amount))
            for (_f, e), amount in sorted(paid.items(), key=lambda kv: refs[kv[0][1]].ref)]
    return _firm_view(row, clock_of(session).today()), work
