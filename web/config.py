"""Configuration, read from the environment in one place.

Settings (all optional):

``DATABASE_URL``
    SQLAlchemy URL. Default: SQLite in the instance folder (WAL mode, busy timeout set).
    ``sqlite:///…`` and ``postgresql://…`` (psycopg 3) are supported.
``SECRET_KEY``
    Signs sessions and CSRF tokens. If unset, one is generated once into the instance
    folder (``instance/secret_key``, mode 0600) and reused, so it is never a constant.
``LOG_LEVEL``
    DEBUG, INFO, WARNING, ERROR or CRITICAL. Default INFO.
``POSTCODE_DIRECTORY``
    Path of the compiled postcode directory. Default: in the instance folder.
``RATELIMIT_STORAGE_URI``
    Where sign-in rate-limit counters live. Default ``memory://`` (per worker process);
    ``redis://host:6379`` shares them between workers.
``DATABASE_CONNECT_RETRY_S``
    PostgreSQL only: for how many seconds a new connection that the server refuses (it is
    restarting, or briefly unreachable) is retried before the request fails. Default 10;
    0 turns retrying off.
``INDEX_REFRESH_WAIT_S``
    After the register changes, each worker rebuilds its matching index in the background.
    A search waits for the rebuild only if the last build took at most this long, so a
    small register is always current; a large one is searched with the previous index
    meanwhile (about 10 s at 100,000 suppliers). Default 2; 0 never waits.
``INDEX_DIRECTORY``
    Where built matching indexes are saved, so that the gunicorn workers of a host build
    each once and share it. Default: ``index/`` in the instance folder; ``off`` keeps
    every index in its process's memory only.
``BEHIND_HTTPS_PROXY``
    ``1`` when a reverse proxy terminates HTTPS in front of gunicorn: trust its
    X-Forwarded-* headers, mark session cookies Secure and send HSTS. Default off.

A bad setting raises :class:`ConfigError` with a one-line message naming it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

SUPPORTED_DATABASES = ("sqlite", "postgresql")
DEFAULT_DATABASE_FILE = "framework-match.sqlite3"
SECRET_KEY_FILE = "secret_key"
MIN_SECRET_KEY_LENGTH = 16  # characters; shorter keys are guessable
# SQLite waits this long for a lock held by another gunicorn worker before failing.
SQLITE_BUSY_TIMEOUT_S = 15
# A PostgreSQL restart takes a few seconds; requests wait that out instead of failing.
DEFAULT_CONNECT_RETRY_S = 10.0
MAX_CONNECT_RETRY_S = 60.0  # gunicorn's worker timeout: a request must not wait longer
# A search waits for an index rebuild expected to take at most this long (seconds).
DEFAULT_REFRESH_WAIT_S = 2.0
MAX_REFRESH_WAIT_S = 30.0  # well under gunicorn's worker timeout


class ConfigError(Exception):
    """A setting in the environment is missing or invalid."""


def load_config(environ: Mapping[str, str], instance_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Return the Flask configuration mapping built from ``environ``.

    :raise ConfigError: when a setting is invalid; the message names the setting.
    """
    instance = Path(instance_path)
    config: dict[str, Any] = {
        "SQLALCHEMY_DATABASE_URI": _database_url(environ, instance),
        "SECRET_KEY": _secret_key(environ, instance),
        "LOG_LEVEL": _log_level(environ),
        "POSTCODES_DIRECTORY_PATH": environ.get("POSTCODE_DIRECTORY") or None,
        "DATABASE_CONNECT_RETRY_S": _seconds(
            environ, "DATABASE_CONNECT_RETRY_S", DEFAULT_CONNECT_RETRY_S, MAX_CONNECT_RETRY_S
        ),
        "INDEX_REFRESH_WAIT_S": _seconds(
            environ, "INDEX_REFRESH_WAIT_S", DEFAULT_REFRESH_WAIT_S, MAX_REFRESH_WAIT_S
        ),
        "INDEX_DIRECTORY": environ.get("INDEX_DIRECTORY", "").strip() or None,
        "BEHIND_HTTPS_PROXY": _flag(environ, "BEHIND_HTTPS_PROXY"),
        "RATELIMIT_STORAGE_URI": environ.get("RATELIMIT_STORAGE_URI") or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
    }
    return config


def _database_url(environ: Mapping[str, str], instance: Path) -> str:
    raw = environ.get("DATABASE_URL", "").strip()
    if not raw:
        instance.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{instance / DEFAULT_DATABASE_FILE}"
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError(
            f"DATABASE_URL is not a valid database URL: {raw!r} "
            "(expected e.g. sqlite:///path/to/file.sqlite3 or postgresql://user@host/db)"
        ) from None
    backend = url.get_backend_name()
    if backend not in SUPPORTED_DATABASES:
        raise ConfigError(
            f"DATABASE_URL uses {backend!r}; supported databases are "
            + " and ".join(SUPPORTED_DATABASES)
        )
    if backend == "postgresql" and url.drivername == "postgresql":
        # Plain postgresql:// would pick psycopg2, which we do not install; use psycopg 3.
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def engine_options(database_url: str) -> dict[str, Any]:
    """SQLAlchemy engine options suited to the database at ``database_url``."""
    if make_url(database_url).get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    # No pre-ping: it costs a round trip on every request (one of an API search's five),
    # and a pooled connection that a restart or an idle timeout broke is already handled
    # without it. Its first query fails as a disconnect, which invalidates the whole pool,
    # and the request runs again on a new connection (every view and before_request hook
    # is wrapped: web.db_setup.retry_views_after_disconnect; the index's background
    # rebuild retries once).
    return {"pool_pre_ping": False}


def _secret_key(environ: Mapping[str, str], instance: Path) -> str:
    raw = environ.get("SECRET_KEY")
    if raw is not None:
        if len(raw) < MIN_SECRET_KEY_LENGTH:
            raise ConfigError(
                f"SECRET_KEY is too short: use at least {MIN_SECRET_KEY_LENGTH} random characters"
            )
        return raw
    instance.mkdir(parents=True, exist_ok=True)
    key_file = instance / SECRET_KEY_FILE
    if not key_file.exists():
        # Exclusive create: two workers starting together must not overwrite each other.
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
    key = key_file.read_text().strip()
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(f"SECRET_KEY file {key_file} is empty or too short: delete it to regenerate")
    return key


def _flag(environ: Mapping[str, str], name: str) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be 1 or 0 (got {raw!r})")


def _seconds(environ: Mapping[str, str], name: str, default: float, maximum: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= maximum:  # also refuses nan
        raise ConfigError(f"{name} must be a number of seconds from 0 to {maximum:g} (got {raw!r})")
    return value


def _log_level(environ: Mapping[str, str]) -> str:
    level = environ.get("LOG_LEVEL", "INFO").strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(
            f"LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (got {level!r})"
        )
    return level
