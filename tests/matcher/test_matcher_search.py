"""Ranking, filters and explanations: table-driven, one table per component."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from matcher import (
    ALGORITHM_VERSION,
    Accreditation,
    Commitment,
    DecayCurve,
    SocialValueChoice,
    Weights,
    search,
)

from .conftest import ORIGIN, TODAY, make_index, make_query, make_supplier, north_of

CAPABILITY_ONLY = Weights(capability=1, distance=0, social_value=0)


def ranked_ids(index, query) -> list[str]:
    return [r.external_id for r in search(index, query).results]


# ------------------------------------------------------------------ capability
@pytest.mark.parametrize(
    ("need", "description", "why"),
    [
        ("roofing", "Roof repairs and re-roofing", "stemming"),
        ("insulaton", "Cavity wall insulation", "typo in the need"),
        ("scaffoldng", "Scaffolding hire and erection", "typo, dropped letter"),
        ("EWI", "External wall insulation systems", "abbreviation to phrase"),
        ("external wall insulation", "EWI specialists", "phrase to abbreviation"),
        ("solar PV", "Solar photovoltaic panels", "thesaurus synonym"),
        ("air-source heat pump", "ASHP installers", "punctuation and thesaurus"),
    ],
)
def test_capability_matches(filler, need: str, description: str, why: str) -> None:
    target = make_supplier(description=description, external_id="TARGET")
    index = make_index([*filler, target])
    response = search(index, make_query(need, weights=CAPABILITY_ONLY))
    assert response.results, why
    top = response.results[0]
    assert top.external_id == "TARGET", why
    assert top.components[0].value == pytest.approx(1.0)
    assert top.matched_terms, why


def test_matched_terms_are_surface_forms(filler) -> None:
    target = make_supplier(description="Insulating lofts; loft insulation", external_id="T")
    index = make_index([*filler, target])
    top = search(index, make_query("insulation for lofts")).results[0]
    assert "insulation" in top.matched_terms or "insulating" in top.matched_terms
    assert "lofts" in top.matched_terms or "loft" in top.matched_terms


def test_typo_is_explained(filler) -> None:
    index = make_index([*filler, make_supplier(description="Scaffolding hire")])
    response = search(index, make_query("scaffoldng"))
    assert any("scaffolding" in note for note in response.interpretation)


def test_rarer_term_counts_more(filler) -> None:
    common = [make_supplier(description="roofing contractor") for _ in range(5)]
    rare = make_supplier(description="leadwork contractor", external_id="RARE")
    plain = make_supplier(description="roofing", external_id="PLAIN")
    index = make_index([*filler, *common, rare, plain])
    ids = ranked_ids(index, make_query("roofing leadwork", weights=CAPABILITY_ONLY))
    assert ids[0] == "RARE"


@pytest.mark.parametrize(
    ("supplier_code", "expected"),
    [
        ("45261000", 1.0),  # the need's code
        ("45261100", 1.0),  # below it
        ("45262000", 0.6),  # same class 4526
        ("45210000", 0.4),  # same group 452
        ("45453000", 0.2),  # same division 45
        ("90910000", None),  # nothing in common: not a candidate
    ],
)
def test_cpv_levels_in_search(supplier_code: str, expected: float | None) -> None:
    s = make_supplier(description="", cpv_codes=(supplier_code,), external_id="S")
    index = make_index([s, make_supplier(description="cleaning", cpv_codes=("90911000",))])
    response = search(index, make_query("", cpv_codes=("45261000",), weights=CAPABILITY_ONLY))
    found = {r.external_id: r for r in response.results}
    if expected is None:
        assert "S" not in found
    else:
        assert found["S"].components[0].value == pytest.approx(expected)
        assert "CPV" in found["S"].components[0].reason


def test_text_and_cpv_combine_but_missing_cpv_is_not_a_mismatch(filler) -> None:
    with_code = make_supplier(description="roofing", cpv_codes=("45261000",), external_id="A")
    wrong_code = make_supplier(description="roofing", cpv_codes=("90910000",), external_id="B")
    no_code = make_supplier(description="roofing", external_id="C")
    index = make_index([*filler, with_code, wrong_code, no_code])
    results = search(index, make_query("roofing", cpv_codes=("45261000",),
                                       weights=CAPABILITY_ONLY)).results
    cap = {r.external_id: r.components[0].value for r in results}
    assert cap["A"] == pytest.approx(1.0)
    assert cap["C"] == pytest.approx(1.0)
    assert cap["B"] < cap["A"]


def test_empty_need_with_cpv_works() -> None:
    index = make_index([make_supplier(cpv_codes=("45261000",), external_id="R")])
    response = search(index, make_query("", cpv_codes=("45261000",)))
    assert [r.external_id for r in response.results] == ["R"]


def test_empty_need_ranks_by_other_components() -> None:
    near = make_supplier(external_id="NEAR", description="cleaning")
    far = make_supplier(external_id="FAR", latitude=north_of(80)[0])
    index = make_index([far, near])
    response = search(index, make_query(""))
    assert response.total == 2
    assert [r.external_id for r in response.results] == ["NEAR", "FAR"]
    assert all(r.components[0].value == 0 for r in response.results)
    assert "not scored" in response.results[0].components[0].reason


def test_no_match_is_excluded_and_counted(filler) -> None:
    index = make_index(filler)
    response = search(index, make_query("helicopter"))
    assert response.total == 0
    assert response.excluded["no_capability_match"] == len(filler)


# ------------------------------------------------------------------ distance
@pytest.mark.parametrize(
    ("km", "radius", "inside"),
    [(0.0, 10, True), (9.9, 10, True), (10.1, 10, False), (49.0, 50, True), (51, 50, False),
     (0.0, 0, True)],
)
def test_radius_edges(km: float, radius: float, inside: bool) -> None:
    lat, lon = north_of(km)
    index = make_index([make_supplier(latitude=lat, longitude=lon, external_id="S")])
    response = search(index, make_query(radius_km=radius))
    assert (response.total == 1) is inside
    if not inside:
        assert response.excluded == {"outside_radius": 1}


def test_distance_score_follows_decay() -> None:
    index = make_index([make_supplier(latitude=north_of(km)[0], external_id=f"K{km}")
                        for km in (1, 20, 50, 120)])
    curve = DecayCurve(kind="gauss", scale_km=50, decay=0.5)
    results = search(index, make_query(decay=curve)).results
    scores = {r.external_id: r.components[1].value for r in results}
    assert scores["K1"] > scores["K20"] > scores["K50"] > scores["K120"]
    assert scores["K50"] == pytest.approx(0.5, abs=0.01)
    assert [r.external_id for r in results] == ["K1", "K20", "K50", "K120"]
    assert results[2].distance_km == pytest.approx(50, rel=0.01)


def test_decay_scale_defaults_to_radius() -> None:
    index = make_index([make_supplier(latitude=north_of(19.9)[0])])
    r = search(index, make_query(radius_km=20)).results[0]
    assert r.components[1].value == pytest.approx(0.5, abs=0.01)


def test_local_authorities_select_candidates() -> None:
    a = make_supplier(la_code="E08000012", external_id="LIV", latitude=north_of(300)[0])
    b = make_supplier(la_code="E08000011", external_id="KNO")
    c = make_supplier(external_id="NONE")
    index = make_index([a, b, c])
    response = search(index, make_query(local_authorities=frozenset({"E08000012"})))
    assert [r.external_id for r in response.results] == ["LIV"]
    assert response.excluded == {"outside_local_authorities": 2}


@pytest.mark.parametrize(
    ("service_radius", "km", "strict", "listed", "flagged"),
    [
        (None, 80, False, True, False),
        (100, 80, False, True, False),
        (50, 80, False, True, True),
        (50, 80, True, False, False),
        (100, 80, True, True, False),
    ],
)
def test_service_radius(service_radius, km, strict, listed, flagged) -> None:
    s = make_supplier(service_radius_km=service_radius, latitude=north_of(km)[0])
    index = make_index([s])
    response = search(index, make_query(strict_service_radius=strict))
    assert (response.total == 1) is listed
    if listed:
        flags = response.results[0].flags
        assert any("service radius" in f for f in flags) is flagged
    else:
        assert response.excluded == {"outside_service_radius": 1}


# ------------------------------------------------------------------ hard filters
def acc(name: str, days: int | None) -> Accreditation:
    return Accreditation(name, None if days is None else TODAY + timedelta(days=days))


@pytest.mark.parametrize(
    ("held", "required", "reason"),
    [
        ((acc("CHAS", 30),), ("CHAS",), None),
        ((acc("CHAS", None),), ("chas",), None),  # no expiry; case-insensitive
        ((acc("CHAS", 0),), ("CHAS",), None),  # valid through its expiry day
        ((acc("CHAS", -1),), ("CHAS",), "accreditation_expired"),
        ((), ("CHAS",), "accreditation_missing"),
        ((acc("CHAS", 30), acc("Gas Safe", -5)), ("CHAS", "Gas Safe"), "accreditation_expired"),
        ((acc("ISO 9001", 5),), ("iso9001",), None),
    ],
)
def test_required_accreditations(held, required, reason) -> None:
    index = make_index([make_supplier(accreditations=held)])
    response = search(index, make_query(required_accreditations=required))
    if reason is None:
        assert response.total == 1
    else:
        assert response.total == 0
        assert response.excluded == {reason: 1}


def test_expired_accreditation_flagged_when_not_required() -> None:
    index = make_index([make_supplier(accreditations=(acc("Gas Safe", -10),))])
    flags = search(index, make_query()).results[0].flags
    assert flags == (f"accreditation Gas Safe expired on {TODAY - timedelta(days=10)}",)


@pytest.mark.parametrize(
    ("supplier_lots", "query_lots", "listed"),
    [
        (frozenset(), frozenset({"L1"}), True),  # no lots recorded: not excluded
        (frozenset({"L1"}), frozenset({"L1"}), True),
        (frozenset({"L1", "L2"}), frozenset({"L2", "L9"}), True),
        (frozenset({"L2"}), frozenset({"L1"}), False),
        (frozenset({"L2"}), frozenset(), True),
    ],
)
def test_lots(supplier_lots, query_lots, listed) -> None:
    index = make_index([make_supplier(lots=supplier_lots)])
    response = search(index, make_query(lots=query_lots))
    assert (response.total == 1) is listed


@pytest.mark.parametrize(
    ("band", "value", "listed"),
    [
        ((None, None), 1e6, True),
        ((5e5, None), 1e6, True),
        ((None, 5e5), 1e6, False),
        ((1e6, 1e6), 1e6, True),
        ((2e6, 5e6), 1e6, False),
        ((2e6, 5e6), None, True),
    ],
)
def test_value_band(band, value, listed) -> None:
    s = make_supplier(min_contract_value=band[0], max_contract_value=band[1])
    response = search(make_index([s]), make_query(contract_value=value))
    assert (response.total == 1) is listed
    if not listed:
        assert response.excluded == {"contract_value": 1}


@pytest.mark.parametrize(
    ("sme", "vcse", "sme_only", "vcse_only", "listed"),
    [(True, False, True, False, True), (False, False, True, False, False),
     (False, True, False, True, True), (True, False, False, True, False),
     (False, False, False, False, True)],
)
def test_sme_vcse(sme, vcse, sme_only, vcse_only, listed) -> None:
    index = make_index([make_supplier(sme=sme, vcse=vcse)])
    response = search(index, make_query(sme_only=sme_only, vcse_only=vcse_only))
    assert (response.total == 1) is listed


# ------------------------------------------------------------------ social value
def test_social_value_fit_and_pounds() -> None:
    s = make_supplier(commitments=(Commitment("APPR", 2), Commitment("LOCAL", 5000)))
    index = make_index([s])
    query = make_query(contract_value=3e6, social_value=(
        SocialValueChoice("APPR", 2), SocialValueChoice("VOL", 1), SocialValueChoice("LOCAL", 1)))
    r = search(index, query).results[0]
    sv = r.components[2]
    assert sv.value == pytest.approx(3 / 4)  # APPR (2) + LOCAL (1) of 4
    items = {i.code: i for i in r.social_value_items}
    assert items["APPR"].gbp == pytest.approx(2 * 3 * 260.0)
    assert items["LOCAL"].gbp == pytest.approx(5000 * 3 * 0.5)
    assert items["VOL"].gbp == 0
    assert r.social_value_gbp == pytest.approx(2 * 3 * 260.0 + 5000 * 3 * 0.5)


def test_social_value_option_counted_once() -> None:
    s = make_supplier(commitments=(Commitment("APPR", 2),))
    index = make_index([s])
    query = make_query(contract_value=1e6, social_value=(
        SocialValueChoice("APPR", 1), SocialValueChoice("APPR", 3)))
    r = search(index, query).results[0]
    assert len(r.social_value_items) == 1
    assert r.social_value_gbp == pytest.approx(2 * 260.0)


def test_social_value_weight_drops_out_when_no_option_chosen() -> None:
    r = search(make_index([make_supplier()]), make_query()).results[0]
    assert r.components[2].weight == 0
    assert r.social_value_gbp is None
    assert "drops out" in r.components[2].reason


# ------------------------------------------------------------------ totals and order
@pytest.mark.parametrize(
    "weights",
    [Weights(), Weights(1, 0, 0), Weights(0, 1, 0), Weights(0, 0, 1), Weights(0, 0, 0),
     Weights(3, 1, 1)],
)
def test_breakdown_adds_up(filler, weights: Weights) -> None:
    s = make_supplier(commitments=(Commitment("APPR", 1),), latitude=north_of(30)[0])
    index = make_index([*filler, s])
    query = make_query("roofing repairs", weights=weights, contract_value=1e6,
                       social_value=(SocialValueChoice("APPR"),))
    for r in search(index, query).results:
        assert sum(c.contribution for c in r.components) == pytest.approx(r.score)
        assert 0 <= r.score <= 100
        for c in r.components:
            assert 0 <= c.value <= 1
            assert c.reason


def test_zero_weight_component_is_still_explained() -> None:
    index = make_index([make_supplier()])
    r = search(index, make_query(weights=Weights(1, 0, 0))).results[0]
    assert r.components[1].weight == 0
    assert r.components[1].contribution == 0
    assert "km" in r.components[1].reason


def test_weights_parse_and_validate() -> None:
    assert Weights.parse("capability=0.7, distance=0.3") == Weights(0.7, 0.3, 0.15)
    with pytest.raises(ValueError):
        Weights.parse("speed=1")
    with pytest.raises(ValueError):
        Weights(capability=-1)


def test_ties_broken_by_hash_not_insertion_order() -> None:
    clones = [make_supplier(external_id=f"C{i}") for i in range(12)]
    first = ranked_ids(make_index(clones), make_query())
    shuffled = clones[:]
    random.Random(3).shuffle(shuffled)
    assert ranked_ids(make_index(shuffled), make_query()) == first
    r = search(make_index(clones), make_query()).results[0]
    assert r.tie_break.startswith("blake2b-64(external_id)=")


def test_same_results_whatever_the_insertion_order(filler) -> None:
    suppliers = [*filler] + [
        make_supplier(description=d, latitude=north_of(km)[0], cpv_codes=c)
        for d, km, c in [("roofing", 3, ("45261000",)), ("flat roof repairs", 12, ()),
                         ("roof and gutter cleaning", 40, ("90911000",)),
                         ("slate roofing", 70, ("45261100",))]
    ]
    query = make_query("roof repairs", cpv_codes=("45261000",), radius_km=60)
    baseline = search(make_index(suppliers), query)
    for seed in range(5):
        shuffled = suppliers[:]
        random.Random(seed).shuffle(shuffled)
        again = search(make_index(shuffled), query)
        assert again.results == baseline.results
        assert again.excluded == baseline.excluded


def test_pagination() -> None:
    suppliers = [make_supplier(latitude=north_of(km)[0], external_id=f"K{km:03d}")
                 for km in range(1, 31)]
    index = make_index(suppliers)
    everything = ranked_ids(index, make_query(limit=30))
    page2 = search(index, make_query(limit=10, offset=10))
    assert [r.external_id for r in page2.results] == everything[10:20]
    assert [r.rank for r in page2.results] == list(range(11, 21))
    assert page2.total == 30


def test_response_carries_versions() -> None:
    response = search(make_index([make_supplier()]), make_query())
    assert response.algorithm_version == ALGORITHM_VERSION
    assert response.data_version == "test"


def test_empty_index() -> None:
    response = search(make_index([]), make_query())
    assert response.results == () and response.total == 0


def test_query_validates() -> None:
    with pytest.raises(ValueError):
        make_query(latitude=91)
    with pytest.raises(ValueError):
        make_query(radius_km=-1)
    with pytest.raises(ValueError):
        make_query(limit=-1)


def test_on_date_defaults_to_today() -> None:
    s = make_supplier(accreditations=(Accreditation("CHAS", date.today() - timedelta(1)),))
    index = make_index([s])
    query = make_query(required_accreditations=("CHAS",), on_date=None)
    assert search(index, query).excluded == {"accreditation_expired": 1}


def test_origin_constant_is_liverpool() -> None:
    assert ORIGIN == (53.4075, -2.9919)
