"""Error pages: GOV.UK-style HTML pages, or problem details (RFC 9457) under ``/api/``.

Every HTTP error ends here, including unhandled exceptions, which Flask logs and turns
into a 500 first. Nothing about the failure itself (traceback, exception text, SQL) is
ever shown: the pages and problem documents hold fixed wording only.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from web.extensions import db

API_PREFIX = "/api/"
PROBLEM_JSON = "application/problem+json"
FORM_URLENCODED = "application/x-www-form-urlencoded"

# Status codes with a page of their own in templates/errors/; others use errors/error.html.
ERROR_PAGES = frozenset({400, 403, 404, 405, 413, 429, 500, 503})
# Told to clients when the database is unreachable: about a restart's length.
DATABASE_RETRY_AFTER_S = 5


def init_app(app: Flask) -> None:
    """Register the error handlers."""
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(OperationalError, handle_database_unavailable)


def handle_database_unavailable(
    error: OperationalError,
) -> Response | tuple[Response | str, int]:
    """The database could not be reached or was lost mid-request (a restart, a lock held
    too long): a 503 with Retry-After, not a 500, so clients know to try again."""
    current_app.logger.error("database unavailable: %s", error, exc_info=error)
    return handle_http_error(ServiceUnavailable(retry_after=DATABASE_RETRY_AFTER_S))


def handle_http_error(error: HTTPException) -> Response | tuple[Response | str, int]:
    """Render ``error`` as a page, or as problem details for an API path."""
    code = error.code or 500
    if code >= 500:
        _rollback()
    if request.path.startswith(API_PREFIX):
        return _problem(error, code)
    template = f"errors/{code}.html" if code in ERROR_PAGES else "errors/error.html"
    context = {
        "code": code,
        "name": error.name,
        "csrf_expired": isinstance(error, CSRFError),
        "max_upload_mb": _max_upload_mb(),
        # A form without files (URL-encoded) too large is not "a file" too big.
        "form_too_big": code == 413 and request.mimetype == FORM_URLENCODED,
    }
    response = current_app.make_response((render_template(template, **context), code))
    _copy_headers(error, response)
    return response


def _problem(error: HTTPException, code: int) -> Response:
    body = {
        "type": "about:blank",
        "title": error.name,
        "status": code,
        "instance": request.path,
    }
    # Werkzeug's descriptions are fixed, user-facing sentences; a 500's wrapped
    # exception is never included (InternalServerError keeps its generic text).
    if error.description and not isinstance(error, InternalServerError):
        body["detail"] = error.description
    response = jsonify(body)
    response.status_code = code
    response.mimetype = PROBLEM_JSON
    _copy_headers(error, response)
    return response


def _copy_headers(error: HTTPException, response: Response) -> None:
    # Keep protocol headers the exception carries (Allow on a 405, Retry-After on a
    # 429 or 503, WWW-Authenticate on a 401), not its Content-Type.
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value


def _rollback() -> None:
    # A failed request may leave the session in a broken transaction; the next
    # request on this thread must not inherit it.
    try:
        db.session.rollback()
    except SQLAlchemyError:
        current_app.logger.exception("rollback after a server error failed")


def _max_upload_mb() -> int | None:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    return limit // (1024 * 1024) if limit else None
