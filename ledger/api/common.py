"""The toolkit every blueprint under ``/api/v1`` is built with.

Adding an area (periods, vesting, proposals…) takes a module and one line::

    # ledger/api/periods.py
    from ledger.runtime.database import get_session
    from ledger.api.common import Date, Money, blueprint, requires   # fields re-exported from fields.py

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
   puts the user in ``g.user`` (``g.user.partner`` is the partner a ``partner`` user is);
2. checks the role: ``"admin"``, ``"treasurer"``, ``"partner"`` or ``"any"`` (every signed-in
   user). **An admin may do whatever a treasurer may**: naming ``"treasurer"`` admits admins too.
   Ownership ("self") is the view's own check: call ``require_self_or(code, "treasurer")``;
3. for a POST (PUT, PATCH, DELETE): refuses a body that is not JSON (``415`` for another media
   type, ``422`` for malformed JSON; ``413`` when over ``MAX_CONTENT_LENGTH``), then applies
   ``Idempotency-Key`` (``ledger/idempotency.py``): a stored key with the same request replays the
   first response, with another request it is a ``409``;
4. runs the view in the request's one session (``ledger.runtime.database.get_session()``) and commits
   only if the answer is a success (storing the idempotency record in that same transaction);
   anything else rolls back. A ``LedgerError`` becomes its problem+json; an unexpected exception
   is logged and answered with a problem+json 500 (a bug: the tests show no input produces one).

``public`` marks the few endpoints that need no token (``/health``). Every route under ``/api/v1``
must carry one or the other: ``tests/test_api_access.py`` walks ``app.url_map`` and fails on a
route without a declared rule (``view.access``).

Errors everywhere under ``/api/`` are RFC 9457 ``application/problem+json``:
``{"type", "title", "status", "detail", "errors": {field: [message]}}``. ``problem()`` builds one;
``LedgerApi`` turns Flask's routing errors (404, 405) and smorest's validation errors (422) into
the same shape, naming fields as the client sent them (``postings[0].amount``). Flask's HTML error
pages are never sent for an ``/api/`` path. (A web module that registers an app-wide handler for a
status code, say ``@app.errorhandler(404)``, takes precedence for every path: it should return
``ledger.api.common.api_error_response(e)`` when ``is_api_request()``.)

URL converters for path parameters: ``<code:...>`` (``[a-z0-9-]{2,32}``) and ``<ref:...>``
(engagement refs); ids use ``f"<{INT_ID}:proposal_id>"`` for an ``Integer`` key (PostgreSQL's
``integer`` stops at 2³¹−1) and ``BIG_ID`` for a ``BigInteger`` one (entries). A value of the wrong
shape or out of range is a 404 before any view runs, and never reaches the database. (Should an
unchecked value still reach it and be refused as out of its domain, the answer is a 422, logged
as a warning: a check is missing.)
"""

from __future__ import annotations

import http
import json
import re
from collections.abc import Callable, Iterable, Mapping
from copy import deepcopy
from functools import wraps
from typing import Any

import marshmallow as ma
from apispec import BasePlugin
from flask import current_app, g, request
from flask_smorest import Api, Blueprint
from flask_smorest.utils import deepupdate, prepare_response
from sqlalchemy.exc import DataError, IntegrityError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from ledger.api import idempotency
from ledger.auth.models import User
from ledger.auth.service import user_for_token
from ledger.core.errors import Conflict, Forbidden, LedgerError, ValidationError
from ledger.runtime.database import get_session
from ledger.schema import REF_RE, AccountName, Code, Date, Money, Ref, Text

__all__ = [
    "API_PREFIX", "BIG_ID", "INT_ID", "AccountName", "Code", "Date", "LedgerApi", "Money", "ProblemSchema", "Ref",
    "Text", "api_error_response", "blueprint", "is_api_request", "problem", "public", "require_self_or", "requires",
]

API_PREFIX = "/api/v1"
ROLES = ("admin", "treasurer", "partner")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PROBLEM_MIMETYPE = "application/problem+json"
IDEMPOTENCY_HEADER = "Idempotency-Key"
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,%d}$" % idempotency.MAX_KEY_LENGTH)  # noqa: UP031 - braces are the regex's
#: Endpoints that need no token and are not view functions of ours (the OpenAPI document).
PUBLIC_ENDPOINTS = frozenset({"api-docs.openapi_json"})
SECURITY_SCHEME = "bearerAuth"
#: Path converters for ids: ``Integer`` primary keys, and ``BigInteger`` ones (entry ids).
INT_ID = "int(min=1, max=2147483647)"
BIG_ID = "int(min=1, max=9223372036854775807)"


class Unauthenticated(LedgerError):
    """No ``Authorization: Bearer`` token, or one that is unknown, revoked or of an inactive user."""

    status = 401
    title = "Unauthorized"


class UnsupportedMediaType(LedgerError):
    """A request body that is not ``application/json``."""

    status = 415
    title = "Unsupported media type"


# --- problem+json -------------------------------------------------------------------------------

_TYPES = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
          405: "method-not-allowed", 409: "conflict", 413: "too-large", 415: "unsupported-media-type",
          422: "validation", 500: "server-error"}


def problem_type(status: int) -> str:
    return f"urn:practice-ledger:problem:{_TYPES.get(status, str(status))}"


def problem(status: int, title: str | None = None, detail: str = "", errors: Mapping | None = None,
            headers: Mapping[str, str] | None = None):
    """An ``application/problem+json`` response."""
    body = {
        "type": problem_type(status),
        "title": title or http.HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "errors": {str(k): [str(m) for m in v] for k, v in (errors or {}).items()},
    }
    response = current_app.response_class(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def ledger_error_response(exc: LedgerError):
    headers = {"WWW-Authenticate": 'Bearer realm="api"'} if exc.status == 401 else None
    return problem(exc.status, exc.title, exc.detail, exc.errors, headers)


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Marshmallow's nested messages as ``{"postings[0].amount": [...]}``; ``_schema`` names the
    object it is about (the whole body at the top: ``"body"``)."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            if key == "_schema":
                name = prefix or "body"
            elif isinstance(key, int):
                name = f"{prefix}[{key}]"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            for field, msgs in flatten_messages(value, name).items():
                out.setdefault(field, []).extend(msgs)
    elif isinstance(messages, list | tuple):
        for item in messages:
            if isinstance(item, Mapping):
                for field, msgs in flatten_messages(item, prefix).items():
                    out.setdefault(field, []).extend(msgs)
            else:
                out.setdefault(prefix or "body", []).append(str(item))
    else:
        out.setdefault(prefix or "body", []).append(str(messages))
    return out


def api_error_response(error: HTTPException):
    """An HTTP error (routing, webargs' validation, 413…) as problem+json."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    errors: dict[str, list[str]] = {}
    messages = data.get("errors") or data.get("messages")
    if isinstance(messages, Mapping):
        # webargs keys messages by location ({"json": {...}, "query": {...}}): drop that level.
        for location, inner in messages.items():
            for field, msgs in flatten_messages(inner).items():
                errors.setdefault(field if field != "body" or location == "json" else location, []).extend(msgs)
    if status == 422 and errors:
        detail = "the request has invalid fields: " + ", ".join(sorted(errors))
        title = "Unprocessable input"
    else:
        detail = error.description if isinstance(error.description, str) else ""
        title = None
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    return problem(status, title, detail, errors, headers)


def server_error_response(exc: BaseException):
    current_app.logger.exception("unexpected error on %s %s", request.method, request.path, exc_info=exc)
    return problem(500, detail="an unexpected error; it has been logged. Nothing was written.")


def is_api_request() -> bool:
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


# --- the Api, its document and blueprints ------------------------------------------------------


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, with the fields at fault."""

    type = ma.fields.String(required=True, metadata={"example": "urn:practice-ledger:problem:validation"})
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True)
    errors = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()), required=True)


class ApiDocPlugin(BasePlugin):
    """Declares the ``Idempotency-Key`` header on every POST of the document."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        for method, operation in (operations or {}).items():
            if method.upper() in UNSAFE_METHODS:
                operation.setdefault("parameters", []).append({
                    "in": "header", "name": IDEMPOTENCY_HEADER, "required": False,
                    "description": "a repeat with the same key and body returns the first response; "
                                   "the same key with another body is a 409",
                    "schema": {"type": "string", "minLength": 1, "maxLength": idempotency.MAX_KEY_LENGTH,
                               "pattern": r"^[\x21-\x7e]+$"},
                })


class LedgerApi(Api):
    """flask-smorest's Api, answering problem+json (documented as such) instead of its own errors."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self):
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_MIMETYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "an error, as problem+json", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_MIMETYPE)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)

    def _register_error_handlers(self):
        super()._register_error_handlers()
        self._app.register_error_handler(LedgerError, self.handle_ledger_error)
        self._app.register_error_handler(Exception, self.handle_unexpected)

    def handle_http_exception(self, error):
        if not is_api_request() or (error.code or 500) < 400:
            return error  # Flask's own answer (the web app's pages, redirects)
        return api_error_response(error)

    def handle_ledger_error(self, error: LedgerError):
        if not is_api_request():
            raise error
        _rollback()
        return ledger_error_response(error)

    def handle_unexpected(self, error: Exception):
        if not is_api_request():
            raise error
        _rollback()
        return server_error_response(error)


class CodeConverter(BaseConverter):
    """``<code:name>``: a code ``[a-z0-9-]{2,32}``."""

    regex = r"[a-z0-9-]{2,32}"


class RefConverter(BaseConverter):
    """``<ref:name>``: an engagement reference."""

    regex = REF_RE.removeprefix("^").removesuffix("$")


def make_api(app) -> LedgerApi:
    """The app's Api: converters, the bearer scheme, the document at ``/api/v1/openapi.json``."""
    app.url_map.converters["code"] = CodeConverter
    app.url_map.converters["ref"] = RefConverter
    api = LedgerApi(spec_kwargs={"extra_plugins": [ApiDocPlugin()]})
    api.init_app(app)
    api.register_converter(CodeConverter, lambda c: {"type": "string", "pattern": "^[a-z0-9-]{2,32}$"})
    api.register_converter(RefConverter, lambda c: {"type": "string", "pattern": REF_RE})
    api.spec.components.security_scheme(SECURITY_SCHEME, {"type": "http", "scheme": "bearer",
                                                          "description": "a token from `ledger token create`"})
    return api


def blueprint(name: str, import_name: str, description: str = "") -> Blueprint:
    """A smorest Blueprint whose routes live under ``/api/v1``."""
    return Blueprint(name, import_name, url_prefix=API_PREFIX, description=description)


# --- access, bodies, idempotency, the transaction ----------------------------------------------


def _rollback() -> None:
    if "db_session" in g:
        g.db_session.rollback()


def _with_doc(wrapper: Callable, **doc: Any) -> None:
    wrapper._apidoc = deepcopy(getattr(wrapper, "_apidoc", {}))
    wrapper._apidoc["manual_doc"] = deepupdate(deepcopy(wrapper._apidoc.get("manual_doc", {})), doc)


def authenticate(session) -> User:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("send `Authorization: Bearer TOKEN` (make one with `ledger token create EMAIL`)")
    user = user_for_token(session, token) if len(token) <= 200 else None
    if user is None:
        raise Unauthenticated("the token is unknown or revoked")
    return user


def _allowed(roles: Iterable[str]) -> frozenset[str]:
    roles = tuple(roles)
    unknown = set(roles) - {*ROLES, "any"}
    if unknown or not roles:
        raise ValueError(f"requires() takes roles among {ROLES} or 'any', not {roles!r}")
    if "any" in roles:
        return frozenset(ROLES)
    if "treasurer" in roles:
        roles += ("admin",)
    return frozenset(roles)


def require_self_or(partner_code: str, *roles: str) -> None:
    """Inside a view: the caller is the partner ``partner_code`` (a ``partner`` user linked to it),
    or has one of ``roles`` (``"treasurer"`` admits admins); else 403."""
    user: User = g.user
    if user.role in _allowed(roles):
        return
    if user.role == "partner" and user.partner is not None and user.partner.code == partner_code:
        return
    raise Forbidden(f"only {partner_code} or a {'/'.join(roles)} may do this")


def _json_body() -> Any:
    """The request body as JSON (``None`` when empty); 415/422/413 otherwise."""
    raw = request.get_data(cache=True)  # raises 413 when over MAX_CONTENT_LENGTH
    if not raw.strip():
        return None
    if not request.is_json:
        raise UnsupportedMediaType(
            f"send the body as application/json, not {request.mimetype or 'an untyped body'}",
            {"Content-Type": ["must be application/json"]})

    def no_constants(name):
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(raw.decode("utf-8"), parse_constant=no_constants)
    except (ValueError, RecursionError) as exc:
        raise ValidationError(f"the body is not valid JSON: {str(exc)[:200]}", {"body": ["not valid JSON"]}) from exc


def _idempotency_key() -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not _KEY_RE.match(key):
        raise ValidationError(
            f"{IDEMPOTENCY_HEADER} must be 1-{idempotency.MAX_KEY_LENGTH} visible ASCII characters",
            {IDEMPOTENCY_HEADER: ["1-200 visible ASCII characters"]})
    return key


def _replay(stored: idempotency.StoredResponse, request_hash: str):
    if stored.fingerprint != request_hash:
        raise Conflict(f"this {IDEMPOTENCY_HEADER} was already used with another request",
                       {IDEMPOTENCY_HEADER: ["already used with another request"]})
    response = current_app.response_class(stored.body, status=stored.status, mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _guarded(view: Callable, args, kwargs, roles: frozenset[str] | None):
    session = get_session()
    key = request_hash = None
    user = None
    try:
        if roles is not None:
            user = authenticate(session)
            if user.role not in roles:
                raise Forbidden(f"a {user.role} may not do this; it takes: {', '.join(sorted(roles))}")
            g.user = user
        if request.method in UNSAFE_METHODS:
            body = _json_body()
            key = _idempotency_key() if user is not None else None
            if key is not None:
                path = request.path + (f"?{request.query_string.decode('latin-1')}" if request.query_string else "")
                request_hash = idempotency.fingerprint(request.method, path, body)
                stored = idempotency.find(session, user.id, key)
                if stored is not None:
                    session.rollback()
                    return _replay(stored, request_hash)
        response = current_app.make_response(view(*args, **kwargs))
        if response.status_code >= 400:
            session.rollback()
            return response
        if key is not None:
            idempotency.remember(session, user.id, key, request_hash, response.status_code,
                                 response.get_data(as_text=True))
        session.commit()
        return response
    except IntegrityError:
        # A concurrent request wrote the same thing first (a code, an account, this very key).
        session.rollback()
        if key is not None:
            stored = idempotency.find(session, user.id, key)
            session.rollback()
            if stored is not None:
                try:
                    return _replay(stored, request_hash)
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


def requires(*roles: str) -> Callable[[Callable], Callable]:
    """Guard a view: see the module docstring. Put it right under ``@bp.route``."""
    allowed = _allowed(roles)

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            return _guarded(view, args, kwargs, allowed)

        wrapper.access = tuple(roles)
        wrapper.allowed_roles = allowed
        _with_doc(wrapper, security=[{SECURITY_SCHEME: []}])
        return wrapper

    return decorator


def public(view: Callable) -> Callable:
    """Mark a view that needs no token (it still answers errors as problem+json)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        return _guarded(view, args, kwargs, None)

    wrapper.access = ()
    wrapper.allowed_roles = frozenset()
    _with_doc(wrapper, security=[])
    return wrapper
