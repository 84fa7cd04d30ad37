"""GET /api/v1/suppliers (stable pages, filters), /suppliers/{id}, /social-value-options."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.factories import make_supplier
from tests.web.api.conftest import Api, ApiWorld, assert_problem
from web.extensions import db
from web.models import SocialValueCatalogue


def test_pages_are_stable_and_cover_every_active_supplier_once(
    app: Flask, api: Api, world: ApiWorld
) -> None:
    with app.app_context():
        extra = [make_supplier(name=f"Extra {n}").id for n in range(7)]
        db.session.commit()
    expected = sorted([*world.suppliers, world.grounds, *extra])
    seen: list[int] = []
    page = 1
    while True:
        body = api.get(f"/suppliers?page={page}&per_page=3", token=world.member).get_json()
        assert body["total"] == len(expected)
        assert body["pages"] == 4
        seen.extend(item["id"] for item in body["items"])
        if not body["items"]:
            break
        page += 1
    assert seen == expected  # ordered by id, no gaps, no repeats; the inactive one is hidden
    again = api.get("/suppliers?page=2&per_page=3", token=world.member).get_json()
    assert [i["id"] for i in again["items"]] == expected[3:6]


def test_admins_also_see_inactive_suppliers(api: Api, world: ApiWorld) -> None:
    body = api.get("/suppliers?per_page=100", token=world.admin).get_json()
    assert world.inactive in [i["id"] for i in body["items"]]
    assert api.get(f"/suppliers/{world.inactive}", token=world.admin).status_code == 200
    assert_problem(api.get(f"/suppliers/{world.inactive}", token=world.member), 404)


def test_filters_by_name_and_lot(api: Api, world: ApiWorld) -> None:
    by_name = api.get("/suppliers?q=insulation 2", token=world.member).get_json()
    assert [i["id"] for i in by_name["items"]] == [world.suppliers[1]]
    # LIKE wildcards in q are literal characters
    percent = api.get("/suppliers?q=100%25", token=world.member).get_json()
    assert [i["id"] for i in percent["items"]] == [world.grounds]
    assert api.get("/suppliers?q=_", token=world.member).get_json()["total"] == 0
    by_lot = api.get("/suppliers?lot=L2", token=world.member).get_json()
    assert [i["id"] for i in by_lot["items"]] == [world.suppliers[2]]
    assert by_lot["items"][0]["lots"] == ["L2"]


@pytest.mark.parametrize(("query", "field"), [
    ("per_page=101", "per_page"),
    ("per_page=0", "per_page"),
    ("page=0", "page"),
    ("page=abc", "page"),
    ("page=99999999999999999999", "page"),
    ("q=" + "x" * 201, "q"),
    ("q=%00", "q"),
])
def test_bad_paging_and_filters_are_422(api: Api, world: ApiWorld, query: str, field: str) -> None:
    problem = assert_problem(api.get(f"/suppliers?{query}", token=world.member), 422)
    assert [e["field"] for e in problem["errors"]] == [field]


def test_unknown_query_parameters_are_ignored(api: Api, world: ApiWorld) -> None:
    assert api.get("/suppliers?_=123&foo=bar", token=world.member).status_code == 200


def test_supplier_profile_is_complete(api: Api, world: ApiWorld) -> None:
    response = api.get(f"/suppliers/{world.suppliers[0]}", token=world.member)
    assert response.status_code == 200
    body = response.get_json()
    assert body["external_id"] == "EWI-1"
    assert body["lots"] == [{"code": "L1", "name": "Lot L1"}]
    assert body["accreditations"] == [
        {"name": "TrustMark", "expires_on": "2099-01-01", "valid": True}]
    assert body["commitments"] == [{"option_code": "SV-APP", "quantity_per_million": 1.0}]
    assert body["contacts"][0]["name"] == "Pat Contact"
    assert body["created_at"].endswith("Z") or "+00:00" in body["created_at"]


@pytest.mark.parametrize("supplier_id", ["999999", "0", "-1", "abc", "99999999999999999999",
                                         "2147483648"])
def test_unknown_supplier_is_404(api: Api, world: ApiWorld, supplier_id: str) -> None:
    assert_problem(api.get(f"/suppliers/{supplier_id}", token=world.member), 404)


def test_social_value_options_are_the_current_catalogue(api: Api, world: ApiWorld) -> None:
    body = api.get("/social-value-options", token=world.other).get_json()
    assert body["version"] == "2026.1"
    assert body["published_on"] == "2026-11-01"
    assert [t["code"] for t in body["themes"]] == ["skills", "local"]
    option = next(o for o in body["options"] if o["code"] == "SV-APP")
    assert option["theme"] == "skills"
    assert option["proxy_gbp_per_unit"] == 260.0


def test_no_catalogue_is_404(app: Flask, api: Api, world: ApiWorld) -> None:
    with app.app_context():
        db.session.execute(db.update(SocialValueCatalogue).values(is_current=False))
        db.session.commit()
    assert_problem(api.get("/social-value-options", token=world.member), 404)
