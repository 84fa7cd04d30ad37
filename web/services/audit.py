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
import secrets
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import g, has_request_context
from sqlalchemy.dialects import postgresql, sqlite

from web.extensions import db
from web.models import AuditEvent, User
from web.models.base import utcnow

__all__ = ["events_for", "first_event_committed", "record_event", "request_keys_mark",
           "restart_request_keys"]

_EVENTS = AuditEvent.__table__
# Built once: constructing the statement per call cost as much as running it.
_INSERT_EVENT = sa.insert(_EVENTS).returning(_EVENTS.c.id)
# A keyed event (from a web request) that is already there is left as it is: the request
# is being run again after a database restart cut off its commit, which had succeeded.
_INSERT_KEYED_EVENT = {
    name: dialect.insert(_EVENTS)
    .on_conflict_do_nothing(index_elements=["request_key"]).returning(_EVENTS.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_EVENT_BY_KEY = sa.select(_EVENTS.c.id).where(_EVENTS.c.request_key == sa.bindparam("key"))
REQUEST_NONCE_BYTES = 16  # 32 hex digits: never repeats, so keys of two requests never meet


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
    key = _request_key()
    values = {
        "at": utcnow(),
        "actor_id": actor.id if actor is not None else None,
        "organisation_id": organisation_id,
        "action": action,
        "object_type": object_type,
        "object_id": None if object_id is None else str(object_id),
        "details": _json_safe(details or {}),
        "request_key": key,
    }
    session = db.session
    if session.new or session.dirty or session.deleted:
        session.flush()  # the event may name rows that are still pending
    # A Core INSERT, not the unit of work: every search records one, and the ORM flush of
    # a single new object cost more than the rest of the audit write together.
    insert = _INSERT_EVENT if key is None else _INSERT_KEYED_EVENT.get(
        session.get_bind().dialect.name, _INSERT_EVENT)
    event_id = session.execute(insert, values).scalar()
    if event_id is None:  # recorded by this request's first run
        event_id = session.execute(_EVENT_BY_KEY, {"key": key}).scalar_one()
    return event_id  # type: ignore[no-any-return]


def _request_key() -> str | None:
    """The next event's key in this web request (None outside one).

    A nonce made by the server for the request, and the event's place among the events
    the request records. ``web.db_setup`` sets the count back when it runs a view once
    more, so the events of the second run get the keys of the first.
    """
    if not has_request_context():
        return None
    nonce = g.get("audit_nonce")
    if nonce is None:
        nonce = g.audit_nonce = secrets.token_hex(REQUEST_NONCE_BYTES)
    place = g.get("audit_events_recorded", 0)
    g.audit_events_recorded = place + 1
    return _event_key(nonce, place)


def _event_key(nonce: str, place: int) -> str:
    return f"{nonce}/{place}"


def first_event_committed() -> bool:
    """Whether the next event this request records, under the key it will get, is in the
    database already: asked after a restart cut off the request's commit (with the keys
    set back to where the view began), it tells whether that commit went through."""
    nonce = g.get("audit_nonce") if has_request_context() else None
    if nonce is None:
        return False
    key = _event_key(nonce, request_keys_mark())
    return db.session.execute(_EVENT_BY_KEY, {"key": key}).first() is not None


def request_keys_mark() -> int:
    """Where this request's event keys have got to, for :func:`restart_request_keys`."""
    return int(g.get("audit_events_recorded", 0))


def restart_request_keys(mark: int) -> None:
    """Give the events recorded from now on the keys those recorded after ``mark`` had."""
    g.audit_events_recorded = mark


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
