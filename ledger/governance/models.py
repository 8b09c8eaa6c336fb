"""Governance rules per proposal kind (weighting, quorum, threshold, of), from the charter."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, DecimalText


class GovernanceRule(Base):
    __tablename__ = "governance_rule"

    kind: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    #: ``member`` (1 each) or ``units`` (vested units when the proposal opens).
    weighting: Mapped[str] = mapped_column(sa.String(10))
    quorum: Mapped[Decimal] = mapped_column(DecimalText)
    #: ``majority`` or a fraction such as ``2/3``.
    threshold: Mapped[str] = mapped_column(sa.String(16))
    #: ``cast`` or ``eligible``.
    of: Mapped[str] = mapped_column(sa.String(10))
