"""Users, passwords (argon2id via argon2-cffi), web sessions and API tokens (random, stored as SHA-256).

A web session is only a signed cookie, so it cannot be deleted on the server; it carries the
user's ``session_version`` instead, checked on every request. ``end_sessions`` raises it — at
sign-out, and with every new password — so every session of that user ends wherever its cookie
was copied to. API tokens are separate: ``revoke_tokens`` ends them.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.auth.models import ROLES, ApiToken, User
from ledger.core.errors import Conflict, NotFound, ValidationError
from ledger.core.text import fits
from ledger.db import clock_of
from ledger.practices.models import Partner
from ledger.practices.service import get_partner

#: An email address's shape (matched whole with ``core.text.fits``; no spaces or control characters).
EMAIL_RE = r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$"
_hasher = PasswordHasher()


def get_user(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"no user {email!r}", {"email": ["unknown user"]})
    return user


def add_user(session: Session, email: str, role: str, partner_code: str | None = None,
             password: str | None = None) -> User:
    email = email.strip().lower()
    errors: dict[str, list[str]] = {}
    if not fits(EMAIL_RE, email) or len(email) > 254:
        errors["email"] = ["not an email address"]
    if role not in ROLES:
        errors["role"] = [f"one of {', '.join(ROLES)}"]
    if role == "partner" and not partner_code:
        errors["partner"] = ["a partner user needs --partner CODE"]
    problem = None if password is None else password_problem(password)
    if problem is not None:
        errors["password"] = [problem]
    if errors:
        raise ValidationError("; ".join(f"{k}: {v[0]}" for k, v in errors.items()), errors)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"user {email} already exists", {"email": ["already exists"]})
    partner_id = get_partner(session, partner_code).id if partner_code else None
    user = User(email=email, role=role, partner_id=partner_id, active=True, created_at=clock_of(session).now(),
                password_hash=_hasher.hash(password) if password else None)
    session.add(user)
    session.flush()
    return user


def add_user_or_set_password(session: Session, email: str, role: str, partner_code: str | None = None,
                             password: str | None = None) -> tuple[User, bool]:
    """``add_user``; or, for a user that exists with this very role (and partner), set the given
    password — `ledger init` already made each partner's user, and the same command sets its
    password. Returns the user and whether it was created."""
    try:
        return add_user(session, email, role, partner_code, password), True
    except Conflict:
        user = get_user(session, email)
        same = user.role == role and (not partner_code or (user.partner is not None and user.partner.code == partner_code))
        if not same or password is None:
            raise
        set_password(session, user, password)
        return user, False


def password_problem(password: str) -> str | None:
    """What is wrong with ``password`` as a new one, or None: at least 8 characters, and text
    (a lone surrogate — bytes that were not UTF-8, read with ``surrogateescape`` — cannot be
    encoded for the hasher)."""
    if len(password) < 8:
        return "at least 8 characters"
    if not password.isascii():
        try:
            password.encode("utf-8")
        except UnicodeEncodeError:
            return "not valid text (bytes that are not UTF-8)"
    return None


def set_password(session: Session, user: User, password: str) -> None:
    """A new password, which also ends every web session of the user (``end_sessions``)."""
    problem = password_problem(password)
    if problem is not None:
        raise ValidationError(f"password: {problem}", {"password": [problem]})
    user.password_hash = _hasher.hash(password)
    end_sessions(session, user)


def end_sessions(session: Session, user: User) -> None:
    """End every web session of ``user``: sessions carry the version they began with, and one
    that no longer matches is signed out on its next request (``web.access.load_user``)."""
    user.session_version = (user.session_version or 1) + 1
    session.flush()


def check_password(user: User, password: str) -> bool:
    if not user.password_hash or not user.active:
        return False
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError, UnicodeEncodeError):  # (no stored password is not text)
        return False


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, user: User) -> str:
    """A new bearer token for ``user``; only its hash is stored, so this is the one time it is seen."""
    token = "pl_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), created_at=clock_of(session).now()))
    session.flush()
    return token


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a live token belongs to, as the API's rules need them: no ORM entity to load (every
    request reads one); ``session.get(User, caller.id)`` where a view needs the user itself."""

    id: int
    role: str
    partner_id: int | None
    partner_code: str | None


#: The columns of ``Caller`` for a live token of an active user (``token_hash`` bound), built once.
#: Callers may add columns and outer joins to it (the API adds the request's idempotency record),
#: then read the first four columns with ``Caller(*row[:4])``.
TOKEN_CALLER = (select(User.id, User.role, User.partner_id, Partner.code)
                .select_from(ApiToken)
                .join(User, ApiToken.user_id == User.id)
                .outerjoin(Partner, Partner.id == User.partner_id)
                .where(ApiToken.token_hash == sa.bindparam("token_hash"), ApiToken.revoked_at.is_(None),
                       User.active.is_(True)))


def caller_for_token(session: Session, token: str) -> Caller | None:
    """Who a live (unrevoked) token of an active user belongs to; ``None`` for any other token."""
    row = session.connection().execute(TOKEN_CALLER, {"token_hash": hash_token(token)}).first()
    return None if row is None else Caller(*row)


def revoke_tokens(session: Session, user: User) -> int:
    rows = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)))
    n = 0
    for row in rows:
        row.revoked_at = clock_of(session).now()
        n += 1
    session.flush()
    return n
