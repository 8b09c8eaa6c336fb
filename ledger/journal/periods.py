"""The books' settings and periods: the one place that says whether a business date may be posted to.

- ``get_books`` is what the journal knows of the partnership (currency, period kind, first day),
  written once by ``configure_books`` when the partnership is founded.
- Periods are rows created on demand, in sequence from ``starts_on``, by the writers that need
  them (``guard_dates``, the close). Reading them (``list_periods``) writes nothing: the periods
  not yet created are listed as they would be, open.
- ``guard_dates`` is the period guard every posting passes, before the chain's lock (to refuse
  early, naming the field) and again under it (so a close that commits first is always seen): a
  date before ``starts_on`` or more than ten years after today is a ``ValidationError``, a date in
  a closed period a ``Conflict`` (HTTP 409).
- ``parse_period`` turns a period id from a URL or a command into its bounds, or ``NotFound``
  for an id that is malformed or outside the partnership's years; ``parse_year`` does the same
  for a year (``2026``: its periods the partnership has).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.core import periods as P
from ledger.core.errors import Conflict, NotFound, ValidationError
from ledger.db import clock_of
from ledger.journal.facts import forget, journal_facts
from ledger.journal.models import Books, Period

#: How far past today a business date may be posted: every period up to it is created on posting.
MAX_FUTURE = dt.timedelta(days=3660)


def get_books(session: Session) -> Books:
    """The books' settings; ``Conflict`` when the partnership is not founded yet."""
    books = session.get(Books, 1)
    if books is None:
        raise Conflict("the partnership is not founded yet: run `ledger init CHARTER.toml`")
    return books


def books_currency(session: Session) -> str:
    """The books' currency, from the journal's cached facts once read (it is set at founding and
    never changes); ``Conflict`` before the partnership is founded, as ``get_books``."""
    facts = journal_facts(session)
    if facts.currency is None:
        facts.currency = get_books(session).currency
    return facts.currency


def configure_books(session: Session, *, currency: str, period_kind: str, starts_on: dt.date) -> Books:
    """Write the books' settings (once, at founding)."""
    if session.get(Books, 1) is not None:
        raise Conflict("the books are already configured")
    books = Books(id=1, currency=currency, period_kind=period_kind, starts_on=starts_on)
    session.add(books)
    session.flush()
    forget(session)  # the books are new: nothing cached of any before them holds
    return books


def last_closed_id(session: Session) -> str | None:
    return session.scalar(select(func.max(Period.id)).where(Period.status == "closed"))


def oldest_open(session: Session) -> str:
    """The period the next close must close."""
    books = get_books(session)
    closed = last_closed_id(session)
    return P.next_period(closed, books.period_kind) if closed else P.period_id(books.starts_on, books.period_kind)


def closed_through(session: Session) -> dt.date | None:
    """The last day of the last closed period (None while nothing is closed)."""
    closed = last_closed_id(session)
    return P.bounds(closed, get_books(session).period_kind)[1] if closed else None


def first_open_day(session: Session) -> dt.date:
    """The first date a posting may still carry: the day after the last closed period."""
    through = closed_through(session)
    return through + dt.timedelta(days=1) if through else get_books(session).starts_on


def ensure_periods(session: Session, through: str) -> None:
    """Create the period rows from the first missing one up to ``through`` (inclusive)."""
    books = get_books(session)
    kind = books.period_kind
    last = session.scalar(select(func.max(Period.id)))
    first = P.next_period(last, kind) if last else P.period_id(books.starts_on, kind)
    for pid in P.periods_between(first, through, kind):
        start, end = P.bounds(pid, kind)
        session.add(Period(id=pid, starts_on=start, ends_on=end, status="open"))
    session.flush()


@dataclass(frozen=True, slots=True)
class PeriodView:
    """A period as the API and the web list it."""

    id: str
    starts_on: dt.date
    ends_on: dt.date
    status: str
    closed_at: dt.datetime | None
    policy_version: int | None


def _view(row: Period) -> PeriodView:
    return PeriodView(row.id, row.starts_on, row.ends_on, row.status, row.closed_at, row.policy_version)


def list_periods(session: Session) -> list[PeriodView]:
    """Every period from the start to the oldest open one, oldest first. Writes nothing: the
    periods not created yet are listed open, as they are."""
    books = get_books(session)
    rows = [_view(p) for p in session.scalars(select(Period).order_by(Period.id))]
    known = {p.id for p in rows}
    for pid in P.periods_between(P.period_id(books.starts_on, books.period_kind), oldest_open(session),
                                 books.period_kind):
        if pid not in known:
            start, end = P.bounds(pid, books.period_kind)
            rows.append(PeriodView(pid, start, end, "open", None, None))
    return sorted(rows, key=lambda p: p.id)


def get_period(session: Session, pid: str) -> PeriodView:
    """One period by id, as ``list_periods`` shows it; ``NotFound`` outside the partnership's years."""
    pid, start, end = parse_period(session, pid)
    row = session.get(Period, pid)
    return _view(row) if row is not None else PeriodView(pid, start, end, "open", None, None)


def is_closed(session: Session, pid: str) -> bool:
    closed = last_closed_id(session)
    return closed is not None and pid <= closed


def parse_period(session: Session, pid: str) -> tuple[str, dt.date, dt.date]:
    """``(id, first day, last day)``; ``NotFound`` for a malformed id, or one outside the
    partnership's years (before ``starts_on``, or beyond the furthest a date may be posted)."""
    books = get_books(session)
    if not isinstance(pid, str) or not P.is_period_id(pid, books.period_kind):
        example = "2026-Q1" if books.period_kind == "quarter" else "2026-01"
        raise NotFound(f"{pid!r} is not a period id ({example})", {"period": ["malformed period id"]})
    try:
        start, end = P.bounds(pid, books.period_kind)
    except ValueError:  # a well-shaped id the calendar has not got (year 0000)
        raise NotFound(f"period {pid} is before the partnership starts", {"period": ["before the start"]}) from None
    if end < books.starts_on:
        raise NotFound(f"period {pid} is before the partnership starts", {"period": ["before the start"]})
    if start > clock_of(session).today() + MAX_FUTURE:
        raise NotFound(f"period {pid} is more than ten years ahead", {"period": ["too far ahead"]})
    return pid, start, end


def parse_year(session: Session, year: str) -> tuple[str, str]:
    """The first and last period ids of the partnership's ``year`` (``"2026"``) it has: from its
    start, up to the furthest a date may be posted; ``NotFound`` for a year outside them (``0000``,
    a year before ``starts_on`` or more than ten years ahead) or not four ASCII digits."""
    books = get_books(session)
    if not isinstance(year, str) or not P.is_year(year):
        raise NotFound(f"{year!r} is not a year (2026)", {"period": ["malformed year"]})
    number = int(year)
    horizon = clock_of(session).today() + MAX_FUTURE
    if number < books.starts_on.year or number > horizon.year:
        raise NotFound(f"the partnership has no periods in {year}", {"period": ["outside the partnership's years"]})
    first = max(dt.date(number, 1, 1), books.starts_on)
    last = min(dt.date(number, 12, 31), horizon)
    return P.period_id(first, books.period_kind), P.period_id(last, books.period_kind)


def guard_dates(session: Session, days: Iterable[dt.date], field: str = "date") -> None:
    """Refuse any date a posting may not carry (see the module docstring), then create the period
    rows up to the latest: one read of the books and of the last closed period for all of them."""
    books = get_books(session)
    closed = last_closed_id(session)
    horizon = clock_of(session).today() + MAX_FUTURE
    latest = None
    for day in sorted(set(days)):
        if day < books.starts_on:
            raise ValidationError(
                f"{day.isoformat()} is before the partnership starts ({books.starts_on.isoformat()})",
                {field: [f"before the partnership starts on {books.starts_on.isoformat()}"]},
            )
        if day > horizon:
            raise ValidationError(f"{day.isoformat()} is more than ten years ahead", {field: ["more than ten years ahead"]})
        pid = P.period_id(day, books.period_kind)
        if closed is not None and pid <= closed:
            raise Conflict(
                f"period {pid} is closed; {day.isoformat()} can no longer be posted to",
                {field: [f"period {pid} is closed"]},
            )
        latest = pid
    if latest is not None:
        ensure_periods(session, latest)


def guard_open(session: Session, day: dt.date, field: str = "date") -> str:
    """``guard_dates`` for one date; returns the id of the open period it falls in."""
    guard_dates(session, [day], field)
    return P.period_id(day, get_books(session).period_kind)


def mark_closed(session: Session, pid: str, policy_version: int | None, pool_basis: str | None = None) -> Period:
    """Record that ``pid`` is closed (the close calls this last, in its transaction), and make the
    next period's row."""
    ensure_periods(session, pid)
    period = session.get(Period, pid)
    period.status = "closed"
    period.closed_at = clock_of(session).now()
    period.policy_version = policy_version
    period.pool_basis = pool_basis
    session.flush()
    forget(session)  # the posting path's cached facts
    ensure_periods(session, P.next_period(pid, get_books(session).period_kind))
    return period


def closed_periods(session: Session) -> list[PeriodView]:
    """The closed periods, oldest first."""
    return [_view(p) for p in session.scalars(select(Period).where(Period.status == "closed").order_by(Period.id))]


def open_period_ids(session: Session, count: int = 12) -> list[str]:
    """The oldest open period and the ``count - 1`` after it (the choices for an effective period)."""
    kind = get_books(session).period_kind
    out = [oldest_open(session)]
    while len(out) < count:
        out.append(P.next_period(out[-1], kind))
    return out
