"""The audit trail: who did what, when, to which object."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from web.models.base import Base, intpk, utcnow


class AuditEvent(Base):
    """One recorded action (search run, import, shortlist locked, supplier edited, …)."""

    __tablename__ = "audit_events"
    # A shortlist's or supplier's trail is read by its object (shortlist pages, exports,
    # admin history) among every search run ever recorded: without this index each of
    # those reads scans the whole table, which grows by every search.
    __table_args__ = (
        sa.Index("ix_audit_events_object", "object_type", "object_id"),
        # One event per key: a view run again after its commit was cut off (a database
        # restart) records its events under the same keys, so none is recorded twice.
        sa.Index("ix_audit_events_request_key", "request_key", unique=True),
    )

    id: so.Mapped[intpk]
    at: so.Mapped[dt.datetime] = so.mapped_column(default=utcnow, index=True)
    actor_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    # The acting organisation, so a member's trail is scoped to its own events.
    organisation_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("member_organisations.id"), index=True
    )
    action: so.Mapped[str] = so.mapped_column(sa.String(60))
    object_type: so.Mapped[str] = so.mapped_column(sa.String(60))
    object_id: so.Mapped[str | None] = so.mapped_column(sa.String(100))
    details: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON, default=dict)
    # "<nonce of the request>/<n>" for the n-th event a web request records; None for the
    # command line. Made by the server, never taken from the client.
    request_key: so.Mapped[str | None] = so.mapped_column(sa.String(40))
