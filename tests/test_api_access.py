"""Who may call what: every route under /api/v1 declares its rule, and a walk of every route ×
(no token, a bad token, each role) checks the answer — 401 without a valid token, 403 for a role
the rule leaves out, and for a role it admits anything but 401/403 (and never a 5xx).

A route added without ``@requires(...)`` or ``@public`` makes ``test_every_api_route_declares_who_may_call_it``
fail; give a new path parameter a sample value in ``helpers.routes.SAMPLES`` if the defaults do
not fit.
"""

from __future__ import annotations

from importlib import import_module

import pytest
from flask import Flask
from flask_smorest import Blueprint as SmorestBlueprint
from helpers.api import PROBLEM, ROLES, assert_problem
from helpers.routes import api_routes

from ledger import create_app
from ledger.api import BLUEPRINTS
from ledger.api.openapi import LedgerApi
from ledger.api.transaction import PUBLIC_ENDPOINTS
from ledger.auth.service import get_user, revoke_tokens
from ledger.runtime.database import get_session
from ledger.runtime.http import API_PREFIX

#: Every route under /api/v1, from an app made to list them (its routes need no database): one case
#: of the walk below each.
ROUTES = api_routes(create_app({"DATABASE_URL": "sqlite://", "TESTING": True, "SECRET_KEY": "routes"}))


def undeclared(app: Flask) -> list[str]:
    """Routes under /api/v1 whose view declares no access rule."""
    return sorted({
        f"{method} {url} ({endpoint})" for endpoint, method, url in api_routes(app)
        if endpoint not in PUBLIC_ENDPOINTS and not hasattr(app.view_functions[endpoint], "allowed_roles")
    })


def call(client, method, url, headers):
    if method == "GET":
        return client.get(url, headers=headers)
    return client.open(url, method=method, json={}, headers=headers)


def test_every_api_route_declares_who_may_call_it(founded):
    assert api_routes(founded), "no API routes found"
    assert api_routes(founded) == ROUTES  # the walk below covers every route
    assert undeclared(founded) == []


def test_a_route_without_a_rule_is_caught(make_app, db_url):
    app = make_app(db_url)
    app.add_url_rule(f"{API_PREFIX}/sneaky", "sneaky", lambda: "{}")
    assert undeclared(app) == [f"GET {API_PREFIX}/sneaky (sneaky)"]


@pytest.mark.parametrize(("endpoint", "method", "url"), ROUTES, ids=[f"{method} {url}" for _, method, url in ROUTES])
def test_every_route_by_every_caller(api, founded, endpoint, method, url):
    client = founded.test_client()
    view = founded.view_functions[endpoint]
    allowed = frozenset() if endpoint in PUBLIC_ENDPOINTS else view.allowed_roles
    if endpoint in PUBLIC_ENDPOINTS or not allowed:
        response = call(client, method, url, {})
        assert response.status_code == 200, (method, url, response.status_code)
        return
    for headers in ({}, {"Authorization": "Bearer pl_not-a-token"}, {"Authorization": "Basic YWxhZGRpbg=="}):
        assert_problem(call(client, method, url, headers), 401)
    for role in ROLES:
        response = call(client, method, url, {"Authorization": f"Bearer {api.tokens[role]}"})
        where = (method, url, role, response.status_code, response.data[:300])
        assert response.status_code < 500, where
        if role in allowed:
            assert response.status_code not in (401, 403), where
        else:
            assert response.status_code == 403, where
            assert response.mimetype == PROBLEM


def test_the_walk_asks_every_role_of_at_least_twenty_protected_routes(founded):
    checked = sum(len(ROLES) for endpoint, _, _ in ROUTES
                  if endpoint not in PUBLIC_ENDPOINTS and founded.view_functions[endpoint].allowed_roles)
    assert checked >= 3 * 20


@pytest.mark.parametrize(("method", "path", "roles"), [
    ("GET", "/partners", {"admin", "treasurer", "partner"}),
    ("GET", "/engagements", {"admin", "treasurer", "partner"}),
    ("POST", "/clients", {"admin", "treasurer"}),
    ("POST", "/draws", {"admin", "treasurer"}),
    ("GET", "/ledger/trial-balance", {"admin", "treasurer"}),
    ("POST", "/ledger/entries", {"admin", "treasurer"}),
])
def test_the_contracts_roles(shared, method, path, roles):
    app = shared.client.application
    endpoint = app.url_map.bind("localhost").match(API_PREFIX + path, method=method)[0]
    assert app.view_functions[endpoint].allowed_roles == roles


def test_a_revoked_token_is_refused(api, founded):
    assert api.get("/partners").status_code == 200
    with founded.app_context():
        session = get_session()
        revoke_tokens(session, get_user(session, "tre@example.com"))
        session.commit()
    problem = assert_problem(api.get("/partners"), 401)
    assert api.get("/partners").headers["WWW-Authenticate"].startswith("Bearer")
    assert "revoked" in problem["detail"]


def test_the_token_of_a_deactivated_user_is_refused_and_works_again_once_reactivated(api, founded):
    assert api.get("/partners").status_code == 200
    for active, status in ((False, 401), (True, 200)):
        with founded.app_context():
            session = get_session()
            get_user(session, "tre@example.com").active = active
            session.commit()
        assert api.get("/partners").status_code == status


def test_a_partner_may_read_but_not_book(api):
    assert api.get("/practices", role="partner").status_code == 200
    body = {"code": "acme", "name": "Acme"}
    assert_problem(api.post("/clients", body, role="partner"), 403)
    assert api.post("/clients", body, role="admin").status_code == 201


def test_the_openapi_document_is_public_and_declares_the_bearer_scheme(shared):
    response = shared.get("/openapi.json", role=None)
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.")
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": "a token from `ledger token create`"}
    assert doc["paths"]["/api/v1/health"]["get"]["security"] == []
    assert doc["paths"]["/api/v1/clients"]["post"]["security"] == [{"bearerAuth": []}]
    headers = [p["name"] for p in doc["paths"]["/api/v1/clients"]["post"]["parameters"]]
    assert "Idempotency-Key" in headers
    schema = doc["components"]["schemas"]["InvoiceIn"]
    assert schema["properties"]["amount"]["type"] == "string"


def test_the_document_is_built_when_first_read_and_is_the_one_built_at_once(monkeypatch):
    """``create_app`` puts off documenting the blueprints (a third of its time) until the document
    is read; the document is then the one flask-smorest builds at registration."""
    documented = []
    register = SmorestBlueprint.register_views_in_doc

    def spy(blp, *args, **kwargs):
        documented.append(blp.name)
        return register(blp, *args, **kwargs)

    monkeypatch.setattr(SmorestBlueprint, "register_views_in_doc", spy)
    config = {"DATABASE_URL": "sqlite://", "TESTING": True, "SECRET_KEY": "doc"}
    lazy = create_app(config)
    assert documented == []
    first = lazy.test_client().get(f"{API_PREFIX}/openapi.json")
    assert first.status_code == 200
    assert len(documented) == len(BLUEPRINTS)
    assert lazy.test_client().get(f"{API_PREFIX}/openapi.json").get_json() == first.get_json()
    assert len(documented) == len(BLUEPRINTS)  # once

    monkeypatch.setattr(LedgerApi, "LAZY", False)
    eager = create_app(config)
    assert len(documented) == 2 * len(BLUEPRINTS)  # at registration, as flask-smorest does
    assert eager.test_client().get(f"{API_PREFIX}/openapi.json").get_json() == first.get_json()
    # in registration order
    assert [tag["name"] for tag in first.get_json()["tags"]] == [import_module(name).bp.name for name in BLUEPRINTS]


# --- object-level: a partner gets a refusal or their own data ----------------------------------------

OWN_ROUTES = ("/statement", "/vesting", "/buyout", "/grants")


def object_routes(app) -> list[tuple[str, str, str]]:
    """Every API route naming a partner or an entry, for each other partner and each entry of
    ``fuzzed`` (January closed: its close entries move ben's and chen's capital)."""
    out = []
    for code in ("ben", "chen"):
        for entry_id in range(1, 9):
            for endpoint, method, url in api_routes(app, {"code": code, "entry_id": entry_id}):
                rule = app.url_map._rules_by_endpoint[endpoint][0]
                if ("code" in rule.arguments and entry_id == 1) or ("entry_id" in rule.arguments and code == "ben"):
                    out.append((endpoint, method, url))
    return sorted(set(out))


def test_a_partner_gets_403_or_their_own_data_on_every_object_route(fuzzed):
    app = fuzzed.client.application
    routes = object_routes(app)
    assert len(routes) >= 25, routes
    assert fuzzed.entry_count() >= 5  # the founding, an invoice, a payment and January's two close entries
    statuses = []
    for endpoint, method, url in routes:
        query = "?period=2026-01" if url.endswith("/statement") else ""
        response = call(app.test_client(), method, url + query, fuzzed.headers("partner"))
        where = (method, url, response.status_code, response.data[:200])
        statuses.append(response.status_code)
        assert response.status_code < 500, where
        if "partner" not in app.view_functions[endpoint].allowed_roles or url.endswith(OWN_ROUTES):
            assert response.status_code == 403, where
        text = response.get_data(as_text=True)
        assert "Equity:Capital:Ben" not in text and "Equity:Capital:Chen" not in text, where
    assert statuses.count(403) >= 20
