"""Fixtures and helpers for the web app's tests (``test_web_*.py``); no tests of its own.

- ``web``: the worked example founded (ana 500 units, ben 250, chen 250; practices msft and voice;
  firm bayside), with passwords for ana, ben and chen, a treasurer and an admin. CSRF is off here
  (the CSRF tests turn it on) so tests post forms as a browser would, less the token.
- ``login(client, who)`` signs a test client in; ``as_user(who)`` gives a signed-in client.
- ``worked_january``: January booked through the services (the README's worked example), not closed.
- ``count_entries`` / ``count_rows``: for "nothing was written".
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from types import SimpleNamespace

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from ledger.auth import service as auth_service
from ledger.auth.service import add_user, get_user, set_password
from ledger.journal.models import Entry
from ledger.partnership.close import close_period
from ledger.practices import bookings as B
from ledger.practices.engagements import create_client, open_engagement
from ledger.runtime.database import get_session
from ledger.web import auth as web_auth

PASSWORD = "correct-horse-battery"
USERS = {"ana": "ana@example.com", "ben": "ben@example.com", "chen": "chen@example.com",
         "treasurer": "tre@example.com", "admin": "admin@example.com"}
D = Decimal
JAN = dt.date(2026, 1, 1)


@pytest.fixture
def web(founded, monkeypatch):
    # argon2id at its production cost takes a quarter of a second a hash; the tests hash and verify
    # hundreds of times, so they use the same algorithm at its lowest cost.
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(auth_service, "_hasher", cheap)
    monkeypatch.setattr(web_auth, "_dummy", SimpleNamespace(password_hash=cheap.hash("unused"), active=True))
    founded.config["WTF_CSRF_ENABLED"] = False
    with founded.app_context():
        s = get_session()
        for code in ("ana", "ben", "chen"):
            set_password(s, get_user(s, USERS[code]), PASSWORD)
        add_user(s, USERS["treasurer"], "treasurer", password=PASSWORD)
        add_user(s, USERS["admin"], "admin", password=PASSWORD)
        s.commit()
    return founded


def login(client, who: str, password: str = PASSWORD):
    return client.post("/login", data={"email": USERS.get(who, who), "password": password})


@pytest.fixture
def as_user(web):
    def make(who: str):
        client = web.test_client()
        response = login(client, who)
        assert response.status_code == 302, response.data[:2000]
        return client

    return make


@pytest.fixture
def ana(as_user):
    return as_user("ana")


@pytest.fixture
def treasurer(as_user):
    return as_user("treasurer")


def book_worked_january(s) -> None:
    create_client(s, "acme", "Acme Dental")
    open_engagement(s, ref="e1", client="acme", practice="msft", originator="ben", title="M365 rollout",
                      opened_on=JAN)
    open_engagement(s, ref="e2", client="acme", practice="voice", originator="chen", title="Phone system",
                      opened_on=JAN)
    B.record_invoice(s, "e1", D("9999.99"), dt.date(2026, 1, 10))
    B.record_cost(s, "e1", D("3333.33"), dt.date(2026, 1, 20), "subcontract", firm="bayside")
    B.record_invoice(s, "e2", D("1234.57"), dt.date(2026, 1, 12))
    B.record_overhead(s, "rent", D("500.00"), dt.date(2026, 1, 3))
    B.record_draw(s, "ben", D("200.00"), dt.date(2026, 1, 28))


@pytest.fixture
def worked_january(web):
    with web.app_context():
        s = get_session()
        book_worked_january(s)
        s.commit()
    return web


@pytest.fixture
def closed_january(worked_january):
    with worked_january.app_context():
        s = get_session()
        close_period(s, "2026-01")
        s.commit()
    return worked_january


def count_entries(app) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(Entry))


def count_rows(app, model) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(model))


def text(response) -> str:
    """The page's main text (no header or footer) with tags dropped and whitespace squeezed."""
    html = response.get_data(as_text=True)
    main = re.search(r"<main\b.*?</main>", html, flags=re.S)
    html = main.group(0) if main else html
    html = re.sub(r"<script\b.*?</script>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def field_error(response, field_id: str) -> str:
    """The error text shown beside the field ``field_id`` (empty when none)."""
    html = response.get_data(as_text=True)
    match = re.search(rf'<div class="field-msg" id="{re.escape(field_id)}-msg">(.*?)</div>', html, flags=re.S)
    if not match:
        return ""
    return " ".join(re.findall(r'<span class="error">(.*?)</span>', match.group(1), flags=re.S))


def csrf_token(response) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', response.get_data(as_text=True)) or \
        re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True))
    assert match, "no CSRF token on the page"
    return match.group(1)
