"""Who is calling the API: ``Authorization: Bearer TOKEN`` and roles.

Roles: ``"admin"``, ``"treasurer"``, ``"partner"`` or ``"any"`` (every signed-in user). **An admin
may do whatever a treasurer may**: naming ``"treasurer"`` admits admins too. The signed-in user is
``g.user`` (``g.user.partner`` is the partner a ``partner`` user is); ``viewer()`` is the same user
as the read and governance rules take it.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import g, request
from sqlalchemy.orm import Session

from ledger.auth.models import User
from ledger.auth.service import user_for_token
from ledger.core.access import Viewer
from ledger.core.errors import Forbidden, LedgerError

ROLES = ("admin", "treasurer", "partner")


class Unauthenticated(LedgerError):
    """No ``Authorization: Bearer`` token, or one that is unknown, revoked or of an inactive user."""

    status = 401
    title = "Unauthorized"


def authenticate(session: Session) -> User:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("send `Authorization: Bearer TOKEN` (make one with `ledger token create EMAIL`)")
    user = user_for_token(session, token) if len(token) <= 200 else None
    if user is None:
        raise Unauthenticated("the token is unknown or revoked")
    return user


def allowed_roles(roles: Iterable[str]) -> frozenset[str]:
    """The user roles ``roles`` admits (``"any"``: all; ``"treasurer"``: admins too)."""
    roles = tuple(roles)
    unknown = set(roles) - {*ROLES, "any"}
    if unknown or not roles:
        raise ValueError(f"requires() takes roles among {ROLES} or 'any', not {roles!r}")
    if "any" in roles:
        return frozenset(ROLES)
    if "treasurer" in roles:
        roles += ("admin",)
    return frozenset(roles)


def viewer() -> Viewer:
    """The signed-in user of this request as ``core.access`` knows them."""
    user: User = g.user
    return Viewer(user.role, user.partner.code if user.role == "partner" and user.partner is not None else None)


def require_self_or(partner_code: str, *roles: str) -> None:
    """Inside a view: the caller is the partner ``partner_code`` (a ``partner`` user linked to it),
    or has one of ``roles`` (``"treasurer"`` admits admins); else 403."""
    user: User = g.user
    if user.role in allowed_roles(roles):
        return
    if user.role == "partner" and user.partner is not None and user.partner.code == partner_code:
        return
    raise Forbidden(f"only {partner_code} or a {'/'.join(roles)} may do this")
