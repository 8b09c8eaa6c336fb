"""Pure rules of the income statement and of outside firms (CONTRACT §10).

- **Figures** of a practice, a firm, a period or the whole partnership over a range of periods:
  ``revenue`` (invoices), ``direct_costs`` (every engagement cost), of which ``subcontract`` (costs
  paid to outside firms); ``margin = revenue − direct_costs``; ``margin_pct = margin / revenue``
  and ``subcontract_share = subcontract / direct_costs``, each rounded half-even to 4 decimals and
  ``None`` when its divisor is zero.
- **NSA status** of a firm on a day: ``expired`` when it has no agreement in force that day (none
  signed, not yet signed, or past its last day), ``expires_soon`` when the agreement's last day is
  within ``NSA_WARNING_DAYS`` (60) of it, else ``in_force``.
- **NSA notice** due on a day (``nsa_notice``, what ``ledger notify remind`` tells the treasurers):
  ``expiring`` while the status is ``expires_soon``; ``lapsed`` once its last day has passed, for
  the ``NSA_WARNING_DAYS`` after it (an agreement that lapsed longer ago is not news); else none.

No Flask, no SQLAlchemy: plain values in, plain values out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from ledger.core.money import ZERO

#: A firm's NSA ending within this many days of today is flagged (``expires_soon``).
NSA_WARNING_DAYS = 60
RATIO_PLACES = Decimal("0.0001")


def ratio(part: Decimal, whole: Decimal) -> str | None:
    """``part / whole`` rounded half-even to 4 decimals, as text (``"0.3750"``); ``None`` when
    ``whole`` is zero."""
    if not whole:
        return None
    return str((part / whole).quantize(RATIO_PLACES, rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True, slots=True)
class Figures:
    """What a practice, a firm, a period or the partnership earned over a range, in the currency."""

    revenue: Decimal = ZERO
    direct_costs: Decimal = ZERO
    subcontract: Decimal = ZERO

    @property
    def margin(self) -> Decimal:
        return self.revenue - self.direct_costs

    @property
    def margin_pct(self) -> str | None:
        return ratio(self.margin, self.revenue)

    @property
    def subcontract_share(self) -> str | None:
        return ratio(self.subcontract, self.direct_costs)

    def __add__(self, other: Figures) -> Figures:
        return Figures(self.revenue + other.revenue, self.direct_costs + other.direct_costs,
                       self.subcontract + other.subcontract)


def nsa_status(signed_on: dt.date | None, expires_on: dt.date | None, today: dt.date) -> str:
    """``in_force``, ``expires_soon`` (its last day within 60 days of ``today``) or ``expired``
    (no agreement in force on ``today``)."""
    if signed_on is None or expires_on is None or today < signed_on or today > expires_on:
        return "expired"
    if (expires_on - today).days <= NSA_WARNING_DAYS:
        return "expires_soon"
    return "in_force"


def nsa_notice(signed_on: dt.date | None, expires_on: dt.date | None, today: dt.date) -> str | None:
    """The notice a firm's NSA deserves on ``today``: ``expiring`` (``expires_soon``), ``lapsed``
    (its last day passed within the last 60 days), or ``None``."""
    status = nsa_status(signed_on, expires_on, today)
    if status == "expires_soon":
        return "expiring"
    if (status == "expired" and signed_on is not None and expires_on is not None and signed_on <= expires_on < today
            and (today - expires_on).days <= NSA_WARNING_DAYS):
        return "lapsed"
    return None
