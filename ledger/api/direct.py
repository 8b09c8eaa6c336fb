"""``POST /api/v1/ledger/entries`` answered without Flask's request machinery or an ORM session,
for the plain request (PostgreSQL): the API client's hot path.

Measured (``bench/http_floor.py``, docs/performance.md's seventeenth and eighteenth passes): of the
worker's CPU for this request, Flask, flask-smorest, webargs and the guard took a third and the ORM
session's and SQLAlchemy Core's per-request machinery another third; the same rules without them
reach the issue's 1,000 entries/s on two cores. So this WSGI layer sits in front of the app and
takes a request only when it is the plain case:

- ``POST`` to exactly this path, no query string, the app not in debug mode;
- ``Content-Type: application/json``, a ``Content-Length`` within ``MAX_CONTENT_LENGTH``;
- ``Authorization: Bearer`` a token, and a well-formed ``Idempotency-Key``;
- a body the guard's strict parser accepts (``body.parse_json``) and an entry ``EntryIn`` loads and
  the journal's cached facts accept (``service.post_direct``: ``_validate``, the period check and
  the call's arguments);
- a token of a treasurer or an admin and a key not used before (``auth.CALLER_WITH_NEW_KEY``: the
  guard's checks as one query), checked in the append's own statement ahead of the call, the key's
  record written in it too: one round trip checks and writes, or writes nothing. Its commit lets
  go of the chain before the WAL flush, and a second statement waits for the flush before the
  answer (``post_direct``).

Every other request — and every request this layer gives up on before the append committed (a
refusal, a caller or key the statement's checks did not find, a key taken in a race, a connection
lost, anything it did not expect) — goes to Flask with its body as it came, and is answered there
exactly as before. Nothing was written when it gives up, so the Flask path's answer is the answer
(a replay, if a racing request took the key).
The rules are not copied here: each is the function the Flask path calls. The answer is built by
``journal.entry_out`` and written as ``jsonify`` writes it, with the headers ``after_request``
adds (``runtime.http.security_headers``); a replay through Flask gives the same bytes.

Off with ``API_DIRECT_ENTRIES`` false (the environment's ``API_DIRECT_ENTRIES=0``): every request
then goes to Flask.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable

import psycopg
from flask import Flask
from marshmallow import ValidationError as SchemaError
from werkzeug.http import parse_options_header

from ledger.api import idempotency
from ledger.api.auth import CALLER_WITH_NEW_KEY, allowed_roles
from ledger.api.body import IDEMPOTENCY_HEADER, parse_json, plausible_key
from ledger.api.journal import EntryIn, EntryOut, entry_out
from ledger.auth.service import hash_token
from ledger.core.entries import Leg
from ledger.core.errors import LedgerError
from ledger.journal.append import Given
from ledger.journal.facts import engine_facts
from ledger.journal.group import driver_connection
from ledger.journal.service import EntrySpec, post_direct
from ledger.read import entries as reads
from ledger.runtime.http import API_PREFIX, security_headers

PATH = API_PREFIX + "/ledger/entries"
#: The roles ``create_entry`` admits (``requires("treasurer")``).
ROLES = sorted(allowed_roles(("treasurer",)))
_KEY_ENVIRON = "HTTP_" + IDEMPOTENCY_HEADER.upper().replace("-", "_")
#: Flask's on every answer of the app: flask-login's ``after_request`` reads the session cookie's
#: "remember" mark, and a session read makes Flask add it (the test compares the headers).
VARY = ("Vary", "Cookie")

log = logging.getLogger(__name__)


class DirectEntries:
    """The WSGI layer (see the module docstring) around ``app``'s own ``wsgi_app``."""

    def __init__(self, app: Flask):
        self.app, self.next = app, app.wsgi_app
        self.engine = app.extensions["ledger.engine"]
        self.clock = app.extensions["ledger.sessionmaker"].kw["info"]["clock"]
        # The caller's checks, compiled once with ``%s`` marks: they go ahead of the append's own.
        compiled = CALLER_WITH_NEW_KEY.compile(dialect=type(self.engine.dialect)(paramstyle="format"))
        if compiled.positiontup != ["token_hash", "roles", "key"]:
            raise RuntimeError(f"the caller's query binds {compiled.positiontup}, not its token, roles and key")
        self.caller_sql = str(compiled)
        self.entry_in, self.entry_out = EntryIn(), EntryOut()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if (environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST"
                or environ.get("QUERY_STRING") or self.app.debug or not self.app.config["API_DIRECT_ENTRIES"]):
            return self.next(environ, start_response)
        raw = self._body(environ)
        if raw is not None:
            try:
                answer = self._answer(environ, raw)
            except psycopg.Error:  # a key taken in a race, a sum past the column, a lost connection
                answer = None
            except Exception:  # unexpected: nothing was written; Flask answers as it always did
                log.exception("the direct path gave up on a posted entry; the app answers it")
                answer = None
            if answer is not None:
                start_response("201 CREATED", [("Content-Type", "application/json"),
                                               ("Content-Length", str(len(answer))),
                                               *security_headers(self.app.config), VARY])
                return [answer]
            environ["wsgi.input"] = io.BytesIO(raw)  # Flask reads the body as it came
        return self.next(environ, start_response)

    def _body(self, environ: dict) -> bytes | None:
        """The body, read, when the headers make a plain request; ``None`` (nothing read) else."""
        if parse_options_header(environ.get("CONTENT_TYPE", ""))[0] != "application/json":
            return None
        length = environ.get("CONTENT_LENGTH", "")
        limit = self.app.config.get("MAX_CONTENT_LENGTH")
        if not length.isdigit() or not 0 < int(length) <= (limit or int(length)):
            return None
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not 0 < len(token.strip()) <= 200:
            return None
        if plausible_key(environ.get(_KEY_ENVIRON)) is None:
            return None
        return environ["wsgi.input"].read(int(length))

    def _answer(self, environ: dict, raw: bytes) -> bytes | None:
        """The 201's body once the entry is committed; ``None`` when the request is not the plain
        case after all (nothing written)."""
        if len(raw) != int(environ["CONTENT_LENGTH"]):  # cut short: the app says what that is
            return None
        try:
            payload = parse_json(raw)
        except LedgerError:
            return None
        if not isinstance(payload, dict):
            return None
        facts = engine_facts(self.engine)
        if facts.currency is None:
            return None
        try:
            data = self.entry_in.load(payload)
        except SchemaError:
            return None
        legs = [Leg(p["account"], p["amount"], p["commodity"] or facts.currency) for p in data["postings"]]
        spec = EntrySpec(data["date"], data["memo"], legs, "manual")
        token = environ["HTTP_AUTHORIZATION"].partition(" ")[2].strip()
        key = environ[_KEY_ENVIRON]
        # The guard's checks (a live token of a treasurer or an admin, a key not used before) go in
        # the append's statement, ahead of the call: one round trip checks and writes, or writes nothing.
        caller = Given(self.caller_sql, (hash_token(token), ROLES, key))
        record = idempotency.record_under(caller, key, idempotency.fingerprint("POST", PATH, payload),
                                          self.clock.now(), 201)
        with driver_connection(self.engine) as conn:
            try:
                posted = post_direct(conn, facts, self.clock, spec, record)
            except LedgerError:
                return None
        if posted is None:
            return None
        body = self.entry_out.dump(entry_out(reads.posted_view(posted, legs)))
        return (self.app.json.dumps(body, separators=(",", ":")) + "\n").encode()  # as ``jsonify`` writes it


def init_app(app: Flask) -> None:
    """Put the direct path in front of ``app`` (PostgreSQL only; SQLite has one writer a database
    and keeps the one path)."""
    if app.extensions["ledger.engine"].dialect.name == "postgresql":
        app.wsgi_app = DirectEntries(app)
