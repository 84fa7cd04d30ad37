"""A framework agreement and its lots."""

from __future__ import annotations

import sqlalchemy as sa
import sqlalchemy.orm as so

from web.models.base import Base, intpk


class Framework(Base):
    """A framework agreement that members call off from."""

    __tablename__ = "frameworks"

    id: so.Mapped[intpk]
    code: so.Mapped[str] = so.mapped_column(sa.String(40), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(200))
    description: so.Mapped[str] = so.mapped_column(sa.Text, default="")

    lots: so.Mapped[list[Lot]] = so.relationship(
        back_populates="framework", order_by="Lot.code", cascade="all, delete-orphan"
    )


class Lot(Base):
    """A lot of a framework: a category of work suppliers are appointed to."""

    __tablename__ = "lots"
    __table_args__ = (sa.UniqueConstraint("framework_id", "code", name="uq_lots_framework_code"),)

    id: so.Mapped[intpk]
    framework_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("frameworks.id"), index=True)
    code: so.Mapped[str] = so.mapped_column(sa.String(40))
    name: so.Mapped[str] = so.mapped_column(sa.String(200))
    description: so.Mapped[str] = so.mapped_column(sa.Text, default="")

    framework: so.Mapped[Framework] = so.relationship(back_populates="lots")
