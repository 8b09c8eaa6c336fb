"""Proposals on both engines: electorate frozen at opening, votes, early close, effects applied
exactly once in the close's transaction, failures that apply nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from ledger.auth.models import User
from ledger.core import chart
from ledger.core.clock import FixedClock
from ledger.core.errors import Conflict, Forbidden, ValidationError
from ledger.equity.models import Grant
from ledger.governance.models import Vote
from ledger.governance.service import cancel_proposal, cast_vote, close_proposal, open_proposal
from ledger.journal.balances import balance
from ledger.partnership.close import close_period
from ledger.practices.models import Ownership, Partner, Practice
from ledger.practices.service import get_partner
from ledger.read.proposals import describe
from ledger.revenue.close import policy_for

NOW = dt.datetime.now(dt.UTC)
LATER = NOW + dt.timedelta(days=7)
CLOUD = {"code": "cloud", "name": "Cloud", "owners": {"ana": "60%", "chen": "40%"}}


def p(s, code):
    return get_partner(s, code)


def vote_all(s, proposal, choices):
    for code, choice in choices.items():
        cast_vote(s, proposal.id, p(s, code), choice)


def test_add_practice_passes_and_exists_with_its_owners(s):
    prop = open_proposal(s, p(s, "ben"), "add_practice", "Add a cloud practice", CLOUD, LATER)
    vote_all(s, prop, {"ana": "yes", "ben": "yes"})
    with pytest.raises(Conflict):
        close_proposal(s, prop.id)  # chen has not voted and it is not yet closes_at
    cast_vote(s, prop.id, p(s, "chen"), "no")
    closed = close_proposal(s, prop.id)
    s.commit()
    assert (closed.status, closed.effect) == ("passed", "practice:cloud")
    assert closed.executed_at is not None
    cloud = s.scalar(sa.select(Practice).where(Practice.code == "cloud"))
    assert {o.partner.code: o.share for o in cloud.ownerships} == {"ana": Decimal("0.6"), "chen": Decimal("0.4")}
    assert cloud.ownerships[0].from_period == "2026-01"
    d = describe(s, closed)
    assert d["tally"]["yes"] == "2" and d["tally"]["no"] == "1" and d["votes"]["chen"] == "no"


def test_closing_twice_returns_the_result_and_executes_once(s):
    prop = open_proposal(s, p(s, "ana"), "add_practice", "Cloud", CLOUD, LATER)
    vote_all(s, prop, {"ana": "yes", "ben": "yes", "chen": "yes"})
    close_proposal(s, prop.id)
    again = close_proposal(s, prop.id)
    s.commit()
    assert again.status == "passed"
    assert s.scalar(sa.select(sa.func.count()).select_from(Practice).where(Practice.code == "cloud")) == 1
    with pytest.raises(Conflict):
        cast_vote(s, prop.id, p(s, "ana"), "no")


def test_a_later_vote_replaces_the_earlier_and_history_is_kept(s):
    prop = open_proposal(s, p(s, "ana"), "resolution", "Hold a retreat", {"text": "Retreat in May"}, LATER)
    vote_all(s, prop, {"ana": "yes", "ben": "no", "chen": "no"})
    cast_vote(s, prop.id, p(s, "ben"), "yes")
    closed = close_proposal(s, prop.id)
    assert closed.status == "passed"
    assert s.scalar(sa.select(sa.func.count()).select_from(Vote).where(Vote.proposal_id == prop.id)) == 4


def test_votes_after_closes_at_are_refused_and_close_then_tallies(s):
    prop = open_proposal(s, p(s, "ana"), "resolution", "R", {"text": "x"}, LATER)
    cast_vote(s, prop.id, p(s, "ana"), "yes")
    after = LATER + dt.timedelta(seconds=1)
    s.info["clock"] = FixedClock(after)  # the server's clock moves past closes_at
    with pytest.raises(Conflict):
        cast_vote(s, prop.id, p(s, "ben"), "yes")
    closed = close_proposal(s, prop.id)
    assert (closed.status, closed.reason) == ("failed", "quorum not met")


@pytest.mark.parametrize("kind,payload,closes,field", [
    ("add_practice", {**CLOUD, "owners": {"ana": "90%"}}, LATER, "payload.owners"),
    ("add_practice", {**CLOUD, "code": "msft"}, LATER, "payload.code"),
    ("add_practice", {**CLOUD, "owners": {"zed": "100%"}}, LATER, "payload.owners.zed"),
    ("add_practice", CLOUD, NOW - dt.timedelta(minutes=1), "closes_at"),
    ("launch_rocket", {}, LATER, "kind"),
    ("change_policy", {"origination": "10%", "practice": "95%", "pool_basis": "equal", "effective_period": "2026-02"}, LATER, "payload.practice"),
    ("change_policy", {"origination": "10%", "practice": "50%", "pool_basis": "equal", "effective_period": "Feb"}, LATER, "payload.effective_period"),
    ("admit_partner", {"code": "ben", "name": "B2", "email": "b2@example.com",
                       "grant": {"units": 10, "start": "2026-01-01", "cliff_months": 0, "months": 12}}, LATER, "payload.code"),
    ("admit_partner", {"code": "dee", "name": "Dee", "email": "dee@example.com",
                       "grant": {"units": 10, "start": "2026-01-01", "cliff_months": 24, "months": 12}}, LATER, "payload.grant.cliff_months"),
    ("resolution", {"text": ""}, LATER, "payload.text"),
])
def test_bad_proposals_are_refused_and_write_nothing(s, kind, payload, closes, field):
    with pytest.raises(ValidationError) as exc:
        open_proposal(s, p(s, "ana"), kind, "bad", payload, closes)
    assert field in exc.value.errors, exc.value.errors


def test_an_effect_that_can_no_longer_apply_fails_the_proposal_and_applies_nothing(s):
    first = open_proposal(s, p(s, "ana"), "add_practice", "Cloud A", CLOUD, LATER)
    second = open_proposal(s, p(s, "ben"), "add_practice", "Cloud B", {**CLOUD, "owners": {"ben": "100%"}}, LATER)
    for prop in (first, second):
        vote_all(s, prop, {"ana": "yes", "ben": "yes", "chen": "yes"})
    assert close_proposal(s, first.id).status == "passed"
    failed = close_proposal(s, second.id)
    s.commit()
    assert failed.status == "failed" and "already exists" in failed.reason
    cloud = s.scalar(sa.select(Practice).where(Practice.code == "cloud"))
    assert {o.partner.code for o in cloud.ownerships} == {"ana", "chen"}


def test_the_electorate_is_frozen_and_outsiders_get_403(s):
    admit = open_proposal(s, p(s, "ana"), "admit_partner", "Admit Dee", {
        "code": "dee", "name": "Dee Lee", "email": "dee@example.com",
        "grant": {"units": 1200, "start": "2026-01-01", "cliff_months": 12, "months": 48, "every": 1}}, LATER)
    vote_all(s, admit, {"ana": "yes", "ben": "yes", "chen": "yes"})
    result = close_proposal(s, admit.id)
    s.commit()
    assert result.status == "passed" and result.effect.startswith("partner:dee")
    dee = p(s, "dee")
    assert s.scalar(sa.select(User.role).where(User.email == "dee@example.com")) == "partner"
    assert s.scalar(sa.select(Grant.units).where(Grant.partner_id == dee.id)) == 1200
    assert balance(s, chart.units_unvested("dee"), "UNITS") == Decimal(-1200)
    # Dee has no vested units: not eligible, 403 on voting.
    prop = open_proposal(s, dee, "resolution", "Dee proposes", {"text": "hello"}, LATER)
    assert [e["partner"] for e in describe(s, prop)["electorate"]] == ["ana", "ben", "chen"]
    with pytest.raises(Forbidden):
        cast_vote(s, prop.id, dee, "yes")


def test_cancel_only_by_the_proposer_before_any_vote(s):
    prop = open_proposal(s, p(s, "ana"), "resolution", "R", {"text": "x"}, LATER)
    with pytest.raises(Forbidden):
        cancel_proposal(s, prop.id, p(s, "ben"))
    assert cancel_proposal(s, prop.id, p(s, "ana")).status == "canceled"
    voted = open_proposal(s, p(s, "ana"), "resolution", "R2", {"text": "y"}, LATER)
    cast_vote(s, voted.id, p(s, "ben"), "yes")
    with pytest.raises(Conflict):
        cancel_proposal(s, voted.id, p(s, "ana"))


def test_change_policy_applies_from_its_period_and_earlier_periods_keep_theirs(s):
    prop = open_proposal(s, p(s, "chen"), "change_policy", "More to origination", {
        "origination": "20%", "practice": "50%", "pool_basis": "equal", "effective_period": "2026-02"}, LATER)
    vote_all(s, prop, {"ana": "yes", "ben": "yes", "chen": "yes"})
    assert close_proposal(s, prop.id).effect == "policy:2"
    assert policy_for(s, "2026-01").version == 1
    assert (policy_for(s, "2026-02").version, policy_for(s, "2026-02").pool_basis) == (2, "equal")
    assert close_period(s, "2026-01").policy_version == 1
    assert close_period(s, "2026-02").policy_version == 2


def test_change_policy_fails_if_its_period_closed_meanwhile(s):
    prop = open_proposal(s, p(s, "chen"), "change_policy", "P", {
        "origination": "20%", "practice": "50%", "pool_basis": "equal", "effective_period": "2026-01"}, LATER)
    vote_all(s, prop, {"ana": "yes", "ben": "yes", "chen": "yes"})
    close_period(s, "2026-01")
    failed = close_proposal(s, prop.id)
    assert failed.status == "failed" and "already closed" in failed.reason


def test_units_weighting_uses_vested_units_frozen_at_opening(s):
    from ledger.governance.models import GovernanceRule

    s.get(GovernanceRule, "resolution").weighting = "units"
    prop = open_proposal(s, p(s, "ana"), "resolution", "R", {"text": "x"}, LATER)
    assert {e["partner"]: e["weight"] for e in describe(s, prop)["electorate"]} == {"ana": 500, "ben": 250, "chen": 250}
    vote_all(s, prop, {"ana": "yes", "ben": "no", "chen": "no"})
    closed = close_proposal(s, prop.id)
    assert (closed.status, closed.reason) == ("failed", "tie")


def test_only_active_partners_may_propose(s):
    ben = p(s, "ben")
    ben.status = "retired"
    s.flush()
    with pytest.raises(Forbidden):
        open_proposal(s, ben, "resolution", "R", {"text": "x"}, LATER)
    assert s.scalar(sa.select(sa.func.count()).select_from(Ownership)) == 3
    assert s.scalar(sa.select(sa.func.count()).select_from(Partner)) == 3
