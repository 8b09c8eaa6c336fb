"""Succession rules (pure): the buyout formula, goodwill charges, and who holds a practice next.

**Buyout** = capital balance as of the last day of the effective period + goodwill, where goodwill
= goodwill_multiple × the mean of the partner's allocations (origination + practice + pool) over
the last ``lookback_periods`` periods up to and including the effective period (fewer if fewer
exist), rounded half-even to the currency's minor unit. The liability is paid in ``installments``
equal splits by the contract's split rule.

**Several retirements in one period** are settled as a set (CONTRACT §7): each retiree's buyout is
computed from their own capital and allocations before any goodwill of the period is charged, and
each goodwill is split on its own (one split per retiree) over the partners who stay — never over
another retiree — so the order of the proposals changes nothing.

**A practice the retiree owns** moves, from the next period: to the successor named for it, else
pro rata to its other owners who stay; when nobody would hold it, the close is refused, naming it.
The successors' shares are added first, then the unnamed shares spread pro rata over everyone who
then holds the practice — in exact units of 10⁻⁸ by the split rule, so the shares still sum to 1.

The successor checks that read the partnership are ``succession.service.successor_problems``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction

from ledger.core.errors import Conflict
from ledger.core.money import ZERO, integer_weights, round_half_even, split, split_minor

#: Ownership shares are exact to 10⁻⁸ (a charter percentage has at most six decimals).
SHARE_PLACES = 8


def goodwill(multiple: Decimal, allocations: Sequence[Decimal], currency: str) -> Decimal:
    """multiple × mean(allocations), half-even to the currency's minor unit; zero without history."""
    if not allocations:
        return round_half_even(ZERO, currency)
    mean = Fraction(sum(allocations, ZERO)) / len(allocations)
    return round_half_even(Fraction(multiple) * mean, currency)


def installments(total: Decimal, count: int, currency: str) -> list[Decimal]:
    """``count`` equal installments of ``total`` by the split rule (earlier ones take the leftover)."""
    return split(total, [1] * count, currency)


def goodwill_charges(goodwills: Mapping[str, Decimal], stayers: Sequence[tuple[str, Decimal]],
                     currency: str) -> dict[str, list[tuple[str, Decimal]]]:
    """Each retiree's goodwill split over the partners who stay (``stayers``: ``(code, weight)``
    by code; weights all zero → equally), one split per retiree: ``{retiree: [(code, charge)]}``.
    Charges are positive (a debit to the stayer's capital); each list sums to its goodwill."""
    if not stayers:
        if any(goodwills.values()):
            raise Conflict("nobody stays to be charged the goodwill: the last active partners cannot all retire",
                           {"partner": ["the last active partners"]})
        return {code: [] for code in goodwills}
    weights = [max(w, ZERO) for _, w in stayers]
    if not any(weights):
        weights = [Decimal(1)] * len(stayers)
    return {retiree: list(zip([code for code, _ in stayers], split(amount, weights, currency), strict=True))
            for retiree, amount in sorted(goodwills.items())}


def reassign(practice: str, owners: Mapping[str, Decimal], leaving: set[str],
             successors: Mapping[str, str]) -> dict[str, Decimal]:
    """The practice's ownership once ``leaving`` partners leave. ``successors`` maps a leaving owner
    to the successor they named for this practice. Raises ``Conflict`` naming the practice when
    nobody would hold it (no successor named and no other owner staying)."""
    scale = 10 ** SHARE_PLACES
    units = {code: int(share * scale) for code, share in owners.items()}
    if any(Decimal(units[code]) != share * scale for code, share in owners.items()):
        raise Conflict(f"practice {practice}: an ownership share has more than {SHARE_PLACES} decimals",
                       {"practice": [practice]})
    held: dict[str, int] = {code: u for code, u in units.items() if code not in leaving}
    unnamed = 0
    for code in sorted(owners):
        if code not in leaving:
            continue
        successor = successors.get(code)
        if successor is not None and successor not in leaving:
            held[successor] = held.get(successor, 0) + units[code]
        else:
            unnamed += units[code]
    if not held:
        raise Conflict(f"practice {practice} would have no owner: name a successor for it, or keep an owner",
                       {"practice": [f"{practice} would have no owner"]})
    if unnamed:
        codes = sorted(held)
        for code, extra in zip(codes, split_minor(unnamed, integer_weights([held[c] for c in codes])), strict=True):
            held[code] += extra
    return {code: Decimal(u).scaleb(-SHARE_PLACES).normalize() for code, u in sorted(held.items()) if u}
