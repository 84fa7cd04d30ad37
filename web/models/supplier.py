"""Suppliers on the register, with their lots, accreditations, commitments and contacts."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
import sqlalchemy.orm as so

from web.models.base import Base, created_at, intpk, utcnow
from web.models.framework import Lot

supplier_lots = sa.Table(
    "supplier_lots",
    Base.metadata,
    sa.Column("supplier_id", sa.ForeignKey("suppliers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("lot_id", sa.ForeignKey("lots.id", ondelete="CASCADE"), primary_key=True),
)


class Supplier(Base):
    """A supplier (contractor or consultant) on the register."""

    __tablename__ = "suppliers"

    id: so.Mapped[intpk]
    external_id: so.Mapped[str] = so.mapped_column(sa.String(100), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(300), index=True)
    company_number: so.Mapped[str | None] = so.mapped_column(sa.String(20), index=True)
    address: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    postcode: so.Mapped[str | None] = so.mapped_column(sa.String(10))
    latitude: so.Mapped[float]
    longitude: so.Mapped[float]
    la_code: so.Mapped[str | None] = so.mapped_column(sa.String(9), index=True)
    description: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    # Lists kept as JSON: read whole with the supplier, never queried element by element
    # (the matching index does that), and portable across SQLite and PostgreSQL.
    capabilities: so.Mapped[list[str]] = so.mapped_column(sa.JSON, default=list)
    cpv_codes: so.Mapped[list[str]] = so.mapped_column(sa.JSON, default=list)
    sme: so.Mapped[bool] = so.mapped_column(default=False)
    vcse: so.Mapped[bool] = so.mapped_column(default=False)
    service_radius_km: so.Mapped[float | None]
    min_contract_value: so.Mapped[float | None]
    max_contract_value: so.Mapped[float | None]
    website: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    email: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    phone: so.Mapped[str | None] = so.mapped_column(sa.String(50))
    active: so.Mapped[bool] = so.mapped_column(default=True)
    # Set when an admin deactivates the supplier (soft: the row and its history stay).
    # No Python-side defaults: the importer's bulk insert must give every defaulted column.
    deactivated_at: so.Mapped[dt.datetime | None]
    deactivation_reason: so.Mapped[str | None] = so.mapped_column(sa.Text)
    # The supplier this one was merged into as a duplicate (it is then inactive).
    merged_into_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("suppliers.id", ondelete="SET NULL"), index=True
    )
    created_at: so.Mapped[created_at]
    updated_at: so.Mapped[dt.datetime] = so.mapped_column(default=utcnow, onupdate=utcnow)

    lots: so.Mapped[list[Lot]] = so.relationship(secondary=supplier_lots, order_by=Lot.code)
    accreditations: so.Mapped[list[Accreditation]] = so.relationship(
        back_populates="supplier", cascade="all, delete-orphan", order_by="Accreditation.name"
    )
    commitments: so.Mapped[list[Commitment]] = so.relationship(
        back_populates="supplier", cascade="all, delete-orphan", order_by="Commitment.option_code"
    )
    contacts: so.Mapped[list[Contact]] = so.relationship(
        back_populates="supplier", cascade="all, delete-orphan", order_by="Contact.id"
    )

    def __repr__(self) -> str:
        return f"<Supplier {self.external_id} {self.name!r}>"


class Accreditation(Base):
    """A certification or scheme membership held by a supplier, with its expiry date."""

    __tablename__ = "accreditations"

    id: so.Mapped[intpk]
    supplier_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("suppliers.id", ondelete="CASCADE"), index=True
    )
    name: so.Mapped[str] = so.mapped_column(sa.String(100))
    expires_on: so.Mapped[dt.date | None]

    supplier: so.Mapped[Supplier] = so.relationship(back_populates="accreditations")

    def is_valid_on(self, day: dt.date) -> bool:
        """True if the accreditation has no expiry or has not expired by ``day``."""
        return self.expires_on is None or self.expires_on >= day


class Commitment(Base):
    """A supplier's social-value commitment: a quantity of an option's measure per £1m."""

    __tablename__ = "commitments"
    __table_args__ = (
        sa.UniqueConstraint("supplier_id", "option_code", name="uq_commitments_supplier_option"),
    )

    id: so.Mapped[intpk]
    supplier_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("suppliers.id", ondelete="CASCADE"), index=True
    )
    # The option's code, stable across catalogue versions (the proxy values are versioned).
    option_code: so.Mapped[str] = so.mapped_column(sa.String(40))
    quantity_per_million: so.Mapped[float]

    supplier: so.Mapped[Supplier] = so.relationship(back_populates="commitments")


class Contact(Base):
    """A named contact at a supplier."""

    __tablename__ = "contacts"

    id: so.Mapped[intpk]
    supplier_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("suppliers.id", ondelete="CASCADE"), index=True
    )
    name: so.Mapped[str] = so.mapped_column(sa.String(200))
    role: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    email: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    phone: so.Mapped[str | None] = so.mapped_column(sa.String(50))

    supplier: so.Mapped[Supplier] = so.relationship(back_populates="contacts")



class NotDuplicate(Base):
    """An admin's decision that two suppliers are not duplicates, so the pair is not
    suggested again. The pair is stored once, lower id first."""

    __tablename__ = "supplier_not_duplicates"
    __table_args__ = (
        sa.UniqueConstraint("supplier_id", "other_id", name="uq_supplier_not_duplicates_pair"),
        sa.CheckConstraint("supplier_id < other_id", name="ordered_pair"),
    )

    id: so.Mapped[intpk]
    supplier_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("suppliers.id", ondelete="CASCADE"), index=True
    )
    other_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("suppliers.id", ondelete="CASCADE"), index=True
    )
    decided_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    decided_at: so.Mapped[created_at]
    reason: so.Mapped[str] = so.mapped_column(sa.Text, default="")
