"""Operations: request ids, the JSON request log, /readyz and /healthz.

Most tests use an app of their own with :func:`web.ops.init_app` applied (idempotent, so
this holds before and after the factory wires it), on a SQLite file of its own: the shared
``app`` may be on the shared PostgreSQL test database, which another app must not reset.
Nothing here is specific to a database backend; recovery after a PostgreSQL restart is
exercised by ``scripts/loadtest.py``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import TEST_SECRET_KEY, AuthActions
from tests.factories import make_user
from web import create_app, ops
from web.extensions import db

UUID_HEX = re.compile(r"[0-9a-f]{32}")
LOG_FIELDS = {"time", "request_id", "method", "path", "status", "duration_ms", "user_id",
              "remote_addr"}
# Nothing listens on port 1 of the loopback: connecting is refused at once.
UNREACHABLE_DATABASE = "postgresql+psycopg://framework@127.0.0.1:1/nothing"


def _make_app(instance: Path, postcodes: Path, **config: object) -> Flask:
    application = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'ops.sqlite3'}",
        "SECRET_KEY": TEST_SECRET_KEY,
        "WTF_CSRF_ENABLED": False,
        "POSTCODES_DIRECTORY_PATH": str(postcodes),
        **config,
    }, instance_path=str(instance))
    ops.init_app(application)
    return application


@pytest.fixture(scope="module")
def ops_app(tmp_path_factory: pytest.TempPathFactory, postcode_directory_path: Path
            ) -> Iterator[Flask]:
    """An app with the operations hooks, on a migrated SQLite database of its own."""
    import flask_migrate

    application = _make_app(tmp_path_factory.mktemp("ops"), postcode_directory_path)
    with application.app_context():
        flask_migrate.upgrade()
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def ops_client(ops_app: Flask) -> FlaskClient:
    return ops_app.test_client()


@pytest.fixture
def access_lines(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The JSON request lines (the access logger does not propagate to the root's handler)."""
    ops.access_log.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger=ops.access_log.name)
    yield caplog
    ops.access_log.removeHandler(caplog.handler)


def _lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == ops.access_log.name]


# ---------------------------------------------------------------------------------------
# Request ids


def test_a_request_id_is_assigned_when_none_is_sent(ops_client: FlaskClient) -> None:
    first = ops_client.get("/healthz").headers[ops.REQUEST_ID_HEADER]
    second = ops_client.get("/healthz").headers[ops.REQUEST_ID_HEADER]
    assert UUID_HEX.fullmatch(first)
    assert UUID_HEX.fullmatch(second)
    assert first != second


@pytest.mark.parametrize("sent", [
    "3f2a9c0e5b7d4e1f8a6b2c4d6e8f0a1b",
    "0b6a4c2e-7f7d-4c3b-9a55-1e2d3c4b5a69",
    "Root=1-67891233-abcdef012345678912345678",
])
def test_a_sane_incoming_request_id_is_kept(ops_client: FlaskClient, sent: str) -> None:
    response = ops_client.get("/healthz", headers={ops.REQUEST_ID_HEADER: sent})
    assert response.headers[ops.REQUEST_ID_HEADER] == sent


@pytest.mark.parametrize("sent", [
    "x" * 129,
    "has space",
    "quote\"and{json}",
    "semi;colon",
    "\u00e9t\u00e9",
])
def test_an_insane_incoming_request_id_is_replaced(ops_client: FlaskClient, sent: str) -> None:
    response = ops_client.get("/healthz", headers={ops.REQUEST_ID_HEADER: sent})
    assert UUID_HEX.fullmatch(response.headers[ops.REQUEST_ID_HEADER])


def test_error_responses_carry_the_request_id_too(ops_client: FlaskClient) -> None:
    response = ops_client.get("/no-such-page", headers={ops.REQUEST_ID_HEADER: "abc-123"})
    assert response.status_code == 404
    assert response.headers[ops.REQUEST_ID_HEADER] == "abc-123"


# ---------------------------------------------------------------------------------------
# The JSON request log


def test_each_request_logs_one_json_line_with_every_field(
    ops_client: FlaskClient, access_lines: pytest.LogCaptureFixture
) -> None:
    response = ops_client.get("/healthz?secret=1", headers={ops.REQUEST_ID_HEADER: "req-1"})
    [line] = _lines(access_lines)
    assert set(line) == LOG_FIELDS
    assert line["request_id"] == "req-1" == response.headers[ops.REQUEST_ID_HEADER]
    assert line["method"] == "GET"
    assert line["path"] == "/healthz"  # the query string is never logged
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["user_id"] is None
    assert line["remote_addr"] == "127.0.0.1"
    assert str(line["time"]).endswith("Z")


def test_the_line_has_the_final_status(
    ops_client: FlaskClient, access_lines: pytest.LogCaptureFixture
) -> None:
    ops_client.get("/no-such-page")
    ops_client.post("/healthz")
    assert [line["status"] for line in _lines(access_lines)] == [404, 405]


def test_the_line_names_the_signed_in_member(
    ops_app: Flask, ops_client: FlaskClient, access_lines: pytest.LogCaptureFixture
) -> None:
    with ops_app.app_context():
        user = make_user()
        db.session.commit()
        user_id = user.id
    AuthActions(ops_client).login_as(user)
    ops_client.get("/healthz")
    assert _lines(access_lines)[-1]["user_id"] == user_id


def test_the_lines_are_json_alone_on_standard_output(
    ops_client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    ops_client.get("/healthz", headers={ops.REQUEST_ID_HEADER: "stdout-check"})
    out = [json.loads(text) for text in capsys.readouterr().out.splitlines() if text]
    assert [line["request_id"] for line in out] == ["stdout-check"]


def test_init_app_twice_logs_once(
    ops_app: Flask, ops_client: FlaskClient, access_lines: pytest.LogCaptureFixture
) -> None:
    ops.init_app(ops_app)
    ops_client.get("/healthz")
    assert len(_lines(access_lines)) == 1


# ---------------------------------------------------------------------------------------
# /readyz and /healthz


def test_readyz_is_200_with_each_check_when_ready(ops_client: FlaskClient) -> None:
    response = ops_client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "index", "postcodes"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["index"]["suppliers"] == 0
    assert body["checks"]["postcodes"]["postcodes"] > 0
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_is_503_naming_the_database_when_it_is_unreachable(
    tmp_path: Path, postcode_directory_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    application = _make_app(tmp_path, postcode_directory_path,
                            SQLALCHEMY_DATABASE_URI=UNREACHABLE_DATABASE)
    response = application.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"] == {"ok": False, "error": "OperationalError",
                                          "ms": body["checks"]["database"]["ms"]}
    assert body["checks"]["index"]["ok"] is False
    assert body["checks"]["postcodes"]["ok"] is True
    assert "127.0.0.1" not in response.get_data(as_text=True)  # details go to the log
    assert any("readiness check database failed" in r.getMessage() for r in caplog.records)
    with application.app_context():
        db.engine.dispose()


def test_readyz_is_503_naming_a_missing_postcode_directory(
    tmp_path: Path, postcode_directory_path: Path
) -> None:
    application = _make_app(tmp_path, postcode_directory_path,
                            POSTCODES_DIRECTORY_PATH=str(tmp_path / "missing.npz"))
    with application.app_context():
        import flask_migrate

        flask_migrate.upgrade()
    response = application.test_client().get("/readyz")
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert checks["postcodes"]["ok"] is False
    assert checks["postcodes"]["error"] == "FileNotFoundError"
    assert checks["database"]["ok"] and checks["index"]["ok"]
    assert not (tmp_path / "missing.npz").exists()  # the probe never starts a build
    with application.app_context():
        db.engine.dispose()


def test_healthz_answers_without_the_database(
    tmp_path: Path, postcode_directory_path: Path
) -> None:
    application = _make_app(tmp_path, postcode_directory_path,
                            SQLALCHEMY_DATABASE_URI=UNREACHABLE_DATABASE)
    response = application.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_on_the_shared_app(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_the_factory_wires_ops(client: FlaskClient) -> None:
    response = client.get("/readyz", headers={ops.REQUEST_ID_HEADER: "wired"})
    assert response.status_code == 200
    assert response.headers[ops.REQUEST_ID_HEADER] == "wired"
