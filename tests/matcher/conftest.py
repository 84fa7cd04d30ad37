"""Factories for the matching engine's tests: each builds one object with sensible defaults,
overridable by keyword."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import date
from typing import Any

import pytest

from matcher import (
    Index,
    Query,
    SocialValueOption,
    SupplierRecord,
    Thesaurus,
)

#: Liverpool town hall, the default buyer location.
ORIGIN = (53.4075, -2.9919)
#: A fixed "today" for expiry checks.
TODAY = date(2026, 6, 1)
#: One degree of latitude in km (sphere of matcher.distance.EARTH_RADIUS_KM).
KM_PER_DEG_LAT = 111.195

_ids = itertools.count(1)

THESAURUS = Thesaurus.from_groups([
    ("external wall insulation", "ewi"),
    ("solar photovoltaic", "solar pv", "pv"),
    ("air source heat pump", "ashp"),
])

OPTIONS = (
    SocialValueOption("APPR", "skills", "Apprenticeship weeks", "week", 260.0),
    SocialValueOption("LOCAL", "local", "Spend with local SMEs", "£", 0.5),
    SocialValueOption("VOL", "community", "Volunteering hours", "hour", 16.0),
)


def north_of(km: float, origin: tuple[float, float] = ORIGIN) -> tuple[float, float]:
    """A point ``km`` due north of ``origin`` (great-circle)."""
    return origin[0] + km / KM_PER_DEG_LAT, origin[1]


def make_supplier(**overrides: Any) -> SupplierRecord:
    """A roofing SME 5 km north of the origin, unless overridden."""
    n = next(_ids)
    lat, lon = north_of(5.0)
    fields: dict[str, Any] = {
        "id": n,
        "external_id": f"EXT{n:05d}",
        "name": f"Supplier {n}",
        "description": "Pitched and flat roofing repairs, slate and tile roofs",
        "latitude": lat,
        "longitude": lon,
    }
    fields.update(overrides)
    return SupplierRecord(**fields)


def make_index(suppliers: Iterable[SupplierRecord], **overrides: Any) -> Index:
    """An index over ``suppliers`` with the test thesaurus and social-value options."""
    fields: dict[str, Any] = {
        "thesaurus": THESAURUS,
        "social_value_options": OPTIONS,
        "data_version": "test",
    }
    fields.update(overrides)
    return Index.build(list(suppliers), **fields)


def make_query(need: str = "roofing", **overrides: Any) -> Query:
    """A query at the origin, dated ``TODAY``."""
    fields: dict[str, Any] = {"on_date": TODAY}
    fields.update(overrides)
    lat = fields.pop("latitude", ORIGIN[0])
    lon = fields.pop("longitude", ORIGIN[1])
    return Query(need, lat, lon, **fields)


@pytest.fixture
def filler() -> list[SupplierRecord]:
    """Background suppliers in other trades, so that rarity weighting has a collection."""
    trades = [
        "Office cleaning and janitorial services",
        "Grounds maintenance, grass cutting and tree surgery",
        "Electrical rewires, testing and inspection",
        "Gas servicing and boiler replacement",
        "Kitchen and bathroom refurbishment",
        "Painting and decorating, cyclical redecoration",
    ]
    return [make_supplier(description=t, name=f"Filler {i}") for i, t in enumerate(trades)]
