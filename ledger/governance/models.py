"""Governance: rules per proposal kind (from the charter, changed by vote), proposals, their frozen
electorates, and votes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ledger.db import Base, DecimalText
from ledger.practices.models import Partner


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
    #: The shortest time a proposal of this kind stays open for votes (CONTRACT §7).
    min_open_hours: Mapped[int] = mapped_column(default=24, server_default="24")


class Proposal(Base):
    """A motion put to the partnership. Everything that decides it — the rule, the electorate and
    its weights, the closing time — is frozen on it when it opens."""

    __tablename__ = "proposal"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    title: Mapped[str] = mapped_column(sa.String(200))
    #: The kind's payload as canonical JSON text.
    payload: Mapped[str] = mapped_column(sa.Text)
    proposer_id: Mapped[int] = mapped_column(sa.ForeignKey("partner.id"))
    #: ``open``, ``passed``, ``failed`` or ``canceled``.
    status: Mapped[str] = mapped_column(sa.String(10), default="open", index=True)
    opened_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))
    closes_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))
    closed_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    executed_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    weighting: Mapped[str] = mapped_column(sa.String(10))
    quorum: Mapped[Decimal] = mapped_column(DecimalText)
    threshold: Mapped[str] = mapped_column(sa.String(16))
    of: Mapped[str] = mapped_column(sa.String(10))
    #: The tally at close, as JSON text (weights as exact strings).
    result: Mapped[str | None] = mapped_column(sa.Text)
    #: What execution did: ``practice:cloud``, ``policy:2``, ``partner:dana``, ``entry:41``…
    effect: Mapped[str | None] = mapped_column(sa.String(200))

    proposer: Mapped[Partner] = relationship(lazy="joined")


class Elector(Base):
    """A voter of a proposal's frozen electorate, with the weight fixed at opening."""

    __tablename__ = "elector"
    __table_args__ = (sa.UniqueConstraint("proposal_id", "partner_id", name="uq_elector_proposal_partner"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(sa.ForeignKey("proposal.id"), index=True)
    partner_id: Mapped[int] = mapped_column(sa.ForeignKey("partner.id"))
    weight: Mapped[int] = mapped_column(sa.BigInteger)

    partner: Mapped[Partner] = relationship(lazy="joined")


class Vote(Base):
    """One vote as cast; a later vote by the same voter replaces the earlier in the tally, and
    every vote is kept as history."""

    __tablename__ = "vote"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(sa.ForeignKey("proposal.id"), index=True)
    partner_id: Mapped[int] = mapped_column(sa.ForeignKey("partner.id"))
    choice: Mapped[str] = mapped_column(sa.String(8))
    cast_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))

    partner: Mapped[Partner] = relationship(lazy="joined")


class Delegation(Base):
    """A partner's vote delegated to another partner (CONTRACT §8): for one proposal
    (``proposal_id``) or standing (``proposal_id`` null, every proposal until revoked). Rows are
    never deleted: a revocation sets ``revoked_at``, so the history of who delegated to whom, and
    when, is kept. At most one delegation of each scope is in force per partner."""

    __tablename__ = "delegation"
    __table_args__ = (sa.Index("ix_delegation_delegator_in_force", "delegator_id", "proposal_id", "revoked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delegator_id: Mapped[int] = mapped_column(sa.ForeignKey("partner.id"))
    delegate_id: Mapped[int] = mapped_column(sa.ForeignKey("partner.id"))
    proposal_id: Mapped[int | None] = mapped_column(sa.ForeignKey("proposal.id"))
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))

    delegator: Mapped[Partner] = relationship(foreign_keys=[delegator_id], lazy="joined")
    delegate: Mapped[Partner] = relationship(foreign_keys=[delegate_id], lazy="joined")
