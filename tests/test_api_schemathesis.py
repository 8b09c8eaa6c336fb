"""Schemathesis against the live OpenAPI document: for every operation, a bounded number of
generated requests (schemathesis' examples, coverage and fuzzing phases; valid and invalid) sent
with a treasurer's token must get no server error and no response that breaks the document's own
schema (success shapes and problem+json alike).

All operations share one founded database (``shared``: set up once for the module, on the engine
under test, with a client, an engagement and an invoice so generated requests can reach codes that
exist), so writes made by one operation's requests are there for the next: it is faster, and closer
to a live server than a fresh database each time.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from ledger import create_app


def live_document() -> dict:
    """The OpenAPI document exactly as the app serves it (no database is needed to make it)."""
    app = create_app({"DATABASE_URL": "sqlite://", "TESTING": True, "SECRET_KEY": "doc"})
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


# ``schemathesis.pytest.from_fixture`` would load the document from a fixture, but its lazy loader
# does not run on pytest 9; the document does not depend on the data, so it is loaded once here and
# the requests go to the module's founded app (``app=``).
schema = schemathesis.openapi.from_dict(live_document())
# Undocumented methods on every path (405s) are left to test_api_errors; they cost a quarter of
# the run here.
schema.config.phases.coverage.unexpected_methods = set()


@schema.parametrize()
@settings(max_examples=15, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_no_input_breaks_the_api(case, shared):
    case.call_and_validate(app=shared.client.application, headers=shared.headers("treasurer"),
                           checks=[not_a_server_error, response_schema_conformance])
