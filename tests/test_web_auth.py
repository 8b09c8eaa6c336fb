"""Signing in and out, CSRF, security headers, the failed sign-in limit, error pages."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa
from helpers.web import PASSWORD, USERS, count_rows, csrf_token, login, text

from ledger.auth import throttle
from ledger.auth.models import SignInThrottle
from ledger.auth.service import create_token, get_user, set_password
from ledger.core.clock import FixedClock
from ledger.practices.models import Client
from ledger.runtime.database import get_session
from ledger.web.security import safe_next


@pytest.fixture
def clock():
    return FixedClock(dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC))


@pytest.fixture
def app(db_url, make_app, clock):
    """Overrides conftest's: the services' clock is one these tests move (the sign-in delays)."""
    return make_app(db_url, CLOCK=clock)


def test_the_login_form_has_the_contract_fields(web):
    web.config["WTF_CSRF_ENABLED"] = True
    page = web.test_client().get("/login")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for name in ("email", "password", "csrf_token"):
        assert f'name="{name}"' in html
    assert 'autocomplete="current-password"' in html


def test_a_partner_signs_in_and_lands_on_the_dashboard(web):
    client = web.test_client()
    response = login(client, "ana")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert "Capital balance" in text(page) and "Ana" in text(page)


def test_the_email_is_not_case_sensitive(web):
    assert login(web.test_client(), "ANA@Example.com").status_code == 302


@pytest.mark.parametrize("email, password", [
    ("ana@example.com", "wrong-password"),
    ("nobody@example.com", PASSWORD),
    ("ana@example.com", ""),
    ("", PASSWORD),
])
def test_bad_credentials_are_refused_with_one_message(web, email, password):
    client = web.test_client()
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code in (401, 422)
    assert client.get("/").status_code == 302  # still signed out
    if response.status_code == 401:
        assert "do not match an account" in text(response)


def test_a_user_without_a_password_cannot_sign_in(web):
    # dana-like partners made by `ledger init` have no password until one is set
    with web.app_context():
        s = get_session()
        get_user(s, "chen@example.com").password_hash = None
        s.commit()
    assert login(web.test_client(), "chen").status_code == 401


def test_pages_need_a_signed_in_user(web):
    response = web.test_client().get("/partners/ana/statements")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_sign_in_returns_to_the_page_asked_for(web):
    client = web.test_client()
    ok = client.post("/login?next=/practices", data={"email": USERS["ana"], "password": PASSWORD})
    assert ok.headers["Location"] == "/practices"


@pytest.mark.parametrize("target", [
    "//evil.example/x", "https://evil.example/", "/\\evil.example",
    # Browsers drop tabs and newlines from a URL, so "/<TAB>/evil.example" is "//evil.example".
    "/%09/evil.example", "/%0a/evil.example", "/%0d/evil.example", "%09//evil.example",
    "/%5Cevil.example", "///evil.example", "http:evil.example", "javascript:alert(1)", "%20//evil.example",
    "/%00/x", "evil.example", "/ok%E2%80%8B/%2F%2F",
])
def test_sign_in_never_returns_off_site(web, target):
    client = web.test_client()
    response = client.post(f"/login?next={target}", data={"email": USERS["ana"], "password": PASSWORD})
    assert response.status_code == 302, (target, response.status_code)
    assert response.headers["Location"] == "/", target


@pytest.mark.parametrize(("target", "expected"), [
    ("/practices", "/practices"),
    ("/partners/ana/statements?year=2026", "/partners/ana/statements?year=2026"),
    ("/proposals/1#votes", "/proposals/1#votes"),
    ("//evil.example", None), ("/\t/evil.example", None), ("/\n/evil.example", None), ("https://localhost/", None),
    ("", None), (None, None), ("/" + "a" * 3000, None),
])
def test_the_one_safe_redirect_rule(web, target, expected):
    with web.test_request_context("/login"):
        assert safe_next(target) == expected


def test_sign_out_is_a_post(web, as_user):
    client = as_user("ana")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 302
    assert client.get("/").status_code == 302


def stolen_copy(web, client):
    """Another client carrying ``client``'s session cookie, as a thief who copied it would."""
    thief = web.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def test_a_copied_session_cookie_stops_working_at_sign_out(web, as_user):
    client = as_user("ana")
    thief = stolen_copy(web, client)
    assert thief.get("/").status_code == 200  # the cookie is the session...
    assert client.post("/logout").status_code == 302
    assert thief.get("/").status_code == 302  # ...and sign-out ended it on the server side
    assert thief.get("/").headers["Location"].startswith("/login")


def test_sign_out_ends_every_session_of_the_user_and_no_one_elses(web, as_user):
    laptop, phone, ben = as_user("ana"), as_user("ana"), as_user("ben")
    assert laptop.post("/logout").status_code == 302
    assert phone.get("/").status_code == 302
    assert ben.get("/").status_code == 200
    assert login(phone, "ana").status_code == 302 and phone.get("/").status_code == 200  # signing in again works


def test_a_password_change_ends_a_copied_session_too(web, as_user):
    thief = stolen_copy(web, as_user("ana"))
    with web.app_context():
        s = get_session()
        set_password(s, get_user(s, USERS["ana"]), "another-password")
        s.commit()
    assert thief.get("/").status_code == 302


def test_a_new_password_signs_the_user_out_elsewhere(web, as_user):
    client = as_user("ana")
    assert client.get("/").status_code == 200
    with web.app_context():
        s = get_session()
        set_password(s, get_user(s, USERS["ana"]), "another-password")
        s.commit()
    assert client.get("/").status_code == 302


def test_an_inactive_user_is_signed_out(web, as_user):
    client = as_user("ben")
    with web.app_context():
        s = get_session()
        get_user(s, USERS["ben"]).active = False
        s.commit()
    assert client.get("/").status_code == 302


# --- CSRF --------------------------------------------------------------------------------------


def test_a_form_without_its_csrf_token_is_refused(web):
    web.config["WTF_CSRF_ENABLED"] = True
    client = web.test_client()
    response = client.post("/login", data={"email": USERS["ana"], "password": PASSWORD})
    assert response.status_code == 400
    assert "did not come from this site" in text(response)
    assert client.get("/").status_code == 302  # not signed in


def test_a_form_with_its_csrf_token_is_accepted(web):
    web.config["WTF_CSRF_ENABLED"] = True
    client = web.test_client()
    token = csrf_token(client.get("/login"))
    response = client.post("/login", data={"email": USERS["ana"], "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302


def test_every_web_post_checks_csrf_once_signed_in(web, as_user):
    client = as_user("treasurer")
    web.config["WTF_CSRF_ENABLED"] = True
    before = client.get("/clients")
    refused = client.post("/clients", data={"code": "acme", "name": "Acme"})
    assert refused.status_code == 400
    assert count_rows(web, Client) == 0
    accepted = client.post("/clients", data={"code": "acme", "name": "Acme", "csrf_token": csrf_token(before)})
    assert accepted.status_code == 302
    assert count_rows(web, Client) == 1
    assert client.post("/logout").status_code == 400  # sign-out is a form too


def test_the_api_is_not_csrf_checked_it_uses_bearer_tokens(web):
    web.config["WTF_CSRF_ENABLED"] = True
    with web.app_context():
        s = get_session()
        token = create_token(s, get_user(s, USERS["treasurer"]))
        s.commit()
    response = web.test_client().post("/api/v1/clients", json={"code": "acme", "name": "Acme"},
                                      headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201


# --- headers and cookies --------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "path"), [(None, "/login"), ("ana", "/")], ids=["signed-out login", "ana's dashboard"])
def test_pages_carry_security_headers(web, as_user, who, path):
    response = (web.test_client() if who is None else as_user(who)).get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "http" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"


def test_the_session_cookie_is_http_only_and_same_site(web):
    response = login(web.test_client(), "ana")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_a_secure_deployment_marks_the_cookie_secure_and_sends_hsts(web):
    web.config["SESSION_COOKIE_SECURE"] = True
    response = login(web.test_client(), "ana")
    assert "Secure" in response.headers["Set-Cookie"]
    assert "max-age" in response.headers["Strict-Transport-Security"]


@pytest.mark.parametrize("path", ["/assets/app.css", "/assets/app.js", "/assets/vendor/chart.umd.js",
                                  "/assets/vendor/chart.js-LICENSE.md"])
def test_static_files_are_served_from_this_origin_with_their_licence(web, path):
    response = web.test_client().get(path)
    assert response.status_code == 200, path
    response.close()


# --- the failed sign-in limit -----------------------------------------------------------------------


def test_failed_sign_ins_are_limited_per_account(web):
    attempts = web.config["LOGIN_ATTEMPTS"]
    client = web.test_client()
    for _ in range(attempts):
        assert login(client, "ana", "wrong-password").status_code == 401
    blocked = login(client, "ana")  # even the right password, until the window passes
    assert blocked.status_code == 429
    assert "Too many failed sign-ins" in text(blocked)
    assert int(blocked.headers["Retry-After"]) > 0
    assert client.get("/").status_code == 302
    assert login(web.test_client(), "ben").status_code == 302  # other accounts are not locked


def test_the_limit_lifts_when_the_delay_passes(web, clock):
    web.config.update(LOGIN_ATTEMPTS=2, LOGIN_DELAY_SECONDS=60)
    client = web.test_client()
    login(client, "ana", "nope-nope")
    login(client, "ana", "nope-nope")
    blocked = login(client, "ana")
    assert blocked.status_code == 429 and blocked.headers["Retry-After"] == "60"
    clock.advance(seconds=61)
    assert login(client, "ana").status_code == 302


def test_each_further_failure_doubles_the_delay(web, clock):
    web.config.update(LOGIN_ATTEMPTS=2, LOGIN_DELAY_SECONDS=60, LOGIN_MAX_DELAY_SECONDS=200)
    client = web.test_client()
    waits = []
    for _ in range(5):
        assert login(client, "ana", "nope-nope").status_code == 401
        with web.app_context():
            waits.append(throttle.retry_after(get_session(), USERS["ana"], "127.0.0.1"))
        if waits[-1]:
            assert login(client, "ana").status_code == 429  # locked: not even the right password is checked
        clock.advance(seconds=waits[-1])
    assert waits == [0, 60, 120, 200, 200]  # the second failure locks; then doubling, up to the maximum


def test_a_success_clears_the_accounts_count(web):
    web.config.update(LOGIN_ATTEMPTS=3)
    login(web.test_client(), "ana", "nope-nope")
    login(web.test_client(), "ana", "nope-nope")
    assert login(web.test_client(), "ana").status_code == 302
    login(web.test_client(), "ana", "nope-nope")
    login(web.test_client(), "ana", "nope-nope")
    assert login(web.test_client(), "ana").status_code == 302


def test_one_address_trying_many_accounts_is_limited_too(web):
    web.config.update(LOGIN_ATTEMPTS=1, LOGIN_ADDRESS_ATTEMPTS=4)
    client = web.test_client()
    for n in range(4):  # four failures from one address, each on another email
        assert client.post("/login", data={"email": f"x{n}@example.com", "password": "nope-nope"}).status_code == 401
    assert login(client, "ana").status_code == 429
    assert login(from_address(web, "10.0.0.7"), "ana").status_code == 302  # another address is not


def from_address(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_the_count_is_shared_by_every_worker(web, make_app, db_url, clock):
    """Two apps on one database are two gunicorn workers: failures on either count once."""
    other = make_app(db_url, CLOCK=clock, WTF_CSRF_ENABLED=False)
    attempts = web.config["LOGIN_ATTEMPTS"]
    workers = [web.test_client(), other.test_client()]
    answers = [login(workers[n % 2], "ana", "wrong-password").status_code for n in range(attempts + 2)]
    assert answers == [401] * attempts + [429, 429]
    for worker in workers:
        assert login(worker, "ana").status_code == 429  # the right password too, on either worker


def test_someone_elses_guesses_never_lock_the_owner_out(web):
    attacker = from_address(web, "203.0.113.66")
    answers = {login(attacker, "ana", f"guess-{n}").status_code for n in range(30)}
    assert answers == {401, 429}
    assert login(attacker, "ana").status_code == 429  # the attacker's address is locked...
    ana = from_address(web, "198.51.100.7")
    assert login(ana, "ana").status_code == 302  # ...ana's own address is not


def test_the_count_keeps_no_email_address(web):
    login(web.test_client(), "ana", "wrong-password")
    with web.app_context():
        rows = get_session().execute(sa.select(SignInThrottle.scope, SignInThrottle.key)).all()
    assert {scope for scope, _ in rows} == {"account", "address"}
    assert all(re.fullmatch(r"[0-9a-f]{64}", key) for _, key in rows)


# --- error pages ----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", [None, "ana"], ids=["signed out", "ana"])
def test_unknown_pages_are_a_404_page(web, as_user, who):
    client = web.test_client() if who is None else as_user(who)
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Nothing here" in text(response)


def test_the_api_keeps_answering_problem_json(web):
    response = web.test_client().get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    response = web.test_client().post("/api/v1/clients", json={})
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_an_unexpected_error_is_a_500_page_and_writes_nothing(web, as_user):
    def broken():
        raise RuntimeError("a bug")

    web.add_url_rule("/broken", "broken", broken)
    web.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: TESTING would re-raise it
    response = as_user("ana").get("/broken")
    assert response.status_code == 500
    assert response.mimetype == "text/html"
    assert "Something went wrong" in text(response) and "Traceback" not in response.get_data(as_text=True)
