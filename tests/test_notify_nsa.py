"""The NSA watch tells the treasurers (issue 19, CONTRACT §9 and §10) on both engines:
``ledger notify remind`` queues one ``nsa_expiring`` message per active treasurer for each outside
firm whose non-solicitation agreement ends within 60 days, and one more once it has lapsed (within
the 60 days after its last day); none for an agreement further off, long lapsed, not yet signed or
missing; once per firm and expiry date (a renewal that nears its end again is told again); a
treasurer who turned the kind's email off has the in-app notification only; a real SMTP server
receives the message, which names the firm and the date, links to its page, and has no amount.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import sqlalchemy as sa
from helpers.mailbox import SmtpServer
from helpers.web import USERS, text
from hypothesis import given
from hypothesis import strategies as st

from ledger.auth.models import User
from ledger.auth.service import add_user
from ledger.core.clock import FixedClock
from ledger.core.economics import NSA_WARNING_DAYS, nsa_notice, nsa_status
from ledger.core.vetting import VETTING_CRITERIA
from ledger.governance.reminders import nsa_reminders, remind
from ledger.notify import outbox as ob
from ledger.notify.models import Notification, OutboxMessage
from ledger.notify.sender import Sender, SmtpSettings, send_due
from ledger.practices.engagements import create_firm
from ledger.practices.models import Firm
from ledger.runtime.database import get_session

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
BASE = "https://ledger.example"
TREASURERS = ["tre1@example.com", "tre2@example.com"]


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


@pytest.fixture
def clock():
    return FixedClock(NOW)


@pytest.fixture
def app(db_url, make_app, clock):
    return make_app(db_url, CLOCK=clock, BASE_URL=BASE)


@pytest.fixture
def watched(s):
    """Two active treasurers, one inactive, an admin; firms whose NSA ends in 60 days (bayside,
    the boundary), in 61 (far), ended 10 days ago (gone), ended 61 days ago (old), is signed only
    next week (later), or is missing (none)."""
    for email in TREASURERS:
        add_user(s, email, "treasurer")
    add_user(s, "tre-gone@example.com", "treasurer").active = False
    add_user(s, "root@example.com", "admin")
    s.scalar(sa.select(Firm).where(Firm.code == "bayside")).nsa_expires_on = days(60)
    full = list(VETTING_CRITERIA)
    create_firm(s, "far", "Far Away Ltd", full, dt.date(2025, 1, 1), days(61))
    create_firm(s, "gone", "Gone Consulting", full, dt.date(2025, 1, 1), days(-10))
    create_firm(s, "old", "Old Partners", full, dt.date(2024, 1, 1), days(-61))
    create_firm(s, "later", "Later Labs", full, days(7), days(30))
    create_firm(s, "none", "No Agreement Inc", full, None, None)
    s.commit()
    return s


def told(s) -> list[tuple[str, str, str, str]]:
    """(email, firm code, notice, link) of every NSA notification, in order."""
    return [(n.user.email, json.loads(n.facts)["firm"], json.loads(n.facts)["notice"], n.link)
            for n in s.scalars(sa.select(Notification).where(Notification.kind == "nsa_expiring")
                               .order_by(Notification.id).execution_options(populate_existing=True))]


@pytest.mark.parametrize(("signed", "ends", "notice"), [
    (-400, 61, None), (-400, 60, "expiring"), (-400, 0, "expiring"), (-400, -1, "lapsed"),
    (-400, -60, "lapsed"), (-400, -61, None), (7, 30, None), (None, None, None), (0, 0, "expiring")])
def test_which_agreements_deserve_a_notice(signed, ends, notice):
    signed_on = days(signed) if signed is not None else None
    expires_on = days(ends) if ends is not None else None
    assert nsa_notice(signed_on, expires_on, TODAY) == notice


@given(st.dates(dt.date(2020, 1, 1), dt.date(2030, 1, 1)), st.integers(0, 900), st.integers(-400, 400))
def test_a_notice_follows_the_nsa_watchs_status(signed_on, length, offset):
    """``expiring`` exactly when the watch flags ``expires_soon``; ``lapsed`` only for an agreement
    in force once, whose last day is 1 to 60 days past."""
    expires_on = signed_on + dt.timedelta(days=length)
    today = expires_on + dt.timedelta(days=offset)
    notice, status = nsa_notice(signed_on, expires_on, today), nsa_status(signed_on, expires_on, today)
    assert (notice == "expiring") == (status == "expires_soon")
    assert (notice == "lapsed") == (1 <= (today - expires_on).days <= NSA_WARNING_DAYS)


def test_remind_tells_each_active_treasurer_once_per_firm_and_date(watched, clock):
    s = watched
    assert remind(s) == 4
    s.commit()
    assert sorted(told(s)) == sorted((email, code, notice, f"/firms/{code}") for email in TREASURERS
                                     for code, notice in [("bayside", "expiring"), ("gone", "lapsed")])
    subjects = {n.subject for n in s.scalars(sa.select(Notification))}
    assert subjects == {f"The NSA with Bayside Tech expires on {days(60)}",
                        f"The NSA with Gone Consulting has lapsed: its last day was {days(-10)}"}
    # Every treasurer wants the email by default: one outbox message each.
    assert sorted(m.to_address for m in s.scalars(sa.select(OutboxMessage))) == sorted(TREASURERS * 2)
    # Re-running tells nothing new (bayside stays near its end, gone lapsed).
    assert remind(s) == 0
    # A day on, far is 60 days from its end: told; bayside and gone are not told again.
    clock.advance(days=1)
    assert remind(s) == 2 and remind(s) == 0
    # 'later' is signed on day 7, in force and 23 days from its end: now it is told.
    clock.advance(days=6)
    assert remind(s) == 2 and remind(s) == 0
    s.commit()
    assert [t[1:3] for t in told(s)[4:]] == [("far", "expiring")] * 2 + [("later", "expiring")] * 2
    # Past later's last day, and past bayside's: both have lapsed.
    clock.advance(days=54)
    assert nsa_reminders(s) == 4
    s.commit()
    assert sorted(told(s)[8:]) == sorted((email, code, "lapsed", f"/firms/{code}") for email in TREASURERS
                                         for code in ("bayside", "later"))
    assert nsa_reminders(s) == 0


def test_a_renewed_agreement_nearing_its_new_end_is_told_again(watched, clock):
    s = watched
    assert remind(s) == 4
    bayside = s.scalar(sa.select(Firm).where(Firm.code == "bayside"))
    bayside.nsa_signed_on, bayside.nsa_expires_on = days(50), days(50 + 365)
    s.commit()
    assert nsa_reminders(s) == 0  # renewed: no longer near its end
    clock.advance(days=50 + 365 - 60)
    assert nsa_reminders(s) == 2  # near its new end: told again, the old date's notice stays once
    assert [t[:3] for t in told(s)].count((TREASURERS[0], "bayside", "expiring")) == 2
    assert nsa_reminders(s) == 0


def test_no_treasurer_no_message_and_nothing_recorded(s):
    s.scalar(sa.select(Firm).where(Firm.code == "bayside")).nsa_expires_on = days(10)
    assert remind(s) == 0 and told(s) == []


def test_a_treasurer_who_turned_the_email_off_is_told_in_the_app_only(watched):
    s = watched
    first = s.scalar(sa.select(User).where(User.email == TREASURERS[0]))
    assert ob.preferences(s, first)["nsa_expiring"] is True
    ob.set_preferences(s, first, {"nsa_expiring": False})
    assert remind(s) == 4
    s.commit()
    assert sorted(m.to_address for m in s.scalars(sa.select(OutboxMessage))) == [TREASURERS[1]] * 2
    assert [n.kind for n in ob.recent(s, first)] == ["nsa_expiring"] * 2
    assert ob.unread_count(s, first) == 2


def test_a_real_smtp_server_receives_it(watched, app):
    s = watched
    remind(s)
    s.commit()
    with SmtpServer() as box:
        outcome = send_due(app.extensions["ledger.sessionmaker"],
                           Sender(SmtpSettings.from_url(box.url), "Practice Ledger <ledger@example.com>", BASE,
                                  app.config["SECRET_KEY"], "nsa"))
    assert outcome.sent == 4 and len(box.messages) == 4
    mails = {(str(m["To"]), str(m["Subject"]).strip()): m for m in box.messages}
    mail = mails[(TREASURERS[0], f"The NSA with Bayside Tech expires on {days(60)}")]
    assert mail["X-Ledger-Kind"] == "nsa_expiring"
    body, html = mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content()
    assert "Bayside Tech (bayside) expires on 2027-01-30, within 60 days" in body
    assert f"Open it: {BASE}/firms/bayside" in body and f'href="{BASE}/firms/bayside"' in html
    lapsed = mails[(TREASURERS[1], f"The NSA with Gone Consulting has lapsed: its last day was {days(-10)}")].get_body(("plain",)).get_content()
    assert "Gone Consulting (gone) has lapsed: its last day was 2026-11-21" in lapsed
    for m in box.messages:  # no amount in any of them
        assert not re.search(r"\d+\.\d\d", m.get_body(("plain",)).get_content())


def test_the_remind_command_queues_them_once(watched, app):
    runner = app.test_cli_runner()
    assert "4 reminder(s) queued" in runner.invoke(args=["notify", "remind"]).output
    assert "0 reminder(s) queued" in runner.invoke(args=["notify", "remind"]).output


def test_the_treasurer_sees_it_in_the_app_and_may_turn_it_off(web, treasurer):
    with web.app_context():
        s = get_session()
        s.scalar(sa.select(Firm).where(Firm.code == "bayside")).nsa_expires_on = days(20)
        s.commit()
        assert remind(s) == 1
        s.commit()
    page = text(treasurer.get("/notifications"))
    assert f"The NSA with Bayside Tech expires on {days(20)}" in page
    assert b'href="/firms/bayside"' in treasurer.get("/notifications").data
    settings = treasurer.get("/settings/notifications")
    assert b"nsa_expiring" in settings.data and "NSA expires within 60 days" in text(settings)
    assert treasurer.post("/settings/notifications", data={k: "y" for k in ob.KINDS if k != "nsa_expiring"}
                          ).status_code == 302
    with web.app_context():
        s = get_session()
        user = s.scalar(sa.select(User).where(User.email == USERS["treasurer"]))
        assert ob.preferences(s, user)["nsa_expiring"] is False
