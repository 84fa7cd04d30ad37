"""Admin screens: access, pages, forms and their errors, the import upload flow,
duplicate review."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.conftest import AuthActions
from tests.factories import (
    catalogue_data,
    make_framework,
    make_organisation,
    make_supplier,
    make_user,
)
from web.extensions import db
from web.models import (
    AuditEvent,
    Contact,
    Lot,
    MemberOrganisation,
    Role,
    Site,
    SocialValueCatalogue,
    Supplier,
    User,
)
from web.services import admin as admin_service
from web.services.catalogue import load_catalogue
from web.services.versions import current_version

VALID_POSTCODE = "PE3 7EW"  # a real postcode (demo data)


def _admin_rules(app: Flask) -> list[tuple[str, str]]:
    return sorted(
        (rule.rule, method)
        for rule in app.url_map.iter_rules() if rule.endpoint.startswith("admin.")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    )


def _url(rule: str) -> str:
    return re.sub(r"<(?:int:)?(\w+)>", lambda m: "x" * 24 if m[1] == "token" else "1", rule)


@pytest.fixture
def admin(app_context: Flask) -> User:
    user = make_user(role=Role.ADMIN, name="Ada Admin")
    db.session.commit()
    return user


@pytest.fixture
def signed_in(admin: User, auth: Any) -> User:
    auth.login_as(admin)
    return admin


def test_every_admin_route_is_listed(app: Flask) -> None:
    rules = _admin_rules(app)
    assert len(rules) >= 30
    assert ("/admin/duplicates", "GET") in rules


def test_members_get_403_everywhere(app: Flask, app_context: Flask, client: Any,
                                    auth: Any) -> None:
    member = make_user()
    db.session.commit()
    auth.login_as(member)
    for rule, method in _admin_rules(app):
        response = client.open(_url(rule), method=method, data={})
        assert response.status_code == 403, (method, rule)


def test_signed_out_visitors_are_sent_to_sign_in(app: Flask, client: Any) -> None:
    for rule, method in _admin_rules(app):
        response = client.open(_url(rule), method=method, data={})
        assert response.status_code == 302, (method, rule)
        assert "/sign-in" in response.location or "sign" in response.location


def test_admin_pages(app: Flask, app_context: Flask, client: Any, signed_in: User) -> None:
    framework = make_framework()
    load_catalogue(catalogue_data())
    organisation = make_organisation(name="Knowsley Homes")
    site = Site(name="Depot", postcode=VALID_POSTCODE, latitude=52.58, longitude=-0.27)
    organisation.sites.append(site)
    first = make_supplier(name="Acme Roofing Ltd", postcode=VALID_POSTCODE)
    second = make_supplier(name="ACME Roofing Limited", postcode=VALID_POSTCODE)
    member = make_user(organisation=organisation)
    db.session.commit()
    lot_id = framework.lots[0].id
    pages = [
        "/admin/", "/admin/suppliers", "/admin/suppliers?q=acme&status=all&page=2",
        f"/admin/suppliers/{first.id}", f"/admin/suppliers/{first.id}/edit",
        f"/admin/suppliers/{first.id}/deactivate", f"/admin/suppliers/{first.id}/reactivate",
        "/admin/suppliers/import",
        "/admin/duplicates", f"/admin/duplicates/{first.id}/{second.id}", "/admin/lots",
        "/admin/lots/new", f"/admin/lots/{lot_id}/edit", "/admin/catalogue",
        "/admin/catalogue/new", "/admin/organisations", "/admin/organisations/new",
        f"/admin/organisations/{organisation.id}",
        f"/admin/organisations/{organisation.id}/edit",
        f"/admin/organisations/{organisation.id}/sites/new",
        f"/admin/organisations/{organisation.id}/sites/{site.id}/remove",
        "/admin/users", "/admin/users/new", f"/admin/users/{member.id}/password",
        f"/admin/users/{member.id}/edit",
        "/admin/audit?action=x&object_type=y&page=3",
        "/admin/reports", "/admin/reports?year=1999", "/admin/reports/outcomes-2026.csv",
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        html = response.get_data(as_text=True)
        assert "<script>" not in html and " style=" not in html, page
    every_get = {rule for rule, method in _admin_rules(app) if method == "GET"}
    covered = {re.sub(r"\?.*", "", p) for p in pages}
    assert len(covered) >= len(every_get) - 1  # all but the rejects download (tested below)


def test_admin_home_shows_the_register(app_context: Flask, client: Any, signed_in: User) -> None:
    make_supplier()
    make_supplier(active=False)
    db.session.commit()
    html = client.get("/admin/").get_data(as_text=True)
    assert "Active suppliers" in html and "register-stats" in html


def test_supplier_search_pages(app_context: Flask, client: Any, signed_in: User) -> None:
    for n in range(30):
        make_supplier(name=f"Roofer {n:02d} Ltd")
    db.session.commit()
    first = client.get("/admin/suppliers?q=roofer").get_data(as_text=True)
    second = client.get("/admin/suppliers?q=roofer&page=2").get_data(as_text=True)
    assert "30 suppliers" in first and "Roofer 00 Ltd" in first and "Roofer 29 Ltd" in second
    assert "Roofer 29 Ltd" not in first


def _supplier_form(supplier: Supplier, **changes: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": supplier.name, "company_number": "", "address": "", "postcode": VALID_POSTCODE,
        "description": "Roofs", "capabilities": "roofing\nguttering", "cpv_codes": "45261000",
        "service_radius_km": "25", "min_contract_value": "£10,000",
        "max_contract_value": "250000", "website": "", "email": "", "phone": "",
        "accreditations": "", "commitments": "",
    }
    data.update(changes)
    return data


def test_edit_supplier(app_context: Flask, client: Any, signed_in: User) -> None:
    framework = make_framework(lots=("L1", "L2"))
    load_catalogue(catalogue_data())
    supplier = make_supplier(name="Acme Roofing Ltd", postcode=VALID_POSTCODE)
    db.session.commit()
    data = _supplier_form(supplier, name="Acme Roofing & Cladding Ltd",
                          accreditations="CHAS:2027-03-31\nISO 9001:2015",
                          commitments="sv-app:4", sme="y")
    data["lots"] = [str(framework.lots[1].id)]

    response = client.post(f"/admin/suppliers/{supplier.id}/edit", data=data)

    assert response.status_code == 303
    db.session.expire_all()
    supplier = db.session.get(Supplier, supplier.id)
    assert supplier.name == "Acme Roofing & Cladding Ltd" and supplier.sme
    assert supplier.min_contract_value == 10_000 and supplier.capabilities == ["roofing",
                                                                                "guttering"]
    assert [lot.code for lot in supplier.lots] == ["L2"]
    assert sorted(a.name for a in supplier.accreditations) == ["CHAS", "ISO 9001:2015"]
    assert [(c.option_code, c.quantity_per_million) for c in supplier.commitments] == [
        ("SV-APP", 4.0)]
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "supplier.edited"))
    assert event is not None and event.actor_id == signed_in.id
    assert "Changes saved" in client.get(f"/admin/suppliers/{supplier.id}").get_data(as_text=True)


@pytest.mark.parametrize(("field", "stored"), [
    ("min_contract_value", 12_345_678.0),
    ("max_contract_value", 98_765_432.5),
    ("service_radius_km", 12.3456789),
    ("commitment", 1_234_567.0),
    ("commitment", 0.1234567),
])
def test_saving_the_edit_form_as_shown_keeps_every_number_exactly(
    app_context: Flask, client: Any, signed_in: User, field: str, stored: float
) -> None:
    """The form shows numbers as they are stored, not rounded to six digits: saved
    unchanged (to fix a phone number, say), a supplier's values must not move. Before, a
    contract value of £12,345,678 came back as 1.23457e+07 and was saved as £12,345,700."""
    from web.models.supplier import Commitment

    load_catalogue(catalogue_data())
    supplier = make_supplier(name="Acme Roofing Ltd", postcode=VALID_POSTCODE)
    if field == "commitment":
        supplier.commitments = [Commitment(option_code="SV-APP", quantity_per_million=stored)]
    else:
        setattr(supplier, field, stored)
    db.session.commit()
    page = client.get(f"/admin/suppliers/{supplier.id}/edit").get_data(as_text=True)
    shown = {name: value for name, value in re.findall(
        r'<input[^>]*name="(min_contract_value|max_contract_value|service_radius_km)"'
        r'[^>]*value="([^"]*)"', page)}
    commitments = re.search(r'<textarea[^>]*name="commitments"[^>]*>\s*([^<]*)</textarea>',
                            page)
    assert commitments is not None
    data = _supplier_form(supplier, postcode=supplier.postcode or VALID_POSTCODE,
                          description=supplier.description or "", cpv_codes="",
                          capabilities="\n".join(supplier.capabilities or []),
                          commitments=commitments.group(1).strip(),
                          **{name: shown.get(name, "") for name in (
                              "min_contract_value", "max_contract_value",
                              "service_radius_km")})
    response = client.post(f"/admin/suppliers/{supplier.id}/edit", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    db.session.expire_all()
    supplier = db.session.get(Supplier, supplier.id)
    if field == "commitment":
        assert [(c.option_code, c.quantity_per_million) for c in supplier.commitments] == [
            ("SV-APP", stored)]
    else:
        assert getattr(supplier, field) == stored


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "Enter the supplier’s name"),
        ({"postcode": "ZZ1 1ZZ"}, "was not found"),
        ({"postcode": "nonsense"}, "is not a valid postcode"),
        ({"accreditations": "CHAS:31/03/2027"}, "Line 1: &#34;31/03/2027&#34; is not a date"),
        ({"commitments": "NOPE:3"}, "unknown social-value option code NOPE"),
        ({"cpv_codes": "4526"}, "Malformed CPV code 4526"),
        ({"min_contract_value": "lots"}, "is not a number"),
        ({"company_number": "Acme House"}, "is not a Companies House number"),
        ({"min_contract_value": "500", "max_contract_value": "100"}, "less than the minimum"),
        ({"name": "Acme\x00 Ltd"}, "Name must not contain control characters"),
        ({"description": "Roofs \x1b[31m"}, "Description must not contain control characters"),
        ({"website": "https://acme.example/\x7f"}, "Website must not contain control characters"),
    ],
)
def test_edit_supplier_errors(app_context: Flask, client: Any, signed_in: User,
                              changes: dict[str, str], message: str) -> None:
    load_catalogue(catalogue_data())
    supplier = make_supplier(name="Acme Roofing Ltd", postcode=VALID_POSTCODE)
    db.session.commit()

    response = client.post(f"/admin/suppliers/{supplier.id}/edit",
                           data=_supplier_form(supplier, **changes))

    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in html.replace("&#39;", "'")
    assert "govuk-error-summary" in html
    db.session.expire_all()
    assert db.session.get(Supplier, supplier.id).name == "Acme Roofing Ltd"


def test_edit_supplier_contacts(app_context: Flask, client: Any, signed_in: User) -> None:
    supplier = make_supplier(  # as _supplier_form() posts it, so only the contacts change
        name="Acme Roofing Ltd", postcode=VALID_POSTCODE, description="Roofs",
        capabilities=["roofing", "guttering"], cpv_codes=["45261000"], service_radius_km=25,
        min_contract_value=10_000, max_contract_value=250_000)
    supplier.contacts = [Contact(name="Sam Patel", role="Bids", email="sam@acme.example")]
    db.session.commit()
    version = current_version()
    url = f"/admin/suppliers/{supplier.id}"
    form = client.get(url + "/edit").get_data(as_text=True)
    assert "Sam Patel | Bids | sam@acme.example</textarea>" in form
    contacts = ("<b>Jo</b> | Director, Estates & Assets | jo@acme.example | 0151 496 0000\r\n"
                "Sam Patel | | sam@acme.example")

    response = client.post(url + "/edit", data=_supplier_form(supplier, contacts=contacts))

    assert response.status_code == 303
    db.session.expire_all()
    rows = db.session.execute(sa.select(Contact.name, Contact.role, Contact.email, Contact.phone)
                              .where(Contact.supplier_id == supplier.id).order_by(Contact.id))
    assert rows.all() == [
        ("<b>Jo</b>", "Director, Estates & Assets", "jo@acme.example", "0151 496 0000"),
        ("Sam Patel", "", "sam@acme.example", None),
    ]
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "supplier.edited"))
    assert event is not None and event.actor_id == signed_in.id
    assert event.details == {
        "before": {"contacts": ["Sam Patel | Bids | sam@acme.example"]},
        "after": {"contacts": [
            "<b>Jo</b> | Director, Estates & Assets | jo@acme.example | 0151 496 0000",
            "Sam Patel | | sam@acme.example",
        ]},
    }
    assert current_version() == version  # the matching index reads no contacts
    page = client.get(url).get_data(as_text=True)
    assert "<b>Jo</b>" not in page
    assert ("&lt;b&gt;Jo&lt;/b&gt; (Director, Estates &amp; Assets), jo@acme.example, "
            "0151 496 0000") in page
    assert "&lt;b&gt;Jo&lt;/b&gt; | Director" in page  # the history's after column
    form = client.get(url + "/edit").get_data(as_text=True)
    assert "<b>Jo</b>" not in form and "&lt;b&gt;Jo&lt;/b&gt; | Director, Estates" in form


@pytest.mark.parametrize(
    ("contacts", "message"),
    [
        ("Jo | Manager\r\nSam | Bids | sam@acme",
         "Line 2: &#34;sam@acme&#34; is not an email address"),
        ("Jo Bloggs, Contracts manager, jo@acme.example",
         "Line 1: separate the name, role, email and phone with &#34;|&#34;, not commas"),
        ("Jo | | | 0151 ext 12", "Line 1: &#34;0151 ext 12&#34; is not a phone number"),
        ("Jo | " + "r" * 201, "Line 1: the role is longer than 200 characters"),
        ("Jo\tBloggs", "Line 1: the contact contains a tab"),
        ("Jo\x00", "Contacts must not contain control characters"),
    ],
)
def test_edit_supplier_contacts_errors(app_context: Flask, client: Any, signed_in: User,
                                       contacts: str, message: str) -> None:
    supplier = make_supplier(name="Acme Roofing Ltd", postcode=VALID_POSTCODE)
    supplier.contacts = [Contact(name="Sam Patel", email="sam@acme.example")]
    db.session.commit()

    response = client.post(
        f"/admin/suppliers/{supplier.id}/edit",
        data=_supplier_form(supplier, name="Acme Roofing & Cladding Ltd", contacts=contacts))

    html = response.get_data(as_text=True)
    assert response.status_code == 400
    summary = html[html.index("govuk-error-summary"):html.index('<form method="post" novalidate')]
    assert message in summary and 'href="#contacts"' in summary
    assert html.count(message) == 2  # in the summary and at the field
    db.session.expire_all()
    assert db.session.get(Supplier, supplier.id).name == "Acme Roofing Ltd"
    assert db.session.execute(sa.select(Contact.name, Contact.email)).all() == [
        ("Sam Patel", "sam@acme.example")]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0


def test_a_form_posted_without_contacts_leaves_them(app_context: Flask, client: Any,
                                                    signed_in: User) -> None:
    supplier = make_supplier(name="Acme Roofing Ltd", postcode=VALID_POSTCODE)
    supplier.contacts = [Contact(name="Sam Patel")]
    db.session.commit()
    data = _supplier_form(supplier, name="Acme Roofing & Cladding Ltd")
    assert "contacts" not in data  # as from a page loaded before the form had contacts

    assert client.post(f"/admin/suppliers/{supplier.id}/edit", data=data).status_code == 303

    db.session.expire_all()
    assert db.session.get(Supplier, supplier.id).name == "Acme Roofing & Cladding Ltd"
    assert db.session.scalars(sa.select(Contact.name)).all() == ["Sam Patel"]


def test_members_cannot_edit_contacts(app_context: Flask, client: Any, auth: Any) -> None:
    supplier = make_supplier(postcode=VALID_POSTCODE)
    supplier.contacts = [Contact(name="Sam Patel")]
    member = make_user()
    db.session.commit()
    auth.login_as(member)
    url = f"/admin/suppliers/{supplier.id}/edit"

    assert client.get(url).status_code == 403
    response = client.post(url, data=_supplier_form(supplier, contacts="Mallory | Boss"))

    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.scalars(sa.select(Contact.name)).all() == ["Sam Patel"]


def test_deactivate_and_reactivate_supplier(app_context: Flask, client: Any,
                                           signed_in: User) -> None:
    supplier = make_supplier()
    db.session.commit()
    url = f"/admin/suppliers/{supplier.id}"

    assert client.post(url + "/deactivate", data={"reason": ""}).status_code == 400
    assert client.post(url + "/deactivate", data={"reason": "Ceased trading"}).status_code == 303
    db.session.expire_all()
    assert not db.session.get(Supplier, supplier.id).active
    assert "Ceased trading" in client.get(url).get_data(as_text=True)
    assert client.post(url + "/deactivate", data={"reason": "again"}).status_code == 400
    assert client.post(url + "/reactivate", data={"reason": "Back"}).status_code == 303
    db.session.expire_all()
    assert db.session.get(Supplier, supplier.id).active


# --- import upload -------------------------------------------------------------------------

GOOD_CSV = (
    "external_id,name,postcode\n"
    f"NEW-1,Acme Roofing Ltd,{VALID_POSTCODE}\n"
    "NEW-2,Zenith Cleaning Ltd,CM2 6BU\n"
)
BAD_CSV = (
    "external_id,name,postcode\n"
    f"NEW-1,Acme Roofing Ltd,{VALID_POSTCODE}\n"
    "NEW-2,,CM2 6BU\n"
    "NEW-3,Bad Postcode Ltd,ZZ99 9ZZ\n"
)


def _upload(client: Any, text: str, *, filename: str = "suppliers.csv",
            skip_invalid: bool = False) -> Any:
    data: dict[str, Any] = {"file": (io.BytesIO(text.encode()), filename)}
    if skip_invalid:
        data["skip_invalid"] = "y"
    return client.post("/admin/suppliers/import", data=data,
                       content_type="multipart/form-data")


def _token(html: str) -> str:
    match = re.search(r'name="token" value="([^"]+)"', html)
    assert match, "no token in the page"
    return match[1]


def _count_suppliers() -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(Supplier)) or 0


def _uploads(app: Flask) -> list[Path]:
    """The stored uploads (not the rejects files kept for download) in the upload folder.

    A token may itself hold the separator "__", so a rejects file is told by its suffix."""
    folder = Path(app.instance_path) / "admin-imports"
    rejects = admin_service.REJECTS_SUFFIX
    return sorted(p for p in folder.glob("*__*") if not p.name.endswith(rejects))


def test_upload_dry_run_then_import(app: Flask, app_context: Flask, client: Any,
                                    signed_in: User) -> None:
    response = _upload(client, GOOD_CSV)

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Check the import" in html and "Import 2 rows" in html
    assert _count_suppliers() == 0  # a dry run writes nothing
    token = _token(html)
    assert len(_uploads(app)) == 1
    with client.session_transaction() as session:
        assert token not in str(dict(session))  # the file is named in the form, not the session

    response = client.post("/admin/suppliers/import/confirm",
                           data={"token": token, "skip_invalid": ""})

    assert response.status_code == 200
    assert "Import complete" in response.get_data(as_text=True)
    assert _count_suppliers() == 2
    assert _uploads(app) == []  # deleted after the import
    event = db.session.scalar(sa.select(AuditEvent).where(
        AuditEvent.action == "suppliers.imported"))
    assert event is not None and event.actor_id == signed_in.id
    assert event.details["imported"] == 2
    # The same token again: the upload is gone.
    again = client.post("/admin/suppliers/import/confirm", data={"token": token})
    assert again.status_code == 303


@pytest.mark.parametrize("random_token", [
    None,  # as secrets makes them
    "abc__defghijklmnopqrstuvwxyz0123",  # holds the separator, as about 1 token in 130 does
])
def test_upload_with_bad_rows_writes_nothing(app: Flask, app_context: Flask, client: Any,
                                             signed_in: User, monkeypatch: pytest.MonkeyPatch,
                                             random_token: str | None) -> None:
    if random_token is not None:
        monkeypatch.setattr(admin_service.secrets, "token_urlsafe", lambda _n: random_token)
    response = _upload(client, BAD_CSV)

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "the supplier name is missing" in html and "ZZ99 9ZZ" in html
    assert "Nothing can be imported while rows are rejected" in html
    assert 'action="/admin/suppliers/import/confirm"' not in html
    assert _count_suppliers() == 0
    token = _token(html)

    # All-or-nothing: confirming anyway writes nothing.
    response = client.post("/admin/suppliers/import/confirm",
                           data={"token": token, "skip_invalid": ""})
    assert response.status_code == 409
    assert _count_suppliers() == 0

    # Skipping invalid rows: check again, import the valid row, download the rejects.
    checked = client.post("/admin/suppliers/import/check",
                          data={"token": token, "skip_invalid": "1"})
    assert "Import 1 row" in checked.get_data(as_text=True)
    done = client.post("/admin/suppliers/import/confirm",
                       data={"token": token, "skip_invalid": "1"})
    assert done.status_code == 200
    assert _count_suppliers() == 1
    rejects = client.get(f"/admin/suppliers/import/{token}/rejects.csv")
    assert rejects.status_code == 200 and rejects.mimetype == "text/csv"
    body = rejects.get_data(as_text=True)
    assert "NEW-2" in body and "NEW-3" in body and "NEW-1" not in body
    assert "reason" in body.splitlines()[0]
    # The upload is gone after the import; its rejects file stays for downloading.
    assert _uploads(app) == []
    folder = Path(app.instance_path) / "admin-imports"
    assert (folder / f"{token}{admin_service.REJECTS_SUFFIX}").exists()


def test_upload_of_an_unreadable_file(app: Flask, app_context: Flask, client: Any,
                                      signed_in: User) -> None:
    response = _upload(client, "not,a,supplier,file\n1,2,3,4\n")
    assert response.status_code == 400
    assert "has no external_id (or company_number)" in response.get_data(as_text=True)
    assert _uploads(app) == []

    response = _upload(client, "whatever", filename="suppliers.pdf")
    assert response.status_code == 400
    assert "CSV or an Excel" in response.get_data(as_text=True)

    response = client.post("/admin/suppliers/import", data={},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Select a CSV or Excel file" in response.get_data(as_text=True)


def test_rejects_download_needs_a_real_token(client: Any, signed_in: User) -> None:
    assert client.get("/admin/suppliers/import/" + "a" * 32 + "/rejects.csv").status_code == 404
    assert client.get("/admin/suppliers/import/..%2F..%2Fx/rejects.csv").status_code == 404


# --- duplicates ----------------------------------------------------------------------------


def test_duplicates_merge(app_context: Flask, client: Any, signed_in: User) -> None:
    first = make_supplier(name="Acme Roofing Ltd", postcode=VALID_POSTCODE)
    second = make_supplier(name="ACME Roofing Limited", postcode=VALID_POSTCODE)
    db.session.commit()

    listing = client.get("/admin/duplicates").get_data(as_text=True)
    assert "Acme Roofing Ltd" in listing and "ACME Roofing Limited" in listing
    assert f"/admin/duplicates/{first.id}/{second.id}" in listing
    review = client.get(f"/admin/duplicates/{first.id}/{second.id}").get_data(as_text=True)
    assert "Score 75 out of 100" in review and "same postcode" in review

    bad = client.post(f"/admin/duplicates/{first.id}/{second.id}/merge", data={})
    assert bad.status_code == 400
    assert "Choose the supplier to keep" in bad.get_data(as_text=True)

    response = client.post(f"/admin/duplicates/{first.id}/{second.id}/merge",
                           data={"survivor_id": str(second.id), "reason": "Same firm"})

    assert response.status_code == 303
    assert response.location.endswith(f"/admin/suppliers/{second.id}")
    db.session.expire_all()
    merged = db.session.get(Supplier, first.id)
    assert not merged.active and merged.merged_into_id == second.id
    assert "No likely duplicates" in client.get("/admin/duplicates").get_data(as_text=True)


def test_duplicates_not_a_duplicate(app_context: Flask, client: Any, signed_in: User) -> None:
    first = make_supplier(name="Acme Roofing Ltd", postcode=VALID_POSTCODE)
    second = make_supplier(name="ACME Roofing Limited", postcode=VALID_POSTCODE)
    db.session.commit()

    response = client.post(f"/admin/duplicates/{second.id}/{first.id}/not-duplicate",
                           data={"nd-reason": "Two branches, separately owned"})

    assert response.status_code == 303
    assert "No likely duplicates" in client.get("/admin/duplicates").get_data(as_text=True)
    assert "marked as not a duplicate" in client.get(
        f"/admin/duplicates/{first.id}/{second.id}").get_data(as_text=True)
    assert client.get(f"/admin/duplicates/{first.id}/{first.id}").status_code == 404


# --- lots, catalogue, organisations, sites, users, audit -----------------------------------


def test_lots_add_and_rename(app_context: Flask, client: Any, signed_in: User) -> None:
    framework = make_framework(lots=("L1",))
    db.session.commit()
    data = {"framework_id": str(framework.id), "code": "L9", "name": "Lifts", "description": ""}
    assert client.post("/admin/lots/new", data=data).status_code == 303
    again = client.post("/admin/lots/new", data=data)
    assert again.status_code == 400 and "already has a lot L9" in again.get_data(as_text=True)
    missing = client.post("/admin/lots/new", data={**data, "name": ""})
    assert missing.status_code == 400

    lot = db.session.scalar(sa.select(Lot).where(Lot.code == "L9"))
    assert lot is not None
    response = client.post(f"/admin/lots/{lot.id}/edit",
                           data={"framework_id": str(framework.id), "code": "CHANGED",
                                 "name": "Lifts and escalators", "description": ""})
    assert response.status_code == 303
    db.session.expire_all()
    lot = db.session.get(Lot, lot.id)
    assert lot.name == "Lifts and escalators" and lot.code == "L9"  # the code never changes


@pytest.mark.parametrize("name", ["Lifts\x00", "Lifts\r\nand more", "\x1b[2JLifts"])
def test_admin_text_with_control_characters_is_refused(
    app_context: Flask, client: Any, signed_in: User, name: str
) -> None:
    framework = make_framework(lots=("L1",))
    db.session.commit()
    response = client.post("/admin/lots/new", data={
        "framework_id": str(framework.id), "code": "L9", "name": name, "description": "ok\nok"})
    assert response.status_code == 400
    assert "Name must not contain control characters" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(Lot).where(Lot.code == "L9")) is None
    org = client.post("/admin/organisations/new", data={"name": name, "type": "housing"})
    assert org.status_code == 400
    assert "Name must not contain control characters" in org.get_data(as_text=True)


def test_catalogue_new_version(app_context: Flask, client: Any, signed_in: User) -> None:
    load_catalogue(catalogue_data("2026.1"))
    db.session.commit()
    draft_page = client.get("/admin/catalogue/new").get_data(as_text=True)
    assert "2026.2" in draft_page

    from web.services.admin import catalogue_draft
    text = catalogue_draft()
    assert client.post("/admin/catalogue/new",
                       data={"catalogue_json": text}).status_code == 303
    again = client.post("/admin/catalogue/new", data={"catalogue_json": text})
    assert again.status_code == 400 and "already exists" in again.get_data(as_text=True)
    broken = client.post("/admin/catalogue/new", data={"catalogue_json": "{nope"})
    assert broken.status_code == 400 and "not valid JSON" in broken.get_data(as_text=True)
    db.session.expire_all()
    versions = db.session.scalars(sa.select(SocialValueCatalogue.version)
                                  .where(SocialValueCatalogue.is_current.is_(True))).all()
    assert versions == ["2026.2"]
    assert "2026.1" in client.get("/admin/catalogue").get_data(as_text=True)


def test_organisations_and_sites(app_context: Flask, client: Any, signed_in: User) -> None:
    response = client.post("/admin/organisations/new",
                           data={"name": "Knowsley Homes", "type": "housing"})
    assert response.status_code == 303
    organisation = db.session.scalar(sa.select(MemberOrganisation))
    assert organisation is not None
    missing = client.post("/admin/organisations/new", data={"name": "", "type": ""})
    assert missing.status_code == 400
    assert client.post(f"/admin/organisations/{organisation.id}/edit",
                       data={"name": "Knowsley Council", "type": "council"}).status_code == 303

    url = f"/admin/organisations/{organisation.id}/sites/new"
    bad = client.post(url, data={"name": "Depot", "postcode": "ZZ1 1ZZ"})
    assert bad.status_code == 400 and "was not found" in bad.get_data(as_text=True)
    outcode = client.post(url, data={"name": "Depot", "postcode": "PE3"})
    assert outcode.status_code == 400 and "full postcode" in outcode.get_data(as_text=True)
    assert client.post(url, data={"name": "Depot", "postcode": "pe3 7ew"}).status_code == 303
    db.session.expire_all()
    [site] = db.session.scalars(sa.select(Site)).all()
    assert site.postcode == VALID_POSTCODE
    page = client.get(f"/admin/organisations/{organisation.id}").get_data(as_text=True)
    assert "Knowsley Council" in page and "Depot" in page

    remove = f"/admin/organisations/{organisation.id}/sites/{site.id}/remove"
    assert client.post(remove, data={}).status_code == 303
    assert db.session.scalars(sa.select(Site)).all() == []
    other = make_organisation()
    db.session.commit()
    assert client.get(f"/admin/organisations/{other.id}/sites/{site.id}/remove").status_code == 404


def test_users_add_and_deactivate(app_context: Flask, client: Any, signed_in: User) -> None:
    organisation = make_organisation(name="Knowsley Homes")
    db.session.commit()
    data = {"name": "New User", "email": "new@member.example", "role": "member",
            "organisation_id": str(organisation.id), "password": "long enough pass"}
    assert client.post("/admin/users/new", data=data).status_code == 303
    duplicate = client.post("/admin/users/new", data=data)
    assert duplicate.status_code == 400 and "already exists" in duplicate.get_data(as_text=True)
    short = client.post("/admin/users/new", data={**data, "email": "b@member.example",
                                                  "password": "short"})
    assert short.status_code == 400 and "at least 10 characters" in short.get_data(as_text=True)

    user = db.session.scalar(sa.select(User).where(User.email == "new@member.example"))
    assert user is not None
    assert user.must_change_password  # the admin chose it: the user chooses their own
    assert "Given password not yet changed" in client.get("/admin/users").get_data(
        as_text=True)
    assert client.post(f"/admin/users/{user.id}/deactivate").status_code == 303
    db.session.expire_all()
    assert not db.session.get(User, user.id).active
    # Admins cannot lock themselves out.
    client.post(f"/admin/users/{signed_in.id}/deactivate")
    db.session.expire_all()
    assert db.session.get(User, signed_in.id).active
    assert client.post(f"/admin/users/{user.id}/reactivate").status_code == 303


def test_users_are_found_by_name_or_email(
    app_context: Flask, client: Any, signed_in: User
) -> None:
    make_user(name="Bo Member", email="bo@knowsley.example")
    make_user(name="Cy Member", email="cy_1@halton.example")
    make_user(name="Di Member", email="di@halton.example")
    db.session.commit()

    def names(query: str) -> list[str]:
        html = client.get("/admin/users", query_string={"q": query}).get_data(as_text=True)
        return re.findall(r"Change the details of </span>([^<]+)</a>", html)

    assert names("") == ["Ada Admin", "Bo Member", "Cy Member", "Di Member"]
    assert names("bo") == ["Bo Member"]  # by name
    assert names("HALTON") == ["Cy Member", "Di Member"]  # by email, any case
    assert names("y_1") == ["Cy Member"]
    assert names("b_@") == [] and names("%") == []  # _ and % are not wildcards
    page = client.get("/admin/users?q=halton").get_data(as_text=True)
    assert "2 users matching “halton”." in page and 'value="halton"' in page


def test_an_admin_changes_a_users_details(
    app_context: Flask, client: Any, signed_in: User
) -> None:
    first = make_organisation(name="Knowsley Homes")
    second = make_organisation(name="Halton Housing")
    user = make_user(name="Bo Member", email="bo@member.example", organisation=first)
    db.session.commit()
    listing = client.get("/admin/users").get_data(as_text=True)
    assert f'href="/admin/users/{user.id}/edit"' in listing
    form = client.get(f"/admin/users/{user.id}/edit").get_data(as_text=True)
    assert "Change Bo Member’s details" in form and 'value="bo@member.example"' in form
    assert f'<option value="{first.id}" selected>' in form
    assert 'name="password"' not in form

    data = {"name": " Bo Member-Jones ", "email": "Bo.Jones@Member.example",
            "role": "member", "organisation_id": str(second.id)}
    response = client.post(f"/admin/users/{user.id}/edit", data=data)

    assert response.status_code == 303 and response.location == "/admin/users"
    db.session.expire_all()
    changed = db.session.get(User, user.id)
    assert (changed.name, changed.email, changed.organisation_id) == (
        "Bo Member-Jones", "bo.jones@member.example", second.id)
    [event] = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "user.edited")).all()
    assert event.actor_id == signed_in.id and event.object_id == str(user.id)
    assert event.details == {
        "before": {"name": "Bo Member", "email": "bo@member.example",
                   "organisation_id": first.id},
        "after": {"name": "Bo Member-Jones", "email": "bo.jones@member.example",
                  "organisation_id": second.id}}

    # Made an administrator: framework staff belong to no organisation.
    client.post(f"/admin/users/{user.id}/edit", data={**data, "role": "admin"})
    db.session.expire_all()
    promoted = db.session.get(User, user.id)
    assert promoted.role == Role.ADMIN and promoted.organisation_id is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "user.edited")) == 2


def test_saving_a_user_unchanged_records_nothing(
    app_context: Flask, client: Any, signed_in: User
) -> None:
    organisation = make_organisation()
    user = make_user(name="Bo Member", email="bo@member.example", organisation=organisation)
    db.session.commit()

    response = client.post(f"/admin/users/{user.id}/edit", data={
        "name": "Bo Member ", "email": "BO@member.example", "role": "member",
        "organisation_id": str(organisation.id)})

    assert response.status_code == 303
    with client.session_transaction() as session:
        assert session["_flashes"] == [("success", "Nothing changed.")]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0


@pytest.mark.parametrize(("change", "message"), [
    ({"email": "taken@member.example"}, "A user with email taken@member.example already exists"),
    ({"email": "not an email"}, "is not an email address"),
    ({"organisation_id": ""}, "A member user needs a member organisation"),
    ({"name": "  "}, "Enter the user"),
    ("self", "You cannot take away your own administrator role"),
])
def test_a_refused_user_change_changes_nothing(
    app_context: Flask, client: Any, signed_in: User, change: Any, message: str
) -> None:
    organisation = make_organisation()
    user = make_user(email="bo@member.example", organisation=organisation)
    make_user(email="taken@member.example")
    db.session.commit()
    target, data = user, {"name": "Bo", "email": "bo@member.example", "role": "member",
                          "organisation_id": str(organisation.id)}
    if change == "self":
        target = signed_in
        data = {"name": signed_in.name, "email": signed_in.email, "role": "member",
                "organisation_id": str(organisation.id)}
    else:
        data.update(change)
    before = (target.name, target.email, target.role, target.organisation_id)

    response = client.post(f"/admin/users/{target.id}/edit", data=data)

    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    db.session.expire_all()
    again = db.session.get(User, target.id)
    assert (again.name, again.email, again.role, again.organisation_id) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0


NEW_PASSWORD = "three random words"


def test_an_admin_sets_a_new_password_for_a_user(
    app: Flask, app_context: Flask, client: Any, signed_in: User
) -> None:
    user = make_user(name="Bo Member", email="bo@member.example")
    db.session.commit()
    theirs = app.test_client()  # the user's own session, begun before
    AuthActions(theirs).login_as(user)
    assert theirs.get("/account/").status_code == 200

    listing = client.get("/admin/users").get_data(as_text=True)
    assert f'href="/admin/users/{user.id}/password"' in listing
    assert 'href="/account/password">Change your password' in listing
    response = client.post(f"/admin/users/{user.id}/password", data={
        "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})

    assert response.status_code == 303 and response.location == "/admin/users"
    db.session.expire_all()
    changed = db.session.get(User, user.id)
    assert changed.check_password(NEW_PASSWORD) and changed.must_change_password
    [event] = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "user.password_set")).all()
    assert event.actor_id == signed_in.id and event.object_id == str(user.id)
    assert event.details == {}  # neither the password nor its hash
    # Their old session is over; the admin's goes on.
    assert theirs.get("/account/").status_code == 302
    assert client.get("/admin/users").status_code == 200


@pytest.mark.parametrize(("data", "message"), [
    ({"new_password": "", "confirm_password": ""}, "Enter the new password"),
    ({"new_password": "short", "confirm_password": "short"}, "at least 10 characters"),
    ({"new_password": NEW_PASSWORD, "confirm_password": "three random wordz"},
     "The passwords do not match"),
    ({"new_password": "bo@member.example", "confirm_password": "bo@member.example"},
     "must not be the email address"),
])
def test_a_refused_new_password_changes_nothing(
    app_context: Flask, client: Any, signed_in: User, data: dict[str, str], message: str
) -> None:
    user = make_user(email="bo@member.example")
    db.session.commit()
    before = user.password_hash

    response = client.post(f"/admin/users/{user.id}/password", data=data)

    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0


def test_an_admin_changes_their_own_password_on_their_account_page(
    client: Any, signed_in: User
) -> None:
    response = client.get(f"/admin/users/{signed_in.id}/password")
    assert response.status_code == 302 and response.location == "/account/password"
    assert client.get("/admin/users/999999/password").status_code == 404


def test_audit_page_filters(app_context: Flask, client: Any, signed_in: User) -> None:
    supplier = make_supplier(name="Acme Roofing Ltd")
    db.session.commit()
    client.post(f"/admin/suppliers/{supplier.id}/deactivate", data={"reason": "Ceased trading"})
    client.post("/admin/organisations/new", data={"name": "Knowsley Homes", "type": "housing"})

    everything = client.get("/admin/audit").get_data(as_text=True)
    assert "supplier.deactivated" in everything and "organisation.created" in everything
    assert "Ada Admin" in everything and "Ceased trading" in everything
    filtered = client.get("/admin/audit?action=supplier.deactivated").get_data(as_text=True)
    assert "2 events" not in filtered and "1 event." in filtered
    by_object = client.get(f"/admin/audit?object_type=supplier&object_id={supplier.id}")
    assert "1 event." in by_object.get_data(as_text=True)


def test_the_outcomes_report_page_and_its_csv(
    app: Flask, app_context: Flask, client: Any, signed_in: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.web.services.test_reports import make_decided
    from tests.web.test_shortlists_service import make_world
    from web.services import matching

    monkeypatch.setattr(matching, "_cache", None)
    world = make_world(app)
    when = dt.datetime(2025, 9, 1, tzinfo=dt.UTC)
    make_decided(world, "Walls A", winner=0, value=400_000, when=when)
    make_decided(world, "Their walls", actor="other", winner=None, when=when)
    db.session.commit()
    assert 'href="/admin/reports"' in client.get("/admin/").get_data(as_text=True)

    current = client.get("/admin/reports").get_data(as_text=True)
    assert 'id="no-outcomes"' in current  # nothing recorded in this year (2026 to 2027)
    assert '<option value="2025">2025 to 2026</option>' in current
    page = client.get("/admin/reports?year=2025").get_data(as_text=True)
    assert "Outcomes report, financial year 2025 to 2026" in page
    summary = page[page.index('id="report-summary"'):]
    assert "Knowsley Homes" in summary and "Other Council" in summary
    assert "£400,000" in summary and "All organisations" in summary
    assert 'href="/admin/reports/outcomes-2025.csv"' in page

    download = client.get("/admin/reports/outcomes-2025.csv")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert 'filename="framework-outcomes-2025-26.csv"' in download.headers[
        "Content-Disposition"]
    lines = download.get_data().decode("utf-8-sig").splitlines()
    assert len(lines) == 3 and "Walls A" in lines[1] and "Their walls" in lines[2]
    assert client.get("/admin/reports/outcomes-1999.csv").status_code == 404


# --- a database restart cutting off a form's commit ----------------------------------------

# What each write needs first, what it posts (given those ids), the message it flashes, and
# how many of what it made or changed the database holds afterwards (one, not two).
ADMIN_WRITES: dict[str, tuple[Any, Any, str, Any]] = {
    "deactivate a supplier": (
        lambda: {"supplier": make_supplier(name="Acme Roofing Ltd")},
        lambda c, ids: c.post(f"/admin/suppliers/{ids['supplier']}/deactivate",
                              data={"reason": "Ceased trading"}),
        "Acme Roofing Ltd has been deactivated.",
        lambda ids: db.session.scalar(sa.select(sa.func.count()).select_from(Supplier)
                                      .where(Supplier.active.is_(False)))),
    "add a lot": (
        lambda: {"framework": make_framework(lots=("L1",))},
        lambda c, ids: c.post("/admin/lots/new", data={
            "framework_id": str(ids["framework"]), "code": "L9", "name": "Lifts",
            "description": ""}),
        "Added lot L9: Lifts.",
        lambda ids: db.session.scalar(sa.select(sa.func.count()).select_from(Lot)
                                      .where(Lot.code == "L9"))),
    "add an organisation": (
        lambda: {},
        lambda c, ids: c.post("/admin/organisations/new",
                              data={"name": "Knowsley Homes", "type": "housing"}),
        "Added Knowsley Homes.",
        lambda ids: db.session.scalar(sa.select(sa.func.count()).select_from(MemberOrganisation)
                                      .where(MemberOrganisation.name == "Knowsley Homes"))),
    "add a site": (
        lambda: {"organisation": make_organisation()},
        lambda c, ids: c.post(f"/admin/organisations/{ids['organisation']}/sites/new",
                              data={"name": "Depot", "postcode": VALID_POSTCODE}),
        f"Added the site Depot ({VALID_POSTCODE}).",
        lambda ids: db.session.scalar(sa.select(sa.func.count()).select_from(Site))),
    "add a user": (
        lambda: {"organisation": make_organisation()},
        lambda c, ids: c.post("/admin/users/new", data={
            "name": "New User", "email": "new@member.example", "role": "member",
            "organisation_id": str(ids["organisation"]), "password": "long enough pass"}),
        "Added New User (new@member.example).",
        lambda ids: db.session.scalar(sa.select(sa.func.count()).select_from(User)
                                      .where(User.email == "new@member.example"))),
    "deactivate a user": (
        lambda: {"user": make_user(name="Bo Member")},
        lambda c, ids: c.post(f"/admin/users/{ids['user']}/deactivate"),
        "Bo Member has been deactivated.",
        lambda ids: db.session.scalar(sa.select(sa.func.count()).select_from(User)
                                      .where(User.active.is_(False)))),
    "edit a user": (
        lambda: {"user": make_user(name="Bo Member")},
        lambda c, ids: c.post(f"/admin/users/{ids['user']}/edit", data={
            "name": "Bo Member-Jones", "email": "bo@member.example", "role": "admin",
            "organisation_id": ""}),
        "Saved Bo Member-Jones (bo@member.example).",
        lambda ids: db.session.scalar(sa.select(sa.func.count()).select_from(User)
                                      .where(User.name == "Bo Member-Jones",
                                             User.role == Role.ADMIN))),
    "set a user's password": (
        lambda: {"user": make_user(name="Bo Member")},
        lambda c, ids: c.post(f"/admin/users/{ids['user']}/password", data={
            "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}),
        "New password set for Bo Member. Give it to them securely: they are signed out "
        "wherever they were signed in.",
        lambda ids: db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                                      .where(AuditEvent.action == "user.password_set"))),
}


@pytest.mark.parametrize("went_through", [True, False, None],
                         ids=["went through", "cut before", "not cut"])
@pytest.mark.parametrize("write", list(ADMIN_WRITES))
def test_a_write_cut_off_in_its_commit_answers_as_it_would_have_once(
    app_context: Flask, client: Any, signed_in: User, monkeypatch: pytest.MonkeyPatch,
    write: str, went_through: bool | None,
) -> None:
    """Framework staff's forms make their answer before they commit and read nothing after
    it. A restart cutting the commit off: went through, that answer stands (the write's
    first audit event shows it was kept); cut before, the form's write runs again. Either
    way the change is made once. Before, each answered 503 when cut."""
    from tests.web.db_faults import cut_first_commit
    from tests.web.sql_recorder import statements_after_commit

    make, post, message, count = ADMIN_WRITES[write]
    ids = {name: made.id for name, made in make().items()}
    db.session.commit()
    runs = cut_first_commit(monkeypatch, went_through=went_through)
    with statements_after_commit(db.engine) as recorder:
        response = post(client, ids)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert len(runs) == (2 if went_through is False else 1)
    if went_through is None:
        assert recorder.after == []
    elif went_through:  # the one statement after it: the look-up of its first audit event
        assert len(recorder.after) == 1 and recorder.after[0].startswith(
            "SELECT audit_events.id")
    with client.session_transaction() as session:
        assert session.get("_flashes") == [("success", message)]
    db.session.expire_all()
    assert count(ids) == 1


@pytest.mark.parametrize("went_through", [True, False], ids=["went through", "cut before"])
def test_an_import_cut_off_in_its_commit_is_kept_once(
    app: Flask, app_context: Flask, client: Any, signed_in: User,
    monkeypatch: pytest.MonkeyPatch, went_through: bool,
) -> None:
    """The result page is made before the commit and the upload kept until after it: cut
    off, the import either stands (went through) or runs again from the same upload."""
    from tests.web.db_faults import cut_first_commit

    token = _token(_upload(client, GOOD_CSV).get_data(as_text=True))
    runs = cut_first_commit(monkeypatch, went_through=went_through)
    response = client.post("/admin/suppliers/import/confirm",
                           data={"token": token, "skip_invalid": ""})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "Import complete" in response.get_data(as_text=True)
    assert len(runs) == (1 if went_through else 2)
    db.session.expire_all()
    assert _count_suppliers() == 2
    assert _uploads(app) == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "suppliers.imported")) == 1
