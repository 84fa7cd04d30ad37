"""Configuration from the environment: defaults and one-line errors naming the setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from web.config import ConfigError, engine_options, load_config

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_defaults_to_sqlite_in_the_instance_folder(tmp_path: Path) -> None:
    config = load_config({}, tmp_path)
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'framework-match.sqlite3'}"
    assert config["LOG_LEVEL"] == "INFO"
    assert engine_options(config["SQLALCHEMY_DATABASE_URI"])["connect_args"]["timeout"] > 0


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = load_config({}, tmp_path)["SECRET_KEY"]
    second = load_config({}, tmp_path)["SECRET_KEY"]
    assert first == second
    assert len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    other = tmp_path / "other"
    assert load_config({}, other)["SECRET_KEY"] != first


def test_postgresql_url_uses_psycopg3(tmp_path: Path) -> None:
    config = load_config({"DATABASE_URL": "postgresql://app@db.internal/fm"}, tmp_path)
    assert config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")
    # broken pooled connections are run again on a new one instead (tests/web/test_db_setup)
    assert engine_options(config["SQLALCHEMY_DATABASE_URI"]) == {"pool_pre_ping": False}


@pytest.mark.parametrize(("raw", "seconds"), [("", 10.0), ("0", 0.0), ("2.5", 2.5), ("60", 60.0)])
def test_connect_retry_seconds(tmp_path: Path, raw: str, seconds: float) -> None:
    config = load_config({"DATABASE_CONNECT_RETRY_S": raw}, tmp_path)
    assert config["DATABASE_CONNECT_RETRY_S"] == seconds


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://root@localhost/db"}, "DATABASE_URL"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"DATABASE_CONNECT_RETRY_S": "ten"}, "DATABASE_CONNECT_RETRY_S"),
        ({"DATABASE_CONNECT_RETRY_S": "-1"}, "DATABASE_CONNECT_RETRY_S"),
        ({"DATABASE_CONNECT_RETRY_S": "nan"}, "DATABASE_CONNECT_RETRY_S"),
        ({"DATABASE_CONNECT_RETRY_S": "3600"}, "DATABASE_CONNECT_RETRY_S"),
    ],
)
def test_bad_setting_names_itself(tmp_path: Path, environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_config(environ, tmp_path)


def test_bad_setting_stops_the_flask_command_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": "mysql://root@localhost/db", "FLASK_APP": "wsgi"}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--help"], cwd=REPO_ROOT, env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert errors == [
        "framework-match: configuration error: DATABASE_URL uses 'mysql'; "
        "supported databases are sqlite and postgresql"
    ]
