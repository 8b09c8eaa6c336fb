"""Who is calling the API: ``Authorization: Bearer TOKEN`` and roles.

Roles: ``"admin"``, ``"treasurer"``, ``"partner"`` or ``"any"`` (every signed-in user). **An admin
may do whatever a treasurer may**: naming ``"treasurer"`` admits admins too. The caller is
``g.caller`` (``auth.service.Caller``: id, role, partner id and code, read with the token in one
query, with no ORM entity to build); ``viewer()`` is the same caller as the read and governance
rules take it, ``current_user()`` the ``User`` itself and ``current_partner()`` the partner, each
loaded only by the views that need them.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from flask import g, request
from sqlalchemy.orm import Session

from ledger.api.idempotency import StoredResponse
from ledger.auth.models import IdempotencyRecord, User
from ledger.auth.service import TOKEN_CALLER, Caller, caller_for_token, hash_token
from ledger.core.access import Viewer
from ledger.core.errors import Forbidden, LedgerError
from ledger.practices.models import Partner

ROLES = ("admin", "treasurer", "partner")


class Unauthenticated(LedgerError):
    """No ``Authorization: Bearer`` token, or one that is unknown, revoked or of an inactive user."""

    status = 401
    title = "Unauthorized"


#: The caller of a token and, in the same round trip, what the caller's ``Idempotency-Key`` (``key``
#: bound) answered before, if anything: an unsafe request with a key asks both, built once.
CALLER_AND_RECORD = (TOKEN_CALLER
                      .add_columns(IdempotencyRecord.request_hash, IdempotencyRecord.status, IdempotencyRecord.body,
                                   IdempotencyRecord.entry_id)
                      .outerjoin(IdempotencyRecord, sa.and_(IdempotencyRecord.user_id == User.id,
                                                            IdempotencyRecord.key == sa.bindparam("key"))))


#: The caller's user id (``user_id``) when the token (``token_hash`` bound) is live, its user active
#: with one of ``roles`` (bound, a list), and the ``Idempotency-Key`` (``key`` bound) not used by that
#: user before: every check the guard makes before a write with a new key goes ahead, as a query of
#: one row or none (PostgreSQL: ``= ANY``). ``api.direct`` sends it as the condition of its append
#: (``journal.append.Given``), so the checks and the write are one round trip.
CALLER_WITH_NEW_KEY = (TOKEN_CALLER.with_only_columns(User.id.label("user_id"))
                       .where(User.role == sa.any_(sa.bindparam("roles", type_=sa.ARRAY(sa.String))),
                              ~sa.exists().where(IdempotencyRecord.user_id == User.id,
                                                 IdempotencyRecord.key == sa.bindparam("key"))))


def authenticate(session: Session, key: str | None = None) -> tuple[Caller, StoredResponse | None]:
    """The caller of ``Authorization: Bearer TOKEN`` (401 unless it is a live token of an active
    user) and, when ``key`` is given, the response the caller's earlier request with that
    ``Idempotency-Key`` got (``None`` if none): one query."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("send `Authorization: Bearer TOKEN` (make one with `ledger token create EMAIL`)")
    caller = stored = None
    if len(token) <= 200 and key is None:
        caller = caller_for_token(session, token)
    elif len(token) <= 200:  # on the session's connection as Core: plain rows, no ORM layer to pass
        row = session.connection().execute(CALLER_AND_RECORD, {"token_hash": hash_token(token), "key": key}).first()
        if row is not None:
            caller, stored = _caller_and_record(row)
    if caller is None:
        raise Unauthenticated("the token is unknown or revoked")
    return caller, stored


def _caller_and_record(row) -> tuple[Caller, StoredResponse | None]:
    """A row of ``CALLER_AND_RECORD``: the caller, and the key's stored response if any."""
    return Caller(*row[:4]), StoredResponse(*row[4:]) if row[4] is not None else None


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
    caller: Caller = g.caller
    return Viewer(caller.role, caller.partner_code if caller.role == "partner" else None)


def current_user(session: Session) -> User:
    """The signed-in ``User`` (from the session's identity map after the first call)."""
    return session.get(User, g.caller.id)


def current_partner(session: Session) -> Partner | None:
    """The partner the signed-in user is linked to, if any."""
    partner_id = g.caller.partner_id
    return None if partner_id is None else session.get(Partner, partner_id)


def require_self_or(partner_code: str, *roles: str) -> None:
    """Inside a view: the caller is the partner ``partner_code`` (a ``partner`` user linked to it),
    or has one of ``roles`` (``"treasurer"`` admits admins); else 403."""
    caller: Caller = g.caller
    if caller.role in allowed_roles(roles):
        return
    if caller.role == "partner" and caller.partner_code == partner_code:
        return
    raise Forbidden(f"only {partner_code} or a {'/'.join(roles)} may do this")
