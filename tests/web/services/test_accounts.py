"""User accounts."""

from __future__ import annotations

import pytest

from tests.factories import make_organisation, make_user
from web.models import Role
from web.services.accounts import (
    MAX_PASSWORD_LENGTH,
    AccountError,
    WrongPasswordError,
    change_password,
    check_new_password,
    create_user,
)

pytestmark = pytest.mark.usefixtures("app_context")


def test_create_member_user_hashes_the_password() -> None:
    org = make_organisation()
    user = create_user(email=" Ann@Member.Example ", name="Ann", role=Role.MEMBER,
                       organisation=org, password="long enough password")
    assert user.email == "ann@member.example"
    assert user.password_hash.startswith("scrypt:")
    assert "long enough" not in user.password_hash
    assert user.check_password("long enough password")
    assert not user.check_password("wrong password!")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"email": "not-an-email"}, "not an email"),
        ({"password": "short"}, "at least"),
        ({"organisation": None}, "needs a member organisation"),
    ],
)
def test_create_user_refuses_bad_input(kwargs, message) -> None:  # type: ignore[no-untyped-def]
    values = {"email": "a@b.example", "name": "A", "role": Role.MEMBER,
              "organisation": make_organisation(), "password": "long enough password"}
    values.update(kwargs)
    with pytest.raises(AccountError, match=message):
        create_user(**values)


def test_duplicate_email_is_refused() -> None:
    make_user(email="taken@member.example")
    with pytest.raises(AccountError, match="already exists"):
        create_user(email="TAKEN@member.example", name="B", role=Role.ADMIN, organisation=None,
                    password="long enough password")


@pytest.mark.parametrize(("password", "message"), [
    ("nine char", "at least 10 characters"),
    ("x" * (MAX_PASSWORD_LENGTH + 1), "1,000 characters or fewer"),
    (" Ann@Member.Example", "must not be the email address"),
])
def test_new_passwords_are_checked_for_length_and_the_email(
    password: str, message: str
) -> None:
    with pytest.raises(AccountError, match=message):
        check_new_password(password, email="ann@member.example")


@pytest.mark.parametrize("password", ["ten chars!", "x" * MAX_PASSWORD_LENGTH,
                                      "ann@member.example and more"])
def test_new_passwords_within_the_rules_are_accepted(password: str) -> None:
    check_new_password(password, email="ann@member.example")  # raises nothing


def test_change_password_needs_the_current_one() -> None:
    user = make_user(password="correct horse battery")
    with pytest.raises(WrongPasswordError, match="current password is wrong"):
        change_password(user, current="incorrect horse", new="three random words")
    with pytest.raises(AccountError, match="different from your current one"):
        change_password(user, current="correct horse battery", new="correct horse battery")
    assert user.check_password("correct horse battery")

    change_password(user, current="correct horse battery", new="three random words")
    assert user.check_password("three random words")
