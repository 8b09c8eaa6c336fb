"""The JSON API under ``/api/v1`` (CONTRACT §3), built with flask-smorest.

``init_app`` makes the Api (its OpenAPI 3 document is served at ``/api/v1/openapi.json``, generated
from the marshmallow schemas) and registers every module of ``BLUEPRINTS``: each exports ``bp``.
The shared machinery: who is calling (``auth.py``), the body and its ``Idempotency-Key``
(``body.py``, ``idempotency.py``), the guard each view runs in — one transaction, errors as
problem+json (``transaction.py``) — and the Api with its document (``openapi.py``). The field
types (money, dates, codes) are ``ledger.schema``'s.
"""

from __future__ import annotations

from importlib import import_module

from flask import Flask

from ledger.api import direct
from ledger.api.openapi import make_api

#: The modules whose ``bp`` is registered, in order. Add yours here.
BLUEPRINTS = [
    "ledger.api.directory",
    "ledger.api.bookings",
    "ledger.api.journal",
    "ledger.api.periods",
    "ledger.api.proposals",
    "ledger.api.equity",
    "ledger.api.reports",
    "ledger.api.notifications",
]


def init_app(app: Flask) -> None:
    api = make_api(app)
    for name in BLUEPRINTS:
        api.register_blueprint(import_module(name).bp)
    api.complete()  # the document is built when first read (``openapi.LedgerApi``)
    app.extensions["ledger.api"] = api
    direct.init_app(app)  # a posted entry's plain request, in front of Flask (PostgreSQL)
