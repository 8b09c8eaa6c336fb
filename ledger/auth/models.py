"""Users (roles ``admin``, ``treasurer``, ``partner``) and their API tokens, stored hashed."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ledger.db import Base
from ledger.practices.models import Partner

ROLES = ("admin", "treasurer", "partner")


class User(Base):
    __tablename__ = "app_user"
    __table_args__ = (sa.CheckConstraint("role IN ('admin', 'treasurer', 'partner')", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    role: Mapped[str] = mapped_column(sa.String(10))
    partner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("partner.id"))
    password_hash: Mapped[str | None] = mapped_column(sa.String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))
    #: Part of every web session's id: raising it (sign-out, a new password) ends every session of
    #: the user, wherever its cookie is (``auth.service.end_sessions``).
    session_version: Mapped[int] = mapped_column(default=1, server_default=sa.text("1"))

    partner: Mapped[Partner | None] = relationship(lazy="joined")


class ApiToken(Base):
    """A bearer token: only its SHA-256 is stored; ``revoked_at`` ends it."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("app_user.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))

    user: Mapped[User] = relationship(lazy="joined")


class SignInThrottle(Base):
    """Failed sign-ins on one key (``auth.throttle``): an email with a client address, or an
    address alone, as a SHA-256 digest; how many, the last one, and until when the key is locked."""

    __tablename__ = "sign_in_throttle"
    __table_args__ = (sa.UniqueConstraint("scope", "key", name="uq_sign_in_throttle_scope_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(sa.String(10))
    key: Mapped[str] = mapped_column(sa.String(64))
    failures: Mapped[int]
    last_failure_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), index=True)
    locked_until: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))


class IdempotencyRecord(Base):
    """A POST's ``Idempotency-Key`` with the hash of its request and the response it got: its
    ``body``, or the entry it wrote (``entry_id``) when the record was written with the entry, before
    the response existed (``POST /ledger/entries``; a replay rebuilds the answer from the entry)."""

    __tablename__ = "idempotency_record"
    __table_args__ = (sa.UniqueConstraint("user_id", "key", name="uq_idempotency_user_key"),
                      sa.CheckConstraint("body IS NOT NULL OR entry_id IS NOT NULL", name="answer"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("app_user.id"))
    key: Mapped[str] = mapped_column(sa.String(200))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[int]
    body: Mapped[str | None] = mapped_column(sa.Text)
    entry_id: Mapped[int | None] = mapped_column(sa.BigInteger, sa.ForeignKey("entry.id"))
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))

