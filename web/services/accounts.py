"""User accounts: creating them, and passwords (checked, changed by their user, set anew)."""

from __future__ import annotations

import re

import sqlalchemy as sa

from web.extensions import db
from web.models import MemberOrganisation, Role, User
from web.services.audit import record_event

MIN_PASSWORD_LENGTH = 10  # characters (NCSC: length beats complexity rules)
# characters; far more than any passphrase, and a bound on the work of hashing one
MAX_PASSWORD_LENGTH = 1000
# Deliberately loose: one @, something either side, a dot in the domain.
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AccountError(ValueError):
    """An account cannot be created or changed as asked; the message says why."""


class WrongPasswordError(AccountError):
    """The current password given to change it is wrong."""


def create_user(
    *, email: str, name: str, role: Role, organisation: MemberOrganisation | None, password: str
) -> User:
    """Create and flush a user.

    :raise AccountError: bad email, short password, duplicate email, or a member without
        an organisation.
    """
    email = checked_email(email)
    check_new_password(password, email=email)
    if role == Role.MEMBER and organisation is None:
        raise AccountError("a member user needs a member organisation")
    user = User(email=email, name=name.strip(), role=role, organisation=organisation)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def checked_email(email: str, *, user_id: int | None = None) -> str:
    """``email`` trimmed and lower-cased, for the account ``user_id`` (None: a new one).

    :raise AccountError: not an email address, or another account's.
    """
    email = email.strip().lower()
    if not EMAIL_PATTERN.match(email):
        raise AccountError(f"{email!r} is not an email address")
    other = db.session.scalar(sa.select(User.id).where(User.email == email))
    if other is not None and other != user_id:
        raise AccountError(f"a user with email {email} already exists")
    return email


def check_new_password(password: str, *, email: str) -> None:
    """Check a password about to be set for the account ``email``.

    Length is the rule (no mix of character classes is asked for: NCSC guidance), and the
    password may not be the account's email address.

    :raise AccountError: saying what to change.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"the password must be {MAX_PASSWORD_LENGTH:,} characters or fewer")
    if password.strip().lower() == email.strip().lower():
        raise AccountError("the password must not be the email address")


def change_password(user: User, *, current: str, new: str) -> None:
    """Set ``user``'s password to ``new`` after checking ``current``; flush, audited as
    ``user.password_changed`` (the event holds no password or hash).

    Every session the user began with the old password ends at its next request
    (:mod:`web.auth`); the caller starts the one it is answering again.

    :raise WrongPasswordError: a wrong current password.
    :raise AccountError: a new password that :func:`check_new_password` refuses, or that
        is the current one.
    """
    if not user.check_password(current):
        raise WrongPasswordError("your current password is wrong")
    check_new_password(new, email=user.email)
    if new == current:
        raise AccountError("the new password must be different from your current one")
    user.set_password(new)
    user.must_change_password = False
    db.session.flush()
    record_event("user.password_changed", actor=user, organisation_id=user.organisation_id,
                 object_type="user", object_id=user.id, details={})
