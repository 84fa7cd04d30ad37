"""The social-value catalogue: versioned themes and options with proxy £ values."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
import sqlalchemy.orm as so

from web.models.base import Base, created_at, intpk


class SocialValueCatalogue(Base):
    """One published version of the catalogue; a saved shortlist keeps the version it used."""

    __tablename__ = "social_value_catalogues"

    id: so.Mapped[intpk]
    version: so.Mapped[str] = so.mapped_column(sa.String(40), unique=True)
    published_on: so.Mapped[dt.date]
    # Exactly one version is current: the one new searches use.
    is_current: so.Mapped[bool] = so.mapped_column(default=False)
    created_at: so.Mapped[created_at]

    themes: so.Mapped[list[SocialValueTheme]] = so.relationship(
        back_populates="catalogue", cascade="all, delete-orphan", order_by="SocialValueTheme.id"
    )
    options: so.Mapped[list[SocialValueOption]] = so.relationship(
        back_populates="catalogue", cascade="all, delete-orphan", order_by="SocialValueOption.code"
    )


class SocialValueTheme(Base):
    """A theme of the catalogue (local economy, skills and employment, …)."""

    __tablename__ = "social_value_themes"
    __table_args__ = (
        sa.UniqueConstraint("catalogue_id", "code", name="uq_social_value_themes_catalogue_code"),
    )

    id: so.Mapped[intpk]
    catalogue_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("social_value_catalogues.id", ondelete="CASCADE"), index=True
    )
    code: so.Mapped[str] = so.mapped_column(sa.String(40))
    name: so.Mapped[str] = so.mapped_column(sa.String(200))
    description: so.Mapped[str] = so.mapped_column(sa.Text, default="")

    catalogue: so.Mapped[SocialValueCatalogue] = so.relationship(back_populates="themes")


class SocialValueOption(Base):
    """An option members can choose: a measure, its unit and a proxy £ value per unit."""

    __tablename__ = "social_value_options"
    __table_args__ = (
        sa.UniqueConstraint("catalogue_id", "code", name="uq_social_value_options_catalogue_code"),
    )

    id: so.Mapped[intpk]
    catalogue_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("social_value_catalogues.id", ondelete="CASCADE"), index=True
    )
    theme_code: so.Mapped[str] = so.mapped_column(sa.String(40))
    code: so.Mapped[str] = so.mapped_column(sa.String(40))
    title: so.Mapped[str] = so.mapped_column(sa.String(300))
    description: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    measure: so.Mapped[str] = so.mapped_column(sa.Text)
    unit: so.Mapped[str] = so.mapped_column(sa.String(100))
    proxy_gbp_per_unit: so.Mapped[float]
    source: so.Mapped[str] = so.mapped_column(sa.Text)
    source_year: so.Mapped[int | None]
    # True where the proxy is an indicative figure the service must label as such.
    indicative: so.Mapped[bool] = so.mapped_column(default=True)

    catalogue: so.Mapped[SocialValueCatalogue] = so.relationship(back_populates="options")
