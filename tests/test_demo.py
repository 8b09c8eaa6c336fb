"""``ledger demo``: a year of Harbor IT Partners, founded from nothing, every invariant holding."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from ledger.core.access import Viewer
from ledger.governance.models import Proposal
from ledger.journal.models import Period
from ledger.partnership.integrity import full_verify
from ledger.practices.models import Partner, Practice
from ledger.read.impact import impact
from ledger.read.proposals import for_viewer
from ledger.read.provenance import explain
from ledger.read.statements import ALLOCATION_KINDS, statement
from ledger.revenue.close import _overhead_and_unattributed, closed_period_inputs, gather
from ledger.runtime.database import get_session
from ledger.succession.service import buyout_schedule


def test_the_demo_builds_a_year_and_prints_its_logins(make_app, fresh_db_url):
    app = make_app(fresh_db_url)
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "treasurer@example.com" in result.output and "demo-password" in result.output
    assert result.output.strip().splitlines()[-1].split()[-1].startswith("pl_")  # an API token
    with app.app_context():
        s = get_session()
        assert full_verify(s).ok
        assert s.scalar(sa.select(sa.func.count()).select_from(Period).where(Period.status == "closed")) == 10
        assert set(s.scalars(sa.select(Practice.code))) == {"msft", "voice", "books", "security", "cloud"}
        statuses = dict(s.execute(sa.select(Partner.code, Partner.status)).all())
        assert statuses["chen"] == "retired" and statuses["eve"] == "active"
        assert buyout_schedule(s, "chen")["installments"][0]["status"] == "paid"
        _the_year_ran_on_its_own_dates_and_leaves_votes_open(s)
        _every_statement_line_explains_to_its_vote(s)
        _closed_months_replay_from_their_closes(s)
        _a_year_of_practice_economics(s)
        _the_demo_partners_calendars_parse_back(app, s)


def _a_year_of_practice_economics(s) -> None:
    """CONTRACT §10 on the demo: a practice subcontracts over a third of its costs, a firm's NSA
    expires within 60 days, and the year's closes allocated exactly its net income."""
    from decimal import Decimal

    from ledger.read.income import firms, income_statement

    year = income_statement(s, "2026-01", "2026-10", "practice")
    shares = {r.key: Decimal(r.figures.subcontract_share or 0) for r in year.rows}
    assert shares["cloud"] > Decimal(1) / 3 and shares["security"] > Decimal(1) / 3, shares
    assert year.allocated == year.net_income and year.provisional == []
    assert "tidewater" in [f.code for f in firms(s) if f.nsa_status == "expires_soon"]
    # ... and the treasurer was told so, once, with a link to the firm's page.
    from ledger.notify.models import Notification
    told = s.scalars(sa.select(Notification).where(Notification.kind == "nsa_expiring",
                                                   Notification.link == "/firms/tidewater")).all()
    assert [n.user.email for n in told] == ["treasurer@example.com"]
    assert told[0].subject.startswith("The NSA with Tidewater Cloud Services expires on ")


def _the_year_ran_on_its_own_dates_and_leaves_votes_open(s) -> None:
    """Proposals and closes carry 2026's dates (the simulated clock), and on the real clock a change
    of policy with an impact to preview, a practice awaiting ana's vote and eve's standing
    delegation to ben are open."""
    closed = s.scalars(sa.select(Proposal).where(Proposal.status == "passed").order_by(Proposal.id)).all()
    assert [p.opened_at.date().isoformat() for p in closed] == \
        ["2026-01-02", "2026-03-02", "2026-06-02", "2026-06-02", "2026-08-02"]
    assert all(p.opened_at < p.closed_at < p.closes_at for p in closed)
    october = s.get(Period, "2026-10")
    assert october.closed_at.date() == dt.date(2026, 11, 2)
    open_ = {p.kind: p for p in s.scalars(sa.select(Proposal).where(Proposal.status == "open"))}
    assert set(open_) == {"change_policy", "add_practice"}
    effect = impact(s, Viewer("treasurer"), open_["change_policy"].id)
    assert effect["periods"] == ["2026-07", "2026-08", "2026-09", "2026-10"] and effect["totals"]["delta"] == "0.00"
    assert any(row["delta"] != "0.00" for row in effect["partners"])
    ana = for_viewer(s, open_["add_practice"].id, Viewer("partner", "ana"))
    assert ana["you"]["can_vote"] and not ana["you"]["have_voted"]
    ben = for_viewer(s, open_["add_practice"].id, Viewer("partner", "ben"))
    assert ben["you"]["delegated_by"] == ["eve"]


def _every_statement_line_explains_to_its_vote(s) -> None:
    """CONTRACT §8 on the demo: every allocation line of every statement explains to its own amount,
    its policy version and, from July, the change_policy vote that made that version."""
    july = s.scalar(sa.select(Proposal.id).where(Proposal.kind == "change_policy", Proposal.status == "passed"))
    explained = 0
    for code in ("ana", "ben", "chen", "dana", "eve"):
        for month in range(1, 11):
            pid = f"2026-{month:02d}"
            for n, line in enumerate(statement(s, code, pid)["lines"]):
                if line["kind"] not in ALLOCATION_KINDS:
                    continue
                x = explain(s, Viewer("treasurer"), code, pid, n)
                assert x["policy"]["version"] == line["policy_version"]
                assert (x["proposal"] or {}).get("id") == (july if month >= 7 else None), (code, pid, n)
                amount = x["split"]["amount"] if line["kind"] == "pool" else (
                    x["split"]["amounts"]["origination"] if line["kind"] == "origination" else x["split"]["owners"]["amount"])
                assert amount == line["amount"], (code, pid, n)
                explained += 1
    assert explained > 200  # the demo's allocation lines (253 when written), every one explained


def _closed_months_replay_from_their_closes(s) -> None:
    """What an impact preview reads back from a closed month (its engagements' nets from the month
    totals, its overhead and unattributed amounts from the close's own entries) is what a sum of the
    month's postings gives, for every closed month of the demo (retirements, overhead, a retiree's
    origination and all)."""
    months = [f"2026-{m:02d}" for m in range(1, 11)]
    inputs = closed_period_inputs(s, months)
    for pid in months:
        facts = gather(s, pid)
        start, end = s.get(Period, pid).starts_on, s.get(Period, pid).ends_on
        assert (inputs[pid].overhead, inputs[pid].unattributed) == _overhead_and_unattributed(s, start, end, "USD"), pid
        assert sorted(inputs[pid].nets) == sorted((e.practice, e.originator, e.invoiced_cents - e.costs_cents)
                                                  for e in facts.engagements if e.invoiced_cents != e.costs_cents), pid
    assert any(inputs[pid].overhead for pid in months)
def _the_demo_partners_calendars_parse_back(app, s) -> None:
    """Each partner's secret iCalendar feed (CONTRACT §9), fetched as a calendar client would and
    parsed back by ``icalendar``: their vote deadlines, their own grants' cliff and vesting dates,
    the period ends, and a retiree's buyout installments."""
    from icalendar import Calendar

    from ledger.auth.service import get_user
    from ledger.core import periods as P
    from ledger.core.vesting import schedule
    from ledger.equity.service import grants_with_terms
    from ledger.governance.models import Elector
    from ledger.notify.feeds import FEED_PATH, feed_token

    client = app.test_client()

    def feed(code):
        user = get_user(s, f"{code}@example.com")
        response = client.get(FEED_PATH.format(token=feed_token(s, app.config["SECRET_KEY"], user)))
        assert response.status_code == 200 and response.mimetype == "text/calendar"
        cal = Calendar.from_ical(response.data)
        assert cal["VERSION"] == "2.0" and cal["PRODID"]
        return {str(e["UID"]).split("@")[0]: e for e in cal.walk("VEVENT")}

    for code in ("ana", "dana", "chen"):
        events = feed(code)
        partner = s.scalar(sa.select(Partner).where(Partner.code == code))
        votes = {f"vote-{p.id}" for p in s.scalars(sa.select(Proposal).join(Elector, Elector.proposal_id == Proposal.id)
                                                  .where(Elector.partner_id == partner.id, Proposal.status != "canceled"))}
        assert {uid for uid in events if uid.startswith("vote-")} == votes
        for uid in votes:
            proposal = s.get(Proposal, int(uid.split("-")[1]))
            assert events[uid].decoded("DTSTART") == proposal.closes_at.replace(microsecond=0, tzinfo=dt.UTC)
        vesting = {f"vest-{g.id}-{e.date.isoformat()}" for g, t in grants_with_terms(s, partner) for e in schedule(t)}
        assert {uid for uid in events if uid.startswith("vest-")} == vesting
        for month in range(1, 11):
            end = P.bounds(f"2026-{month:02d}", "month")[1]
            assert events[f"period-2026-{month:02d}"].decoded("DTSTART") == end
    # ana votes on the open add_practice; dana's 12-month cliff is 2027-01-01, a quarter of 4,800.
    dana = feed("dana")
    [cliff] = [e for uid, e in dana.items() if uid.startswith("vest-") and str(e["SUMMARY"]).startswith("Cliff")]
    assert cliff.decoded("DTSTART") == dt.date(2027, 1, 1) and str(cliff["SUMMARY"]) == "Cliff: 1200 units vest"
    assert not any(uid.startswith("installment-") for uid in dana)
    chen = feed("chen")
    installments = buyout_schedule(s, "chen")["installments"]
    assert [str(chen[f"installment-chen-{i['number']}"]["SUMMARY"]) for i in installments] == \
        [f"Buyout installment {i['number']}: {i['amount']} ({i['status']})" for i in installments]
    assert chen["installment-chen-1"].decoded("DTSTART") == P.bounds(installments[0]["period"], "month")[1]
