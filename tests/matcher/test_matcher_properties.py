"""Property tests (hypothesis): ranges, monotonicity, determinism."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matcher import Commitment, SocialValueChoice, Weights, search

from .conftest import make_index, make_query, make_supplier, north_of

# trade words far apart in spelling, so typo tolerance never links two of them
WORDS = ["roofing", "scaffolding", "plumbing", "glazing", "asbestos", "drainage", "lifts",
         "cleaning", "joinery", "flooring", "plastering", "demolition"]
CAPABILITY_ONLY = Weights(capability=1, distance=0, social_value=0)
PROFILE = settings(max_examples=60, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow])

descriptions = st.lists(st.sampled_from(WORDS), min_size=0, max_size=8).map(" ".join)
suppliers = st.lists(
    st.tuples(descriptions, st.floats(0, 300), st.booleans()), min_size=1, max_size=12
)
weights = st.builds(Weights, st.floats(0, 5), st.floats(0, 5), st.floats(0, 5))


@PROFILE
@given(rows=suppliers, need=descriptions, w=weights, radius=st.none() | st.floats(1, 400))
def test_scores_in_range_and_breakdown_adds_up(rows, need, w, radius) -> None:
    index = make_index(
        make_supplier(description=d, latitude=north_of(km)[0],
                      commitments=(Commitment("APPR", 1),) if c else ())
        for d, km, c in rows
    )
    query = make_query(need, weights=w, radius_km=radius, limit=50, contract_value=1e6,
                       social_value=(SocialValueChoice("APPR"),))
    response = search(index, query)
    previous = 101.0
    for r in response.results:
        assert 0 <= r.score <= 100 + 1e-9
        assert r.score <= previous + 1e-9
        previous = r.score
        assert abs(sum(c.contribution for c in r.components) - r.score) < 1e-6
        for c in r.components:
            assert 0 <= c.value <= 1 + 1e-9


@PROFILE
@given(others=st.lists(descriptions, min_size=1, max_size=8), mine=descriptions,
       need=st.lists(st.sampled_from(WORDS), min_size=1, max_size=4),
       extra=st.sampled_from(WORDS))
def test_adding_a_matching_keyword_never_lowers_capability(others, mine, need, extra) -> None:
    if extra not in need:
        need = [*need, extra]
    query = make_query(" ".join(need), weights=CAPABILITY_ONLY, limit=100,
                       require_capability=False)

    def capability(keywords: tuple[str, ...]) -> float:
        target = make_supplier(description=mine, keywords=keywords, external_id="TARGET")
        index = make_index([*(make_supplier(description=o) for o in others), target])
        result = next(r for r in search(index, query).results if r.external_id == "TARGET")
        return result.components[0].value

    assert capability((extra,)) >= capability(()) - 1e-6


@PROFILE
@given(near=st.floats(0, 400), further=st.floats(0, 400),
       kind=st.sampled_from(["gauss", "exp", "linear"]))
def test_moving_farther_never_raises_distance_score(near, further, kind) -> None:
    from matcher import DecayCurve

    far = near + further
    curve = DecayCurve(kind=kind, scale_km=40)

    def distance_score(km: float) -> float:
        index = make_index([make_supplier(latitude=north_of(km)[0])])
        return search(index, make_query(decay=curve)).results[0].components[1].value

    assert distance_score(far) <= distance_score(near) + 1e-12


@PROFILE
@given(rows=suppliers, need=descriptions, seed=st.integers(0, 1000))
def test_same_ranking_whatever_the_insertion_order(rows, need, seed) -> None:
    records = [make_supplier(description=d, latitude=north_of(km)[0]) for d, km, _ in rows]
    query = make_query(need, limit=50)
    first = search(make_index(records), query)
    random.Random(seed).shuffle(records)
    again = search(make_index(records), query)
    assert [r.external_id for r in again.results] == [r.external_id for r in first.results]
    assert [r.score for r in again.results] == [r.score for r in first.results]
