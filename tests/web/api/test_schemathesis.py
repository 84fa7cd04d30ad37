"""A bounded schemathesis run against the OpenAPI document, in-process (WSGI, no network).

Every operation gets examples generated from its schemas, valid and invalid: no response
may be a 5xx, and every response must match the document (status, content type, body).
The run is kept short (``MAX_EXAMPLES`` per operation, derandomised so CI sees the same
cases); the contract tests in the other modules cover behaviour in depth.
"""

from __future__ import annotations

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.web.api.conftest import SEARCH, ApiWorld, build_world
from web.api.openapi import build_document

MAX_EXAMPLES = 15


# The document is built from code alone, so it can be loaded at collection time; the test
# points each case at the app. test_openapi.py checks the app serves
# this same document. (schemathesis.pytest.from_fixture would load it from the app, but
# breaks on pytest 9: it sets the removed ``Node._nodeid``.)
schema = schemathesis.openapi.from_dict(build_document())


@pytest.fixture
def seeded(app: Flask) -> tuple[ApiWorld, int]:
    """The test register and a draft shortlist of the member's with one supplier on it."""
    world = build_world(app)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {world.member}"}
    created = client.post("/api/v1/shortlists", headers=headers,
                          json={"name": "Fuzzed", "search": SEARCH})
    shortlist_id = created.get_json()["id"]
    client.post(f"/api/v1/shortlists/{shortlist_id}/entries", headers=headers,
                json={"supplier_id": world.suppliers[0]})
    return world, shortlist_id


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_matches_its_document(
    case: schemathesis.Case, app: Flask, seeded: tuple[ApiWorld, int]
) -> None:
    world, shortlist_id = seeded
    # Send to the app in-process (WSGI), the checks' own probes included.
    case.operation.schema.app = app
    # Valid cases aim at a real shortlist half the time, so the generated bodies reach the
    # operation rather than stopping at a 404 (which the contract tests cover).
    drawn = (case.path_parameters or {}).get("shortlist_id")
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if positive and isinstance(drawn, int) and drawn % 2 == 0:
        case.path_parameters["shortlist_id"] = shortlist_id
    # positive_data_acceptance is left out: inputs can be valid by the schema yet refused
    # by a business rule with a documented 4xx (an unknown postcode or supplier id, a
    # need with no words and no CPV code, a locked shortlist).
    case.call_and_validate(
        app=app,
        headers={"Authorization": f"Bearer {world.member}"},
        excluded_checks=[positive_data_acceptance],
    )
