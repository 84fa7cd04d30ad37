"""Blueprints of the web front end and the JSON API, registered by the app factory."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register every blueprint on ``app``."""
    from web.api import bp as api_bp  # exempt from CSRF in web/api/blueprint.py (bearer tokens)
    from web.views.account import bp as account_bp
    from web.views.admin import bp as admin_bp
    from web.views.auth import bp as auth_bp
    from web.views.catalogue import bp as catalogue_bp
    from web.views.main import bp as main_bp
    from web.views.search import bp as search_bp
    from web.views.shortlists import bp as shortlists_bp
    from web.views.suppliers import bp as suppliers_bp

    for blueprint in (main_bp, auth_bp, search_bp, catalogue_bp, suppliers_bp, shortlists_bp,
                      account_bp, admin_bp, api_bp):
        app.register_blueprint(blueprint)
