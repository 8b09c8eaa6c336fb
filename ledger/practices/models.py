"""The partnership's people and work: partners, practices and their ownership, clients, outside
firms and engagements.

Invariants
- Codes are ``[a-z0-9-]{2,32}`` and unique per kind; they are the id everywhere (API, accounts).
- A practice's ownership shares in force for any period sum to exactly 1 (100%); ownership is
  versioned by period (``from_period`` inclusive, ``to_period`` exclusive) so a succession changes
  the future without editing the past.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ledger.db import Amount, Base, Code, DecimalText
from ledger.journal.models import Books


class Partnership(Base):
    """The one partnership a database holds, as its charter founded it. Its currency, period kind
    and first day are the journal's (``Books``): read here through ``books``, stored once."""

    __tablename__ = "partnership"

    id: Mapped[int] = mapped_column(primary_key=True)
    books_id: Mapped[int] = mapped_column(sa.ForeignKey("books.id"))
    name: Mapped[str] = mapped_column(sa.String(200))
    open_books: Mapped[bool]
    goodwill_multiple: Mapped[Decimal] = mapped_column(DecimalText)
    lookback_periods: Mapped[int]
    installments: Mapped[int]
    founded_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))

    books: Mapped[Books] = relationship(lazy="joined")

    @property
    def currency(self) -> str:
        return self.books.currency

    @property
    def period_kind(self) -> str:
        return self.books.period_kind

    @property
    def starts_on(self) -> dt.date:
        return self.books.starts_on


class Partner(Base):
    __tablename__ = "partner"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[Code]
    name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    #: ``active`` or ``retired``.
    status: Mapped[str] = mapped_column(sa.String(10), default="active")
    joined_on: Mapped[dt.date]
    #: The last day of a retirement that has passed its vote and awaits its period's close (the
    #: effective period's last day); nothing may be dated after it for this partner.
    leaves_on: Mapped[dt.date | None]
    retired_on: Mapped[dt.date | None]


class Practice(Base):
    __tablename__ = "practice"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[Code]
    name: Mapped[str] = mapped_column(sa.String(200))
    created_on: Mapped[dt.date]

    ownerships: Mapped[list[Ownership]] = relationship(
        back_populates="practice", order_by="Ownership.id", lazy="selectin"
    )


class Ownership(Base):
    """A partner's share of a practice for the periods ``[from_period, to_period)``."""

    __tablename__ = "ownership"
    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(sa.ForeignKey("practice.id"), index=True)
    partner_id: Mapped[int] = mapped_column(sa.ForeignKey("partner.id"), index=True)
    share: Mapped[Decimal] = mapped_column(DecimalText)
    from_period: Mapped[str] = mapped_column(sa.String(8))
    to_period: Mapped[str | None] = mapped_column(sa.String(8))

    practice: Mapped[Practice] = relationship(back_populates="ownerships")
    partner: Mapped[Partner] = relationship(lazy="joined")


class Client(Base):
    __tablename__ = "client"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[Code]
    name: Mapped[str] = mapped_column(sa.String(200))


class Firm(Base):
    """An outside firm work may be subcontracted to, once vetted and under a non-solicitation
    agreement (NSA) in force on the cost's date."""

    __tablename__ = "firm"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[Code]
    name: Mapped[str] = mapped_column(sa.String(200))
    #: Comma-separated vetting criteria met (of the six in ``core.vetting.VETTING_CRITERIA``).
    vetted: Mapped[str] = mapped_column(sa.String(200), default="")
    nsa_signed_on: Mapped[dt.date | None]
    nsa_expires_on: Mapped[dt.date | None]

    @property
    def vetted_list(self) -> list[str]:
        return [v for v in self.vetted.split(",") if v]


class Engagement(Base):
    __tablename__ = "engagement"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(sa.String(64), unique=True)
    client_id: Mapped[int] = mapped_column(sa.ForeignKey("client.id"))
    practice_id: Mapped[int] = mapped_column(sa.ForeignKey("practice.id"), index=True)
    originator_id: Mapped[int] = mapped_column(sa.ForeignKey("partner.id"))
    title: Mapped[str] = mapped_column(sa.String(200))
    opened_on: Mapped[dt.date]

    client: Mapped[Client] = relationship(lazy="joined")
    practice: Mapped[Practice] = relationship(lazy="joined")
    originator: Mapped[Partner] = relationship(lazy="joined")


class Cost(Base):
    """A direct cost of an engagement, as booked: ``subcontract`` (paid to an outside ``firm``,
    vetted and under an NSA on ``date``) or ``expense`` (no firm). The money is in the ledger entry
    (``entry_id``); this row keeps what the entry cannot say: the kind and the firm, so the
    profitability view can tell the subcontracted share."""

    __tablename__ = "cost"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('subcontract', 'expense')", name="kind"),
        sa.CheckConstraint("(kind = 'subcontract') = (firm_id IS NOT NULL)", name="firm_iff_subcontract"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(sa.ForeignKey("engagement.id"), index=True)
    entry_id: Mapped[int] = mapped_column(sa.BigInteger, sa.ForeignKey("entry.id"), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(12))
    firm_id: Mapped[int | None] = mapped_column(sa.ForeignKey("firm.id"), index=True)
    amount: Mapped[Amount]
    date: Mapped[dt.date]

    firm: Mapped[Firm | None] = relationship(lazy="joined")
