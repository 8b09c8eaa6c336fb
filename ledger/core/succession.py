"""Succession rules: the buyout formula (pure) and the successor checks.

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


def successor_problems(session, data: dict, active: dict) -> list[tuple[str, str]]:
    """Why a retire_partner payload cannot apply now: ``[(field, message)]``."""
    from sqlalchemy import select

    from ledger.practices.models import Ownership, Practice
    from ledger.succession.models import Retirement

    problems = []
    code = data["partner"]
    partner = active.get(code)
    if partner is None:
        return [("partner", f"{code!r} is not an active partner")]
    if len(active) < 2:
        problems.append(("partner", "the last active partner cannot retire"))
    if session.scalar(select(Retirement.id).where(Retirement.partner_id == partner.id)):
        problems.append(("partner", f"{code} is already retiring"))
    owned = set(session.scalars(
        select(Practice.code).join(Ownership, Ownership.practice_id == Practice.id)
        .where(Ownership.partner_id == partner.id, Ownership.to_period.is_(None))))
    successors = data.get("successors", {})
    for practice in sorted(owned - set(successors)):
        problems.append((f"successors.{practice}", f"practice {practice} needs a successor"))
    for practice, successor in sorted(successors.items()):
        if practice not in owned:
            problems.append((f"successors.{practice}", f"{code} does not own a practice {practice!r}"))
        if successor == code or successor not in active:
            problems.append((f"successors.{practice}", f"{successor!r} is not an active partner who can succeed"))
    return problems
