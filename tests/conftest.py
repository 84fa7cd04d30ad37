"""Shared fixtures: an app on a real database (SQLite by default, PostgreSQL when
``TEST_DATABASE_URL`` is set), migrated from empty once per session and emptied after each
test; a CLI runner; the postcode directory built once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from web import create_app
from web.extensions import db

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
TEST_SECRET_KEY = "test-secret-key-" + "x" * 32


def database_url(tmp_dir: Path) -> str:
    """The database tests run against."""
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_dir / 'test.sqlite3'}"


def reset_database(url: str) -> None:
    """Drop everything in the test database, so migrations start from empty."""
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
        else:
            metadata = sa.MetaData()
            metadata.reflect(connection)
            metadata.drop_all(connection)
    engine.dispose()


@pytest.fixture(scope="session")
def postcode_directory_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The compiled postcode directory, built once for the whole session."""
    from web.postcodes import build_directory

    path = tmp_path_factory.mktemp("postcodes") / "postcodes.npz"
    build_directory(path)
    return path


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory, postcode_directory_path: Path) -> Iterator[Flask]:
    """The application on a freshly migrated test database."""
    import flask_migrate

    instance = tmp_path_factory.mktemp("instance")
    url = database_url(instance)
    reset_database(url)
    application = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": TEST_SECRET_KEY,
        "WTF_CSRF_ENABLED": False,
        "POSTCODES_DIRECTORY_PATH": str(postcode_directory_path),
    }, instance_path=str(instance))
    with application.app_context():
        flask_migrate.upgrade()
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _empty_tables_after_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Leave every table empty and the rate limits reset for the next test (only for
    tests that used the app)."""
    yield
    if "app" not in request.fixturenames:
        return
    from web.extensions import limiter

    limiter.reset()
    application: Flask = request.getfixturevalue("app")
    with application.app_context():
        db.session.remove()
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(table.delete())


@pytest.fixture
def app_context(app: Flask) -> Iterator[Flask]:
    """An application context, for tests that call services directly."""
    with app.app_context():
        yield app
        db.session.rollback()


@pytest.fixture
def sql_statements(app: Flask) -> Iterator[list[str]]:
    """Every SQL statement the app's engine runs while the test runs, in order."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def client(app: Flask):  # type: ignore[no-untyped-def]
    """A test client."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """A CLI runner for ``flask`` commands."""
    return app.test_cli_runner()


def shared_data(*parts: str) -> Path:
    """A path under ``../shared/data``; skips the test when a user's clone lacks it."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (shared benchmark data, not part of a user's clone)")
    return path


class AuthActions:
    """Sign a test client in as a user without going through the form."""

    def __init__(self, client) -> None:  # type: ignore[no-untyped-def]
        self._client = client

    def login_as(self, user) -> None:  # type: ignore[no-untyped-def]
        from web.auth import start_session

        with self._client.session_transaction() as session:
            session.clear()
            start_session(session, user)

    def logout(self) -> None:
        with self._client.session_transaction() as session:
            session.clear()


@pytest.fixture
def auth(client) -> AuthActions:  # type: ignore[no-untyped-def]
    """Sign the ``client`` in and out."""
    return AuthActions(client)
