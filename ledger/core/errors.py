"""The product's exceptions. Services raise these; the API maps them to problem+json, the CLI to a
message and a non-zero exit, the web app to a form error. Each carries ``errors``: a mapping of the
field at fault (a JSON field, or a TOML path for a charter) to its messages.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every domain error. ``status`` is the HTTP status the API answers with."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, errors: dict[str, list[str]] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or {}


class ValidationError(LedgerError):
    """Input that breaks a rule: a bad amount, an unknown account, an unbalanced entry, a charter
    that does not add up. Nothing was written."""

    status = 422
    title = "Unprocessable input"


class NotFound(LedgerError):
    """An id or code that names nothing (a partner, an engagement, a period)."""

    status = 404
    title = "Not found"


class Conflict(LedgerError):
    """A request that collides with the ledger's state: a closed period, a period closed out of
    order, an entry reversed twice, an idempotency key reused with another body, a founded
    partnership founded again."""

    status = 409
    title = "Conflict"


class Forbidden(LedgerError):
    """The caller's role or identity does not allow this."""

    status = 403
    title = "Forbidden"


class IntegrityBreach(LedgerError):
    """``verify`` found the stored ledger inconsistent: an unbalanced entry, a broken hash chain,
    a missing trigger, a balance that differs from its postings."""

    status = 500
    title = "Ledger integrity breach"
