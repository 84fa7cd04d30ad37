"""The OpenAPI document: valid OpenAPI 3.1, served as built, and covering every API route."""

from __future__ import annotations

import re

from flask import Flask
from openapi_spec_validator import OpenAPIV31SpecValidator

from web.api import schemas
from web.api.openapi import build_document
from web.services.matching import MAX_LIMIT


def test_the_document_is_valid_openapi_3_1(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/openapi.json")  # no token needed
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"] == "3.1.0"
    OpenAPIV31SpecValidator(document).validate()
    assert document == build_document()


def test_every_api_route_is_documented(app: Flask) -> None:
    documented = {
        (method.upper(), "/api/v1" + path)
        for path, operations in build_document()["paths"].items()
        for method in operations
    }
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and rule.endpoint != "api.openapi_document":
            path = re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", rule.rule)
            routed.update((m, path) for m in rule.methods - {"HEAD", "OPTIONS"})
    assert routed == documented


def test_request_schemas_are_the_validating_models() -> None:
    document = build_document()
    components = document["components"]["schemas"]
    assert components["SearchRequest"]["properties"]["limit"]["maximum"] == MAX_LIMIT
    own = schemas.SearchRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    own.pop("$defs")
    assert components["SearchRequest"] == own
    assert components["SearchRequest"]["additionalProperties"] is False
    search = document["paths"]["/search"]["post"]
    assert search["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SearchRequest"}
    assert search["security"] == [{"bearerAuth": []}]
    assert search["responses"]["422"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"}
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_query_and_path_parameters_are_documented() -> None:
    paths = build_document()["paths"]
    suppliers = {p["name"]: p for p in paths["/suppliers"]["get"]["parameters"]}
    assert suppliers["per_page"]["schema"]["maximum"] == 100
    assert suppliers["per_page"]["in"] == "query"
    entry = paths["/shortlists/{shortlist_id}/entries/{entry_id}"]["delete"]
    assert {p["name"] for p in entry["parameters"] if p["in"] == "path"} == {
        "shortlist_id", "entry_id"}
    assert entry["requestBody"]["required"] is False
