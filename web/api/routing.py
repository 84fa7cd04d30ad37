"""Declaring API operations: one decorator registers the URL rule, validates the request
with the operation's schemas, authenticates the caller, and records everything the
OpenAPI document needs (:mod:`web.api.openapi` reads :data:`OPERATIONS`).

A view declared with :func:`operation` receives the validated ``body`` and ``query``
models and the authenticated ``user`` as keyword arguments, and returns a pydantic model
(serialised as JSON with the declared status) or a ready :class:`flask.Response`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, get_origin

from flask import Blueprint, Response, g, jsonify, request
from pydantic import BaseModel, ValidationError
from werkzeug.datastructures import WWWAuthenticate

from web.api.problems import ApiProblem, field_errors
from web.api.schemas import MAX_ID
from web.db_setup import commit_idempotent
from web.models import User

__all__ = ["OPERATIONS", "Operation", "api_user", "json_reply", "operation"]

MAX_BODY_BYTES = 256 * 1024  # the largest valid body (a search with every list full) is ~30 KB
JSON_MEDIA = re.compile(r"^application/(?:[\w.+-]+\+)?json$")
REALM = "framework-match API"


@dataclass(frozen=True)
class Operation:
    """One API operation, as the OpenAPI document describes it."""

    method: str
    path: str  # OpenAPI form: /shortlists/{shortlist_id}
    operation_id: str
    summary: str
    description: str
    tag: str
    status: int
    response: type[BaseModel] | None
    body: type[BaseModel] | None
    body_required: bool
    query: type[BaseModel] | None
    path_params: Mapping[str, str]
    errors: tuple[int, ...]
    authenticated: bool
    #: Media types of a non-JSON success response (exports), to schema.
    media_types: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


OPERATIONS: list[Operation] = []

_PATH_PARAM = re.compile(r"<(?:[a-z]+(?:\([^)]*\))?:)?(\w+)>")


def operation(
    bp: Blueprint,
    method: str,
    rule: str,
    *,
    tag: str,
    status: int = 200,
    response: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    body_required: bool = True,
    query: type[BaseModel] | None = None,
    path_params: Mapping[str, str] | None = None,
    errors: tuple[int, ...] = (),
    authenticated: bool = True,
    media_types: Mapping[str, Mapping[str, Any]] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
    """Register the decorated view as ``method rule`` on ``bp`` and in :data:`OPERATIONS`.

    Integer path parameters in ``rule`` should be written ``<id:name>``: a positive 32-bit
    integer (anything else is a 404, never a database error). The view's docstring gives
    the summary (first line) and description (the rest).
    """
    rule = rule.replace("<id:", f"<int(min=1, max={MAX_ID}):")

    def decorator(view: Callable[..., Any]) -> Callable[..., Response]:
        summary, _, description = (view.__doc__ or view.__name__).strip().partition("\n")
        OPERATIONS.append(Operation(
            method=method.lower(),
            path=_PATH_PARAM.sub(r"{\1}", rule),
            operation_id=view.__name__,
            summary=summary.strip(),
            description=_dedent(description),
            tag=tag,
            status=status,
            response=response,
            body=body,
            body_required=body_required,
            query=query,
            path_params=dict(path_params or {}),
            errors=_error_statuses(errors, authenticated=authenticated, body=body, query=query),
            authenticated=authenticated,
            media_types=dict(media_types or {}),
        ))

        @functools.wraps(view)
        def wrapped(**path_kwargs: Any) -> Response:
            kwargs: dict[str, Any] = dict(path_kwargs)
            if authenticated:
                kwargs["user"] = _authenticate()
            if query is not None:
                kwargs["query"] = _parse_query(query)
            if body is not None:
                kwargs["body"] = _parse_body(body, required=body_required)
            result = view(**kwargs)
            if isinstance(result, Response):
                return result
            return json_reply(result, status)

        bp.add_url_rule(rule, endpoint=view.__name__, view_func=wrapped, methods=[method])
        return wrapped

    return decorator


def json_reply(model: BaseModel, status: int) -> Response:
    """``model`` as the JSON response an operation answers with, status ``status``."""
    reply = jsonify(model.model_dump(mode="json"))
    reply.status_code = status
    return reply


def api_user() -> User:
    """The user the current request's token belongs to."""
    return g.api_user  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------
# Authentication


def _authenticate() -> User:
    """The user of the request's bearer token.

    Only the ``Authorization`` header counts: a browser's session cookie never authenticates
    an API call (the API is exempt from CSRF, so cookies must not work here).

    :raise ApiProblem: 401 with ``WWW-Authenticate: Bearer`` when the token is missing,
        unknown or revoked, or its user is deactivated.
    """
    from web.services.tokens import authenticate, touch_token

    auth = request.authorization
    if auth is None or auth.type != "bearer" or not auth.token:
        raise _unauthorized("Send an API token: Authorization: Bearer fm_…", error=None)
    token = authenticate(auth.token)
    if token is None:
        raise _unauthorized("The API token is unknown or revoked.", error="invalid_token")
    if touch_token(token):
        commit_idempotent()
    g.api_user = token.user
    g.api_token_id = token.id
    return token.user


def _unauthorized(detail: str, *, error: str | None) -> ApiProblem:
    challenge = WWWAuthenticate("bearer", {"realm": REALM})
    if error:  # RFC 6750 §3: say why a token that was sent is refused
        challenge.parameters["error"] = error
    return ApiProblem(401, detail, headers={"WWW-Authenticate": challenge.to_header()})


# ---------------------------------------------------------------------------------------
# Request parsing


def _parse_query(model: type[BaseModel]) -> BaseModel:
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name not in request.args:
            continue
        many = get_origin(info.annotation) is list
        values[name] = request.args.getlist(name) if many else request.args.get(name)
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise ApiProblem(422, "The query parameters have invalid values: see errors.",
                         errors=field_errors(error)) from None


def _parse_body(model: type[BaseModel], *, required: bool) -> BaseModel | None:
    """The request's JSON body validated by ``model``.

    :raise ApiProblem: 415 not JSON, 413 too large, 400 malformed JSON, 422 invalid values.
    """
    if not required and not request.content_length and not request.headers.get(
        "Transfer-Encoding"
    ):
        return None
    if not JSON_MEDIA.match(request.mimetype or ""):
        raise ApiProblem(415, "Send the request body as JSON (Content-Type: application/json).")
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise ApiProblem(413, f"The request body is larger than {MAX_BODY_BYTES // 1024} KB.")
    # Kept on the request (not read off the stream) so that a view run again after a lost
    # database connection (web.db_setup) parses the same body. The read is bounded by the
    # request's max_content_length (MAX_TEXT_BODY_LENGTH), whatever Content-Length claimed.
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY_BYTES:
        raise ApiProblem(413, f"The request body is larger than {MAX_BODY_BYTES // 1024} KB.")
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        if any(item["type"] == "json_invalid" for item in error.errors()):
            raise ApiProblem(400, "The request body is not valid JSON (UTF-8).") from None
        raise ApiProblem(422, "The request body has invalid values: see errors.",
                         errors=field_errors(error)) from None


def _error_statuses(
    errors: tuple[int, ...], *, authenticated: bool, body: type | None, query: type | None
) -> tuple[int, ...]:
    """The problem statuses an operation can answer with, besides ``errors``."""
    codes = set(errors)
    if authenticated:
        codes.add(401)
    if body is not None or query is not None:
        codes.add(422)
    if body is not None:
        codes.update((400, 413, 415))
    return tuple(sorted(codes))


def _dedent(text: str) -> str:
    lines = text.strip("\n").splitlines()
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(indents, default=0)
    return "\n".join(line[cut:] for line in lines).strip()
