"""API tokens: bearer secrets a user creates for systems that call the JSON API."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
import sqlalchemy.orm as so

from web.models.base import Base, created_at, intpk
from web.models.member import User


class ApiToken(Base):
    """One named token of a user. Only the sha256 of the secret is stored, never the secret.

    A token acts as its user: it sees what the user's organisation may see. Revoking keeps
    the row (with ``revoked_at``), so the list of a user's tokens stays a complete record.
    """

    __tablename__ = "api_tokens"

    id: so.Mapped[intpk]
    user_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: so.Mapped[str] = so.mapped_column(sa.String(100))
    # sha256 hex of the whole secret ("fm_…"); unique, and the column requests look up.
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    # The first characters of the secret, shown in lists so people can tell tokens apart.
    prefix: so.Mapped[str] = so.mapped_column(sa.String(16))
    created_at: so.Mapped[created_at]
    last_used_at: so.Mapped[dt.datetime | None]
    revoked_at: so.Mapped[dt.datetime | None]

    user: so.Mapped[User] = so.relationship()

    @property
    def active(self) -> bool:
        """True until the token is revoked."""
        return self.revoked_at is None
