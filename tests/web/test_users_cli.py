"""``flask users``: creating an account, and giving one a new password."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.factories import make_organisation, make_user
from web.extensions import db
from web.models import AuditEvent, Role, User

NEW_PASSWORD = "three random words"


def test_create_a_member(app_context: Flask, runner: Any) -> None:
    make_organisation(name="Knowsley Homes")
    db.session.commit()

    result = runner.invoke(args=["users", "create", "Ann@Member.example", "--name", "Ann",
                                 "--organisation", "Knowsley Homes",
                                 "--password", NEW_PASSWORD])

    assert result.exit_code == 0, result.output
    assert "Created member ann@member.example." in result.output
    db.session.expire_all()
    user = db.session.scalar(sa.select(User).where(User.email == "ann@member.example"))
    assert user is not None and user.role == Role.MEMBER
    assert user.organisation.name == "Knowsley Homes" and user.check_password(NEW_PASSWORD)
    assert not user.must_change_password  # whoever runs the command chose it for themself


@pytest.mark.parametrize(("args", "message"), [
    (["--organisation", "Nowhere Homes"], "no member organisation named 'Nowhere Homes'"),
    (["--password", "short"], "at least 10 characters"),
    ([], "a member user needs a member organisation"),
])
def test_create_refuses_and_writes_nothing(
    app_context: Flask, runner: Any, args: list[str], message: str
) -> None:
    result = runner.invoke(args=["users", "create", "ann@member.example", "--name", "Ann",
                                 "--password", NEW_PASSWORD, *args])

    assert result.exit_code == 1
    assert message in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_set_password(app: Flask, app_context: Flask, runner: Any) -> None:
    user = make_user(email="bo@member.example")
    db.session.commit()

    result = runner.invoke(args=["users", "set-password", "Bo@Member.example",
                                 "--password", NEW_PASSWORD])

    assert result.exit_code == 0, result.output
    assert "Set a new password for bo@member.example." in result.output
    db.session.expire_all()
    changed = db.session.get(User, user.id)
    assert changed.check_password(NEW_PASSWORD) and changed.must_change_password
    [event] = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "user.password_set")).all()
    assert event.actor_id is None and event.object_id == str(user.id) and event.details == {}


def test_set_password_prompts_hidden_with_a_confirmation(app_context: Flask,
                                                          runner: Any) -> None:
    user = make_user(email="bo@member.example")
    db.session.commit()

    result = runner.invoke(args=["users", "set-password", "bo@member.example"],
                           input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert NEW_PASSWORD not in result.output  # hidden as typed
    db.session.expire_all()
    assert db.session.get(User, user.id).check_password(NEW_PASSWORD)


@pytest.mark.parametrize(("email", "password", "message"), [
    ("nobody@member.example", NEW_PASSWORD, "no user with email 'nobody@member.example'"),
    ("bo@member.example", "short", "at least 10 characters"),
])
def test_set_password_refuses_and_changes_nothing(
    app_context: Flask, runner: Any, email: str, password: str, message: str
) -> None:
    user = make_user(email="bo@member.example")
    db.session.commit()
    before = user.password_hash

    result = runner.invoke(args=["users", "set-password", email, "--password", password])

    assert result.exit_code == 1
    assert message in result.output
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0
