"""Allocation (pure): from a period's facts to each partner's share, exactly as CONTRACT §4.

Per engagement, **net margin** = invoices − direct costs dated in the period. One split of the net
by the weights (origination%, practice%, pool%) gives, in that order:
1. origination → the engagement's originator;
2. practice → split again among the practice's owners by ownership share (owners by code);
3. pool → the common pool.
Then the period's pool — the engagements' pool parts, plus the *unattributed* net (income and
costs of the period that name no engagement and are not overhead, CONTRACT §7), less the overhead —
is split among the pool members by their weights (vested units on the period's last day, or 1 each
for ``equal``), members by code. With ``vested_units`` and no member holding a vested unit, the pool
is split equally (CONTRACT §7) and the allocation says so (``pool_basis_applied``). The origination
share of an engagement whose originator has retired (before the period) goes to the pool. Negative
amounts split the same way: partners share losses. Every split is the contract's split rule in the
currency's minor units (a JPY partnership splits whole yen), so each level sums exactly to what it
divides and no minor unit is created or lost.

Nothing here touches a database: ``PeriodFacts`` in, ``Allocation`` out, so a close can be
previewed and the rule tested alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from ledger.core.errors import ValidationError
from ledger.core.money import ZERO, from_minor, integer_weights, split_minor, to_minor


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
    """One engagement's money in the period, in exact integer minor units of ``currency``
    (``invoiced``, ``costs`` and ``net`` are the Decimal views; ``EngagementFacts.of`` builds one
    from Decimals)."""

    engagement_id: int
    ref: str
    practice: str
    originator: str
    invoiced_cents: int
    costs_cents: int
    currency: str

    @classmethod
    def of(cls, engagement_id: int, ref: str, practice: str, originator: str, invoiced: Decimal,
           costs: Decimal, currency: str) -> EngagementFacts:
        return cls(engagement_id, ref, practice, originator, to_minor(invoiced, currency), to_minor(costs, currency),
                   currency)

    @property
    def invoiced(self) -> Decimal:
        return from_minor(self.invoiced_cents, self.currency)

    @property
    def costs(self) -> Decimal:
        return from_minor(self.costs_cents, self.currency)

    @property
    def net(self) -> Decimal:
        return from_minor(self.invoiced_cents - self.costs_cents, self.currency)


@dataclass(frozen=True)
class PeriodFacts:
    period: str
    policy: Policy
    engagements: Sequence[EngagementFacts]
    #: practice code → [(partner code, share)], shares in force for the period, summing to 1.
    owners: dict[str, Sequence[tuple[str, Decimal]]]
    #: [(account, amount)] overhead dated in the period (debit positive).
    overhead: Sequence[tuple[str, Decimal]]
    #: [(partner code, weight)] the pool members and their weights (units, or 1 each).
    pool_members: Sequence[tuple[str, Decimal]]
    #: The partnership's currency: every amount here is in it.
    currency: str
    #: [(account, amount)] postings of the period on ``Income:`` and ``Expenses:`` accounts that
    #: name no engagement and are not overhead (signed, debit positive: income is negative).
    unattributed: Sequence[tuple[str, Decimal]] = ()
    #: Originators whose origination share goes to the pool (they retired before the period).
    retired: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Share:
    """A partner's share, held as exact integer minor units (``amount`` is the Decimal view)."""

    partner: str
    cents: int
    currency: str

    @property
    def amount(self) -> Decimal:
        return from_minor(self.cents, self.currency)


@dataclass(frozen=True, slots=True)
class EngagementAllocation:
    facts: EngagementFacts
    #: The originator's share; zero when the originator has retired (it went to ``pool``).
    origination: Share
    practice: tuple[Share, ...]
    pool_cents: int

    @property
    def pool(self) -> Decimal:
        return from_minor(self.pool_cents, self.facts.currency)


@dataclass(frozen=True)
class Allocation:
    period: str
    policy: Policy
    engagements: tuple[EngagementAllocation, ...]
    #: The engagements' pool parts (retired originators' shares included).
    pool_gross: Decimal
    overhead: Decimal
    #: The unattributed net that joined the pool (income less costs naming no engagement).
    unattributed: Decimal
    #: ``pool_gross + unattributed − overhead``: what the pool members share.
    pool_net: Decimal
    pool_shares: tuple[Share, ...]
    currency: str
    #: The basis the pool was split by: the policy's, or ``equal`` when nobody held a vested unit.
    pool_basis_applied: str
    by_partner: dict[str, dict[str, Decimal]] = field(default_factory=dict)

    @property
    def net_margin(self) -> Decimal:
        return sum((e.facts.net for e in self.engagements), ZERO)

    @property
    def total_allocated(self) -> Decimal:
        return sum((sum(kinds.values(), ZERO) for kinds in self.by_partner.values()), ZERO)


def allocate(facts: PeriodFacts) -> Allocation:
    """Compute the period's allocation. Raises ``ValidationError`` when a practice with margin has
    no owners in force, or the pool has money but no member to share it.

    The arithmetic runs on integer minor units (``split_minor``) with every weight vector scaled to
    integers once, so a period of tens of thousands of engagements allocates in a fraction of a
    second; amounts come back as Decimals with exactly the currency's places."""
    pol = facts.policy
    currency = facts.currency
    retired = facts.retired
    totals: dict[tuple[str, str], int] = defaultdict(int)
    engagements = []
    pool_gross = 0
    step_weights = integer_weights((pol.origination, pol.practice, pol.pool))
    # Owners sorted by code and their weights, once per practice rather than once per engagement.
    owners_of = {practice: tuple(code for code, _ in sorted(owners)) for practice, owners in facts.owners.items()}
    weights_of = {practice: integer_weights([share for _, share in sorted(owners)])
                  for practice, owners in facts.owners.items() if owners}
    for e in facts.engagements:
        orig, prac, pool = split_minor(e.invoiced_cents - e.costs_cents, step_weights)
        owners = owners_of.get(e.practice, ())
        if not owners:
            if prac != 0:
                raise ValidationError(f"practice {e.practice} has no owners in {facts.period}",
                                      {"practice": [f"{e.practice} has no owners"]})
            practice_shares: tuple[Share, ...] = ()
        else:
            amounts = split_minor(prac, weights_of[e.practice])
            practice_shares = tuple([Share(code, amt, currency) for code, amt in zip(owners, amounts, strict=True)])
            for code, amt in zip(owners, amounts, strict=True):
                totals[(code, "practice")] += amt
        if e.originator in retired:
            pool, orig = pool + orig, 0  # CONTRACT §7: a retiree's origination goes to the pool
        else:
            totals[(e.originator, "origination")] += orig
        pool_gross += pool
        engagements.append(EngagementAllocation(e, Share(e.originator, orig, currency), practice_shares, pool))
    overhead, unattributed, pool_net = _pool_net(facts, pool_gross)
    basis, split_pool = _split_pool(facts, pool_net)
    pool_shares = tuple(Share(code, amt, currency) for code, amt in split_pool)
    for code, amt in split_pool:
        totals[(code, "pool")] += amt
    by_partner: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for (code, kind), amt in sorted(totals.items()):
        by_partner[code][kind] = from_minor(amt, currency)
    return Allocation(
        period=facts.period, policy=pol, engagements=tuple(engagements),
        pool_gross=from_minor(pool_gross, currency), overhead=from_minor(overhead, currency),
        unattributed=from_minor(unattributed, currency), pool_net=from_minor(pool_net, currency),
        pool_shares=pool_shares, currency=currency, pool_basis_applied=basis,
        by_partner={p: {k: kinds[k] for k in ("origination", "practice", "pool") if k in kinds}
                    for p, kinds in sorted(by_partner.items())},
    )



def _pool_net(facts: PeriodFacts, pool_gross: int) -> tuple[int, int, int]:
    """``(overhead, unattributed, pool_net)`` in minor units: the engagements' pool parts plus the
    unattributed net, less the overhead."""
    overhead = sum((to_minor(amount, facts.currency) for _, amount in facts.overhead), 0)
    unattributed = -sum((to_minor(amount, facts.currency) for _, amount in facts.unattributed), 0)
    return overhead, unattributed, pool_gross + unattributed - overhead


def _split_pool(facts: PeriodFacts, pool_net: int) -> tuple[str, list[tuple[str, int]]]:
    """The basis applied and ``[(member, minor units)]``: the pool split among its members by
    their weights (members by code), equally when nobody holds a vested unit (CONTRACT §7)."""
    basis = facts.policy.pool_basis
    if pool_net == 0:
        return basis, []
    members = sorted(facts.pool_members)
    if not members:
        raise ValidationError(f"the pool of {facts.period} has nobody to share it",
                              {"pool": ["no active partner to share the pool"]})
    weights = [max(w, ZERO) for _, w in members]
    if not any(weights):
        basis, weights = "equal", [Decimal(1)] * len(members)  # nobody vested yet (CONTRACT §7)
    amounts = split_minor(pool_net, integer_weights(weights))
    return basis, [(code, amt) for (code, _), amt in zip(members, amounts, strict=True)]


class _Splitter:
    """``split_minor`` by fixed integer weights, for many amounts. The rule is shift-invariant: for
    q, r ≥ 0, split(q·Σw + r) = q·w + split(r) (each ⌊(qΣw + r)·wᵢ/Σw⌋ is q·wᵢ + ⌊r·wᵢ/Σw⌋ with
    the same remainder), so a magnitude's split is one ``divmod`` and a row of a table of the Σw
    residues, filled as residues appear."""

    __slots__ = ("weights", "total", "table")

    def __init__(self, weights: tuple[int, ...]):
        self.weights = weights
        self.total = sum(weights)
        self.table: dict[int, list[int]] = {}

    def row(self, residue: int) -> list[int]:
        row = self.table.get(residue)
        if row is None:
            row = self.table[residue] = split_minor(residue, self.weights)
        return row


def allocate_totals(facts: PeriodFacts, nets: Iterable[tuple[str, str, int]]) -> dict[tuple[str, str], int]:
    """``{(partner, kind): minor units}`` (kinds origination, practice, pool; zeros left out) that
    ``allocate`` would give ``facts`` with one engagement per ``(practice, originator, net minor
    units)`` in ``nets`` — the same rule, to the minor unit (a hypothesis property holds it to
    ``allocate``), without an object per engagement: what the impact of a policy vote needs, over
    a year of twenty-thousand-engagement months (CONTRACT §8).

    Per engagement the three-way split is ``_Splitter``'s divmod and table row. An owner's part of
    the practice amounts is summed, not split one by one: a practice's amounts are grouped by sign
    and residue modulo its owners' weight total, and each group's split is the table row times
    its count, plus the weights times the summed quotients."""
    pol = facts.policy
    step = _Splitter(integer_weights((pol.origination, pol.practice, pol.pool)))
    step_total, (w_orig, w_prac, _w_pool) = step.total, step.weights
    retired = facts.retired
    owners_of = {p: sorted(owners) for p, owners in facts.owners.items() if owners}
    splitters = {p: _Splitter(integer_weights([share for _, share in owners])) for p, owners in owners_of.items()}
    origination: dict[str, int] = defaultdict(int)
    #: practice → [Σ signed quotients of its amounts by the owners' weight total,
    #:             {(sign, residue): count}, the owners' weight total]
    practice: dict[str, list] = {}
    pool_gross = 0
    table, row_of = step.table, step.row
    for practice_code, originator, net in nets:  # the hot loop: locals, no call but on a new residue
        if net > 0:
            sign, magnitude = 1, net
        elif net < 0:
            sign, magnitude = -1, -net
        else:
            continue
        q, r = divmod(magnitude, step_total)
        row = table.get(r) or row_of(r)
        orig = q * w_orig + row[0]
        prac = q * w_prac + row[1]
        if originator in retired:
            pool_gross += sign * (magnitude - prac)  # CONTRACT §7: a retiree's origination goes to the pool
        else:
            pool_gross += sign * (magnitude - orig - prac)
            if orig:
                origination[originator] += sign * orig
        if prac:
            acc = practice.get(practice_code)
            if acc is None:
                if practice_code not in splitters:
                    raise ValidationError(f"practice {practice_code} has no owners in {facts.period}",
                                          {"practice": [f"{practice_code} has no owners"]})
                acc = practice[practice_code] = [0, defaultdict(int), splitters[practice_code].total]
            q2, r2 = divmod(prac, acc[2])
            acc[0] += sign * q2
            acc[1][(sign, r2)] += 1
    totals: dict[tuple[str, str], int] = {(code, "origination"): amt for code, amt in origination.items() if amt}
    practice_shares: dict[str, int] = defaultdict(int)  # an owner's across practices (their sum may be 0)
    for practice_code, (quotients, residues, _) in sorted(practice.items()):
        split = splitters[practice_code]
        shares = [quotients * w for w in split.weights]
        for (sign, r), count in residues.items():
            for i, part in enumerate(split.row(r)):
                shares[i] += sign * count * part
        for (code, _), amt in zip(owners_of[practice_code], shares, strict=True):
            practice_shares[code] += amt
    totals.update({(code, "practice"): amt for code, amt in practice_shares.items() if amt})
    _, _, pool_net = _pool_net(facts, pool_gross)
    for code, amt in _split_pool(facts, pool_net)[1]:
        if amt:
            totals[(code, "pool")] = amt
    return totals
