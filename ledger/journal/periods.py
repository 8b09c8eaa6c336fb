"""The one place that says whether a business date may still be posted to.

Periods are rows created on demand, in sequence from the charter's ``starts_on``; a date before it
is refused, and a date in a closed period is a ``Conflict`` (HTTP 409). The close uses the same
functions, so "closed" means one thing everywhere.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.core import periods as P
from ledger.core.errors import Conflict, ValidationError
from ledger.practices.service import get_partnership
from ledger.revenue.models import Period


def last_closed_id(session: Session) -> str | None:
    return session.scalar(select(func.max(Period.id)).where(Period.status == "closed"))


def ensure_periods(session: Session, through: str) -> None:
    """Create the period rows from the first missing one up to ``through`` (inclusive)."""
    ps = get_partnership(session)
    kind = ps.period_kind
    last = session.scalar(select(func.max(Period.id)))
    first = P.next_period(last, kind) if last else P.period_id(ps.starts_on, kind)
    for pid in P.periods_between(first, through, kind):
        start, end = P.bounds(pid, kind)
        session.add(Period(id=pid, starts_on=start, ends_on=end, status="open"))
    session.flush()


def guard_open(session: Session, day: dt.date, field: str = "date") -> str:
    """Return the id of the open period ``day`` falls in, or refuse: before the partnership's
    start is a ``ValidationError``, a closed period a ``Conflict``."""
    ps = get_partnership(session)
    if day < ps.starts_on:
        raise ValidationError(
            f"{day.isoformat()} is before the partnership starts ({ps.starts_on.isoformat()})",
            {field: [f"before the partnership starts on {ps.starts_on.isoformat()}"]},
        )
    pid = P.period_id(day, ps.period_kind)
    closed = last_closed_id(session)
    if closed is not None and pid <= closed:
        raise Conflict(
            f"period {pid} is closed; {day.isoformat()} can no longer be posted to",
            {field: [f"period {pid} is closed"]},
        )
    ensure_periods(session, pid)
    return pid


def guard_dates(session: Session, days, field: str = "date") -> None:
    """``guard_open`` for many dates at once: one read of the partnership and the last closed
    period, and the period rows created once up to the latest date (the bulk posting path)."""
    ps = get_partnership(session)
    closed = last_closed_id(session)
    latest = None
    for day in sorted(set(days)):
        if day < ps.starts_on:
            raise ValidationError(
                f"{day.isoformat()} is before the partnership starts ({ps.starts_on.isoformat()})",
                {field: [f"before the partnership starts on {ps.starts_on.isoformat()}"]},
            )
        pid = P.period_id(day, ps.period_kind)
        if closed is not None and pid <= closed:
            raise Conflict(
                f"period {pid} is closed; {day.isoformat()} can no longer be posted to",
                {field: [f"period {pid} is closed"]},
            )
        latest = pid
    if latest is not None:
        ensure_periods(session, latest)
