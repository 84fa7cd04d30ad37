"""axe-core scans of the framework staff's pages: no serious or critical WCAG A/AA
violations, as on the members' pages (tests/browser/test_accessibility.py, whose scan
this reuses). Each page is scanned as the demo framework admin sees it, on the demo data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.conftest import LiveServer, sign_in
from tests.browser.test_accessibility import assert_accessible

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ADMIN_EMAIL = "framework.admin@homes-communities-framework.example"


@pytest.fixture(scope="module")
def admin_state(browser: Browser, live_server: LiveServer) -> Iterator[Any]:
    """The signed-in admin's cookies (signed in once, through the form)."""
    context = browser.new_context(locale="en-GB")
    try:
        sign_in(context.new_page(), live_server, ADMIN_EMAIL)
        yield context.storage_state()
    finally:
        context.close()


@pytest.fixture(scope="module")
def ids(live_server: LiveServer) -> dict[str, int]:
    """Ids of demo rows the pages need: a supplier, an organisation, a member, a lot."""
    from web.extensions import db
    from web.models import Lot, MemberOrganisation, Role, Supplier, User

    with live_server.app.app_context():
        ids = {
            "supplier": db.session.scalar(db.select(Supplier.id).order_by(Supplier.id)),
            "organisation": db.session.scalar(db.select(MemberOrganisation.id)
                                              .order_by(MemberOrganisation.id)),
            "member": db.session.scalar(db.select(User.id).where(User.role == Role.MEMBER)
                                        .order_by(User.id)),
            "lot": db.session.scalar(db.select(Lot.id).order_by(Lot.id)),
        }
        db.session.remove()
    assert all(ids.values()), ids
    return ids


def submit_empty(button: str) -> Callable[[Page], None]:
    """Submit the page's form with nothing filled in, so it shows its errors."""

    def submit(page: Page) -> None:
        page.get_by_role("button", name=button).click()
        page.wait_for_load_state()
        assert page.locator(".govuk-error-summary").is_visible()

    return submit


def nothing(_page: Page) -> None:
    pass


# (name, path with {supplier}, {organisation}, {member} and {lot}, what to do once open)
ADMIN_PAGES: list[tuple[str, str, Callable[[Page], None]]] = [
    ("admin home", "/admin/", nothing),
    ("suppliers", "/admin/suppliers?q=roof", nothing),
    ("supplier", "/admin/suppliers/{supplier}", nothing),
    ("edit supplier", "/admin/suppliers/{supplier}/edit", nothing),
    ("import suppliers", "/admin/suppliers/import", nothing),
    ("duplicates", "/admin/duplicates", nothing),
    ("lots", "/admin/lots", nothing),
    ("edit lot", "/admin/lots/{lot}/edit", nothing),
    ("catalogue", "/admin/catalogue", nothing),
    ("organisations", "/admin/organisations", nothing),
    ("organisation", "/admin/organisations/{organisation}", nothing),
    ("users", "/admin/users", nothing),
    ("add a user with errors", "/admin/users/new", submit_empty("Add user")),
    ("change a user", "/admin/users/{member}/edit", nothing),
    ("set a password with errors", "/admin/users/{member}/password",
     submit_empty("Set password")),
    ("audit trail", "/admin/audit", nothing),
    ("outcomes report", "/admin/reports", nothing),
]


@pytest.mark.parametrize(("name", "path", "prepare"), ADMIN_PAGES,
                         ids=[p[0] for p in ADMIN_PAGES])
def test_no_serious_accessibility_violations_for_staff(
    browser: Browser, live_server: LiveServer, admin_state: Any, ids: dict[str, int],
    name: str, path: str, prepare: Callable[[Page], None],
) -> None:
    assert_accessible(browser, live_server(path.format(**ids)), name=f"admin: {name}",
                      state=admin_state, prepare=prepare)
