"""axe-core scans of the member's pages: no serious or critical WCAG A/AA violations.

Each page is scanned as a member sees it, with every ``<details>`` opened so the score
breakdowns and "Add to shortlist" forms are scanned too. axe-core comes from npm
(``node_modules/axe-core``, pinned in package.json) and is injected into the page under
the page's own Content-Security-Policy (see :func:`run_axe`); only if that failed would the
page be opened again in a context that bypasses CSP, for that scan alone. Moderate and minor
findings do not fail a test; they are listed at the end of the run ("axe-core accessibility
scan"), as are the accepted GOV.UK Frontend findings below.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.conftest import AXE_REPORT, AXE_SCRIPT, DEMO_PASSWORD, LiveServer, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

#: WCAG 2.0, 2.1 and 2.2, levels A and AA.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
FAILING_IMPACTS = {"serious", "critical"}
#: Another demo member than the journey's, so neither sees the other's shortlists.
MEMBER_EMAIL = "gareth.lloyd@tarnvale.example"
NEED = "fire door inspection and replacement"


@dataclass(frozen=True)
class MemberPages:
    """URLs of pages that need a signed-in member and some data, and the session."""

    storage_state: Any
    results: str
    shortlist: str
    lock: str
    delete: str
    remove: str
    #: A second shortlist, locked, its outcome recorded and corrected once, and the page
    #: that corrects its outcome.
    awarded: str
    correct_outcome: str


@pytest.fixture(scope="module")
def member_pages(browser: Browser, live_server: LiveServer) -> Iterator[MemberPages]:
    """Sign in once, run a search and start a shortlist from it."""
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    try:
        sign_in(page, live_server, MEMBER_EMAIL)
        page.get_by_label("Describe the work you need").fill(NEED)
        page.get_by_role("group", name="Apprenticeship weeks", exact=True).get_by_label(
            "Essential", exact=True).check()
        page.get_by_label("Estimated contract value").fill("400000")
        page.get_by_role("button", name="Search", exact=True).click()
        page.wait_for_url("**/search/results?*")
        results = page.url
        item = page.locator("li[id^='result-']").first
        item.locator("details", has_text="Add to shortlist").locator("summary").click()
        shortlists = item.get_by_label("Shortlist", exact=True)
        if shortlists.count():
            shortlists.select_option(label="A new shortlist")
        item.get_by_label(re.compile(r"^Name of a new shortlist")).fill("Fire doors, Leeds")
        item.get_by_role("button", name=re.compile(r"^Add to shortlist")).click()
        page.locator(".govuk-notification-banner--success").get_by_role(
            "link", name="Fire doors, Leeds").click()
        page.wait_for_url(re.compile(r"/shortlists/\d+$"))
        remove = page.get_by_role("link", name=re.compile(r"^Remove ")).first
        awarded = awarded_shortlist(live_server, MEMBER_EMAIL, page.url)
        yield MemberPages(context.storage_state(), results, page.url, page.url + "/lock",
                          page.url + "/delete", live_server(remove.get_attribute("href") or ""),
                          awarded,
                          awarded + "/outcome/correct")
    finally:
        context.close()


def awarded_shortlist(server: LiveServer, email: str, draft_url: str) -> str:
    """The URL of a new shortlist of ``email``'s, from the search of the draft at
    ``draft_url``: locked, awarded to the draft's first supplier, then corrected once.

    Made through the services (the pages that lock and record an outcome are the journey's
    business; here they only need to exist).
    """
    from web.extensions import db
    from web.models import Shortlist, User
    from web.postcodes import get_directory
    from web.services import shortlists as service

    with server.app.app_context():
        user = db.session.scalar(db.select(User).where(User.email == email))
        draft = db.session.get(Shortlist, int(draft_url.rstrip("/").rsplit("/", 1)[1]))
        assert user is not None and draft is not None
        supplier_id = service.active_entries(draft)[0].supplier_id
        directory = get_directory(server.app)
        shortlist = service.add_from_search(
            actor=user, supplier_id=supplier_id, directory=directory,
            search_params=draft.search_inputs["params"],
            new_shortlist_name="Fire doors, Leeds (awarded)",
        ).shortlist
        service.lock_shortlist(shortlist, actor=user, directory=directory)
        service.record_outcome(shortlist, actor=user, outcome="awarded",
                               awarded_supplier_id=supplier_id, awarded_value=40_000)
        service.correct_outcome(shortlist, actor=user, reason="The value was mistyped",
                                outcome="awarded", awarded_supplier_id=supplier_id,
                                awarded_value=400_000)
        db.session.commit()
        return server(f"/shortlists/{shortlist.id}")


def open_details(page: Page) -> None:
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")


def sign_in_with_errors(page: Page) -> None:
    page.get_by_label("Email address").fill("not-an-email")
    page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD + "x")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert page.locator(".govuk-error-summary").is_visible()


def correct_outcome_with_errors(page: Page) -> None:
    page.get_by_role("button", name="Save the correction").click()  # no reason given
    page.wait_for_load_state()
    assert page.locator(".govuk-error-summary").is_visible()


def change_password_with_errors(page: Page) -> None:
    page.get_by_role("button", name="Change password").click()  # nothing filled in
    page.wait_for_load_state()
    assert page.locator(".govuk-error-summary").is_visible()


def nothing(_page: Page) -> None:
    pass


# (name, path or a MemberPages attribute, signed in?, what to do once the page is open)
PAGES: list[tuple[str, str, bool, Callable[[Page], None]]] = [
    ("sign-in", "/sign-in", False, nothing),
    ("sign-in with errors", "/sign-in", False, sign_in_with_errors),
    ("search", "/search", True, open_details),
    ("search with errors", "/search/results?need=&site=postcode&postcode=ZZ99+9ZZ&value=abc",
     True, open_details),
    ("results", "results", True, open_details),
    ("shortlists", "/shortlists", True, nothing),
    ("shortlist detail", "shortlist", True, open_details),
    ("remove a supplier", "remove", True, nothing),
    ("lock confirmation", "lock", True, nothing),
    ("delete confirmation", "delete", True, nothing),
    ("shortlist with a corrected outcome", "awarded", True, open_details),
    ("correct the outcome", "correct_outcome", True, nothing),
    ("correct the outcome with errors", "correct_outcome", True, correct_outcome_with_errors),
    ("catalogue", "/catalogue/", True, nothing),
    ("your account", "/account/", True, nothing),
    ("change your password", "/account/password", True, nothing),
    ("change your password with errors", "/account/password", True,
     change_password_with_errors),
    ("API tokens", "/account/tokens", True, nothing),
]


def run_axe(page: Page) -> dict[str, Any] | None:
    """axe-core's results for the page, or None when axe-core could not be injected.

    The script is evaluated through Playwright (the DevTools protocol), which the page's
    Content-Security-Policy does not govern, so the page is scanned under its real CSP;
    ``add_script_tag`` would add an inline script that ``script-src 'self'`` refuses.
    """
    page.evaluate(AXE_SCRIPT.read_text(encoding="utf-8"))
    if page.evaluate("typeof window.axe") == "undefined":
        return None
    return page.evaluate(
        "options => axe.run(document, options)",
        {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]},
    )


def describe(violation: dict[str, Any]) -> str:
    nodes = violation["nodes"]
    targets = "; ".join(" ".join(map(str, n["target"])) for n in nodes[:5])
    more = f" (+{len(nodes) - 5} more)" if len(nodes) > 5 else ""
    return (f"[{violation['impact']}] {violation['id']}: {violation['help']} — "
            f"{len(nodes)} element(s): {targets}{more}\n    {nodes[0]['failureSummary']}")


@pytest.mark.parametrize(("name", "where", "signed_in", "prepare"), PAGES,
                         ids=[p[0] for p in PAGES])
def test_no_serious_accessibility_violations(
    request: pytest.FixtureRequest, browser: Browser, live_server: LiveServer,
    name: str, where: str, signed_in: bool, prepare: Callable[[Page], None],
) -> None:
    state = None
    url = live_server(where)
    if signed_in:
        pages: MemberPages = request.getfixturevalue("member_pages")
        state = pages.storage_state
        url = getattr(pages, where) if not where.startswith("/") else url

    assert_accessible(browser, url, name=name, state=state, prepare=prepare)


def assert_accessible(browser: Browser, url: str, *, name: str, state: Any,
                      prepare: Callable[[Page], None]) -> None:
    """Open ``url`` (no redirect) in a context with ``state`` (cookies), ``prepare`` the
    page, scan it with axe-core, record the findings under ``name`` and fail on a serious
    or critical one."""
    if not AXE_SCRIPT.is_file():
        pytest.fail(f"{AXE_SCRIPT} is missing: run `npm ci` (make install does)")
    results = None
    # A context that bypasses CSP only if axe-core could not be injected under the CSP.
    for bypass_csp in (False, True):
        context = browser.new_context(locale="en-GB", storage_state=state,
                                      bypass_csp=bypass_csp)
        try:
            page = context.new_page()
            response = page.goto(url)
            assert response is not None
            assert page.url.split("?")[0] == url.split("?")[0], f"redirected to {page.url}"
            prepare(page)
            results = run_axe(page)
        finally:
            context.close()
        if results is not None:
            break
    assert results is not None, "axe-core could not run on the page"

    violations = results["violations"]
    AXE_REPORT.record(name, violations)
    serious = [v for v in violations if v["impact"] in FAILING_IMPACTS]
    others = [v for v in violations if v not in serious]
    assert not serious, (
        f"{len(serious)} serious or critical WCAG A/AA violation(s) on {name} ({url}):\n"
        + "\n".join(describe(v) for v in serious)
        + ("\nAlso (moderate/minor):\n" + "\n".join(describe(v) for v in others)
           if others else "")
    )
