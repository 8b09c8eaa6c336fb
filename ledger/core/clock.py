"""Where the time comes from (pure).

Services never call ``datetime.now()`` in the middle of a rule: they ask the clock they were given
(``ledger.db.clock_of(session)``: the unit of work carries it). The running app gives them the
system clock; tests and the demo give them a ``FixedClock`` they can move, so a year of proposals
can open and close on their historical dates and a test can say exactly what "now" is.

Every time is aware and in UTC; ``today()`` is the UTC date, the date governance counts vested
units on (CONTRACT §5).
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, aware, in UTC."""

    def today(self) -> dt.date:
        """The current UTC date."""


class SystemClock:
    """The machine's clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def today(self) -> dt.date:
        return self.now().date()


class FixedClock:
    """A clock that says what it is told: set it, or move it forward. For tests and the demo."""

    def __init__(self, at: dt.datetime):
        self.at = as_utc(at)

    def now(self) -> dt.datetime:
        return self.at

    def today(self) -> dt.date:
        return self.at.date()

    def set(self, at: dt.datetime) -> None:
        self.at = as_utc(at)

    def advance(self, **delta: float) -> dt.datetime:
        """Move forward by ``timedelta(**delta)`` (``advance(hours=25)``); returns the new time."""
        self.at = self.at + dt.timedelta(**delta)
        return self.at


SYSTEM_CLOCK = SystemClock()


def as_utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` in UTC. A naive time is taken as UTC already: SQLite hands stored times back
    naive (they were written in UTC); PostgreSQL hands them back aware."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def rfc3339(moment: dt.datetime | None) -> str | None:
    """A time as RFC 3339 in UTC with a ``Z`` (``2026-12-02T02:24:32Z``; microseconds kept when
    there are any). Every timestamp the API returns is written by this (CONTRACT §7)."""
    if moment is None:
        return None
    return as_utc(moment).isoformat().replace("+00:00", "Z")
