"""Tallying votes (pure, exact): quorum, threshold, outcome. Fractions, never floats."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

#: ``majority`` or a fraction ``n/d`` (also the OpenAPI document's pattern).
THRESHOLD_PATTERN = r"^(majority|[0-9]{1,9}/[0-9]{1,9})$"
_FRACTION_RE = re.compile(r"([0-9]{1,9})/([0-9]{1,9})", re.ASCII)


def parse_threshold(text: str) -> Fraction | None:
    """``"majority"`` → None (strictly more than half); ``"2/3"`` → Fraction(2, 3) (at least)."""
    if text == "majority":
        return None
    m = _FRACTION_RE.fullmatch(text) if isinstance(text, str) else None
    if not m or int(m.group(2)) == 0:
        raise ValueError(f"{text!r} is not 'majority' or a fraction like '2/3'")
    value = Fraction(int(m.group(1)), int(m.group(2)))
    if not 0 < value <= 1:
        raise ValueError(f"{text!r} must be more than 0 and at most 1")
    return value


@dataclass(frozen=True)
class Rule:
    """How a proposal kind is decided, frozen on the proposal when it opens."""

    weighting: str  # "member" or "units"
    quorum: Fraction  # share of eligible weight that must vote (yes, no or abstain)
    threshold: str  # "majority" or "n/d"
    of: str  # "cast": yes/(yes+no); "eligible": yes/eligible weight


@dataclass(frozen=True)
class Tally:
    yes: Fraction
    no: Fraction
    abstain: Fraction
    eligible: Fraction
    quorum_met: bool
    passed: bool
    #: Why it failed: "no_votes", "quorum", "tie" or "threshold"; None when it passed.
    reason: str | None

    @property
    def voted(self) -> Fraction:
        return self.yes + self.no + self.abstain


def tally(rule: Rule, electorate: Mapping[str, Fraction | int], votes: Mapping[str, str]) -> Tally:
    """Decide a proposal from its frozen electorate (voter → weight) and each voter's last vote.

    Quorum holds when yes + no + abstain weight ≥ quorum × eligible weight. The threshold is over
    yes + no (``cast``) or the eligible weight (``eligible``); ``majority`` needs strictly more than
    half, a fraction at least that fraction. No yes or no vote at all fails, and so does a tie.
    Votes from outside the electorate are ignored (the service refuses them before they get here).
    """
    weights = {k: Fraction(v) for k, v in electorate.items()}
    sums = {"yes": Fraction(0), "no": Fraction(0), "abstain": Fraction(0)}
    for voter, choice in votes.items():
        if voter in weights and choice in sums:
            sums[choice] += weights[voter]
    eligible = sum(weights.values(), Fraction(0))
    yes, no, abstain = sums["yes"], sums["no"], sums["abstain"]
    quorum_met = eligible > 0 and yes + no + abstain >= Fraction(rule.quorum) * eligible
    threshold = parse_threshold(rule.threshold)
    base = yes + no if rule.of == "cast" else eligible
    if yes + no == 0:
        reason = "no_votes"
    elif not quorum_met:
        reason = "quorum"
    elif yes == no:
        reason = "tie"
    else:
        ratio = yes / base if base else Fraction(0)
        ok = ratio > Fraction(1, 2) if threshold is None else ratio >= threshold
        reason = None if ok else "threshold"
    return Tally(yes, no, abstain, eligible, quorum_met, reason is None, reason)


def delegated_votes(electorate: Mapping[str, Fraction | int], votes: Mapping[str, str],
                    delegations: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """The votes delegations cast (CONTRACT §8): ``{delegator: (delegate, choice)}``.

    ``delegations`` maps each partner to the partner they delegated to for this proposal (a
    per-proposal delegation already chosen over a standing one). A delegator counts, with their own
    frozen weight, for their delegate's choice when all of this holds: the delegator is eligible
    and did not vote (their own vote always wins), and the delegate is eligible and voted
    themselves — one hop: a delegate's own delegation carries nobody's vote further. A delegation
    to a partner outside the electorate counts nothing."""
    out = {}
    for delegator, delegate in sorted(delegations.items()):
        if delegator in electorate and delegator not in votes and delegate != delegator \
                and delegate in electorate and delegate in votes:
            out[delegator] = (delegate, votes[delegate])
    return out


def tally_with_delegations(rule: Rule, electorate: Mapping[str, Fraction | int], votes: Mapping[str, str],
                           delegations: Mapping[str, str]) -> tuple[Tally, dict[str, tuple[str, str]]]:
    """``tally`` over the direct votes and the votes delegations cast (``delegated_votes``), which
    count exactly as if each delegator had cast their delegate's choice: returns the tally and
    the delegated votes, so the weight each carried can be shown apart."""
    delegated = delegated_votes(electorate, votes, delegations)
    return tally(rule, electorate, {**votes, **{who: choice for who, (_, choice) in delegated.items()}}), delegated
