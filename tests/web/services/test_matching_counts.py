"""The register's active-supplier count: right after every change, counted once per change."""

from __future__ import annotations

from flask import Flask

from tests.factories import make_supplier
from web.extensions import db
from web.services.matching import active_supplier_count
from web.services.versions import bump_version


def _counts(statements: list[str]) -> int:
    return sum("count(" in statement.lower() for statement in statements)


def test_the_count_follows_every_change_and_is_not_repeated_between_them(
    app_context: Flask, sql_statements: list[str]
) -> None:
    db.session.add_all([make_supplier(), make_supplier(), make_supplier(active=False)])
    bump_version()
    db.session.commit()

    assert active_supplier_count() == 2
    assert active_supplier_count() == 2
    assert _counts(sql_statements) == 1  # the second answer came from the cache

    db.session.add(make_supplier())
    bump_version()
    db.session.commit()
    assert active_supplier_count() == 3
    assert _counts(sql_statements) == 2


def test_a_register_never_bumped_is_counted_every_time(app_context: Flask) -> None:
    db.session.add(make_supplier())
    db.session.commit()
    assert active_supplier_count() == 1
    db.session.add(make_supplier())  # as test data arrives: no bump, yet it shows
    db.session.commit()
    assert active_supplier_count() == 2
