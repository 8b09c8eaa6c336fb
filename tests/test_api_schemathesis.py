"""Schemathesis against the live OpenAPI document, as the treasurer and as a partner.

For every operation, a bounded number of generated requests (schemathesis' examples, coverage and
fuzzing phases; valid and invalid) are sent with a treasurer's token, then with ana's (a partner,
books closed). Every built-in check that applies runs (``--checks all``, less the one replaced
below): no server error, status codes, content types, headers and bodies as documented (success
shapes and problem+json alike), invalid data refused, undocumented methods refused, the token
required. Two checks of ours:

- ``the_document_is_the_truth`` (in place of ``positive_data_acceptance``): a request the
  document calls valid is never refused by the *schema layer* (a 422 "the request has invalid
  fields", a 400 or a 415): the document states every bound the server checks. A service may
  still refuse it for what a document cannot know (an unknown partner, a date before the
  partnership, a closed period), as the contract says.
- ``no_leak_to_a_partner``: as ana, every answer is a refusal or ana's own: a 2xx only on routes a
  partner may call; on a partner's own routes (``/partners/{code}/statement|vesting|buyout|grants``)
  only for ``ana``; and no 2xx body (JSON, CSV or PDF) names another partner's capital account
  (``Equity:Capital:Ben``) or is another partner's statement. A partner code in a generated path is
  ana, ben, chen or the generated code (one each in four, from the code itself), and an entry id
  one of the entries that exist, so the check meets real objects and not only 404s.

All operations of a run share one founded database (``fuzzed``: January closed, a resolution
open), so writes made by one operation's requests are there for the next: faster, and closer to a
live server than a fresh database each time.
"""

from __future__ import annotations

import json
import zlib

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi import checks as openapi_checks

from ledger import create_app
from ledger.runtime.http import API_PREFIX


def live_document() -> dict:
    """The OpenAPI document exactly as the app serves it (no database is needed to make it)."""
    app = create_app({"DATABASE_URL": "sqlite://", "TESTING": True, "SECRET_KEY": "doc"})
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


# ``schemathesis.pytest.from_fixture`` would load the document from a fixture, but its lazy loader
# does not run on pytest 9; the document does not depend on the data, so it is loaded once here and
# the requests go to the module's founded app (set on the schema, so the checks' own probes reach
# it too).
schema = schemathesis.openapi.from_dict(live_document())
# Undocumented methods on every path (405s) are left to test_api_errors and the unsupported_method
# check; generating them for every path costs a quarter of the run here.
schema.config.phases.coverage.unexpected_methods = set()

PARTNER = "ana"
OTHERS = ("ben", "chen")
#: A partner's own routes: the partner's (and the treasurer's) alone, whatever the books.
OWN_ROUTES = ("/statement", "/vesting", "/buyout", "/grants")
SCHEMA_LAYER = "the request has invalid fields"


def the_document_is_the_truth(ctx, response, case):
    """A request generated as valid is not refused for its shape (see the module docstring)."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    status = response.status_code
    detail = _json(response).get("detail", "") if response.headers.get("content-type", [""])[0].endswith("json") else ""
    if status in (400, 415) or (status == 422 and detail.startswith(SCHEMA_LAYER)):
        raise AssertionError(f"the document allows what the schema layer refused: {status} {detail}")
    return None


def no_leak_to_a_partner(ctx, response, case):
    """As ana: a refusal, or ana's own data (see the module docstring)."""
    if not 200 <= response.status_code < 300:
        return None
    app = case.operation.app
    path = case.formatted_path
    endpoint = app.url_map.bind("localhost").match(path, method=case.method)[0]
    roles = app.view_functions[endpoint].allowed_roles
    where = f"{case.method} {path} answered {response.status_code} to {PARTNER}"
    assert "partner" in roles or not roles, f"{where}, though only {sorted(roles)} may call it"
    code = (case.path_parameters or {}).get("code")
    if code is not None and path.endswith(OWN_ROUTES):
        assert code == PARTNER, f"{where}: {code}'s own data"
    text = response.content.decode("latin-1")
    for other in OTHERS:
        assert f"Equity:Capital:{other.capitalize()}" not in text, f"{where}: it names {other}'s capital"
    if path.endswith("/statement") and response.headers.get("content-type", [""])[0].endswith("json"):
        assert _json(response).get("partner") == PARTNER, f"{where}: another partner's statement"
    return None


def _json(response) -> dict:
    try:
        body = json.loads(response.content)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


#: Every built-in check, less ``positive_data_acceptance`` (replaced by ``the_document_is_the_truth``:
#: a service's refusal of a well-shaped request, such as an unknown partner, is the contract's 422)
#: and ``object_level_authorization`` (it needs schemathesis' own identities; ``no_leak_to_a_partner``
#: is ours, with this partnership's partners).
CHECKS = [not_a_server_error, openapi_checks.status_code_conformance, openapi_checks.content_type_conformance,
          openapi_checks.response_schema_conformance, openapi_checks.response_headers_conformance,
          openapi_checks.negative_data_rejection, openapi_checks.missing_required_header,
          openapi_checks.unsupported_method, openapi_checks.allow_header_conformance, openapi_checks.use_after_free,
          openapi_checks.ensure_resource_availability, openapi_checks.ignored_auth, the_document_is_the_truth]


def aim_at_real_objects(case, entries: int) -> None:
    """Point a generated partner code at ana, ben, chen or leave it (one in four each, from the code
    itself, so a case replays alike), and an entry id at an entry that exists."""
    params = case.path_parameters
    if not params or case.meta is None or not case.meta.generation.mode.is_positive:
        return  # an invalid case stays invalid
    if isinstance(params.get("code"), str) and case.operation.path.startswith(f"{API_PREFIX}/partners/"):
        pick = zlib.crc32(params["code"].encode("utf-8", "replace")) % 4
        params["code"] = (PARTNER, *OTHERS, params["code"])[pick]
    if isinstance(params.get("entry_id"), int) and params["entry_id"] > 0:
        params["entry_id"] = 1 + params["entry_id"] % entries


SETTINGS = settings(max_examples=15, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large])


def run(case, fuzzed, role: str, checks: list) -> None:
    app = fuzzed.client.application
    case.operation.schema.app = case.operation.app = app
    aim_at_real_objects(case, entries=fuzzed.entries)
    case.call_and_validate(headers=fuzzed.headers(role), checks=checks)


@pytest.fixture(scope="module")
def entries(fuzzed):
    fuzzed.entries = fuzzed.entry_count()
    return fuzzed


@schema.parametrize()
@SETTINGS
def test_no_input_breaks_the_api_as_the_treasurer(case, entries):
    run(case, entries, "treasurer", CHECKS)


@schema.parametrize()
@SETTINGS
def test_a_partner_gets_a_refusal_or_their_own_data(case, entries):
    run(case, entries, "partner", [*CHECKS, no_leak_to_a_partner])


# --- the checks catch what they are for -------------------------------------------------------------


class _Response:
    def __init__(self, status: int, body: bytes, mimetype: str = "application/json"):
        self.status_code, self.content, self.headers = status, body, {"content-type": [mimetype]}


class _Case:
    def __init__(self, app, method: str, path: str, code: str | None = None, positive: bool = True):
        self.method, self.formatted_path = method, path
        self.path_parameters = {"code": code} if code else {}
        self.operation = type("Op", (), {"app": app, "path": path})
        self.meta = type("Meta", (), {"generation": type("G", (), {
            "mode": type("M", (), {"is_positive": positive})})})


@pytest.mark.parametrize(("method", "path", "code", "body"), [
    ("GET", "/api/v1/ledger/trial-balance", None, b"[]"),
    ("GET", "/api/v1/partners/ben/vesting", "ben", b'{"granted": 0}'),
    ("GET", "/api/v1/partners/ana/statement", "ana", b'{"partner": "ben"}'),
    ("GET", "/api/v1/partners/ana/statement", "ana", b'{"partner": "ana", "lines": ["Equity:Capital:Chen"]}'),
])
def test_the_leak_check_fails_on_a_leak(fuzzed, method, path, code, body):
    with pytest.raises(AssertionError):
        no_leak_to_a_partner(None, _Response(200, body), _Case(fuzzed.client.application, method, path, code))


def test_the_leak_check_passes_a_partners_own_data_and_refusals(fuzzed):
    app = fuzzed.client.application
    assert no_leak_to_a_partner(None, _Response(200, b'{"partner": "ana"}'),
                                _Case(app, "GET", "/api/v1/partners/ana/statement", "ana")) is None
    assert no_leak_to_a_partner(None, _Response(403, b"{}"), _Case(app, "GET", "/api/v1/ledger/trial-balance")) is None


def test_the_truth_check_fails_when_the_schema_layer_refuses_valid_data(fuzzed):
    app = fuzzed.client.application
    refused = _Response(422, json.dumps({"detail": f"{SCHEMA_LAYER}: amount"}).encode())
    with pytest.raises(AssertionError):
        the_document_is_the_truth(None, refused, _Case(app, "POST", "/api/v1/draws"))
    by_the_service = _Response(422, b'{"detail": "no partner \'zed\'"}')
    assert the_document_is_the_truth(None, by_the_service, _Case(app, "POST", "/api/v1/draws")) is None
    assert the_document_is_the_truth(None, refused, _Case(app, "POST", "/api/v1/draws", positive=False)) is None
