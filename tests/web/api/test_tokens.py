"""API tokens: the service, ``flask tokens`` and the account page."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from tests.factories import make_user
from web.extensions import db
from web.models import ApiToken
from web.services import tokens as service
from web.tokens_cli import tokens as tokens_group

# ---------------------------------------------------------------------------------------
# Service


def test_create_returns_the_secret_once_and_stores_only_its_hash(app_context: Flask) -> None:
    user = make_user()
    token, secret = service.create_token(user, name=" CRM ")
    assert secret.startswith("fm_") and len(secret) == 46
    assert token.name == "CRM"
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.prefix == secret[:10]
    stored = db.session.execute(sa.select(ApiToken.__table__)).one()._asdict()
    assert secret not in {str(v) for v in stored.values()}
    assert service.authenticate(secret) is token


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_create_needs_a_name(app_context: Flask, name: str) -> None:
    with pytest.raises(service.TokenError):
        service.create_token(make_user(), name=name)


def test_revoked_tokens_and_inactive_users_do_not_authenticate(app_context: Flask) -> None:
    user = make_user()
    token, secret = service.create_token(user, name="a")
    assert service.revoke_token(token) is True
    assert service.revoke_token(token) is False
    assert service.authenticate(secret) is None
    _, other = service.create_token(user, name="b")
    user.active = False
    assert service.authenticate(other) is None
    assert service.authenticate("not-ours") is None


def test_last_used_is_recorded_to_the_minute(app_context: Flask) -> None:
    token, _ = service.create_token(make_user(), name="a")
    now = dt.datetime(2027, 1, 1, 12, 0, tzinfo=dt.UTC)
    assert service.touch_token(token, now=now) is True
    assert service.touch_token(token, now=now + dt.timedelta(seconds=30)) is False
    assert service.touch_token(token, now=now + dt.timedelta(minutes=2)) is True


def test_tokens_are_listed_active_first(app_context: Flask) -> None:
    user = make_user()
    old, _ = service.create_token(user, name="old")
    new, _ = service.create_token(user, name="new")
    service.revoke_token(new)
    assert [t.name for t in service.list_tokens(user)] == ["old", "new"]
    assert service.get_token(old.id, user=make_user()) is None


# ---------------------------------------------------------------------------------------
# CLI


def test_cli_create_list_revoke(app: Flask, runner: FlaskCliRunner) -> None:
    with app.app_context():
        email = make_user().email
        db.session.commit()
    created = runner.invoke(tokens_group, ["create", email.upper(), "--name", "Batch job"])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("fm_")
    listed = runner.invoke(tokens_group, ["list", email])
    assert "Batch job" in listed.output and secret[:10] in listed.output
    assert secret not in listed.output
    with app.app_context():
        token_id = db.session.scalar(sa.select(ApiToken.id))
    revoked = runner.invoke(tokens_group, ["revoke", str(token_id)])
    assert revoked.exit_code == 0 and "Revoked" in revoked.output
    assert "revoked" in runner.invoke(tokens_group, ["list", email]).output
    with app.app_context():
        assert service.authenticate(secret) is None


@pytest.mark.parametrize("args", [
    ["create", "nobody@example.com", "--name", "x"],
    ["list", "nobody@example.com"],
    ["revoke", "999"],
    ["revoke", "99999999999"],
])
def test_cli_errors(app: Flask, runner: FlaskCliRunner, args: list[str]) -> None:
    result = runner.invoke(tokens_group, args)
    assert result.exit_code != 0


# ---------------------------------------------------------------------------------------
# Account page


def test_the_page_needs_sign_in(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/account/tokens")
    assert response.status_code == 302
    assert "/sign-in" in response.headers["Location"] or "sign" in response.headers["Location"]


def test_create_shows_the_secret_once_then_revoke(app: Flask, client, auth) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        user = make_user()
        db.session.commit()
        auth.login_as(user)
    page = client.get("/account/tokens")
    assert page.status_code == 200 and "You have no API tokens" in page.get_data(as_text=True)

    created = client.post("/account/tokens", data={"name": "Repairs system"})
    assert created.status_code == 200
    assert created.headers["Cache-Control"] == "no-store"
    html = created.get_data(as_text=True)
    with app.app_context():
        token = db.session.scalar(sa.select(ApiToken))
        prefix, token_id = token.prefix, token.id
    secret = html.split('id="token-secret">', 1)[1].split("<", 1)[0]
    assert secret.startswith(prefix)
    with app.app_context():
        assert service.authenticate(secret) is not None
    again = client.get("/account/tokens").get_data(as_text=True)
    assert secret not in again and prefix in again

    revoked = client.post(f"/account/tokens/{token_id}/revoke")
    assert revoked.status_code == 303
    assert "Revoked" in client.get("/account/tokens").get_data(as_text=True)
    with app.app_context():
        assert service.authenticate(secret) is None


def test_create_without_a_name_is_an_error(app: Flask, client, auth) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        auth.login_as(make_user())
        db.session.commit()
    response = client.post("/account/tokens", data={"name": ""})
    assert response.status_code == 400
    assert "Enter a name for the token" in response.get_data(as_text=True)


def test_another_users_token_cannot_be_revoked(app: Flask, client, auth) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        owner = make_user()
        token, secret = service.create_token(owner, name="theirs")
        token_id = token.id
        auth.login_as(make_user())
        db.session.commit()
    assert client.post(f"/account/tokens/{token_id}/revoke").status_code == 404
    assert client.post("/account/tokens/99999999999/revoke").status_code == 404
    with app.app_context():
        assert service.authenticate(secret) is not None


def test_creating_and_revoking_are_audited_without_the_secret(
    app: Flask, runner: FlaskCliRunner, client, auth  # type: ignore[no-untyped-def]
) -> None:
    from web.models import AuditEvent

    with app.app_context():
        user = make_user(email="ada@member.example")
        db.session.commit()
        user_id, organisation_id = user.id, user.organisation_id
        auth.login_as(user)
    page = client.post("/account/tokens", data={"name": "Repairs system"})
    secret = page.get_data(as_text=True).split('id="token-secret">', 1)[1].split("<", 1)[0]
    with app.app_context():
        token_id = db.session.scalar(sa.select(ApiToken.id))
    assert client.post(f"/account/tokens/{token_id}/revoke").status_code == 303
    made = runner.invoke(tokens_group, ["create", "ada@member.example", "--name", "Batch"])
    assert made.exit_code == 0, made.output
    with app.app_context():
        events = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
        rows = [(e.action, e.actor_id, e.organisation_id, e.object_type, e.details["name"])
                for e in events]
        texts = [str(e.details) for e in events]
        db.session.remove()
    assert rows == [
        ("api_token.created", user_id, organisation_id, "api_token", "Repairs system"),
        ("api_token.revoked", user_id, organisation_id, "api_token", "Repairs system"),
        ("api_token.created", None, organisation_id, "api_token", "Batch"),  # the system
    ]
    assert not any(secret in text or secret[10:20] in text for text in texts)


@pytest.mark.parametrize("went_through", [True, False], ids=["went through", "cut before"])
@pytest.mark.parametrize("write", ["create", "revoke"])
def test_a_token_write_cut_off_in_its_commit_answers_as_it_would_have_once(
    app: Flask, client, auth, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
    write: str, went_through: bool,
) -> None:
    """Cut off in its commit by a database restart: went through, the page made before it
    is the answer (creating: the secret of the one token kept); cut before, the write runs
    again. One token is made or revoked, with one event."""
    from tests.web.db_faults import cut_first_commit
    from web.models import AuditEvent

    with app.app_context():
        user = make_user()
        token, _ = service.create_token(user, name="Old")
        db.session.commit()
        token_id = token.id
        auth.login_as(user)
        events_before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    runs = cut_first_commit(monkeypatch, went_through=went_through)
    if write == "create":
        response = client.post("/account/tokens", data={"name": "Repairs system"})
        assert response.status_code == 200, response.get_data(as_text=True)
    else:
        response = client.post(f"/account/tokens/{token_id}/revoke")
        assert response.status_code == 303
    assert len(runs) == (1 if went_through else 2)
    with app.app_context():
        tokens = db.session.scalars(sa.select(ApiToken).order_by(ApiToken.id)).all()
        events = db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)
                                    .offset(events_before)).all()
        if write == "create":
            assert [t.name for t in tokens] == ["Old", "Repairs system"]
            html = response.get_data(as_text=True)
            secret = html.split('id="token-secret">', 1)[1].split("<", 1)[0]
            assert service.authenticate(secret) is not None  # the secret shown is the one kept
            assert events == ["api_token.created"]
        else:
            assert tokens[0].revoked_at is not None
            assert events == ["api_token.revoked"]
        db.session.remove()
