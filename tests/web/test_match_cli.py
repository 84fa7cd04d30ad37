"""``flask match``: one query, the batch contract, and an index that follows the data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from flask import Flask

from tests.factories import catalogue_data, make_supplier
from web.extensions import db
from web.models import Commitment
from web.services.catalogue import load_catalogue
from web.services.matching import get_index
from web.services.versions import bump_version

# Near Knowsley (L34 1AB is about 53.42, -2.84).
NEAR = {"latitude": 53.42, "longitude": -2.83}
FAR = {"latitude": 51.50, "longitude": -0.12}  # London, ~280 km away


@pytest.fixture
def register(app_context: Flask) -> Flask:
    """Three insulation suppliers and a roofer, one far away, committed."""
    load_catalogue(catalogue_data())
    make_supplier(external_id="EWI-NEAR", name="Near Insulation Ltd",
                  description="External wall insulation and cavity wall insulation.", **NEAR)
    far = make_supplier(external_id="EWI-FAR", name="Far Insulation Ltd",
                        description="External wall insulation for housing.", **FAR)
    far.commitments.append(Commitment(option_code="SV-APP", quantity_per_million=4))
    make_supplier(external_id="ROOF", name="Roofers Ltd",
                  description="Pitched roofing and gutters.", capabilities=["roofing"],
                  cpv_codes=["45261000"], **NEAR)
    bump_version()
    db.session.commit()
    return app_context


def test_single_query_table(runner, register: Flask) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["match", "--need", "external wall insulation",
                                 "--postcode", "l341ab", "--limit", "5"])
    assert result.exit_code == 0, result.output
    ranked = [line for line in result.output.splitlines()
              if re.match(r"^\s*\d+\s+[\d.]+\s+[\d.]+\s+\S", line)]
    assert "EWI-NEAR" in ranked[0]
    assert "capability" in result.output and "distance" in result.output


def test_single_query_json_with_radius(runner, register: Flask) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["match", "--need", "external wall insulation", "--lat", "53.42",
                                 "--lon", "-2.84", "--radius-km", "50", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [r["external_id"] for r in data["results"]] == ["EWI-NEAR"]
    breakdown = data["results"][0]["breakdown"]
    total = sum(c["contribution"] for c in breakdown["components"])
    assert total == pytest.approx(data["results"][0]["score"], abs=0.05)
    assert data["algorithm_version"]


def test_bad_input_is_a_clear_error(runner, register: Flask) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["match", "--need", "roofing", "--postcode", "ZZ99 9ZZ"])
    assert result.exit_code == 2
    assert "postcode" in result.output
    assert "Traceback" not in result.output


def test_batch_contract(runner, register: Flask, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    queries = tmp_path / "queries.jsonl"
    output = tmp_path / "results.jsonl"
    queries.write_text("\n".join([
        json.dumps({"id": "q1", "need": "external wall insulation", "postcode": "L34 1AB",
                    "limit": 2, "colour": "ignored"}),
        "{not json",
        json.dumps({"id": "q3", "need": "roofing", "postcode": "NOT A POSTCODE"}),
        "",
        json.dumps({"id": "q5", "need": "external wall insulation", "lat": 53.42, "lon": -2.84,
                    "radius_km": 500, "social_value": [{"code": "SV-APP", "weight": 1}],
                    "contract_value": 1_000_000,
                    "weights": {"capability": 0.5, "distance": 0.0, "social_value": 0.5}}),
        json.dumps(["not", "an", "object"]),
    ]) + "\n")
    result = runner.invoke(args=["match", "--batch", str(queries), "--output", str(output)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert [line.get("id") for line in lines] == ["q1", None, "q3", "q5", None]
    q1, bad_json, q3, q5, not_object = lines
    assert len(q1["results"]) == 2
    assert set(q1["results"][0]) >= {"external_id", "name", "score", "distance_km", "breakdown"}
    assert bad_json["line"] == 2 and "error" in bad_json
    assert q3["line"] == 3 and "postcode" in q3["error"]
    assert not_object["line"] == 6
    # Distance weighted 0 and social value 0.5: the far supplier's apprenticeships win.
    assert q5["results"][0]["external_id"] == "EWI-FAR"
    assert q5["results"][0]["breakdown"]["social_value_gbp"] > 0


@pytest.mark.parametrize(("line", "field"), [
    ('{"id": "h", "need": "roofing", "lat": 1%s, "lon": -2.8}' % ("0" * 400), "lat"),
    ('{"id": "h", "need": "roofing", "postcode": "L34 1AB", "radius_km": 1%s}' % ("0" * 400),
     "radius_km"),
    ('{"id": "h", "need": "roofing", "postcode": "L34 1AB", "contract_value": 9%s}'
     % ("9" * 400), "contract_value"),
    ('{"id": "h", "need": "roofing", "postcode": "L34 1AB", "limit": 1e309}', "limit"),
    ('{"id": "h", "need": "roofing", "postcode": "L34 1AB", "offset": -1e309}', "offset"),
    ('{"id": "h", "need": "roofing", "postcode": "L34 1AB", "weights": {"distance": 1%s}}'
     % ("0" * 400), "weights"),
    ('{"id": "h", "need": "roofing", "postcode": "L34 1AB", "cpv_codes": ["%s"]}'
     % ("\\u001b" * 500), "cpv_codes"),
])
def test_batch_numbers_too_big_are_an_error_line_not_a_crash(  # type: ignore[no-untyped-def]
    runner, register: Flask, tmp_path: Path, line: str, field: str
) -> None:
    queries, output = tmp_path / "queries.jsonl", tmp_path / "results.jsonl"
    good = json.dumps({"id": "ok", "need": "external wall insulation", "postcode": "L34 1AB"})
    queries.write_text(f"{line}\n{good}\n")
    result = runner.invoke(args=["match", "--batch", str(queries), "--output", str(output)])
    assert result.exit_code == 0, result.output
    bad, ok = (json.loads(text) for text in output.read_text().splitlines())
    assert bad["line"] == 1 and field in bad["error"] and len(bad["error"]) < 300
    assert "\x1b" not in bad["error"]
    assert ok["id"] == "ok" and ok["results"]


def test_index_follows_the_data_version(register: Flask) -> None:
    before = get_index()
    assert get_index() is before  # no change, no rebuild
    make_supplier(external_id="NEW", name="New Ltd", description="Solar PV", **NEAR)
    bump_version()
    db.session.commit()
    after = get_index()
    assert after is not before
    assert after.data_version != before.data_version


def test_fair_rotation_counts_recorded_awards(runner, register: Flask) -> None:  # type: ignore[no-untyped-def]
    """An award recorded through the service shows on results and, with rotation chosen,
    lowers that supplier's rotation component."""
    import sqlalchemy as sa

    from tests.factories import make_user
    from web.models import Shortlist, ShortlistStatus, Supplier
    from web.models.base import utcnow

    user = make_user()
    near = db.session.scalar(sa.select(Supplier).where(Supplier.external_id == "EWI-NEAR"))
    db.session.add(Shortlist(
        organisation_id=user.organisation_id, created_by_id=user.id, name="Won",
        status=ShortlistStatus.LOCKED, outcome="awarded", awarded_supplier_id=near.id,
        awarded_value=1000.0, outcome_at=utcnow(),
    ))
    bump_version()
    db.session.commit()
    result = runner.invoke(args=["match", "--need", "external wall insulation", "--postcode",
                                 "L34 1AB", "--weights", "capability=1,rotation=1",
                                 "--format", "json"])
    assert result.exit_code == 0, result.output
    by_id = {r["external_id"]: r for r in json.loads(result.output)["results"]}
    assert by_id["EWI-NEAR"]["recent_awards"] == 1
    assert by_id["EWI-FAR"]["recent_awards"] == 0
    rotation = {c["component"]: c for c in by_id["EWI-NEAR"]["breakdown"]["components"]}
    assert rotation["rotation"]["value"] == 0.5


def test_bad_cpv_code_says_what_a_cpv_code_is(runner, register: Flask) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["match", "--need", "roofing", "--postcode", "L34 1AB",
                                 "--cpv", "roof"])
    assert result.exit_code == 2
    assert "'roof' is not a CPV code (8 digits, optional check digit)" in result.output
