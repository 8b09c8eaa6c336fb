"""Equity grants. Founders' units are a grant that vests entirely on ``start`` (``months = 0``)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base
from ..practices.models import Partner


class Grant(Base):
    __tablename__ = "grant"
    __table_args__ = (
        sa.CheckConstraint("units > 0", name="units_positive"),
        sa.CheckConstraint("cliff_months >= 0 AND months >= 0 AND every >= 1", name="schedule"),
        sa.CheckConstraint("cliff_months <= months OR months = 0", name="cliff_within"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(sa.ForeignKey("partner.id"), index=True)
    units: Mapped[int] = mapped_column(sa.BigInteger)
    start: Mapped[dt.date]
    cliff_months: Mapped[int]
    months: Mapped[int]
    every: Mapped[int]
    #: ``founder`` or ``grant``.
    kind: Mapped[str] = mapped_column(sa.String(10))

    partner: Mapped[Partner] = relationship(lazy="joined")
