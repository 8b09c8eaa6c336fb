"""Tally rules, table-driven, plus order independence (pure)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.core.tally import Rule, parse_threshold, tally

MEMBERS = {"ana": 1, "ben": 1, "chen": 1, "dee": 1}


def rule(quorum="1/2", threshold="majority", of="cast"):
    return Rule("member", Fraction(quorum), threshold, of)


@pytest.mark.parametrize("votes,r,passed,reason", [
    ({"ana": "yes", "ben": "yes", "chen": "no"}, rule(), True, None),
    ({"ana": "yes", "ben": "no"}, rule(), False, "tie"),
    ({"ana": "abstain", "ben": "abstain"}, rule(), False, "no_votes"),
    ({}, rule(), False, "no_votes"),
    ({"ana": "yes"}, rule(), False, "quorum"),
    ({"ana": "yes", "ben": "abstain"}, rule(), True, None),  # quorum exactly met: 2/4 ≥ 1/2
    ({"ana": "yes", "ben": "yes", "chen": "no"}, rule(threshold="2/3"), True, None),  # 2/3 exactly met
    ({"ana": "yes", "ben": "no", "chen": "no", "dee": "yes"}, rule(threshold="1/2"), False, "tie"),
    ({"ana": "yes", "ben": "yes", "chen": "no", "dee": "no"}, rule(threshold="1/3"), False, "tie"),
    ({"ana": "yes", "ben": "yes", "chen": "abstain"}, rule(of="eligible"), False, "threshold"),  # 2/4 not > 1/2
    ({"ana": "yes", "ben": "yes", "chen": "yes"}, rule(of="eligible"), True, None),
    ({"ana": "yes", "ben": "yes", "chen": "yes", "dee": "no"}, rule(threshold="3/4", of="eligible"), True, None),
    ({"ana": "yes", "ben": "yes", "zed": "no"}, rule(), True, None),  # outsiders do not count
])
def test_tally_rules(votes, r, passed, reason):
    t = tally(r, MEMBERS, votes)
    assert (t.passed, t.reason) == (passed, reason)


def test_unit_weights():
    t = tally(Rule("units", Fraction(1, 2), "majority", "cast"), {"ana": 500, "ben": 250, "chen": 250},
              {"ana": "yes", "ben": "no", "chen": "no"})
    assert (t.yes, t.no, t.passed, t.reason) == (500, 500, False, "tie")


@pytest.mark.parametrize("bad", ["most", "0/3", "4/3", "1/0", "", None, "2/3 "])
def test_bad_thresholds(bad):
    with pytest.raises(ValueError):
        parse_threshold(bad)


voters = st.dictionaries(st.sampled_from(["a", "b", "c", "d", "e", "f"]), st.integers(1, 1000), min_size=1)


@given(voters, st.data())
def test_the_outcome_does_not_depend_on_vote_order(electorate, data):
    votes = [(v, data.draw(st.sampled_from(["yes", "no", "abstain"]))) for v in electorate]
    shuffled = data.draw(st.permutations(votes))
    r = Rule("units", Fraction(data.draw(st.integers(0, 100)), 100), data.draw(st.sampled_from(["majority", "2/3", "1/2"])),
             data.draw(st.sampled_from(["cast", "eligible"])))
    assert tally(r, electorate, dict(votes)) == tally(r, electorate, dict(shuffled))
