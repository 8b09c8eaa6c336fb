"""Delivering the outbox over SMTP, each message exactly once across senders and restarts.

For each message, three short transactions, none open while SMTP talks:

1. **claim** the oldest due message — ``pending`` with ``next_attempt_at`` passed, or ``sending``
   whose sender's lease (``LEASE``) has run out — as ``sending`` by this sender, and commit. On
   PostgreSQL the row is read ``FOR UPDATE SKIP LOCKED``, so two senders never claim the same
   message and never wait on each other; on SQLite every transaction is ``BEGIN IMMEDIATE`` (one
   writer), which serialises the claims.
2. **send** it (one SMTP connection is kept for the batch).
3. **mark** it ``sent`` — only if this sender still holds the claim — and commit. A failure puts it
   back to ``pending`` with a backoff (``backoff``), or ``failed`` after ``MAX_ATTEMPTS`` or at once
   for a permanent (5xx) refusal; the error is recorded either way.

A sender killed before the server accepted a message leaves it ``sending``: it is claimed again
once the lease runs out and sent then. The one window no protocol closes is between the server's
"250 accepted" and step 3's commit: a sender killed exactly there sends that message again after
the lease, with the same Message-ID, so a receiver can tell it is a retry.
"""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from ledger.db import clock_of, is_postgres
from ledger.notify import feeds, messages
from ledger.notify.models import OutboxMessage

MAX_ATTEMPTS = 6
#: How long a claim holds before another sender may take the message (a sender that died).
LEASE = dt.timedelta(minutes=5)


def backoff(attempts: int) -> dt.timedelta:
    """The wait before attempt ``attempts + 1``: one minute, doubling, at most six hours."""
    return min(dt.timedelta(minutes=2 ** max(attempts - 1, 0)), dt.timedelta(hours=6))


@dataclass(frozen=True)
class SmtpSettings:
    """Where mail goes, from ``SMTP_URL``: ``smtp://[user:pass@]host[:port]`` (``?starttls=1`` to
    upgrade the connection), ``smtps://`` for TLS from the first byte (port 465 by default).
    ``cafile`` (``?cafile=/path``) trusts a private CA; ``timeout`` in seconds."""

    host: str
    port: int
    tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    cafile: str | None = None
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str) -> SmtpSettings:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://[user:pass@]host:port or smtps://...")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        tls = parts.scheme == "smtps"
        return cls(host=parts.hostname, port=parts.port or (465 if tls else 25), tls=tls,
                   starttls=query.get("starttls", "0") in ("1", "true", "yes"),
                   username=unquote(parts.username) if parts.username else None,
                   password=unquote(parts.password) if parts.password else None,
                   cafile=query.get("cafile"), timeout=float(query.get("timeout", "30")))

    def connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context(cafile=self.cafile)
        if self.tls:
            client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.starttls:
                client.starttls(context=context)
        if self.username:
            client.login(self.username, self.password or "")
        return client


@dataclass(frozen=True)
class Sender:
    """What a sender needs besides the database: the server, ``MAIL_FROM``, the app's public
    ``BASE_URL`` (for links) and its ``SECRET_KEY`` (for unsubscribe links), and a name that
    marks its claims."""

    smtp: SmtpSettings
    mail_from: str
    base_url: str
    secret: str
    name: str
    lease: dt.timedelta = LEASE


@dataclass
class Outcome:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def claim(session: Session, name: str, lease: dt.timedelta = LEASE) -> OutboxMessage | None:
    """Claim the oldest due message for sender ``name`` and flush; the caller commits."""
    now = clock_of(session).now()
    due = or_(
        (OutboxMessage.status == "pending") & (OutboxMessage.next_attempt_at <= now),
        (OutboxMessage.status == "sending") & (OutboxMessage.claimed_at <= now - lease),
    )
    query = select(OutboxMessage.id).where(due).order_by(OutboxMessage.id).limit(1)
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    outbox_id = session.scalar(query)
    if outbox_id is None:
        return None
    session.execute(update(OutboxMessage).where(OutboxMessage.id == outbox_id).values(
        status="sending", claimed_at=now, claimed_by=name, attempts=OutboxMessage.attempts + 1))
    session.flush()
    message = session.get(OutboxMessage, outbox_id, populate_existing=True)
    return message


def _finish(session: Session, outbox_id: int, name: str, **values) -> bool:
    result = session.execute(update(OutboxMessage).where(
        OutboxMessage.id == outbox_id, OutboxMessage.status == "sending", OutboxMessage.claimed_by == name)
        .values(**values))
    return bool(result.rowcount)


def _permanent(exc: Exception) -> bool:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    code = getattr(exc, "smtp_code", None)
    return isinstance(code, int) and code >= 500


def send_due(make_session: Callable[[], Session], sender: Sender, limit: int | None = None,
             after_each: Callable[[int], None] | None = None) -> Outcome:
    """Send every due message (at most ``limit``), one claim, send and mark at a time; returns
    how many were sent, put back for a retry, or failed for good. ``after_each(outbox id)`` is
    called after each message is marked (the tests stop a sender there)."""
    outcome = Outcome()
    client: smtplib.SMTP | None = None
    try:
        while limit is None or outcome.sent + outcome.retried + outcome.failed < limit:
            with make_session() as session:
                message = claim(session, sender.name, sender.lease)
                if message is None:
                    session.commit()
                    break
                email = messages.build(
                    message, sender.mail_from, sender.base_url,
                    _unsubscribe_url(sender, message.notification.user_id, message.notification.kind),
                    _unsubscribe_url(sender, message.notification.user_id, "all"))
                outbox_id, attempts = message.id, message.attempts
                session.commit()
            error: Exception | None = None
            try:
                if client is None:
                    client = sender.smtp.connect()
                client.send_message(email, from_addr=_address(sender.mail_from), to_addrs=[email["To"]])
            except (smtplib.SMTPException, OSError) as exc:
                error = exc
                client = _drop(client)
            with make_session() as session:
                now = clock_of(session).now()
                if error is None:
                    _finish(session, outbox_id, sender.name, status="sent", sent_at=now, last_error=None)
                    outcome.sent += 1
                elif _permanent(error) or attempts >= MAX_ATTEMPTS:
                    _finish(session, outbox_id, sender.name, status="failed", last_error=_describe(error))
                    outcome.failed += 1
                else:
                    _finish(session, outbox_id, sender.name, status="pending", last_error=_describe(error),
                            next_attempt_at=now + backoff(attempts), claimed_at=None, claimed_by=None)
                    outcome.retried += 1
                session.commit()
            if after_each:
                after_each(outbox_id)
    finally:
        _drop(client)
    return outcome


def waiting(session: Session) -> int:
    """How many messages are not yet sent nor failed for good."""
    return session.scalar(select(func.count()).select_from(OutboxMessage)
                          .where(OutboxMessage.status.in_(("pending", "sending")))) or 0


def _unsubscribe_url(sender: Sender, user_id: int, kind: str) -> str:
    token = feeds.unsubscribe_token(sender.secret, user_id, kind)
    return sender.base_url.rstrip("/") + feeds.UNSUBSCRIBE_PATH.format(token=token)


def _address(mail_from: str) -> str:
    return mail_from.rsplit("<", 1)[-1].rstrip(">").strip() if "<" in mail_from else mail_from


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def _drop(client: smtplib.SMTP | None) -> None:
    if client is None:
        return None
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()
    return None
