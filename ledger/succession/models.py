"""A scheduled or completed retirement, and its buyout."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ledger.db import Base, ExactAmount
from ledger.practices.models import Partner


class Retirement(Base):
    __tablename__ = "retirement"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(sa.ForeignKey("partner.id"), unique=True)
    proposal_id: Mapped[int] = mapped_column(sa.ForeignKey("proposal.id"))
    effective_period: Mapped[str] = mapped_column(sa.String(8), index=True)
    #: JSON ``{practice_code: successor_code}``.
    successors: Mapped[str] = mapped_column(sa.Text)
    #: ``scheduled`` until the close of ``effective_period``, then ``done``.
    status: Mapped[str] = mapped_column(sa.String(10), default="scheduled")
    capital: Mapped[Decimal | None] = mapped_column(ExactAmount)
    goodwill: Mapped[Decimal | None] = mapped_column(ExactAmount)
    installments: Mapped[int]
    installments_paid: Mapped[int] = mapped_column(default=0)
    executed_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))

    partner: Mapped[Partner] = relationship(lazy="joined")

    @property
    def total(self) -> Decimal | None:
        if self.capital is None or self.goodwill is None:
            return None
        return self.capital + self.goodwill
