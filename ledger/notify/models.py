"""Notifications and the email outbox.

- ``Notification``: one thing one user is told (kind, subject, a link to the page concerned, the
  facts the message is written from as JSON). ``dedupe_key`` is unique: an event recorded twice
  (a reminder run every minute) is told once. ``read_at`` marks it read in the app.
- ``OutboxMessage``: the email of a notification, when the user's preferences want one. Status
  ``pending`` → ``sending`` (claimed by a sender, ``claimed_at``) → ``sent`` (``sent_at``), or back
  to ``pending`` with ``next_attempt_at`` after a failure, ``failed`` after the last attempt. A
  ``sending`` row whose sender died is claimed again once its lease has passed.
- ``NotificationPreference``: whether a kind emails the user; no row means the kind's default.
- ``CalendarFeedRotation``: each time a user replaced their calendar feed's URL. The URL carries a
  token signed with the app's key naming the user and the feed's generation (how many rotations
  there were when it was made, ``feeds.py``): nothing secret is stored, reading the URL writes
  nothing, and after a rotation the old URL names an old generation: 404.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ledger.auth.models import User
from ledger.db import Base

STATUSES = ("pending", "sending", "sent", "failed")


class Notification(Base):
    __tablename__ = "notification"
    __table_args__ = (sa.Index("ix_notification_user_unread", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("app_user.id"))
    kind: Mapped[str] = mapped_column(sa.String(40))
    subject: Mapped[str] = mapped_column(sa.String(300))
    link: Mapped[str] = mapped_column(sa.String(300))
    facts: Mapped[str] = mapped_column(sa.Text)
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))
    read_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))

    user: Mapped[User] = relationship(lazy="joined")


class OutboxMessage(Base):
    __tablename__ = "outbox_message"
    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name="status"),
        sa.Index("ix_outbox_message_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(sa.ForeignKey("notification.id"), unique=True)
    to_address: Mapped[str] = mapped_column(sa.String(254))
    status: Mapped[str] = mapped_column(sa.String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))
    next_attempt_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    claimed_by: Mapped[str | None] = mapped_column(sa.String(100))
    sent_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(sa.Text)

    notification: Mapped[Notification] = relationship(lazy="joined")


class NotificationPreference(Base):
    __tablename__ = "notification_preference"
    __table_args__ = (sa.UniqueConstraint("user_id", "kind", name="uq_notification_preference_user_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("app_user.id"))
    kind: Mapped[str] = mapped_column(sa.String(40))
    email: Mapped[bool]
    updated_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))


class CalendarFeedRotation(Base):
    __tablename__ = "calendar_feed_rotation"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("app_user.id"), index=True)
    rotated_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))
