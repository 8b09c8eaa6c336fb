"""Vesting rules (pure): what a grant has vested on a date, and the dated schedule of its tranches.

No Flask, no SQLAlchemy: the inputs are frozen dataclasses, the outputs plain values, so pool
weights, voting weights, the period close, the API and the OCF export all read one formula.

The formula (CONTRACT §5), for a grant of ``units`` starting on ``start``::

    vested(d) = 0                                                  before cliff_months whole months
              = ⌊units · min(months, ⌊m/every⌋·every) / months⌋    from then on

where ``m`` is the number of whole months elapsed (``months_elapsed``): a month is complete on the
same day of month, or on the month's last day when that month is shorter (a start on 2026-01-31
completes month 1 on 2026-02-28 and month 2 on 2026-03-31). Units round *down*, cumulatively, so
a tranche is the difference of two floors and the last tranche makes the total exact. A founder's
grant (``months == 0``) is wholly vested on ``start``. Nothing is vested before ``start``.

Dated events change the schedule without editing the grant:

- **Pause** (leave of absence) ``[start, end]``, both days included, ``end`` optional (still on
  leave). Vesting time stops during a pause. The rule: months are counted on the *vesting clock*
  ``c(d) = d − (paused days on or before d)``, i.e. ``m = months_elapsed(grant start, c(d))``.
  So a pause of N days moves every later tranche exactly N calendar days later (a tranche due on the
  first day of a pause falls on the day after it ends), and an open-ended pause stops vesting
  until it is given an end. Pauses may not start before the grant nor overlap each other, and a
  founder's grant (``months == 0``, vested in full on ``start``) has nothing to pause.
- **Acceleration** ``(date, quantity, reason)``: ``quantity`` more units vest on ``date``, taken from
  the *next* tranches: those vest nothing until the normal schedule catches up with the accelerated
  total, so the grant's total never changes and is reached on the same final date. The quantity may
  not exceed what is unvested on that date.
- **Leave** (``leave_on``, the partner's last day): tranches up to and including that day vest,
  nothing vests after it, and the units still unvested are forfeited after that day
  (``forfeited(d)`` for ``d > leave_on``).

Invariants (property-tested in ``tests/test_vesting.py``): ``vested`` is non-decreasing in time,
0 before the cliff, never above ``units``, equal to ``units`` once the schedule ends (absent a
leave or an open pause); without accelerations it changes only on multiples of ``every`` months
(of vesting time) after the cliff; ``schedule`` lists exactly the dates it changes and its
cumulative column is ``vested`` on each.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ledger.core.errors import ValidationError

ONE_DAY = dt.timedelta(days=1)


# --- calendar months ---------------------------------------------------------------------------


def add_months(start: dt.date, k: int) -> dt.date:
    """``start`` moved ``k`` calendar months on, the day clamped to the month's last day.

    Always counted from ``start`` itself (never month to month), so a start on the 31st gives
    Feb 28, Mar 31, Apr 30, …
    """
    years, month0 = divmod(start.month - 1 + k, 12)
    year = start.year + years
    month = month0 + 1
    return dt.date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def months_elapsed(start: dt.date, d: dt.date) -> int:
    """Whole months from ``start`` to ``d``: the largest ``k`` with ``add_months(start, k) <= d``
    (0 when ``d`` is before ``start``)."""
    if d <= start:
        return 0
    k = (d.year - start.year) * 12 + d.month - start.month
    if add_months(start, k) > d:
        k -= 1
    return k


# --- inputs and outputs ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pause:
    """A leave of absence: vesting time stops from ``start`` to ``end`` inclusive (``end`` None:
    still on leave)."""

    start: dt.date
    end: dt.date | None = None

    def paused_days(self, through: dt.date) -> int:
        """Days of this pause on or before ``through``."""
        if through < self.start:
            return 0
        last = through if self.end is None else min(self.end, through)
        return (last - self.start).days + 1


@dataclass(frozen=True, slots=True)
class Acceleration:
    """``quantity`` units vest on ``date`` ahead of schedule, for ``reason``; taken from the next
    tranches."""

    date: dt.date
    quantity: int
    reason: str


@dataclass(frozen=True, slots=True)
class ScheduleEvent:
    """A date the vested amount changes: ``units`` vest that day, ``cumulative`` vested after it.
    Unpacks as ``(date, units, cumulative)``."""

    date: dt.date
    units: int
    cumulative: int

    def __iter__(self) -> Iterator:
        return iter((self.date, self.units, self.cumulative))


@dataclass(frozen=True, slots=True)
class GrantTerms:
    """A grant and the dated events that shape its schedule. Validated on construction: a bad
    value raises ``ValidationError`` naming the field (``units``, ``cliff_months``,
    ``pauses[1].start``, ``accelerations[0].quantity``, …)."""

    #: Units granted, > 0.
    units: int
    #: The vesting commencement date.
    start: dt.date
    #: Whole months before anything vests (≤ ``months``).
    cliff_months: int = 0
    #: Length of the grant in months; 0 for a founder's units, vested on ``start``.
    months: int = 0
    #: Cadence in months: 1 monthly, 3 quarterly.
    every: int = 1
    pauses: tuple[Pause, ...] = field(default=())
    accelerations: tuple[Acceleration, ...] = field(default=())
    #: The partner's last day: nothing vests after it, and the unvested rest is forfeited.
    leave_on: dt.date | None = None

    def __post_init__(self) -> None:
        # Lists are accepted for convenience but stored as tuples so the terms stay hashable.
        object.__setattr__(self, "pauses", tuple(self.pauses))
        object.__setattr__(self, "accelerations", tuple(self.accelerations))
        _validate(self)

    @property
    def is_founder(self) -> bool:
        return self.months == 0


def make_terms(*, field_prefix: str = "", **kwargs) -> GrantTerms:
    """``GrantTerms(**kwargs)``, with every error field prefixed (``grant.units``) for callers that
    validate a nested payload."""
    try:
        return GrantTerms(**kwargs)
    except ValidationError as exc:
        if not field_prefix:
            raise
        raise ValidationError(exc.detail, {f"{field_prefix}.{k}": v for k, v in exc.errors.items()}) from None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_date(value) -> bool:
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def _validate(t: GrantTerms) -> None:
    errors: dict[str, list[str]] = {}

    def err(name: str, msg: str) -> None:
        errors.setdefault(name, []).append(msg)

    if not _is_int(t.units) or t.units <= 0:
        err("units", "must be a whole number of units greater than 0")
    if not _is_date(t.start):
        err("start", "must be a date")
    if not _is_int(t.months) or t.months < 0:
        err("months", "must be a whole number of months, 0 or more")
    if not _is_int(t.every) or t.every < 1:
        err("every", "must be a whole number of months, 1 or more")
    if not _is_int(t.cliff_months) or t.cliff_months < 0:
        err("cliff_months", "must be a whole number of months, 0 or more")
    elif _is_int(t.months) and t.cliff_months > t.months:
        err("cliff_months", f"the cliff ({t.cliff_months} months) is longer than the grant ({t.months} months)")
    if t.leave_on is not None and not _is_date(t.leave_on):
        err("leave_on", "must be a date")
    if errors:
        raise ValidationError("the grant's terms are not valid", errors)

    if t.is_founder and t.pauses:
        err("pauses", "a founder's units vest in full on the start: there is nothing to pause")
    for i, p in enumerate(t.pauses):
        if not isinstance(p, Pause) or not _is_date(p.start) or (p.end is not None and not _is_date(p.end)):
            err(f"pauses[{i}]", "must be a pause with a start date and an optional end date")
        elif p.start < t.start:
            err(f"pauses[{i}].start", f"a pause cannot start before the grant does ({t.start.isoformat()})")
        elif p.end is not None and p.end < p.start:
            err(f"pauses[{i}].end", "a pause cannot end before it starts")
    if not errors:
        ordered = sorted(range(len(t.pauses)), key=lambda i: t.pauses[i].start)
        for a, b in zip(ordered, ordered[1:], strict=False):
            first, second = t.pauses[a], t.pauses[b]
            if first.end is None or second.start <= first.end:
                err(f"pauses[{b}]", f"overlaps pauses[{a}] (a partner is on one leave at a time)")
    if errors:
        raise ValidationError("a pause is not valid", errors)

    level = 0
    order = sorted(range(len(t.accelerations)), key=lambda i: t.accelerations[i].date)
    for i in order:
        a = t.accelerations[i]
        if not isinstance(a, Acceleration) or not _is_date(a.date):
            err(f"accelerations[{i}]", "must be an acceleration with a date, a quantity and a reason")
            continue
        if not _is_int(a.quantity) or a.quantity <= 0:
            err(f"accelerations[{i}].quantity", "must be a whole number of units greater than 0")
            continue
        if not isinstance(a.reason, str) or not a.reason.strip():
            err(f"accelerations[{i}].reason", "give the reason for the acceleration")
        if a.date < t.start:
            err(f"accelerations[{i}].date", f"before the grant starts ({t.start.isoformat()})")
            continue
        if t.leave_on is not None and a.date > t.leave_on:
            err(f"accelerations[{i}].date", f"after the partner's last day ({t.leave_on.isoformat()})")
            continue
        level = max(level, _base_vested(t, a.date))
        unvested = t.units - level
        if a.quantity > unvested:
            err(f"accelerations[{i}].quantity",
                f"{a.quantity} is more than the {unvested} units unvested on {a.date.isoformat()}")
            continue
        level += a.quantity
    if errors:
        raise ValidationError("an acceleration is not valid", errors)


# --- the formula -------------------------------------------------------------------------------


def vesting_clock(terms: GrantTerms, d: dt.date) -> dt.date:
    """The date on which months are counted: ``d`` shifted back by the paused days up to it."""
    paused = sum(p.paused_days(d) for p in terms.pauses)
    return d - dt.timedelta(days=paused)


def _cumulative_for_months(terms: GrantTerms, m: int) -> int:
    """The contract's formula for ``m`` whole months of vesting time (a grant, not a founder)."""
    if m < terms.cliff_months:
        return 0
    vesting_months = min(terms.months, (m // terms.every) * terms.every)
    return terms.units * vesting_months // terms.months


def _base_vested(terms: GrantTerms, d: dt.date) -> int:
    """Vested by the formula and pauses alone (no accelerations, no leave)."""
    if d < terms.start:
        return 0
    if terms.is_founder:
        return terms.units
    return _cumulative_for_months(terms, months_elapsed(terms.start, vesting_clock(terms, d)))


def _accelerated_level(terms: GrantTerms, d: dt.date) -> int:
    """The vested total the accelerations on or before ``d`` guarantee: at each acceleration the
    level rises to the normal schedule then by the quantity; the next tranches fill it first."""
    level = 0
    for a in sorted(terms.accelerations, key=lambda a: a.date):
        if a.date > d:
            break
        level = max(level, _base_vested(terms, a.date)) + a.quantity
    return level


def vested(terms: GrantTerms, d: dt.date) -> int:
    """Units vested on ``d`` (tranches dated ``d`` included)."""
    if terms.leave_on is not None and d > terms.leave_on:
        d = terms.leave_on
    return max(_base_vested(terms, d), _accelerated_level(terms, d))


def forfeited(terms: GrantTerms, d: dt.date) -> int:
    """Units forfeited by ``d``: the units unvested at the end of the partner's last day, from the
    day after it."""
    if terms.leave_on is None or d <= terms.leave_on:
        return 0
    return terms.units - vested(terms, terms.leave_on)


def unvested(terms: GrantTerms, d: dt.date) -> int:
    """Units granted, not yet vested and not forfeited, on ``d``."""
    return terms.units - vested(terms, d) - forfeited(terms, d)


def _first_date_clock_reaches(terms: GrantTerms, target: dt.date) -> dt.date | None:
    """The first calendar date whose vesting clock is on or after ``target`` (None: never, an
    open-ended pause stops the clock first)."""
    d = target
    while True:
        c = vesting_clock(terms, d)
        if c >= target:
            return d
        if any(p.end is None and p.start <= d for p in terms.pauses):
            return None
        # The clock advances at most one day per day, so the answer is at least this far on.
        d += target - c


def _base_change_dates(terms: GrantTerms) -> list[dt.date]:
    """The dates the formula-with-pauses may change: the start for a founder, else the cliff and
    each later multiple of ``every`` months of vesting time up to the end of the grant."""
    if terms.is_founder:
        return [terms.start]
    end_month = -(-terms.months // terms.every) * terms.every  # the first multiple of every ≥ months
    ks = [terms.cliff_months] + [k for k in range(terms.every, end_month + 1, terms.every) if k > terms.cliff_months]
    out = []
    for k in ks:
        when = _first_date_clock_reaches(terms, add_months(terms.start, k))
        if when is None:
            break
        out.append(when)
    return out


def schedule(terms: GrantTerms) -> list[ScheduleEvent]:
    """Every date the vested amount changes, in order, with the units vesting that day and the
    cumulative total. The first tranche at the cliff carries everything accrued until then; dates
    after the partner's last day are not listed."""
    candidates = set(_base_change_dates(terms)) | {a.date for a in terms.accelerations}
    if terms.leave_on is not None:
        candidates = {d for d in candidates if d <= terms.leave_on}
    events: list[ScheduleEvent] = []
    previous = 0
    for d in sorted(candidates):
        total = vested(terms, d)
        if total > previous:
            events.append(ScheduleEvent(d, total - previous, total))
            previous = total
    return events


def next_vesting_date(terms: GrantTerms, d: dt.date) -> dt.date | None:
    """The first date after ``d`` on which units vest (None when nothing more will)."""
    return next((e.date for e in schedule(terms) if e.date > d), None)


def merge_schedules(schedules: Sequence[Sequence[ScheduleEvent]]) -> list[ScheduleEvent]:
    """Several grants' schedules as one: units summed per date, cumulative over all of them."""
    per_date: dict[dt.date, int] = {}
    for events in schedules:
        for e in events:
            per_date[e.date] = per_date.get(e.date, 0) + e.units
    out, total = [], 0
    for d in sorted(per_date):
        total += per_date[d]
        out.append(ScheduleEvent(d, per_date[d], total))
    return out


def is_regular(terms: GrantTerms) -> bool:
    """True when the schedule is the plain formula on the calendar (no pauses, no accelerations),
    with the cliff and the length whole multiples of the cadence: expressible as a cliff plus
    equal relative monthly tranches (OCF vesting terms). Otherwise it is exported as explicit
    dated vestings."""
    if terms.is_founder:
        return True
    return (not terms.pauses and not terms.accelerations
            and terms.cliff_months % terms.every == 0 and terms.months % terms.every == 0)
