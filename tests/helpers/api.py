"""A small client for the API tests, and the shape every refusal must have.

``ApiClient`` speaks ``/api/v1`` with a role's token; the fixtures that make one (``api``,
``booked``, ``shared``) are in ``tests/fixtures/api.py``.
"""

from __future__ import annotations

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


def book_an_engagement(api: ApiClient) -> ApiClient:
    """Clients ``acme`` and ``beta``, and ENG-1: acme's engagement of the voice practice, by ben."""
    api.ok("POST", "/clients", {"code": "acme", "name": "Acme Dental"}, status=201)
    api.ok("POST", "/clients", {"code": "beta", "name": "Beta Law"}, status=201)
    api.ok("POST", "/engagements", {"ref": "ENG-1", "client": "acme", "practice": "voice", "originator": "ben",
                                    "title": "Phone system", "opened_on": "2026-01-05"}, status=201)
    return api


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


def blind_first_key_lookup(monkeypatch) -> list:
    """Force a lost race on an ``Idempotency-Key``: the next request's lookup (the caller's and the
    key's, in one query) is made blind to the key's record, so it writes as if first and meets the
    record at the key's unique constraint. Returns the lookups' findings, in order: the first one
    is what the blinded lookup really found (a test asserts it was there)."""
    from ledger.api import transaction

    real_authenticate = transaction.authenticate
    found: list = []

    def blind_once(session, key=None):
        caller, stored = real_authenticate(session, key)
        found.append(stored)
        return caller, (None if len(found) == 1 else stored)

    monkeypatch.setattr(transaction, "authenticate", blind_once)
    return found
