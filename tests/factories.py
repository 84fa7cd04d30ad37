"""Factories for test data: each makes one object with sensible defaults, overridable."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from web.extensions import db
from web.models import (
    Framework,
    Lot,
    MemberOrganisation,
    OrganisationType,
    Role,
    Supplier,
    User,
)

_counter = itertools.count(1)


def catalogue_data(version: str = "2026.1", **overrides: Any) -> dict[str, Any]:
    """A small social-value catalogue in the fixture file format."""
    data: dict[str, Any] = {
        "version": version,
        "published_on": "2026-11-01",
        "themes": [
            {"code": "skills", "name": "Skills and employment"},
            {"code": "local", "name": "Local economy"},
        ],
        "options": [
            {"code": "SV-APP", "theme": "skills", "title": "Apprenticeship weeks",
             "measure": "Weeks of apprenticeship", "unit": "week", "proxy_gbp_per_unit": 260.0,
             "source": "Test source", "source_year": 2024},
            {"code": "SV-SPEND", "theme": "local", "title": "Local SME spend",
             "measure": "Spend with local SMEs", "unit": "£", "proxy_gbp_per_unit": 0.5,
             "source": "Test source", "source_year": 2023},
        ],
    }
    data.update(overrides)
    return data


def make_framework(code: str = "FW-1", lots: tuple[str, ...] = ("L1", "L2")) -> Framework:
    """A framework with lots ``lots``."""
    framework = Framework(code=code, name=f"Framework {code}")
    framework.lots = [Lot(code=c, name=f"Lot {c}") for c in lots]
    db.session.add(framework)
    db.session.flush()
    return framework


def make_organisation(**overrides: Any) -> MemberOrganisation:
    """A member organisation."""
    values: dict[str, Any] = {"name": f"Member {next(_counter)}", "type": OrganisationType.HOUSING}
    values.update(overrides)
    org = MemberOrganisation(**values)
    db.session.add(org)
    db.session.flush()
    return org


def make_user(password: str = "correct horse battery", **overrides: Any) -> User:
    """A member user (with a new organisation unless one is given)."""
    values: dict[str, Any] = {"email": f"user{next(_counter)}@member.example", "name": "A User",
                              "role": Role.MEMBER}
    values.update(overrides)
    if values["role"] == Role.MEMBER and "organisation" not in values:
        values["organisation"] = make_organisation()
    user = User(**values)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def make_supplier(**overrides: Any) -> Supplier:
    """A supplier near Liverpool with a short description."""
    n = next(_counter)
    values: dict[str, Any] = {
        "external_id": f"S{n:05d}", "name": f"Supplier {n} Ltd", "latitude": 53.41,
        "longitude": -2.84, "postcode": "L34 1AB", "la_code": "E08000011",
        "description": "External wall insulation and loft insulation for social housing.",
        "capabilities": ["insulation"], "cpv_codes": ["45321000"],
        "created_at": dt.datetime.now(dt.UTC),
    }
    values.update(overrides)
    supplier = Supplier(**values)
    db.session.add(supplier)
    db.session.flush()
    return supplier
