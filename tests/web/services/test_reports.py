"""The outcomes report: what came of the locked shortlists in a financial year."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.web.test_shortlists_service import World, make_world
from web.extensions import db
from web.models import Shortlist, SocialValueOption
from web.services import matching, reports
from web.services import shortlists as service

APPRENTICESHIP_WEEK_GBP = 260.0  # the test catalogue's proxy for SV-APP


@pytest.fixture(autouse=True)
def _fresh_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables are emptied between tests, so data versions restart: never reuse an index."""
    monkeypatch.setattr(matching, "_cache", None)


@pytest.fixture
def world(app_context: Flask) -> Iterator[World]:
    yield make_world(app_context)


def make_decided(world: World, name: str, *, actor: str = "user", winner: int | None = 0,
             value: float = 0.0, when: dt.datetime | None = None) -> Shortlist:
    """A locked shortlist of the three suppliers with its outcome: ``winner`` (an index
    into the world's suppliers) awarded ``value``, or none suitable (``winner`` None)."""
    user = world.user if actor == "user" else world.other
    shortlist = world.add(actor=user, new_shortlist_name=name).shortlist
    for supplier in world.suppliers[1:]:
        world.add(supplier, actor=user, shortlist=shortlist)
    service.lock_shortlist(shortlist, actor=user, directory=world.directory)
    if winner is None:
        service.record_outcome(shortlist, actor=user, outcome="none_suitable",
                               note="None could start in time")
    else:
        service.record_outcome(shortlist, actor=user, outcome="awarded",
                               awarded_supplier_id=world.suppliers[winner].id,
                               awarded_value=value)
    if when is not None:
        shortlist.outcome_at = when
    db.session.flush()
    return shortlist


@pytest.mark.parametrize(("day", "year"), [
    (dt.date(2026, 3, 31), 2025), (dt.date(2026, 4, 1), 2026), (dt.date(2027, 1, 15), 2026),
])
def test_financial_years_start_on_the_first_of_april(day: dt.date, year: int) -> None:
    assert reports.financial_year(day) == year
    start, end = reports.year_bounds(year)
    assert start.date() <= day < end.date()


def test_the_report_counts_a_years_outcomes_from_the_locked_snapshots(world: World) -> None:
    world.suppliers[0].sme = True
    world.suppliers[1].vcse = True
    db.session.flush()
    this_year = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    near = make_decided(world, "Walls A", winner=0, value=400_000, when=this_year)
    make_decided(world, "Walls B", winner=2, value=1_500_000, when=this_year)
    make_decided(world, "Walls C", winner=None, when=this_year)
    make_decided(world, "Their walls", actor="other", winner=1, value=250_000, when=this_year)
    make_decided(world, "Last year", winner=0, value=9_000_000,
             when=dt.datetime(2026, 3, 31, 23, 0, tzinfo=dt.UTC))
    world.add(new_shortlist_name="Still a draft")
    # Changed on the register after the lock: the report keeps what the decision saw.
    world.suppliers[0].name = "Renamed Since Ltd"
    world.suppliers[0].sme = False
    db.session.flush()
    proxy = db.session.scalar(sa.select(SocialValueOption.proxy_gbp_per_unit).where(
        SocialValueOption.code == "SV-APP"))
    assert proxy == APPRENTICESHIP_WEEK_GBP

    rows = reports.outcome_rows(2026)

    assert [(r.organisation, r.shortlist, r.outcome) for r in rows] == [
        ("Knowsley Homes", "Walls A", "awarded"), ("Knowsley Homes", "Walls B", "awarded"),
        ("Knowsley Homes", "Walls C", "none_suitable"),
        ("Other Council", "Their walls", "awarded")]
    first = rows[0]
    assert first.shortlist_id == near.id
    assert (first.supplier, first.external_id, first.sme) == ("Near Insulation Ltd", "EWI-1", True)
    # Supplier n commits n apprenticeship weeks per £1m.
    assert first.estimated_social_value_gbp == pytest.approx(1 * 0.4 * proxy)
    assert rows[1].estimated_social_value_gbp == pytest.approx(3 * 1.5 * proxy)
    assert rows[2].supplier is None and rows[2].estimated_social_value_gbp is None
    assert first.distance_km is not None and 0 < first.distance_km < rows[1].distance_km

    summaries, total = reports.summarise(rows)
    assert [(s.organisation, s.outcomes, s.awarded, s.awarded_value_gbp) for s in summaries] == [
        ("Knowsley Homes", 3, 2, 1_900_000), ("Other Council", 1, 1, 250_000)]
    assert (total.outcomes, total.awarded, total.awarded_value_gbp) == (4, 3, 2_150_000)
    assert (total.to_sme, total.to_vcse) == (1, 1)
    assert total.estimated_social_value_gbp == pytest.approx(
        (0.4 * 1 + 1.5 * 3 + 0.25 * 2) * proxy)
    assert total.mean_distance_km == pytest.approx(
        round(sum(r.distance_km for r in rows if r.supplier) / 3, 1))
    assert [r.shortlist for r in reports.outcome_rows(2025)] == ["Last year"]
    assert reports.years_with_outcomes(dt.date(2026, 11, 27)) == [2026, 2025]


def test_the_csv_has_a_line_per_outcome_and_no_formulas(world: World) -> None:
    world.suppliers[0].sme = True
    when = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    make_decided(world, "=HYPERLINK(\"http://x\")", winner=0, value=400_000, when=when)
    make_decided(world, "Walls C", winner=None, when=when)

    data = reports.outcomes_csv(reports.outcome_rows(2026))

    assert data.startswith("\ufeff".encode())
    lines = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert list(lines[0]) == list(reports.CSV_COLUMNS)
    assert lines[0]["shortlist"] == "'=HYPERLINK(\"http://x\")"
    assert (lines[0]["supplier"], lines[0]["sme"], lines[0]["awarded_value_gbp"]) == (
        "Near Insulation Ltd", "yes", "400000.0")
    assert float(lines[0]["estimated_social_value_gbp"]) == pytest.approx(
        0.4 * APPRENTICESHIP_WEEK_GBP)
    assert (lines[1]["outcome"], lines[1]["supplier"], lines[1]["awarded_value_gbp"]) == (
        "none_suitable", "", "")


def test_an_empty_year(world: World) -> None:
    rows = reports.outcome_rows(2026)
    summaries, total = reports.summarise(rows)
    assert rows == [] and summaries == []
    assert (total.outcomes, total.awarded_value_gbp, total.mean_distance_km) == (0, 0.0, None)
    assert reports.years_with_outcomes(dt.date(2026, 11, 27)) == [2026]
