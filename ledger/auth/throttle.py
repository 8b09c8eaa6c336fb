"""Failed sign-ins, counted in the database and answered with growing delays.

Counted where every worker sees the same count (one row per key, incremented in one atomic
``INSERT … ON CONFLICT DO UPDATE``), so the limit is the same with one gunicorn worker or ten, and
a restart forgets nothing. Two keys per attempt:

- ``account``: the email *and* the client address. After ``attempts`` failures the key is locked
  for ``delay`` seconds, and each further failure doubles it (up to ``max_delay``). Someone else
  guessing a partner's password from another address counts on another key, so the partner
  signing in from their own address is never locked out by them.
- ``address``: the client address alone, with ``address_attempts`` free failures (four times as
  many): one address trying many emails is slowed down too.

While a key is locked the password is not checked at all. A successful sign-in clears its
``account`` key; a count whose last failure is older than ``forget_after`` starts again from zero
(and such rows are deleted as failures come in). Keys are stored as SHA-256 digests: the table
holds no email address. The time is the session's clock (``ledger.db.clock_of``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ledger.auth.models import SignInThrottle
from ledger.core.clock import as_utc
from ledger.db import clock_of, is_postgres


@dataclass(frozen=True, slots=True)
class Policy:
    """How many failures are free and how long the delays are (seconds)."""

    attempts: int = 5
    address_attempts: int = 20
    delay: int = 30
    max_delay: int = 3600
    forget_after: int = 86400

    def lock_for(self, scope: str, failures: int) -> int:
        """Seconds a key is locked after its ``failures``-th failure (0: not locked)."""
        free = self.attempts if scope == "account" else self.address_attempts
        if failures < free:
            return 0
        return min(self.max_delay, self.delay * 2 ** min(failures - free, 32))


def keys(email: str, address: str | None) -> list[tuple[str, str]]:
    """The ``(scope, digest)`` keys an attempt for ``email`` from ``address`` counts on."""
    email = (email or "").strip().lower()
    address = address or "unknown"
    return [("account", _digest(f"{email}\n{address}")), ("address", _digest(address))]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def retry_after(session: Session, email: str, address: str | None) -> int:
    """Whole seconds until an attempt for ``email`` from ``address`` may be checked (0: now)."""
    now = clock_of(session).now()
    wait = 0.0
    for scope, key in keys(email, address):
        locked_until = session.scalar(select(SignInThrottle.locked_until)
                                      .where(SignInThrottle.scope == scope, SignInThrottle.key == key))
        if locked_until is not None:
            wait = max(wait, (as_utc(locked_until) - now).total_seconds())
    return math.ceil(wait) if wait > 0 else 0


def failed(session: Session, email: str, address: str | None, policy: Policy = Policy()) -> int:
    """Count a failed attempt on every key and lock those past their free failures; returns the
    seconds the attempt's keys are now locked for (0: the next attempt is checked at once)."""
    now = clock_of(session).now()
    stale = now - dt.timedelta(seconds=policy.forget_after)
    session.execute(delete(SignInThrottle).where(SignInThrottle.last_failure_at < stale,
                                                 SignInThrottle.locked_until.is_(None) | (SignInThrottle.locked_until < now)))
    locked = 0
    dialect_insert = postgresql.insert if is_postgres(session) else sqlite.insert
    table = SignInThrottle.__table__
    for scope, key in keys(email, address):
        stmt = dialect_insert(table).values(scope=scope, key=key, failures=1, last_failure_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.scope, table.c.key],
            set_={"failures": case((table.c.last_failure_at < stale, 1), else_=table.c.failures + 1),
                  "last_failure_at": now},
        ).returning(table.c.id, table.c.failures)
        row_id, failures = session.execute(stmt).one()
        seconds = policy.lock_for(scope, failures)
        if seconds:
            until = now + dt.timedelta(seconds=seconds)
            session.execute(update(SignInThrottle).where(
                SignInThrottle.id == row_id,
                SignInThrottle.locked_until.is_(None) | (SignInThrottle.locked_until < until)).values(locked_until=until))
            locked = max(locked, seconds)
    session.flush()
    return locked


def succeeded(session: Session, email: str, address: str | None) -> None:
    """A successful sign-in clears its ``account`` key (the address's count stays: signing in to
    one's own account must not wipe the count of guesses at others')."""
    scope, key = keys(email, address)[0]
    session.execute(delete(SignInThrottle).where(SignInThrottle.scope == scope, SignInThrottle.key == key))
    session.flush()
