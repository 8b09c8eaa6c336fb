"""Period arithmetic (pure): ids, bounds and order for monthly and quarterly periods.

Ids are ``YYYY-MM`` for months and ``YYYY-Qn`` for quarters; both sort as strings in time order.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

MONTH_RE = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")
QUARTER_RE = re.compile(r"([0-9]{4})-Q([1-4])")
YEAR_RE = re.compile(r"[0-9]{4}")


def period_id(day: dt.date, kind: str) -> str:
    if kind == "quarter":
        return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"
    return f"{day.year:04d}-{day.month:02d}"


def is_period_id(text: str, kind: str) -> bool:
    return isinstance(text, str) and (QUARTER_RE if kind == "quarter" else MONTH_RE).fullmatch(text) is not None


def is_year(text: str) -> bool:
    """Four ASCII digits, a year the calendar has (``0000`` is not one)."""
    return isinstance(text, str) and YEAR_RE.fullmatch(text) is not None and int(text) >= 1


def bounds(pid: str, kind: str) -> tuple[dt.date, dt.date]:
    """First and last day of the period ``pid``. Raises ``ValueError`` for a malformed id."""
    if kind == "quarter":
        m = QUARTER_RE.fullmatch(pid)
        if not m:
            raise ValueError(f"{pid!r} is not a quarter id like 2026-Q1")
        year, q = int(m.group(1)), int(m.group(2))
        first_month, last_month = 3 * q - 2, 3 * q
    else:
        m = MONTH_RE.fullmatch(pid)
        if not m:
            raise ValueError(f"{pid!r} is not a month id like 2026-01")
        year, first_month = int(m.group(1)), int(m.group(2))
        last_month = first_month
    last_day = calendar.monthrange(year, last_month)[1]
    return dt.date(year, first_month, 1), dt.date(year, last_month, last_day)


def next_period(pid: str, kind: str) -> str:
    return period_id(bounds(pid, kind)[1] + dt.timedelta(days=1), kind)


def previous_period(pid: str, kind: str) -> str:
    return period_id(bounds(pid, kind)[0] - dt.timedelta(days=1), kind)


def periods_between(first: str, last: str, kind: str) -> list[str]:
    """Every period id from ``first`` to ``last`` inclusive (empty if ``last`` < ``first``)."""
    out = []
    pid = first
    while pid <= last:
        out.append(pid)
        pid = next_period(pid, kind)
    return out
