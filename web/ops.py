"""Operations: a request id and one JSON log line per request, and the readiness check.

``init_app(app)`` makes every request carry an id: a sane ``X-Request-ID`` sent by the
client (or the reverse proxy in front) is kept, anything else is replaced by a fresh uuid4
hex. The id is echoed in the response's ``X-Request-ID`` header, is ``g.request_id`` for
the code handling the request, and is in that request's log line.

Each request ends with one line of JSON on the ``web.access`` logger, written to standard
output by a handler of its own (so the line is JSON alone, without the text prefix of the
other log messages, which go to standard error)::

    {"time": "2025-01-31T10:02:03.123Z", "request_id": "…", "method": "POST",
     "path": "/api/v1/search", "status": 200, "duration_ms": 8.41, "user_id": 12,
     "remote_addr": "127.0.0.1"}

``user_id`` is the signed-in member's id (or the API token's user), else null. The query
string is left out on purpose: searches carry what members typed. ``remote_addr`` is the
client's address as the proxy reports it when ``BEHIND_HTTPS_PROXY=1``.

The ``ops`` blueprint serves ``/readyz``: 200 when the database answers ``SELECT 1``, the
matching index for the current data is built (it is built now if it was not, so a probe
also warms a new worker) and the postcode directory opens; else 503, naming the failed
check. ``/healthz`` (in :mod:`web.views.main`) only says the process answers.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import time
import uuid
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from web.extensions import db

__all__ = ["REQUEST_ID_HEADER", "access_log", "bp", "init_app", "request_id"]

REQUEST_ID_HEADER = "X-Request-ID"
# What we accept from outside: uuids, nginx's $request_id, base64 and dotted trace ids.
# Nothing that could split a header or a log line, and not more than a sane length.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9+/=._:-]{1,128}")

access_log = logging.getLogger("web.access")
log = logging.getLogger(__name__)

bp = Blueprint("ops", __name__)


def init_app(app: Flask) -> None:
    """Assign request ids and log each request as a JSON line; serve ``/readyz``.

    The hooks are put first in line whatever the order of registration: the clock starts
    before any other ``before_request`` function runs (sign-in state, rate limits), and the
    line is written after every other ``after_request`` function has had its say. Calling
    this twice on one app changes nothing.
    """
    if "ops" in app.blueprints:
        return
    app.register_blueprint(bp)
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    # after_request functions run in reverse order of registration: first in the list is last.
    app.after_request_funcs.setdefault(None, []).insert(0, _finish_request)
    app.teardown_request(_teardown_request)
    _add_json_handler()


def request_id() -> str | None:
    """The current request's id (None outside a request)."""
    return g.get("request_id")


# ---------------------------------------------------------------------------------------
# The request hooks


def _start_request() -> None:
    g.request_started = time.perf_counter()
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex


def _finish_request(response: Response) -> Response:
    if g.get("request_id") is None:  # a before_request function ran before ours and failed
        g.request_id = uuid.uuid4().hex
    response.headers[REQUEST_ID_HEADER] = g.request_id
    _log_request(response.status_code)
    return response


def _teardown_request(error: BaseException | None) -> None:
    # after_request is skipped only when the error handling itself failed: still one line.
    if not g.get("request_logged") and g.get("request_id") is not None:
        _log_request(500)


def _log_request(status: int) -> None:
    g.request_logged = True
    if not access_log.isEnabledFor(logging.INFO):
        return
    started = g.get("request_started")
    duration_ms = None if started is None else round((time.perf_counter() - started) * 1000, 2)
    access_log.info(json.dumps({
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "request_id": g.get("request_id"),
        "method": request.method,
        "path": request.path,
        "status": status,
        "duration_ms": duration_ms,
        "user_id": _user_id(),
        "remote_addr": request.remote_addr,
    }, ensure_ascii=False))


def _user_id() -> int | None:
    """The id of the signed-in user or the API token's user, without touching the database
    (the request's commit has expired the object: reading ``.id`` would reload it)."""
    user = g.get("api_user") or g.get("user")
    if user is None:
        return None
    identity = sa.inspect(user).identity
    return identity[0] if identity else None


class _JsonLineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes the message alone: it is already a line of JSON."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)
        self.setFormatter(logging.Formatter("%(message)s"))

    # Whatever sys.stdout is when the line is written (as logging.lastResort does for
    # stderr), not the one there was when the handler was made.
    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _add_json_handler() -> None:
    if not any(isinstance(h, _JsonLineHandler) for h in access_log.handlers):
        access_log.addHandler(_JsonLineHandler())
    # Not also through the "web" logger's text handler (Flask's default one).
    access_log.propagate = False


# ---------------------------------------------------------------------------------------
# /readyz


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Readiness for load balancers: database, matching index and postcode directory."""
    checks: dict[str, dict[str, Any]] = {}
    checks["database"] = _check("database", _check_database)
    if checks["database"]["ok"]:
        checks["index"] = _check("index", _check_index)
    else:
        checks["index"] = {"ok": False, "error": "skipped: the database is not reachable"}
    checks["postcodes"] = _check("postcodes", _check_postcodes)
    ready = all(check["ok"] for check in checks.values())
    response = jsonify(status="ready" if ready else "not ready", checks=checks)
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def _check(name: str, probe: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        details = probe() or {}
    except Exception as error:  # any failure at all means "not ready", said plainly
        db.session.rollback()
        # The full message (hosts, paths) goes to the log, not to an unauthenticated caller.
        log.warning("readiness check %s failed (request %s): %s: %s",
                    name, request_id(), type(error).__name__, error)
        return {"ok": False, "error": type(error).__name__,
                "ms": round((time.perf_counter() - started) * 1000, 1)}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1), **details}


def _check_database() -> dict[str, Any]:
    db.session.execute(sa.text("SELECT 1"))
    return {}


def _check_index() -> dict[str, Any]:
    from web.services.matching import get_index

    index = get_index()
    return {"suppliers": index.size, "data_version": index.data_version}


def _check_postcodes() -> dict[str, Any]:
    from web.postcodes import directory_path_for, get_directory

    # A probe must not start the minutes-long build that a first search would.
    if not directory_path_for(current_app).exists():
        raise FileNotFoundError("the postcode directory is not built (flask postcodes build)")
    return {"postcodes": len(get_directory(current_app))}
