"""Fixtures and a small client for the API tests: the worked example founded, one user per role
with a token, and helpers that speak ``/api/v1`` with a role's token.

Imported by the ``test_api_*`` modules (``from api_helpers import ...``): the fixtures must be in
a test module's namespace for pytest to find them.
"""

from __future__ import annotations

import shutil
import uuid

import pytest
from conftest import ENGINE, WORKED_CHARTER, create_pg_database, drop_pg_database, migrate

from ledger import create_app
from ledger.auth.service import add_user, create_token, get_user
from ledger.runtime.database import get_session

PREFIX = "/api/v1"
ROLES = ("admin", "treasurer", "partner")
PROBLEM = "application/problem+json"


class ApiClient:
    """The Flask test client with a token per role: ``api.post("/clients", {...})`` as treasurer."""

    def __init__(self, client, tokens: dict[str, str]):
        self.client = client
        self.tokens = tokens

    def headers(self, role: str | None, key: str | None = None, extra: dict | None = None) -> dict:
        headers = {}
        if role is not None:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        if key is not None:
            headers["Idempotency-Key"] = key
        headers.update(extra or {})
        return headers

    def get(self, path: str, role: str | None = "treasurer", **kwargs):
        return self.client.get(PREFIX + path, headers=self.headers(role), **kwargs)

    def post(self, path: str, body=None, role: str | None = "treasurer", key: str | None = None,
             headers: dict | None = None, **kwargs):
        if body is not None:
            kwargs["json"] = body
        return self.client.post(PREFIX + path, headers=self.headers(role, key, headers), **kwargs)

    def ok(self, method: str, path: str, body=None, status: int | None = None, **kwargs):
        """A request that must succeed; returns its JSON."""
        response = self.get(path, **kwargs) if method == "GET" else self.post(path, body, **kwargs)
        assert response.status_code < 300, (response.status_code, response.get_json())
        if status is not None:
            assert response.status_code == status, response.get_json()
        return response.get_json()

    def trial_balance(self) -> list[dict]:
        return self.ok("GET", "/ledger/trial-balance")

    def entry_count(self) -> int:
        return self.ok("GET", "/ledger/verify")["entries"]


@pytest.fixture
def tokens(founded) -> dict[str, str]:
    """A token for an admin, a treasurer, and ana (a partner user made by ``ledger init``)."""
    with founded.app_context():
        session = get_session()
        out = {
            "admin": create_token(session, add_user(session, "admin@example.com", "admin")),
            "treasurer": create_token(session, add_user(session, "tre@example.com", "treasurer")),
            "partner": create_token(session, get_user(session, "ana@example.com")),
        }
        session.commit()
    return out


@pytest.fixture
def api(founded, tokens) -> ApiClient:
    return ApiClient(founded.test_client(), tokens)


def book_an_engagement(api: ApiClient) -> ApiClient:
    """Clients ``acme`` and ``beta``, and ENG-1: acme's engagement of the voice practice, by ben."""
    api.ok("POST", "/clients", {"code": "acme", "name": "Acme Dental"}, status=201)
    api.ok("POST", "/clients", {"code": "beta", "name": "Beta Law"}, status=201)
    api.ok("POST", "/engagements", {"ref": "ENG-1", "client": "acme", "practice": "voice", "originator": "ben",
                                    "title": "Phone system", "opened_on": "2026-01-05"}, status=201)
    return api


@pytest.fixture
def booked(api):
    return book_an_engagement(api)


@pytest.fixture(scope="module")
def shared(template_url, tmp_path_factory):
    """One founded app for a whole module, for tests that only read or are refused (they check
    that nothing was written, so they can share it) and for schemathesis (whose writes stay in its
    module): the worked example, a token per role, ENG-1 with 500.00 invoiced on 2026-01-20 and
    100.00 of it paid on 2026-03-01.

    It has a database of its own (on PostgreSQL too: the per-test fixtures truncate the shared one).
    """
    tmp = tmp_path_factory.mktemp("shared")
    name = None
    if ENGINE == "postgresql":
        name = f"pl_shared_{uuid.uuid4().hex[:10]}"
        url = create_pg_database(name)
        migrate(url)
    else:
        shutil.copy(template_url.removeprefix("sqlite:///"), tmp / "ledger.db")
        url = f"sqlite:///{tmp / 'ledger.db'}"
    app = create_app({"DATABASE_URL": url, "TESTING": True, "SECRET_KEY": "test"})
    (tmp / "charter.toml").write_text(WORKED_CHARTER)
    assert app.test_cli_runner().invoke(args=["init", str(tmp / "charter.toml")]).exit_code == 0
    with app.app_context():
        session = get_session()
        tokens = {
            "admin": create_token(session, add_user(session, "admin@example.com", "admin")),
            "treasurer": create_token(session, add_user(session, "tre@example.com", "treasurer")),
            "partner": create_token(session, get_user(session, "ana@example.com")),
        }
        session.commit()
    api = book_an_engagement(ApiClient(app.test_client(), tokens))
    api.ok("POST", "/engagements/ENG-1/invoices", {"amount": "500.00", "date": "2026-01-20"})
    api.ok("POST", "/payments", {"client": "acme", "amount": "100.00", "date": "2026-03-01"})
    yield api
    app.extensions["ledger.engine"].dispose()
    if name is not None:
        drop_pg_database(name)


def assert_problem(response, status: int, field: str | None = None):
    """An RFC 9457 problem with ``status``, naming ``field`` among its errors when given."""
    assert response.status_code == status, (response.status_code, response.data[:500])
    assert response.mimetype == PROBLEM, response.mimetype
    body = response.get_json(force=True)
    assert set(body) == {"type", "title", "status", "detail", "errors"}, body
    assert body["status"] == status
    if field is not None:
        assert field in body["errors"], body
    return body
