"""The server-rendered web app partners and the treasurer use every day.

Design
- Views are thin: they read a form, call the same services the API calls (``ledger.practices``,
  ``ledger.revenue``, ``ledger.equity``, ``ledger.governance``, ``ledger.journal``), commit when the
  service succeeded, and turn a ``LedgerError`` into errors beside the form's fields
  (``forms.save``). No business rule lives in a view or a template.
- One blueprint per area: ``auth`` (sign-in), ``partner`` (dashboard, statements, vesting, the
  directory), ``proposals``, ``bookings`` (the treasurer's forms), ``books`` (periods and the ledger
  browser). Each request uses ``ledger.runtime.database.get_session()``; teardown rolls back whatever a
  view did not commit.
- Security (``security.py``): Flask-Login sessions, CSRF on every form (Flask-WTF, checked before
  any web view runs; the JSON API under ``/api/v1`` uses bearer tokens instead), strict security
  headers (a CSP that allows only this origin), and a limit on failed sign-ins.
- Templates are in the top-level ``templates/``; static files (CSS, the chart glue, vendored
  Chart.js with its licence) in ``ledger/web/static``.
"""

from __future__ import annotations

from flask import Blueprint, Flask
from jinja2 import BytecodeCache

from ledger.web import (
    access,
    auth,
    bookings,
    books,
    economics,
    errors,
    filters,
    notifications,
    partner,
    proposals,
    security,
)


class SharedBytecodeCache(BytecodeCache):
    """Compiled templates kept in memory for every app of this process (the tests make one app per
    test). Jinja checks each entry against its template's source, so an edited template recompiles."""

    def __init__(self) -> None:
        self._store: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        data = self._store.get(bucket.key)
        if data is not None:
            bucket.bytecode_from_string(data)

    def dump_bytecode(self, bucket) -> None:
        self._store[bucket.key] = bucket.bytecode_to_string()


_bytecode_cache = SharedBytecodeCache()


def init_app(app: Flask) -> None:
    # Before anything touches app.jinja_env, which is made once from these options.
    app.jinja_options = {**app.jinja_options, "bytecode_cache": _bytecode_cache}
    security.init_app(app)
    access.init_app(app)
    filters.init_app(app)
    # The web app's static files at /assets (the app's own /static route points at a folder that
    # does not exist, and would shadow a blueprint's /static).
    app.register_blueprint(Blueprint("assets", __name__, static_folder="static", static_url_path="/assets"))

    for module in (auth, partner, proposals, bookings, books, economics):
        app.register_blueprint(module.bp)
    notifications.init_app(app)
    errors.init_app(app)
