"""Browser tests: Playwright driving Debian's Chromium against a real server.

One live server and one browser for the whole package (both are torn down when its last
test has run), and a fresh browser context (cookies, storage) per test.

The server is the real application behind a real WSGI server (werkzeug, threaded) on a
free loopback port, with CSRF protection **on**: the browser submits the real forms.

Its database is always its own SQLite file in a temporary folder, even when
``TEST_DATABASE_URL`` points the rest of the suite at PostgreSQL. The shared ``app``
fixture (tests/conftest.py) drops and re-migrates that database and empties every table
after each test, so a server holding the demo data in the same database would lose it
under the browser (or wipe another test's rows). The browser tests check what the
browser sees; the database layer is covered on both databases by the rest of the suite.

Without Chromium (``/usr/bin/chromium``, or ``CHROMIUM_PATH``) or the ``playwright``
package, every browser test is skipped with a plain reason, which ``pytest -ra`` prints in
its summary; with ``REQUIRE_BROWSER_TESTS`` set (CI: ``.ci/run`` installs Chromium and sets
it) they fail instead. Playwright never downloads a browser here: it launches Debian's.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from flask import Flask, got_request_exception

from tests.conftest import TEST_SECRET_KEY
from web.services.demo import DEFAULT_DEMO_PASSWORD

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_FIXTURES = REPO_ROOT / "fixtures" / "demo"
AXE_SCRIPT = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
# Without the background-networking flags Chromium keeps calling Google's hosts, which this
# closed network refuses; --no-sandbox because CI runs as root.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: Every demo user's password (load_demo is given it, whatever DEMO_PASSWORD says).
DEMO_PASSWORD = DEFAULT_DEMO_PASSWORD
#: A demo member (fixtures/demo/members.json): Northmoor Homes, sites around Wigan.
MEMBER_EMAIL = "aisha.rahman@northmoor-homes.example"


def browser_unavailable() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.is_file():
        return (f"browser tests skipped: {CHROMIUM} not found — "
                "apt-get install chromium")
    if importlib.util.find_spec("playwright") is None:
        return ("browser tests skipped: the Python package playwright is not installed — "
                "pip install playwright (it is in the test dependency group)")
    return None


@pytest.fixture(scope="session", autouse=True)
def _skip_without_browser() -> None:
    """Skip every browser test, saying why, when Chromium or Playwright is missing.

    Session-scoped so that it runs before the package's server and browser fixtures
    (pytest sets up wider scopes first); autouse, so it applies to this folder only."""
    reason = browser_unavailable()
    if reason and os.environ.get("REQUIRE_BROWSER_TESTS"):
        pytest.fail(reason.replace("browser tests skipped", "browser tests cannot run")
                    + " (REQUIRE_BROWSER_TESTS is set, as in .ci/run)", pytrace=False)
    if reason:
        pytest.skip(reason)


# ---------------------------------------------------------------------------------------
# The live server


@dataclass
class LiveServer:
    """The application served over HTTP on loopback."""

    url: str
    app: Flask
    #: Exceptions the application raised while handling a request (each becomes a 500).
    errors: list[BaseException] = field(default_factory=list)

    def __call__(self, path: str) -> str:
        """The absolute URL of ``path`` on this server."""
        return self.url + path


@pytest.fixture(scope="package")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, postcode_directory_path: Path
) -> Iterator[LiveServer]:
    """The app on a fresh SQLite database with the demo data, served in a thread."""
    import flask_migrate
    from werkzeug.serving import make_server

    from web import create_app
    from web.extensions import db
    from web.postcodes import get_directory
    from web.services.demo import load_demo

    instance = tmp_path_factory.mktemp("browser-instance")
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'browser.sqlite3'}",
        "SECRET_KEY": TEST_SECRET_KEY,
        "WTF_CSRF_ENABLED": True,  # real forms, real tokens
        "POSTCODES_DIRECTORY_PATH": str(postcode_directory_path),
    }, instance_path=str(instance))
    with app.app_context():
        flask_migrate.upgrade()
        load_demo(DEMO_FIXTURES, directory=get_directory(app), password=DEMO_PASSWORD)
        db.session.commit()

    server = LiveServer(url="", app=app)

    def record(_sender: Flask, exception: BaseException, **_extra: Any) -> None:
        server.errors.append(exception)

    got_request_exception.connect(record, app)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    server.url = f"http://127.0.0.1:{http.server_port}"
    thread = threading.Thread(target=http.serve_forever, name="browser-live-server",
                              daemon=True)
    thread.start()
    # werkzeug logs one INFO line per request; keep the test output to what matters.
    werkzeug_logger = logging.getLogger("werkzeug")
    previous_level = werkzeug_logger.level
    werkzeug_logger.setLevel(logging.WARNING)
    try:
        yield server
    finally:
        http.shutdown()
        thread.join(timeout=10)
        http.server_close()
        werkzeug_logger.setLevel(previous_level)
        got_request_exception.disconnect(record, app)
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(autouse=True)
def _no_server_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test during which the application raised (a 500 the page may hide)."""
    if "live_server" not in request.fixturenames:
        yield
        return
    server: LiveServer = request.getfixturevalue("live_server")
    yield
    errors, server.errors = server.errors, []
    assert not errors, f"the server raised while serving this test: {errors!r}"


# ---------------------------------------------------------------------------------------
# The browser


@pytest.fixture(scope="package")
def playwright_instance() -> Iterator[Playwright]:
    """Playwright's driver (bundled in the wheel), started once."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="package")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless, launched once (never a downloaded browser)."""
    browser = playwright_instance.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
    )
    try:
        yield browser
    finally:
        browser.close()


@dataclass
class ConsoleLog:
    """Console errors and uncaught page errors seen in a context (CSP violations among
    them: Chromium reports each one as a console error)."""

    errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            location = message.location or {}
            self.errors.append(f"{message.text} ({location.get('url', '?')})")

    def on_page_error(self, error: Any) -> None:
        self.errors.append(f"uncaught: {error}")


@pytest.fixture
def console() -> ConsoleLog:
    """The console errors of this test's pages."""
    return ConsoleLog()


def new_context(browser: Browser, console: ConsoleLog, **options: Any) -> BrowserContext:
    """A fresh context whose pages report their console errors to ``console``."""
    context = browser.new_context(locale="en-GB", timezone_id="Europe/London", **options)
    context.set_default_timeout(10_000)

    def watch(page: Page) -> None:
        page.on("console", console.on_console)
        page.on("pageerror", console.on_page_error)

    context.on("page", watch)
    return context


def sign_in(page: Page, server: LiveServer, email: str = MEMBER_EMAIL) -> None:
    """Sign in through the real form (CSRF token included)."""
    page.goto(server("/sign-in"))
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/search")


# ---------------------------------------------------------------------------------------
# What the accessibility scans found, shown at the end of the run


@dataclass
class AxeReport:
    """Each scanned page and axe-core's findings there."""

    pages: dict[str, list[tuple[str, str, str, int]]] = field(default_factory=dict)

    def record(self, page: str, violations: list[dict[str, Any]],
               accepted: dict[int, str] | None = None) -> None:
        """Note ``violations`` found on ``page``; ``accepted`` maps the id() of a finding
        that does not fail the test to why."""
        accepted = accepted or {}
        self.pages[page] = [
            (v.get("impact") or "unknown", v["id"],
             v["help"] + (f" [accepted: {accepted[id(v)]}]" if id(v) in accepted else ""),
             len(v["nodes"]))
            for v in violations
        ]

    def lines(self) -> list[str]:
        try:
            package = json.loads((AXE_SCRIPT.parent / "package.json").read_text())
            version = package["version"]
        except (OSError, ValueError, KeyError):
            version = "?"
        lines = [f"axe-core {version}, WCAG 2.0/2.1/2.2 A and AA rules "
                 "(serious and critical fail the test):"]
        for page, found in self.pages.items():
            if not found:
                lines.append(f"  {page}: no violations")
            for impact, rule, help_text, count in found:
                lines.append(f"  {page}: {impact} {rule}, {count} element(s): {help_text}")
        return lines


AXE_REPORT = AxeReport()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if AXE_REPORT.pages:
        terminalreporter.write_sep("-", "axe-core accessibility scan")
        for line in AXE_REPORT.lines():
            terminalreporter.write_line(line)
