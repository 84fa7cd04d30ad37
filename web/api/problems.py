"""Problem details (RFC 9457) raised by the API, and their JSON form.

HTTP errors raised with ``abort`` are already answered as problem details under ``/api/``
by :mod:`web.errors`; :class:`ApiProblem` is for the API's own problems that carry more:
a specific ``detail`` and, for invalid input, ``errors: [{field, message}]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import Response, jsonify, request
from pydantic import ValidationError
from werkzeug.http import HTTP_STATUS_CODES

from web.errors import PROBLEM_JSON

__all__ = ["PROBLEM_JSON", "ApiProblem", "field_errors", "problem_response"]

# Friendlier words for pydantic's error types than its defaults (which may quote a regex).
_MESSAGES = {
    "string_pattern_mismatch": "must not contain control characters",
    "extra_forbidden": "is not a field of this request",
    "missing": "is required",
    "finite_number": "must be a finite number",
}


class ApiProblem(Exception):
    """An error to answer as problem details with ``status``."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Sequence[Mapping[str, str]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = [dict(e) for e in errors]
        self.headers = dict(headers or {})


def problem_response(problem: ApiProblem) -> Response:
    """``problem`` as an ``application/problem+json`` response."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTP_STATUS_CODES.get(problem.status, "Error"),
        "status": problem.status,
        "detail": problem.detail,
        "instance": request.path,
    }
    if problem.errors:
        body["errors"] = problem.errors
    response = jsonify(body)
    response.status_code = problem.status
    response.mimetype = PROBLEM_JSON
    response.headers.extend(problem.headers)
    return response


def field_errors(error: ValidationError, *, prefix: str = "") -> list[dict[str, str]]:
    """pydantic's errors as ``[{field, message}]``; ``field`` is a dotted path.

    The rejected input is never echoed back: it may be huge or hold control characters.
    """
    found = []
    for item in error.errors(include_input=False, include_url=False):
        path = ".".join(str(part) for part in item["loc"])
        field = ".".join(p for p in (prefix, path) if p)
        message = _MESSAGES.get(item["type"], item["msg"])
        found.append({"field": field, "message": message})
    return found
