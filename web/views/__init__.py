"""Blueprints of the web front end, registered by the app factory."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register every blueprint on ``app``."""
    from web.views.main import bp as main_bp

    app.register_blueprint(main_bp)
