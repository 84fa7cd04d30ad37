"""Admin operations: supplier edit, deactivate and reactivate, merge, lots, catalogue
versions, organisations, sites and users; each audited with before and after."""

from __future__ import annotations

import datetime as dt
import io
import os
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.factories import (
    catalogue_data,
    make_framework,
    make_organisation,
    make_supplier,
    make_user,
)
from web.extensions import db
from web.models import (
    Accreditation,
    AuditEvent,
    Commitment,
    Contact,
    Role,
    Shortlist,
    ShortlistEntry,
    ShortlistStatus,
    SocialValueCatalogue,
    Supplier,
    User,
)
from web.postcodes import get_directory
from web.services import admin as service
from web.services import dedupe
from web.services.catalogue import load_catalogue
from web.services.supplier_fields import ContactValues
from web.services.versions import current_version


@pytest.fixture
def admin(app_context: Flask) -> User:
    return make_user(role=Role.ADMIN, name="Ada Admin")


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id)))


def _edit(supplier: Supplier, **changes: Any) -> service.SupplierEdit:
    values: dict[str, Any] = {
        "name": supplier.name, "company_number": supplier.company_number,
        "address": supplier.address, "location": None, "description": supplier.description,
        "capabilities": list(supplier.capabilities), "cpv_codes": list(supplier.cpv_codes),
        "sme": supplier.sme, "vcse": supplier.vcse,
        "service_radius_km": supplier.service_radius_km,
        "min_contract_value": supplier.min_contract_value,
        "max_contract_value": supplier.max_contract_value, "website": supplier.website,
        "email": supplier.email, "phone": supplier.phone,
        "lot_ids": [lot.id for lot in supplier.lots],
        "accreditations": [(a.name, a.expires_on) for a in supplier.accreditations],
        "commitments": [(c.option_code, c.quantity_per_million) for c in supplier.commitments],
    }
    values.update(changes)
    return service.SupplierEdit(**values)


# --- parsing with the importer's rules ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CHAS:2027-03-31\nISO 9001:2015",
         [("CHAS", dt.date(2027, 3, 31)), ("ISO 9001:2015", None)]),
        ("\n  TrustMark  \n", [("TrustMark", None)]),
        ("", []),
    ],
)
def test_parse_accreditation_lines(text: str, expected: list[Any]) -> None:
    assert service.parse_accreditation_lines(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("CHAS:2027-02-30", "Line 1: \"2027-02-30\" is not a date"),
        ("CHAS\nchas:2027-01-01", "Line 2: chas is already on line 1"),
        (":2027-01-01", "Line 1: \":2027-01-01\" has no accreditation name"),
    ],
)
def test_parse_accreditation_errors(text: str, message: str) -> None:
    with pytest.raises(service.AdminError, match=message):
        service.parse_accreditation_lines(text)


def test_parse_commitment_lines() -> None:
    codes = {"SV-APP": "SV-APP", "SV-SPEND": "SV-SPEND"}
    assert service.parse_commitment_lines("sv-app:2\nSV-SPEND:5,000", codes) == [
        ("SV-APP", 2.0), ("SV-SPEND", 5000.0)]
    with pytest.raises(service.AdminError, match="Line 2: unknown social-value option code NOPE"):
        service.parse_commitment_lines("SV-APP:2\nNOPE:1", codes)
    with pytest.raises(service.AdminError, match="is not a number"):
        service.parse_commitment_lines("SV-APP:lots", codes)


@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [
        (service.parse_company_number, "1234567", "01234567"),
        (service.parse_company_number, "sc123456", "SC123456"),
        (service.parse_company_number, "n/a", None),
        (service.parse_cpv_codes, "45321000; 45421151-3", ["45321000", "45421151"]),
        (service.parse_number, "£1,250,000", 1_250_000.0),
        (service.parse_list, "loft insulation\nEWI; ewi", ["loft insulation", "EWI"]),
    ],
)
def test_parsers(parse: Any, text: str, expected: Any) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("parse", "text"),
    [(service.parse_company_number, "Acme House"), (service.parse_cpv_codes, "4532"),
     (service.parse_number, "-5"), (service.parse_email, "nobody"),
     (service.parse_website, "my site")],
)
def test_parser_errors(parse: Any, text: str) -> None:
    with pytest.raises(service.AdminError):
        parse(text)


def test_parse_contact_lines() -> None:
    text = ("Jo Bloggs | Contracts manager | jo@acme.example | 0151 496 0000\r\n"
            "\r\n"
            "  Sam Patel | | sam@acme.example  \r\n"
            "Jo Bloggs | Site manager\n")
    assert service.parse_contact_lines(text) == [
        ContactValues("Jo Bloggs", "Contracts manager", "jo@acme.example", "0151 496 0000"),
        ContactValues("Sam Patel", "", "sam@acme.example"),
        ContactValues("Jo Bloggs", "Site manager"),  # another Jo: no email, so not a repeat
    ]
    assert service.parse_contact_lines("  \n") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Jo\nSam | Manager | sam@acme", 'Line 2: "sam@acme" is not an email address'),
        ("Jo\n\n | Manager", "Line 3: the contact has no name"),
        ("Jo | | jo@acme.example\nJO | Boss | JO@ACME.EXAMPLE",
         "Line 2: JO (JO@ACME.EXAMPLE) is already on line 1"),
        ("Sam\n\nsam", "Line 3: sam is already on line 1"),
        ("Jo\nSam\vBloggs", "Line 2: the contact contains a control character"),
        ("Jo\u2028Sam", "Line 1: the contact contains a control character"),
        ("Jo | | | 0151 ext 12", 'Line 1: "0151 ext 12" is not a phone number'),
        ("N" * 201, "Line 1: the name is longer than 200 characters"),
    ],
)
def test_parse_contact_lines_errors(text: str, message: str) -> None:
    with pytest.raises(service.AdminError) as raised:
        service.parse_contact_lines(text)
    assert str(raised.value).startswith(message)


def test_format_contacts_is_read_back_as_it_was() -> None:
    contacts = [Contact(name="Jo Bloggs", role="Director, Estates", email="jo@acme.example",
                        phone="0151 496 0000"),
                Contact(name="Sam Patel", role="", email=None, phone="0151 496 0001")]
    text = service.format_contacts(contacts)
    assert text == ("Jo Bloggs | Director, Estates | jo@acme.example | 0151 496 0000\n"
                    "Sam Patel | | | 0151 496 0001")
    assert service.parse_contact_lines(text) == [service.contact_values(c) for c in contacts]


def test_locate_postcode(app_context: Flask) -> None:
    directory = get_directory(app_context)
    assert service.locate("pe37ew", directory).postcode == "PE3 7EW"
    with pytest.raises(service.AdminError, match="not a valid postcode"):
        service.locate("nonsense", directory)
    with pytest.raises(service.AdminError, match="full postcode"):
        service.locate("PE3", directory)


# --- suppliers -----------------------------------------------------------------------------


def test_update_supplier_audits_before_and_after(app_context: Flask, admin: User) -> None:
    framework = make_framework(lots=("L1", "L2"))
    load_catalogue(catalogue_data())
    supplier = make_supplier(name="Acme Roofing Ltd")
    db.session.commit()
    version = current_version()
    location = service.locate("PE3 7EW", get_directory(app_context))

    changed = service.update_supplier(supplier, _edit(
        supplier, name="Acme Roofing and Insulation Ltd", location=location,
        lot_ids=[framework.lots[1].id], accreditations=[("CHAS", dt.date(2027, 1, 31))],
        commitments=[("SV-APP", 3.0)], sme=True,
    ), actor=admin)
    db.session.commit()

    assert set(changed) == {"name", "postcode", "latitude", "longitude", "la_code", "lots",
                            "accreditations", "commitments", "sme"}
    assert supplier.postcode == "PE3 7EW" and supplier.la_code == location.la_code
    assert [lot.code for lot in supplier.lots] == ["L2"]
    [event] = _events("supplier.edited")
    assert event.actor_id == admin.id and event.object_id == str(supplier.id)
    assert event.details["before"]["name"] == "Acme Roofing Ltd"
    assert event.details["after"]["name"] == "Acme Roofing and Insulation Ltd"
    assert event.details["before"]["accreditations"] == []
    assert event.details["after"]["accreditations"] == ["CHAS:2027-01-31"]
    assert event.details["after"]["commitments"] == ["SV-APP:3"]
    assert "description" not in event.details["after"]  # only what changed
    assert current_version() == version + 1


def test_update_supplier_with_no_change_records_nothing(app_context: Flask, admin: User) -> None:
    supplier = make_supplier()
    db.session.commit()
    version = current_version()
    assert service.update_supplier(supplier, _edit(supplier), actor=admin) == {}
    assert _events("supplier.edited") == []
    assert current_version() == version


def test_update_supplier_replaces_changed_contacts(app_context: Flask, admin: User) -> None:
    supplier = make_supplier()
    supplier.contacts = [Contact(name="Jo Bloggs", role="Contracts manager",
                                 email="jo@acme.example")]
    db.session.commit()
    version = current_version()
    contacts = [ContactValues("Sam Patel", "Bids", "sam@acme.example", "0151 496 0000"),
                ContactValues("Jo Bloggs", "Director, Estates", "jo@acme.example")]

    changed = service.update_supplier(supplier, _edit(supplier, contacts=contacts),
                                      actor=admin)
    db.session.commit()

    assert changed == {"contacts": [
        "Sam Patel | Bids | sam@acme.example | 0151 496 0000",
        "Jo Bloggs | Director, Estates | jo@acme.example",
    ]}
    db.session.expire_all()
    stored = db.session.scalars(sa.select(Contact).order_by(Contact.id)).all()
    assert [service.contact_values(c) for c in stored] == contacts  # in the order given
    [event] = _events("supplier.edited")
    assert event.details == {
        "before": {"contacts": ["Jo Bloggs | Contracts manager | jo@acme.example"]},
        "after": changed,
    }
    # The matching index reads no contacts: it is not rebuilt for them.
    assert current_version() == version


def test_update_supplier_keeps_unchanged_contacts(app_context: Flask, admin: User) -> None:
    supplier = make_supplier()
    supplier.contacts = [Contact(name="Jo Bloggs", role="", email="jo@acme.example")]
    db.session.commit()
    [contact_id] = [c.id for c in supplier.contacts]

    for contacts in ([ContactValues("Jo Bloggs", "", "jo@acme.example")], None):
        assert service.update_supplier(supplier, _edit(supplier, contacts=contacts),
                                       actor=admin) == {}
    db.session.commit()

    assert [c.id for c in supplier.contacts] == [contact_id]
    assert _events("supplier.edited") == []


def test_update_supplier_with_no_contacts_removes_them(app_context: Flask,
                                                       admin: User) -> None:
    supplier = make_supplier()
    supplier.contacts = [Contact(name="Jo Bloggs")]
    db.session.commit()

    changed = service.update_supplier(supplier, _edit(supplier, contacts=[]), actor=admin)
    db.session.commit()

    assert changed == {"contacts": []}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Contact)) == 0


def test_update_supplier_contacts_and_indexed_fields_bump_the_version(
    app_context: Flask, admin: User
) -> None:
    supplier = make_supplier()
    db.session.commit()
    version = current_version()

    changed = service.update_supplier(
        supplier, _edit(supplier, sme=not supplier.sme, contacts=[ContactValues("Jo")]),
        actor=admin)

    assert set(changed) == {"sme", "contacts"}
    assert current_version() == version + 1


def test_update_supplier_refuses_min_above_max(app_context: Flask, admin: User) -> None:
    supplier = make_supplier()
    with pytest.raises(service.AdminError, match="less than the minimum"):
        service.update_supplier(supplier, _edit(supplier, min_contract_value=10.0,
                                                max_contract_value=5.0), actor=admin)


def test_deactivate_and_reactivate(app_context: Flask, admin: User) -> None:
    supplier = make_supplier()
    version = current_version()

    with pytest.raises(service.AdminError, match="Enter why"):
        service.deactivate_supplier(supplier, actor=admin, reason="  ")
    service.deactivate_supplier(supplier, actor=admin, reason="Went into administration")

    assert not supplier.active and supplier.deactivated_at is not None
    assert supplier.deactivation_reason == "Went into administration"
    [event] = _events("supplier.deactivated")
    assert event.details["before"]["active"] is True and event.details["after"]["active"] is False
    assert event.details["reason"] == "Went into administration"
    assert current_version() == version + 1
    with pytest.raises(service.AdminError, match="already inactive"):
        service.deactivate_supplier(supplier, actor=admin, reason="again")

    service.reactivate_supplier(supplier, actor=admin, reason="Trading again")
    assert supplier.active and supplier.deactivation_reason is None
    assert _events("supplier.reactivated")[0].details["after"]["active"] is True


def test_supplier_search(app_context: Flask) -> None:
    acme = make_supplier(name="Acme Roofing Ltd", company_number="01234567", postcode="PE3 7EW",
                         external_id="ACME-1")
    make_supplier(name="Zenith 100% Cleaning", postcode="CM2 6BU")
    gone = make_supplier(name="Acme Old Ltd", active=False)

    def names(query: str, status: str = "active") -> list[str]:
        return [s.name for s in db.session.scalars(service.supplier_search(query, status=status))]

    assert names("roof") == ["Acme Roofing Ltd"]
    assert names("acme-1") == ["Acme Roofing Ltd"]
    assert names("1234567") == ["Acme Roofing Ltd"]  # leading zero put back
    assert names("pe37") == ["Acme Roofing Ltd"]
    assert names("100%") == ["Zenith 100% Cleaning"]  # % is literal
    assert names("acme", "all") == ["Acme Old Ltd", "Acme Roofing Ltd"]
    assert names("", "inactive") == [gone.name]
    assert acme.id


# --- merging -------------------------------------------------------------------------------


def _shortlist(organisation_id: int, user: User, status: ShortlistStatus,
               supplier_ids: list[int], **extra: Any) -> Shortlist:
    shortlist = Shortlist(organisation_id=organisation_id, created_by_id=user.id,
                          name=f"{status.value} shortlist", status=status, **extra)
    shortlist.entries = [ShortlistEntry(supplier_id=i, rank=n, score=50.0)
                         for n, i in enumerate(supplier_ids, 1)]
    db.session.add(shortlist)
    db.session.flush()
    return shortlist


def test_merge_suppliers(app_context: Flask, admin: User) -> None:
    framework = make_framework(lots=("L1", "L2", "L3"))
    l1, l2, l3 = framework.lots
    survivor = make_supplier(name="Acme Roofing Ltd", company_number=None, website=None,
                             capabilities=["roofing"], cpv_codes=["45261000"])
    merged = make_supplier(name="ACME Roofing Limited", company_number="01234567",
                           website="https://acme.example", capabilities=["Roofing", "gutters"],
                           cpv_codes=["45261000", "45262000"])
    survivor.lots = [l1, l2]
    merged.lots = [l2, l3]
    survivor.accreditations = [Accreditation(name="CHAS", expires_on=dt.date(2026, 1, 1)),
                               Accreditation(name="TrustMark", expires_on=dt.date(2027, 1, 1))]
    merged.accreditations = [Accreditation(name="chas", expires_on=dt.date(2027, 6, 1)),
                             Accreditation(name="TrustMark", expires_on=None),
                             Accreditation(name="Gas Safe", expires_on=dt.date(2026, 5, 1))]
    survivor.commitments = [Commitment(option_code="SV-APP", quantity_per_million=2.0),
                            Commitment(option_code="SV-SPEND", quantity_per_million=9000.0)]
    merged.commitments = [Commitment(option_code="SV-APP", quantity_per_million=5.0),
                          Commitment(option_code="SV-SPEND", quantity_per_million=100.0),
                          Commitment(option_code="SV-VOL", quantity_per_million=1.0)]
    survivor.contacts = [Contact(name="Sam", email="sam@acme.example")]
    merged.contacts = [Contact(name="Sam", email="sam@acme.example"),
                       Contact(name="Jo", email="jo@acme.example")]
    earlier = make_supplier(name="Acme Roofing (old)", active=False)
    earlier.merged_into_id = merged.id
    member = make_user()
    org_id = member.organisation_id
    assert org_id is not None
    draft = _shortlist(org_id, member, ShortlistStatus.DRAFT, [merged.id])
    both = _shortlist(org_id, member, ShortlistStatus.DRAFT, [survivor.id, merged.id])
    locked = _shortlist(org_id, member, ShortlistStatus.LOCKED, [merged.id],
                        snapshot={"entries": [{"supplier_id": merged.id}]})
    db.session.commit()
    version = current_version()

    result = dedupe.merge_suppliers(survivor, merged, actor=admin, reason="Same firm")
    db.session.commit()

    assert sorted(lot.code for lot in survivor.lots) == ["L1", "L2", "L3"]
    accreditations = {a.name: a.expires_on for a in survivor.accreditations}
    assert accreditations == {"CHAS": dt.date(2027, 6, 1), "TrustMark": None,
                              "Gas Safe": dt.date(2026, 5, 1)}
    assert {c.option_code: c.quantity_per_million for c in survivor.commitments} == {
        "SV-APP": 5.0, "SV-SPEND": 9000.0, "SV-VOL": 1.0}
    assert sorted(c.name for c in survivor.contacts) == ["Jo", "Sam"]
    assert survivor.capabilities == ["roofing", "gutters"]
    assert survivor.cpv_codes == ["45261000", "45262000"]
    assert survivor.company_number == "01234567" and survivor.website == "https://acme.example"

    assert not merged.active and merged.merged_into_id == survivor.id
    assert merged.deactivation_reason.startswith("Merged into Acme Roofing Ltd")
    assert db.session.get(Supplier, earlier.id).merged_into_id == survivor.id
    assert survivor.active

    # Draft without the survivor: re-pointed.
    assert [e.supplier_id for e in draft.entries] == [survivor.id]
    # Draft with both: the survivor's row stays, the merged one's is marked removed.
    by_supplier = {e.supplier_id: e for e in both.entries}
    assert by_supplier[survivor.id].removed_at is None
    assert by_supplier[merged.id].removed_at is not None
    assert "already on this shortlist" in by_supplier[merged.id].reason_removed
    # Locked: untouched, snapshot and all.
    assert [e.supplier_id for e in locked.entries] == [merged.id]
    assert locked.snapshot == {"entries": [{"supplier_id": merged.id}]}
    assert result.repointed_entries == (draft.entries[0].id,)
    assert result.removed_entries == (by_supplier[merged.id].id,)
    assert result.locked_entries_kept == (locked.entries[0].id,)

    [event] = _events("supplier.merged")
    assert event.object_id == str(survivor.id)
    assert event.details["before"]["lots"] == ["FW-1:L1", "FW-1:L2"]
    assert event.details["after"]["lots"] == ["FW-1:L1", "FW-1:L2", "FW-1:L3"]
    assert event.details["merged"]["name"] == "ACME Roofing Limited"
    [merged_event] = _events("supplier.merged_into")
    assert merged_event.object_id == str(merged.id)
    assert merged_event.details["after"]["merged_into_id"] == survivor.id
    trail = [e.action for e in _events("shortlist.supplier_merged")]
    assert trail == ["shortlist.supplier_merged"]
    assert current_version() == version + 1

    with pytest.raises(service.AdminError, match="cannot be reactivated"):
        service.reactivate_supplier(merged, actor=admin, reason="undo")
    with pytest.raises(service.AdminError, match="not active"):
        dedupe.merge_suppliers(survivor, merged, actor=admin)


def test_merge_refuses_the_same_supplier(app_context: Flask, admin: User) -> None:
    supplier = make_supplier()
    with pytest.raises(service.AdminError, match="two different"):
        dedupe.merge_suppliers(supplier, supplier, actor=admin)


# --- lots, catalogue, organisations, sites, users ------------------------------------------


def test_lots(app_context: Flask, admin: User) -> None:
    framework = make_framework(lots=("L1",))
    lot = service.create_lot(framework=framework, code="L9", name="Lifts", description="",
                             actor=admin)
    with pytest.raises(service.AdminError, match="already has a lot l9"):
        service.create_lot(framework=framework, code="l9", name="Again", description="",
                           actor=admin)
    with pytest.raises(service.AdminError, match="lot code"):
        service.create_lot(framework=framework, code="L 9", name="Bad", description="",
                           actor=admin)
    assert service.update_lot(lot, name="Lifts and escalators", description="",
                              actor=admin) == {"name": "Lifts and escalators"}
    [created] = _events("lot.created")
    assert created.details["after"]["code"] == "L9" and created.details["before"] == {}
    [edited] = _events("lot.edited")
    assert edited.details == {"before": {"name": "Lifts"},
                              "after": {"name": "Lifts and escalators"}}


def test_publish_catalogue_makes_a_new_version(app_context: Flask, admin: User) -> None:
    old, _ = load_catalogue(catalogue_data("2026.1"))
    db.session.commit()
    draft = service.catalogue_draft(today=dt.date(2026, 12, 1))
    assert '"version": "2026.2"' in draft
    version = current_version()

    text = draft.replace('"proxy_gbp_per_unit": 260.0', '"proxy_gbp_per_unit": 300.0')
    published = service.publish_catalogue(text, actor=admin)
    db.session.commit()

    assert published.version == "2026.2" and published.is_current
    db.session.refresh(old)
    assert not old.is_current
    assert {o.code: o.proxy_gbp_per_unit for o in old.options}["SV-APP"] == 260.0  # untouched
    assert {o.code: o.proxy_gbp_per_unit for o in published.options}["SV-APP"] == 300.0
    [event] = _events("catalogue.published")
    assert event.details["before"] == {"current_version": "2026.1"}
    assert event.details["after"] == {"current_version": "2026.2"}
    assert event.details["options"] == {"added": [], "removed": [], "changed": ["SV-APP"]}
    assert current_version() > version

    with pytest.raises(service.AdminError, match="already exists"):
        service.publish_catalogue(text, actor=admin)
    with pytest.raises(service.AdminError, match="not valid JSON"):
        service.publish_catalogue("{", actor=admin)
    with pytest.raises(service.AdminError, match="malformed"):
        service.publish_catalogue('{"version": "9", "options": [{"code": "X"}]}', actor=admin)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SocialValueCatalogue)) == 2


@pytest.mark.parametrize(("version", "expected"), [("2026.1", "2026.2"), ("v9", "v10"),
                                                    ("draft", "draft.1")])
def test_next_version(version: str, expected: str) -> None:
    assert service.next_version(version) == expected


def test_organisations_and_sites(app_context: Flask, admin: User) -> None:
    organisation = service.create_organisation(name="Knowsley Homes", kind="housing", actor=admin)
    with pytest.raises(service.AdminError, match="already an organisation"):
        service.create_organisation(name="knowsley homes", kind="council", actor=admin)
    with pytest.raises(service.AdminError, match="type of organisation"):
        service.create_organisation(name="Other", kind="pub", actor=admin)
    assert service.update_organisation(organisation, name="Knowsley Homes", kind="council",
                                       actor=admin) == {"type": "council"}

    location = service.locate("PE3 7EW", get_directory(app_context))
    site = service.add_site(organisation, name="Depot", location=location, actor=admin)
    assert site.postcode == "PE3 7EW" and site.latitude == location.latitude
    with pytest.raises(service.AdminError, match="already has a site"):
        service.add_site(organisation, name="depot", location=location, actor=admin)
    service.remove_site(site, actor=admin)
    assert organisation.sites == []
    actions = [e.action for e in db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id))]
    assert actions == ["organisation.created", "organisation.edited", "site.added",
                       "site.removed"]
    assert _events("site.removed")[0].details["before"]["postcode"] == "PE3 7EW"


def test_users(app_context: Flask, admin: User) -> None:
    organisation = make_organisation()
    user = service.add_user(email="New.User@Member.example", name="New User", role="member",
                            organisation=organisation, password="long enough pass",
                            actor=admin)
    assert user.email == "new.user@member.example" and user.check_password("long enough pass")
    [created] = _events("user.created")
    assert "password" not in str(created.details).lower()
    with pytest.raises(service.AdminError, match="already exists"):
        service.add_user(email="new.user@member.example", name="Again", role="member",
                         organisation=organisation, password="long enough pass", actor=admin)
    with pytest.raises(service.AdminError, match="needs a member organisation"):
        service.add_user(email="x@member.example", name="X", role="member", organisation=None,
                         password="long enough pass", actor=admin)

    assert service.set_user_active(user, False, actor=admin)
    assert not user.active
    assert not service.set_user_active(user, False, actor=admin)
    [event] = _events("user.deactivated")
    assert event.details == {"before": {"active": True}, "after": {"active": False}}
    with pytest.raises(service.AdminError, match="your own account"):
        service.set_user_active(admin, False, actor=admin)


@pytest.mark.parametrize("random_token", [
    None,  # as secrets makes them
    "abcdefghijklmnopqrstuvwxyz01234_",  # ends with the separator's character
    "abc__defghijklmnopqrstuvwxyz0123",  # holds the separator
])
def test_uploads_are_stored_under_random_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, random_token: str | None
) -> None:
    if random_token is not None:
        monkeypatch.setattr(service.secrets, "token_urlsafe", lambda _n: random_token)
    token = service.store_upload(tmp_path, io.BytesIO(b"name\n"), "../../etc/Suppliers.CSV")
    found = service.find_upload(tmp_path, token)
    assert found is not None
    path, filename = found
    assert path.parent == tmp_path and token in path.name and filename == "etc_Suppliers.CSV"
    assert service.find_upload(tmp_path, "../" + token) is None
    assert service.rejects_path(tmp_path, "../x") is None
    with pytest.raises(service.AdminError, match="CSV or an Excel"):
        service.store_upload(tmp_path, io.BytesIO(b""), "suppliers.pdf")
    service.discard_upload(tmp_path, token)
    assert service.find_upload(tmp_path, token) is None


def test_uploads_and_rejects_files_older_than_a_day_are_purged(tmp_path: Path) -> None:
    now = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
    stale = (now - service.UPLOAD_MAX_AGE - dt.timedelta(minutes=1)).timestamp()
    fresh = (now - service.UPLOAD_MAX_AGE + dt.timedelta(minutes=1)).timestamp()
    files = {
        "old__suppliers.csv": stale, "old__x" + service.REJECTS_SUFFIX: stale,
        "oldtoken" + service.REJECTS_SUFFIX: stale,
        "new__suppliers.csv": fresh, "newtoken" + service.REJECTS_SUFFIX: fresh,
        "notes.txt": stale,  # not the service's file: left alone
    }
    for name, mtime in files.items():
        (tmp_path / name).write_text("x")
        os.utime(tmp_path / name, (mtime, mtime))

    assert service.purge_stale_uploads(tmp_path, now=now) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "new__suppliers.csv", "newtoken" + service.REJECTS_SUFFIX, "notes.txt"]
    assert service.purge_stale_uploads(tmp_path / "missing", now=now) == 0


def test_a_file_another_worker_purged_first_is_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
    stale = (now - service.UPLOAD_MAX_AGE - dt.timedelta(hours=1)).timestamp()
    for name in ("a__suppliers.csv", "b__suppliers.csv"):
        (tmp_path / name).write_text("x")
        os.utime(tmp_path / name, (stale, stale))
    real_stat = Path.stat

    def stat_after_the_other_worker(path: Path, **kwargs: Any) -> os.stat_result:
        if path.name == "a__suppliers.csv":
            path.unlink()  # the other worker removes it between the listing and the stat
        return real_stat(path, **kwargs)

    monkeypatch.setattr(Path, "stat", stat_after_the_other_worker)
    assert service.purge_stale_uploads(tmp_path, now=now) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("value", "shown"), [
    (250_000.0, "250000"),
    (12_345_678.0, "12345678"),
    (12.3456789, "12.3456789"),
    (0.1, "0.1"),
    (98_765_432.5, "98765432.5"),
    (1e20, "1e+20"),
])
def test_edit_forms_show_numbers_with_every_digit(value: float, shown: str) -> None:
    assert service.plain_number(value) == shown
    assert float(shown) == value  # saved unchanged, the form stores the same number
