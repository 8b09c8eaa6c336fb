"""Equity: grants, and the dated events that reshape their schedules.

- ``Grant``: units granted to a partner, with the vesting terms of CONTRACT §5. Founders' units are
  a grant that vests entirely on ``start`` (``months = 0``, ``kind = "founder"``). A grant is never
  edited once written.
- ``VestingPause``: a leave of absence of a *partner* (``[starts_on, ends_on]``, both days
  included; ``ends_on`` NULL while still on leave). It stops the vesting clock of every grant of
  theirs that vests over time (a founder's units have nothing to pause). The end of an open pause
  is recorded once, when it is known; nothing else about a pause ever changes.
- ``VestingAcceleration``: ``quantity`` units of one grant vest on ``date`` ahead of schedule, for
  ``reason``; taken from the grant's next tranches. Never changed once written.

So the history of a schedule is append-only: a schedule changes by adding a dated event, never by
editing a grant or an earlier event. The database enforces it (migration 0004's triggers: no
DELETE on either table, no UPDATE of an acceleration, and a pause's UPDATE may only set an end that
was NULL), besides the ``CHECK`` constraints below. The rules that decide whether an event may be
added (no overlapping pauses, no acceleration above what is unvested, nothing in a closed period)
are in ``events.py``; what the events do to the schedule is the pure ``vesting.py``.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ledger.db import Base
from ledger.practices.models import Partner


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

    @property
    def vests_over_time(self) -> bool:
        """False for a founder's units (vested in full on ``start``): nothing to pause."""
        return self.months > 0


class VestingPause(Base):
    """A partner's leave of absence: vesting time stops from ``starts_on`` to ``ends_on``."""

    __tablename__ = "vesting_pause"
    __table_args__ = (
        sa.CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="ends_after_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(sa.ForeignKey("partner.id"), index=True)
    #: The first day of the leave.
    starts_on: Mapped[dt.date]
    #: The last day of the leave; NULL while the partner is still on leave.
    ends_on: Mapped[dt.date | None]
    reason: Mapped[str] = mapped_column(sa.String(200), default="")
    #: When the pause was recorded (server time, UTC).
    recorded_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))
    #: When its end was recorded: at ``recorded_at`` if known then, later for an open pause.
    ended_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))

    partner: Mapped[Partner] = relationship(lazy="joined")


class VestingAcceleration(Base):
    """``quantity`` units of a grant vest on ``date`` ahead of schedule, for ``reason``."""

    __tablename__ = "vesting_acceleration"
    __table_args__ = (
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        sa.CheckConstraint("length(trim(reason)) > 0", name="reason_given"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(sa.ForeignKey("grant.id"), index=True)
    date: Mapped[dt.date]
    quantity: Mapped[int] = mapped_column(sa.BigInteger)
    reason: Mapped[str] = mapped_column(sa.String(200))
    #: When the acceleration was recorded (server time, UTC).
    recorded_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))

    grant: Mapped[Grant] = relationship(lazy="joined")
