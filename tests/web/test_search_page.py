"""Presentation helpers of the search pages: pure functions, table-driven."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from markupsafe import Markup

from web.services.search_page import (
    format_amount,
    format_distance,
    format_gbp,
    format_proxy,
    format_quantity,
    highlight,
    km_to_miles,
    page_count,
    pagination,
    project,
    site_map,
    waterfall,
)


@pytest.mark.parametrize(
    ("text", "terms", "expected"),
    [
        ("External wall insulation", ["insulation"], "External wall <mark>insulation</mark>"),
        ("INSULATION and Insulation", ["insulation"],
         "<mark>INSULATION</mark> and <mark>Insulation</mark>"),
        # whole words only
        ("insulated insulation", ["insulation"], "insulated <mark>insulation</mark>"),
        ("reroofing roof", ["roof"], "reroofing <mark>roof</mark>"),
        # phrases across any whitespace; the longest term wins
        ("external  wall\ninsulation", ["external wall insulation", "wall"],
         "<mark>external  wall\ninsulation</mark>"),
        ("no match here", ["roof"], "no match here"),
        ("", ["roof"], ""),
        ("roof", [], "roof"),
        ("roof", ["", "  "], "roof"),
        # regex metacharacters in terms are literal
        ("a (b) c", ["(b)"], "a <mark>(b)</mark> c"),
        ("c++ and c", ["c++"], "<mark>c++</mark> and c"),
        ("a.c abc", ["a.c"], "<mark>a.c</mark> abc"),
        ("pas 2035", ["2035"], "pas <mark>2035</mark>"),
    ],
)
def test_highlight(text: str, terms: list[str], expected: str) -> None:
    assert highlight(text, terms) == Markup(expected)


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("<script>alert(1)</script> insulation", ["insulation"]),
        ("<script>alert(1)</script> insulation", ["script", "alert"]),
        ('"><img src=x onerror=alert(1)> roof', ["img", "roof", "onerror"]),
        ("<b>bold</b>", []),
    ],
)
def test_highlight_always_escapes(text: str, terms: list[str]) -> None:
    html = str(highlight(text, terms))
    assert "<script>" not in html and "<img" not in html and "<b>" not in html
    assert html.replace("<mark>", "").replace("</mark>", "").count("<") == 0
    assert "&lt;" in html


def test_highlight_term_inside_markup_is_marked_as_text() -> None:
    html = str(highlight("<script>alert(1)</script>", ["script"]))
    assert html == "&lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt;"


@pytest.mark.parametrize(
    ("km", "miles"),
    [(0.0, 0.0), (1.609344, 1.0), (10.0, 6.2137), (100.0, 62.1371)],
)
def test_km_to_miles(km: float, miles: float) -> None:
    assert km_to_miles(km) == pytest.approx(miles, abs=1e-4)


@pytest.mark.parametrize(
    ("km", "expected"),
    [
        (12.34, "12.3 km (7.7 miles)"),
        (1.61, "1.6 km (1.0 mile)"),
        (0.0, "0.0 km (0.0 miles)"),
        (1234.5, "1,234.5 km (767.1 miles)"),
    ],
)
def test_format_distance(km: float, expected: str) -> None:
    assert format_distance(km) == expected


@pytest.mark.parametrize(
    ("amount", "pence", "expected"),
    [
        (None, False, "–"),
        (0, False, "£0"),
        (65000, False, "£65,000"),
        (1234.5, True, "£1,234.50"),
        (-5, False, "-£5"),
    ],
)
def test_format_gbp(amount: float | None, pence: bool, expected: str) -> None:
    assert format_gbp(amount, pence=pence) == expected


@pytest.mark.parametrize(
    ("amount", "expected"),
    [(1250, "1,250"), (2.5, "2.5"), (0.25, "0.25"), (1 / 3, "0.33"), (0, "0")],
)
def test_format_quantity(amount: float, expected: str) -> None:
    assert format_quantity(amount) == expected


@pytest.mark.parametrize(
    ("amount", "unit", "expected"),
    [(65000, "GBP", "£65,000"), (12.5, "week", "12.5 week"), (3, "£", "£3")],
)
def test_format_amount(amount: float, unit: str, expected: str) -> None:
    assert format_amount(amount, unit) == expected


@pytest.mark.parametrize(
    ("proxy", "unit", "expected"),
    [(1.0, "GBP", "£1.00 per £1"), (320, "day", "£320.00 per day")],
)
def test_format_proxy(proxy: float, unit: str, expected: str) -> None:
    assert format_proxy(proxy, unit) == expected


@dataclass
class Component:
    component: str
    value: float
    weight: float
    contribution: float
    reason: str


def test_waterfall_runs_to_the_total_and_shows_weight_shares() -> None:
    rows = waterfall([
        Component("capability", 0.8, 60, 48.0, "text"),
        Component("distance", 0.8, 25, 20.0, "near"),
        Component("social_value", 1.0, 15, 15.0, "commits"),
    ])
    assert [r.label for r in rows] == ["Capability", "Distance", "Social value"]
    assert [r.running_total for r in rows] == pytest.approx([48.0, 68.0, 83.0])
    assert [r.weight_share for r in rows] == pytest.approx([0.6, 0.25, 0.15])
    assert rows[0].reason == "text"


def test_waterfall_with_a_dropped_component_and_no_weights() -> None:
    rows = waterfall([Component("capability", 1, 0.6, 70.6, ""),
                      Component("distance", 1, 0.25, 29.4, ""),
                      Component("social_value", 0, 0.0, 0.0, "no options")])
    assert rows[2].weight_share == 0 and rows[0].weight_share == pytest.approx(0.6 / 0.85)
    assert waterfall([Component("capability", 0, 0, 0, "")])[0].weight_share == 0
    assert waterfall([Component("new_thing", 0, 1, 0, "")])[0].label == "New thing"


@pytest.mark.parametrize(
    ("total", "per_page", "pages"),
    [(0, 20, 1), (1, 20, 1), (20, 20, 1), (21, 20, 2), (1600, 20, 80), (5, 0, 1)],
)
def test_page_count(total: int, per_page: int, pages: int) -> None:
    assert page_count(total, per_page) == pages


def _numbers(params: dict | None) -> list:  # type: ignore[type-arg]
    assert params is not None
    return ["…" if item.get("ellipsis") else item["number"] for item in params["items"]]


@pytest.mark.parametrize(
    ("page", "pages", "expected"),
    [
        (1, 2, [1, 2]),
        (1, 10, [1, 2, "…", 10]),
        (5, 10, [1, "…", 4, 5, 6, "…", 10]),
        (10, 10, [1, "…", 9, 10]),
        (3, 5, [1, 2, 3, 4, 5]),
        (2, 3, [1, 2, 3]),
    ],
)
def test_pagination_items(page: int, pages: int, expected: list) -> None:  # type: ignore[type-arg]
    params = pagination(page, pages, lambda n: f"?page={n}")
    assert _numbers(params) == expected
    current = [i for i in params["items"] if i.get("current")]  # type: ignore[index]
    assert [i["number"] for i in current] == [page]


def test_pagination_previous_next_and_single_page() -> None:
    assert pagination(1, 1, str) is None
    first = pagination(1, 3, lambda n: f"/r?page={n}")
    assert first is not None and "previous" not in first and first["next"]["href"] == "/r?page=2"
    last = pagination(3, 3, lambda n: f"/r?page={n}")
    assert last is not None and "next" not in last and last["previous"]["href"] == "/r?page=2"


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        ((53.0, -2.0), (0.0, 0.0)),
        ((54.0, -2.0), (0.0, -111.195)),  # north is up: y decreases
        ((53.0, -1.0), (111.195 * math.cos(math.radians(53.0)), 0.0)),  # east is right
    ],
)
def test_project(point: tuple[float, float], expected: tuple[float, float]) -> None:
    assert project(*point, 53.0, -2.0) == pytest.approx(expected, abs=1e-6)


def test_site_map_fits_the_circle_and_every_supplier() -> None:
    m = site_map((53.0, -2.0), [(53.1, -2.0, "A", 1), (52.5, -2.5, "B", 2)], radius_km=50)
    assert m.radius_km == 50
    assert [p.rank for p in m.points] == [1, 2]
    reach = max(50, *(max(abs(p.x), abs(p.y)) for p in m.points))
    assert m.half_width >= reach
    x, y, w, h = map(float, m.view_box.split())
    assert (x, y) == (-m.half_width, -m.half_width) and w == h == 2 * m.half_width
    assert 0 < m.scale_bar_km <= m.half_width
    assert m.stroke > 0 and m.dot > 0 and m.font_size > 0


@pytest.mark.parametrize(
    ("radius", "suppliers", "min_half_width"),
    [
        (None, [], 5.0),  # nothing to show: a minimum extent
        (None, [(53.0, -2.0, "here", 1)], 5.0),
        (10.0, [], 11.0),
        (None, [(54.0, -2.0, "far", 1)], 111.195 * 1.1),
    ],
)
def test_site_map_extent(radius: float | None, suppliers: list, min_half_width: float) -> None:  # type: ignore[type-arg]
    m = site_map((53.0, -2.0), suppliers, radius_km=radius)
    assert m.half_width == pytest.approx(min_half_width, rel=1e-3)
