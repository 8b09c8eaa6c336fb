"""The API's flask-smorest ``Api``, its OpenAPI 3 document and its blueprints.

- ``make_api`` builds the Api (its document at ``/api/v1/openapi.json``, generated from the
  marshmallow schemas), the bearer scheme and the path converters.
- Errors are documented, and answered, as problem+json (``LedgerApi``; ``runtime.http``).
- The document is built when it is first read (``LedgerApi.spec``), not when the app is made:
  converting every blueprint's schemas took a third of ``create_app`` (a worker's start, a CLI
  command's, every test's app), and most apps never serve ``/openapi.json``.
- ``ApiDocPlugin`` declares the ``Idempotency-Key`` header on every POST.
- URL converters: ``<code:...>`` (``[a-z0-9-]{2,32}``), ``<ref:...>`` (engagement refs) and
  ``<period:...>`` (``2026-01``, ``2026-Q1``); ids use
  ``f"<{INT_ID}:proposal_id>"`` for an ``Integer`` key (PostgreSQL's ``integer`` stops at 2³¹−1) and
  ``BIG_ID`` for a ``BigInteger`` one (entries). A value of the wrong shape or out of range is a
  404 before any view runs, and never reaches the database.
"""

from __future__ import annotations

import http
import threading
from collections.abc import Callable
from typing import Any

import marshmallow as ma
from apispec import BasePlugin
from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint
from flask_smorest.utils import prepare_response
from werkzeug.routing import BaseConverter

from ledger.api.body import IDEMPOTENCY_HEADER, UNSAFE_METHODS
from ledger.api.idempotency import MAX_KEY_LENGTH
from ledger.api.transaction import rollback
from ledger.core.codes import CODE_RE, PERIOD_RE, REF_RE
from ledger.core.errors import LedgerError
from ledger.runtime.http import (
    API_PREFIX,
    PROBLEM_MIMETYPE,
    api_error_response,
    is_api_request,
    ledger_error_response,
    server_error_response,
)

SECURITY_SCHEME = "bearerAuth"
#: Path converters for ids: ``Integer`` primary keys, and ``BigInteger`` ones (entry ids).
INT_ID = "int(min=1, max=2147483647)"
BIG_ID = "int(min=1, max=9223372036854775807)"


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
                    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH,
                               "pattern": r"^[\x21-\x7e]+$"},
                })


class LedgerApi(Api):
    """flask-smorest's Api, answering problem+json (documented as such) instead of its own errors,
    and documenting its blueprints and error responses when its document is first read: until
    ``complete()`` (the app made), ``spec`` is the document as it stands; after it, reading
    ``spec`` first does the documenting that registration put off, in registration order, so the
    document is the one flask-smorest would have built at once (a test compares them). ``LAZY``
    off documents at once, as flask-smorest does."""

    ERROR_SCHEMA = ProblemSchema
    LAZY = True

    def __init__(self, *args, **kwargs):
        self._undocumented: list[Callable[[], None]] = []
        self._complete = self._documented = self._documenting = False
        self._lock = threading.RLock()
        super().__init__(*args, **kwargs)

    @property
    def spec(self):
        if self._complete and not self._documented:
            with self._lock:  # one thread documents; another waits for the whole document
                if not (self._documented or self._documenting):  # (documenting reads spec too)
                    self._documenting = True
                    for document in self._undocumented:
                        document()
                    self._undocumented.clear()
                    self._documented = True
        return self._spec

    @spec.setter
    def spec(self, value):
        self._spec = value

    def complete(self) -> None:
        """Every blueprint registered: reading ``spec`` from now on documents what was put off."""
        self._complete = True

    def register_blueprint(self, blp, *, parameters=None, **options):
        """Register ``blp`` with the app now and document its views when the document is read
        (flask-smorest's ``register_blueprint``, its two halves apart)."""
        if not self.LAZY:
            return super().register_blueprint(blp, parameters=parameters, **options)
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)

        def document() -> None:
            blp.register_views_in_doc(self, self._app, self._spec, name=name, parameters=parameters)
            self._spec.tag({"name": name, "description": blp.description})

        self._undocumented.append(document)
        return None

    def _register_responses(self):
        if self.LAZY:
            self._undocumented.append(self._document_responses)
        else:
            self._document_responses()

    def _document_responses(self):
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
        rollback()
        return ledger_error_response(error)

    def handle_unexpected(self, error: Exception):
        if not is_api_request():
            raise error
        rollback()
        return server_error_response(error)


class CodeConverter(BaseConverter):
    """``<code:name>``: a code ``[a-z0-9-]{2,32}``."""

    regex = CODE_RE.removeprefix("^").removesuffix("$")


class RefConverter(BaseConverter):
    """``<ref:name>``: an engagement reference."""

    regex = REF_RE.removeprefix("^").removesuffix("$")


class PeriodConverter(BaseConverter):
    """``<period:name>``: a period id of either kind (whether the partnership has it is the
    journal's to say: 404 for ``0000-01`` as for ``2026-13``)."""

    regex = PERIOD_RE.removeprefix("^").removesuffix("$")


def make_api(app) -> LedgerApi:
    """The app's Api: converters, the bearer scheme, the document at ``/api/v1/openapi.json``."""
    app.url_map.converters["code"] = CodeConverter
    app.url_map.converters["ref"] = RefConverter
    app.url_map.converters["period"] = PeriodConverter
    api = LedgerApi(spec_kwargs={"extra_plugins": [ApiDocPlugin()]})
    api.init_app(app)
    api.register_converter(CodeConverter, lambda c: {"type": "string", "pattern": CODE_RE})
    api.register_converter(RefConverter, lambda c: {"type": "string", "pattern": REF_RE})
    api.register_converter(PeriodConverter, lambda c: {"type": "string", "pattern": PERIOD_RE})
    api.spec.components.security_scheme(SECURITY_SCHEME, {"type": "http", "scheme": "bearer",
                                                          "description": "a token from `ledger token create`"})
    return api


class Blueprint(SmorestBlueprint):
    """smorest's Blueprint, whose ``arguments`` schemas are instantiated once, when the view is
    declared: given a class, webargs builds a new instance on every request (fields deep-copied,
    nested schemas bound), a tenth of a light request's time. Loading keeps no state on the
    instance, so one serves every request and thread."""

    def arguments(self, schema, *args, **kwargs):
        return super().arguments(schema() if isinstance(schema, type) else schema, *args, **kwargs)


def blueprint(name: str, import_name: str, description: str = "") -> Blueprint:
    """A smorest Blueprint whose routes live under ``/api/v1``."""
    return Blueprint(name, import_name, url_prefix=API_PREFIX, description=description)
