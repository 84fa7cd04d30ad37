"""The app factory and the database it runs on."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask

from web import create_app
from web.extensions import db


def test_factory_takes_test_config(tmp_path: Path) -> None:
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/a.sqlite3"},
        instance_path=str(tmp_path / "instance"),
    )
    assert app.testing
    assert app.instance_path == str(tmp_path / "instance")


def test_cli_lists_the_commands(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["--help"])
    for group in ("demo", "postcodes", "suppliers", "users", "tokens", "match", "cpv", "db"):
        assert f"  {group} " in result.output


def test_migrations_match_the_models(app_context: Flask) -> None:
    """Upgrading from empty (the session fixture did) gives exactly the models' schema."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


def test_sqlite_runs_in_wal_mode_with_foreign_keys(app_context: Flask) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite settings")
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_migrations_downgrade_to_empty_and_back(tmp_path: Path) -> None:
    import flask_migrate

    url = f"sqlite:///{tmp_path}/m.sqlite3"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "k" * 32},
                     instance_path=str(tmp_path))
    with app.app_context():
        flask_migrate.upgrade()
        assert "suppliers" in sa.inspect(db.engine).get_table_names()
        flask_migrate.downgrade(revision="base")
        assert sa.inspect(db.engine).get_table_names() == ["alembic_version"]
        flask_migrate.upgrade()
        assert "suppliers" in sa.inspect(db.engine).get_table_names()
        db.engine.dispose()
