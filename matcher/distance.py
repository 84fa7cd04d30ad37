"""Distances and the distance score.

Model: great-circle (haversine) distances on a sphere of radius ``EARTH_RADIUS_KM`` for
filtering and scoring every candidate at once in numpy, and geodesic distances on the WGS-84
ellipsoid (Karney's algorithm: pyproj's C implementation for a page of results at once,
geopy for a single pair) for the results shown. Over Great Britain the sphere is
within about 0.5% of the ellipsoid: the radius filter and the score use the spherical
figure (deciding on geodesics per supplier near the edge would cost more than the whole
search), so a supplier shown at 50.2 km can be inside a 50 km radius; the shown distance is
the accurate one. The bounding box prefilter adds ``RADIUS_SLACK`` so it never drops a
supplier the haversine test would keep.

The score falls with distance like Elasticsearch's decay functions (``DecayCurve``): 1 up to
``offset``, ``decay`` at ``offset + scale``; ``gauss`` by default.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from geopy.distance import geodesic
from pyproj import Geod

from .models import DEFAULT_SCALE_KM, DecayCurve

__all__ = [
    "EARTH_RADIUS_KM",
    "RADIUS_SLACK",
    "bounding_box",
    "decay_scores",
    "geodesic_km",
    "geodesic_km_many",
    "great_circle_km",
    "unit_vectors",
    "haversine_km",
]

#: Mean Earth radius (IUGG), km; haversine on this sphere is within ~0.5% of WGS-84 geodesics.
EARTH_RADIUS_KM = 6371.009
#: Relative margin on the bounding box (float rounding and the box's own approximations).
RADIUS_SLACK = 0.006
#: Kilometres per degree of latitude on the sphere above.
KM_PER_DEGREE_LAT = math.pi * EARTH_RADIUS_KM / 180.0

FloatArray = npt.NDArray[np.float64]


def haversine_km(
    lat: float, lon: float, lats_rad: FloatArray, lons_rad: FloatArray
) -> FloatArray:
    """Great-circle km from (``lat``, ``lon``) in degrees to arrays of points in radians."""
    lat0, lon0 = math.radians(lat), math.radians(lon)
    a = np.sin((lats_rad - lat0) * 0.5) ** 2 + math.cos(lat0) * np.cos(lats_rad) * (
        np.sin((lons_rad - lon0) * 0.5) ** 2
    )
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


def unit_vectors(lats_deg: FloatArray, lons_deg: FloatArray) -> npt.NDArray[np.float32]:
    """(3, N) float32 unit vectors of points on the sphere, for ``great_circle_km``.

    float32 is enough: a component error of 6e-8 is under a metre on the ground.
    """
    lat = np.radians(np.asarray(lats_deg, dtype=np.float64))
    lon = np.radians(np.asarray(lons_deg, dtype=np.float64))
    cos_lat = np.cos(lat)
    return np.stack([cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)]).astype(
        np.float32
    )


def great_circle_km(
    lat: float, lon: float, xyz: npt.NDArray[np.float32], rows: npt.NDArray[np.int32]
) -> FloatArray:
    """Great-circle km from (``lat``, ``lon``) to the points ``xyz[:, rows]``.

    The same sphere as ``haversine_km`` (within a metre), from precomputed unit vectors: the
    chord needs only arithmetic, so the one transcendental left per point is the arcsine,
    in float32 — what makes scoring a few hundred thousand candidates cheap.
    """
    la, lo = math.radians(lat), math.radians(lon)
    origin = (math.cos(la) * math.cos(lo), math.cos(la) * math.sin(lo), math.sin(la))
    chord_sq = np.zeros(len(rows), dtype=np.float32)
    for axis in range(3):
        diff = xyz[axis][rows] - np.float32(origin[axis])
        chord_sq += diff * diff
    half_chord = np.minimum(np.sqrt(chord_sq) * np.float32(0.5), np.float32(1.0))
    return (2.0 * EARTH_RADIUS_KM) * np.arcsin(half_chord).astype(np.float64)


def bounding_box(lat: float, lon: float, radius_km: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lon, max_lon) in degrees enclosing the radius (with slack)."""
    reach = radius_km * (1 + RADIUS_SLACK)
    dlat = reach / KM_PER_DEGREE_LAT
    max_abs_lat = min(89.9, abs(lat) + dlat)
    dlon = reach / (KM_PER_DEGREE_LAT * math.cos(math.radians(max_abs_lat)))
    if dlon >= 180:
        return lat - dlat, lat + dlat, -180.0, 180.0
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


def resolve_scale_km(curve: DecayCurve, radius_km: float | None) -> float:
    """The scale the curve uses: its own, else the query radius, else ``DEFAULT_SCALE_KM``."""
    if curve.scale_km is not None:
        return curve.scale_km
    if radius_km:
        return radius_km
    return DEFAULT_SCALE_KM


def decay_scores(distance_km: FloatArray, curve: DecayCurve, scale_km: float) -> FloatArray:
    """Distance score in [0, 1] for each distance, per ``curve`` (see the module docstring)."""
    beyond = np.maximum(np.asarray(distance_km, dtype=np.float64) - curve.offset_km, 0.0)
    if curve.kind == "gauss":
        # sigma^2 chosen so that score(offset + scale) == decay
        two_sigma_sq = -(scale_km**2) / math.log(curve.decay)
        return np.exp(-(beyond**2) / two_sigma_sq)
    if curve.kind == "exp":
        return np.exp(math.log(curve.decay) / scale_km * beyond)
    zero_at = scale_km / (1.0 - curve.decay)
    return np.maximum(0.0, (zero_at - beyond) / zero_at)


#: Karney's geodesic algorithm in C (PROJ's copy of GeographicLib), vectorised: the same
#: figures as geopy's pure-Python geographiclib to well under a millimetre, ~100x faster,
#: which matters at 20 results per query.
_WGS84 = Geod(ellps="WGS84")


def geodesic_km_many(
    lat: float, lon: float, lats: FloatArray, lons: FloatArray
) -> FloatArray:
    """WGS-84 geodesic km from (``lat``, ``lon``) to arrays of points in degrees."""
    lats = np.asarray(lats, dtype=np.float64)
    lons = np.asarray(lons, dtype=np.float64)
    if not len(lats):
        return np.zeros(0)
    _, _, metres = _WGS84.inv(np.full_like(lons, lon), np.full_like(lats, lat), lons, lats)
    return np.asarray(metres, dtype=np.float64) / 1000.0


#: One geopy calculator reused: geopy caches its geographiclib solver on the instance, and
#: building that solver costs more than the distance itself.
_GEODESIC = geodesic(ellipsoid="WGS-84")


def geodesic_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """WGS-84 geodesic km between two points (geopy, Karney); used only for results shown."""
    return float(_GEODESIC.measure((lat1, lon1), (lat2, lon2)))
