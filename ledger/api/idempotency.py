"""Idempotency keys: a POST repeated with the same ``Idempotency-Key`` gets the first answer.

- ``fingerprint(method, path, body)`` is the SHA-256 of the method, the path with its query string
  and the body in canonical JSON (sorted keys, no spaces), so two bodies that differ only in key
  order or whitespace are the same request.
- A request's key is looked up with its token, in one query (``api.auth.authenticate``, which
  reads the record's columns as ``StoredResponse``); ``find`` looks it up again after a lost
  race (below); ``remember`` stores the key, the fingerprint and the response
  (status and body) in the caller's session. The caller adds it in the *same* transaction as the
  write it answers, so either both commit or neither does: a crash between them cannot leave a
  write without its record, or a record without its write.
- The unique constraint on ``(user_id, key)`` settles a race: of two concurrent requests with one
  key, the second to commit gets an ``IntegrityError``, rolls back everything it wrote, and
  answers from the record the first one left (or 409 if its body differs).
- A view that commits its own write may store the record in that same round trip instead
  (``Claim.with_entry``: ``POST /ledger/entries``). The response does not exist yet then, so the
  record names the entry it wrote and a replay rebuilds the answer from it (the view's
  ``requires(answer=…)``); an entry never changes, so that is the first answer, byte for byte.
- Only successes are stored: a request refused with a 4xx wrote nothing, so repeating it (perhaps
  after fixing the cause) runs it again.

Services never call this: the API layer (``ledger.api.transaction.requires``) does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ledger.auth.models import IdempotencyRecord
from ledger.db import clock_of
from ledger.journal.append import Column, Given, RowFor

MAX_KEY_LENGTH = 200


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The response a key got the first time, and the fingerprint of the request that got it: its
    body, or (``body`` None) the entry it wrote, to rebuild the body from (``Claim.with_entry``)."""

    fingerprint: str
    status: int
    body: str | None
    entry_id: int | None = None


@dataclass(slots=True)
class Claim:
    """A request's key not answered yet (``g.idempotency``, set by the guard). By default the guard
    stores the response with the commit. A view that commits its write itself may store the
    record in the same round trip instead (``with_entry``); the guard then only closes the session."""

    user_id: int
    key: str
    request_hash: str
    now: dt.datetime
    written: bool = False

    def with_entry(self, status: int) -> RowFor:
        """The record as a row naming the entry it answers, written with it (``also`` of
        ``journal.post_and_commit``). A replay rebuilds the answer from that entry
        (``requires(answer=…)``)."""
        self.written = True
        return RowFor(_INSERT_NAMING_ENTRY, (self.user_id, self.key, self.request_hash, status, self.now))


def record_under(caller: Given, key: str, request_hash: str, now: dt.datetime, status: int) -> RowFor:
    """The record of a request whose caller is not read yet: written with its entry, in the
    append's statement, under ``caller`` (``auth.CALLER_WITH_NEW_KEY``'s query), whose row's
    ``user_id`` is the record's user. No such row: no entry and no record (``api.direct``)."""
    return RowFor(_INSERT_NAMING_ENTRY, (Column("user_id"), key, request_hash, status, now), caller)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(method: str, path: str, body: Any) -> str:
    """SHA-256 (hex) of ``METHOD path\\n`` and the canonical body (``None`` for no body)."""
    text = f"{method.upper()} {path}\n" + ("" if body is None else canonical_json(body))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def find(session: Session, user_id: int, key: str) -> StoredResponse | None:
    row = session.execute(_FIND, {"user_id": user_id, "key": key}).first()
    return None if row is None else StoredResponse(*row)


#: Built once (every unsafe request with a key runs it); the four columns, no entity to load.
_FIND = (select(IdempotencyRecord.request_hash, IdempotencyRecord.status, IdempotencyRecord.body,
                IdempotencyRecord.entry_id)
         .where(IdempotencyRecord.user_id == sa.bindparam("user_id"), IdempotencyRecord.key == sa.bindparam("key")))


#: The record's INSERT, sent by the driver with its COMMIT (``remember_and_commit``).
_INSERT = ("INSERT INTO idempotency_record (user_id, key, request_hash, status, body, created_at) "
           "VALUES (%s, %s, %s, %s, %s, %s)")


#: ``Claim.with_entry``'s record: the entry's id last, filled by the journal.
_INSERT_NAMING_ENTRY = "INSERT INTO idempotency_record (user_id, key, request_hash, status, created_at, entry_id)"


def remember_and_commit(session: Session, user_id: int, key: str, request_hash: str, status: int,
                        body: str) -> None:
    """``remember``, then commit the request's transaction. On PostgreSQL the record's INSERT and
    the ``COMMIT`` travel in one message, one round trip: the write it answers (and the chain's
    lock, when it appended an entry) is released without waiting on this process again. A key a
    concurrent request stored first raises SQLAlchemy's ``IntegrityError`` (the transaction rolled
    back), as a flush would."""
    if session.get_bind().dialect.name != "postgresql":
        remember(session, user_id, key, request_hash, status, body)
        session.commit()
        return
    session.flush()
    conn = session.connection().connection.driver_connection
    params = (user_id, key, request_hash, status, body, clock_of(session).now())
    try:
        # One simple-protocol message, the values bound here: a failed INSERT skips the COMMIT
        # after it and leaves the transaction failed, for the caller's rollback. (A pipeline of a
        # prepared INSERT and the COMMIT saves the INSERT's planning, but when the key was stored
        # first psycopg logs the aborted pipeline at every such race.)
        with psycopg.ClientCursor(conn) as cursor:
            cursor.execute(_INSERT + "; COMMIT", params)
    except psycopg.Error as exc:  # as SQLAlchemy raises it: an IntegrityError for a key stored twice
        raise DBAPIError.instance(_INSERT, params, exc, psycopg.Error) from exc
    session.commit()  # the driver committed: this closes SQLAlchemy's side of the transaction


def remember(session: Session, user_id: int, key: str, request_hash: str, status: int, body: str) -> None:
    """Store the key with its response in the current transaction (flushed, so a concurrent
    duplicate fails here or at commit on the unique constraint)."""
    session.add(IdempotencyRecord(user_id=user_id, key=key, request_hash=request_hash, status=status,
                                  body=body, created_at=clock_of(session).now()))
    session.flush()
