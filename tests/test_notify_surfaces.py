"""Notifications through the API and the web app, and the calendar feed (CONTRACT §9): the
signed-in user's list and unread count, email preferences, the secret iCalendar URL (parsed back
with ``icalendar``; rotated, the old one is a 404), the dashboard's panel and the settings page."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
from icalendar import Calendar

from ledger.governance.service import open_proposal
from ledger.notify.outbox import KINDS
from ledger.practices.service import get_partner
from ledger.runtime.database import get_session

PREFIX = "/api/v1"


def _propose(app, who="ben", title="Buy a shared phone line"):
    with app.app_context():
        s = get_session()
        p = open_proposal(s, get_partner(s, who), "resolution", title, {"text": "One line for all."},
                          dt.datetime.now(dt.UTC) + dt.timedelta(days=4))
        s.commit()
        return p.id, p.closes_at


def _events(body: bytes) -> dict[str, object]:
    """The feed's events by UID, after checking what RFC 5545 requires of it: CRLF lines of at most
    75 octets (folded), VERSION and PRODID once, and each VEVENT's UID (unique), DTSTAMP and DTSTART,
    with DTEND after DTSTART for a day and equal to it for a moment."""
    lines = body.split(b"\r\n")
    assert lines[-1] == b"" and all(len(line) <= 75 for line in lines), "unfolded or bare-LF lines"
    cal = Calendar.from_ical(body)
    assert str(cal["VERSION"]) == "2.0" and cal["PRODID"]
    events = cal.walk("VEVENT")
    uids = [str(e["UID"]) for e in events]
    assert len(uids) == len(set(uids))
    for e in events:
        start, end = e.decoded("DTSTART"), e.decoded("DTEND")
        assert isinstance(e.decoded("DTSTAMP"), dt.datetime)
        assert end > start if not isinstance(start, dt.datetime) else end == start
    return dict(zip(uids, events, strict=True))


# --- API -----------------------------------------------------------------------------------------


def test_preferences_default_on_and_change_by_kind(api):
    assert api.ok("GET", "/me/preferences", role="partner") == dict.fromkeys(KINDS, True)
    changed = api.client.put(f"{PREFIX}/me/preferences", json={"proposal_opened": False},
                             headers=api.headers("partner"))
    assert changed.status_code == 200
    assert changed.get_json() == {**dict.fromkeys(KINDS, True), "proposal_opened": False}
    # Another user's settings are their own.
    assert api.ok("GET", "/me/preferences", role="treasurer") == dict.fromkeys(KINDS, True)


@pytest.mark.parametrize("body", [{"nope": True}, {"units_vested": "false"}, {"units_vested": 0}, {"units_vested": None}])
def test_bad_preferences_are_a_422_that_names_the_field(api, body):
    response = api.client.put(f"{PREFIX}/me/preferences", json=body, headers=api.headers("partner"))
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    assert set(body) <= set(response.get_json()["errors"]), response.get_json()
    assert api.ok("GET", "/me/preferences", role="partner") == dict.fromkeys(KINDS, True)


def test_the_list_counts_unread_and_marks_read(api, founded):
    proposal_id, _ = _propose(founded)
    mine = api.ok("GET", "/me/notifications", role="partner")
    assert mine["unread"] == 1
    [note] = mine["notifications"]
    assert note["kind"] == "proposal_opened" and note["link"] == f"/proposals/{proposal_id}"
    assert note["email"] == "pending" and note["read_at"] is None and note["created_at"].endswith("Z")
    assert api.ok("GET", "/me/notifications", role="treasurer") == {"unread": 0, "notifications": []}
    assert api.ok("POST", "/me/notifications/read", {}, role="partner") == {"marked": 1, "unread": 0}
    assert api.ok("GET", "/me/notifications", role="partner")["notifications"][0]["read_at"] is not None


def test_the_calendar_url_needs_no_other_credential_and_rotates(api, founded):
    proposal_id, closes_at = _propose(founded)
    url = api.ok("GET", "/me/calendar", role="partner")["url"]
    assert api.ok("GET", "/me/calendar", role="partner")["url"] == url  # stable until rotated
    path = urlsplit(url).path
    feed = founded.test_client().get(path)  # no token, no session
    assert feed.status_code == 200 and feed.mimetype == "text/calendar"
    events = _events(feed.data)
    vote = events[f"vote-{proposal_id}@practice-ledger"]
    assert vote.decoded("DTSTART") == closes_at.replace(microsecond=0, tzinfo=dt.UTC)
    assert "Buy a shared phone line" in str(vote["SUMMARY"])
    assert events["vest-1-2026-01-01@practice-ledger"]["SUMMARY"] == "Vesting: 500 units vest"  # ana's founder units
    assert events["period-2026-01@practice-ledger"].decoded("DTSTART") == dt.date(2026, 1, 31)
    assert events["period-2026-01@practice-ledger"].decoded("DTEND") == dt.date(2026, 2, 1)
    new = api.ok("POST", "/me/calendar/rotate", {}, role="partner")["url"]
    assert new != url
    assert founded.test_client().get(path).status_code == 404
    assert founded.test_client().get(urlsplit(new).path).status_code == 200


def test_a_forged_or_foreign_feed_token_is_a_404(founded):
    client = founded.test_client()
    for token in ("x", "WzEsMF0.forged", "a" * 400):
        assert client.get(f"/calendar/{token}.ics").status_code == 404


def test_the_treasurers_feed_has_every_vote_and_the_periods(api, founded):
    proposal_id, _ = _propose(founded)
    url = api.ok("GET", "/me/calendar", role="treasurer")["url"]
    events = _events(founded.test_client().get(urlsplit(url).path).data)
    assert f"vote-{proposal_id}@practice-ledger" in events
    assert not any(uid.startswith("vest-") for uid in events)


# --- web -----------------------------------------------------------------------------------------


def test_the_dashboard_shows_notifications_with_the_unread_count(web, ana):
    _propose(web)
    page = ana.get("/").get_data(as_text=True)
    assert 'data-testid="notification-panel"' in page and "1 unread" in page
    assert "Proposal open for your vote: Buy a shared phone line" in page
    assert "Notifications, 1 unread" in page  # the header
    ana.post("/notifications/read")
    page = ana.get("/").get_data(as_text=True)
    assert "1 unread" not in page and "Notifications, 1 unread" not in page


def test_the_settings_page_turns_an_email_off(web, ana):
    page = ana.get("/settings/notifications").get_data(as_text=True)
    assert 'data-testid="pref-proposal_opened"' in page and "/calendar/" in page
    data = {k: "y" for k in KINDS if k != "proposal_opened"}
    saved = ana.post("/settings/notifications", data=data)
    assert saved.status_code == 302
    _propose(web)
    page = ana.get("/notifications").get_data(as_text=True)
    assert "in the app only" in page  # no email for ana, as she chose
    with web.app_context():
        from ledger.auth.service import get_user
        from ledger.notify.outbox import preferences
        s = get_session()
        assert preferences(s, get_user(s, "ana@example.com"))["proposal_opened"] is False


def test_rotating_the_calendar_from_the_settings_page(web, ana):
    import re
    first = re.search(r'/calendar/[^"]+\.ics', ana.get("/settings/notifications").get_data(as_text=True)).group(0)
    assert web.test_client().get(first).status_code == 200
    assert ana.post("/settings/calendar/rotate").status_code == 302
    second = re.search(r'/calendar/[^"]+\.ics', ana.get("/settings/notifications").get_data(as_text=True)).group(0)
    assert second != first
    assert web.test_client().get(first).status_code == 404
    assert web.test_client().get(second).status_code == 200
