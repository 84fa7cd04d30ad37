"""Duplicate suggestions: name normalisation, pair scores, blocking, "not a duplicate"."""

from __future__ import annotations

import itertools

import pytest

from tests.factories import make_supplier, make_user
from web.extensions import db
from web.models import Role, Supplier
from web.services import dedupe


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Acme Roofing Ltd", "acme roofing"),
        ("ACME Roofing Limited", "acme roofing"),
        ("The Acme Roofing Co. Ltd", "acme roofing"),
        ("Acme & Co (Roofing) Limited", "acme roofing"),
        ("Acme Roofing PLC", "acme roofing"),
        ("Acme Roofing L.L.P.", "acme roofing"),
        ("T.S.G. Building Services PLC", "tsg building services"),
        ("Acme Roofing CIC", "acme roofing"),
        ("O'Brien's Joinery", "obriens joinery"),
        ("The Company Ltd", "the company ltd"),  # never reduced to nothing
        ("Smith and Sons Ltd", "smith sons"),
    ],
)
def test_normalise_name(name: str, expected: str) -> None:
    assert dedupe.normalise_name(name) == expected


def _supplier(id_: int, name: str, company_number: str | None = None,
              postcode: str | None = "PE3 7EW", latitude: float = 52.5826,
              longitude: float = -0.2703) -> Supplier:
    return Supplier(id=id_, external_id=f"X{id_}", name=name, company_number=company_number,
                    postcode=postcode, latitude=latitude, longitude=longitude)


# (first, second, lowest expected score, highest expected score)
PAIRS = [
    # Same name after suffixes, same postcode: a strong suggestion.
    (("Acme Roofing Ltd",), ("ACME Roofing Limited",), 75, 75),
    # The same, with the same company number: certain.
    (("Acme Roofing Ltd", "01234567"), ("ACME Roofing Limited", "01234567"), 100, 100),
    # Different company numbers: two companies however alike the names.
    (("Acme Roofing Ltd", "01234567"), ("ACME Roofing Limited", "07654321"), 40, 50),
    # Same company number and different names still reach the threshold.
    (("Acme Roofing Ltd", "01234567"), ("Acme Building Services", "01234567"), 60, 100),
    # A small typo at the same postcode.
    (("Mott MacDonald Ltd",), ("Mott McDonald Limited",), 70, 80),
    # Unrelated names at the same postcode: below the threshold.
    (("Acme Roofing Ltd",), ("Zenith Cleaning Services",), 0, 40),
]


@pytest.mark.parametrize(("first", "second", "low", "high"), PAIRS)
def test_pair_scores(first: tuple[str, ...], second: tuple[str, ...], low: float,
                     high: float) -> None:
    pair = dedupe.compare_suppliers(_supplier(1, *first), _supplier(2, *second))
    assert low <= pair.score <= high
    assert pair.score == pytest.approx(
        max(0, min(100, sum(c.points for c in pair.components))), abs=0.1
    )


def test_scores_order_the_evidence() -> None:
    same_number = dedupe.compare_suppliers(
        _supplier(1, "Acme Roofing Ltd", "01234567"), _supplier(2, "ACME Roofing Limited",
                                                                "01234567"))
    no_number = dedupe.compare_suppliers(_supplier(1, "Acme Roofing Ltd"),
                                         _supplier(2, "ACME Roofing Limited"))
    different = dedupe.compare_suppliers(
        _supplier(1, "Acme Roofing Ltd", "01234567"), _supplier(2, "ACME Roofing Limited",
                                                                "07654321"))
    assert same_number.score > no_number.score >= dedupe.SUGGEST_THRESHOLD > different.score
    assert "same company number 01234567" in same_number.reasons
    assert "different company numbers" in [c.reason for c in different.components]


@pytest.mark.parametrize(
    ("second_postcode", "latitude", "longitude", "reason"),
    [
        ("PE3 7EW", 52.5826, -0.2703, "same postcode PE3 7EW"),
        ("PE3 7AB", 52.5830, -0.2710, "same postcode sector PE3 7"),
        ("PE4 6AA", 52.6000, -0.2700, "1.9 km apart"),
    ],
)
def test_location_evidence(second_postcode: str, latitude: float, longitude: float,
                           reason: str) -> None:
    pair = dedupe.compare_suppliers(
        _supplier(1, "Acme Roofing Ltd"),
        _supplier(2, "Acme Roofing Ltd", postcode=second_postcode, latitude=latitude,
                  longitude=longitude),
    )
    assert reason in pair.reasons


def test_far_apart_costs_points() -> None:
    near = dedupe.compare_suppliers(_supplier(1, "Premier Roofing"),
                                    _supplier(2, "Premier Roofing"))
    far = dedupe.compare_suppliers(
        _supplier(1, "Premier Roofing"),
        _supplier(2, "Premier Roofing", postcode="L34 1AB", latitude=53.41, longitude=-2.84),
    )
    assert far.score < dedupe.SUGGEST_THRESHOLD <= near.score


def test_suggestions_from_the_register(app_context) -> None:  # type: ignore[no-untyped-def]
    acme = make_supplier(name="Acme Roofing Ltd", postcode="PE3 7EW")
    twin = make_supplier(name="ACME Roofing Limited", postcode="PE3 7EW")
    make_supplier(name="Zenith Cleaning Services", postcode="PE3 7EW")
    make_supplier(name="Bright Sparks Electrical", company_number="01111111")
    same_company = make_supplier(name="Bright Sparks (Electrical) Ltd", company_number="01111111",
                                 postcode="M1 1AE", latitude=53.48, longitude=-2.24)
    make_supplier(name="Acme Roofing Ltd", postcode="PE3 7EW", active=False)

    found = dedupe.suggest_duplicates()

    pairs = {(p.first_id, p.second_id): p for p in found.pairs}
    assert (acme.id, twin.id) in pairs
    assert any(same_company.id in key for key in pairs)
    assert len(found.pairs) == 2  # the inactive copy and the unrelated name are not suggested
    assert [p.score for p in found.pairs] == sorted((p.score for p in found.pairs), reverse=True)
    assert found.suppliers == 5


def test_not_a_duplicate_is_remembered(app_context) -> None:  # type: ignore[no-untyped-def]
    admin = make_user(role=Role.ADMIN)
    acme = make_supplier(name="Acme Roofing Ltd", postcode="PE3 7EW")
    twin = make_supplier(name="ACME Roofing Limited", postcode="PE3 7EW")
    assert len(dedupe.suggest_duplicates().pairs) == 1

    decision = dedupe.mark_not_duplicate(twin, acme, actor=admin, reason="Different firms")
    db.session.commit()

    assert decision is not None and decision.supplier_id == min(acme.id, twin.id)
    assert dedupe.is_ruled_out(acme.id, twin.id) and dedupe.is_ruled_out(twin.id, acme.id)
    assert dedupe.suggest_duplicates().pairs == ()
    assert dedupe.mark_not_duplicate(acme, twin, actor=admin) is None  # already known


def test_blocking_finds_what_comparing_every_pair_finds(app_context) -> None:  # type: ignore[no-untyped-def]
    names = [
        "Acme Roofing Ltd", "ACME Roofing Limited", "Acme Roofing Services", "Acme Plumbing",
        "Northern Roofing Ltd", "Northern Roofing Limited", "Nothern Roofing Ltd",
        "Roofing Solutions Ltd", "Roofing Solutions (UK) Ltd", "Solutions Roofing",
        "Bright Sparks Electrical", "Brite Sparks Electrical", "Green Gardens CIC",
        "The Green Gardens Company", "Greenway Gardens",
    ]
    suppliers = [make_supplier(name=name, postcode="PE3 7EW") for name in names]
    records = {s.id: dedupe._record(s) for s in suppliers}

    found = {(p.first_id, p.second_id) for p in dedupe.suggest_duplicates().pairs}

    every_pair = {
        (a, b) for a, b in itertools.combinations(sorted(records), 2)
        if dedupe._score(records[a], records[b]).score >= dedupe.SUGGEST_THRESHOLD
    }
    assert found == every_pair
    assert found  # the table has duplicates to find
