"""Reference data the engine reads: the capability thesaurus and data versions."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
import sqlalchemy.orm as so

from web.models.base import Base, intpk, utcnow


class ThesaurusGroup(Base):
    """A group of interchangeable trade terms, e.g. EWI / external wall insulation."""

    __tablename__ = "thesaurus_groups"

    id: so.Mapped[intpk]
    terms: so.Mapped[list[str]] = so.mapped_column(sa.JSON)


class DataVersion(Base):
    """A counter bumped whenever data the matching index is built from changes.

    Each worker compares the counter with the one its in-memory index was built from, on
    every search, and rebuilds on change: imports and edits show without a restart.
    """

    __tablename__ = "data_versions"

    name: so.Mapped[str] = so.mapped_column(sa.String(40), primary_key=True)
    version: so.Mapped[int] = so.mapped_column(default=0)
    updated_at: so.Mapped[dt.datetime] = so.mapped_column(default=utcnow, onupdate=utcnow)
