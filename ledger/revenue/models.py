"""Sharing policy versions (the periods themselves belong to the journal).

- ``PolicyVersion``: version 1 comes from the charter; a later version applies from its
  ``effective_period`` on, and earlier periods keep theirs.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ledger.db import Base, DecimalText


class PolicyVersion(Base):
    __tablename__ = "policy_version"

    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    origination: Mapped[Decimal] = mapped_column(DecimalText)
    practice: Mapped[Decimal] = mapped_column(DecimalText)
    #: ``vested_units`` or ``equal``.
    pool_basis: Mapped[str] = mapped_column(sa.String(16))
    effective_period: Mapped[str] = mapped_column(sa.String(8), index=True)
    proposal_id: Mapped[int | None]
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))
