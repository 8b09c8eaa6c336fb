"""The signed-in user's notifications, email preferences and calendar feed (CONTRACT §9).

- ``GET /me/notifications``: the latest notifications and how many are unread;
  ``POST /me/notifications/read`` marks them read (``ids``, else all).
- ``GET /me/preferences``: whether each kind emails the user; ``PUT /me/preferences`` changes the
  kinds it names (a JSON boolean each).
- ``GET /me/calendar``: ``{"url": ...}``, the secret iCalendar feed URL (no other credential);
  ``POST /me/calendar/rotate`` replaces it, and the old URL answers 404.
"""

from __future__ import annotations

from flask import current_app, request
from marshmallow import Schema, fields, validate

from ledger.api.auth import current_user
from ledger.api.openapi import blueprint
from ledger.api.transaction import requires
from ledger.core.clock import as_utc
from ledger.notify import feeds, outbox
from ledger.runtime.database import get_session
from ledger.schema import Int, Timestamp

bp = blueprint("notifications", __name__, "Notifications, email preferences and the calendar feed")


class StrictBool(fields.Boolean):
    """A JSON ``true`` or ``false`` only (marshmallow's own takes ``"yes"``, ``1``, ``0``...)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if type(value) is not bool:
            raise self.make_error("invalid", input=value)
        return value


def _strict_bool(**kwargs):
    return StrictBool(**kwargs)


class NotificationOut(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"enum": list(outbox.KINDS)})
    subject = fields.String(required=True)
    link = fields.String(required=True, metadata={"description": "the path of the page concerned"})
    created_at = Timestamp(required=True)
    read_at = Timestamp(required=True, allow_none=True)
    email = fields.String(required=True, allow_none=True, metadata={
        "description": "the email's state (pending, sending, sent, failed), null when none was wanted"})


class NotificationsOut(Schema):
    unread = fields.Integer(required=True)
    notifications = fields.List(fields.Nested(NotificationOut), required=True)


class MarkReadIn(Schema):
    ids = fields.List(Int(minimum=1, maximum=2**31 - 1), validate=validate.Length(max=1000),
                      metadata={"description": "the notifications to mark read; all when left out"})


class MarkedOut(Schema):
    marked = fields.Integer(required=True)
    unread = fields.Integer(required=True)


PreferencesSchema = Schema.from_dict({kind: _strict_bool(metadata={"description": label})
                                      for kind, (label, _) in outbox.KINDS.items()}, name="Preferences")


class CalendarOut(Schema):
    url = fields.String(required=True, metadata={"description": "the secret iCalendar feed URL"})


def _feed_url(token: str) -> str:
    base = current_app.config.get("BASE_URL") or request.host_url
    return base.rstrip("/") + feeds.FEED_PATH.format(token=token)


@bp.route("/me/notifications", methods=["GET"])
@requires("any")
@bp.response(200, NotificationsOut)
def my_notifications():
    """The latest 50 notifications, newest first, and the number unread."""
    session = get_session()
    notes = outbox.recent(session, current_user(session), 50)
    states = outbox.emailed(session, [n.id for n in notes])
    return {"unread": outbox.unread_count(session, current_user(session)),
            "notifications": [{"id": n.id, "kind": n.kind, "subject": n.subject, "link": n.link,
                               "created_at": as_utc(n.created_at),
                               "read_at": as_utc(n.read_at) if n.read_at else None,
                               "email": states.get(n.id)} for n in notes]}


@bp.route("/me/notifications/read", methods=["POST"])
@requires("any")
@bp.arguments(MarkReadIn, required=False)
@bp.response(200, MarkedOut)
def mark_read(data):
    """Mark notifications read: those of ``ids`` (the caller's own), or all."""
    session = get_session()
    marked = outbox.mark_read(session, current_user(session), data.get("ids"))
    return {"marked": marked, "unread": outbox.unread_count(session, current_user(session))}


@bp.route("/me/preferences", methods=["GET"])
@requires("any")
@bp.response(200, PreferencesSchema)
def my_preferences():
    """Whether each kind of notification emails the caller (the in-app list shows them all)."""
    session = get_session()
    return outbox.preferences(session, current_user(session))


@bp.route("/me/preferences", methods=["PUT"])
@requires("any")
@bp.arguments(PreferencesSchema)
@bp.response(200, PreferencesSchema)
def set_preferences(data):
    """Turn each named kind's email on (true) or off (false); the others keep their setting."""
    session = get_session()
    return outbox.set_preferences(session, current_user(session), data)


@bp.route("/me/calendar", methods=["GET"])
@requires("any")
@bp.response(200, CalendarOut)
def my_calendar():
    """The caller's secret iCalendar feed URL: vote deadlines, vesting dates, period ends, installments."""
    session = get_session()
    return {"url": _feed_url(feeds.feed_token(session, current_app.config["SECRET_KEY"], current_user(session)))}


@bp.route("/me/calendar/rotate", methods=["POST"])
@requires("any")
@bp.response(200, CalendarOut)
def rotate_calendar():
    """Replace the feed URL; the old one answers 404 from now on."""
    session = get_session()
    return {"url": _feed_url(feeds.rotate_feed(session, current_app.config["SECRET_KEY"], current_user(session)))}
