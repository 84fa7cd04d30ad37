"""Member organisations, their sites and users."""

from __future__ import annotations

import enum

import sqlalchemy as sa
import sqlalchemy.orm as so
from werkzeug.security import check_password_hash, generate_password_hash

from web.models.base import Base, created_at, intpk


class OrganisationType(enum.StrEnum):
    """Kinds of public body that call off from the framework."""

    HOUSING = "housing"
    COUNCIL = "council"
    EDUCATION = "education"
    HEALTH = "health"
    BLUE_LIGHT = "blue_light"


class Role(enum.StrEnum):
    """What a user may do: members search and shortlist; admins also keep the register."""

    MEMBER = "member"
    ADMIN = "admin"


class MemberOrganisation(Base):
    """A public body that is a member of the framework."""

    __tablename__ = "member_organisations"

    id: so.Mapped[intpk]
    name: so.Mapped[str] = so.mapped_column(sa.String(200), unique=True)
    type: so.Mapped[OrganisationType] = so.mapped_column(
        sa.Enum(OrganisationType, native_enum=False, length=20,
                values_callable=lambda e: [m.value for m in e])
    )
    created_at: so.Mapped[created_at]

    sites: so.Mapped[list[Site]] = so.relationship(
        back_populates="organisation", cascade="all, delete-orphan", order_by="Site.name"
    )
    users: so.Mapped[list[User]] = so.relationship(back_populates="organisation")


class Site(Base):
    """A member's site (office, depot, estate): a place searches start from."""

    __tablename__ = "sites"
    __table_args__ = (
        sa.UniqueConstraint("organisation_id", "name", name="uq_sites_organisation_name"),
    )

    id: so.Mapped[intpk]
    organisation_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("member_organisations.id", ondelete="CASCADE"), index=True
    )
    name: so.Mapped[str] = so.mapped_column(sa.String(200))
    postcode: so.Mapped[str] = so.mapped_column(sa.String(10))
    latitude: so.Mapped[float]
    longitude: so.Mapped[float]
    la_code: so.Mapped[str | None] = so.mapped_column(sa.String(9))

    organisation: so.Mapped[MemberOrganisation] = so.relationship(back_populates="sites")


class User(Base):
    """A person who signs in: a member organisation's user or a framework admin."""

    __tablename__ = "users"

    id: so.Mapped[intpk]
    organisation_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("member_organisations.id"), index=True
    )
    email: so.Mapped[str] = so.mapped_column(sa.String(300), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(200))
    role: so.Mapped[Role] = so.mapped_column(
        sa.Enum(Role, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]),
        default=Role.MEMBER,
    )
    password_hash: so.Mapped[str] = so.mapped_column(sa.String(300))
    #: The password was chosen by an administrator (a new account, or a forgotten password
    #: replaced): the user chooses their own before anything else.
    must_change_password: so.Mapped[bool] = so.mapped_column(
        default=False, server_default=sa.false())
    active: so.Mapped[bool] = so.mapped_column(default=True)
    created_at: so.Mapped[created_at]

    organisation: so.Mapped[MemberOrganisation | None] = so.relationship(back_populates="users")

    def set_password(self, password: str) -> None:
        """Store a salted scrypt hash of ``password`` (werkzeug's default KDF)."""
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        """True if ``password`` matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    @property
    def is_admin(self) -> bool:
        """True for framework staff."""
        return self.role == Role.ADMIN
