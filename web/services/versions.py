"""Data versions: counters that tell each worker when its matching index is stale."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from flask import g, has_app_context, has_request_context

from web.extensions import db
from web.models import DataVersion

# The matching index is built from suppliers, the thesaurus and the social-value catalogue.
INDEX_DATA = "matching-index"
_VERSION_ROW = sa.select(DataVersion.version, DataVersion.updated_at).where(
    DataVersion.name == sa.bindparam("name")
)


def bump_version(name: str = INDEX_DATA) -> int:
    """Increment the counter ``name`` (creating it at 1) and return the new value.

    The UPDATE is a single statement, so concurrent writers each get their own increment.
    Marks the app context, so that a search later in it builds the matching index from
    this session, which sees the change before it is committed.
    """
    if name == INDEX_DATA and has_app_context():
        g.index_version_bumped = True
    if has_request_context():
        g.get("version_tokens", {}).pop(name, None)  # read again after this change
    updated = db.session.execute(
        sa.update(DataVersion).where(DataVersion.name == name)
        .values(version=DataVersion.version + 1)
    )
    if updated.rowcount == 0:  # type: ignore[attr-defined]
        db.session.add(DataVersion(name=name, version=1))
    db.session.flush()
    return current_version(name)


def current_version(name: str = INDEX_DATA) -> int:
    """The counter ``name``; 0 if it was never bumped."""
    value = db.session.scalar(sa.select(DataVersion.version).where(DataVersion.name == name))
    return value or 0


def version_token(name: str = INDEX_DATA) -> str:
    """The counter and the time of its last bump, e.g. ``"12@1764130000123456"``.

    The counter alone could repeat if the database were emptied or recreated under a
    running worker; with the bump time it cannot, so a cached index is never mistaken for
    the current one.
    """
    # Read once per request: the search form's choices and the matching index both ask, and
    # one request should see one version (its own changes call bump_version, which forgets
    # it). Outside a request (the CLI, the background rebuild) every call reads.
    memo: dict[str, str] | None = None
    if has_request_context():
        memo = g.setdefault("version_tokens", {})
        if name in memo:
            return memo[name]
    # On the session's connection, not through the ORM: every search asks, and the ORM's
    # statement handling cost more than the query itself.
    row = db.session.connection().execute(_VERSION_ROW, {"name": name}).first()
    token = _token(row.version, row.updated_at) if row is not None else "0"
    if memo is not None:
        memo[name] = token
    return token


def with_version(stmt: sa.Select[Any], name: str = INDEX_DATA) -> sa.Select[Any]:
    """``stmt`` reading the data version ``name`` too: two more columns, ``data_version``
    and ``data_version_at`` (outer joined, so NULL when it was never bumped).

    For a request's first query, whose rows then go to :func:`remember_version`: an API
    call's token lookup reads the version the search needs, one round trip fewer.
    """
    return stmt.add_columns(
        DataVersion.version.label("data_version"),
        DataVersion.updated_at.label("data_version_at"),
    ).outerjoin(DataVersion, DataVersion.name == name)


def remember_version(row: Any, name: str = INDEX_DATA) -> None:
    """Keep the version a :func:`with_version` query read as this request's reading of
    ``name``, unless the request has read it already (one request sees one version)."""
    if has_request_context():
        memo = g.setdefault("version_tokens", {})
        if name not in memo:
            memo[name] = (_token(row.data_version, row.data_version_at)
                          if row.data_version is not None else "0")


def _token(version: int, updated_at: dt.datetime) -> str:
    stamp = updated_at.replace(tzinfo=dt.UTC) if updated_at.tzinfo is None else updated_at
    return f"{version}@{int(stamp.timestamp() * 1_000_000)}"
