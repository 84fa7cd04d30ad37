"""Declarative base, shared column types and naming conventions."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import sqlalchemy as sa
import sqlalchemy.orm as so

# Stable constraint names, so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """Current time in UTC, timezone-aware."""
    return dt.datetime.now(dt.UTC)


intpk = Annotated[int, so.mapped_column(primary_key=True)]
#: The largest id: ids are 32-bit integers in PostgreSQL, so a larger one is no row's.
MAX_ID = 2**31 - 1
created_at = Annotated[
    dt.datetime, so.mapped_column(sa.DateTime(timezone=True), default=utcnow, nullable=False)
]
str_short = Annotated[str, so.mapped_column(sa.String(200))]


class Base(so.DeclarativeBase):
    """Base class of every model."""

    registry = so.registry(
        metadata=sa.MetaData(naming_convention=NAMING_CONVENTION),
        # Every timestamp is stored with its time zone (UTC), on SQLite and PostgreSQL.
        type_annotation_map={dt.datetime: sa.DateTime(timezone=True)},
    )
