"""Helpers for the web app's tests (``test_web_*.py``); the fixtures (``web``, ``as_user``, ``ana``,
``treasurer``, ``worked_january``, ``closed_january``) are in ``tests/fixtures/web.py``.

- ``login(client, who)`` signs a test client in (``who``: a key of ``USERS`` or an email);
- ``book_worked_january(s)``: the README's worked January booked through the services;
- ``count_entries`` / ``count_rows``: for "nothing was written";
- ``text``, ``field_error``, ``csrf_token``: what a page shows.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from sqlalchemy import func, select

from ledger.journal.models import Entry
from ledger.practices import bookings as B
from ledger.practices.engagements import create_client, open_engagement
from ledger.runtime.database import get_session

PASSWORD = "correct-horse-battery"
USERS = {"ana": "ana@example.com", "ben": "ben@example.com", "chen": "chen@example.com",
         "treasurer": "tre@example.com", "admin": "admin@example.com"}
D = Decimal
JAN = dt.date(2026, 1, 1)


def login(client, who: str, password: str = PASSWORD):
    return client.post("/login", data={"email": USERS.get(who, who), "password": password})


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
