"""Error pages: a 403, 404, 409… is a page in the app's own layout, never a traceback.

App-wide handlers take precedence over the API's for every path, so each answers problem+json
(``ledger.runtime.http.api_error_response``) when the request is under ``/api/v1``. A ``LedgerError``
that a web view did not catch (an unknown partner in a URL, a period not closed yet) becomes the
page for its status; the session is rolled back first, so nothing half-done is committed.
"""

from __future__ import annotations

from flask import Blueprint, Flask, g, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from ledger.core.errors import LedgerError
from ledger.runtime.http import api_error_response, is_api_request

TITLES = {
    400: "That request was not understood",
    403: "You may not open this page",
    404: "Nothing here",
    405: "That is not how this page is used",
    409: "That cannot be done now",
    413: "That is too large",
    422: "That was not accepted",
    429: "Too many attempts",
    500: "Something went wrong",
}

DETAILS = {
    403: "This page belongs to someone else's role or account.",
    404: "There is no such page, partner, period, proposal or entry.",
    500: "An unexpected error; it has been logged and nothing was written.",
}


def _rollback() -> None:
    if "db_session" in g:
        g.db_session.rollback()


def error_page(status: int, detail: str | None = None):
    return render_template("error.html", status=status, title=TITLES.get(status, "Error"),
                           detail=detail or DETAILS.get(status, "")), status


def _http_error(error: HTTPException):
    if is_api_request():
        return api_error_response(error)
    _rollback()
    status = error.code or 500
    # abort(403, "why") carries our own sentence; Werkzeug's stock descriptions are not shown.
    custom = error.description if error.description != type(error).description else None
    return error_page(status, custom)


def _csrf_error(error: CSRFError):
    if is_api_request():  # not reached: the API is not CSRF-checked
        return api_error_response(error)
    return error_page(400, "The form had expired or did not come from this site. Go back, reload the "
                           "page and send it again; nothing was written.")


def _server_error(error: InternalServerError):
    if is_api_request():
        return api_error_response(error)
    _rollback()
    return error_page(500)


def _ledger_error(exc: LedgerError):
    _rollback()
    status = exc.status if exc.status in TITLES else 400
    return error_page(status, exc.detail)


def web_blueprint(name: str, import_name: str, **kwargs) -> Blueprint:
    """A blueprint of the web app: it answers a stray ``LedgerError`` with the page for its status
    (a blueprint's handler is found before the API's app-wide one)."""
    bp = Blueprint(name, import_name, **kwargs)
    bp.register_error_handler(LedgerError, _ledger_error)
    return bp


def init_app(app: Flask) -> None:
    for status in (400, 403, 404, 405, 409, 413, 422, 429):
        app.register_error_handler(status, _http_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(500, _server_error)
