"""Schemathesis against the live OpenAPI document: for every operation, a bounded number of
generated requests (valid and invalid) sent with a treasurer's token must get no server error and
no response that breaks the document's own schema (success shapes and problem+json alike)."""

from __future__ import annotations

import pytest
import schemathesis
from api_helpers import api, booked, tokens  # noqa: F401 (fixtures)
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance


@pytest.fixture
def api_schema(booked, founded):
    """The document as the app serves it, over the worked example with a client and an engagement
    (so generated requests can also reach codes that exist)."""
    booked.ok("POST", "/engagements/ENG-1/invoices", {"amount": "900.00", "date": "2026-01-20"})
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", founded)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=15, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
def test_no_input_breaks_the_api(case, api):
    case.call_and_validate(headers={"Authorization": f"Bearer {api.tokens['treasurer']}"},
                           checks=[not_a_server_error, response_schema_conformance])
