"""User accounts."""

from __future__ import annotations

import re

import sqlalchemy as sa

from web.extensions import db
from web.models import MemberOrganisation, Role, User

MIN_PASSWORD_LENGTH = 10  # characters (NCSC: length beats complexity rules)
# Deliberately loose: one @, something either side, a dot in the domain.
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AccountError(ValueError):
    """An account cannot be created or changed as asked; the message says why."""


def create_user(
    *, email: str, name: str, role: Role, organisation: MemberOrganisation | None, password: str
) -> User:
    """Create and flush a user.

    :raise AccountError: bad email, short password, duplicate email, or a member without
        an organisation.
    """
    email = email.strip().lower()
    if not EMAIL_PATTERN.match(email):
        raise AccountError(f"{email!r} is not an email address")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    if role == Role.MEMBER and organisation is None:
        raise AccountError("a member user needs a member organisation")
    if db.session.scalar(sa.select(User.id).where(User.email == email)) is not None:
        raise AccountError(f"a user with email {email} already exists")
    user = User(email=email, name=name.strip(), role=role, organisation=organisation)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user
