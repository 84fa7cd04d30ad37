"""Templates and static assets (GOV.UK Frontend).

Templates come from ``web/templates`` first, then from the GOV.UK Frontend packages under
their prefixes, as in LandRegistry/govuk-frontend-flask: the component macros, e.g. ::

    {% from "govuk_frontend_jinja/components/button/macro.html" import govukButton %}

and the templates ``govuk_frontend_wtf``'s form widgets render themselves with (a form's
fields use ``govuk_frontend_wtf.wtforms_widgets``; ``wtforms_errors(form)`` feeds the error
summary, which ``base.html`` shows for a ``form`` in the context).

The CSS and GOV.UK Frontend's JavaScript are built by ``npm run build`` into
``web/static/govuk/`` (see ``web/assets/build.mjs``); pages still render, unstyled, when
they have not been built.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from flask import Flask, has_request_context, request, url_for
from govuk_frontend_wtf.main import WTFormsHelpers
from jinja2 import ChoiceLoader, PackageLoader, PrefixLoader
from werkzeug.routing import BuildError

SERVICE_ID = "framework-match"
SERVICE_NAME = "Framework Match"
PHASE = "Beta"

STATIC_FOLDER = Path(__file__).resolve().parent / "static"
CSS_FILE = "govuk/css/framework-match.min.css"
APP_JS_FILE = "js/app.js"
# Sets the body classes GOV.UK Frontend's CSS and JavaScript test for; a file, not the
# usual inline script, so the Content-Security-Policy can forbid inline scripts.
JS_ENABLED_FILE = "js/js-enabled.js"


class NavItem(NamedTuple):
    """One link of the service navigation: label, href and whether it is the current area."""

    label: str
    href: str
    active: bool = False


# (label, endpoint, blueprint) of the service navigation. An endpoint that is not
# registered yet links to "#", so the header can list areas before they exist.
NAVIGATION: tuple[tuple[str, str, str], ...] = (
    ("Search", "search.search", "search"),
    ("Shortlists", "shortlists.index", "shortlists"),
    ("Catalogue", "catalogue.index", "catalogue"),
    ("Admin", "admin.index", "admin"),
)


def init_app(app: Flask) -> None:
    """Configure Jinja (loaders, whitespace) and the template context of every page."""
    app.jinja_loader = ChoiceLoader(
        [
            app.jinja_loader,  # web/templates: ours win
            PrefixLoader(
                {
                    "govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja"),
                    "govuk_frontend_wtf": PackageLoader("govuk_frontend_wtf"),
                }
            ),
        ]
    )
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.jinja_env.filters["govuk_navigation"] = govuk_navigation
    app.context_processor(_template_context)
    WTFormsHelpers(app)  # the wtforms_errors() template global, for error summaries

    if not (STATIC_FOLDER / CSS_FILE).is_file():
        app.logger.warning(
            "front-end assets are not built (%s missing): run `npm ci && npm run build`",
            CSS_FILE,
        )


def _template_context() -> dict[str, Any]:
    # Values passed to render_template() win over these, so a page can set its own
    # nav_items (Flask does not let a context processor override explicit context).
    context: dict[str, Any] = {
        "service_id": SERVICE_ID,
        "service_name": SERVICE_NAME,
        "phase": PHASE,
    }
    if not has_request_context():
        # Rendering outside a request (a report built by a CLI command): no URLs to make.
        return context
    context.update(
        asset_url=asset_url,
        css_url=asset_url(CSS_FILE),
        # Our module imports GOV.UK Frontend's bundle itself (web/static/js/app.js).
        js_url=asset_url(APP_JS_FILE),
        js_enabled_url=asset_url(JS_ENABLED_FILE),
        nav_items=default_nav_items(),
    )
    return context


def default_nav_items() -> list[NavItem]:
    """The service navigation, with the area of the current request marked active."""
    return [
        NavItem(label, _url_or_placeholder(endpoint), request.blueprint == blueprint)
        for label, endpoint, blueprint in NAVIGATION
    ]


def govuk_navigation(items: Iterable[tuple[str, str, bool]]) -> list[dict[str, Any]]:
    """``nav_items`` as the ``navigation`` parameter of the service navigation macro.

    The link to the page being shown is "current" (aria-current="page"); an active area
    otherwise is "active" (aria-current="true").
    """
    return [
        {"text": label, "href": href, "current": href == request.path, "active": active}
        for label, href, active in items
    ]


def _url_or_placeholder(endpoint: str) -> str:
    try:
        return url_for(endpoint)
    except BuildError:
        return "#"


def asset_url(filename: str) -> str:
    """URL of a file under ``web/static``, with a content hash so browsers can cache it."""
    path = STATIC_FOLDER / filename
    try:
        stat = path.stat()
    except OSError:
        return url_for("static", filename=filename)
    # Keyed on size and mtime: a rebuild changes the hash without a restart.
    return url_for("static", filename=filename, v=_digest(path, stat.st_size, stat.st_mtime_ns))


@lru_cache(maxsize=64)
def _digest(path: Path, _size: int, _mtime_ns: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
