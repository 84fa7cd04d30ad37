"""Shortlists members save from a search, their entries and a locked snapshot."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from web.models.base import Base, created_at, intpk


class ShortlistStatus(enum.StrEnum):
    """A draft can change; a locked shortlist is frozen for good."""

    DRAFT = "draft"
    LOCKED = "locked"


class Shortlist(Base):
    """A member's saved shortlist of suppliers for one contract need."""

    __tablename__ = "shortlists"

    id: so.Mapped[intpk]
    organisation_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("member_organisations.id"), index=True
    )
    created_by_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"))
    name: so.Mapped[str] = so.mapped_column(sa.String(200))
    notes: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    # The search that produced the shortlist, as entered (need, site, radius, weights, …).
    search_inputs: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON, default=dict)
    status: so.Mapped[ShortlistStatus] = so.mapped_column(
        sa.Enum(ShortlistStatus, native_enum=False, length=20,
                values_callable=lambda e: [m.value for m in e]),
        default=ShortlistStatus.DRAFT,
    )
    # matcher.ALGORITHM_VERSION describes its parameters, so it is longer than a number.
    algorithm_version: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    catalogue_version: so.Mapped[str | None] = so.mapped_column(sa.String(40))
    # sha256 of the supplier data the ranking used, set when locked.
    data_hash: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    locked_at: so.Mapped[dt.datetime | None]
    locked_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    snapshot: so.Mapped[dict[str, Any] | None] = so.mapped_column(sa.JSON)
    outcome: so.Mapped[str | None] = so.mapped_column(sa.String(40))
    awarded_supplier_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("suppliers.id"), index=True
    )
    awarded_value: so.Mapped[float | None]
    # When and by whom the outcome was recorded: fair rotation counts awards by this date.
    outcome_at: so.Mapped[dt.datetime | None]
    outcome_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    outcome_note: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    created_at: so.Mapped[created_at]

    entries: so.Mapped[list[ShortlistEntry]] = so.relationship(
        back_populates="shortlist", cascade="all, delete-orphan", order_by="ShortlistEntry.rank"
    )


class ShortlistEntry(Base):
    """A supplier on a shortlist, with the score and breakdown it had when added."""

    __tablename__ = "shortlist_entries"
    __table_args__ = (
        sa.UniqueConstraint("shortlist_id", "supplier_id", name="uq_shortlist_entries_supplier"),
    )

    id: so.Mapped[intpk]
    shortlist_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("shortlists.id", ondelete="CASCADE"), index=True
    )
    supplier_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("suppliers.id"), index=True)
    rank: so.Mapped[int | None]
    score: so.Mapped[float | None]
    breakdown: so.Mapped[dict[str, Any] | None] = so.mapped_column(sa.JSON)
    reason_added: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    removed_at: so.Mapped[dt.datetime | None]
    reason_removed: so.Mapped[str | None] = so.mapped_column(sa.Text)
    created_at: so.Mapped[created_at]

    shortlist: so.Mapped[Shortlist] = so.relationship(back_populates="entries")
