"""Succession rules: the buyout formula (pure). The successor checks, which read the partnership,
are ``succession.service.successor_problems``.

**Buyout** = capital balance at the close of the effective period + goodwill, where goodwill =
goodwill_multiple × the mean of the partner's allocations (origination + practice + pool) over the
last ``lookback_periods`` periods up to and including the effective period (fewer if fewer exist),
rounded to cents half-even. The liability is paid in ``installments`` equal splits by the
contract's split rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

from ledger.core.money import ZERO, round_half_even, split


def goodwill(multiple: Decimal, allocations: Sequence[Decimal]) -> Decimal:
    """multiple × mean(allocations), half-even to the cent; zero when there is no history."""
    if not allocations:
        return Decimal("0.00")
    mean = Fraction(sum(allocations, ZERO)) / len(allocations)
    return round_half_even(Fraction(multiple) * mean)


def installments(total: Decimal, count: int) -> list[Decimal]:
    """``count`` equal installments of ``total`` by the split rule (earlier ones take the cents)."""
    return split(total, [1] * count)

