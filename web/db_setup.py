"""Everything about the database connection: extensions, migrations and SQLite settings."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event

from web.extensions import db, migrate

# Shipped inside the package so an installed (non-editable) copy can still migrate.
MIGRATIONS_DIRECTORY = Path(__file__).resolve().parent / "migrations"


def init_app(app: Flask) -> None:
    """Bind SQLAlchemy and Alembic (Flask-Migrate) to ``app``."""
    import web.models  # noqa: F401  (registers every table on the metadata)

    db.init_app(app)
    # Batch mode: SQLite can only ALTER a table by copying it; Alembic does that for us.
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIRECTORY), render_as_batch=True)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_on_connect)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers run beside one writer (several gunicorn workers); FKs enforced."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
