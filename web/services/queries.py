"""Small pieces of queries shared by the services."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

LIKE_ESCAPE = "\\"


def contains(column: Any, text: str) -> sa.ColumnElement[bool]:
    """``column`` contains ``text``, ignoring case; ``%`` and ``_`` in ``text`` are
    matched as themselves, not as wildcards."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(f"%{escaped}%", escape=LIKE_ESCAPE)
