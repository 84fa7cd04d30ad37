"""POST /api/v1/search: ranked results with breakdowns, and hostile or invalid input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask

from tests.web.api.conftest import NEED, SEARCH, Api, ApiWorld, assert_problem
from web.api.routing import MAX_BODY_BYTES
from web.api.schemas import SearchResponse, SearchResult
from web.extensions import db
from web.models import AuditEvent
from web.services.versions import version_token


def test_search_ranks_with_breakdowns_and_versions(app: Flask, api: Api, world: ApiWorld) -> None:
    response = api.post("/search", token=world.member, json=SEARCH)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert [r["supplier_id"] for r in body["results"]] == list(world.suppliers)
    assert body["total"] == 3
    assert body["excluded"] == {"no_capability_match": 1}
    assert body["algorithm_version"] and body["data_version"]
    assert body["location"]["latitude"] == SEARCH["lat"]
    first = body["results"][0]
    assert first["rank"] == 1
    components = first["breakdown"]["components"]
    assert [c["component"] for c in components] == ["capability", "distance", "social_value"]
    assert round(sum(c["contribution"] for c in components), 1) == round(first["score"], 1)
    with app.app_context():
        event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "search.run"))
        assert event is not None
        assert event.actor_id == world.member_id
        assert event.organisation_id == world.org_id
        assert event.details["inputs"]["need"] == NEED


def test_a_search_reads_the_data_version_in_its_token_lookup(
    app: Flask, api: Api, world: ApiWorld, sql_statements: list[str]
) -> None:
    assert api.post("/search", token=world.member, json=SEARCH).status_code == 200  # the index
    with app.app_context():
        current = version_token()
    sql_statements.clear()
    body = api.post("/search", token=world.member, json=SEARCH).get_json()
    version_reads = [s for s in sql_statements if "data_versions" in s]
    assert len(version_reads) == 1 and "api_tokens" in version_reads[0]
    # the version read that way is the one the index was built for: no rebuild, current
    assert body["data_version"] == current and body["index_current"] is True


@pytest.mark.parametrize("extra", [
    {},
    {"social_value": [{"code": "SV-APP", "weight": 2}], "contract_value": 500000},
    {"postcode": "L36 9YU", "lat": None, "lon": None, "limit": 1, "offset": 1},
])
def test_search_response_is_exactly_the_documented_schema(
    api: Api, world: ApiWorld, extra: dict[str, Any]
) -> None:
    """The view builds its JSON by hand (no re-validation): hold it to SearchResponse."""
    body = {k: v for k, v in {**SEARCH, **extra}.items() if v is not None}
    response = api.post("/search", token=world.member, json=body)
    assert response.status_code == 200, response.get_json()
    found = response.get_json()
    assert found["results"]
    assert SearchResponse.model_validate(found).model_dump(mode="json") == found
    # in the documented order, not alphabetical: a breakdown reads as a waterfall
    assert list(json.loads(response.get_data())["results"][0]) == list(SearchResult.model_fields)
    component = found["results"][0]["breakdown"]["components"][0]
    assert list(component) == ["component", "value", "weight", "contribution", "reason"]


def test_search_by_postcode_with_filters_weights_and_paging(api: Api, world: ApiWorld) -> None:
    body = {
        "need": NEED, "postcode": "L36 9YU", "lots": ["L1"], "limit": 1, "offset": 1,
        "social_value": [{"code": "SV-APP", "weight": 2}], "contract_value": 500000,
        "weights": {"capability": 1, "distance": 1}, "filters": {"sme_only": False},
    }
    response = api.post("/search", token=world.member, json=body)
    assert response.status_code == 200, response.get_json()
    found = response.get_json()
    assert found["total"] == 2  # the lot L1 suppliers
    assert [r["rank"] for r in found["results"]] == [2]
    assert found["location"]["postcode"] == "L36 9YU"
    assert found["location"]["la_code"]
    assert (found["limit"], found["offset"]) == (1, 1)


@pytest.mark.parametrize(("body", "field"), [
    ({**SEARCH, "radius": 10}, "radius"),  # unknown field
    ({**SEARCH, "lat": "53.4"}, "lat"),  # a string is not a number
    ({**SEARCH, "limit": 10_000}, "limit"),
    ({**SEARCH, "limit": True}, "limit"),
    ({**SEARCH, "radius_km": 0}, "radius_km"),
    ({**SEARCH, "contract_value": 1e300}, "contract_value"),
    ({**SEARCH, "need": "x" * 6000}, "need"),
    ({**SEARCH, "need": "bad\u0000byte"}, "need"),
    ({**SEARCH, "postcode": "L1\u0007 1AA"}, "postcode"),
    ({**SEARCH, "cpv_codes": ["1" * 50]}, "cpv_codes.0"),
    ({**SEARCH, "social_value": [{"code": "SV-APP", "weight": -1}]}, "social_value.0.weight"),
    ({**SEARCH, "filters": {"sme_only": "yes"}}, "filters.sme_only"),
    ({**SEARCH, "weights": {"capability": -1}}, "weights.capability"),
    ({"need": NEED}, "postcode"),  # no location: refused by the search parser
    ({"lat": 53.4, "lon": -2.9}, "need"),  # neither a need nor a CPV code
    ({**SEARCH, "cpv_codes": ["nonsense"]}, "cpv_codes"),
    ({"need": NEED, "postcode": "ZZ99 9ZZ"}, "postcode"),
    ({**SEARCH, "filters": {"required_accreditations": ["x" * 101]}},
     "filters.required_accreditations.0"),
])
def test_invalid_search_inputs_are_422_naming_the_field(
    api: Api, world: ApiWorld, body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(api.post("/search", token=world.member, json=body), 422)
    assert field in [e["field"] for e in problem["errors"]], problem
    assert all(e["message"] for e in problem["errors"])


@pytest.mark.parametrize(("data", "content_type", "status"), [
    (b"{not json", "application/json", 400),
    (b'{"need": "x", ', "application/json", 400),
    (b"\xff\xfe\x00", "application/json", 400),
    (b'{"need": "\\ud800"}', "application/json", 400),  # a lone surrogate
    (b'{"need": "walls", "lat": NaN, "lon": 1}', "application/json", 422),
    (b'{"need": "walls", "lat": 1e999, "lon": 1}', "application/json", 422),
    (b'{"need": "walls", "limit": ' + b"9" * 5000 + b"}", "application/json", 400),
    (b"[]", "application/json", 422),
    (b"null", "application/json", 422),
    (json.dumps(SEARCH).encode(), "text/plain", 415),
    (json.dumps(SEARCH).encode(), "application/x-www-form-urlencoded", 415),
    (b"", "application/json", 400),
    (b'{"need": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}', "application/json", 413),
])
def test_malformed_bodies_are_4xx_never_5xx(
    api: Api, world: ApiWorld, data: bytes, content_type: str, status: int
) -> None:
    response = api.post("/search", token=world.member, data=data,
                        headers={"Content-Type": content_type})
    assert_problem(response, status)


def test_json_with_a_suffix_media_type_is_accepted(api: Api, world: ApiWorld) -> None:
    response = api.post("/search", token=world.member, data=json.dumps(SEARCH),
                        headers={"Content-Type": "application/vnd.api+json; charset=utf-8"})
    assert response.status_code == 200


def test_unknown_social_value_option_is_a_4xx(api: Api, world: ApiWorld) -> None:
    body = {**SEARCH, "social_value": [{"code": "NOPE", "weight": 1}]}
    response = api.post("/search", token=world.member, json=body)
    assert response.status_code in (200, 422)  # the engine may ignore or refuse it, never 5xx


def test_wrong_method_is_a_problem_document(api: Api, world: ApiWorld) -> None:
    response = api.get("/search", token=world.member)
    assert_problem(response, 405)
