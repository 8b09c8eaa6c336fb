"""Allocation (pure): from a period's facts to each partner's share, exactly as CONTRACT §4.

Per engagement, **net margin** = invoices − direct costs dated in the period. One split of the net
by the weights (origination%, practice%, pool%) gives, in that order:
1. origination → the engagement's originator;
2. practice → split again among the practice's owners by ownership share (owners by code);
3. pool → the common pool.
Then the period's pool, less its overhead, is split among the pool members by their weights
(vested units on the period's last day, or 1 each for ``equal``), members by code. Negative amounts
split the same way: partners share losses. Every split is ``ledger.money.split``, so each level sums
exactly to what it divides and no cent is created or lost.

Nothing here touches a database: ``PeriodFacts`` in, ``Allocation`` out, so a close can be
previewed and the rule tested alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from ..errors import ValidationError
from ..money import ZERO, split


@dataclass(frozen=True, slots=True)
class Policy:
    """A sharing policy version: the origination and practice fractions and the pool basis."""

    version: int
    origination: Decimal
    practice: Decimal
    pool_basis: str  # "vested_units" or "equal"

    @property
    def pool(self) -> Decimal:
        return 1 - self.origination - self.practice


@dataclass(frozen=True, slots=True)
class EngagementFacts:
    """One engagement's money in the period."""

    engagement_id: int
    ref: str
    practice: str
    originator: str
    invoiced: Decimal
    costs: Decimal

    @property
    def net(self) -> Decimal:
        return self.invoiced - self.costs


@dataclass(frozen=True)
class PeriodFacts:
    period: str
    policy: Policy
    engagements: Sequence[EngagementFacts]
    #: practice code → [(partner code, share)], shares in force for the period, summing to 1.
    owners: dict[str, Sequence[tuple[str, Decimal]]]
    #: [(category, amount)] overhead dated in the period.
    overhead: Sequence[tuple[str, Decimal]]
    #: [(partner code, weight)] the pool members and their weights (units, or 1 each).
    pool_members: Sequence[tuple[str, Decimal]]


@dataclass(frozen=True, slots=True)
class Share:
    partner: str
    amount: Decimal


@dataclass(frozen=True)
class EngagementAllocation:
    facts: EngagementFacts
    origination: Share
    practice: tuple[Share, ...]
    pool: Decimal


@dataclass(frozen=True)
class Allocation:
    period: str
    policy: Policy
    engagements: tuple[EngagementAllocation, ...]
    pool_gross: Decimal
    overhead: Decimal
    pool_net: Decimal
    pool_shares: tuple[Share, ...]
    by_partner: dict[str, dict[str, Decimal]] = field(default_factory=dict)

    @property
    def net_margin(self) -> Decimal:
        return sum((e.facts.net for e in self.engagements), ZERO)

    @property
    def total_allocated(self) -> Decimal:
        return sum((sum(kinds.values(), ZERO) for kinds in self.by_partner.values()), ZERO)


def allocate(facts: PeriodFacts) -> Allocation:
    """Compute the period's allocation. Raises ``ValidationError`` when a practice with margin has
    no owners in force, or the pool has money but no member with a positive weight."""
    pol = facts.policy
    per_partner: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    engagements = []
    pool_gross = ZERO
    step_weights = (pol.origination, pol.practice, pol.pool)
    # Owners sorted by code and their weights, once per practice rather than once per engagement.
    owners_of = {practice: sorted(owners) for practice, owners in facts.owners.items()}
    weights_of = {practice: [share for _, share in owners] for practice, owners in owners_of.items()}
    for e in facts.engagements:
        net = e.net
        orig, prac, pool = split(net, step_weights)
        owners = owners_of.get(e.practice, ())
        if not owners:
            if prac != 0:
                raise ValidationError(f"practice {e.practice} has no owners in {facts.period}",
                                      {"practice": [f"{e.practice} has no owners"]})
            practice_shares: tuple[Share, ...] = ()
        else:
            amounts = split(prac, weights_of[e.practice])
            practice_shares = tuple(Share(code, amt) for (code, _), amt in zip(owners, amounts, strict=True))
        per_partner[e.originator]["origination"] += orig
        for s in practice_shares:
            per_partner[s.partner]["practice"] += s.amount
        pool_gross += pool
        engagements.append(EngagementAllocation(e, Share(e.originator, orig), practice_shares, pool))
    overhead = sum((amount for _, amount in facts.overhead), ZERO)
    pool_net = pool_gross - overhead
    members = sorted(facts.pool_members)
    pool_shares: tuple[Share, ...] = ()
    if pool_net != 0:
        if not members or all(w <= 0 for _, w in members):
            raise ValidationError(f"the pool of {facts.period} has nobody to share it",
                                  {"pool": ["no partner with a positive pool weight"]})
        amounts = split(pool_net, [max(w, ZERO) for _, w in members])
        pool_shares = tuple(Share(code, amt) for (code, _), amt in zip(members, amounts, strict=True))
        for s in pool_shares:
            per_partner[s.partner]["pool"] += s.amount
    return Allocation(
        period=facts.period, policy=pol, engagements=tuple(engagements), pool_gross=pool_gross,
        overhead=overhead, pool_net=pool_net, pool_shares=pool_shares,
        by_partner={p: dict(k) for p, k in sorted(per_partner.items())},
    )
