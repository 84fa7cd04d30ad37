"""Security headers on every response; HTTPS settings behind a proxy."""

from __future__ import annotations

from pathlib import Path

import pytest
from itsdangerous import BadSignature

from tests.factories import make_user
from web import create_app
from web.config import ConfigError, load_config
from web.extensions import db
from web.security import CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("path", ["/", "/sign-in", "/no-such-page", "/api/v1/openapi.json"])
def test_security_headers_on_every_response(client, path: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get(path)
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in response.headers


def test_session_cookie_is_httponly_and_samesite(client, app_context) -> None:  # type: ignore[no-untyped-def]
    make_user(email="cookie@member.example", password="correct horse battery")
    db.session.commit()
    response = client.post("/sign-in", data={"email": "cookie@member.example",
                                             "password": "correct horse battery"})
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_behind_https_proxy_secures_cookies_and_sends_hsts(tmp_path: Path) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/s.sqlite3",
                      "SECRET_KEY": "k" * 32, "BEHIND_HTTPS_PROXY": True},
                     instance_path=str(tmp_path))
    assert app.config["SESSION_COOKIE_SECURE"]
    response = app.test_client().get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_bad_proxy_flag_names_itself(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="BEHIND_HTTPS_PROXY"):
        load_config({"BEHIND_HTTPS_PROXY": "maybe"}, tmp_path)


def test_sign_in_is_rate_limited_with_a_clear_429(client) -> None:  # type: ignore[no-untyped-def]
    for _attempt in range(10):
        response = client.post("/sign-in", data={"email": "a@b.example", "password": "nope"})
        assert response.status_code == 400
    response = client.post("/sign-in", data={"email": "a@b.example", "password": "nope"})
    assert response.status_code == 429
    assert "Too many" in response.get_data(as_text=True)
    assert client.get("/sign-in").status_code == 200  # reading the form is not limited


def _rate_limit_app(tmp_path: Path, **config: object):  # type: ignore[no-untyped-def]
    return create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/r.sqlite3",
                       "SECRET_KEY": "k" * 32, **config}, instance_path=str(tmp_path))


def test_no_rate_limit_hook_runs_before_every_request_when_none_is_set(tmp_path: Path) -> None:
    app = _rate_limit_app(tmp_path)
    hooks = [getattr(hook, "__wrapped__", hook) for hook in app.before_request_funcs[None]]
    assert not any(getattr(hook, "__name__", "") == "_check_request_limit" for hook in hooks)


def test_a_default_rate_limit_keeps_the_hook_and_applies(tmp_path: Path) -> None:
    from web.extensions import limiter

    app = _rate_limit_app(tmp_path, RATELIMIT_DEFAULT="2 per minute")
    client = app.test_client()
    try:
        assert [client.get("/healthz").status_code for _ in range(3)] == [200, 200, 429]
    finally:
        # The limiter is one object for every app made in this process, and a later app
        # without a default does not clear this one: put it back as the tests expect it.
        limiter.limit_manager.set_default_limits([])
        limiter.reset()


def test_the_session_serializer_is_reused_until_the_secret_key_changes(tmp_path: Path) -> None:
    app = _rate_limit_app(tmp_path)
    interface = app.session_interface
    first = interface.get_signing_serializer(app)
    assert interface.get_signing_serializer(app) is first
    signed = first.dumps({"user": 1})  # type: ignore[union-attr]
    app.secret_key = "n" * 32
    app.config["SECRET_KEY_FALLBACKS"] = ["k" * 32]
    rotated = interface.get_signing_serializer(app)
    assert rotated is not first
    assert rotated.loads(signed) == {"user": 1}  # type: ignore[union-attr]  # by the fallback
    assert rotated.dumps({"user": 1}) != signed  # type: ignore[union-attr]  # signed anew
    app.config["SECRET_KEY_FALLBACKS"] = []
    with pytest.raises(BadSignature):
        interface.get_signing_serializer(app).loads(signed)  # type: ignore[union-attr]
