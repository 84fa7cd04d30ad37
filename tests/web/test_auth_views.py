"""Signing in and out."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from tests.factories import make_user
from web.extensions import db
from web.views.auth import WRONG_CREDENTIALS, safe_next_url

PASSWORD = "correct horse battery"


@pytest.fixture
def member(app_context: Flask) -> dict[str, object]:
    user = make_user(email="sam@member.example", name="Sam Member")
    db.session.commit()
    return {"id": user.id, "email": user.email}


def test_sign_in_page(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/sign-in")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<title>Sign in – Framework Match</title>" in html
    assert 'for="email"' in html and 'for="password"' in html
    assert 'type="email"' in html and 'autocomplete="current-password"' in html


def test_sign_in_success_goes_to_search(client, member) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/sign-in", data={"email": "Sam@Member.example ",
                                             "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/search"
    with client.session_transaction() as session:
        assert session["user_id"] == member["id"]


@pytest.mark.parametrize(
    ("data", "messages"),
    [
        ({"email": "", "password": ""}, ["Enter your email address", "Enter your password"]),
        ({"email": "not-an-email", "password": "x"},
         ["Enter an email address in the correct format, like name@example.com"]),
        ({"email": "sam@member.example", "password": "wrong password"}, [WRONG_CREDENTIALS]),
        ({"email": "nobody@member.example", "password": PASSWORD}, [WRONG_CREDENTIALS]),
    ],
)
def test_sign_in_errors(client, member, data, messages) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/sign-in", data=data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "<title>Error: Sign in – Framework Match</title>" in html
    assert "govuk-error-summary" in html
    for message in messages:
        assert f'">{message}</a>' in html  # in the summary, linking to the field
        assert re.search(rf'class="govuk-error-message">\s*<span class="govuk-visually-hidden">'
                         rf'Error:</span> {re.escape(message)}', html)
    with client.session_transaction() as session:
        assert "user_id" not in session


def test_inactive_user_gets_the_same_message(client, app_context) -> None:  # type: ignore[no-untyped-def]
    make_user(email="gone@member.example", active=False)
    db.session.commit()
    response = client.post("/sign-in", data={"email": "gone@member.example",
                                             "password": PASSWORD})
    assert response.status_code == 400
    assert WRONG_CREDENTIALS in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("next_url", "location"),
    [
        ("/catalogue/", "/catalogue/"),
        ("/search/results?need=roof&site=1", "/search/results?need=roof&site=1"),
        ("https://evil.example/", "/search"),
        ("//evil.example/x", "/search"),
        ("/\\evil.example", "/search"),
        ("javascript:alert(1)", "/search"),
        ("catalogue", "/search"),
    ],
)
def test_sign_in_honours_local_next_only(client, member, next_url, location) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/sign-in", query_string={"next": next_url}).get_data(as_text=True)
    if location == next_url:
        assert "next=" in page  # the form posts back with it
    response = client.post("/sign-in", query_string={"next": next_url},
                           data={"email": member["email"], "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == location


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        (None, False), ("", False), ("/", True), ("/a/b?c=d#e", True), ("//x", False),
        ("/\\x", False), ("http://x/", False), ("x", False), ("/a\nb", False),
        ("/a\\b", False), ("/" + "a" * 3000, False),
    ],
)
def test_safe_next_url(target, safe) -> None:  # type: ignore[no-untyped-def]
    assert (safe_next_url(target) is not None) == safe


def test_protected_page_round_trip(client, member) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/catalogue/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in?next=")
    response = client.post(response.headers["Location"],
                           data={"email": member["email"], "password": PASSWORD})
    assert response.headers["Location"] == "/catalogue/"


def test_signed_in_visit_to_sign_in_redirects(client, auth, member, app_context) -> None:  # type: ignore[no-untyped-def]
    from web.models import User

    auth.login_as(db.session.get(User, member["id"]))
    response = client.get("/sign-in")
    assert response.status_code == 302 and response.headers["Location"] == "/search"


def test_sign_out(client, auth, member, app_context) -> None:  # type: ignore[no-untyped-def]
    from web.models import User

    auth.login_as(db.session.get(User, member["id"]))
    assert client.get("/sign-out").status_code == 405  # a link cannot sign you out
    response = client.post("/sign-out")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    with client.session_transaction() as session:
        assert "user_id" not in session
    assert "You have signed out." in client.get("/").get_data(as_text=True)


def test_sign_out_needs_the_csrf_token(app, client, auth, member, app_context) -> None:  # type: ignore[no-untyped-def]
    from web.models import User

    auth.login_as(db.session.get(User, member["id"]))
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        assert client.post("/sign-out").status_code == 400
        with client.session_transaction() as session:
            assert session.get("user_id") == member["id"]
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_account_partial(app, client, auth, member, app_context) -> None:  # type: ignore[no-untyped-def]
    """The header snippet proposed for base.html: name, organisation and sign-out button."""
    from flask import render_template

    from web.models import User

    user = db.session.get(User, member["id"])
    with app.test_request_context("/"):
        from flask import g

        g.user = None
        assert "Sign in" in render_template("auth/_account.html")
        g.user = user
        html = render_template("auth/_account.html", current_user=user)
    assert "Sam Member" in html and user.organisation.name in html
    assert 'action="/sign-out"' in html and 'name="csrf_token"' in html


def test_a_signed_in_page_reads_the_data_version_with_its_user(  # type: ignore[no-untyped-def]
    client, auth, member, app_context, sql_statements
) -> None:
    from web.models import User
    from web.services.versions import bump_version, version_token

    bump_version()  # a version with a time stamp, as a register has
    db.session.commit()
    auth.login_as(db.session.get(User, member["id"]))
    assert client.get("/").status_code == 200  # counts the register once per version
    current = version_token()
    db.session.rollback()
    sql_statements.clear()
    page = client.get("/")
    assert page.status_code == 200 and "Sam Member" in page.get_data(as_text=True)
    version_reads = [s for s in sql_statements if "data_versions" in s]
    assert len(version_reads) == 1 and "users" in version_reads[0]
    # the version read that way is the one the register's count was kept under: no recount
    assert not any("from suppliers" in s.lower() for s in sql_statements)
    assert version_token() == current
