"""Who may open what in the web app: every web route × anonymous, ana (a partner, whose pages the
sample URLs name), ben (another partner), the treasurer and an admin, with the status class each
must get — and no page a partner opens names another partner's capital account (closed books).

Each route declares its rule in ``RULES``; a route without one fails
``test_every_web_route_declares_who_may_open_it``. The rules:

- ``public``: anyone (sign-in, static files);
- ``signed_in``: every signed-in user; the anonymous are sent to sign in;
- ``self``: a partner's own pages (statements and their downloads, vesting): that partner, the
  treasurer and an admin; another partner gets a 403 (the books are closed);
- ``own_entry``: an entry's page, for an entry that moves only ana's capital: ana, the treasurer,
  an admin; ben gets a 403 (the read model's rule, ``core.access.may_open_entry``);
- ``partner``: partners only (voting, proposing); the treasurer and an admin get a 403;
- ``treasurer``: the treasurer and an admin; partners get a 403.

Allowed: a GET answers 200 or a redirect that is not to the sign-in page, and the refusals a
page's own rules make (a 404 for a file that is not there); a POST (an empty form: CSRF is off
here, tested in ``test_web_auth.py``) anything but a 401/403, a 5xx or the sign-in page.
"""

from __future__ import annotations

import pytest
from helpers.routes import WEB_SAMPLES, web_routes
from helpers.web import USERS, login

from ledger import create_app

RULES = {
    "static": "public", "assets.static": "public", "auth.login": "public",
    "auth.logout": "signed_in", "partner.home": "signed_in", "partner.my_statements": "signed_in",
    "partner.my_vesting": "signed_in", "partner.partners": "signed_in", "partner.practices": "signed_in",
    "governance.index": "signed_in", "governance.show": "signed_in", "governance.close": "signed_in",
    "bookkeeping.engagements": "signed_in", "bookkeeping.engagement": "signed_in",
    "partner.statements": "self", "partner.statement_page": "self", "partner.statement_download_csv": "self",
    "partner.statement_download_pdf": "self", "partner.vesting": "self", "partner.explain_line": "self",
    "books.entry": "own_entry",
    "governance.vote": "partner", "governance.cancel": "partner", "governance.choose_kind": "partner",
    "governance.new": "partner", "governance.delegate": "partner", "governance.revoke_delegation": "partner",
    "governance.delegate_standing": "partner", "governance.revoke_standing": "partner",
    "bookkeeping.clients": "treasurer", "bookkeeping.firms": "treasurer", "bookkeeping.new_engagement": "treasurer",
    "bookkeeping.new_invoice": "treasurer", "bookkeeping.new_cost": "treasurer",
    "bookkeeping.new_payment": "treasurer", "bookkeeping.new_overhead": "treasurer",
    "bookkeeping.new_draw": "treasurer", "books.periods": "treasurer", "books.close": "treasurer",
    "books.entries": "treasurer", "books.reverse": "treasurer", "books.new_entry": "treasurer",
    "books.accounts": "treasurer", "books.trial_balance_page": "treasurer", "books.verify": "treasurer",
    "economics.income": "signed_in", "economics.income_download_csv": "signed_in",
    "economics.income_download_pdf": "signed_in", "economics.practice": "signed_in", "economics.firm_page": "signed_in",
    "notify.index": "signed_in", "notify.mark_read": "signed_in", "notify.settings": "signed_in",
    "notify.rotate_calendar": "signed_in", "notify.feed": "public", "notify.unsubscribe": "public",
}
CALLERS = (None, "ana", "ben", "treasurer", "admin")
ALLOWED = {
    "public": set(CALLERS),
    "signed_in": {"ana", "ben", "treasurer", "admin"},
    "self": {"ana", "treasurer", "admin"},
    "own_entry": {"ana", "treasurer", "admin"},
    "partner": {"ana", "ben"},
    "treasurer": {"treasurer", "admin"},
}
ROUTES = web_routes(create_app({"DATABASE_URL": "sqlite://", "TESTING": True, "SECRET_KEY": "routes"}), WEB_SAMPLES)


def test_every_web_route_declares_who_may_open_it():
    assert {endpoint for endpoint, _, _ in ROUTES} == set(RULES)


def test_the_walk_covers_every_rule_and_method():
    assert {RULES[e] for e, _, _ in ROUTES} == set(ALLOWED)
    assert sum(1 for _, method, _ in ROUTES if method == "POST") >= 15


@pytest.fixture
def clients(web_module):
    """A signed-in client per caller (the anonymous one signed in as nobody), afresh for each route:
    a sign-out ends every session of its user."""
    out = {None: web_module.test_client()}
    for who in CALLERS[1:]:
        out[who] = web_module.test_client()
        assert login(out[who], who).status_code == 302
    return out


def _request(client, method: str, url: str):
    response = client.get(url) if method == "GET" else client.post(url, data={})
    response.get_data()
    response.close()  # a static file's response holds the file open until closed
    return response


def _to_sign_in(response) -> bool:
    return response.status_code == 302 and response.headers["Location"].startswith("/login")


@pytest.mark.parametrize(("endpoint", "method", "url"), ROUTES, ids=[f"{m} {u}" for _, m, u in ROUTES])
def test_every_web_route_by_every_caller(web_module, clients, endpoint, method, url):
    url = url.replace("/ledger/entries/1", f"/ledger/entries/{web_module.ana_draw}")
    rule = RULES[endpoint]
    for who in CALLERS:
        client = clients[who]
        response = _request(client, method, url)
        where = (method, url, who, response.status_code, response.headers.get("Location"))
        assert response.status_code < 500, where
        if who in ALLOWED[rule]:
            assert response.status_code not in (401, 403), where
            assert not _to_sign_in(response) or endpoint == "auth.logout", where
            if method == "GET" and rule != "public":
                assert response.status_code in (200, 302), where
        elif who is None:
            assert _to_sign_in(response), where
        else:
            assert response.status_code == 403, where
        if who in ("ana", "ben") and response.status_code == 200:
            text = response.get_data(as_text=True) if response.mimetype.startswith("text/") else \
                response.data.decode("latin-1")
            for other in {"ana", "ben", "chen"} - {who}:
                assert f"Equity:Capital:{other.capitalize()}" not in text, (*where, f"names {other}'s capital")


def test_the_sample_entry_is_anas_alone(web_module, clients):
    page = clients["ana"].get(f"/ledger/entries/{web_module.ana_draw}").get_data(as_text=True)
    assert "Equity:Capital:Ana" in page
    assert clients["ben"].get(f"/ledger/entries/{web_module.ana_draw}").status_code == 403


def test_users_sample_list_matches_the_callers():
    assert set(CALLERS[1:]) <= set(USERS)
