"""Text analysis, CPV codes and the distance model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from matcher import DecayCurve, normalise_cpv
from matcher.cpv import cpv_credit
from matcher.distance import (
    bounding_box,
    decay_scores,
    geodesic_km,
    geodesic_km_many,
    haversine_km,
)
from matcher.text import Analyzer


@pytest.mark.parametrize(
    ("text", "stems"),
    [
        ("Insulating INSULATION insulated", ["insul", "insul", "insul"]),
        ("the roof and the walls", ["roof", "wall"]),
        ("Café-style façade", ["cafe", "style", "facad"]),
        ("PAS 2035 ref 123456", ["pas", "2035", "ref"]),
        ("", []),
    ],
)
def test_analyzer_stems(text: str, stems: list[str]) -> None:
    assert Analyzer().stems(text) == stems


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("45421151-3", "45421151"),
        ("45421151", "45421151"),
        ("4532", "45320000"),
        (" 45000000 ", "45000000"),
    ],
)
def test_normalise_cpv(code: str, expected: str) -> None:
    assert normalise_cpv(code) == expected


@pytest.mark.parametrize("code", ["", "4", "abc", "454211512", "45-421"])
def test_normalise_cpv_rejects(code: str) -> None:
    with pytest.raises(ValueError):
        normalise_cpv(code)


@pytest.mark.parametrize(
    ("need", "supplier", "credit", "depth"),
    [
        ("45321000", "45321000", 1.0, 5),  # exact
        ("45320000", "45321000", 1.0, 4),  # supplier more specific: within the need
        ("45000000", "45261000", 1.0, 2),
        ("45321000", "45320000", 0.6, 4),  # same class, supplier broader
        ("45321000", "45324000", 0.6, 4),  # same class
        ("45421151", "45421100", 0.85, 6),  # 454211 shared: below category level
        ("45421151", "45421000", 0.8, 5),  # same category 45421
        ("45321000", "45331000", 0.4, 3),  # same group 453
        ("45321000", "45210000", 0.2, 2),  # same division
        ("45321000", "90910000", 0.0, 0),  # another division
    ],
)
def test_cpv_credit_levels(need: str, supplier: str, credit: float, depth: int) -> None:
    got, got_depth = cpv_credit(need, supplier)
    assert got == pytest.approx(credit)
    if credit < 1:
        assert got_depth == depth


def test_haversine_close_to_geodesic() -> None:
    lat, lon = 53.4075, -2.9919
    points = [(51.5074, -0.1278), (55.9533, -3.1883), (53.41, -2.99), (50.26, -5.05)]
    lats = np.radians([p[0] for p in points])
    lons = np.radians([p[1] for p in points])
    sphere = haversine_km(lat, lon, lats, lons)
    for km, p in zip(sphere, points, strict=True):
        exact = geodesic_km(lat, lon, *p)
        assert km == pytest.approx(exact, rel=0.006, abs=0.01)


def test_geodesic_batch_matches_geopy() -> None:
    lats = np.array([51.5074, 55.9533, 53.4075])
    lons = np.array([-0.1278, -3.1883, -2.9919])
    batch = geodesic_km_many(53.4075, -2.9919, lats, lons)
    for km, la, lo in zip(batch, lats, lons, strict=True):
        assert km == pytest.approx(geodesic_km(53.4075, -2.9919, la, lo), abs=1e-6)


@pytest.mark.parametrize("kind", ["gauss", "exp", "linear"])
@pytest.mark.parametrize(("offset", "scale", "decay"), [(0, 50, 0.5), (5, 20, 0.3), (2, 100, 0.9)])
def test_decay_curve_anchor_points(kind: str, offset: float, scale: float, decay: float) -> None:
    curve = DecayCurve(kind=kind, scale_km=scale, offset_km=offset, decay=decay)
    d = np.array([0.0, offset, offset + scale, offset + 10 * scale])
    s = decay_scores(d, curve, scale)
    assert s[0] == 1.0 and s[1] == 1.0
    assert s[2] == pytest.approx(decay)
    assert s[3] < s[2]
    assert np.all(np.diff(decay_scores(np.linspace(0, 500, 200), curve, scale)) <= 0)


@pytest.mark.parametrize(
    "bad",
    [dict(kind="cubic"), dict(scale_km=0), dict(decay=1.0), dict(decay=0), dict(offset_km=-1)],
)
def test_decay_curve_validates(bad: dict) -> None:
    with pytest.raises(ValueError):
        DecayCurve(**bad)


def test_bounding_box_contains_radius() -> None:
    lat, lon, r = 57.0, -3.0, 40.0
    lo_lat, hi_lat, lo_lon, hi_lon = bounding_box(lat, lon, r)
    for bearing in range(0, 360, 15):
        b = math.radians(bearing)
        # a point r km away on the sphere, via the destination formula
        d = r / 6371.009
        la1, lo1 = math.radians(lat), math.radians(lon)
        la2 = math.asin(math.sin(la1) * math.cos(d) + math.cos(la1) * math.sin(d) * math.cos(b))
        lo2 = lo1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(la1),
                               math.cos(d) - math.sin(la1) * math.sin(la2))
        assert lo_lat <= math.degrees(la2) <= hi_lat
        assert lo_lon <= math.degrees(lo2) <= hi_lon
