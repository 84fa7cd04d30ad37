"""Keeping the register: suppliers, lots, the catalogue, member organisations, sites, users.

Every operation takes the acting admin, records an audit event whose ``details`` hold
``before`` and ``after`` (only the values that changed; ``{}`` before a creation), flushes
and never commits: the view does. Operations that change data the matching index is built
from (suppliers, their lots, accreditations and commitments, the catalogue) bump the data
version.

Text typed into the supplier form is parsed by :mod:`web.services.supplier_fields`, the
importer's rules (a box of the form accepts what a spreadsheet cell accepts), wrapped here
to raise :class:`AdminError` and to number the lines of the text areas.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from werkzeug.utils import secure_filename

from web.extensions import db
from web.models import (
    Accreditation,
    AuditEvent,
    Commitment,
    Contact,
    Framework,
    Lot,
    MemberOrganisation,
    OrganisationType,
    Role,
    Shortlist,
    Site,
    SocialValueCatalogue,
    SocialValueOption,
    Supplier,
    User,
    supplier_lots,
)
from web.models.base import utcnow
from web.postcodes import Location, PostcodeDirectory, PostcodeError
from web.services import supplier_fields
from web.services.accounts import (
    AccountError,
    check_new_password,
    checked_email,
    create_user,
)
from web.services.audit import record_event
from web.services.catalogue import CatalogueError, current_catalogue, load_catalogue
from web.services.queries import contains
from web.services.supplier_fields import ContactValues, FieldError
from web.services.supplier_files import quote_cell
from web.services.suppliers_import import MAX_NAME_CHARS, ImportReport
from web.services.versions import bump_version

__all__ = [
    "AdminError",
    "SupplierEdit",
    "add_site",
    "add_user",
    "catalogue_draft",
    "catalogue_versions",
    "create_lot",
    "create_organisation",
    "deactivate_supplier",
    "diff_snapshots",
    "publish_catalogue",
    "reactivate_supplier",
    "register_stats",
    "remove_site",
    "set_user_active",
    "supplier_search",
    "supplier_snapshot",
    "update_lot",
    "update_organisation",
    "update_supplier",
]

MAX_REASON_CHARS = 2000
MAX_LOT_CODE_CHARS = 40
MAX_ORG_NAME_CHARS = 200
MAX_SITE_NAME_CHARS = 200
LOT_CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# Edit forms show whole numbers below this without a decimal point (a float holds them
# exactly); other numbers as Python's shortest round-trip text.
WHOLE_NUMBERS_BELOW = 1e15


class AdminError(ValueError):
    """The change is not allowed or its input is invalid; the message says why."""


# ---------------------------------------------------------------------------------------
# Home


def register_stats() -> dict[str, int]:
    """Counts for the admin home page."""
    def count(model: Any, *where: Any) -> int:
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0

    return {
        "active_suppliers": count(Supplier, Supplier.active.is_(True)),
        "inactive_suppliers": count(Supplier, Supplier.active.is_(False)),
        "merged_suppliers": count(Supplier, Supplier.merged_into_id.is_not(None)),
        "lots": count(Lot),
        "organisations": count(MemberOrganisation),
        "sites": count(Site),
        "users": count(User, User.active.is_(True)),
        "catalogue_versions": count(SocialValueCatalogue),
        "audit_events": count(AuditEvent),
    }


# ---------------------------------------------------------------------------------------
# Suppliers: search, snapshots, edit, deactivate


SUPPLIER_STATUSES = ("active", "inactive", "all")


def supplier_search(query: str, *, status: str = "active") -> sa.Select[tuple[Supplier]]:
    """Suppliers whose name contains ``query``, or whose external id, company number or
    postcode (or its start) is ``query``; by name then id, so pages are stable."""
    stmt = sa.select(Supplier)
    if status == "active":
        stmt = stmt.where(Supplier.active.is_(True))
    elif status == "inactive":
        stmt = stmt.where(Supplier.active.is_(False))
    text = query.strip()
    if text:
        conditions = [
            contains(Supplier.name, text),
            sa.func.lower(Supplier.external_id) == text.lower(),
        ]
        company_number, _warning = supplier_fields.parse_company_number(text)
        if company_number:
            conditions.append(Supplier.company_number == company_number)
        compact = re.sub(r"\s+", "", text).upper()
        if 2 <= len(compact) <= 8 and compact.isalnum() and compact[0].isalpha():
            conditions.append(
                sa.func.replace(Supplier.postcode, " ", "").like(f"{compact}%")
            )
        stmt = stmt.where(sa.or_(*conditions))
    return stmt.order_by(Supplier.name, Supplier.id)


def supplier_snapshot(supplier: Supplier) -> dict[str, Any]:
    """The supplier as the audit trail records it: fields and lists in a stable order."""
    return {
        "external_id": supplier.external_id,
        "name": supplier.name,
        "company_number": supplier.company_number,
        "address": supplier.address,
        "postcode": supplier.postcode,
        "latitude": supplier.latitude,
        "longitude": supplier.longitude,
        "la_code": supplier.la_code,
        "description": supplier.description,
        "capabilities": list(supplier.capabilities or []),
        "cpv_codes": list(supplier.cpv_codes or []),
        "sme": supplier.sme,
        "vcse": supplier.vcse,
        "service_radius_km": supplier.service_radius_km,
        "min_contract_value": supplier.min_contract_value,
        "max_contract_value": supplier.max_contract_value,
        "website": supplier.website,
        "email": supplier.email,
        "phone": supplier.phone,
        "active": supplier.active,
        "deactivation_reason": supplier.deactivation_reason,
        "merged_into_id": supplier.merged_into_id,
        "lots": sorted(f"{lot.framework.code}:{lot.code}" for lot in supplier.lots),
        "accreditations": format_accreditations(supplier.accreditations).splitlines(),
        "commitments": format_commitments(supplier.commitments).splitlines(),
        "contacts": format_contacts(supplier.contacts).splitlines(),
    }


def diff_snapshots(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The values that differ, as (before, after) dicts with the same keys."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def format_accreditations(items: Iterable[Accreditation]) -> str:
    """Lines ``NAME:YYYY-MM-DD`` (or ``NAME``), as the edit form shows them."""
    rows = sorted(items, key=lambda a: (a.name.casefold(), a.expires_on or dt.date.min))
    return "\n".join(
        f"{a.name}:{a.expires_on.isoformat()}" if a.expires_on else a.name for a in rows
    )


def format_commitments(items: Iterable[Commitment]) -> str:
    """Lines ``CODE:QUANTITY``, as the edit form shows them."""
    return "\n".join(
        f"{c.option_code}:{plain_number(c.quantity_per_million)}"
        for c in sorted(items, key=lambda c: c.option_code)
    )


def plain_number(value: float) -> str:
    """``value`` with every digit it has, as an edit form shows a stored number:
    ``12345678``, ``12.3456789``. Rounded (``:g`` keeps six digits), a form saved
    unchanged would store the rounded value in place of the true one."""
    if value.is_integer() and abs(value) < WHOLE_NUMBERS_BELOW:
        return str(int(value))
    return repr(float(value))  # the shortest text that reads back as the same float


def contact_values(contact: Contact) -> ContactValues:
    """A stored contact's values, as :func:`parse_contact_lines` gives them."""
    return ContactValues(name=contact.name, role=contact.role or "", email=contact.email,
                         phone=contact.phone)


def format_contacts(items: Iterable[Contact]) -> str:
    """Lines ``NAME | ROLE | EMAIL | PHONE`` in the stored order, as the edit form shows
    them."""
    return "\n".join(supplier_fields.format_contact(contact_values(c)) for c in items)


def _lines(text: str) -> list[tuple[int, str]]:
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _cell(parse: Any, text: str, *args: Any, **kwargs: Any) -> Any:
    try:
        return parse(text, *args, **kwargs)
    except FieldError as error:
        raise AdminError(_sentence(str(error))) from None


def _record_changes(
    action: str, object_type: str, object_id: int, before: Mapping[str, Any],
    after: Mapping[str, Any], *, actor: User, always: bool = False, **extra: Any,
) -> dict[str, Any]:
    """Record ``action`` on the object with the values that changed between the snapshots
    ``before`` and ``after`` (and ``extra`` details), unless nothing changed and not
    ``always``; return the changed values (after)."""
    changed_before, changed_after = diff_snapshots(before, after)
    if changed_after or always:
        record_event(action, actor=actor, organisation_id=actor.organisation_id,
                     object_type=object_type, object_id=object_id,
                     details={"before": changed_before, "after": changed_after, **extra})
    return changed_after


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def parse_number(text: str) -> float | None:
    """A number as the importer reads one ("£1,250,000"); None for blank."""
    return _cell(supplier_fields.parse_number, text or "")


def parse_company_number(text: str) -> str | None:
    """A Companies House number, normalised (leading zeros put back); None for blank."""
    number, warning = supplier_fields.parse_company_number(text or "")
    if warning:
        raise AdminError(_sentence(warning.replace(", so it was not stored", "")))
    return number


def parse_cpv_codes(text: str) -> list[str]:
    """CPV codes separated by spaces, commas, semicolons or lines."""
    return _cell(supplier_fields.parse_cpv_codes, text or "")


def parse_list(text: str) -> list[str]:
    """Keywords, one a line or ``;``-separated; blanks and repeats dropped."""
    return supplier_fields.split_list(";".join((text or "").splitlines()))


def parse_email(text: str) -> str | None:
    """An email address, or None for blank."""
    return _cell(supplier_fields.parse_email, text or "")


def parse_website(text: str) -> str | None:
    """A web address, or None for blank."""
    return _cell(supplier_fields.parse_website, text or "")


def parse_phone(text: str) -> str | None:
    """The supplier's phone number, or None for blank."""
    return _cell(supplier_fields.parse_phone, text or "")


def parse_accreditation_lines(text: str) -> list[tuple[str, dt.date | None]]:
    """One accreditation a line, ``NAME`` or ``NAME:YYYY-MM-DD`` (the importer's rules).

    :raise AdminError: naming the line of a bad date, a missing name or a repeat.
    """
    result: list[tuple[str, dt.date | None]] = []
    seen: dict[str, int] = {}
    for number, line in _lines(text or ""):
        try:
            parsed = supplier_fields.parse_accreditations(line)
        except FieldError as error:
            raise AdminError(f"Line {number}: {error}") from None
        for name, expires in parsed:
            if name.casefold() in seen:
                raise AdminError(f"Line {number}: {name} is already on line "
                                 f"{seen[name.casefold()]}")
            seen[name.casefold()] = number
            result.append((name, expires))
    return result


# Lines as the browser shows them: only line feeds and carriage returns end one (str.splitlines
# would also split at characters parse_contact refuses, and hide them).
_LINE_BREAK_RE = re.compile(r"\r\n|\r|\n")


def parse_contact_lines(text: str) -> list[ContactValues]:
    """One contact a line, ``NAME | ROLE | EMAIL | PHONE``
    (:func:`web.services.supplier_fields.parse_contact`), in the order given; blank lines
    are skipped.

    :raise AdminError: naming the line of the first problem, or of a contact repeated (the
        same name and email, ignoring case).
    """
    result: list[ContactValues] = []
    seen: dict[tuple[str, str], int] = {}
    for number, line in enumerate(_LINE_BREAK_RE.split(text or ""), 1):
        if not line.strip():
            continue
        try:
            contact = supplier_fields.parse_contact(line)
        except FieldError as error:
            raise AdminError(f"Line {number}: {error}") from None
        key = (contact.name.casefold(), (contact.email or "").casefold())
        if key in seen:
            who = quote_cell(contact.name) + (f" ({quote_cell(contact.email)})"
                                              if contact.email else "")
            raise AdminError(f"Line {number}: {who} is already on line {seen[key]}")
        seen[key] = number
        result.append(contact)
    return result


def option_codes() -> dict[str, str]:
    """Upper-cased option code → code as catalogued, over every catalogue version (as the
    importer accepts them)."""
    return {
        code.upper(): code
        for code in db.session.scalars(sa.select(SocialValueOption.code).distinct())
    }


def parse_commitment_lines(
    text: str, codes: Mapping[str, str] | None = None
) -> list[tuple[str, float]]:
    """One commitment a line, ``CODE:QUANTITY`` per £1m (the importer's rules; a code
    alone means 1).

    :raise AdminError: naming the line of an unknown code, a bad quantity or a repeat.
    """
    known = option_codes() if codes is None else codes
    result: dict[str, float] = {}
    seen: dict[str, int] = {}
    for number, line in _lines(text or ""):
        try:
            parsed = supplier_fields.parse_commitments(line, known)
        except FieldError as error:
            raise AdminError(f"Line {number}: {error}") from None
        for code, quantity in parsed:
            if code in seen:
                raise AdminError(f"Line {number}: {code} is already on line {seen[code]}")
            seen[code] = number
            result[code] = quantity
    return sorted(result.items())


def locate(text: str, directory: PostcodeDirectory) -> Location:
    """A full postcode's location.

    :raise AdminError: with the directory's message (format, or not found with
        suggestions), or when only an outcode or sector is given.
    """
    try:
        location = directory.lookup(text)
    except PostcodeError as error:
        raise AdminError(str(error)) from None
    if location.kind != "unit":
        raise AdminError(f"Enter a full postcode, such as {location.postcode} 1AB, "
                         f"not a postcode {location.kind}")
    return location


@dataclass
class SupplierEdit:
    """The values of the supplier form, parsed."""

    name: str
    company_number: str | None
    address: str
    location: Location | None  # a new postcode; None keeps the stored position
    description: str
    capabilities: list[str]
    cpv_codes: list[str]
    sme: bool
    vcse: bool
    service_radius_km: float | None
    min_contract_value: float | None
    max_contract_value: float | None
    website: str | None
    email: str | None
    phone: str | None
    lot_ids: list[int] = field(default_factory=list)
    accreditations: list[tuple[str, dt.date | None]] = field(default_factory=list)
    commitments: list[tuple[str, float]] = field(default_factory=list)
    contacts: list[ContactValues] | None = None  # None leaves the contacts as they are


# Snapshot keys the matching index is not built from (web.services.matching.build_index
# reads no contacts). A change to them alone does not bump the data version: a bump makes
# every worker rebuild its index for nothing, and shows every locked shortlist as "the data
# has changed" (its data hash includes the version), though nothing it ranked on did.
_NOT_INDEXED = frozenset({"contacts"})

_EDIT_SCALARS = (
    "name", "company_number", "address", "description", "capabilities", "cpv_codes", "sme",
    "vcse", "service_radius_km", "min_contract_value", "max_contract_value", "website",
    "email", "phone",
)


def update_supplier(supplier: Supplier, edit: SupplierEdit, *, actor: User) -> dict[str, Any]:
    """Apply the form to ``supplier``; return the changed values' after-state ({} if none).

    Bumps the data version when anything the matching index uses changed.

    :raise AdminError: an empty or too long name, min above max, an unknown lot.
    """
    name = edit.name.strip()
    if not name:
        raise AdminError("Enter the supplier's name")
    if len(name) > MAX_NAME_CHARS:
        raise AdminError(f"The name must be {MAX_NAME_CHARS} characters or fewer")
    low, high = edit.min_contract_value, edit.max_contract_value
    if low is not None and high is not None and low > high:
        raise AdminError(f"The maximum contract value ({high:,.0f}) is less than the "
                         f"minimum ({low:,.0f})")
    lots = list(db.session.scalars(sa.select(Lot).where(Lot.id.in_(edit.lot_ids))))
    if len(lots) != len(set(edit.lot_ids)):
        raise AdminError("Choose lots from the list")

    before = supplier_snapshot(supplier)
    edit.name = name
    for key in _EDIT_SCALARS:
        value = getattr(edit, key)
        if getattr(supplier, key) != value:
            setattr(supplier, key, value)
    if edit.location is not None and edit.location.postcode != supplier.postcode:
        supplier.postcode = edit.location.postcode
        supplier.latitude = edit.location.latitude
        supplier.longitude = edit.location.longitude
        supplier.la_code = edit.location.la_code
    if sorted(lot.id for lot in supplier.lots) != sorted(lot.id for lot in lots):
        supplier.lots = sorted(lots, key=lambda lot: lot.code)
    wanted_accreditations = sorted(edit.accreditations,
                                   key=lambda a: (a[0].casefold(), a[1] or dt.date.min))
    stored_accreditations = sorted(((a.name, a.expires_on) for a in supplier.accreditations),
                                   key=lambda a: (a[0].casefold(), a[1] or dt.date.min))
    if wanted_accreditations != stored_accreditations:
        supplier.accreditations = [Accreditation(name=n, expires_on=d)
                                   for n, d in wanted_accreditations]
    if sorted(edit.commitments) != sorted(
        (c.option_code, c.quantity_per_million) for c in supplier.commitments
    ):
        supplier.commitments = []
        db.session.flush()  # the unique (supplier, option) rows go before new ones come
        supplier.commitments = [Commitment(option_code=code, quantity_per_million=qty)
                                for code, qty in sorted(edit.commitments)]
    # In the order given (the first is shown first); replaced only when changed, so an
    # unchanged form keeps the rows and their ids.
    if edit.contacts is not None and edit.contacts != [
        contact_values(c) for c in supplier.contacts
    ]:
        supplier.contacts = [Contact(name=c.name, role=c.role, email=c.email, phone=c.phone)
                             for c in edit.contacts]
    db.session.flush()
    changed_after = _record_changes("supplier.edited", "supplier", supplier.id, before,
                                    supplier_snapshot(supplier), actor=actor)
    if changed_after.keys() - _NOT_INDEXED:
        bump_version()
    return changed_after


def _reason(text: str, missing: str) -> str:
    reason = (text or "").strip()
    if not reason:
        raise AdminError(missing)
    if len(reason) > MAX_REASON_CHARS:
        raise AdminError(f"Use {MAX_REASON_CHARS:,} characters or fewer")
    return reason


def deactivate_supplier(supplier: Supplier, *, actor: User, reason: str) -> None:
    """Take a supplier off the register (softly: it stays, inactive, with its history).

    :raise AdminError: when it is already inactive or no reason is given.
    """
    reason = _reason(reason, "Enter why you are deactivating this supplier")
    if not supplier.active:
        raise AdminError(f"{supplier.name} is already inactive")
    before = supplier_snapshot(supplier)
    supplier.active = False
    supplier.deactivated_at = utcnow()
    supplier.deactivation_reason = reason
    db.session.flush()
    _record_supplier("supplier.deactivated", supplier, before, actor, reason=reason)
    bump_version()


def reactivate_supplier(supplier: Supplier, *, actor: User, reason: str) -> None:
    """Put a deactivated supplier back on the register.

    :raise AdminError: when it is active, or was merged into another supplier (reactivating
        it would bring the duplicate back).
    """
    reason = _reason(reason, "Enter why you are reactivating this supplier")
    if supplier.active:
        raise AdminError(f"{supplier.name} is already active")
    if supplier.merged_into_id is not None:
        raise AdminError(f"{supplier.name} was merged into another supplier as a duplicate, "
                         "so it cannot be reactivated")
    before = supplier_snapshot(supplier)
    supplier.active = True
    supplier.deactivated_at = None
    supplier.deactivation_reason = None
    db.session.flush()
    _record_supplier("supplier.reactivated", supplier, before, actor, reason=reason)
    bump_version()


def _record_supplier(action: str, supplier: Supplier, before: Mapping[str, Any], actor: User,
                     **extra: Any) -> None:
    _record_changes(action, "supplier", supplier.id, before, supplier_snapshot(supplier),
                    actor=actor, always=True, **extra)


def record_import(
    actor: User, *, filename: str, report: ImportReport, skip_invalid: bool
) -> None:
    """Audit an import from the upload page (the importer itself does not audit)."""
    record_event(
        "suppliers.imported", actor=actor, organisation_id=actor.organisation_id,
        object_type="supplier",
        details={"file": filename, "read": report.read, "imported": report.imported,
                 "updated": report.updated, "unchanged": report.unchanged,
                 "rejected": report.rejected, "skip_invalid": skip_invalid},
    )


# ---------------------------------------------------------------------------------------
# Upload files between the dry run and the import


UPLOAD_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm")
UPLOAD_MAX_AGE = dt.timedelta(hours=24)  # an upload or rejects file older than this is purged
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{20,60}")
_SEPARATOR = "__"
REJECTS_SUFFIX = ".rejects.csv"


def store_upload(folder: Path, stream: IO[bytes], filename: str) -> str:
    """Save an uploaded file under a random name in ``folder``; return its token.

    :raise AdminError: for a file type the importer does not read.
    """
    safe = secure_filename(filename or "") or "upload.csv"
    if Path(safe).suffix.lower() not in UPLOAD_SUFFIXES:
        raise AdminError("The selected file must be a CSV or an Excel (.xlsx) file")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    purge_stale_uploads(folder)
    token = secrets.token_urlsafe(24)
    path = folder / f"{token}{_SEPARATOR}{safe[-100:]}"
    with open(path, "xb") as handle:
        path.chmod(0o600)
        while chunk := stream.read(1024 * 1024):
            handle.write(chunk)
    return token


def find_upload(folder: Path, token: str) -> tuple[Path, str] | None:
    """The stored file of ``token`` and its original (safe) file name, or None."""
    if not _TOKEN_RE.fullmatch(token or ""):
        return None
    for path in folder.glob(f"{token}{_SEPARATOR}*"):
        if not path.name.endswith(REJECTS_SUFFIX):
            # The token is known, and may itself hold the separator (it is base64url).
            return path, path.name[len(token) + len(_SEPARATOR):]
    return None


def rejects_path(folder: Path, token: str) -> Path | None:
    """Where the rejected rows of upload ``token`` are written (None for a bad token)."""
    if not _TOKEN_RE.fullmatch(token or ""):
        return None
    return folder / f"{token}{REJECTS_SUFFIX}"


def discard_upload(folder: Path, token: str) -> None:
    """Delete the stored upload of ``token`` (its rejects file stays, for downloading)."""
    found = find_upload(folder, token)
    if found:
        found[0].unlink(missing_ok=True)


def purge_stale_uploads(folder: Path, *, now: dt.datetime | None = None) -> int:
    """Delete uploads and rejects files older than :data:`UPLOAD_MAX_AGE`; return how many.

    Another worker may be purging the same folder at the same moment: a file it removed
    first is passed over, not an error."""
    cutoff = (now or utcnow()).timestamp() - UPLOAD_MAX_AGE.total_seconds()
    removed = 0
    for path in folder.iterdir() if folder.exists() else ():
        if _SEPARATOR not in path.name and not path.name.endswith(REJECTS_SUFFIX):
            continue
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


# ---------------------------------------------------------------------------------------
# Lots


def frameworks() -> list[Framework]:
    return list(db.session.scalars(sa.select(Framework).order_by(Framework.code)))


def create_lot(
    *, framework: Framework, code: str, name: str, description: str, actor: User
) -> Lot:
    """Add a lot to ``framework``. Its code is what import files use, so it never changes.

    :raise AdminError: a malformed or repeated code, or no name.
    """
    code = code.strip()
    name = name.strip()
    if not LOT_CODE_RE.fullmatch(code) or len(code) > MAX_LOT_CODE_CHARS:
        raise AdminError(f"Enter a lot code of up to {MAX_LOT_CODE_CHARS} letters, digits, "
                         "dots, dashes or underscores, such as L7")
    if not name:
        raise AdminError("Enter the lot's name")
    taken = db.session.scalar(sa.select(Lot.id).where(
        Lot.framework_id == framework.id, sa.func.upper(Lot.code) == code.upper()))
    if taken is not None:
        raise AdminError(f"{framework.code} already has a lot {code}")
    lot = Lot(framework=framework, code=code, name=name, description=description.strip())
    db.session.add(lot)
    db.session.flush()
    record_event("lot.created", actor=actor, organisation_id=actor.organisation_id,
                 object_type="lot", object_id=lot.id,
                 details={"before": {}, "after": _lot_state(lot)})
    return lot


def update_lot(lot: Lot, *, name: str, description: str, actor: User) -> dict[str, Any]:
    """Rename a lot or change its description; return the changed values."""
    name = name.strip()
    if not name:
        raise AdminError("Enter the lot's name")
    before = _lot_state(lot)
    lot.name = name
    lot.description = description.strip()
    db.session.flush()
    return _record_changes("lot.edited", "lot", lot.id, before, _lot_state(lot), actor=actor)


def _lot_state(lot: Lot) -> dict[str, Any]:
    return {"framework": lot.framework.code, "code": lot.code, "name": lot.name,
            "description": lot.description}


def lots_with_counts() -> list[tuple[Lot, int]]:
    """Every lot with its number of active suppliers, by framework then code."""
    counts = sa.select(supplier_lots.c.lot_id, sa.func.count().label("n")).join(
        Supplier, Supplier.id == supplier_lots.c.supplier_id
    ).where(Supplier.active.is_(True)).group_by(supplier_lots.c.lot_id).subquery()
    rows = db.session.execute(
        sa.select(Lot, sa.func.coalesce(counts.c.n, 0)).join(Lot.framework)
        .outerjoin(counts, counts.c.lot_id == Lot.id).order_by(Framework.code, Lot.code)
    )
    return [(lot, n) for lot, n in rows]


# ---------------------------------------------------------------------------------------
# The social-value catalogue


def catalogue_versions() -> list[tuple[SocialValueCatalogue, int]]:
    """Every version, newest first, with the number of shortlists that used it."""
    used = sa.select(Shortlist.catalogue_version, sa.func.count().label("n")).group_by(
        Shortlist.catalogue_version).subquery()
    rows = db.session.execute(
        sa.select(SocialValueCatalogue, sa.func.coalesce(used.c.n, 0))
        .outerjoin(used, used.c.catalogue_version == SocialValueCatalogue.version)
        .order_by(SocialValueCatalogue.published_on.desc(), SocialValueCatalogue.id.desc())
    )
    return [(catalogue, n) for catalogue, n in rows]


def catalogue_data(catalogue: SocialValueCatalogue) -> dict[str, Any]:
    """A version in the catalogue file format :func:`load_catalogue` reads."""
    return {
        "version": catalogue.version,
        "published_on": catalogue.published_on.isoformat(),
        "themes": [{"code": t.code, "name": t.name, "description": t.description}
                   for t in catalogue.themes],
        "options": [
            {"code": o.code, "theme": o.theme_code, "title": o.title,
             "description": o.description, "measure": o.measure, "unit": o.unit,
             "proxy_gbp_per_unit": o.proxy_gbp_per_unit, "source": o.source,
             "source_year": o.source_year, "indicative": o.indicative}
            for o in catalogue.options
        ],
    }


def next_version(version: str) -> str:
    """A suggested next version number: the last number in ``version`` plus one."""
    match = re.search(r"(\d+)(?!.*\d)", version)
    if match is None:
        return f"{version}.1"
    return version[:match.start()] + str(int(match[1]) + 1) + version[match.end():]


def catalogue_draft(today: dt.date | None = None) -> str:
    """JSON text to start a new version from: the current version with the next number."""
    current = current_catalogue()
    if current is None:
        data: dict[str, Any] = {"version": "1", "themes": [], "options": []}
    else:
        data = catalogue_data(current)
        data["version"] = next_version(current.version)
    data["published_on"] = (today or dt.date.today()).isoformat()
    return json.dumps(data, indent=2, ensure_ascii=False)


def publish_catalogue(text: str, *, actor: User) -> SocialValueCatalogue:
    """Publish the JSON ``text`` as a new catalogue version and make it current.

    A version is never edited in place: a version number that exists is refused.

    :raise AdminError: for malformed JSON, a malformed catalogue or an existing version.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise AdminError(f"The catalogue is not valid JSON: {error.msg} on line "
                         f"{error.lineno}, column {error.colno}") from None
    if not isinstance(data, dict):
        raise AdminError("The catalogue must be a JSON object with version, published_on, "
                         "themes and options")
    version = str(data.get("version", "")).strip()
    if not version:
        raise AdminError("Give the new version a version number")
    if db.session.scalar(sa.select(SocialValueCatalogue.id)
                         .where(SocialValueCatalogue.version == version)) is not None:
        raise AdminError(f"Version {version} already exists and published versions are never "
                         "changed: give this one a new version number")
    if not data.get("options"):
        raise AdminError("A catalogue needs at least one option")
    previous = current_catalogue()
    before = catalogue_data(previous) if previous else None
    try:
        catalogue, _created = load_catalogue(data, make_current=True)
    except CatalogueError as error:
        raise AdminError(_sentence(str(error))) from None
    after = catalogue_data(catalogue)
    record_event("catalogue.published", actor=actor, organisation_id=actor.organisation_id,
                 object_type="catalogue", object_id=catalogue.version,
                 details={"before": {"current_version": previous.version if previous else None},
                          "after": {"current_version": catalogue.version},
                          "options": _option_changes(before, after)})
    return catalogue


def _option_changes(before: Mapping[str, Any] | None,
                    after: Mapping[str, Any]) -> dict[str, list[str]]:
    old = {o["code"]: o for o in (before or {}).get("options", [])}
    new = {o["code"]: o for o in after["options"]}
    return {
        "added": sorted(new.keys() - old.keys()),
        "removed": sorted(old.keys() - new.keys()),
        "changed": sorted(c for c in new.keys() & old.keys() if new[c] != old[c]),
    }


# ---------------------------------------------------------------------------------------
# Member organisations and sites


def _organisation_values(name: str, kind: str) -> tuple[str, OrganisationType]:
    name = name.strip()
    if not name:
        raise AdminError("Enter the organisation's name")
    if len(name) > MAX_ORG_NAME_CHARS:
        raise AdminError(f"Use {MAX_ORG_NAME_CHARS} characters or fewer")
    try:
        org_type = OrganisationType(kind)
    except ValueError:
        raise AdminError("Choose the type of organisation") from None
    return name, org_type


def _check_organisation_name(name: str, exclude_id: int | None = None) -> None:
    query = sa.select(MemberOrganisation.id).where(
        sa.func.lower(MemberOrganisation.name) == name.lower())
    if exclude_id is not None:
        query = query.where(MemberOrganisation.id != exclude_id)
    if db.session.scalar(query) is not None:
        raise AdminError(f"There is already an organisation called {name}")


def create_organisation(*, name: str, kind: str, actor: User) -> MemberOrganisation:
    """Add a member organisation."""
    name, org_type = _organisation_values(name, kind)
    _check_organisation_name(name)
    organisation = MemberOrganisation(name=name, type=org_type)
    db.session.add(organisation)
    db.session.flush()
    record_event("organisation.created", actor=actor, organisation_id=actor.organisation_id,
                 object_type="organisation", object_id=organisation.id,
                 details={"before": {}, "after": _organisation_state(organisation)})
    return organisation


def update_organisation(
    organisation: MemberOrganisation, *, name: str, kind: str, actor: User
) -> dict[str, Any]:
    """Rename an organisation or change its type; return the changed values."""
    name, org_type = _organisation_values(name, kind)
    _check_organisation_name(name, exclude_id=organisation.id)
    before = _organisation_state(organisation)
    organisation.name = name
    organisation.type = org_type
    db.session.flush()
    return _record_changes("organisation.edited", "organisation", organisation.id, before,
                           _organisation_state(organisation), actor=actor)


def _organisation_state(organisation: MemberOrganisation) -> dict[str, Any]:
    return {"name": organisation.name, "type": organisation.type.value}


def add_site(
    organisation: MemberOrganisation, *, name: str, location: Location, actor: User
) -> Site:
    """Add a site (searches start from it) at a looked-up postcode."""
    name = name.strip()
    if not name:
        raise AdminError("Enter the site's name")
    if len(name) > MAX_SITE_NAME_CHARS:
        raise AdminError(f"Use {MAX_SITE_NAME_CHARS} characters or fewer")
    if any(s.name.lower() == name.lower() for s in organisation.sites):
        raise AdminError(f"{organisation.name} already has a site called {name}")
    site = Site(name=name, postcode=location.postcode, latitude=location.latitude,
                longitude=location.longitude, la_code=location.la_code)
    organisation.sites.append(site)
    db.session.flush()
    record_event("site.added", actor=actor, organisation_id=actor.organisation_id,
                 object_type="organisation", object_id=organisation.id,
                 details={"before": {}, "after": _site_state(site), "site_id": site.id})
    return site


def remove_site(site: Site, *, actor: User) -> None:
    """Remove a site (saved shortlists keep the location their search used)."""
    organisation = site.organisation
    state = _site_state(site)
    organisation.sites.remove(site)
    db.session.flush()
    record_event("site.removed", actor=actor, organisation_id=actor.organisation_id,
                 object_type="organisation", object_id=organisation.id,
                 details={"before": state, "after": {}, "site_id": site.id})


def _site_state(site: Site) -> dict[str, Any]:
    return {"name": site.name, "postcode": site.postcode, "latitude": site.latitude,
            "longitude": site.longitude, "la_code": site.la_code}


# ---------------------------------------------------------------------------------------
# Users


def user_search(query: str) -> sa.Select[tuple[User]]:
    """Users whose name or email address contains ``query`` (every user when it is
    blank), by name then id, with their organisation."""
    stmt = sa.select(User).options(so.joinedload(User.organisation)).order_by(User.name, User.id)
    text = query.strip()
    if text:
        stmt = stmt.where(sa.or_(contains(User.name, text), contains(User.email, text)))
    return stmt


def add_user(
    *, email: str, name: str, role: str, organisation: MemberOrganisation | None,
    password: str, actor: User,
) -> User:
    """Create a user with :func:`web.services.accounts.create_user` and audit it. The
    admin chose the password, so the user chooses their own when they first sign in.

    :raise AdminError: with the reason the account cannot be created.
    """
    name, kind = _user_name_and_role(name, role)
    try:
        user = create_user(email=email, name=name, role=kind,
                           organisation=organisation if kind == Role.MEMBER else None,
                           password=password)
    except AccountError as error:
        raise AdminError(_sentence(str(error))) from None
    user.must_change_password = True  # the admin chose it: the user chooses their own
    db.session.flush()
    record_event("user.created", actor=actor, organisation_id=actor.organisation_id,
                 object_type="user", object_id=user.id,
                 details={"before": {}, "after": _user_state(user)})
    return user


def update_user(
    user: User, *, email: str, name: str, role: str,
    organisation: MemberOrganisation | None, actor: User,
) -> dict[str, Any]:
    """Change a user's name, email address, role or organisation; flush, audited as
    ``user.edited`` with the changed values; return the changed values (empty: none).

    A framework administrator has no organisation, so making a user one clears theirs.

    :raise AdminError: a missing name, a bad or taken email address, a member without an
        organisation, or an admin taking away their own administrator role.
    """
    name, kind = _user_name_and_role(name, role)
    try:
        email = checked_email(email, user_id=user.id)
    except AccountError as error:
        raise AdminError(_sentence(str(error))) from None
    if kind == Role.MEMBER and organisation is None:
        raise AdminError("A member user needs a member organisation")
    if user.id == actor.id and kind != Role.ADMIN:
        raise AdminError("You cannot take away your own administrator role")
    before = _user_state(user)
    user.name, user.email, user.role = name, email, kind
    user.organisation = organisation if kind == Role.MEMBER else None
    db.session.flush()
    return _record_changes("user.edited", "user", user.id, before, _user_state(user),
                           actor=actor)


def set_user_active(user: User, active: bool, *, actor: User) -> bool:
    """Deactivate (they can no longer sign in) or reactivate a user; False if unchanged.

    :raise AdminError: when an admin tries to deactivate themself.
    """
    if user.id == actor.id and not active:
        raise AdminError("You cannot deactivate your own account")
    if user.active == active:
        return False
    before = _user_state(user)
    user.active = active
    db.session.flush()
    _record_changes("user.reactivated" if active else "user.deactivated", "user", user.id,
                    before, _user_state(user), actor=actor)
    return True


def _user_name_and_role(name: str, role: str) -> tuple[str, Role]:
    """The name (trimmed) and role of a user form; raise AdminError for a missing one."""
    name = name.strip()
    if not name:
        raise AdminError("Enter the user's name")
    try:
        return name, Role(role)
    except ValueError:
        raise AdminError("Choose the user's role") from None


def set_user_password(user: User, password: str, *, actor: User | None) -> None:
    """Give ``user`` a new password chosen by an admin (who passes it on securely), for a
    user who has forgotten theirs; flush, audited as ``user.password_set`` by ``actor``
    (None: the system, the command line) with no password or hash in the event. Every
    session the user had ends, and they choose their own password when they next sign in.

    :raise AdminError: a password :func:`web.services.accounts.check_new_password` refuses.
    """
    try:
        check_new_password(password, email=user.email)
    except AccountError as error:
        raise AdminError(_sentence(str(error))) from None
    user.set_password(password)
    user.must_change_password = True
    db.session.flush()
    record_event("user.password_set", actor=actor,
                 organisation_id=actor.organisation_id if actor else None,
                 object_type="user", object_id=user.id, details={})


def _user_state(user: User) -> dict[str, Any]:
    return {"email": user.email, "name": user.name, "role": user.role.value,
            "organisation_id": user.organisation_id, "active": user.active}


# ---------------------------------------------------------------------------------------
# The audit trail


def audit_query(
    *, action: str = "", object_type: str = "", object_id: str = ""
) -> sa.Select[tuple[AuditEvent]]:
    """Audit events, newest first, filtered by exact action, object type and id."""
    stmt = sa.select(AuditEvent)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if object_type:
        stmt = stmt.where(AuditEvent.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditEvent.object_id == object_id)
    return stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())


def audit_choices() -> tuple[list[str], list[str]]:
    """The actions and object types that occur in the trail, for the filter."""
    actions = db.session.scalars(sa.select(AuditEvent.action).distinct().order_by(
        AuditEvent.action))
    types = db.session.scalars(sa.select(AuditEvent.object_type).distinct().order_by(
        AuditEvent.object_type))
    return list(actions), list(types)


def names_of_users(ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = db.session.execute(sa.select(User.id, User.name).where(User.id.in_(wanted)))
    return {user_id: name for user_id, name in rows}


def organisations() -> Sequence[MemberOrganisation]:
    return db.session.scalars(sa.select(MemberOrganisation).order_by(MemberOrganisation.name)
                              ).all()
