"""Delegated votes (CONTRACT §8): for one proposal or standing, revocable, one hop, a voter's own
vote always wins, history kept; the tally shows direct and delegated weight apart. The property:
a tally with delegations equals the tally where each delegator had cast their delegate's choice
themselves (when they did not vote), for any electorate — pure, and through the service on both
engines."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest
import sqlalchemy as sa
from charters import WORKED_CHARTER, founder_partners
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.core.access import Viewer
from ledger.core.clock import FixedClock
from ledger.core.errors import Conflict, Forbidden, NotFound, ValidationError
from ledger.core.tally import Rule, delegated_votes, tally, tally_with_delegations
from ledger.governance.models import Delegation
from ledger.governance.service import (
    cast_vote,
    close_proposal,
    delegate_vote,
    delegation_history,
    electorate_of,
    open_proposal,
    revoke_delegation,
)
from ledger.practices.service import get_partner
from ledger.read.proposals import describe, for_viewer
from ledger.runtime.database import get_session

LATER = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
CODES = [f"p{i}" for i in range(6)]


# --- the pure rule -------------------------------------------------------------------------------


@st.composite
def ballots(draw):
    weights = {c: draw(st.integers(1, 50)) for c in draw(st.lists(st.sampled_from(CODES), min_size=1, unique=True))}
    voters = draw(st.lists(st.sampled_from(sorted(weights)), unique=True))
    votes = {v: draw(st.sampled_from(["yes", "no", "abstain"])) for v in voters}
    delegations = {d: draw(st.sampled_from(CODES + ["outsider"]))
                   for d in draw(st.lists(st.sampled_from(CODES), unique=True))}
    rule = Rule(draw(st.sampled_from(["member", "units"])), Fraction(draw(st.integers(0, 100)), 100),
                draw(st.sampled_from(["majority", "2/3", "1/2"])), draw(st.sampled_from(["cast", "eligible"])))
    return rule, weights, votes, delegations


@settings(max_examples=400)
@given(ballots())
def test_a_tally_with_delegations_is_the_tally_where_delegators_voted_as_their_delegates(ballot):
    rule, electorate, votes, delegations = ballot
    expected_votes = dict(votes)
    for delegator, delegate in delegations.items():
        if delegator in electorate and delegator not in votes and delegate in electorate and delegate in votes \
                and delegate != delegator:
            expected_votes[delegator] = votes[delegate]
    got, delegated = tally_with_delegations(rule, electorate, votes, delegations)
    assert got == tally(rule, electorate, expected_votes)
    assert set(delegated) == set(expected_votes) - set(votes)


def test_one_hop_and_own_vote_wins():
    electorate = {"ana": 1, "ben": 1, "chen": 1}
    # chen → ben → ana: ben did not vote, so chen's delegation carries nothing (one hop only).
    assert delegated_votes(electorate, {"ana": "yes"}, {"chen": "ben", "ben": "ana"}) == {"ben": ("ana", "yes")}
    # ben voted no himself: his delegation to ana (yes) is ignored.
    assert delegated_votes(electorate, {"ana": "yes", "ben": "no"}, {"ben": "ana"}) == {}
    # a delegate outside the electorate counts nothing
    assert delegated_votes(electorate, {"ana": "yes"}, {"ben": "zed"}) == {}


# --- the service ---------------------------------------------------------------------------------


def resolution(s, proposer="ana"):
    return open_proposal(s, get_partner(s, proposer), "resolution", "Retreat", {"text": "May"}, LATER)


def test_a_delegation_for_a_proposal_carries_the_delegators_weight_and_shows_apart(s):
    prop = resolution(s)
    delegate_vote(s, get_partner(s, "chen"), "ben", prop.id)
    cast_vote(s, prop.id, get_partner(s, "ana"), "no")
    cast_vote(s, prop.id, get_partner(s, "ben"), "yes")
    s.info["clock"] = FixedClock(LATER)
    closed = close_proposal(s, prop.id)
    d = describe(s, closed)
    assert closed.status == "passed"  # ben yes + chen delegated yes against ana no
    assert d["tally"]["delegated"] == {"yes": "1", "no": "0", "abstain": "0"}
    assert d["tally"]["direct"] == {"yes": "1", "no": "1", "abstain": "0"}
    assert d["delegations"] == [{"from": "chen", "to": "ben", "choice": "yes", "weight": "1"}]


def test_own_vote_wins_over_a_standing_delegation_and_a_specific_one_over_a_standing(s):
    delegate_vote(s, get_partner(s, "chen"), "ana", None)          # standing: ana votes for chen
    prop = resolution(s, "ben")
    delegate_vote(s, get_partner(s, "chen"), "ben", prop.id)       # for this proposal: ben
    cast_vote(s, prop.id, get_partner(s, "ana"), "no")
    cast_vote(s, prop.id, get_partner(s, "ben"), "yes")
    other = resolution(s, "ben")
    cast_vote(s, other.id, get_partner(s, "ana"), "no")
    cast_vote(s, other.id, get_partner(s, "ben"), "yes")
    cast_vote(s, other.id, get_partner(s, "chen"), "yes")          # chen votes himself: it wins
    s.info["clock"] = FixedClock(LATER)
    assert describe(s, close_proposal(s, prop.id))["delegations"] == [
        {"from": "chen", "to": "ben", "choice": "yes", "weight": "1"}]
    assert describe(s, close_proposal(s, other.id))["delegations"] == []


def test_revoking_keeps_the_history_and_counts_nothing(s):
    chen = get_partner(s, "chen")
    prop = resolution(s)
    delegate_vote(s, chen, "ben", prop.id)
    s.info["clock"] = FixedClock(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5))
    revoke_delegation(s, chen, prop.id)
    with pytest.raises(NotFound):
        revoke_delegation(s, chen, prop.id)
    delegate_vote(s, chen, "ana", None)
    delegate_vote(s, chen, "ben", None)                             # replaces the standing one
    history = delegation_history(s, chen)
    assert [(d.delegate.code, d.proposal_id is None, d.revoked_at is None) for d in history] == [
        ("ben", True, True), ("ana", True, False), ("ben", False, False)]
    assert s.scalar(sa.select(sa.func.count()).select_from(Delegation)) == 3


@pytest.mark.parametrize(("who", "to", "error"), [("chen", "chen", ValidationError), ("chen", "zed", ValidationError)])
def test_a_delegation_must_name_another_active_partner(s, who, to, error):
    with pytest.raises(error):
        delegate_vote(s, get_partner(s, who), to, resolution(s).id)


def test_a_closed_proposal_takes_no_delegation_and_a_retired_partner_delegates_nothing(s):
    prop = resolution(s)
    for code in electorate_of(s, prop):
        cast_vote(s, prop.id, get_partner(s, code), "yes")
    close_proposal(s, prop.id)
    with pytest.raises(Conflict):
        delegate_vote(s, get_partner(s, "chen"), "ben", prop.id)
    chen = get_partner(s, "chen")
    chen.status = "retired"
    with pytest.raises(Forbidden):
        delegate_vote(s, chen, "ben", None)


def test_the_proposal_page_model_says_whom_the_vote_goes_to(s):
    prop = resolution(s)
    delegate_vote(s, get_partner(s, "chen"), "ben", prop.id)
    you = for_viewer(s, prop.id, Viewer("partner", "chen"))["you"]
    assert (you["delegated_to"], you["can_vote"]) == ("ben", True)  # he may still vote himself
    assert for_viewer(s, prop.id, Viewer("partner", "ben"))["you"]["delegated_by"] == ["chen"]


@pytest.fixture
def many(db_url, make_app, tmp_path):
    """Six founders of different units, for the property through the service."""
    charter = WORKED_CHARTER.split("[[partners]]")[0] + founder_partners(6, prefix="p") + """
[policy]
origination = "10%"
practice = "60%"
pool_basis = "vested_units"

[governance.resolution]
weighting = "units"
quorum = "50%"
threshold = "majority"
of = "cast"
"""
    path = tmp_path / "many.toml"
    path.write_text(charter)
    app = make_app(db_url)
    assert app.test_cli_runner().invoke(args=["init", str(path)]).exit_code == 0
    with app.app_context():
        yield get_session()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_through_the_service_a_delegated_tally_equals_voting_in_person(many, data):
    s = many
    codes = [f"p{i:03d}" for i in range(6)]
    voters = data.draw(st.lists(st.sampled_from(codes), unique=True))
    votes = {v: data.draw(st.sampled_from(["yes", "no", "abstain"])) for v in voters}
    delegations = {d: data.draw(st.sampled_from([c for c in codes if c != d]))
                   for d in data.draw(st.lists(st.sampled_from(codes), unique=True))}
    results = []
    for in_person in (False, True):
        savepoint = s.begin_nested()
        s.info["clock"] = FixedClock(dt.datetime.now(dt.UTC))
        prop = open_proposal(s, get_partner(s, codes[0]), "resolution", "R", {"text": "t"}, LATER)
        cast = dict(votes)
        if in_person:
            for delegator, delegate in delegations.items():
                if delegator not in votes and delegate in votes:
                    cast[delegator] = votes[delegate]
        else:
            for delegator, delegate in delegations.items():
                delegate_vote(s, get_partner(s, delegator), delegate, prop.id)
        for code, choice in cast.items():
            cast_vote(s, prop.id, get_partner(s, code), choice)
        s.info["clock"] = FixedClock(LATER)
        t = describe(s, close_proposal(s, prop.id))["tally"]
        results.append({k: t[k] for k in ("yes", "no", "abstain", "eligible", "voted", "quorum_met")})
        savepoint.rollback()
    assert results[0] == results[1]
