"""Retirement end to end on both engines, with hand-checkable figures."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from ledger.core import chart
from ledger.core.errors import ValidationError
from ledger.core.succession import goodwill, installments
from ledger.governance.service import cast_vote, close_proposal, open_proposal
from ledger.journal.balances import balance, trial_balance
from ledger.journal.verify import verify
from ledger.partnership.close import close_period
from ledger.practices.models import Ownership, Practice
from ledger.practices.service import get_partner
from ledger.read.statements import statement
from ledger.succession.service import buyout_schedule

D = Decimal
LATER = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)


def retire(s, who, period, successors):
    prop = open_proposal(s, get_partner(s, "ana" if who != "ana" else "ben"), "retire_partner", f"Retire {who}",
                         {"partner": who, "effective_period": period, "successors": successors}, LATER)
    for voter in ("ana", "ben", "chen"):
        if voter != who:
            cast_vote(s, prop.id, get_partner(s, voter), "yes")
    return close_proposal(s, prop.id)


def test_chen_retires_at_the_close_of_february(posted_january):
    s = posted_january
    close_period(s, "2026-01")
    result = retire(s, "chen", "2026-02", {"voice": "ben"})
    assert result.status == "passed", result.reason
    close_period(s, "2026-02")
    s.commit()
    chen = get_partner(s, "chen")
    assert chen.status == "retired"
    # Capital 813.27 (January) + goodwill 1.0 × mean(813.27, 0.00) = 406.635 → 406.64 (half-even).
    sched = buyout_schedule(s, "chen")
    assert (sched["capital"], sched["goodwill"], sched["total"]) == ("813.27", "406.64", "1219.91")
    assert [i["amount"] for i in sched["installments"]] == ["304.98", "304.98", "304.98", "304.97"]
    assert balance(s, chart.capital("chen")) == 0
    assert balance(s, chart.buyout("chen")) == D("-1219.91")
    # Goodwill 406.64 charged to ana/ben by units 500/250: 271.09 / 135.55 (the cent to ben, .66 > .33).
    feb = {c: statement(s, c, "2026-02") for c in ("ana", "ben", "chen")}
    assert [ln["amount"] for ln in feb["ana"]["lines"] if ln["kind"] == "goodwill"] == ["-271.09"]
    assert [ln["amount"] for ln in feb["ben"]["lines"] if ln["kind"] == "goodwill"] == ["-135.55"]
    assert [ln["amount"] for ln in feb["chen"]["lines"] if ln["kind"] == "buyout"] == ["-813.27"]
    assert feb["chen"]["closing"] == "0.00"
    # Units: redeemed.
    assert balance(s, chart.units_vested("chen"), "UNITS") == 0
    # Ownership: voice passes to ben from March.
    voice = s.scalar(sa.select(Practice).where(Practice.code == "voice"))
    current = {o.partner.code: o.share for o in voice.ownerships if o.to_period is None}
    assert current == {"ben": D("1")}
    assert {o.partner.code for o in voice.ownerships if o.from_period == "2026-01"} == {"ben", "chen"}
    # March: the first installment is paid and listed on chen's statement, not as a capital line.
    close_period(s, "2026-03")
    s.commit()
    mar = statement(s, "chen", "2026-03")
    assert [i["amount"] for i in mar["installments"]] == ["304.98"]
    assert mar["lines"] == []
    assert buyout_schedule(s, "chen")["installments"][0]["status"] == "paid"
    totals = {}
    for _a, c, v in trial_balance(s):
        totals[c] = totals.get(c, 0) + v
    assert totals == {"USD": 0, "UNITS": 0}
    assert verify(s).ok


def test_retirement_with_fewer_closed_periods_than_the_lookback(posted_january):
    s = posted_january
    assert retire(s, "chen", "2026-01", {"voice": "ben"}).status == "passed"
    close_period(s, "2026-01")
    # One period of history: goodwill = 1.0 × 813.27.
    assert buyout_schedule(s, "chen")["goodwill"] == "813.27"


@pytest.mark.parametrize("payload,field", [
    # msft is ana's alone: nobody else would hold it (voice is co-owned, so it may pass pro rata).
    ({"partner": "ana", "effective_period": "2026-02", "successors": {}}, "payload.successors.msft"),
    ({"partner": "chen", "effective_period": "2026-02", "successors": {"voice": "chen"}}, "payload.successors.voice"),
    ({"partner": "chen", "effective_period": "2026-02", "successors": {"voice": "zed"}}, "payload.successors.voice"),
    ({"partner": "chen", "effective_period": "2026-02", "successors": {"voice": "ben", "msft": "ana"}}, "payload.successors.msft"),
    ({"partner": "zed", "effective_period": "2026-02", "successors": {}}, "payload.partner"),
])
def test_bad_retirements_are_refused_at_proposal_time(s, payload, field):
    with pytest.raises(ValidationError) as exc:
        open_proposal(s, get_partner(s, "ana"), "retire_partner", "R", payload, LATER)
    assert field in exc.value.errors


def test_a_closed_effective_period_is_refused(s):
    close_period(s, "2026-01")
    with pytest.raises(ValidationError) as exc:
        open_proposal(s, get_partner(s, "ana"), "retire_partner", "R",
                      {"partner": "chen", "effective_period": "2026-01", "successors": {"voice": "ben"}}, LATER)
    assert "payload.effective_period" in exc.value.errors


def test_the_retiree_is_recused(s):
    prop = open_proposal(s, get_partner(s, "ana"), "retire_partner", "R",
                         {"partner": "chen", "effective_period": "2026-02", "successors": {"voice": "ben"}}, LATER)
    from ledger.core.errors import Forbidden

    with pytest.raises(Forbidden):
        cast_vote(s, prop.id, get_partner(s, "chen"), "yes")
    assert s.scalar(sa.select(sa.func.count()).select_from(Ownership)) == 3


amounts = st.integers(min_value=-10**10, max_value=10**10).map(lambda c: D(c) / 100)


@given(amounts, st.integers(1, 24))
def test_installments_sum_exactly_to_the_buyout(total, n):
    parts = installments(total, n, "USD")
    assert sum(parts) == total and len(parts) == n
    assert max(parts) - min(parts) <= D("0.01")


@given(st.lists(amounts, max_size=8), st.sampled_from([D("0"), D("0.5"), D("1.0"), D("2.25")]))
def test_goodwill_is_the_rounded_mean(allocs, multiple):
    g = goodwill(multiple, allocs, "USD")
    if allocs:
        exact = multiple * sum(allocs) / len(allocs)
        assert abs(g - exact) <= D("0.005")
    else:
        assert g == 0


@pytest.mark.parametrize("draw,goodwill_multiple,basis", [
    ("0.00", "1.0", "vested_units"),
    ("2000.00", "1.0", "vested_units"),     # the retiree drew more than his capital: negative buyout capital
    ("100.00", "2.5", "equal"),
    ("0.00", "0", "vested_units"),          # no goodwill at all
])
def test_retirement_invariants(posted_january, draw, goodwill_multiple, basis):
    """Whatever the figures: the retiree's capital ends at exactly zero, the goodwill lines sum to
    the goodwill, the installments sum to the buyout, and both commodities still balance."""
    from ledger.practices.models import Partnership
    from ledger.revenue.models import PolicyVersion

    s = posted_january
    s.scalar(sa.select(Partnership)).goodwill_multiple = D(goodwill_multiple)
    s.scalar(sa.select(PolicyVersion)).pool_basis = basis
    if draw != "0.00":
        from ledger.practices.bookings import record_draw

        record_draw(s, "chen", D(draw), dt.date(2026, 1, 28))
    assert retire(s, "chen", "2026-01", {"voice": "ben"}).status == "passed"
    close_period(s, "2026-01")
    sched = buyout_schedule(s, "chen")
    assert balance(s, chart.capital("chen")) == 0
    goodwill_lines = [D(ln["amount"]) for c in ("ana", "ben") for ln in statement(s, c, "2026-01")["lines"]
                      if ln["kind"] == "goodwill"]
    assert -sum(goodwill_lines, D(0)) == D(sched["goodwill"])
    assert sum(D(i["amount"]) for i in sched["installments"]) == D(sched["total"])
    assert D(sched["total"]) == D(sched["capital"]) + D(sched["goodwill"])
    assert balance(s, chart.buyout("chen")) == -D(sched["total"])
    totals = {}
    for _a, c, v in trial_balance(s):
        totals[c] = totals.get(c, 0) + v
    assert totals == {"USD": 0, "UNITS": 0}
    assert verify(s).ok


def test_a_retired_partner_reads_but_no_longer_acts(posted_january, founded):
    from ledger.core.errors import Forbidden

    s = posted_january
    retire(s, "chen", "2026-01", {"voice": "ben"})
    close_period(s, "2026-01")
    s.commit()
    chen = get_partner(s, "chen")
    with pytest.raises(Forbidden):
        open_proposal(s, chen, "resolution", "R", {"text": "x"}, LATER)
    from ledger.core.errors import Conflict
    from ledger.practices.engagements import open_engagement

    with pytest.raises(Conflict) as exc:  # CONTRACT §7: a 409
        open_engagement(s, ref="x1", client="acme", practice="msft", originator="chen", title="t",
                        opened_on=dt.date(2026, 2, 2))
    assert "originator" in exc.value.errors
    assert not [o for o in s.scalars(sa.select(Ownership)) if o.partner.code == "chen" and o.to_period is None]
    # Reads stay open to him: statement and buyout through the API.
    from ledger.auth.service import create_token, get_user

    token = create_token(s, get_user(s, "chen@example.com"))
    s.commit()
    client = founded.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    r = client.get("/api/v1/partners/chen/buyout", headers=headers)
    assert r.status_code == 200 and r.get_json()["status"] == "done"
    r = client.get("/api/v1/partners/chen/statement?period=2026-01", headers=headers)
    assert r.status_code == 200 and r.get_json()["closing"] == "0.00"
    assert client.get("/api/v1/partners/ben/buyout", headers=headers).status_code == 403
