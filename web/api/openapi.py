"""The OpenAPI 3.1 document, built from the operations and their pydantic schemas.

Nothing here is written by hand per endpoint: paths come from :data:`web.api.routing.OPERATIONS`
(the same declarations that register the views), and every schema from the pydantic models
that validate the requests and shape the responses. OpenAPI 3.1 uses JSON Schema 2020-12,
which is what pydantic emits, so the schemas go in as they are.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from web.api.routing import OPERATIONS, Operation
from web.api.schemas import MAX_ID, Problem

API_VERSION = "1.0.0"
REF_TEMPLATE = "#/components/schemas/{model}"
PROBLEM_MEDIA = "application/problem+json"

DESCRIPTION = """\
Rank framework suppliers for a need, read the supplier register and keep shortlists.

**Authentication**: send a token as `Authorization: Bearer fm_…`. Create tokens on the
account page (`/account/tokens`) or with `flask tokens create EMAIL --name NAME`. A token
acts as its user: members see their own organisation's shortlists (another organisation's
is a 404); framework admins' tokens read everything but change no shortlist.

**Errors** are problem details (RFC 9457, `application/problem+json`); invalid input is a
422 with `errors: [{field, message}]`. Request bodies are strict JSON: unknown fields and
wrong types are refused.
"""

_DESCRIPTIONS = {
    200: "OK",
    201: "Created",
    204: "Done: no content.",
    400: "The body is not valid JSON.",
    401: "No token, or an unknown or revoked one.",
    403: "Not allowed for this user (an admin changing a shortlist).",
    404: "Not found (or another organisation's).",
    409: "The shortlist is locked.",
    413: "The body is too large.",
    415: "The body is not JSON.",
    422: "Invalid input: see `errors`.",
    503: "The register is being reindexed after a change: try again after `Retry-After` "
         "seconds.",
}


@functools.cache
def build_document() -> dict[str, Any]:
    """The OpenAPI document (built once per process: it depends only on the code)."""
    refs, schemas = _schemas()
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "framework-match API",
            "version": API_VERSION,
            "description": DESCRIPTION,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [{"url": "/api/v1"}],
        "tags": [{"name": tag} for tag in dict.fromkeys(op.tag for op in OPERATIONS)],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token, `fm_` followed by 43 characters.",
                }
            },
        },
    }


def _schemas() -> tuple[dict[tuple[type[BaseModel], JsonSchemaMode], Any], dict[str, Any]]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(Problem, "serialization")]
    for op in OPERATIONS:
        if op.body is not None:
            wanted.append((op.body, "validation"))
        if op.response is not None:
            wanted.append((op.response, "serialization"))
    refs, top = models_json_schema(list(dict.fromkeys(wanted)), ref_template=REF_TEMPLATE)
    return refs, top.get("$defs", {})


def _operation(op: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
    }
    if op.description:
        spec["description"] = op.description
    parameters = [
        {"name": name, "in": "path", "required": True, "description": text,
         "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}
        for name, text in op.path_params.items()
    ]
    if op.query is not None:
        parameters.extend(_query_parameters(op.query))
    if parameters:
        spec["parameters"] = parameters
    if op.body is not None:
        spec["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    responses: dict[str, Any] = {}
    if op.response is not None:
        responses[str(op.status)] = {
            "description": _DESCRIPTIONS.get(op.status, "OK"),
            "content": {"application/json": {"schema": refs[(op.response, "serialization")]}},
        }
    elif op.media_types:
        responses[str(op.status)] = {
            "description": _DESCRIPTIONS.get(op.status, "OK"),
            "content": {media: {"schema": dict(schema)}
                        for media, schema in op.media_types.items()},
        }
    else:  # no body (204)
        responses[str(op.status)] = {"description": _DESCRIPTIONS.get(op.status, "OK")}
    problem = {PROBLEM_MEDIA: {"schema": refs[(Problem, "serialization")]}}
    for status in op.errors:
        responses[str(status)] = {"description": _DESCRIPTIONS[status], "content": problem}
    # Anything else (405, 500, 503, …) is a problem document too.
    responses["default"] = {"description": "An error.", "content": problem}
    spec["responses"] = responses
    spec["security"] = [{"bearerAuth": []}] if op.authenticated else []
    return spec


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(mode="validation", ref_template=REF_TEMPLATE)
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        parameter: dict[str, Any] = {
            "name": name, "in": "query", "required": name in required, "schema": prop,
        }
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters
