"""Data versions: read once per request, read again after the request's own change."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from web.extensions import db
from web.models import DataVersion
from web.services.versions import bump_version, version_token


def _version_reads(statements: list[str]) -> int:
    return sum(s.lstrip().upper().startswith("SELECT") and "data_versions" in s
               for s in statements)


def test_a_request_reads_the_version_once_and_again_after_its_own_change(
    app: Flask, sql_statements: list[str]
) -> None:
    with app.test_request_context("/"):
        first = version_token()
        assert version_token() == first
        assert _version_reads(sql_statements) == 1
        bump_version()
        bumped = version_token()
        assert bumped != first
        assert version_token() == bumped
        db.session.rollback()


def test_another_request_sees_a_change_made_meanwhile(app: Flask) -> None:
    with app.test_request_context("/"):
        before = version_token()
    with app.app_context():  # as an import from the command line would
        bump_version()
        db.session.commit()
    with app.test_request_context("/"):
        assert version_token() != before


def test_outside_a_request_every_call_reads(app: Flask, sql_statements: list[str]) -> None:
    with app.app_context():  # the CLI, the index's background rebuild
        bump_version()
        first = version_token()
        db.session.execute(sa.update(DataVersion).values(version=DataVersion.version + 1))
        assert version_token() != first
        assert _version_reads(sql_statements) >= 3  # bump_version's own read, then both calls
        db.session.rollback()
