"""Provenance, impact and delegated votes on the web (CONTRACT §8): a statement line's "explain"
page, a change of policy's impact table before the vote, and delegating a vote from a proposal's
page or the dashboard — each page showing what the read model and the service decide."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from helpers.web import text
from sqlalchemy import select

from ledger.core.access import Viewer
from ledger.core.clock import FixedClock
from ledger.governance.models import Delegation
from ledger.governance.service import cast_vote, close_proposal, delegate_vote, get_proposal, open_proposal
from ledger.partnership.close import close_period
from ledger.practices.bookings import record_invoice
from ledger.practices.service import get_partner
from ledger.read.impact import impact
from ledger.read.proposals import describe
from ledger.read.statements import statement
from ledger.runtime.database import get_session

LATER = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)


@pytest.fixture
def ben(as_user):
    return as_user("ben")


def _line(app, code: str, kind: str) -> int:
    with app.app_context():
        return next(i for i, line in enumerate(statement(get_session(), code, "2026-01")["lines"]) if line["kind"] == kind)


def _open(app, kind: str, title: str, payload: dict, by: str = "ana") -> int:
    with app.app_context():
        s = get_session()
        p = open_proposal(s, get_partner(s, by), kind, title, payload, LATER)
        s.commit()
        return p.id


def _delegations(app) -> list[tuple[str, str, int | None, bool]]:
    with app.app_context():
        return [(d.delegator.code, d.delegate.code, d.proposal_id, d.revoked_at is None)
                for d in get_session().scalars(select(Delegation).order_by(Delegation.id))]


# --- explain this line ---------------------------------------------------------------------------


def test_a_statement_line_links_to_why_and_the_page_walks_margin_split_and_policy(closed_january, ben):
    n = _line(closed_january, "ben", "origination")
    page = ben.get("/partners/ben/statements/2026-01")
    assert f'/partners/ben/statements/2026-01/explain/{n}"' in page.get_data(as_text=True)
    assert "v1 · charter" in text(page)
    why = text(ben.get(f"/partners/ben/statements/2026-01/explain/{n}"))
    assert "Why 666.67 of origination on e1" in why
    assert "Net margin (invoiced 9,999.99 − costs 3,333.33) 6,666.66" in why
    assert "origination 10%, practice 60%, pool 30%" in why
    assert "The charter's own policy" in why


def test_a_line_under_a_voted_policy_links_to_the_vote(closed_january, ben):
    app = closed_january
    pid = _open(app, "change_policy", "Reward origination",
                {"origination": "15%", "practice": "55%", "pool_basis": "vested_units", "effective_period": "2026-02"})
    with app.app_context():
        s = get_session()
        for code in ("ana", "ben", "chen"):
            cast_vote(s, pid, get_partner(s, code), "yes")
        close_proposal(s, pid)
        record_invoice(s, "e1", Decimal("1000.00"), dt.date(2026, 2, 10))
        close_period(s, "2026-02")
        s.commit()
        n = next(i for i, line in enumerate(statement(s, "ben", "2026-02")["lines"]) if line["kind"] == "origination")
    page = ben.get("/partners/ben/statements/2026-02")
    assert f"v2 · vote #{pid}" in text(page)
    why = ben.get(f"/partners/ben/statements/2026-02/explain/{n}").get_data(as_text=True)
    assert re.search(rf'href="/proposals/{pid}"[^>]*data-testid="vote-link"', why)
    assert "Why 150.00 of origination on e1" in text(ben.get(f"/partners/ben/statements/2026-02/explain/{n}"))


def test_another_partners_line_is_forbidden_and_a_missing_line_is_not_found(closed_january, ana):
    assert ana.get("/partners/ben/statements/2026-01/explain/0").status_code == 403
    assert ana.get("/partners/ana/statements/2026-01/explain/99").status_code == 404


# --- the impact of a policy vote, before the vote ------------------------------------------------


def test_a_change_of_policy_shows_its_impact_per_partner_before_anyone_votes(closed_january, as_user):
    app = closed_january
    pid = _open(app, "change_policy", "Reward origination",
                {"origination": "15%", "practice": "55%", "pool_basis": "vested_units", "effective_period": "2026-02"})
    treasurer = as_user("treasurer")
    html = treasurer.get(f"/proposals/{pid}").get_data(as_text=True)
    with app.app_context():
        want = impact(get_session(), Viewer("treasurer"), pid)
    assert want["totals"]["delta"] == "0.00" and want["periods"] == ["2026-01"]
    for row in want["partners"]:
        cell = re.search(rf'data-testid="delta-{row["code"]}">(.*?)</td>', html, flags=re.S).group(1)
        assert re.sub(r"<[^>]+>|\s|,", "", cell).replace("\u2212", "-") == row["delta"]
    assert 'data-chart="impact"' in html


def test_a_partner_sees_only_their_own_row_of_the_impact_with_closed_books(closed_january, ben):
    pid = _open(closed_january, "change_policy", "Reward origination",
                {"origination": "15%", "practice": "55%", "pool_basis": "vested_units", "effective_period": "2026-02"})
    html = ben.get(f"/proposals/{pid}").get_data(as_text=True)
    assert 'data-testid="delta-ben"' in html
    assert 'data-testid="delta-ana"' not in html and 'data-testid="delta-chen"' not in html


def test_other_kinds_of_proposal_show_no_impact(web, ana):
    pid = _open(web, "resolution", "Dress code", {"text": "Ties on Fridays."})
    assert 'data-testid="impact"' not in ana.get(f"/proposals/{pid}").get_data(as_text=True)


# --- delegated votes -----------------------------------------------------------------------------


def test_delegating_and_revoking_a_vote_on_one_proposal(web, ana, ben):
    pid = _open(web, "resolution", "Dress code", {"text": "Ties on Fridays."}, by="chen")
    response = ana.post(f"/proposals/{pid}/delegate", data={"to": "ben"})
    assert response.status_code == 302
    assert _delegations(web) == [("ana", "ben", pid, True)]
    assert "Your vote is delegated to ben" in text(ana.get(f"/proposals/{pid}"))
    assert "You also carry the vote of ana" in text(ben.get(f"/proposals/{pid}"))
    ana.post(f"/proposals/{pid}/delegate/revoke")
    assert _delegations(web) == [("ana", "ben", pid, False)]
    assert "delegated to" not in text(ana.get(f"/proposals/{pid}"))


def test_a_delegation_the_service_refuses_writes_nothing_and_says_why(web, ana):
    pid = _open(web, "resolution", "Dress code", {"text": "Ties on Fridays."}, by="chen")
    for to in ("ana", "nobody", ""):
        response = ana.post(f"/proposals/{pid}/delegate", data={"to": to}, follow_redirects=True)
        assert response.status_code == 200
        assert "error" in response.get_data(as_text=True)
    assert _delegations(web) == []


def test_a_standing_delegation_from_the_dashboard_counts_at_the_close_and_shows_in_the_tally(web, ana, ben):
    assert ana.post("/proposals/delegation", data={"to": "ben"}).status_code == 302
    assert _delegations(web) == [("ana", "ben", None, True)]
    assert "goes to ben unless you vote yourself" in text(ana.get("/"))
    pid = _open(web, "resolution", "Dress code", {"text": "Ties on Fridays."}, by="chen")
    assert "(your standing delegation)" in text(ana.get(f"/proposals/{pid}"))
    with web.app_context():
        s = get_session()
        cast_vote(s, pid, get_partner(s, "ben"), "yes")
        cast_vote(s, pid, get_partner(s, "chen"), "no")
        # ana may still vote herself until it closes: the close comes when the time is up.
        s.info["clock"] = FixedClock(LATER + dt.timedelta(minutes=1))
        close_proposal(s, pid)
        s.commit()
        weights = {e["partner"]: e["weight"] for e in describe(s, get_proposal(s, pid))["electorate"]}
    page = text(ana.get(f"/proposals/{pid}"))
    assert f"by delegation: {weights['ana']} yes, 0 no, 0 abstain" in page
    assert f"Cast directly: {weights['ben']} yes, {weights['chen']} no, 0 abstain" in page
    assert "ana's vote went to ben (yes)" in page
    ana.post("/proposals/delegation/revoke")
    assert _delegations(web) == [("ana", "ben", None, False)]


def test_a_delegation_made_in_the_service_shows_on_both_dashboards(web, ana, ben):
    with web.app_context():
        s = get_session()
        delegate_vote(s, get_partner(s, "ana"), "ben")
        s.commit()
    assert "You carry ana 's vote on every proposal unless they vote themselves" in text(ben.get("/"))
