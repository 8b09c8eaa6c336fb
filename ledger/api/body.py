"""A request's body and its ``Idempotency-Key``.

- ``json_body`` refuses a body that is not JSON: ``415`` for another media type, ``422`` for
  malformed JSON (``NaN`` and ``Infinity`` included), ``400`` for an object with the same key
  twice at any depth (CONTRACT §7: never "the last one wins"), ``413`` when over
  ``MAX_CONTENT_LENGTH``.
- ``idempotency_key`` reads the header (1-200 visible ASCII characters); ``replay`` answers a
  repeat with the first response, or ``409`` when the key came with another request
  (``idempotency.py`` stores them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from flask import current_app, request

from ledger.api import idempotency
from ledger.core.errors import Conflict, LedgerError, ValidationError
from ledger.journal.group import wait_for_flush

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
IDEMPOTENCY_HEADER = "Idempotency-Key"
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,%d}$" % idempotency.MAX_KEY_LENGTH)  # noqa: UP031 - braces are the regex's


class UnsupportedMediaType(LedgerError):
    """A request body that is not ``application/json``."""

    status = 415
    title = "Unsupported media type"


class DuplicateKey(LedgerError):
    """A JSON object that names the same key twice: which one was meant is unknowable (400)."""

    status = 400
    title = "Bad request"


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads``' ``object_pairs_hook``: the object, or ``DuplicateKey`` for a repeated key."""
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise DuplicateKey(f"the body names the key {key[:100]!r} twice in one object",
                               {"body": [f"duplicate key {key[:100]!r}"]})
        obj[key] = value
    return obj


def json_body() -> Any:
    """The request body as JSON (``None`` when empty); 415/422/413 otherwise."""
    raw = request.get_data(cache=True)  # raises 413 when over MAX_CONTENT_LENGTH
    if not raw.strip():
        return None
    if not request.is_json:
        raise UnsupportedMediaType(
            f"send the body as application/json, not {request.mimetype or 'an untyped body'}",
            {"Content-Type": ["must be application/json"]})
    return parse_json(raw)


def _no_constants(name):
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> Any:
    """``raw`` as JSON, strictly: 422 for malformed JSON (``NaN`` and ``Infinity`` included), 400 for
    an object with the same key twice (``json_body``'s rules, for a body read without Flask too)."""
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constants, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as exc:
        raise ValidationError(f"the body is not valid JSON: {str(exc)[:200]}", {"body": ["not valid JSON"]}) from exc


def plausible_key(key: str | None) -> str | None:
    """``key`` if it is a well-formed ``Idempotency-Key`` (worth looking up), else ``None``."""
    return key if key is not None and _KEY_RE.match(key) else None


def idempotency_key() -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not _KEY_RE.match(key):
        raise ValidationError(
            f"{IDEMPOTENCY_HEADER} must be 1-{idempotency.MAX_KEY_LENGTH} visible ASCII characters",
            {IDEMPOTENCY_HEADER: ["1-200 visible ASCII characters"]})
    return key


def replay(stored: idempotency.StoredResponse, request_hash: str, answer: Callable[[int], str] | None = None):
    """The first response to this key (``answer`` rebuilds it from the entry a record names), or a
    409 when the key came with another request."""
    if stored.fingerprint != request_hash:
        raise Conflict(f"this {IDEMPOTENCY_HEADER} was already used with another request",
                       {IDEMPOTENCY_HEADER: ["already used with another request"]})
    # What the first request wrote may be committed and not yet on disk (an entry's commit lets go
    # of the chain before its flush): the replay tells of it only once it is.
    wait_for_flush(current_app.extensions["ledger.engine"])
    # A record names its entry only when written by a view that rebuilds from it (``Claim``), and
    # the same fingerprint means the same method and path: that view's ``answer``.
    body = stored.body if stored.body is not None else answer(stored.entry_id)
    response = current_app.response_class(body, status=stored.status, mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    return response
