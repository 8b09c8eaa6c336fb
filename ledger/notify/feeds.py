"""Secrets in URLs: a user's calendar feed and the unsubscribe link, both signed with the app's
key (itsdangerous), so the database stores nothing secret.

- A feed token names a user and a generation: the number of times the user had rotated their feed
  when it was made (``CalendarFeedRotation`` rows). Only the current generation answers, so the
  old URL is dead the moment ``rotate_feed`` makes a new one, and reading the URL writes nothing.
  Changing the app's ``SECRET_KEY`` ends every feed URL and unsubscribe link at once.
- An unsubscribe token names a user and a kind (or ``all``); it works without signing in, and only
  turns email off, so a leaked one can do no more than that.
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.auth.models import User
from ledger.db import clock_of
from ledger.notify.models import CalendarFeedRotation
from ledger.notify.outbox import KINDS

#: Where the web app serves a feed and the unsubscribe page (``ledger/web/notifications.py``).
FEED_PATH = "/calendar/{token}.ics"
UNSUBSCRIBE_PATH = "/unsubscribe/{token}"
_FEED_SALT = "ledger.calendar-feed"
_UNSUBSCRIBE_SALT = "ledger.unsubscribe"


def _generation(session: Session, user_id: int) -> int:
    return session.scalar(select(func.count()).select_from(CalendarFeedRotation)
                          .where(CalendarFeedRotation.user_id == user_id)) or 0


def feed_token(session: Session, secret: str, user: User) -> str:
    """The token of the user's feed in force. Writes nothing."""
    return URLSafeSerializer(secret, salt=_FEED_SALT).dumps([user.id, _generation(session, user.id)])


def rotate_feed(session: Session, secret: str, user: User) -> str:
    """Replace the user's feed: the old URL answers 404 from now on. Returns the new token."""
    session.add(CalendarFeedRotation(user_id=user.id, rotated_at=clock_of(session).now()))
    session.flush()
    return feed_token(session, secret, user)


def feed_user(session: Session, secret: str, token: str) -> User | None:
    """The active user whose current feed ``token`` names, or None (forged, rotated, inactive)."""
    try:
        user_id, generation = URLSafeSerializer(secret, salt=_FEED_SALT).loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    if type(user_id) is not int or type(generation) is not int:
        return None
    user = session.get(User, user_id)
    if user is None or not user.active or generation != _generation(session, user_id):
        return None
    return user


def unsubscribe_token(secret: str, user_id: int, kind: str) -> str:
    return URLSafeSerializer(secret, salt=_UNSUBSCRIBE_SALT).dumps([user_id, kind])


def read_unsubscribe_token(secret: str, token: str) -> tuple[int, str] | None:
    """``(user id, kind)`` from a genuine unsubscribe token, else None."""
    try:
        user_id, kind = URLSafeSerializer(secret, salt=_UNSUBSCRIBE_SALT).loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    if type(user_id) is not int or (kind != "all" and kind not in KINDS):
        return None
    return user_id, kind
