"""The one writer of notifications and outbox messages, preferences, and the in-app list.

``notify`` is called by the service that makes an event, inside that service's transaction: the
notification and its email commit with the action or not at all (a transactional outbox), and the
sender (``sender.py``) delivers the email later. Each kind's email can be turned off per user
(``set_preferences``, or the signed unsubscribe link); the in-app notification is always kept.

Messages name only the recipient's own figures (their units, their installment); a message about
the partnership (a proposal, a closed period) carries no amount at all, so no partner ever reads
another's capital in a mail (CONTRACT §4's closed books).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from ledger.auth.models import User
from ledger.core.errors import ValidationError
from ledger.db import clock_of
from ledger.notify.models import Notification, NotificationPreference, OutboxMessage

#: Every kind of notification: what the settings page calls it, and whether it emails by default.
KINDS: dict[str, tuple[str, bool]] = {
    "proposal_opened": ("A proposal opens and you may vote on it", True),
    "vote_reminder": ("A vote closes within 24 hours and you have not voted", True),
    "proposal_decided": ("A proposal you could vote on is decided", True),
    "statement_ready": ("A period is closed and your statement is ready", True),
    "units_vested": ("Units of your grants vest", True),
    "installment_paid": ("An installment of your buyout is paid", True),
    "nsa_expiring": ("An outside firm's NSA expires within 60 days, or has lapsed (treasurers)", True),
}


def users_of(session: Session, partner_ids: Iterable[int]) -> list[User]:
    """The active users who sign in as these partners, in id order."""
    ids = set(partner_ids)
    if not ids:
        return []
    return list(session.scalars(select(User).where(User.partner_id.in_(ids), User.active.is_(True))
                                .order_by(User.id)))


@dataclass(frozen=True)
class Message:
    """One user's notification of an event: ``link`` is the path of the page concerned, ``facts``
    what the message's templates are written from, ``key`` (optional) names the event so that it
    is told to a user once however often it is recorded."""

    user: User
    subject: str
    link: str
    facts: dict
    key: str | None = None


def notify(session: Session, users: Iterable[User], kind: str, subject: str, link: str, facts: dict,
           key: str | None = None) -> list[int]:
    """Tell each of ``users`` the same thing about an event of ``kind`` (see ``notify_each``)."""
    return notify_each(session, kind, [Message(u, subject, link, facts, key) for u in users])


def notify_each(session: Session, kind: str, messages: Iterable[Message]) -> list[int]:
    """Record each message: a notification, and an email in the outbox when the user's preferences
    want one; a message whose key its user was already told is skipped. Returns the notifications'
    ids. A fixed number of queries whatever the number of messages. Writes in the caller's
    transaction; never commits."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    messages = list(messages)
    if not messages:
        return []
    now = clock_of(session).now()
    wants = email_wanted(session, list({m.user.id for m in messages}), kind)
    keyed = {f"{m.key}:u{m.user.id}" for m in messages if m.key}
    told = set(session.scalars(select(Notification.dedupe_key).where(Notification.dedupe_key.in_(keyed)))) \
        if keyed else set()
    rows: list[dict] = []
    emails: list[str | None] = []
    for m in messages:
        dedupe = f"{m.key}:u{m.user.id}" if m.key else None
        if dedupe in told:
            continue
        if dedupe:
            told.add(dedupe)
        rows.append({"user_id": m.user.id, "kind": kind, "subject": m.subject[:300], "link": m.link[:300],
                     "facts": json.dumps(m.facts, sort_keys=True, default=str), "dedupe_key": dedupe,
                     "created_at": now})
        emails.append(m.user.email if wants[m.user.id] else None)
    if not rows:
        return []
    # Two statements (batched by the driver) however many messages: a close tells every partner.
    ids = list(session.scalars(insert(Notification).returning(Notification.id, sort_by_parameter_order=True), rows))
    outgoing = [{"notification_id": n, "to_address": email, "status": "pending", "attempts": 0, "created_at": now,
                 "next_attempt_at": now} for n, email in zip(ids, emails, strict=True) if email]
    if outgoing:
        session.execute(insert(OutboxMessage), outgoing)
    return ids


# --- preferences -------------------------------------------------------------------------------


def email_wanted(session: Session, user_ids: list[int], kind: str) -> dict[int, bool]:
    """``{user id: whether ``kind`` emails them}``: their choice, else the kind's default."""
    default = KINDS[kind][1]
    chosen = dict(session.execute(select(NotificationPreference.user_id, NotificationPreference.email).where(
        NotificationPreference.user_id.in_(user_ids), NotificationPreference.kind == kind)).all()) if user_ids else {}
    return {uid: chosen.get(uid, default) for uid in user_ids}


def preferences(session: Session, user: User) -> dict[str, bool]:
    """``{kind: emails?}`` for every kind, in ``KINDS``' order."""
    chosen = dict(session.execute(select(NotificationPreference.kind, NotificationPreference.email)
                                  .where(NotificationPreference.user_id == user.id)).all())
    return {kind: chosen.get(kind, default) for kind, (_, default) in KINDS.items()}


def set_preferences(session: Session, user: User, changes: dict) -> dict[str, bool]:
    """Set whether each kind in ``changes`` emails ``user``; the kinds left out keep their setting.
    An unknown kind or a value that is not a boolean is a 422 naming it, and nothing is written."""
    errors = {}
    for kind, value in changes.items():
        if kind not in KINDS:
            errors[str(kind)[:60]] = [f"not a kind of notification: one of {', '.join(KINDS)}"]
        elif not isinstance(value, bool):
            errors[kind] = ["must be true or false"]
    if errors:
        raise ValidationError("; ".join(f"{k}: {v[0]}" for k, v in errors.items()), errors)
    now = clock_of(session).now()
    rows = {p.kind: p for p in session.scalars(select(NotificationPreference)
                                               .where(NotificationPreference.user_id == user.id))}
    for kind, value in changes.items():
        row = rows.get(kind)
        if row is None:
            session.add(NotificationPreference(user_id=user.id, kind=kind, email=value, updated_at=now))
        elif row.email != value:
            row.email, row.updated_at = value, now
    session.flush()
    return preferences(session, user)


def unsubscribe(session: Session, user_id: int, kind: str) -> User | None:
    """Stop ``kind``'s email (``"all"``: every kind's) for the user, from a signed link. Returns
    the user, or None if they no longer exist."""
    user = session.get(User, user_id)
    if user is None:
        return None
    kinds = list(KINDS) if kind == "all" else [kind]
    set_preferences(session, user, dict.fromkeys(kinds, False))
    return user


# --- the in-app list -------------------------------------------------------------------------


def recent(session: Session, user: User, limit: int = 20) -> list[Notification]:
    return list(session.scalars(select(Notification).where(Notification.user_id == user.id)
                                .order_by(Notification.id.desc()).limit(limit)))


def unread_count(session: Session, user: User) -> int:
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None))) or 0


def mark_read(session: Session, user: User, ids: Iterable[int] | None = None) -> int:
    """Mark the user's notifications read (``ids``, else all of them); returns how many changed."""
    stmt = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(list(ids)))
    result = session.execute(stmt.values(read_at=clock_of(session).now()).execution_options(synchronize_session=False))
    session.expire_all()
    return result.rowcount or 0


def emailed(session: Session, notification_ids: Iterable[int]) -> dict[int, str]:
    """``{notification id: outbox status}`` for those that have an email."""
    ids = list(notification_ids)
    if not ids:
        return {}
    return dict(session.execute(select(OutboxMessage.notification_id, OutboxMessage.status)
                                .where(OutboxMessage.notification_id.in_(ids))).all())
