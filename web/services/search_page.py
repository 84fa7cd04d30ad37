"""Presentation helpers for the search and results pages: pure functions, no Flask or database.

Highlighting matched terms (HTML-safe), distances in km and miles, the waterfall of a
score, the GOV.UK pagination parameters and a small map of the search as SVG geometry.

The map uses an equirectangular projection centred on the member's site: x grows east by
``Δlon · cos(lat₀)`` and y grows south by ``-Δlat``, both in km (``KM_PER_DEGREE``). Over the
few hundred km a search covers the error is a few per cent, which a sketch can afford; no map
tiles, no external requests.
"""

from __future__ import annotations

import functools
import html
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

__all__ = [
    "COMPONENT_LABELS",
    "EXCLUSION_LABELS",
    "KM_PER_MILE",
    "MapPoint",
    "SiteMap",
    "WaterfallRow",
    "format_amount",
    "format_distance",
    "format_gbp",
    "format_proxy",
    "format_quantity",
    "highlight",
    "km_to_miles",
    "page_count",
    "pagination",
    "site_map",
    "waterfall",
]

KM_PER_MILE = 1.609344  # km, exact (international mile, 1959)
KM_PER_DEGREE = 111.195  # km per degree of latitude on a sphere of radius 6371.009 km

#: How each score component is named on the page.
COMPONENT_LABELS: Mapping[str, str] = {
    "capability": "Capability",
    "distance": "Distance",
    "social_value": "Social value",
    "rotation": "Fair rotation",
}

#: Why the engine left suppliers out (``matcher.EXCLUSION_REASONS``), in words.
EXCLUSION_LABELS: Mapping[str, str] = {
    "no_capability_match": "Nothing in their profile matches the need",
    "outside_local_authorities": "Outside the chosen local authorities",
    "outside_radius": "Outside the distance you chose",
    "outside_service_radius": "You are outside the area they cover",
    "lot": "Not on the chosen lot",
    "contract_value": "Contract value outside the range they take on",
    "accreditation_missing": "Missing a required accreditation",
    "accreditation_expired": "A required accreditation has expired",
    "not_sme": "Not an SME",
    "not_vcse": "Not a VCSE",
}

# Longest text highlighted and most terms used: bounds the regex on hostile input.
MAX_HIGHLIGHT_TERMS = 200
# Patterns kept for reuse, one per set of matched terms: as many as the `re` module's own
# cache, which held these same patterns before.
HIGHLIGHT_PATTERNS_CACHED = 512
_WORD = r"[^\W_]"  # a letter or digit, any script


# ---------------------------------------------------------------------------------------
# Text and numbers


def highlight(text: str, terms: Iterable[str]) -> Markup:
    """``text`` HTML-escaped, with whole-word matches of ``terms`` wrapped in ``<mark>``.

    Matching ignores case; a term of several words matches across any whitespace; the
    longest term wins where terms overlap. The text is always escaped, whatever it holds.
    """
    pattern = _highlight_pattern(tuple(terms)) if text else None
    if pattern is None:
        return escape(text or "")
    # Plain strings, escaped by html.escape, made Markup once at the end: a Markup object
    # per piece cost a sixth of highlighting a results page's 20 descriptions.
    parts: list[str] = []
    last = 0
    for match in pattern.finditer(text):
        parts.append(html.escape(text[last : match.start()]))
        parts.append(f"<mark>{html.escape(match.group(0))}</mark>")
        last = match.end()
    parts.append(html.escape(text[last:]))
    return Markup("".join(parts))


@functools.lru_cache(maxsize=HIGHLIGHT_PATTERNS_CACHED)
def _highlight_pattern(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    """The pattern :func:`highlight` finds ``terms`` with (None for no terms). Cached: the
    results of a page mostly share their matched terms, and building the pattern cost as
    much as running it on a description."""
    words = sorted(
        {t.strip().lower() for t in terms if t and t.strip()}, key=lambda t: (-len(t), t)
    )[:MAX_HIGHLIGHT_TERMS]
    if not words:
        return None
    alternatives = "|".join(r"\s+".join(map(re.escape, w.split())) for w in words)
    return re.compile(rf"(?<!{_WORD})(?:{alternatives})(?!{_WORD})", re.IGNORECASE)


def km_to_miles(km: float) -> float:
    """``km`` in international miles."""
    return km / KM_PER_MILE


def format_distance(km: float) -> str:
    """"12.3 km (7.6 miles)"; "0.4 km (0.2 miles)"; one decimal place, singular "mile"."""
    miles = km_to_miles(km)
    unit = "mile" if round(miles, 1) == 1 else "miles"
    return f"{km:,.1f} km ({miles:,.1f} {unit})"


def format_quantity(amount: float) -> str:
    """A quantity for reading: "1,250", "2.5", "0.25"; at most two decimal places."""
    if float(amount).is_integer():
        return f"{amount:,.0f}"
    return f"{amount:,.2f}".rstrip("0").rstrip(".")


def format_amount(amount: float, unit: str) -> str:
    """A quantity with its unit: "£65,000" for money, "12.5 weeks" otherwise."""
    if unit.strip().upper() in ("GBP", "£"):
        return format_gbp(amount)
    return f"{format_quantity(amount)} {unit}"


def format_proxy(gbp_per_unit: float, unit: str) -> str:
    """A proxy value per unit: "£320.00 per day"; "£1.00 per £1" for money measures."""
    per = "£1" if unit.strip().upper() in ("GBP", "£") else unit
    return f"{format_gbp(gbp_per_unit, pence=True)} per {per}"


def format_gbp(amount: float | None, *, pence: bool = False) -> str:
    """"£1,234" (or "£1,234.50" with ``pence``); "–" for no amount."""
    if amount is None:
        return "–"
    sign = "-" if amount < 0 else ""
    return f"{sign}£{abs(amount):,.2f}" if pence else f"{sign}£{abs(amount):,.0f}"


# ---------------------------------------------------------------------------------------
# The waterfall of a score


@dataclass(frozen=True, slots=True)
class WaterfallRow:
    """One step from 0 to the total: what a component added and where that leaves the score."""

    component: str
    label: str
    value: float  # 0–1
    weight_share: float  # the component's share of the applicable weights, 0–1
    contribution: float  # points of 0–100
    running_total: float
    reason: str


def waterfall(components: Sequence[Any]) -> list[WaterfallRow]:
    """Rows of the waterfall for ``components`` (``matcher.ComponentScore``-like objects).

    The weight is shown as a share of all the weights that applied, so "60%" reads the same
    whether the member typed 0.6 or 60.
    """
    weight_sum = sum(max(c.weight, 0.0) for c in components)
    rows = []
    running = 0.0
    for c in components:
        running += c.contribution
        rows.append(WaterfallRow(
            component=c.component,
            label=COMPONENT_LABELS.get(c.component, c.component.replace("_", " ").capitalize()),
            value=c.value,
            weight_share=c.weight / weight_sum if weight_sum > 0 else 0.0,
            contribution=c.contribution,
            running_total=running,
            reason=c.reason,
        ))
    return rows


# ---------------------------------------------------------------------------------------
# Pagination


def page_count(total: int, per_page: int) -> int:
    """Number of pages for ``total`` items (at least 1, so page 1 always exists)."""
    return max(1, math.ceil(total / per_page)) if per_page > 0 else 1


def pagination(
    page: int, pages: int, url_for_page: Callable[[int], str], *, around: int = 1
) -> dict[str, Any] | None:
    """Parameters of the ``govukPagination`` macro, or None when there is one page.

    Shows the first and last pages, ``around`` pages either side of the current one, and
    ellipses for the gaps, as the GOV.UK Design System's pagination pattern does.
    """
    if pages <= 1:
        return None
    shown = sorted({1, pages, *range(max(1, page - around), min(pages, page + around) + 1)})
    items: list[dict[str, Any]] = []
    previous = 0
    for number in shown:
        if number - previous > 1:
            items.append({"ellipsis": True})
        items.append({"number": number, "href": url_for_page(number), "current": number == page})
        previous = number
    params: dict[str, Any] = {"items": items, "landmarkLabel": "Results pages"}
    if page > 1:
        params["previous"] = {"href": url_for_page(page - 1)}
    if page < pages:
        params["next"] = {"href": url_for_page(page + 1)}
    return params


# ---------------------------------------------------------------------------------------
# The map


@dataclass(frozen=True, slots=True)
class MapPoint:
    """A supplier on the map: position in the map's km coordinates and its label."""

    x: float
    y: float
    label: str
    rank: int


@dataclass(frozen=True, slots=True)
class SiteMap:
    """Geometry of the search picture, in km around the site at (0, 0) (y grows south)."""

    half_width: float  # km from the centre to each edge of the square view
    radius_km: float | None
    points: tuple[MapPoint, ...]
    scale_bar_km: float

    @property
    def view_box(self) -> str:
        """The SVG ``viewBox`` attribute."""
        h = self.half_width
        return f"{-h:g} {-h:g} {2 * h:g} {2 * h:g}"

    @property
    def stroke(self) -> float:
        """A line width that looks the same whatever the map's scale (km units)."""
        return round(self.half_width / 150, 3)

    @property
    def dot(self) -> float:
        """Radius of a supplier's dot, in the map's km units."""
        return round(self.half_width / 45, 3)

    @property
    def font_size(self) -> float:
        """Label size, in the map's km units."""
        return round(self.half_width / 12, 3)


#: Scale bar lengths to choose from, km.
_SCALE_STEPS = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000)


def project(lat: float, lon: float, centre_lat: float, centre_lon: float) -> tuple[float, float]:
    """Equirectangular position of (lat, lon) in km east and south of the centre."""
    x = (lon - centre_lon) * math.cos(math.radians(centre_lat)) * KM_PER_DEGREE
    y = -(lat - centre_lat) * KM_PER_DEGREE
    return x, y


def site_map(
    centre: tuple[float, float],
    suppliers: Iterable[tuple[float, float, str, int]],
    *,
    radius_km: float | None = None,
    margin: float = 1.1,
    min_half_width_km: float = 5.0,
) -> SiteMap:
    """The picture of a search: the site at the centre, the radius circle and the suppliers.

    ``suppliers`` gives (latitude, longitude, label, rank). The view is square and wide
    enough for the circle and every supplier, plus ``margin``.
    """
    lat0, lon0 = centre
    points = tuple(
        MapPoint(round(x, 3), round(y, 3), label, rank)
        for lat, lon, label, rank in suppliers
        for x, y in [project(lat, lon, lat0, lon0)]
    )
    reach = max([radius_km or 0.0, *(max(abs(p.x), abs(p.y)) for p in points)])
    half_width = max(reach * margin, min_half_width_km)
    scale = max((s for s in _SCALE_STEPS if s <= half_width / 2), default=_SCALE_STEPS[0])
    return SiteMap(round(half_width, 3), radius_km, points, float(scale))
