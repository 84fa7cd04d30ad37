"""Loading the demo data set (``fixtures/demo``): idempotent, so loading twice changes nothing."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from web.extensions import db
from web.models import Framework, Lot, MemberOrganisation, OrganisationType, Role, Site, User
from web.postcodes import PostcodeDirectory, PostcodeError
from web.services.catalogue import CatalogueError, load_catalogue, parse_thesaurus, replace_thesaurus

# Local use only: the README gives it. DEMO_PASSWORD in the environment overrides it.
DEFAULT_DEMO_PASSWORD = "demo-password"


class DemoError(Exception):
    """The demo files are missing or malformed; the message names the file."""


@dataclass
class DemoSummary:
    """What a demo load did, item by item."""

    changes: dict[str, int] = field(default_factory=dict)
    supplier_report: Any = None

    def count(self, what: str, n: int = 1) -> None:
        self.changes[what] = self.changes.get(what, 0) + n

    @property
    def changed(self) -> bool:
        """True if anything was written."""
        return any(self.changes.values())

    def describe(self) -> str:
        """A short human summary."""
        parts = [f"{n} {what}" for what, n in sorted(self.changes.items()) if n]
        lines = ["Added or updated: " + (", ".join(parts) if parts else "nothing (already loaded)")]
        if self.supplier_report is not None:
            r = self.supplier_report
            lines.append(
                f"Suppliers: {r.read} read, {r.imported} imported, {r.updated} updated, "
                f"{r.unchanged} unchanged, {r.rejected} rejected"
            )
        return "\n".join(lines)


def load_demo(
    fixtures: Path,
    *,
    directory: PostcodeDirectory,
    progress: Callable[[int], None] | None = None,
    password: str | None = None,
) -> DemoSummary:
    """Load (or top up) the demo framework, catalogue, thesaurus, suppliers and members.

    Flushes, never commits.

    :raise DemoError: a file is missing or malformed, or a supplier row is rejected.
    """
    from web.services.suppliers_import import import_suppliers

    step = progress or (lambda _n: None)
    summary = DemoSummary()
    password = password or os.environ.get("DEMO_PASSWORD") or DEFAULT_DEMO_PASSWORD

    summary.count("lots", _load_framework(_read_json(fixtures / "framework.json")))
    step(10)
    try:
        _catalogue, created = load_catalogue(_read_json(fixtures / "social_value.json"))
        summary.count("social-value catalogue versions", int(created))
        with open(fixtures / "thesaurus.txt", encoding="utf-8") as handle:
            summary.count("thesaurus versions", int(replace_thesaurus(parse_thesaurus(handle))))
    except (CatalogueError, OSError) as error:
        raise DemoError(str(error)) from None
    step(10)

    suppliers_file = fixtures / "suppliers.csv"
    with open(suppliers_file, "rb") as handle:
        report = import_suppliers(handle, filename=suppliers_file.name, directory=directory)
    if report.rejected:
        first = report.problems[0]
        raise DemoError(
            f"{suppliers_file}: {report.rejected} rows rejected, first at row {first.row}: "
            f"{first.reason}"
        )
    summary.supplier_report = report
    summary.count("suppliers", report.imported + report.updated)
    step(60)

    members = _read_json(fixtures / "members.json")
    _load_members(members, directory=directory, password=password, summary=summary)
    step(20)
    return summary


def _read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as error:
        raise DemoError(f"cannot read {path}: {error}") from None


def _load_framework(data: dict[str, Any]) -> int:
    """Create the framework and any missing lots; return how many rows changed."""
    changed = 0
    framework = db.session.scalar(sa.select(Framework).where(Framework.code == data["code"]))
    if framework is None:
        framework = Framework(code=data["code"], name=data["name"],
                              description=data.get("description", ""))
        db.session.add(framework)
        changed += 1
    existing = {lot.code: lot for lot in framework.lots}
    for raw in data["lots"]:
        lot = existing.get(raw["code"])
        if lot is None:
            framework.lots.append(Lot(code=raw["code"], name=raw["name"],
                                      description=raw.get("description", "")))
            changed += 1
        elif (lot.name, lot.description) != (raw["name"], raw.get("description", "")):
            lot.name, lot.description = raw["name"], raw.get("description", "")
            changed += 1
    db.session.flush()
    return changed


def _load_members(
    data: dict[str, Any], *, directory: PostcodeDirectory, password: str, summary: DemoSummary
) -> None:
    """Create missing organisations, sites and users; existing ones are left as they are."""
    for raw in data["organisations"]:
        org = db.session.scalar(
            sa.select(MemberOrganisation).where(MemberOrganisation.name == raw["name"])
        )
        if org is None:
            org = MemberOrganisation(name=raw["name"], type=OrganisationType(raw["type"]))
            db.session.add(org)
            summary.count("member organisations")
        site_names = {site.name for site in org.sites}
        for raw_site in raw.get("sites", []):
            if raw_site["name"] in site_names:
                continue
            try:
                location = directory.lookup(raw_site["postcode"])
            except PostcodeError as error:
                raise DemoError(f"members.json: site {raw_site['name']!r}: {error}") from None
            org.sites.append(Site(
                name=raw_site["name"], postcode=location.postcode, latitude=location.latitude,
                longitude=location.longitude, la_code=location.la_code,
            ))
            summary.count("sites")
        for raw_user in raw.get("users", []):
            _ensure_user(raw_user, Role.MEMBER, org, password, summary)
    for raw_user in data.get("admins", []):
        _ensure_user(raw_user, Role.ADMIN, None, password, summary)
    db.session.flush()


def _ensure_user(
    raw: dict[str, Any], role: Role, org: MemberOrganisation | None, password: str,
    summary: DemoSummary,
) -> None:
    email = raw["email"].strip().lower()
    if db.session.scalar(sa.select(User.id).where(User.email == email)) is not None:
        return
    user = User(email=email, name=raw["name"], role=role, organisation=org)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    summary.count("users")
