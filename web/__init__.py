"""framework-match web application: the app factory.

``create_app()`` is the one place the application is assembled: configuration from the
environment (:mod:`web.config`), extensions, blueprints, CLI commands and error pages.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_limiter import Limiter

from web.config import ConfigError, engine_options, load_config
from web.json_provider import OrjsonProvider
from web.sessions import SessionInterface

__all__ = ["ConfigError", "create_app"]


def create_app(
    test_config: Mapping[str, Any] | None = None, *, instance_path: str | None = None
) -> Flask:
    """Create and configure the application.

    ``test_config`` overrides settings read from the environment and ``instance_path``
    moves the instance folder (tests use both).

    :raise ConfigError: when a setting in the environment is invalid.
    """
    app = Flask(__name__, instance_relative_config=True, instance_path=instance_path)
    app.json = OrjsonProvider(app)
    app.session_interface = SessionInterface()
    app.config.from_mapping(load_config(os.environ, app.instance_path))
    app.config.update(
        SQLALCHEMY_RECORD_QUERIES=False,
        # Long enough for a member's working session; sessions are signed, not stored.
        PERMANENT_SESSION_LIFETIME=8 * 60 * 60,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=20 * 1024 * 1024,  # bytes; largest upload (supplier import files)
        # Any other body (a URL-encoded form, JSON) is text a person typed or pasted: the
        # largest is a social-value catalogue of up to 500,000 characters of JSON, which
        # URL-encoding can triple. See _limit_text_bodies.
        MAX_TEXT_BODY_LENGTH=2 * 1024 * 1024,  # bytes
        # Werkzeug applies these two to multipart forms only (URL-encoded ones are bounded
        # by the body's length alone): bytes of one text field, and fields and files.
        MAX_FORM_MEMORY_SIZE=500_000,
        MAX_FORM_PARTS=1000,
    )
    if test_config is not None:
        app.config.from_mapping(test_config)
    # Derived from the final database URL, which test_config may have replaced.
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config["SQLALCHEMY_DATABASE_URI"])
    )

    _configure_logging(app)

    from web import auth, cli, db_setup, errors, frontend, ops, security, views
    from web.extensions import csrf, limiter

    ops.init_app(app)  # request ids, one JSON log line per request, /readyz
    _limit_text_bodies(app)  # before CSRFProtect's hook, which reads the form
    db_setup.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    security.init_app(app)
    auth.init_app(app)
    frontend.init_app(app)
    errors.init_app(app)
    views.init_app(app)
    _drop_idle_limiter_hook(app, limiter)  # after every blueprint is registered
    db_setup.retry_views_after_disconnect(app)  # wraps every view and hook: after both
    cli.init_app(app)
    return app


# Settings whose limits Flask-Limiter applies in its hook before every request; a view's
# own limit (@limiter.limit) is checked by the decorator instead.
_LIMITS_CHECKED_BEFORE_EVERY_REQUEST = ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION",
                                        "RATELIMIT_META")


def _drop_idle_limiter_hook(app: Flask, limiter: Limiter) -> None:
    """Remove the rate limiter's hook before every request when it has nothing to check.

    That hook applies default, application-wide, meta and blueprint-wide limits. We set
    none of them (only sign-in has a limit, on its view, which the view's decorator
    checks), so the hook found nothing on every request; dropping it and keeping one
    session serializer (web/sessions.py) took 3 % off an API search's instructions. Set
    any of them and the hook stays.
    """
    manager = limiter.limit_manager
    if (manager.default_limits or manager.application_limits
            or any(app.config.get(name) for name in _LIMITS_CHECKED_BEFORE_EVERY_REQUEST)
            or any(manager.blueprint_limits(app, name) for name in app.blueprints)):
        return
    hooks = app.before_request_funcs.get(None, [])
    hooks[:] = [hook for hook in hooks if hook != limiter._check_request_limit]


def _limit_text_bodies(app: Flask) -> None:
    """Hold every request but a multipart upload to ``MAX_TEXT_BODY_LENGTH`` bytes.

    ``MAX_CONTENT_LENGTH`` is sized for uploaded files; a URL-encoded form is read whole
    into memory before any field's own length limit is checked, so without this a sign-in
    form could be 20 MB. Too large a body is a 413.
    """
    from flask import request

    @app.before_request
    def _limit() -> None:
        if request.mimetype != "multipart/form-data":
            request.max_content_length = min(
                request.max_content_length or app.config["MAX_TEXT_BODY_LENGTH"],
                app.config["MAX_TEXT_BODY_LENGTH"],
            )


def _configure_logging(app: Flask) -> None:
    level = app.config["LOG_LEVEL"]
    app.logger.setLevel(level)
    logging.getLogger("web").setLevel(level)
    logging.getLogger("matcher").setLevel(level)
