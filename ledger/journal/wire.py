"""Statements sent through libpq itself (PostgreSQL): the append path's calls, one a writer's entry.

psycopg's cursor costs about 30 µs of Python a call on this project's machines (adapting each
parameter, its prepared-statement cache, building the result), two to three times libpq's own
cost for the same round trip. The group appender's writer and the API's direct path make one
call an entry, so a ``Statement`` sends its call with libpq's ``PQexecPrepared``: prepared once a
connection under a name drawn from its text, every parameter sent as text (the statement casts
each one: ``%s::date[]``), the answer's columns read as text, both in UTF-8 (the connection's
client encoding: ``group.driver_connection`` sets it). Errors are psycopg's, from the result
(``errors.error_from_result``; a lost connection ``OperationalError``): a caller catches what it
caught from ``execute``.

libpq's call blocks in C, with the GIL released: a signal is handled once the answer is in.
Only for autocommit connections that nothing else holds (``group.driver_connection``).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import weakref
from collections.abc import Sequence

import psycopg
from psycopg import errors, pq

from ledger.journal import append
from ledger.journal.append import array_literal

_OK = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK)
_GONE = "26000"  # invalid_sql_statement_name: the name was dropped (DISCARD ALL by a pooler)

# The statements each connection has prepared, by name.
_prepared: weakref.WeakKeyDictionary[psycopg.Connection, set[bytes]] = weakref.WeakKeyDictionary()


def text(value) -> bytes | None:
    """``value`` as a text parameter: ``None`` is NULL, a string as it is, a list as its
    ``array_literal``, a date or a time in ISO 8601 (a time with its offset), a bool as PostgreSQL
    writes one, anything else as ``str``."""
    if value is None:
        return None
    if type(value) is str:
        return value.encode()
    if type(value) is list:
        return array_literal(value).encode()
    if type(value) is bool:
        return b"t" if value else b"f"
    if isinstance(value, dt.date):  # a datetime too
        return value.isoformat().encode()
    return str(value).encode()


class Statement:
    """``sql`` with ``%s`` marks (no other ``%``), prepared on each connection on first use."""

    __slots__ = ("name", "sql")

    def __init__(self, sql: str):
        if sql.replace("%s", "").count("%"):
            raise ValueError("a statement sent through libpq takes %s marks only")
        parts = sql.split("%s")
        self.sql = "".join(f"{p}${n}" for n, p in enumerate(parts[:-1], 1)).encode() + parts[-1].encode()
        self.name = b"ledger_" + hashlib.sha256(self.sql).hexdigest()[:24].encode()

    def rows(self, conn: psycopg.Connection, params: Sequence) -> list[tuple[bytes | None, ...]]:
        """The answer's rows, each column its text (``None`` for NULL), for ``params``."""
        pg = conn.pgconn
        values = [text(v) for v in params]
        self._prepared_on(conn)
        result = pg.exec_prepared(self.name, values)
        if result.status not in _OK and result.error_field(pq.DiagnosticField.SQLSTATE) == _GONE.encode():
            self._prepare(conn)  # prepared before, dropped since: once more
            result = pg.exec_prepared(self.name, values)
        _check(conn, result)
        return _rows(result)

    def send(self, conn: psycopg.Connection, params: Sequence) -> None:
        """Send the call without waiting for its answer (``answer`` reads it): the caller works
        while the server does. A parameter with no text raises before anything is sent."""
        values = [text(v) for v in params]
        self._prepared_on(conn)
        conn.pgconn.send_query_prepared(self.name, values)

    def one(self, conn: psycopg.Connection, params: Sequence) -> tuple[bytes | None, ...] | None:
        """The answer's one row, or ``None`` when it has none."""
        rows = self.rows(conn, params)
        return rows[0] if rows else None

    def _prepared_on(self, conn: psycopg.Connection) -> None:
        names = _prepared.get(conn)
        if names is None:
            names = _prepared[conn] = set()
        if self.name not in names:
            self._prepare(conn)
            names.add(self.name)

    def _prepare(self, conn: psycopg.Connection) -> None:
        _check(conn, conn.pgconn.prepare(self.name, self.sql))


def answer(conn: psycopg.Connection) -> tuple[bytes | None, ...] | None:
    """The first row of the answer to the call ``Statement.send`` sent on ``conn`` (``None`` when it
    has none), waiting for it unless ``conn.pgconn.is_busy()`` is false; its error raised as
    ``Statement.rows`` raises it."""
    pg = conn.pgconn
    result = None
    while (last := pg.get_result()) is not None:  # the call's result, then the end of its results
        if result is None:
            result = last
    if result is None:
        raise psycopg.OperationalError("the connection was lost before the answer")
    _check(conn, result)
    rows = _rows(result)
    return rows[0] if rows else None


def _rows(result: pq.abc.PGresult) -> list[tuple[bytes | None, ...]]:
    """A result's rows, each column its text (``None`` for NULL)."""
    return [tuple(result.get_value(r, c) for c in range(result.nfields)) for r in range(result.ntuples)]


@functools.lru_cache(maxsize=64)
def statement(sql: str) -> Statement:
    """The ``Statement`` of ``sql``, made once a process (a caller that builds its text each call)."""
    return Statement(sql)


#: A flush past every commit before it (``append.FLUSHED``): what every answer that says "on disk"
#: waits for — the direct path's, the group writer's on a key another call wrote, the dedicated
#: appender's, an API replay's (one object: a test holds it on a lock to watch an answer wait).
FLUSHED = statement(append.FLUSHED)


def _check(conn: psycopg.Connection, result: pq.abc.PGresult) -> None:
    """Raise what psycopg's cursor would have: a lost connection as ``OperationalError``, anything
    else as the class of its SQLSTATE."""
    if result.status not in _OK:
        if conn.pgconn.status == pq.ConnStatus.BAD:
            raise psycopg.OperationalError(result.get_error_message(conn.info.encoding) or "the connection was lost")
        raise errors.error_from_result(result, encoding=conn.info.encoding)


def as_str(value: bytes | None) -> str | None:
    return None if value is None else value.decode()


def as_int(value: bytes | None) -> int | None:
    return None if value is None else int(value)


def as_words(value: bytes | None) -> list[str] | None:
    """A text array whose elements need no quoting (hex digests): ``{a,b}`` as ``["a", "b"]``."""
    if value is None:
        return None
    inner = value[1:-1].decode()
    return inner.split(",") if inner else []
