"""The equity service on a real database (SQLite, or PostgreSQL with ``TEST_ENGINE=postgresql``):
vested units, the vesting summary, vesting entries in ``UNITS``, retirement, the verify check, and
stored pauses and accelerations (what is refused, and the database's own guards).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa
from charters import DANA, EVE, with_partners

from ledger.core import chart
from ledger.core.errors import Conflict, NotFound, ValidationError
from ledger.core.vesting import Acceleration, GrantTerms, Pause
from ledger.equity import events
from ledger.equity.models import Grant, VestingAcceleration, VestingPause
from ledger.equity.service import (
    check_units_agree,
    grant_terms,
    post_retirement_units,
    post_vesting_events,
    terms_for,
    unvested_units,
    vested_units,
    vested_units_by_partner,
    vesting_summary,
)
from ledger.journal.balances import balance
from ledger.journal.models import Entry, Period
from ledger.journal.periods import ensure_periods
from ledger.journal.verify import verify
from ledger.partnership.close import close_period
from ledger.partnership.integrity import full_verify
from ledger.practices.models import Partner
from ledger.runtime.database import get_session

D = dt.date

# Two new entrants besides the worked example's founders (``charters.DANA`` and ``charters.EVE``):
# - dana: 1200 units from 2026-01-01, 3-month cliff, 12 months monthly → 300 on 2026-04-01, then
#   100 on the 1st of each month to 1200 on 2027-01-01;
# - eve: 600 units from 2026-01-31, no cliff, 6 months monthly → 100 on Feb 28, Mar 31, Apr 30,
#   May 31, Jun 30, Jul 31 (month ends).


@pytest.fixture
def granted(app, runner, tmp_path):
    """The worked example plus two partners with grants, founded through ``ledger init``."""
    path = tmp_path / "charter-grants.toml"
    path.write_text(with_partners(DANA, EVE))
    result = runner.invoke(args=["init", str(path)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        yield get_session()


@pytest.fixture
def founders(founded):
    with founded.app_context():
        yield get_session()


def units(s, account: str) -> Decimal:
    return balance(s, account, "UNITS")


def close_through(s, period_id: str) -> None:
    """Mark every period up to ``period_id`` closed, as the close would (its postings aside)."""
    from ledger.journal.balances import snapshot_balances

    ensure_periods(s, period_id)
    for period in s.scalars(sa.select(Period).where(Period.id <= period_id, Period.status == "open")
                            .order_by(Period.id)):
        snapshot_balances(s, period.id, period.ends_on)
        period.status = "closed"
        s.flush()


def vesting_entries(s) -> list[Entry]:
    return list(s.scalars(sa.select(Entry).where(Entry.source_type == "vesting").order_by(Entry.id)))


# --- founders ----------------------------------------------------------------------------------


def test_founders_hold_their_units_from_the_start(founders):
    assert vested_units(founders, "ana", D(2026, 1, 1)) == 500
    assert vested_units(founders, "ana", D(2025, 12, 31)) == 0
    ben = founders.scalar(sa.select(Partner).where(Partner.code == "ben"))
    assert vested_units(founders, ben, D(2030, 1, 1)) == 250
    assert unvested_units(founders, "chen", D(2026, 6, 1)) == 0
    assert vested_units_by_partner(founders, D(2026, 1, 31)) == {"ana": 500, "ben": 250, "chen": 250}
    assert grant_terms(founders, "ana") == [GrantTerms(units=500, start=D(2026, 1, 1))]


def test_a_founders_summary(founders):
    assert vesting_summary(founders, "ana", D(2026, 3, 1)) == {
        "granted": 500, "vested": 500, "unvested": 0, "forfeited": 0, "redeemed": 0,
        "schedule": [{"date": "2026-01-01", "units": 500, "cumulative": 500}],
        "next_vesting_date": None,
    }


def test_founders_units_need_no_vesting_entries_and_agree_with_the_ledger(founders):
    assert post_vesting_events(founders, D(2026, 1, 1), D(2026, 12, 31)) == []
    close_through(founders, "2026-03")
    assert check_units_agree(founders) == []
    assert verify(founders, extra_checks=[check_units_agree]).ok


def test_an_unknown_partner_is_not_found(founders):
    with pytest.raises(NotFound):
        vested_units(founders, "zed", D(2026, 1, 1))
    with pytest.raises(NotFound):
        vesting_summary(founders, "zed", D(2026, 1, 1))


# --- new entrants ------------------------------------------------------------------------------


@pytest.mark.parametrize("code,on,expected", [
    ("dana", D(2026, 3, 31), 0),
    ("dana", D(2026, 4, 1), 300),
    ("dana", D(2026, 5, 1), 400),
    ("dana", D(2027, 1, 1), 1200),
    ("eve", D(2026, 2, 27), 0),
    ("eve", D(2026, 2, 28), 100),
    ("eve", D(2026, 3, 30), 100),
    ("eve", D(2026, 3, 31), 200),
    ("eve", D(2026, 7, 31), 600),
])
def test_vested_units_follow_the_grant(granted, code, on, expected):
    assert vested_units(granted, code, on) == expected


def test_pool_weights_read_everyone_at_once(granted):
    assert vested_units_by_partner(granted, D(2026, 4, 30)) == {
        "ana": 500, "ben": 250, "chen": 250, "dana": 300, "eve": 300}


def test_a_new_entrants_summary(granted):
    summary = vesting_summary(granted, "dana", D(2026, 5, 15))
    assert summary["granted"] == 1200
    assert summary["vested"] == 400
    assert summary["unvested"] == 800
    assert summary["next_vesting_date"] == "2026-06-01"
    assert summary["schedule"][:2] == [{"date": "2026-04-01", "units": 300, "cumulative": 300},
                                       {"date": "2026-05-01", "units": 100, "cumulative": 400}]
    assert summary["schedule"][-1] == {"date": "2027-01-01", "units": 100, "cumulative": 1200}
    assert len(summary["schedule"]) == 10
    assert vesting_summary(granted, "dana", D(2025, 12, 1))["vested"] == 0
    assert vesting_summary(granted, "dana", D(2025, 12, 1))["unvested"] == 1200


def test_vesting_is_posted_once_per_partner_per_date(granted):
    entries = post_vesting_events(granted, D(2026, 1, 1), D(2026, 6, 30))
    assert [(e.source_ref, e.date) for e in entries] == [
        ("dana", D(2026, 4, 1)), ("dana", D(2026, 5, 1)), ("dana", D(2026, 6, 1)),
        ("eve", D(2026, 2, 28)), ("eve", D(2026, 3, 31)), ("eve", D(2026, 4, 30)),
        ("eve", D(2026, 5, 31)), ("eve", D(2026, 6, 30)),
    ]
    first = entries[0]
    assert first.source_type == "vesting"
    assert {(p.account.name, p.amount, p.commodity) for p in first.postings} == {
        (chart.units_unvested("dana"), Decimal(300), "UNITS"), (chart.units_vested("dana"), Decimal(-300), "UNITS")}
    assert units(granted, chart.units_vested("dana")) == -500
    assert units(granted, chart.units_unvested("dana")) == -700
    assert units(granted, chart.units_vested("eve")) == -500
    assert units(granted, chart.units_unvested("eve")) == -100
    assert units(granted, chart.UNITS_AUTHORIZED) == 1000 + 1200 + 600
    assert balance(granted, chart.units_vested("dana"), "UNITS", as_of=D(2026, 4, 30)) == -300

    # Re-running posts nothing; an overlapping range posts only what is new.
    assert post_vesting_events(granted, D(2026, 1, 1), D(2026, 6, 30)) == []
    again = post_vesting_events(granted, D(2026, 6, 1), D(2026, 7, 31))
    assert [(e.source_ref, e.date) for e in again] == [("dana", D(2026, 7, 1)), ("eve", D(2026, 7, 31))]
    assert units(granted, chart.units_vested("eve")) == -600
    assert units(granted, chart.units_unvested("eve")) == 0


def test_ranges_run_out_of_order_never_vest_a_unit_twice(granted):
    post_vesting_events(granted, D(2026, 6, 1), D(2026, 6, 30))
    assert units(granted, chart.units_vested("dana")) == -500  # June carries April and May
    assert post_vesting_events(granted, D(2026, 4, 1), D(2026, 5, 31)) == []
    assert units(granted, chart.units_vested("dana")) == -500
    post_vesting_events(granted, D(2026, 1, 1), D(2026, 12, 31))
    assert units(granted, chart.units_vested("dana")) == -1100


def test_the_ledger_agrees_with_the_schedule_after_each_close(granted):
    post_vesting_events(granted, D(2026, 1, 1), D(2026, 3, 31))
    close_through(granted, "2026-03")
    assert check_units_agree(granted) == []
    assert verify(granted, extra_checks=[check_units_agree]).ok
    # Closed periods cannot be posted to; re-running over them posts nothing and raises nothing.
    assert post_vesting_events(granted, D(2026, 1, 1), D(2026, 3, 31)) == []


def test_a_close_that_skipped_vesting_is_reported(granted):
    post_vesting_events(granted, D(2026, 1, 1), D(2026, 3, 31))
    close_through(granted, "2026-04")  # April's tranches were never posted
    problems = check_units_agree(granted)
    assert len(problems) == 4  # dana and eve, vested and unvested
    assert any(p.startswith("units of dana on 2026-04-01: Equity:Units:Vested:Dana holds 0 vested") for p in problems)
    assert check_units_agree(granted, as_of=D(2026, 3, 31)) == []
    with pytest.raises(Conflict):
        post_vesting_events(granted, D(2026, 4, 1), D(2026, 4, 30))


def test_retirement_forfeits_the_unvested_and_redeems_the_vested(granted):
    post_vesting_events(granted, D(2026, 1, 1), D(2026, 4, 30))
    entries = post_retirement_units(granted, "dana", D(2026, 6, 30))
    assert [(e.source_type, e.date) for e in entries] == [
        ("vesting", D(2026, 5, 1)), ("vesting", D(2026, 6, 1)), ("retirement", D(2026, 6, 30))]
    assert {(p.account.name, p.amount) for p in entries[-1].postings} == {
        (chart.units_unvested("dana"), Decimal(700)), (chart.units_vested("dana"), Decimal(500)),
        (chart.UNITS_AUTHORIZED, Decimal(-1200))}
    assert units(granted, chart.units_vested("dana")) == 0
    assert units(granted, chart.units_unvested("dana")) == 0
    # The retiree still counts on the last day (the close allocates before it retires them).
    assert vested_units(granted, "dana", D(2026, 6, 30)) == 500
    assert vested_units(granted, "dana", D(2026, 7, 1)) == 0
    after = vesting_summary(granted, "dana", D(2026, 7, 1))
    assert (after["vested"], after["unvested"], after["forfeited"], after["redeemed"]) == (0, 0, 700, 500)
    assert after["next_vesting_date"] is None
    assert after["schedule"][-1] == {"date": "2026-06-01", "units": 100, "cumulative": 500}
    # Once only; later vesting runs leave the retiree alone.
    assert post_retirement_units(granted, "dana", D(2026, 6, 30)) == []
    later = post_vesting_events(granted, D(2026, 5, 1), D(2026, 7, 31))
    assert [(e.source_ref, e.date) for e in later] == [
        ("eve", D(2026, 5, 31)), ("eve", D(2026, 6, 30)), ("eve", D(2026, 7, 31))]
    close_through(granted, "2026-07")
    assert check_units_agree(granted) == []
    assert units(granted, chart.UNITS_AUTHORIZED) == 1000 + 600


def test_tranches_that_missed_a_closed_period_vest_on_the_first_open_day(granted):
    close_through(granted, "2026-03")  # as if eve's February and March tranches were never posted
    assert [p.split(":")[0] for p in check_units_agree(granted)] == ["units of eve on 2026-02-28"] * 2
    entries = post_vesting_events(granted, D(2026, 4, 1), D(2026, 4, 30))
    assert [(e.source_ref, e.date, -e.postings[1].amount) for e in entries] == [
        ("dana", D(2026, 4, 1), 300), ("eve", D(2026, 4, 1), 200), ("eve", D(2026, 4, 30), 100)]
    assert vesting_entries(granted) == entries


def test_the_succession_money_entries_do_not_count_as_the_units_retirement(granted):
    from ledger.core.entries import Leg
    from ledger.journal.service import post_entry

    post_entry(granted, date=D(2026, 6, 30), memo="buyout", source_type="retirement", source_ref="dana",
               legs=[Leg(chart.CASH, Decimal("10.00"), "USD"), Leg(chart.capital("dana"), Decimal("-10.00"), "USD")])
    entries = post_retirement_units(granted, "dana", D(2026, 6, 30))
    assert entries[-1].source_type == "retirement"
    assert units(granted, chart.units_unvested("dana")) == 0


# --- pauses and accelerations, stored --------------------------------------------------------------

def event_rows(s) -> tuple[int, int, int]:
    return tuple(s.scalar(sa.select(sa.func.count()).select_from(t)) for t in (VestingPause, VestingAcceleration, Entry))


def test_a_pause_reaches_every_reader_of_the_grant(granted):
    # Ten days of leave in February: dana's cliff tranche moves from April 1 to April 11.
    row = events.add_pause(granted, "dana", D(2026, 2, 1), D(2026, 2, 10), "parental leave")
    assert (row.starts_on, row.ends_on, row.reason) == (D(2026, 2, 1), D(2026, 2, 10), "parental leave")
    assert grant_terms(granted, "dana")[0].pauses == (Pause(D(2026, 2, 1), D(2026, 2, 10)),)
    assert vested_units(granted, "dana", D(2026, 4, 10)) == 0
    assert vested_units(granted, "dana", D(2026, 4, 11)) == 300
    assert vested_units_by_partner(granted, D(2026, 4, 10))["dana"] == 0
    assert vested_units_by_partner(granted, D(2026, 4, 11))["dana"] == 300
    summary = vesting_summary(granted, "dana", D(2026, 4, 30))
    assert (summary["vested"], summary["unvested"], summary["next_vesting_date"]) == (300, 900, "2026-05-11")
    assert summary["schedule"][-1] == {"date": "2027-01-11", "units": 100, "cumulative": 1200}
    # The founders and eve are untouched: a pause is the partner's own.
    assert vested_units_by_partner(granted, D(2026, 4, 30))["eve"] == 300


def test_the_close_posts_the_shifted_vesting_and_verify_holds(granted):
    events.add_pause(granted, "dana", D(2026, 2, 1), D(2026, 2, 10))
    events.add_acceleration(granted, "eve", D(2026, 3, 15), 150, "Signed the anchor client")
    for pid in ("2026-01", "2026-02", "2026-03", "2026-04"):
        close_period(granted, pid)
    dana = [(e.date, -e.postings[1].amount) for e in vesting_entries(granted) if e.source_ref == "dana"]
    assert dana == [(D(2026, 4, 11), 300)]
    eve = [(e.date, -e.postings[1].amount) for e in vesting_entries(granted) if e.source_ref == "eve"]
    # 100 on Feb 28, 100 on Mar 31 — but 150 were accelerated on Mar 15, so Mar 31's tranche is
    # already vested and April 30's makes up the 50 left over: 100, 150, 0, 50.
    assert eve == [(D(2026, 2, 28), 100), (D(2026, 3, 15), 150), (D(2026, 4, 30), 50)]
    assert units(granted, chart.units_vested("eve")) == -300
    assert check_units_agree(granted) == []
    assert full_verify(granted).ok


def test_an_open_pause_and_its_end(granted):
    pause = events.add_pause(granted, "dana", D(2026, 5, 15))
    assert vested_units(granted, "dana", D(2030, 1, 1)) == 400
    assert vesting_summary(granted, "dana", D(2026, 6, 1))["next_vesting_date"] is None
    events.end_pause(granted, "dana", pause.id, D(2026, 5, 24))
    assert (pause.ends_on, pause.ended_at is not None) == (D(2026, 5, 24), True)
    assert vested_units(granted, "dana", D(2026, 6, 10)) == 400
    assert vested_units(granted, "dana", D(2026, 6, 11)) == 500
    with pytest.raises(Conflict) as exc:
        events.end_pause(granted, "dana", pause.id, D(2026, 6, 30))
    assert "end" in exc.value.errors
    with pytest.raises(NotFound):
        events.end_pause(granted, "eve", pause.id, D(2026, 6, 30))


@pytest.mark.parametrize("call,error,field", [
    (lambda s: events.add_pause(s, "ana", D(2026, 3, 1)), ValidationError, "partner"),
    (lambda s: events.add_pause(s, "dana", D(2025, 12, 31)), ValidationError, "start"),
    (lambda s: events.add_pause(s, "dana", D(2026, 3, 5), D(2026, 3, 1)), ValidationError, "end"),
    (lambda s: events.add_pause(s, "dana", D(2026, 6, 15), D(2026, 6, 20)), ValidationError, "start"),
    (lambda s: events.add_pause(s, "dana", D(2026, 5, 1)), ValidationError, "end"),
    (lambda s: events.add_pause(s, "dana", D(2026, 1, 20)), Conflict, "start"),
    (lambda s: events.add_pause(s, "dana", D(2400, 1, 1)), ValidationError, "start"),
    (lambda s: events.add_pause(s, "zed", D(2026, 3, 1)), NotFound, "partner"),
    (lambda s: events.add_acceleration(s, "dana", D(2026, 4, 15), 901, "r"), ValidationError, "quantity"),
    (lambda s: events.add_acceleration(s, "dana", D(2026, 4, 15), 0, "r"), ValidationError, "quantity"),
    (lambda s: events.add_acceleration(s, "dana", D(2026, 4, 15), 10, " "), ValidationError, "reason"),
    (lambda s: events.add_acceleration(s, "dana", D(2025, 4, 15), 10, "r"), ValidationError, "date"),
    (lambda s: events.add_acceleration(s, "dana", D(2026, 1, 31), 10, "r"), Conflict, "date"),
    (lambda s: events.add_acceleration(s, "dana", D(2026, 4, 15), 10, "r", grant_id=1), ValidationError, "grant"),
    (lambda s: events.add_acceleration(s, "ben", D(2026, 4, 15), 1, "r"), ValidationError, "quantity"),
])
def test_a_refused_event_names_its_field_and_writes_nothing(granted, call, error, field):
    close_through(granted, "2026-01")
    events.add_pause(granted, "dana", D(2026, 6, 1), D(2026, 6, 30))
    before = event_rows(granted)
    with pytest.raises(error) as exc:
        call(granted)
    assert field in exc.value.errors, exc.value.errors
    granted.flush()
    assert event_rows(granted) == before


def test_a_retired_partners_schedule_is_final(granted):
    post_retirement_units(granted, "dana", D(2026, 6, 30))
    with pytest.raises(Conflict):
        events.add_pause(granted, "dana", D(2026, 7, 1))
    with pytest.raises(Conflict):
        events.add_acceleration(granted, "dana", D(2026, 6, 15), 10, "r")


def test_nothing_may_be_scheduled_after_a_scheduled_retirements_last_day(granted):
    from ledger.governance.models import Elector
    from ledger.governance.service import cast_vote, close_proposal, open_proposal
    from ledger.practices.service import get_partner

    closes_at = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    prop = open_proposal(granted, get_partner(granted, "ana"), "retire_partner", "Retire dana",
                         {"partner": "dana", "effective_period": "2026-06", "successors": {}}, closes_at)
    for elector in granted.scalars(sa.select(Elector).where(Elector.proposal_id == prop.id)):
        cast_vote(granted, prop.id, elector.partner, "yes")
    assert close_proposal(granted, prop.id).status == "passed"
    with pytest.raises(ValidationError) as exc:
        events.add_acceleration(granted, "dana", D(2026, 7, 1), 10, "too late")
    assert "date" in exc.value.errors
    with pytest.raises(ValidationError) as exc:
        events.add_pause(granted, "dana", D(2026, 7, 1))
    assert "start" in exc.value.errors
    events.add_acceleration(granted, "dana", D(2026, 6, 30), 10, "in time")
    assert vested_units(granted, "dana", D(2026, 6, 30)) == 500 + 10


def test_a_pause_is_the_partners_and_a_later_grant_is_paused_from_its_own_start():
    first = Grant(units=1200, start=D(2026, 1, 1), cliff_months=0, months=12, every=1, kind="grant")
    later = Grant(units=600, start=D(2026, 6, 1), cliff_months=0, months=6, every=1, kind="grant")
    founder = Grant(units=500, start=D(2026, 1, 1), cliff_months=0, months=0, every=1, kind="founder")
    leave = [Pause(D(2026, 3, 1), D(2026, 6, 10))]
    assert terms_for(first, leave).pauses == (Pause(D(2026, 3, 1), D(2026, 6, 10)),)
    assert terms_for(later, leave).pauses == (Pause(D(2026, 6, 1), D(2026, 6, 10)),)
    assert terms_for(later, [Pause(D(2026, 3, 1), D(2026, 3, 31))]).pauses == ()
    assert terms_for(founder, leave).pauses == ()
    late = [Acceleration(D(2026, 8, 1), 10, "after leaving")]
    assert terms_for(first, accelerations=late, leave_on=D(2026, 7, 31)).accelerations == ()


def test_an_acceleration_must_name_the_grant_when_there_are_several(granted):
    dana = granted.scalar(sa.select(Partner).where(Partner.code == "dana"))
    second = Grant(partner_id=dana.id, units=600, start=D(2026, 6, 1), cliff_months=0, months=6, every=1,
                   kind="grant")
    granted.add(second)
    granted.flush()
    with pytest.raises(ValidationError) as exc:
        events.add_acceleration(granted, "dana", D(2026, 7, 15), 10, "r")
    assert "grant" in exc.value.errors
    row = events.add_acceleration(granted, "dana", D(2026, 7, 15), 10, "r", grant_id=second.id)
    assert row.grant_id == second.id
    assert vested_units(granted, "dana", D(2026, 7, 15)) == 600 + 100 + 10
    # One leave pauses both grants.
    events.add_pause(granted, "dana", D(2026, 7, 20), D(2026, 7, 29))
    assert [len(t.pauses) for t in grant_terms(granted, "dana")] == [1, 1]


@pytest.mark.parametrize("sql", [
    "UPDATE vesting_acceleration SET quantity = 20 WHERE id = :id",
    "DELETE FROM vesting_acceleration WHERE id = :id",
    "DELETE FROM vesting_pause WHERE id = :id",
    "UPDATE vesting_pause SET starts_on = '2026-03-02' WHERE id = :id",
    "UPDATE vesting_pause SET reason = 'edited' WHERE id = :id",
])
def test_the_database_refuses_to_edit_or_delete_an_event(granted, sql):
    pause = events.add_pause(granted, "dana", D(2026, 3, 1))
    acc = events.add_acceleration(granted, "dana", D(2026, 4, 15), 10, "r")
    granted.commit()
    row_id = acc.id if "vesting_acceleration" in sql else pause.id
    with pytest.raises(sa.exc.DBAPIError):
        granted.execute(sa.text(sql), {"id": row_id})
    granted.rollback()


def test_the_database_lets_an_open_pause_end_once(granted):
    pause = events.add_pause(granted, "dana", D(2026, 3, 1))
    events.add_acceleration(granted, "dana", D(2026, 4, 15), 10, "r")
    granted.commit()
    # Recording the end of an open pause is the one change allowed, and only once.
    granted.execute(sa.text("UPDATE vesting_pause SET ends_on = '2026-03-10' WHERE id = :id"), {"id": pause.id})
    granted.commit()
    with pytest.raises(sa.exc.DBAPIError):
        granted.execute(sa.text("UPDATE vesting_pause SET ends_on = '2026-03-20' WHERE id = :id"), {"id": pause.id})
    granted.rollback()
