"""Blueprints of the web front end and the JSON API, registered by the app factory."""

from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter

from web.models.base import MAX_ID


class IdConverter(IntegerConverter):
    """``<int:…>`` with a ceiling of :data:`MAX_ID` unless the rule gives its own: a larger
    number in a URL is a 404, never an integer overflow in the database (a 500)."""

    def __init__(self, map: Any, fixed_digits: int = 0, min: int | None = None,
                 max: int | None = MAX_ID, signed: bool = False) -> None:
        super().__init__(map, fixed_digits, min, max, signed)


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

    # Before any rule is added: rules look their converters up as they are added.
    app.url_map.converters["int"] = IdConverter
    for blueprint in (main_bp, auth_bp, search_bp, catalogue_bp, suppliers_bp, shortlists_bp,
                      account_bp, admin_bp, api_bp):
        app.register_blueprint(blueprint)
