"""The audit trail: one call records who did what, when, to which object.

Every change a user makes goes through :func:`record_event`. Events are never edited or
deleted; a member's view of the trail is scoped to its own organisation's events (and
those of framework staff and the system, which have no organisation).
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from web.extensions import db
from web.models import AuditEvent, User
from web.models.base import utcnow

__all__ = ["events_for", "record_event"]

# Built once: constructing the statement per call cost as much as running it.
_INSERT_EVENT = sa.insert(AuditEvent.__table__).returning(AuditEvent.__table__.c.id)


def record_event(
    action: str,
    *,
    actor: User | None,
    organisation_id: int | None,
    object_type: str,
    object_id: int | str | None = None,
    details: Mapping[str, Any] | None = None,
) -> int:
    """Insert an audit event in the current transaction (never commit); return its id.

    ``action`` is a dotted verb such as ``"shortlist.locked"``; ``actor`` is the user who
    acted (``None`` for the system); ``organisation_id`` is the acting organisation, so a
    member's trail can be scoped to it. ``details`` may hold dates, decimals and enums:
    they are stored as JSON text values (ISO dates, numbers, enum values).
    """
    values = {
        "at": utcnow(),
        "actor_id": actor.id if actor is not None else None,
        "organisation_id": organisation_id,
        "action": action,
        "object_type": object_type,
        "object_id": None if object_id is None else str(object_id),
        "details": _json_safe(details or {}),
    }
    session = db.session
    if session.new or session.dirty or session.deleted:
        session.flush()  # the event may name rows that are still pending
    # A Core INSERT, not the unit of work: every search records one, and the ORM flush of
    # a single new object cost more than the rest of the audit write together.
    return session.execute(_INSERT_EVENT, values).scalar_one()  # type: ignore[no-any-return]


def events_for(
    object_type: str, object_id: int | str, *, organisation_id: int | None
) -> list[AuditEvent]:
    """The events about one object, oldest first.

    With an ``organisation_id``, only that organisation's events and those with no
    organisation (framework staff, the system); with ``None``, every event.
    """
    query = sa.select(AuditEvent).where(
        AuditEvent.object_type == object_type, AuditEvent.object_id == str(object_id)
    )
    if organisation_id is not None:
        query = query.where(
            sa.or_(
                AuditEvent.organisation_id == organisation_id,
                AuditEvent.organisation_id.is_(None),
            )
        )
    return list(db.session.scalars(query.order_by(AuditEvent.at, AuditEvent.id)))


def _json_safe(details: Mapping[str, Any]) -> dict[str, Any]:
    """``details`` as plain JSON data (a round trip, so nothing unstorable gets through)."""
    return json.loads(json.dumps(dict(details), default=_default))  # type: ignore[no-any-return]


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
