"""The account pages: your details, and changing your own password."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.conftest import AuthActions
from tests.factories import make_organisation, make_user
from web.auth import STAMP_KEY
from web.extensions import db
from web.models import AuditEvent, User

PASSWORD = "correct horse battery"  # the factories' password
NEW_PASSWORD = "three random words"


@pytest.fixture
def member(app_context: Flask) -> User:
    user = make_user(name="Sam Member", email="sam@member.example",
                     organisation=make_organisation(name="Knowsley Homes"))
    db.session.commit()
    return user


@pytest.fixture
def signed_in(member: User, auth: AuthActions) -> User:
    auth.login_as(member)
    return member


def _change(client: Any, current: str = PASSWORD, new: str = NEW_PASSWORD,
            confirm: str | None = None) -> Any:
    return client.post("/account/password", data={
        "current_password": current, "new_password": new,
        "confirm_password": new if confirm is None else confirm})


def test_the_account_pages_need_sign_in(client: Any) -> None:
    for path in ("/account/", "/account/password"):
        response = client.get(path)
        assert response.status_code == 302 and "/sign-in" in response.location


def test_the_account_page_says_who_you_are(client: Any, signed_in: User) -> None:
    html = client.get("/account/").get_data(as_text=True)
    assert "Your account" in html
    assert "Sam Member" in html and "sam@member.example" in html and "Knowsley Homes" in html
    assert 'href="/account/password"' in html and 'href="/account/tokens"' in html
    # Every page's header links the signed-in user's name to this page.
    search = client.get("/search").get_data(as_text=True)
    assert 'href="/account/"' in search and "Sam Member, Knowsley Homes" in search


def test_changing_your_password_signs_out_your_other_sessions(
    app: Flask, app_context: Flask, client: Any, signed_in: User
) -> None:
    elsewhere = app.test_client()  # another browser, signed in before the change
    AuthActions(elsewhere).login_as(signed_in)
    form = client.get("/account/password").get_data(as_text=True)
    assert 'autocomplete="current-password"' in form and 'autocomplete="new-password"' in form
    with client.session_transaction() as session:
        stamp_before = session[STAMP_KEY]

    response = _change(client)

    assert response.status_code == 303 and response.location == "/account/"
    page = client.get("/account/").get_data(as_text=True)  # this session goes on
    assert "Your password has been changed" in page
    with client.session_transaction() as session:
        assert session[STAMP_KEY] != stamp_before
    assert elsewhere.get("/account/").status_code == 302  # that one has ended
    db.session.expire_all()
    user = db.session.get(User, signed_in.id)
    assert user.check_password(NEW_PASSWORD) and not user.check_password(PASSWORD)
    [event] = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "user.password_changed")).all()
    assert event.actor_id == user.id and event.object_id == str(user.id)
    assert event.details == {}  # neither password nor hash

    # Signing in: the old password no longer works, the new one does.
    fresh = app.test_client()
    refused = fresh.post("/sign-in", data={"email": user.email, "password": PASSWORD})
    assert refused.status_code == 400
    accepted = fresh.post("/sign-in", data={"email": user.email, "password": NEW_PASSWORD})
    assert accepted.status_code == 302


@pytest.mark.parametrize(("kwargs", "field", "message"), [
    ({"current": "not my password"}, "current_password", "Your current password is wrong"),
    ({"current": ""}, "current_password", "Enter your current password"),
    ({"new": "", "confirm": ""}, "new_password", "Enter the new password"),
    ({"new": "too short", "confirm": "too short"}, "new_password",
     "The password must be at least 10 characters"),
    ({"new": "x" * 1001, "confirm": "x" * 1001}, "new_password",
     "Password must be 1,000 characters or fewer"),
    ({"confirm": "three random wordz"}, "confirm_password", "The passwords do not match"),
    ({"new": PASSWORD, "confirm": PASSWORD}, "new_password",
     "The new password must be different from your current one"),
    ({"new": "Sam@Member.example", "confirm": "Sam@Member.example"}, "new_password",
     "The password must not be the email address"),
])
def test_a_refused_change_says_why_and_changes_nothing(
    app_context: Flask, client: Any, signed_in: User, kwargs: dict[str, str], field: str,
    message: str,
) -> None:
    before = signed_in.password_hash

    response = _change(client, **kwargs)

    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html
    assert f'href="#{field}"' in html  # the error summary links to the field
    db.session.expire_all()
    assert db.session.get(User, signed_in.id).password_hash == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0
    assert client.get("/account/").status_code == 200  # still signed in


def test_every_problem_of_the_new_password_is_shown_at_once(
    client: Any, signed_in: User
) -> None:
    html = _change(client, new="too short", confirm="not the same").get_data(as_text=True)
    assert "The password must be at least 10 characters" in html
    assert "The passwords do not match" in html


def test_guessing_the_current_password_is_rate_limited(client: Any, signed_in: User) -> None:
    statuses = [_change(client, current=f"guess number {n}").status_code for n in range(11)]
    assert statuses == [400] * 10 + [429]


def test_a_session_without_a_password_stamp_is_signed_out(
    client: Any, signed_in: User
) -> None:
    """A session from before sessions carried the stamp, or one forged without it."""
    with client.session_transaction() as session:
        del session[STAMP_KEY]
    assert client.get("/account/").status_code == 302


@pytest.mark.parametrize("went_through", [True, False], ids=["went through", "cut before"])
def test_a_change_cut_off_in_its_commit_is_made_once(
    app_context: Flask, client: Any, signed_in: User, monkeypatch: pytest.MonkeyPatch,
    went_through: bool,
) -> None:
    """A database restart in the commit: either the change stands, or the view runs again
    from the old password; either way this session carries the stamp of the password kept."""
    from tests.web.db_faults import cut_first_commit

    runs = cut_first_commit(monkeypatch, went_through=went_through)
    response = _change(client)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert len(runs) == (1 if went_through else 2)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 1
    assert client.get("/account/").status_code == 200  # stamped with the password kept
    db.session.expire_all()
    assert db.session.get(User, signed_in.id).check_password(NEW_PASSWORD)


@pytest.fixture
def given_password(member: User, auth: AuthActions) -> User:
    """The member, signed in with a password an administrator chose."""
    member.must_change_password = True
    db.session.commit()
    auth.login_as(member)
    return member


def test_a_password_an_admin_chose_is_changed_before_anything_else(
    client: Any, given_password: User
) -> None:
    for path in ("/search", "/shortlists", "/account/", "/account/tokens", "/admin/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.location == "/account/password", path
    page = client.get("/account/password").get_data(as_text=True)
    assert 'id="must-change-password"' in page
    assert 'class="govuk-back-link"' not in page  # nowhere to go back to yet
    for path in ("/accessibility", "/privacy", "/healthz"):
        assert client.get(path).status_code == 200, path
    # The API takes bearer tokens, never this session: a 401 problem, not a redirect.
    assert client.get("/api/v1/shortlists").status_code == 401

    assert _change(client).status_code == 303
    db.session.expire_all()
    assert db.session.get(User, given_password.id).must_change_password is False
    assert client.get("/search").status_code == 200
    assert 'id="must-change-password"' not in client.get("/account/password").get_data(
        as_text=True)


def test_signing_out_is_open_while_a_password_must_change(
    client: Any, given_password: User
) -> None:
    assert client.post("/sign-out").status_code == 302
    assert client.get("/account/password").status_code == 302  # signed out: to sign in
