"""Fair rotation: off by default; when chosen, fewer recent awards score higher, explained."""

from __future__ import annotations

import pytest

from matcher import SupplierRecord, Weights, search

from .conftest import make_index, make_query, make_supplier


def components(result) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {c.component: c for c in result.components}


def test_rotation_is_off_by_default_and_awards_are_still_shown(filler: list[SupplierRecord]) -> None:
    busy = make_supplier(external_id="BUSY", recent_awards=3)
    idle = make_supplier(external_id="IDLE", recent_awards=0)
    response = search(make_index([busy, idle, *filler]), make_query("roofing"))
    by_id = {r.external_id: r for r in response.results}
    assert "rotation" not in components(by_id["BUSY"])
    assert by_id["BUSY"].score == pytest.approx(by_id["IDLE"].score)
    assert (by_id["BUSY"].recent_awards, by_id["IDLE"].recent_awards) == (3, 0)


@pytest.mark.parametrize(("awards", "value"), [(0, 1.0), (1, 0.5), (2, 1 / 3), (9, 0.1)])
def test_rotation_value_falls_with_recent_awards(awards: int, value: float) -> None:
    supplier = make_supplier(recent_awards=awards)
    query = make_query("roofing", weights=Weights(capability=0.5, distance=0.0, rotation=0.5))
    result = search(make_index([supplier]), query).results[0]
    rotation = components(result)["rotation"]
    assert rotation.value == pytest.approx(value)  # type: ignore[attr-defined]
    assert f"{awards} award" in rotation.reason  # type: ignore[attr-defined]
    assert sum(c.contribution for c in result.components) == pytest.approx(result.score)


def test_rotation_favours_the_supplier_with_fewer_awards(filler: list[SupplierRecord]) -> None:
    busy = make_supplier(external_id="BUSY", recent_awards=4)
    idle = make_supplier(external_id="IDLE", recent_awards=0)
    query = make_query("roofing", weights=Weights(rotation=0.2))
    ranked = [r.external_id for r in search(make_index([busy, idle, *filler]), query).results]
    assert ranked.index("IDLE") < ranked.index("BUSY")


def test_weights_parse_rotation() -> None:
    assert Weights.parse("capability=1,rotation=0.3").rotation == 0.3
    with pytest.raises(ValueError, match="rotation=W"):
        Weights.parse("popularity=1")
