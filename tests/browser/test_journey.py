"""A member's whole journey in a real browser: sign in, search with social-value options,
read a breakdown, shortlist three suppliers, remove one with a reason, lock, export CSV
and XLSX and read the files; and the same search without JavaScript."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import TYPE_CHECKING

from openpyxl import load_workbook

from tests.browser.conftest import ConsoleLog, LiveServer, new_context, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

NEED = "external wall insulation and loft insulation"
SITE = "Head office, WN1 9UA"  # a Northmoor Homes site (fixtures/demo/members.json)
RADIUS = "50 km (31 miles)"
CONTRACT_VALUE = "250000"
#: Social-value options of the demo catalogue and the priority chosen for each.
PRIORITIES = {
    "Local people employed on the contract": "Essential",
    "Apprenticeship weeks": "Important",
    "Carbon emissions saved": "Nice to have",
}
SHORTLIST = "Insulation, Wigan estates, 2027"
REMOVAL_REASON = "No capacity until next spring"
COMPONENTS = ("Capability", "Distance", "Social value")


def fill_search(page: Page) -> None:
    """Fill the search form: the need, a site, a radius, a value and three priorities."""
    page.get_by_label("Describe the work you need").fill(NEED)
    page.get_by_label(SITE).check()
    page.get_by_label("Distance from the site").select_option(label=RADIUS)
    page.get_by_label("Estimated contract value").fill(CONTRACT_VALUE)
    for option, priority in PRIORITIES.items():
        group = page.get_by_role("group", name=option, exact=True)
        group.get_by_label(priority, exact=True).check()


def result_items(page: Page) -> Locator:
    return page.locator("li[id^='result-']")


def result_name(item: Locator) -> str:
    return item.locator("h2 a").inner_text().strip()


def add_to_shortlist(page: Page, item: Locator, *, new: bool, reason: str) -> str:
    """Add the supplier of ``item`` (a result) to the journey's shortlist; its name."""
    from playwright.sync_api import expect

    name = result_name(item)
    item.locator("details", has_text="Add to shortlist").locator("summary").click()
    if new:
        shortlists = item.get_by_label("Shortlist", exact=True)
        if shortlists.count():  # other drafts exist: choose "A new shortlist"
            shortlists.select_option(label="A new shortlist")
        item.get_by_label(re.compile(r"^Name of a new shortlist")).fill(SHORTLIST)
    else:
        item.get_by_label("Shortlist", exact=True).select_option(label=SHORTLIST)
    item.get_by_label("Why are you adding this supplier?").fill(reason)
    item.get_by_role("button", name=re.compile(r"^Add to shortlist")).click()
    # Back on the results, with a banner (retried until the new page shows it: the page
    # it left may have had a banner of the previous add).
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text(
        f"Added {name} to shortlist {SHORTLIST}.", timeout=10_000)
    page.wait_for_url("**/search/results?*")
    return name


def test_member_journey(browser: Browser, live_server: LiveServer, console: ConsoleLog,
                        tmp_path: Path) -> None:
    context = new_context(browser, console)
    page = context.new_page()
    try:
        run_journey(page, live_server, tmp_path)
    finally:
        context.close()
    assert console.errors == [], "console errors or CSP violations:\n" + "\n".join(
        console.errors)


def run_journey(page: Page, server: LiveServer, tmp_path: Path) -> None:
    # JavaScript runs (GOV.UK Frontend marks the body once its modules start).
    sign_in(page, server)
    assert "govuk-frontend-supported" in (page.locator("body").get_attribute("class") or "")

    # Search, with social-value priorities.
    fill_search(page)
    page.get_by_role("button", name="Search", exact=True).click()
    page.wait_for_url("**/search/results?*")
    assert page.get_by_role("heading", level=1).inner_text() == "Search results"
    summary = page.locator("dl.govuk-summary-list").first
    assert NEED in summary.inner_text()
    for option, priority in PRIORITIES.items():
        assert f"{option}: {priority.lower()}" in summary.inner_text()
    items = result_items(page)
    assert items.count() >= 3, page.locator("#result-count").inner_text()
    assert "Score " in items.first.inner_text()

    # The first result's breakdown: each component with its value, weight and points.
    first = items.first
    details = first.locator("details", has_text="How this score was worked out")
    assert details.get_attribute("open") is None
    details.locator("summary").click()
    assert details.get_attribute("open") is not None
    table = details.locator("table")
    assert table.is_visible()
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    assert headers[:4] == ["Part", "Value (0 to 1)", "Weight", "Points"]
    rows = {row.locator("th").inner_text().split("\n")[0].strip(): row
            for row in table.locator("tbody tr").all()}
    for component in COMPONENTS:
        assert component in rows, f"{component} missing from the breakdown: {list(rows)}"
        value, weight, points = (c.strip() for c in
                                 rows[component].locator("td").all_inner_texts()[:3])
        assert 0.0 <= float(value) <= 1.0
        assert weight.endswith("%") and 0 < float(weight[:-1]) <= 100
        assert points.startswith("+") and float(points[1:]) >= 0
    total = rows["Total score"].locator("td").last.inner_text().strip()
    assert total in first.locator("p strong").first.inner_text()  # "Score 71.3 out of 100"

    # Three suppliers onto a new shortlist: the first add creates it.
    names = [add_to_shortlist(page, result_items(page).nth(0), new=True,
                              reason="Best capability match")]
    for index in (1, 2):
        names.append(add_to_shortlist(page, result_items(page).nth(index), new=False,
                                      reason=f"Ranked {index + 1} in the search"))
    assert len(set(names)) == 3

    # Open the shortlist from the banner's link.
    page.locator(".govuk-notification-banner--success").get_by_role(
        "link", name=SHORTLIST).click()
    page.wait_for_url(re.compile(r"/shortlists/\d+$"))
    assert SHORTLIST in page.get_by_role("heading", level=1).inner_text()
    cards = page.locator(".govuk-summary-card")
    assert [t.split(". ", 1)[1] for t in
            cards.locator(".govuk-summary-card__title").all_inner_texts()] == names

    # Remove the second supplier, with a reason.
    removed = names[1]
    page.get_by_role("link", name=f"Remove {removed}").click()
    page.wait_for_url(re.compile(r"/entries/\d+/remove$"))
    assert page.get_by_role("heading", level=1).inner_text() == f"Remove {removed}"
    page.get_by_label("Why are you removing this supplier?").fill(REMOVAL_REASON)
    page.get_by_role("button", name="Remove supplier").click()
    page.wait_for_url(re.compile(r"/shortlists/\d+$"))
    assert f"Removed {removed} from the shortlist." in page.locator(
        ".govuk-notification-banner--success").inner_text()
    kept = [names[0], names[2]]
    assert [t.split(". ", 1)[1] for t in
            cards.locator(".govuk-summary-card__title").all_inner_texts()] == kept
    removed_row = page.locator("#removed tbody tr")
    assert removed_row.count() == 1
    assert removed in removed_row.inner_text() and REMOVAL_REASON in removed_row.inner_text()

    # Lock it, through the confirmation page.
    page.get_by_role("button", name="Lock shortlist").click()  # a link styled as a button
    page.wait_for_url(re.compile(r"/shortlists/\d+/lock$"))
    assert page.get_by_role("heading", level=1).inner_text() == (
        "Are you sure you want to lock this shortlist?")
    page.get_by_role("button", name="Lock shortlist").click()
    page.wait_for_url(re.compile(r"/shortlists/\d+$"))
    assert f"Shortlist “{SHORTLIST}” is locked." in page.locator(
        ".govuk-notification-banner--success").inner_text()
    assert "Locked" in page.get_by_role("heading", level=1).inner_text()
    assert page.get_by_role("link", name=re.compile(r"^Remove ")).count() == 0
    inputs = dict(zip(
        (k.strip() for k in page.locator("#search-inputs dt").all_inner_texts()),
        (v.strip() for v in page.locator("#search-inputs dd").all_inner_texts()),
        strict=True,
    ))
    algorithm_version = inputs["Algorithm version"]
    catalogue_version = inputs["Catalogue version"]
    assert algorithm_version and catalogue_version != "None"
    page_scores = [
        re.search(r"(\d+\.\d) out of 100", text).group(1)  # type: ignore[union-attr]
        for text in cards.locator(".govuk-summary-list__row:has(dt:text-is('Score')) dd")
        .all_inner_texts()
    ]
    assert len(page_scores) == 2

    # Downloads: real ones, saved to disk, read back.
    exports = page.locator("#exports")
    with page.expect_download() as csv_download:
        exports.get_by_role("link", name="CSV").click()
    csv_path = tmp_path / csv_download.value.suggested_filename
    csv_download.value.save_as(csv_path)
    assert csv_path.suffix == ".csv"
    check_csv(csv_path, kept=kept, removed=removed, page_scores=page_scores,
              algorithm_version=algorithm_version)

    with page.expect_download() as xlsx_download:
        exports.get_by_role("link", name="Excel workbook (XLSX)").click()
    xlsx_path = tmp_path / xlsx_download.value.suggested_filename
    xlsx_download.value.save_as(xlsx_path)
    assert xlsx_path.suffix == ".xlsx"
    check_xlsx(xlsx_path, kept=kept, algorithm_version=algorithm_version,
               catalogue_version=catalogue_version)


def check_csv(path: Path, *, kept: list[str], removed: str, page_scores: list[str],
              algorithm_version: str) -> None:
    """The CSV parses; the kept suppliers come first, in rank order, with their scores."""
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    shortlisted = [r for r in rows if r["status"] == "shortlisted"]
    assert [r["name"] for r in shortlisted] == kept
    assert [r["position"] for r in shortlisted] == ["1", "2"]
    ranks = [int(r["search_rank"]) for r in shortlisted]
    assert ranks == sorted(ranks)
    scores = [float(r["score"]) for r in shortlisted]
    assert scores == sorted(scores, reverse=True)
    assert [f"{s:.1f}" for s in scores] == page_scores
    for row in shortlisted:
        parts = sum(float(row[f"{c}_contribution"]) for c in
                    ("capability", "distance", "social_value"))
        assert abs(parts - float(row["score"])) < 0.05
        assert row["shortlist_status"] == "locked"
        assert row["algorithm_version"] == algorithm_version
        assert re.fullmatch(r"[0-9a-f]{64}", row["data_hash"])
    [gone] = [r for r in rows if r["status"] != "shortlisted"]
    assert gone["name"] == removed and gone["reason_removed"] == REMOVAL_REASON


def check_xlsx(path: Path, *, kept: list[str], algorithm_version: str,
               catalogue_version: str) -> None:
    """The workbook: the Method cover sheet, the ranked table, a sheet per supplier."""
    workbook = load_workbook(path, read_only=True)
    try:
        assert workbook.sheetnames[:2] == ["Method", "Shortlist"]
        method = {row[0]: row[1] for row in workbook["Method"].iter_rows(values_only=True)
                  if row and row[0]}
        assert any(NEED in str(value) for value in method.values()), method
        assert method["Algorithm version"] == algorithm_version
        assert method["Catalogue version"] == catalogue_version
        assert method["Status"] == "locked"
        assert re.fullmatch(r"[0-9a-f]{64}", method["Data hash (sha256)"])

        header, *rows = workbook["Shortlist"].iter_rows(values_only=True)
        table = [dict(zip(header, row, strict=True)) for row in rows]
        shortlisted = [r for r in table if r["status"] == "shortlisted"]
        assert [r["name"] for r in shortlisted] == kept
        assert all(isinstance(r["score"], float) for r in shortlisted)

        breakdowns = workbook.sheetnames[2:]
        assert len(breakdowns) == len(kept)
        for position, (sheet_name, name) in enumerate(zip(breakdowns, kept, strict=True), 1):
            cells = [row for row in workbook[sheet_name].iter_rows(values_only=True)]
            assert cells[0][0] == f"{position}. {name}"
            components = {row[0] for row in cells if row and row[0]}
            assert {"Component", "capability", "distance", "social_value",
                    "Total"} <= components, components
    finally:
        workbook.close()


def test_search_works_without_javascript(browser: Browser, live_server: LiveServer,
                                         console: ConsoleLog) -> None:
    context = new_context(browser, console, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, live_server)
        assert "govuk-frontend-supported" not in (
            page.locator("body").get_attribute("class") or "")
        fill_search(page)
        page.get_by_role("button", name="Search", exact=True).click()
        page.wait_for_url("**/search/results?*")
        assert page.get_by_role("heading", level=1).inner_text() == "Search results"
        assert result_items(page).count() >= 3
        # A breakdown opens without JavaScript too (a native details element).
        details = result_items(page).first.locator(
            "details", has_text="How this score was worked out")
        details.locator("summary").click()
        assert details.locator("table").is_visible()
    finally:
        context.close()
    assert console.errors == []


def test_console_watch_catches_csp_violations(browser: Browser, live_server: LiveServer,
                                               console: ConsoleLog) -> None:
    """The journey's "no console errors" check would see a CSP violation: an inline
    script, which the Content-Security-Policy refuses, is reported."""
    context = new_context(browser, console)
    try:
        page = context.new_page()
        page.goto(live_server("/sign-in"))
        page.evaluate("""() => {
            const script = document.createElement('script');
            script.textContent = 'window.inlineRan = true';
            document.head.appendChild(script);
        }""")
        page.wait_for_timeout(100)
        assert page.evaluate("window.inlineRan === undefined")
    finally:
        context.close()
    assert any("Content Security Policy" in error for error in console.errors), console.errors
