"""API authentication: bearer tokens only; missing, unknown and revoked tokens are 401."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.web.api.conftest import SEARCH, Api, ApiWorld, assert_problem
from web import create_app
from web.api.routing import OPERATIONS
from web.extensions import db
from web.models import ApiToken, User


def _sample_path(path: str) -> str:
    return path.replace("{shortlist_id}", "1").replace("{entry_id}", "1").replace(
        "{supplier_id}", "1")


AUTHENTICATED = sorted((op.method.upper(), _sample_path(op.path))
                       for op in OPERATIONS if op.authenticated)


@pytest.mark.parametrize(("method", "path"), AUTHENTICATED)
def test_every_operation_needs_a_token(api: Api, world: ApiWorld, method: str, path: str) -> None:
    response = api.call(method, path, json={})
    body = assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "error=" not in response.headers["WWW-Authenticate"]
    assert "Bearer" in body["detail"]


@pytest.mark.parametrize("header", [
    "Bearer fm_not-a-real-token",
    "Bearer ",
    "Basic dXNlcjpwYXNz",
    "Bearer " + "fm_" + "x" * 5000,
    "fm_no_scheme",
])
def test_unknown_or_malformed_tokens_are_401(api: Api, world: ApiWorld, header: str) -> None:
    response = api.get("/suppliers", headers={"Authorization": header})
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_unknown_token_says_invalid_token(api: Api, world: ApiWorld) -> None:
    response = api.get("/suppliers", token="fm_" + "a" * 43)
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].replace('"', "").endswith("error=invalid_token")


def test_revoked_token_is_401(api: Api, world: ApiWorld) -> None:
    assert_problem(api.get("/suppliers", token=world.revoked), 401)
    assert api.get("/suppliers", token=world.member).status_code == 200


def test_deactivated_users_token_is_401(app: Flask, api: Api, world: ApiWorld) -> None:
    with app.app_context():
        db.session.get(User, world.member_id).active = False
        db.session.commit()
    assert_problem(api.get("/suppliers", token=world.member), 401)


def test_a_signed_in_session_does_not_authenticate_the_api(
    app: Flask, api: Api, auth, world: ApiWorld  # type: ignore[no-untyped-def]
) -> None:
    with app.app_context():
        auth.login_as(db.session.get(User, world.member_id))
    assert_problem(api.get("/suppliers"), 401)


def test_use_is_recorded_on_the_token(app: Flask, api: Api, world: ApiWorld) -> None:
    assert api.get("/suppliers", token=world.member).status_code == 200
    with app.app_context():
        tokens = db.session.scalars(db.select(ApiToken).where(ApiToken.user_id == world.member_id))
        used = {t.name: t.last_used_at for t in tokens}
    assert used["test"] is not None
    assert used["old"] is None


def test_the_api_is_exempt_from_csrf(app: Flask, world: ApiWorld) -> None:
    # The shared test app turns CSRF off; this one has it on, as in production.
    csrf_app = create_app({**app.config, "WTF_CSRF_ENABLED": True, "TESTING": True},
                          instance_path=app.instance_path)
    client = csrf_app.test_client()
    response = client.post("/api/v1/search", json=SEARCH,
                           headers={"Authorization": f"Bearer {world.member}"})
    assert response.status_code == 200, response.get_json()
    with csrf_app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("cut", ["touch went through", "touch cut before", "read after it"])
def test_a_cut_around_noting_a_tokens_use_runs_the_call_again(
    app: Flask, api: Api, world: ApiWorld, monkeypatch: pytest.MonkeyPatch, cut: str
) -> None:
    """Noting a token's last use commits, and doing it twice changes nothing. So a call cut
    off in that commit, or in a read after it, runs again like any call cut off before
    committing: before, a read-only call answered 503 there (a commit had begun)."""
    import sqlalchemy as sa

    from tests.web.db_faults import cut_first_commit

    runs: list[int] = []
    if cut == "read after it":
        paginate = db.paginate

        def cut_read(*args, **kwargs):  # type: ignore[no-untyped-def]
            runs.append(1)
            if len(runs) == 1:
                db.session.rollback()
                raise sa.exc.OperationalError("SELECT …", {}, Exception(
                    "terminating connection due to administrator command"),
                    connection_invalidated=True)
            return paginate(*args, **kwargs)

        monkeypatch.setattr(db, "paginate", cut_read)
    else:
        runs = cut_first_commit(monkeypatch, went_through=cut == "touch went through")
    response = api.get("/suppliers", token=world.member)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert len(runs) == (1 if cut == "touch went through" else 2)
    with app.app_context():
        token = db.session.scalar(sa.select(ApiToken).join(User).where(
            User.id == world.member_id, ApiToken.revoked_at.is_(None)))
        assert token is not None and token.last_used_at is not None
        db.session.remove()
