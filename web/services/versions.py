"""Data versions: counters that tell each worker when its matching index is stale."""

from __future__ import annotations

import sqlalchemy as sa

from web.extensions import db
from web.models import DataVersion

# The matching index is built from suppliers, the thesaurus and the social-value catalogue.
INDEX_DATA = "matching-index"


def bump_version(name: str = INDEX_DATA) -> int:
    """Increment the counter ``name`` (creating it at 1) and return the new value.

    The UPDATE is a single statement, so concurrent writers each get their own increment.
    """
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
