"""The equity service's batched reads: ``vested_units_by_partner`` answers exactly what
``vested_units`` answers, partner by partner, and ``post_vesting_events`` reads the partners in a
fixed number of queries (partners without a vesting grant cost none)."""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa
from charters import DANA, EVE, FAY, founder_partners, with_partners

from ledger.core import chart
from ledger.core import vesting as V
from ledger.equity import events
from ledger.equity.models import Grant
from ledger.equity.service import (
    grant_terms,
    post_retirement_units,
    post_vesting_events,
    vested_units,
    vested_units_by_partner,
)
from ledger.practices.models import Partner
from ledger.runtime.database import get_session

D = dt.date


def found(app, runner, tmp_path, extra: str = "") -> None:
    """The worked example with the equity service tests' two entrants (dana, eve), fay (900 units
    from 2026-01-15, a 2-month cliff, 9 months vesting every 3) and ``extra`` partners."""
    path = tmp_path / "charter-batch.toml"
    path.write_text(with_partners(DANA, EVE, FAY, extra))
    result = runner.invoke(args=["init", str(path)])
    assert result.exit_code == 0, result.output


def add_partner(s, code: str, joined_on: dt.date, grant: dict | None = None) -> Partner:
    """A partner row (and its grant), straight into the tables: enough for the vesting formula."""
    partner = Partner(code=code, name=code.title(), email=f"{code}@example.com", status="active", joined_on=joined_on)
    s.add(partner)
    s.flush()
    if grant is not None:
        s.add(Grant(partner_id=partner.id, **grant))
        s.flush()
    return partner


@contextlib.contextmanager
def counting(s):
    """Count the SQL statements run on the session's connection."""
    count = [0]

    def before(*_args, **_kwargs):
        count[0] += 1

    engine = s.get_bind()
    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield count
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


def probe_dates(s) -> list[dt.date]:
    """Every date a schedule changes on, the days either side, and each month's first and last day."""
    days = set()
    for p in s.scalars(sa.select(Partner)):
        for t in grant_terms(s, p):
            for e in V.schedule(t):
                days |= {e.date - V.ONE_DAY, e.date, e.date + V.ONE_DAY}
        if p.retired_on is not None:
            days |= {p.retired_on - V.ONE_DAY, p.retired_on, p.retired_on + V.ONE_DAY}
    for year in (2025, 2026, 2027):
        for month in range(1, 13):
            first = D(year, month, 1)
            days |= {first, first - V.ONE_DAY}
    return sorted(days)


@pytest.fixture
def batch(app, runner, tmp_path):
    found(app, runner, tmp_path)
    with app.app_context():
        yield get_session()


def test_vested_units_by_partner_is_vested_units_for_everyone(batch):
    s = batch
    # A leave for dana (closed) and for fay (still open), accelerations for eve and dana.
    events.add_pause(s, "dana", D(2026, 2, 1), D(2026, 2, 10), "parental leave")
    events.add_pause(s, "fay", D(2026, 9, 1))
    events.add_acceleration(s, "eve", D(2026, 3, 15), 150, "Signed the anchor client")
    events.add_acceleration(s, "dana", D(2026, 5, 20), 50, "Opened a practice")
    # A second grant for dana starting mid-period, and a partner admitted mid-period.
    dana = s.scalar(sa.select(Partner).where(Partner.code == "dana"))
    s.add(Grant(partner_id=dana.id, units=600, start=D(2026, 6, 15), cliff_months=1, months=6, every=2, kind="grant"))
    add_partner(s, "gus", D(2026, 4, 17),
                dict(units=480, start=D(2026, 4, 17), cliff_months=0, months=4, every=1, kind="grant"))
    add_partner(s, "hal", D(2026, 2, 1))  # no grant at all
    # eve retires at the end of May (an acceleration after her last day would not count).
    post_vesting_events(s, D(2026, 1, 1), D(2026, 4, 30))
    post_retirement_units(s, "eve", D(2026, 5, 31))
    s.flush()

    partners = list(s.scalars(sa.select(Partner).order_by(Partner.code)))
    assert {p.code for p in partners} == {"ana", "ben", "chen", "dana", "eve", "fay", "gus", "hal"}
    assert s.scalar(sa.select(Partner.retired_on).where(Partner.code == "eve")) == D(2026, 5, 31)
    seen_nonzero = set()
    for day in probe_dates(s):
        expected = {p.code: vested_units(s, p, day) for p in partners}
        assert vested_units_by_partner(s, day) == expected, day
        seen_nonzero |= {code for code, units in expected.items() if units}
    assert seen_nonzero == {"ana", "ben", "chen", "dana", "eve", "fay", "gus"}
    # Spot checks that the events are in play.
    assert vested_units_by_partner(s, D(2026, 4, 10))["dana"] == 0  # cliff moved by the pause
    assert vested_units_by_partner(s, D(2026, 4, 11))["dana"] == 300
    assert vested_units_by_partner(s, D(2026, 3, 15))["eve"] == 250  # 100 on Feb 28 + 150 accelerated
    assert vested_units_by_partner(s, D(2026, 5, 31))["eve"] == 400  # her last day: the schedule caught up
    assert vested_units_by_partner(s, D(2026, 6, 1))["eve"] == 0  # redeemed
    assert vested_units_by_partner(s, D(2030, 1, 1))["fay"] == vested_units(s, "fay", D(2026, 8, 31))  # open leave
    assert vested_units_by_partner(s, D(2030, 1, 1))["dana"] == 1800
    assert vested_units_by_partner(s, D(2030, 1, 1))["hal"] == 0


def test_the_count_of_queries_does_not_grow_with_partners_without_grants(app, runner, tmp_path):
    found(app, runner, tmp_path, founder_partners(10))
    with app.app_context():
        s = get_session()
        post_vesting_events(s, D(2026, 1, 1), D(2026, 4, 30))  # every units account now in use
        s.flush()
        with counting(s) as few:
            may = post_vesting_events(s, D(2026, 5, 1), D(2026, 5, 31))
        with counting(s) as weights_few:
            vested_units_by_partner(s, D(2026, 5, 31))

        # Forty more partners without a vesting grant: founders' units, or nothing granted at all.
        for i in range(20):
            add_partner(s, f"x{i:03d}", D(2026, 1, 1),
                        dict(units=10, start=D(2026, 1, 1), cliff_months=0, months=0, every=1, kind="founder"))
            add_partner(s, f"y{i:03d}", D(2026, 5, 1))
        s.flush()
        with counting(s) as many:
            june = post_vesting_events(s, D(2026, 6, 1), D(2026, 6, 30))
        with counting(s) as weights_many:
            weights = vested_units_by_partner(s, D(2026, 6, 30))

        assert [(e.source_ref, e.date) for e in may] == [("dana", D(2026, 5, 1)), ("eve", D(2026, 5, 31))]
        assert [(e.source_ref, e.date) for e in june] == [("dana", D(2026, 6, 1)), ("eve", D(2026, 6, 30))]
        assert many[0] == few[0]
        assert weights_many[0] == weights_few[0] <= 4
        assert len(weights) == 3 + 3 + 10 + 40

        # Nothing to post: the reads alone, a handful whatever the number of partners.
        with counting(s) as rerun:
            assert post_vesting_events(s, D(2026, 6, 1), D(2026, 6, 30)) == []
        assert rerun[0] <= 6


def test_a_retired_partner_is_skipped_and_the_others_still_vest_in_order(batch):
    s = batch
    post_vesting_events(s, D(2026, 1, 1), D(2026, 3, 31))
    post_retirement_units(s, "dana", D(2026, 4, 30))
    entries = post_vesting_events(s, D(2026, 4, 1), D(2026, 7, 31))
    assert [(e.source_ref, e.date) for e in entries] == [
        ("eve", D(2026, 4, 30)), ("eve", D(2026, 5, 31)), ("eve", D(2026, 6, 30)), ("eve", D(2026, 7, 31)),
        ("fay", D(2026, 4, 15)), ("fay", D(2026, 7, 15)),
    ]
    assert [e.id for e in entries] == sorted(e.id for e in entries)
    assert sum(-e.postings[1].amount for e in entries if e.source_ref == "fay") == Decimal(600)
    assert post_vesting_events(s, D(2026, 1, 1), D(2026, 7, 31)) == []
    from ledger.journal.balances import balance

    assert balance(s, chart.units_vested("dana"), "UNITS") == 0
