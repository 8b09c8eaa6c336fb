"""What the API and the web app share about HTTP: where the API lives, and errors as
``application/problem+json`` (RFC 9457) — ``{"type", "title", "status", "detail", "errors":
{field: [message]}}``.

The web app's app-wide error handlers answer with these for a path under ``/api/v1``
(``is_api_request``), so an API client never gets an HTML page, whatever raised.
"""

from __future__ import annotations

import http
import json
from collections.abc import Mapping
from typing import Any

from flask import current_app, request
from werkzeug.exceptions import HTTPException

from ledger.core.errors import LedgerError

API_PREFIX = "/api/v1"
PROBLEM_MIMETYPE = "application/problem+json"

_TYPES = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
          405: "method-not-allowed", 409: "conflict", 413: "too-large", 415: "unsupported-media-type",
          422: "validation", 429: "too-many-requests", 500: "server-error"}


CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def security_headers(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The headers every response carries (the web app's ``after_request``, and the API's direct
    path for a posted entry, which answers without Flask: ``api.direct``)."""
    headers = list(HEADERS.items())
    if config.get("SESSION_COOKIE_SECURE"):
        headers.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    return headers


def is_api_request() -> bool:
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


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
