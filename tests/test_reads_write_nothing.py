"""No GET writes anything: every GET route of the API and of the web app, as the treasurer and as a
partner, runs without a single INSERT, UPDATE or DELETE reaching the database (listing periods once
created period rows; reads now list the periods not made yet as they are, open)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from ledger.auth.service import add_user, create_token, get_user, set_password
from ledger.governance.service import open_proposal
from ledger.partnership.close import close_period
from ledger.practices.bookings import record_invoice
from ledger.practices.engagements import create_client, open_engagement
from ledger.practices.service import get_partner
from ledger.runtime.database import get_session

PASSWORD = "a-long-password"
WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|TRUNCATE)\b", re.IGNORECASE)
#: Path arguments by name, for the routes that take them.
ARGS = {"code": "ana", "ref": "e1", "period_id": "2026-02", "period": "2026-01", "kind": "resolution",
        "filename": "app.css"}


@pytest.fixture
def app(db_url, make_app, charter_file):
    app = make_app(db_url, WTF_CSRF_ENABLED=False)  # the sign-in form is posted directly
    assert app.test_cli_runner().invoke(args=["init", str(charter_file)]).exit_code == 0
    with app.app_context():
        s = get_session()
        create_client(s, "acme", "Acme")
        open_engagement(s, ref="e1", client="acme", practice="voice", originator="ben", title="Phones",
                        opened_on=dt.date(2026, 1, 2))
        record_invoice(s, "e1", Decimal("1000.00"), dt.date(2026, 1, 15))
        close_period(s, "2026-01")
        open_proposal(s, get_partner(s, "ana"), "resolution", "Retreat", {"text": "May"},
                      dt.datetime.now(dt.UTC) + dt.timedelta(days=3))
        add_user(s, "tre@example.com", "treasurer", password=PASSWORD)
        set_password(s, get_user(s, "ana@example.com"), PASSWORD)
        s.commit()
    return app


def get_routes(app) -> list[str]:
    """Every GET URL of the app, its path arguments filled with things that exist."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        values = {name: ARGS.get(name, 1) for name in rule.arguments}
        with app.test_request_context():
            urls.append(app.url_for(rule.endpoint, **values))
    return sorted(urls)


@pytest.fixture
def writes(app):
    """The write statements the database receives while the test runs."""
    seen: list[str] = []
    engine = app.extensions["ledger.engine"]

    def record(_conn, _cursor, statement, *_args):
        if WRITE.match(statement):
            seen.append(statement.split("\n")[0][:120])

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


@pytest.mark.parametrize("who", ["treasurer", "partner"])
def test_no_get_writes_anything(app, writes, who):
    web = app.test_client()
    with app.app_context():
        s = get_session()
        email = "tre@example.com" if who == "treasurer" else "ana@example.com"
        api_headers = {"Authorization": f"Bearer {create_token(s, get_user(s, email))}"}
        s.commit()
    assert web.post("/login", data={"email": email, "password": PASSWORD}).status_code == 302
    writes.clear()  # signing in records the session's start; reads come after
    statuses = {}
    for url in get_routes(app):
        client_headers = api_headers if url.startswith("/api/") else {}
        response = web.get(url, headers=client_headers)
        response.close()  # a static file is streamed
        statuses[url] = response.status_code
        assert response.status_code < 500, url
    assert writes == [], writes
    # The routes answered for real (a page, a 403 for the other role's page, or a 409/404 for a
    # period not closed), not all the same refusal.
    assert sum(1 for s in statuses.values() if s == 200) > 20


def test_listing_periods_lists_those_not_made_yet(app, writes):
    with app.app_context():
        s = get_session()
        s.execute(sa.text("DELETE FROM period WHERE id > '2026-01'"))
        s.commit()
    writes.clear()
    with app.app_context():
        from ledger.journal.periods import list_periods

        rows = list_periods(get_session())
    assert [(p.id, p.status) for p in rows] == [("2026-01", "closed"), ("2026-02", "open")]
    assert writes == []
