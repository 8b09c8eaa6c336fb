"""Pure rules of the practices' work: who may be subcontracted, and what an engagement earned.

- **Subcontracting** (CONTRACT §3): work may go to an outside firm only when the firm meets all six
  vetting criteria and has a non-solicitation agreement (NSA) in force on the cost's date, that is
  ``nsa_signed_on <= date <= nsa_expires_on`` (both days included).
- **Profitability** of an engagement: ``net margin = invoiced − direct costs`` (the same net the
  period's sharing splits, CONTRACT §4); ``subcontracted`` is the part of the direct costs paid to
  outside firms; ``subcontracted share = subcontracted / invoiced`` — how much of what the client
  paid went to outside firms — as a percentage rounded half-even to two decimals (``"37.5%"``), and
  ``None`` while nothing is invoiced.

No Flask, no SQLAlchemy: plain values in, plain values out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from ledger.core.money import ZERO, format_percent

#: The six criteria an outside firm must meet before work is subcontracted to it (CONTRACT §2).
VETTING_CRITERIA = ("quality", "customer_commitment", "track_record", "reputation", "credit", "rapport")


def subcontract_refusals(vetted: list[str] | tuple[str, ...], nsa_signed_on: dt.date | None,
                         nsa_expires_on: dt.date | None, on: dt.date) -> list[str]:
    """Why a firm may not be subcontracted on ``on``: an empty list when it may."""
    reasons = []
    missing = [c for c in VETTING_CRITERIA if c not in vetted]
    if missing:
        reasons.append(f"not fully vetted: lacks {', '.join(missing)}")
    if nsa_signed_on is None or nsa_expires_on is None:
        reasons.append("has no non-solicitation agreement")
    elif on < nsa_signed_on:
        reasons.append(f"its non-solicitation agreement is only signed on {nsa_signed_on.isoformat()}")
    elif on > nsa_expires_on:
        reasons.append(f"its non-solicitation agreement expired on {nsa_expires_on.isoformat()}")
    return reasons


@dataclass(frozen=True, slots=True)
class Profitability:
    """An engagement's figures to date. Amounts in the currency; ``subcontracted_share`` is a
    percentage string or ``None`` while nothing is invoiced."""

    invoiced: Decimal
    costs: Decimal
    net_margin: Decimal
    subcontracted: Decimal
    subcontracted_share: str | None


def profitability(invoiced: Decimal = ZERO, costs: Decimal = ZERO, subcontracted: Decimal = ZERO) -> Profitability:
    share = None
    if invoiced != 0:
        ratio = (subcontracted * 100 / invoiced).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
        share = format_percent(ratio / 100)
    return Profitability(invoiced, costs, invoiced - costs, subcontracted, share)
