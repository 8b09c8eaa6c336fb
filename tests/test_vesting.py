"""The vesting formula (CONTRACT §5) and its dated events: worked dates, properties, bad input.

Pure: no app, no database.
"""

from __future__ import annotations

import calendar
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ledger.core.errors import ValidationError
from ledger.core.vesting import (
    Acceleration,
    GrantTerms,
    Pause,
    ScheduleEvent,
    add_months,
    forfeited,
    make_terms,
    months_elapsed,
    next_vesting_date,
    schedule,
    unvested,
    vested,
)

D = dt.date
DAY = dt.timedelta(days=1)
STANDARD = GrantTerms(units=4800, start=D(2026, 1, 1), cliff_months=12, months=48, every=1)
QUARTERLY = GrantTerms(units=1000, start=D(2026, 1, 1), cliff_months=6, months=24, every=3)
MONTH_END = GrantTerms(units=1200, start=D(2026, 1, 31), cliff_months=1, months=12, every=1)


# --- worked dates (also in the README) ---------------------------------------------------------

WORKED = [
    # 4800 units from 2026-01-01, 12-month cliff, 48 months, monthly
    (STANDARD, D(2025, 12, 31), 0),
    (STANDARD, D(2026, 1, 1), 0),
    (STANDARD, D(2026, 12, 31), 0),
    (STANDARD, D(2027, 1, 1), 1200),
    (STANDARD, D(2027, 1, 31), 1200),
    (STANDARD, D(2027, 2, 1), 1300),
    (STANDARD, D(2029, 12, 31), 4700),
    (STANDARD, D(2030, 1, 1), 4800),
    (STANDARD, D(2040, 1, 1), 4800),
    # 1000 units, 6-month cliff, 24 months, quarterly: ⌊1000·6/24⌋ at the cliff, then 125 a quarter
    (QUARTERLY, D(2026, 6, 30), 0),
    (QUARTERLY, D(2026, 7, 1), 250),
    (QUARTERLY, D(2026, 9, 30), 250),
    (QUARTERLY, D(2026, 10, 1), 375),
    (QUARTERLY, D(2027, 12, 31), 875),
    (QUARTERLY, D(2028, 1, 1), 1000),
    # 1200 units from 2026-01-31, 1-month cliff, 12 months: month ends clamp
    (MONTH_END, D(2026, 2, 27), 0),
    (MONTH_END, D(2026, 2, 28), 100),
    (MONTH_END, D(2026, 3, 30), 100),
    (MONTH_END, D(2026, 3, 31), 200),
    (MONTH_END, D(2026, 4, 30), 300),
    (MONTH_END, D(2027, 1, 30), 1100),
    (MONTH_END, D(2027, 1, 31), 1200),
    # a founder: everything on the start
    (GrantTerms(units=500, start=D(2026, 1, 1)), D(2025, 12, 31), 0),
    (GrantTerms(units=500, start=D(2026, 1, 1)), D(2026, 1, 1), 500),
    # floors: 1000 units over 48 months vest 20 or 21 a month, cumulatively rounded down
    (GrantTerms(units=1000, start=D(2026, 1, 1), months=48), D(2026, 2, 1), 20),
    (GrantTerms(units=1000, start=D(2026, 1, 1), months=48), D(2026, 3, 1), 41),
    # length not a multiple of the cadence: 10 months quarterly end at 12 months (formula's min)
    (GrantTerms(units=100, start=D(2026, 1, 1), months=10, every=3), D(2026, 10, 1), 90),
    (GrantTerms(units=100, start=D(2026, 1, 1), months=10, every=3), D(2026, 12, 31), 90),
    (GrantTerms(units=100, start=D(2026, 1, 1), months=10, every=3), D(2027, 1, 1), 100),
]


@pytest.mark.parametrize("terms,on,expected", WORKED)
def test_worked_dates(terms, on, expected):
    assert vested(terms, on) == expected
    assert unvested(terms, on) == terms.units - expected


@pytest.mark.parametrize("start,on,months", [
    (D(2026, 1, 31), D(2026, 2, 27), 0),
    (D(2026, 1, 31), D(2026, 2, 28), 1),
    (D(2026, 1, 31), D(2026, 3, 30), 1),
    (D(2026, 1, 31), D(2026, 3, 31), 2),
    (D(2026, 1, 31), D(2026, 4, 30), 3),
    (D(2024, 1, 30), D(2024, 2, 29), 1),
    (D(2024, 2, 29), D(2025, 2, 28), 12),
    (D(2024, 2, 29), D(2025, 2, 27), 11),
    (D(2026, 1, 15), D(2026, 1, 14), 0),
    (D(2026, 1, 15), D(2025, 1, 1), 0),
])
def test_months_elapsed_complete_on_the_same_day_or_the_last_day_of_a_shorter_month(start, on, months):
    assert months_elapsed(start, on) == months


def test_the_schedule_lists_the_cliff_tranche_then_each_month():
    events = schedule(STANDARD)
    assert events[0] == ScheduleEvent(D(2027, 1, 1), 1200, 1200)
    assert tuple(events[1]) == (D(2027, 2, 1), 100, 1300)
    assert events[-1] == ScheduleEvent(D(2030, 1, 1), 100, 4800)
    assert len(events) == 37
    assert next_vesting_date(STANDARD, D(2026, 6, 1)) == D(2027, 1, 1)
    assert next_vesting_date(STANDARD, D(2027, 1, 1)) == D(2027, 2, 1)
    assert next_vesting_date(STANDARD, D(2030, 1, 1)) is None


def test_quarterly_schedule_dates():
    assert [(e.date, e.units) for e in schedule(QUARTERLY)] == [
        (D(2026, 7, 1), 250), (D(2026, 10, 1), 125), (D(2027, 1, 1), 125), (D(2027, 4, 1), 125),
        (D(2027, 7, 1), 125), (D(2027, 10, 1), 125), (D(2028, 1, 1), 125)]


def test_a_pause_moves_later_tranches_by_the_paused_days():
    # Ten days of leave in March 2026 (1st to 10th inclusive).
    paused = GrantTerms(units=4800, start=D(2026, 1, 1), cliff_months=12, months=48,
                        pauses=(Pause(D(2026, 3, 1), D(2026, 3, 10)),))
    assert [e.date for e in schedule(paused)][:3] == [D(2027, 1, 11), D(2027, 2, 11), D(2027, 3, 11)]
    assert vested(paused, D(2027, 1, 10)) == 0
    assert vested(paused, D(2027, 1, 11)) == 1200
    assert vested(paused, D(2030, 1, 10)) == 4700
    assert vested(paused, D(2030, 1, 11)) == 4800


def test_a_tranche_due_on_the_first_day_of_a_pause_falls_due_the_day_after_it_ends():
    paused = GrantTerms(units=4800, start=D(2026, 1, 1), cliff_months=12, months=48,
                        pauses=(Pause(D(2027, 3, 1), D(2027, 3, 31)),))
    dates = [e.date for e in schedule(paused)]
    assert D(2027, 2, 1) in dates and D(2027, 3, 1) not in dates
    assert dates[2] == D(2027, 4, 1)  # 2027-03-01 + 31 days
    assert vested(paused, D(2027, 3, 31)) == 1300


def test_an_open_ended_pause_stops_vesting():
    on_leave = GrantTerms(units=4800, start=D(2026, 1, 1), cliff_months=12, months=48,
                          pauses=(Pause(D(2027, 3, 1)),))
    assert vested(on_leave, D(2040, 1, 1)) == 1300
    assert schedule(on_leave)[-1] == ScheduleEvent(D(2027, 2, 1), 100, 1300)
    assert next_vesting_date(on_leave, D(2027, 2, 1)) is None


def test_an_acceleration_is_taken_from_the_next_tranches():
    accelerated = GrantTerms(units=4800, start=D(2026, 1, 1), cliff_months=12, months=48,
                             accelerations=(Acceleration(D(2027, 1, 15), 250, "Led the migration"),))
    events = [tuple(e) for e in schedule(accelerated)]
    assert events[:4] == [(D(2027, 1, 1), 1200, 1200), (D(2027, 1, 15), 250, 1450),
                          (D(2027, 4, 1), 50, 1500), (D(2027, 5, 1), 100, 1600)]
    assert events[-1] == (D(2030, 1, 1), 100, 4800)


def test_an_acceleration_before_the_cliff_vests_on_its_date():
    accelerated = GrantTerms(units=4800, start=D(2026, 1, 1), cliff_months=12, months=48,
                             accelerations=(Acceleration(D(2026, 6, 1), 1000, "Signed the anchor client"),))
    assert vested(accelerated, D(2026, 6, 1)) == 1000
    assert schedule(accelerated)[1] == ScheduleEvent(D(2027, 1, 1), 200, 1200)


def test_leaving_forfeits_what_is_unvested_after_the_last_day():
    leaving = GrantTerms(units=4800, start=D(2026, 1, 1), cliff_months=12, months=48, leave_on=D(2027, 3, 1))
    assert vested(leaving, D(2027, 3, 1)) == 1400
    assert forfeited(leaving, D(2027, 3, 1)) == 0
    assert vested(leaving, D(2030, 1, 1)) == 1400
    assert forfeited(leaving, D(2027, 3, 2)) == 3400
    assert unvested(leaving, D(2027, 3, 2)) == 0
    assert schedule(leaving)[-1].date == D(2027, 3, 1)


def test_leaving_before_the_cliff_forfeits_everything():
    leaving = GrantTerms(units=4800, start=D(2026, 1, 1), cliff_months=12, months=48, leave_on=D(2026, 12, 31))
    assert schedule(leaving) == []
    assert forfeited(leaving, D(2027, 1, 1)) == 4800


# --- bad input ---------------------------------------------------------------------------------

BASE = dict(units=4800, start=D(2026, 1, 1), cliff_months=12, months=48, every=1)


@pytest.mark.parametrize("change,field", [
    ({"cliff_months": 49}, "cliff_months"),
    ({"months": 0, "cliff_months": 1}, "cliff_months"),
    ({"units": 0}, "units"),
    ({"units": -5}, "units"),
    ({"units": True}, "units"),
    ({"every": 0}, "every"),
    ({"months": -1}, "months"),
    ({"start": "2026-01-01"}, "start"),
    ({"pauses": (Pause(D(2026, 3, 1), D(2026, 3, 31)), Pause(D(2026, 3, 31), D(2026, 4, 5)))}, "pauses[1]"),
    ({"pauses": (Pause(D(2026, 6, 1), D(2026, 6, 9)), Pause(D(2026, 3, 1)))}, "pauses[0]"),
    ({"pauses": (Pause(D(2026, 3, 5), D(2026, 3, 1)),)}, "pauses[0].end"),
    ({"pauses": (Pause(D(2025, 12, 1), D(2026, 1, 5)),)}, "pauses[0].start"),
    ({"accelerations": (Acceleration(D(2027, 1, 1), 3601, "too much"),)}, "accelerations[0].quantity"),
    ({"accelerations": (Acceleration(D(2026, 5, 1), 3000, "a"), Acceleration(D(2026, 6, 1), 1801, "b"))},
     "accelerations[1].quantity"),
    ({"accelerations": (Acceleration(D(2027, 1, 1), 0, "nothing"),)}, "accelerations[0].quantity"),
    ({"accelerations": (Acceleration(D(2025, 1, 1), 10, "early"),)}, "accelerations[0].date"),
    ({"accelerations": (Acceleration(D(2027, 1, 1), 10, " "),)}, "accelerations[0].reason"),
    ({"leave_on": D(2026, 6, 1), "accelerations": (Acceleration(D(2026, 7, 1), 10, "late"),)},
     "accelerations[0].date"),
])
def test_bad_terms_are_refused_naming_the_field(change, field):
    with pytest.raises(ValidationError) as exc:
        GrantTerms(**{**BASE, **change})
    assert field in exc.value.errors, exc.value.errors
    assert exc.value.status == 422


def test_a_founders_units_cannot_be_paused():
    with pytest.raises(ValidationError) as exc:
        GrantTerms(units=500, start=D(2026, 1, 1), pauses=(Pause(D(2026, 3, 1), D(2026, 3, 10)),))
    assert "pauses" in exc.value.errors


def test_an_acceleration_of_exactly_what_is_unvested_is_allowed():
    terms = GrantTerms(**BASE, accelerations=(Acceleration(D(2027, 1, 1), 3600, "everything"),))
    assert vested(terms, D(2027, 1, 1)) == 4800
    assert len(schedule(terms)) == 1


def test_make_terms_prefixes_the_field():
    with pytest.raises(ValidationError) as exc:
        make_terms(field_prefix="payload.grant", **{**BASE, "units": 0})
    assert "payload.grant.units" in exc.value.errors


# --- properties --------------------------------------------------------------------------------

# Starts lean on the month ends, where clamping matters.
days = st.one_of(st.integers(1, 28), st.integers(28, 31))


@st.composite
def starts(draw):
    year = draw(st.integers(2000, 2060))
    month = draw(st.integers(1, 12))
    day = min(draw(days), calendar.monthrange(year, month)[1])
    return D(year, month, day)


@st.composite
def grants(draw, founders=True):
    months = draw(st.integers(0 if founders else 1, 72))
    if months == 0:
        return GrantTerms(units=draw(st.integers(1, 10**6)), start=draw(starts()))
    every = draw(st.integers(1, min(months, 12)))
    return GrantTerms(units=draw(st.integers(1, 10**6)), start=draw(starts()),
                      cliff_months=draw(st.integers(0, months)), months=months, every=every)


offsets = st.integers(-400, 7000)


def end_of(terms: GrantTerms) -> dt.date:
    """The date the plain schedule completes: the first multiple of ``every`` ≥ ``months``."""
    return add_months(terms.start, -(-terms.months // terms.every) * terms.every)


@given(starts(), st.integers(-100, 5000))
def test_months_elapsed_matches_counting_month_ends_one_by_one(start, offset):
    on = start + dt.timedelta(days=offset)
    k = 0
    while add_months(start, k + 1) <= on:
        k += 1
    assert months_elapsed(start, on) == k


@given(grants(), offsets, offsets)
def test_vested_is_monotone_and_never_above_the_grant(terms, a, b):
    d1, d2 = sorted([terms.start + dt.timedelta(days=a), terms.start + dt.timedelta(days=b)])
    assert 0 <= vested(terms, d1) <= vested(terms, d2) <= terms.units


@given(grants())
def test_exactly_the_grant_at_the_end_and_not_a_day_before(terms):
    end = terms.start if terms.months == 0 else end_of(terms)
    assert vested(terms, end) == terms.units
    assert vested(terms, end + dt.timedelta(days=4000)) == terms.units
    assert vested(terms, end - DAY) < terms.units
    assert sum(e.units for e in schedule(terms)) == terms.units


@given(grants(founders=False), offsets)
def test_nothing_before_the_cliff_or_the_start(terms, offset):
    on = terms.start + dt.timedelta(days=offset)
    if on < terms.start or on < add_months(terms.start, terms.cliff_months):
        assert vested(terms, on) == 0


@given(grants(founders=False))
def test_cadence_changes_only_at_the_cliff_or_multiples_of_every_month(terms):
    for e in schedule(terms):
        m = months_elapsed(terms.start, e.date)
        assert m >= terms.cliff_months
        assert m == terms.cliff_months or m % terms.every == 0
        # On the month boundary itself, clamped to the month's last day for starts on 29–31.
        assert e.date == add_months(terms.start, m)
        assert e.date.day == min(terms.start.day, calendar.monthrange(e.date.year, e.date.month)[1])


@given(grants(), offsets)
def test_the_schedule_is_the_formula_on_every_date(terms, offset):
    events = schedule(terms)
    for e in events:
        assert vested(terms, e.date) == e.cumulative
        assert vested(terms, e.date - DAY) == e.cumulative - e.units
        assert e.units > 0
    on = terms.start + dt.timedelta(days=offset)
    assert vested(terms, on) == max([e.cumulative for e in events if e.date <= on], default=0)
    nxt = next_vesting_date(terms, on)
    assert nxt == next((e.date for e in events if e.date > on), None)


@given(grants(founders=False), st.integers(0, 3000), st.integers(1, 400))
def test_a_pause_moves_exactly_the_tranches_on_or_after_it_by_its_length(terms, after, length):
    pause = Pause(terms.start + dt.timedelta(days=after), terms.start + dt.timedelta(days=after + length - 1))
    paused = GrantTerms(units=terms.units, start=terms.start, cliff_months=terms.cliff_months,
                        months=terms.months, every=terms.every, pauses=(pause,))
    expected = [(e.date if e.date < pause.start else e.date + dt.timedelta(days=length), e.units)
                for e in schedule(terms)]
    assert [(e.date, e.units) for e in schedule(paused)] == expected


@settings(max_examples=200)
@given(grants(founders=False), st.integers(0, 3000), st.data())
def test_accelerations_never_exceed_the_grant_and_keep_the_final_total(terms, after, data):
    when = terms.start + dt.timedelta(days=after)
    room = terms.units - vested(terms, when)
    assume(room > 0)
    q = data.draw(st.integers(1, room))
    fast = GrantTerms(units=terms.units, start=terms.start, cliff_months=terms.cliff_months, months=terms.months,
                      every=terms.every, accelerations=(Acceleration(when, q, "property"),))
    assert vested(fast, when) == vested(terms, when) + q
    assert vested(fast, when - DAY) == vested(terms, when - DAY)
    for e in schedule(fast):
        assert vested(fast, e.date) == max(vested(terms, e.date), vested(terms, when) + q) or e.date < when
        assert e.cumulative <= terms.units
    assert vested(fast, end_of(terms)) == terms.units
    assert sum(e.units for e in schedule(fast)) == terms.units
    # A second acceleration of one more unit than is left is refused.
    left = terms.units - vested(fast, when)
    with pytest.raises(ValidationError):
        GrantTerms(units=terms.units, start=terms.start, cliff_months=terms.cliff_months, months=terms.months,
                   every=terms.every, accelerations=(Acceleration(when, q, "a"), Acceleration(when, left + 1, "b")))


@given(grants(), st.integers(-10, 3000), offsets)
def test_leaving_freezes_vesting_and_forfeits_the_rest(terms, leave_after, offset):
    leave = terms.start + dt.timedelta(days=leave_after)
    left = GrantTerms(units=terms.units, start=terms.start, cliff_months=terms.cliff_months,
                      months=terms.months, every=terms.every, leave_on=leave)
    on = terms.start + dt.timedelta(days=offset)
    assert vested(left, on) == vested(terms, min(on, leave))
    assert vested(left, on) + unvested(left, on) + forfeited(left, on) == terms.units
    if on > leave:
        assert unvested(left, on) == 0
    assert all(e.date <= leave for e in schedule(left))


# --- the domain docs' table of worked dates ----------------------------------------------------------

README = Path(__file__).resolve().parent.parent / "docs" / "domain.md"
#: The events of the README's grants P and X (its legend names them; the terms are read from it).
README_EVENTS = {
    "P": {"pauses": (Pause(D(2026, 3, 1), D(2026, 3, 10)),)},
    "X": {"accelerations": (Acceleration(D(2027, 1, 15), 250, "README example"),)},
}


def readme_tables() -> tuple[dict[str, GrantTerms], list[tuple[str, dt.date, int]]]:
    """The grants legend and the worked dates of the README's "Equity and vesting" section."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Equity and vesting\n", 1)[1].split("\n## ", 1)[0]
    legend: dict[str, GrantTerms] = {}
    dates: list[tuple[str, dt.date, int]] = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("| ") or len(cells[0]) != 1 or not cells[0].isupper():
            continue
        if len(cells) == 7:
            label, units, start, cliff, months, every, _ = cells
            legend[label] = GrantTerms(units=int(units.replace(",", "")), start=D.fromisoformat(start),
                                       cliff_months=int(cliff), months=int(months), every=int(every),
                                       **README_EVENTS.get(label, {}))
        elif len(cells) == 4:
            dates.append((cells[0], D.fromisoformat(cells[1]), int(cells[2].replace(",", ""))))
    return legend, dates


def test_the_readme_table_of_worked_dates_holds():
    legend, dates = readme_tables()
    assert set(legend) == {"A", "Q", "E", "P", "X"}
    assert legend["A"] == STANDARD and legend["Q"] == QUARTERLY and legend["E"] == MONTH_END
    assert len(dates) >= 25
    for label, on, expected in dates:
        assert vested(legend[label], on) == expected, (label, on)
        # Each row is where the schedule says it is: the cumulative column of the last event up to it.
        reached = [e.cumulative for e in schedule(legend[label]) if e.date <= on]
        assert (reached[-1] if reached else 0) == expected, (label, on)
