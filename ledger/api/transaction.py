"""The guard every API view runs in: who, what body, which key, one transaction.

Adding an area (periods, vesting, proposals…) takes a module and one line::

    # ledger/api/periods.py
    from ledger.api.openapi import blueprint
    from ledger.api.transaction import requires
    from ledger.runtime.database import get_session

    bp = blueprint("periods", __name__, "Periods and their close")

    @bp.route("/periods/<period_id>/close", methods=["POST"])
    @requires("treasurer")                  # right under route: auth, body, idempotency, commit
    @bp.arguments(CloseIn)                  # optional: the JSON body, as marshmallow loads it
    @bp.response(200, PeriodOut)
    def close_period(data, period_id):
        return close(get_session(), period_id)   # a service: raises LedgerError, never commits

    # and in ledger/api/__init__.py, add the module to BLUEPRINTS.

What ``requires(*roles)`` does, in order, for every request it guards:
1. authenticates ``Authorization: Bearer TOKEN`` (``401`` when missing, unknown or revoked) and
   puts the caller in ``g.caller`` (``api.auth``: ``viewer()``, ``current_user()``,
   ``current_partner()``); an unsafe request's ``Idempotency-Key`` is looked up in the same query,
   read as its own statement before the request's transaction begins (no ``BEGIN`` round trip on
   PostgreSQL: ``db.outside_transaction``);
2. checks the role: ``"admin"``, ``"treasurer"``, ``"partner"`` or ``"any"`` (every signed-in
   user). **An admin may do whatever a treasurer may**: naming ``"treasurer"`` admits admins too.
   Ownership ("self") is the service's or the read model's rule, given ``api.auth.viewer()``;
3. for a POST (PUT, PATCH, DELETE): refuses a body that is not JSON (``415`` for another media
   type, ``422`` for malformed JSON; ``413`` when over ``MAX_CONTENT_LENGTH``), then applies
   ``Idempotency-Key`` (``ledger/api/idempotency.py``): a stored key with the same request replays the
   first response, with another request it is a ``409``;
4. runs the view in the request's one session (``ledger.runtime.database.get_session()``) and commits
   only if the answer is a success (storing the idempotency record in that same transaction);
   anything else rolls back. A view given ``answer`` (``POST /ledger/entries``) may commit its
   entry itself, with the key's record in the same round trip (``g.idempotency``, an
   ``idempotency.Claim``); ``answer`` rebuilds a replay's body from the entry the record names.
   A ``LedgerError`` becomes its problem+json; an unexpected exception is logged and answered
   with a problem+json 500 (a bug: the tests show no input produces one).

``public`` marks the few endpoints that need no token (``/health``). Every route under ``/api/v1``
must carry one or the other: ``tests/test_api_access.py`` walks ``app.url_map`` and fails on a
route without a declared rule (``view.access``).

Errors everywhere under ``/api/`` are RFC 9457 ``application/problem+json`` (``runtime.http``).
Should a value the schemas did not check still reach the database and be refused as out of its
domain, the answer is a 422, logged as a warning: a check is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from functools import wraps
from typing import Any

from flask import current_app, g, request
from flask_smorest.utils import deepupdate
from sqlalchemy.exc import DataError, IntegrityError
from werkzeug.exceptions import HTTPException

from ledger.api import idempotency
from ledger.api.auth import allowed_roles, authenticate
from ledger.api.body import (
    IDEMPOTENCY_HEADER,
    UNSAFE_METHODS,
    idempotency_key,
    json_body,
    plausible_key,
    replay,
)
from ledger.core.errors import Conflict, Forbidden, LedgerError
from ledger.db import clock_of, outside_transaction
from ledger.runtime.database import get_session
from ledger.runtime.http import api_error_response, ledger_error_response, problem, server_error_response

SECURITY_SCHEME = "bearerAuth"
#: Endpoints that need no token and are not view functions of ours (the OpenAPI document).
PUBLIC_ENDPOINTS = frozenset({"api-docs.openapi_json"})


def rollback() -> None:
    """Roll back the request's session, if it opened one."""
    if "db_session" in g:
        g.db_session.rollback()


def with_doc(wrapper: Callable, **doc: Any) -> None:
    wrapper._apidoc = deepcopy(getattr(wrapper, "_apidoc", {}))
    wrapper._apidoc["manual_doc"] = deepupdate(deepcopy(wrapper._apidoc.get("manual_doc", {})), doc)


def guarded(view: Callable, args, kwargs, roles: frozenset[str] | None, answer: Callable[[int], str] | None = None):
    session = get_session()
    key = request_hash = stored = claim = None
    caller = None
    unsafe = request.method in UNSAFE_METHODS
    try:
        if roles is not None:
            # The key's record comes with the caller, in one query; the key itself is checked
            # below, after the body, as before (a malformed one is simply not looked up).
            # Read as its own statement (no BEGIN's round trip on PostgreSQL): the view's
            # transaction begins after it; a record committed since is met at the key's unique
            # constraint, as it would be inside the transaction.
            with outside_transaction(session):
                caller, stored = authenticate(session, plausible_key(request.headers.get(IDEMPOTENCY_HEADER))
                                              if unsafe else None)
            if caller.role not in roles:
                raise Forbidden(f"a {caller.role} may not do this; it takes: {', '.join(sorted(roles))}")
            g.caller = caller
        if unsafe:
            body = json_body()
            key = idempotency_key() if caller is not None else None
            if key is not None:
                path = request.path + (f"?{request.query_string.decode('latin-1')}" if request.query_string else "")
                request_hash = idempotency.fingerprint(request.method, path, body)
                if stored is not None:
                    session.rollback()
                    return replay(stored, request_hash, answer)
                if answer is not None:  # the view may store the record with its own commit
                    claim = g.idempotency = idempotency.Claim(caller.id, key, request_hash, clock_of(session).now())
        response = current_app.make_response(view(*args, **kwargs))
        if response.status_code >= 400:
            session.rollback()
            return response
        if key is not None and (claim is None or not claim.written):
            # the record and the commit in one round trip on PostgreSQL
            idempotency.remember_and_commit(session, caller.id, key, request_hash, response.status_code,
                                            response.get_data(as_text=True))
        else:
            session.commit()
        return response
    except IntegrityError:
        # A concurrent request wrote the same thing first (a code, an account, this very key).
        session.rollback()
        if key is not None:
            stored = idempotency.find(session, caller.id, key)
            session.rollback()
            if stored is not None:
                try:
                    return replay(stored, request_hash, answer)
                except LedgerError as exc:
                    return ledger_error_response(exc)
        return ledger_error_response(Conflict("another request changed the same data at the same time; retry"))
    except DataError as exc:
        # The database refused a value as out of its domain (a number past a column's range, say):
        # bad input the view should have refused first. Nothing was written; say so, and log it so
        # the missing check gets added.
        session.rollback()
        current_app.logger.warning("unvalidated input reached the database on %s %s: %s",
                                   request.method, request.path, (str(exc.orig).splitlines() or [""])[0])
        return problem(422, "Unprocessable input",
                       "a value is outside what the ledger can store; nothing was written")
    except LedgerError as exc:
        session.rollback()
        return ledger_error_response(exc)
    except HTTPException as exc:
        session.rollback()
        if (exc.code or 500) < 400:
            raise
        return api_error_response(exc)
    except Exception as exc:  # a bug: log it, write nothing, answer in the API's shape
        session.rollback()
        return server_error_response(exc)


def requires(*roles: str, answer: Callable[[int], str] | None = None) -> Callable[[Callable], Callable]:
    """Guard a view: see the module docstring. Put it right under ``@bp.route``.

    ``answer``: for a view that commits its one entry itself and stores its ``Idempotency-Key``'s
    record in the same round trip (``g.idempotency.with_entry``, given to ``journal.post_and_commit``):
    the response body rebuilt from that entry's id, byte for byte the first one, for replays."""
    allowed = allowed_roles(roles)

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            return guarded(view, args, kwargs, allowed, answer)

        wrapper.access = tuple(roles)
        wrapper.allowed_roles = allowed
        with_doc(wrapper, security=[{SECURITY_SCHEME: []}])
        return wrapper

    return decorator


def public(view: Callable) -> Callable:
    """Mark a view that needs no token (it still answers errors as problem+json)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        return guarded(view, args, kwargs, None)

    wrapper.access = ()
    wrapper.allowed_roles = frozenset()
    with_doc(wrapper, security=[])
    return wrapper
