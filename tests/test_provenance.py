"""Why a figure is what it is, and what a vote would change (CONTRACT §8): policy versions and the
votes behind them on every allocation line, one line explained to its engagement, split and vote,
and a change_policy's impact replayed by the close's own allocation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from helpers.postings import cost, draw, engagement, invoice, overhead

from ledger.core.access import Viewer
from ledger.core.errors import Conflict, Forbidden, NotFound
from ledger.governance.service import cast_vote, close_proposal, electorate_of, open_proposal
from ledger.partnership.close import close_period
from ledger.practices.service import get_partner
from ledger.read.impact import impact
from ledger.read.provenance import explain, policies
from ledger.read.statements import statement
from ledger.revenue.models import PolicyVersion

D = Decimal
LATER = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
TREASURER = Viewer("treasurer")


def month(s, pid: str, first: dt.date) -> None:
    """The worked January's postings, in the month starting ``first``."""
    e1 = engagement(s, f"e1-{pid}", "msft", "ben")
    e2 = engagement(s, f"e2-{pid}", "voice", "chen")
    invoice(s, e1, "9999.99", first + dt.timedelta(days=9))
    cost(s, e1, "3333.33", first + dt.timedelta(days=11))
    invoice(s, e2, "1234.57", first + dt.timedelta(days=19))
    overhead(s, "500.00", first + dt.timedelta(days=4))
    draw(s, "ben", "200.00", first + dt.timedelta(days=24))


def change_policy(s, origination: str, practice: str, effective: str, pool_basis: str = "vested_units"):
    return open_proposal(s, get_partner(s, "ana"), "change_policy", f"{origination} origination",
                         {"origination": origination, "practice": practice, "pool_basis": pool_basis,
                          "effective_period": effective}, LATER)


def pass_it(s, proposal):
    for code in electorate_of(s, proposal):
        cast_vote(s, proposal.id, get_partner(s, code), "yes")
    closed = close_proposal(s, proposal.id)
    assert closed.status == "passed", closed.reason
    return closed


def allocations(s, pid: str) -> dict[str, Decimal]:
    return {c: D(statement(s, c, pid)["allocated"]) for c in ("ana", "ben", "chen")}


# --- policy versions on every allocation line ----------------------------------------------------


def test_every_allocation_line_names_its_policy_version_and_the_vote_behind_it(s):
    month(s, "jan", dt.date(2026, 1, 1))
    close_period(s, "2026-01")
    vote = pass_it(s, change_policy(s, "15%", "55%", "2026-02"))
    month(s, "feb", dt.date(2026, 2, 1))
    close_period(s, "2026-02")
    for pid, version, proposal in (("2026-01", 1, None), ("2026-02", 2, vote.id)):
        lines = [line for line in statement(s, "ben", pid)["lines"] if line["kind"] in ("origination", "practice", "pool")]
        assert lines and all((line["policy_version"], line["proposal"]) == (version, proposal) for line in lines)
    draws = [line for line in statement(s, "ben", "2026-02")["lines"] if line["kind"] == "draw"]
    assert draws and "policy_version" not in draws[0]
    assert [(p["version"], p["origination"], p["practice"], p["pool"], p["effective_period"], p["proposal"])
            for p in policies(s)] == [(1, "10%", "60%", "30%", "2026-01", None), (2, "15%", "55%", "30%", "2026-02", vote.id)]


# --- one line explained ----------------------------------------------------------------------------


@pytest.fixture
def closed_month(s):
    month(s, "jan", dt.date(2026, 1, 1))
    close_period(s, "2026-01")
    return s


def test_an_origination_line_is_explained_to_its_invoices_and_costs_and_split(closed_month):
    s = closed_month
    lines = statement(s, "ben", "2026-01")["lines"]
    n = next(i for i, line in enumerate(lines) if line["kind"] == "origination")
    x = explain(s, TREASURER, "ben", "2026-01", n)
    assert x["line"]["amount"] == "666.67" == x["split"]["amounts"]["origination"]
    assert (x["engagement"]["invoiced"], x["engagement"]["costs"], x["engagement"]["net_margin"]) == \
        ("9999.99", "3333.33", "6666.66")
    assert [i["amount"] for i in x["engagement"]["invoice_entries"]] == ["9999.99"]
    assert [c["amount"] for c in x["engagement"]["cost_entries"]] == ["3333.33"]
    assert x["split"]["weights"] == {"origination": "10%", "practice": "60%", "pool": "30%"}
    assert (x["policy"]["version"], x["proposal"]) == (1, None)


def test_a_practice_and_a_pool_line_show_every_weight_to_the_treasurer_and_only_ones_own_to_a_partner(closed_month):
    s = closed_month
    lines = statement(s, "chen", "2026-01")["lines"]
    practice = next(i for i, line in enumerate(lines) if line["kind"] == "practice")
    pool = next(i for i, line in enumerate(lines) if line["kind"] == "pool")
    full = explain(s, TREASURER, "chen", "2026-01", practice)["split"]["owners"]
    assert full["weights"] == [{"partner": "ben", "share": "0.7"}, {"partner": "chen", "share": "0.3"}]
    own = explain(s, Viewer("partner", "chen"), "chen", "2026-01", practice)["split"]["owners"]
    assert own["weights"] == [{"partner": "chen", "share": "0.3"}] and own["total"] == "1.0"
    x = explain(s, Viewer("partner", "chen"), "chen", "2026-01", pool)["split"]
    assert (x["pool_net"], x["amount"], x["weights"], x["total"]) == ("1870.37", "467.59",
                                                                      [{"partner": "chen", "weight": "250"}], "1000")


def test_explaining_another_partners_line_or_a_line_that_is_not_there_is_refused(closed_month):
    s = closed_month
    with pytest.raises(Forbidden):
        explain(s, Viewer("partner", "ana"), "ben", "2026-01", 0)
    with pytest.raises(NotFound):
        explain(s, TREASURER, "ben", "2026-01", 99)
    draw_line = next(i for i, line in enumerate(statement(s, "ben", "2026-01")["lines"]) if line["kind"] == "draw")
    assert "not an allocation" in explain(s, TREASURER, "ben", "2026-01", draw_line)["note"]


def test_every_line_of_a_month_explains_to_its_own_amount(closed_month):
    s = closed_month
    for code in ("ana", "ben", "chen"):
        for n, line in enumerate(statement(s, code, "2026-01")["lines"]):
            x = explain(s, TREASURER, code, "2026-01", n)
            assert x["line"] == line
            if line["kind"] == "pool":
                assert x["split"]["amount"] == line["amount"]


# --- the impact of a policy vote -------------------------------------------------------------------


def test_restating_the_current_policy_has_no_impact_on_anyone(closed_month):
    s = closed_month
    same = change_policy(s, "10%", "60%", "2026-02")
    got = impact(s, TREASURER, same.id, periods=4)
    assert got["periods"] == ["2026-01"]
    assert {row["delta"] for row in got["partners"]} == {"0.00"} and got["totals"]["delta"] == "0.00"


def test_moving_origination_to_15_percent_shows_exactly_what_the_two_closes_would_post(s):
    month(s, "jan", dt.date(2026, 1, 1))
    # Close copies of January under each policy: the difference is what the impact must show.
    savepoint = s.begin_nested()
    close_period(s, "2026-01")
    under_current = allocations(s, "2026-01")
    savepoint.rollback()
    savepoint = s.begin_nested()
    s.add(PolicyVersion(version=2, origination=D("0.15"), practice=D("0.55"), pool_basis="vested_units",
                        effective_period="2026-01", created_at=dt.datetime.now(dt.UTC)))
    s.flush()
    close_period(s, "2026-01")
    under_proposed = allocations(s, "2026-01")
    savepoint.rollback()
    close_period(s, "2026-01")
    proposal = change_policy(s, "15%", "55%", "2026-02")
    got = impact(s, TREASURER, proposal.id, periods=1)
    rows = {row["code"]: row for row in got["partners"]}
    for code in ("ana", "ben", "chen"):
        assert D(rows[code]["actual"]) == under_current[code]
        assert D(rows[code]["proposed"]) == under_proposed[code]
        assert D(rows[code]["delta"]) == under_proposed[code] - under_current[code]
    assert D(rows["ben"]["delta"]) > 0  # ben originated e1: more origination, less practice for ana
    assert got["totals"]["delta"] == "0.00"  # moving shares creates and loses no cent


def test_a_partner_reads_their_own_impact_row_with_closed_books(closed_month):
    s = closed_month
    proposal = change_policy(s, "15%", "55%", "2026-02")
    got = impact(s, Viewer("partner", "ana"), proposal.id)
    assert [row["code"] for row in got["partners"]] == ["ana"] and got["totals"]["actual"] == "7401.23"


def test_only_a_change_policy_has_an_impact(closed_month):
    s = closed_month
    other = open_proposal(s, get_partner(s, "ana"), "resolution", "R", {"text": "t"}, LATER)
    with pytest.raises(Conflict):
        impact(s, TREASURER, other.id)


def test_a_statement_lists_the_policy_versions_behind_its_lines_and_the_pdf_footnotes_them(s):
    from ledger.read.render import policy_footnotes

    month(s, "jan", dt.date(2026, 1, 1))
    close_period(s, "2026-01")
    vote = pass_it(s, change_policy(s, "15%", "55%", "2026-02"))
    month(s, "feb", dt.date(2026, 2, 1))
    close_period(s, "2026-02")
    st = statement(s, "ben", "2026-01", "2026-02")
    assert [(p["version"], p["origination"], p["pool"], p["proposal"]) for p in st["policies"]] == \
        [(1, "10%", "30%", None), (2, "15%", "30%", vote.id)]
    notes = policy_footnotes(st)
    assert notes[0].startswith("Policy version 1: origination 10%, practice 60%, pool 30% by vested units, from 2026-01;")
    assert notes[0].endswith("the charter's own policy.")
    assert f"adopted by proposal #{vote.id} (15% origination)" in notes[1]
    assert statement(s, "ben", "2026-03")["policies"] == []
