"""Services are the only gate: the rules the surfaces once disagreed on are refused alike by the
service, the API and the web app (and the CLI where it has the action).

- a retired partner votes on nothing (CONTRACT §7);
- with closed books a partner sees only their own capital lines on an entry; the others are one
  aggregated "other partners" figure (CONTRACT §7, "Who may read what");
- only an entry a person booked may be reversed; what the product made is a 409 (CONTRACT §7).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from ledger.auth.service import add_user, create_token, get_user, set_password
from ledger.core import chart
from ledger.core.access import Viewer
from ledger.core.errors import Conflict, Forbidden
from ledger.governance.models import Vote
from ledger.governance.service import cast_vote, close_proposal, open_proposal
from ledger.journal.models import Entry
from ledger.journal.service import reverse_entry
from ledger.partnership.close import close_period
from ledger.practices.bookings import record_invoice
from ledger.practices.engagements import create_client, open_engagement
from ledger.practices.service import get_partner
from ledger.read.entries import OTHER_PARTNERS, entry_view
from ledger.runtime.database import get_session

PASSWORD = "a-long-password"
LATER = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)


@pytest.fixture
def app(db_url, make_app, charter_file):
    """The worked example founded, CSRF off (the forms are posted directly), passwords and tokens."""
    app = make_app(db_url, WTF_CSRF_ENABLED=False)
    assert app.test_cli_runner().invoke(args=["init", str(charter_file)]).exit_code == 0
    with app.app_context():
        s = get_session()
        for code in ("ana", "ben", "chen"):
            set_password(s, get_user(s, f"{code}@example.com"), PASSWORD)
        s.commit()
    return app


def token(app, email: str) -> dict:
    with app.app_context():
        s = get_session()
        value = create_token(s, get_user(s, email))
        s.commit()
    return {"Authorization": f"Bearer {value}"}


def web_as(app, code: str):
    client = app.test_client()
    assert client.post("/login", data={"email": f"{code}@example.com", "password": PASSWORD}).status_code == 302
    return client


def book_january(s) -> None:
    create_client(s, "acme", "Acme")
    open_engagement(s, ref="e1", client="acme", practice="voice", originator="chen", title="Phones",
                    opened_on=dt.date(2026, 1, 2))
    record_invoice(s, "e1", Decimal("1000.00"), dt.date(2026, 1, 15))


# --- a retired partner votes on nothing ----------------------------------------------------------


@pytest.fixture
def chen_retired_with_an_open_vote(app):
    """Chen is an elector of a resolution opened while he was active, and has since retired."""
    with app.app_context():
        s = get_session()
        resolution = open_proposal(s, get_partner(s, "ana"), "resolution", "Retreat", {"text": "May"}, LATER)
        retirement = open_proposal(s, get_partner(s, "ana"), "retire_partner", "Retire chen",
                                   {"partner": "chen", "effective_period": "2026-01", "successors": {"voice": "ben"}},
                                   LATER)
        for voter in ("ana", "ben"):
            cast_vote(s, retirement.id, get_partner(s, voter), "yes")
        assert close_proposal(s, retirement.id).status == "passed"
        close_period(s, "2026-01")
        s.commit()
        assert get_partner(s, "chen").status == "retired"
        return resolution.id


def votes(app, proposal_id: int) -> int:
    with app.app_context():
        return get_session().scalar(sa.select(sa.func.count()).select_from(Vote).where(Vote.proposal_id == proposal_id))


def test_the_service_refuses_a_retired_partners_vote(app, chen_retired_with_an_open_vote):
    with app.app_context():
        s = get_session()
        with pytest.raises(Forbidden, match="retired"):
            cast_vote(s, chen_retired_with_an_open_vote, get_partner(s, "chen"), "yes")
    assert votes(app, chen_retired_with_an_open_vote) == 0


def test_the_api_refuses_a_retired_partners_vote(app, chen_retired_with_an_open_vote):
    pid = chen_retired_with_an_open_vote
    response = app.test_client().post(f"/api/v1/proposals/{pid}/votes", json={"choice": "yes"},
                                      headers=token(app, "chen@example.com"))
    assert response.status_code == 403 and "retired" in response.get_json()["detail"]
    assert votes(app, pid) == 0


def test_the_web_app_refuses_a_retired_partners_vote(app, chen_retired_with_an_open_vote):
    pid = chen_retired_with_an_open_vote
    chen = web_as(app, "chen")
    page = chen.get(f"/proposals/{pid}").get_data(as_text=True)
    assert "Cast my vote" not in page and "A retired partner votes on nothing" in page
    chen.post(f"/proposals/{pid}/vote", data={"choice": "yes"})
    assert votes(app, pid) == 0
    assert "retired" in chen.get(f"/proposals/{pid}").get_data(as_text=True)


# --- a partner sees only their own capital lines on an entry -------------------------------------


@pytest.fixture
def pool_entry(app) -> int:
    """January closed: the pool entry credits ana's, ben's and chen's capital."""
    with app.app_context():
        s = get_session()
        book_january(s)
        close_period(s, "2026-01")
        s.commit()
        return s.scalar(sa.select(Entry.id).where(Entry.source_type == "close", Entry.memo.like("%common pool%")))


def test_the_read_model_aggregates_the_other_partners_lines(app, pool_entry):
    with app.app_context():
        s = get_session()
        full = entry_view(s, pool_entry, Viewer("treasurer"))
        mine = entry_view(s, pool_entry, Viewer("partner", "ana"))
    capital = {p.account for p in full.postings if p.account.startswith("Equity:Capital:")}
    assert capital == {chart.capital("ana"), chart.capital("ben"), chart.capital("chen")}
    shown = [p.account for p in mine.postings]
    assert chart.capital("ana") in shown and OTHER_PARTNERS in shown
    assert chart.capital("ben") not in shown and chart.capital("chen") not in shown
    others = next(p.amount for p in mine.postings if p.account == OTHER_PARTNERS)
    assert others == sum(p.amount for p in full.postings if p.account in (chart.capital("ben"), chart.capital("chen")))
    assert sum(p.amount for p in mine.postings) == 0  # it still balances on screen
    assert mine.masked and not full.masked


def test_the_web_entry_page_shows_a_partner_only_their_own_capital(app, pool_entry):
    page = web_as(app, "ana").get(f"/ledger/entries/{pool_entry}").get_data(as_text=True)
    assert "Equity:Capital:Ana" in page and "other partners" in page
    assert "Equity:Capital:Ben" not in page and "Equity:Capital:Chen" not in page


def test_the_api_entry_is_the_treasurers(app, pool_entry):
    response = app.test_client().get(f"/api/v1/ledger/entries/{pool_entry}", headers=token(app, "ana@example.com"))
    assert response.status_code == 403


def test_an_entry_moving_no_capital_of_theirs_is_refused_to_a_partner(app, pool_entry):
    with app.app_context():
        s = get_session()
        invoice = s.scalar(sa.select(Entry.id).where(Entry.source_type == "invoice"))
        with pytest.raises(Forbidden):
            entry_view(s, invoice, Viewer("partner", "ana"))
    assert web_as(app, "ana").get(f"/ledger/entries/{invoice}").status_code == 403


# --- only what a person booked is reversed ----------------------------------------------------------


def test_a_close_entry_is_refused_reversal_by_the_service_the_api_and_the_web(app, pool_entry):
    with app.app_context():
        s = get_session()
        with pytest.raises(Conflict, match="made by the product"):
            reverse_entry(s, pool_entry)
        s.rollback()
        entries = s.scalar(sa.select(sa.func.count()).select_from(Entry))
        add_user(s, "tre@example.com", "treasurer", password=PASSWORD)
        s.commit()
    api = app.test_client().post(f"/api/v1/ledger/entries/{pool_entry}/reverse", json={},
                                 headers=token(app, "tre@example.com"))
    assert api.status_code == 409 and "made by the product" in api.get_json()["detail"]
    web = web_as(app, "tre")
    page = web.get(f"/ledger/entries/{pool_entry}").get_data(as_text=True)
    assert "Reverse this entry" not in page
    refused = web.post(f"/ledger/entries/{pool_entry}/reverse", data={})
    assert refused.status_code in (409, 422) and "made by the product" in refused.get_data(as_text=True)
    with app.app_context():
        assert get_session().scalar(sa.select(sa.func.count()).select_from(Entry)) == entries


def test_a_booked_invoice_is_reversed_alike(app, pool_entry):
    """The same gate lets a person's booking through (its period must be open: February)."""
    with app.app_context():
        s = get_session()
        booked = record_invoice(s, "e1", Decimal("10.00"), dt.date(2026, 2, 3)).entry.id
        reversal = reverse_entry(s, booked)
        assert reversal.reverses_id == booked
        assert re.match(r"Reversal of entry \d+", reversal.memo)
