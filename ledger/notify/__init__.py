"""Telling partners (CONTRACT §9): notifications, an email outbox, preferences and calendar feeds.

- ``models.py``: ``Notification`` (what a user is told, shown in the app, unread until read),
  ``OutboxMessage`` (an email waiting for, or done by, the sender), ``NotificationPreference``
  (a user's choice per kind; no row = the default), ``CalendarFeedRotation`` (each time a user
  replaced their feed's URL).
- ``outbox.py``: ``notify`` / ``notify_each`` — the one writer, called by the service that makes
  the event inside its own transaction, so a rolled-back action tells nobody and a committed one
  is never lost; preferences; the in-app list.
- ``sender.py``: delivery over SMTP — claim (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), send,
  mark sent; retries with backoff; failures recorded.
- ``messages.py``: subjects and the text and HTML bodies, from the templates beside it.
- ``feeds.py``: the calendar feed's token and the unsubscribe token, both signed (nothing secret stored).

The package sits among the areas just above ``auth`` (it knows users and partners, nothing of
proposals or grants): governance, the close and any area above may call ``outbox.notify``.
"""
