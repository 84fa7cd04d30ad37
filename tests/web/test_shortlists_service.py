"""The shortlist service: create from a search, add, remove, edit, lock, outcome, rotation."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from matcher import ALGORITHM_VERSION
from tests.factories import catalogue_data, make_organisation, make_supplier, make_user
from web.extensions import db
from web.models import (
    AuditEvent,
    Commitment,
    Role,
    Shortlist,
    ShortlistEntry,
    ShortlistStatus,
    Supplier,
    User,
)
from web.models.base import utcnow
from web.postcodes import PostcodeDirectory, get_directory
from web.services import matching
from web.services import shortlists as service
from web.services.audit import events_for, record_event
from web.services.catalogue import load_catalogue
from web.services.matching import SearchInputError, parse_search, result_to_dict, run_search
from web.services.versions import bump_version, version_token

NEED = "external wall insulation"
# Near Knowsley; the suppliers below are within 15 km.
SEARCH = {"need": NEED, "lat": 53.41, "lon": -2.90, "radius_km": 50,
          "social_value": ["SV-APP:2"], "contract_value": 500000}


@dataclasses.dataclass
class World:
    """A small register, two organisations and their users."""

    app: Flask
    directory: PostcodeDirectory
    user: User
    colleague: User
    other: User
    admin: User
    suppliers: list[Supplier]
    unmatched: Supplier

    def add(self, supplier: Supplier | None = None, **kwargs: Any) -> service.AddResult:
        """Add ``supplier`` (the first by default) with the standard search."""
        kwargs.setdefault("actor", self.user)
        kwargs.setdefault("search_params", SEARCH)
        if "shortlist" not in kwargs:
            kwargs.setdefault("new_shortlist_name", "Wall insulation 2027")
        return service.add_from_search(
            supplier_id=(supplier or self.suppliers[0]).id, directory=self.directory, **kwargs
        )


def make_world(app: Flask) -> World:
    """Build the register and the people (flushed, not committed)."""
    load_catalogue(catalogue_data())
    org = make_organisation(name="Knowsley Homes")
    user = make_user(organisation=org, name="Ada Member")
    colleague = make_user(organisation=org, name="Colleague")
    other = make_user(organisation=make_organisation(name="Other Council"), name="Other Member")
    admin = make_user(role=Role.ADMIN, name="Framework Admin")
    suppliers = []
    for n, (name, lat) in enumerate(
        [("Near Insulation Ltd", 53.41), ("Mid Insulation Ltd", 53.45),
         ("Far Insulation Ltd", 53.50)], start=1,
    ):
        supplier = make_supplier(external_id=f"EWI-{n}", name=name, latitude=lat,
                                 longitude=-2.85,
                                 description="External wall insulation for social housing.")
        supplier.commitments.append(Commitment(option_code="SV-APP", quantity_per_million=n))
        suppliers.append(supplier)
    unmatched = make_supplier(external_id="GROUNDS", name="Grounds Ltd",
                              description="Grass cutting and hedge trimming.",
                              capabilities=["grounds maintenance"], cpv_codes=["77310000"])
    bump_version()
    db.session.flush()
    return World(app, get_directory(app), user, colleague, other, admin, suppliers, unmatched)


@pytest.fixture(autouse=True)
def _fresh_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables are emptied between tests, so data versions restart: never reuse an index."""
    monkeypatch.setattr(matching, "_cache", None)


@pytest.fixture
def world(app_context: Flask) -> Iterator[World]:
    yield make_world(app_context)


def _events(shortlist: Shortlist) -> list[str]:
    return [e.action for e in events_for("shortlist", shortlist.id, organisation_id=None)]


# ---------------------------------------------------------------------------------------
# Create and add


def test_adding_to_a_new_shortlist_stores_the_server_side_score(world: World) -> None:
    result = world.add(reason="Closest firm")
    shortlist, entry = result.shortlist, result.entry
    assert result.created_shortlist and result.ranked
    assert shortlist.status == ShortlistStatus.DRAFT
    assert shortlist.organisation_id == world.user.organisation_id
    assert shortlist.name == "Wall insulation 2027"

    query, _ = parse_search(SEARCH, directory=world.directory)
    expected = next(r for r in run_search(query).results if r.supplier_id == world.suppliers[0].id)
    as_dict = result_to_dict(expected)
    assert entry.rank == expected.rank == 1
    assert entry.score == as_dict["score"]
    assert entry.breakdown["components"] == as_dict["breakdown"]["components"]
    assert entry.breakdown["distance_km"] == as_dict["distance_km"]
    assert entry.breakdown["search_total"] == 3
    assert entry.reason_added == "Closest firm"

    inputs = shortlist.search_inputs
    assert inputs["params"]["need"] == NEED
    assert inputs["location"]["latitude"] == 53.41
    assert inputs["weights"] == {"capability": 0.6, "distance": 0.25, "social_value": 0.15}
    assert inputs["social_value"] == [{"code": "SV-APP", "weight": 2.0}]
    assert _events(shortlist) == ["shortlist.created", "shortlist.search_run",
                                  "shortlist.entry_added"]



def test_a_supplier_past_the_first_page_is_stored_as_the_search_ranks_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ranking is read a page at a time (a short first page, then long ones): pages of
    one result here, so the supplier is found on a later page, with the same result."""
    monkeypatch.setattr(service, "FIRST_RANK_PAGE", 1)
    monkeypatch.setattr(service, "MAX_LIMIT", 1)
    query, _ = parse_search(SEARCH, directory=world.directory)
    ranked = [r for r in run_search(query).results]
    last = result_to_dict(ranked[-1])
    supplier = next(s for s in world.suppliers if s.id == last["supplier_id"])
    assert last["rank"] == 3

    entry = world.add(supplier).entry
    assert (entry.rank, entry.score) == (3, last["score"])
    assert entry.breakdown["components"] == last["breakdown"]["components"]
    assert entry.breakdown["search_total"] == 3


def test_adding_to_an_existing_draft_keeps_its_first_search(world: World) -> None:
    shortlist = world.add().shortlist
    other_search = {**SEARCH, "radius_km": 30}
    result = world.add(world.suppliers[1], shortlist=shortlist, search_params=other_search)
    assert not result.created_shortlist
    assert shortlist.search_inputs["params"]["radius_km"] == 50
    assert result.entry.breakdown["search_params"]["radius_km"] == 30
    assert [e.supplier_id for e in service.active_entries(shortlist)] == [
        world.suppliers[0].id, world.suppliers[1].id]


def test_a_supplier_the_search_does_not_rank_is_added_without_a_score(world: World) -> None:
    result = world.add(world.unmatched)
    assert not result.ranked
    assert result.entry.rank is None and result.entry.score is None
    assert result.entry.breakdown["components"] == []
    assert result.entry.breakdown["ranked"] is False
    assert "not ranked" in service.audit_trail(result.shortlist)[-1].summary


def test_a_supplier_cannot_be_added_twice(world: World) -> None:
    shortlist = world.add().shortlist
    with pytest.raises(service.ShortlistError, match="already on shortlist"):
        world.add(shortlist=shortlist)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"new_shortlist_name": "  "}, "Enter a name"),
    ({"new_shortlist_name": "x" * 201}, "200 characters"),
    ({"reason": "x" * 5001}, "5,000 characters"),
])
def test_adding_checks_its_inputs(world: World, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(service.ShortlistError, match=message):
        world.add(**kwargs)


def test_adding_an_inactive_or_unknown_supplier_is_refused(world: World) -> None:
    world.suppliers[2].active = False
    with pytest.raises(service.ShortlistError, match="not on the register"):
        world.add(world.suppliers[2])
    with pytest.raises(service.ShortlistError, match="not on the register"):
        service.add_from_search(actor=world.user, supplier_id=999_999, search_params=SEARCH,
                                directory=world.directory, new_shortlist_name="x")


def test_adding_with_an_invalid_search_is_refused(world: World) -> None:
    with pytest.raises(SearchInputError) as caught:
        world.add(search_params={"need": NEED, "postcode": "NOT A POSTCODE"})
    assert "postcode" in caught.value.errors
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Shortlist)) == 0


def test_only_members_with_an_organisation_keep_shortlists(world: World) -> None:
    with pytest.raises(service.ShortlistError, match="members of an organisation"):
        world.add(actor=world.admin)


def test_adding_to_another_organisations_shortlist_is_refused(world: World) -> None:
    shortlist = world.add().shortlist
    with pytest.raises(service.ShortlistError, match="another organisation"):
        world.add(world.suppliers[1], actor=world.other, shortlist=shortlist)


def test_a_removed_supplier_can_be_put_back(world: World) -> None:
    result = world.add()
    service.remove_entry(result.entry, actor=world.user, reason="Too busy")
    again = world.add(shortlist=result.shortlist, reason="Capacity confirmed")
    assert again.entry.id == result.entry.id
    assert again.entry.removed_at is None and again.entry.reason_removed is None
    assert again.entry.reason_added == "Capacity confirmed"
    assert "put back" in service.audit_trail(result.shortlist)[-1].summary


# ---------------------------------------------------------------------------------------
# Remove and edit


def test_removing_keeps_the_entry_with_its_reason(world: World) -> None:
    result = world.add()
    world.add(world.suppliers[1], shortlist=result.shortlist)
    service.remove_entry(result.entry, actor=world.colleague, reason="  No capacity  ")
    assert result.entry.removed_at is not None
    assert result.entry.reason_removed == "No capacity"
    assert [e.supplier_id for e in service.active_entries(result.shortlist)] == [
        world.suppliers[1].id]
    assert [e.supplier_id for e in service.ordered_entries(result.shortlist)][-1] == (
        world.suppliers[0].id)
    last = service.audit_trail(result.shortlist)[-1]
    assert (last.label, last.actor) == ("Supplier removed", "Colleague")
    assert last.summary == "Near Insulation Ltd: No capacity"


def test_removing_needs_a_reason_and_happens_once(world: World) -> None:
    entry = world.add().entry
    with pytest.raises(service.ShortlistError, match="reason"):
        service.remove_entry(entry, actor=world.user, reason=" ")
    service.remove_entry(entry, actor=world.user, reason="Duplicate")
    with pytest.raises(service.ShortlistError, match="already been removed"):
        service.remove_entry(entry, actor=world.user, reason="Again")


def test_editing_records_before_and_after(world: World) -> None:
    shortlist = world.add().shortlist
    changes = service.update_shortlist(shortlist, actor=world.user, name="Renamed",
                                       notes="Ask about lead times")
    assert changes == {
        "name": {"before": "Wall insulation 2027", "after": "Renamed"},
        "notes": {"before": "", "after": "Ask about lead times"},
    }
    event = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "shortlist.edited")).one()
    assert event.details == {"changes": changes}
    assert event.actor_id == world.user.id
    assert service.update_shortlist(shortlist, actor=world.user, name="Renamed",
                                    notes="Ask about lead times") == {}
    assert _events(shortlist).count("shortlist.edited") == 1


def test_editing_refuses_an_empty_name(world: World) -> None:
    shortlist = world.add().shortlist
    with pytest.raises(service.ShortlistError, match="Enter a name"):
        service.update_shortlist(shortlist, actor=world.user, name=" ", notes="")


def test_only_the_owning_organisation_changes_a_shortlist(world: World) -> None:
    result = world.add()
    for actor in (world.other, world.admin):
        with pytest.raises(service.ShortlistError, match="organisation’s members"):
            service.remove_entry(result.entry, actor=actor, reason="x")
        with pytest.raises(service.ShortlistError, match="organisation’s members"):
            service.update_shortlist(result.shortlist, actor=actor, name="x", notes="")


# ---------------------------------------------------------------------------------------
# Access rules


def test_members_read_their_own_and_admins_read_all_but_change_none(world: World) -> None:
    shortlist = world.add().shortlist
    assert service.can_read(world.colleague, shortlist)
    assert service.can_edit(world.colleague, shortlist)
    assert not service.can_read(world.other, shortlist)
    assert not service.can_edit(world.other, shortlist)
    assert service.can_read(world.admin, shortlist)
    assert not service.can_edit(world.admin, shortlist)
    assert not service.can_read(None, shortlist)


def test_lists_are_per_organisation_newest_first_with_counts(world: World) -> None:
    first = world.add().shortlist
    second = world.add(world.suppliers[1], new_shortlist_name="Second").shortlist
    world.add(world.suppliers[2], shortlist=second)
    service.remove_entry(second.entries[0], actor=world.user, reason="x")
    first.created_at = utcnow() - dt.timedelta(days=1)
    world.add(actor=world.other, new_shortlist_name="Theirs")
    db.session.flush()
    mine = service.list_shortlists(world.user)
    assert [(s.name, active, removed) for s, active, removed in mine.rows] == [
        ("Second", 1, 1), ("Wall insulation 2027", 1, 0)]
    assert mine.total == 2
    assert service.list_shortlists(world.admin).total == 3
    assert [s.name for s in service.draft_shortlists(world.user)] == [
        "Second", "Wall insulation 2027"]
    assert service.draft_shortlists(world.admin) == []



def _names(page: service.ShortlistPage) -> list[str]:
    return [shortlist.name for shortlist, _, _ in page.rows]


def test_lists_come_a_page_at_a_time_and_filter(world: World) -> None:
    """Pages of a fixed size, newest first, each knowing the total; a name filter that
    reads % and _ as themselves; status; and an admin's organisation filter."""
    made = []
    for n in range(7):
        made.append(world.add(new_shortlist_name=f"Roofs {n} 100%_done" if n % 2 else
                              f"Walls {n}").shortlist)
        made[-1].created_at = utcnow() - dt.timedelta(hours=10 - n)  # the last made: newest
    theirs = world.add(actor=world.other, new_shortlist_name="Roofs of theirs").shortlist
    service.lock_shortlist(made[0], actor=world.user, directory=world.directory)
    db.session.flush()

    first = service.list_shortlists(world.user, per_page=3)
    third = service.list_shortlists(world.user, page=3, per_page=3)
    assert (first.total, third.total) == (7, 7)
    assert _names(first) == ["Walls 6", "Roofs 5 100%_done", "Walls 4"]
    assert _names(third) == ["Walls 0"]
    assert service.list_shortlists(world.user, page=4, per_page=3).rows == []
    assert _names(service.list_shortlists(world.user, name="roofs")) == [
        "Roofs 5 100%_done", "Roofs 3 100%_done", "Roofs 1 100%_done"]
    assert service.list_shortlists(world.user, name="100%_").total == 3
    assert service.list_shortlists(world.user, name="1000").total == 0  # % is no wildcard
    assert service.list_shortlists(world.user, name="Roofs_5").total == 0  # nor is _
    assert _names(service.list_shortlists(world.user, status="locked")) == ["Walls 0"]
    assert service.list_shortlists(world.user, status="draft").total == 6
    # A member's list is their organisation's, whatever organisation is asked for.
    assert service.list_shortlists(
        world.user, organisation_id=theirs.organisation_id).total == 7
    assert _names(service.list_shortlists(
        world.admin, organisation_id=theirs.organisation_id)) == ["Roofs of theirs"]
    assert service.list_shortlists(world.admin, name="roofs").total == 4

# ---------------------------------------------------------------------------------------
# Lock


def test_locking_freezes_a_snapshot(world: World) -> None:
    result = world.add(reason="Closest")
    world.add(world.suppliers[1], shortlist=result.shortlist)
    world.add(world.suppliers[2], shortlist=result.shortlist)
    service.remove_entry(result.shortlist.entries[2], actor=world.user, reason="Too far")
    shortlist = service.lock_shortlist(result.shortlist, actor=world.colleague,
                                       directory=world.directory)

    assert shortlist.status == ShortlistStatus.LOCKED
    assert shortlist.locked_by_id == world.colleague.id
    assert shortlist.locked_at is not None
    assert shortlist.algorithm_version == ALGORITHM_VERSION
    assert shortlist.catalogue_version == "2026.1"
    snap = shortlist.snapshot
    assert snap is not None
    assert snap["locked_by"]["name"] == "Colleague"
    assert snap["search_inputs"] == shortlist.search_inputs
    assert snap["weights"] == shortlist.search_inputs["weights"]
    assert snap["social_value"] == [{"code": "SV-APP", "weight": 2.0}]
    assert snap["data_version"] == version_token()
    assert snap["search_total"] == 3
    assert [e["external_id"] for e in snap["entries"]] == ["EWI-1", "EWI-2", "EWI-3"]
    assert [e["status"] for e in snap["entries"]] == ["shortlisted", "shortlisted", "removed"]
    assert snap["entries"][0]["reason_added"] == "Closest"
    assert snap["entries"][0]["breakdown"]["components"]
    assert snap["entries"][2]["reason_removed"] == "Too far"
    # the hash covers the shortlisted suppliers' records and the data version, as shipped
    assert [r["external_id"] for r in snap["suppliers"]] == ["EWI-1", "EWI-2"]
    assert shortlist.data_hash == snap["data_hash"] == service.data_hash(
        snap["suppliers"], data_version=snap["data_version"])
    assert len(shortlist.data_hash) == 64
    assert service.verify_data_hash(shortlist) is True
    assert _events(shortlist)[-2:] == ["shortlist.search_run", "shortlist.locked"]


def test_locking_re_scores_entries_with_the_shortlists_search(world: World) -> None:
    shortlist = world.add().shortlist
    entry = world.add(world.suppliers[1], shortlist=shortlist,
                      search_params={**SEARCH, "social_value": []}).entry
    score_from_other_search = entry.score
    service.lock_shortlist(shortlist, actor=world.user, directory=world.directory)
    assert entry.score != score_from_other_search
    assert "search_params" not in entry.breakdown
    locked = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "shortlist.locked")).one()
    assert locked.details["score_changes"][0]["supplier_id"] == world.suppliers[1].id


def test_an_empty_shortlist_cannot_be_locked(world: World) -> None:
    result = world.add()
    service.remove_entry(result.entry, actor=world.user, reason="x")
    with pytest.raises(service.ShortlistError, match="at least one supplier"):
        service.lock_shortlist(result.shortlist, actor=world.user, directory=world.directory)


def _locked(world: World) -> tuple[Shortlist, ShortlistEntry]:
    result = world.add()
    world.add(world.suppliers[1], shortlist=result.shortlist)
    service.lock_shortlist(result.shortlist, actor=world.user, directory=world.directory)
    return result.shortlist, result.entry


CHANGES: dict[str, Callable[[World, Shortlist, ShortlistEntry], object]] = {
    "add": lambda w, s, e: w.add(w.suppliers[2], shortlist=s),
    "add-again": lambda w, s, e: w.add(shortlist=s),
    "remove": lambda w, s, e: service.remove_entry(e, actor=w.user, reason="x"),
    "edit": lambda w, s, e: service.update_shortlist(s, actor=w.user, name="New", notes=""),
    "lock": lambda w, s, e: service.lock_shortlist(s, actor=w.user, directory=w.directory),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_locked_shortlist_refuses_every_change(world: World, change: str) -> None:
    shortlist, entry = _locked(world)
    before = (shortlist.name, shortlist.notes, shortlist.data_hash,
              [(e.supplier_id, e.score, e.removed_at) for e in shortlist.entries])
    events = len(_events(shortlist))
    with pytest.raises(service.ShortlistLocked, match="is locked"):
        CHANGES[change](world, shortlist, entry)
    assert before == (shortlist.name, shortlist.notes, shortlist.data_hash,
                      [(e.supplier_id, e.score, e.removed_at) for e in shortlist.entries])
    assert len(_events(shortlist)) == events


# ---------------------------------------------------------------------------------------
# Data hash


def test_the_data_hash_is_stable_and_changes_with_the_data(world: World) -> None:
    ids = [s.id for s in world.suppliers[:2]]
    version = version_token()
    first = service.data_hash(service.supplier_records(ids), data_version=version)
    db.session.expire_all()
    assert service.data_hash(service.supplier_records(reversed(ids)),
                             data_version=version) == first

    world.suppliers[1].description = "External wall insulation and render."
    db.session.flush()
    edited = service.data_hash(service.supplier_records(ids), data_version=version)
    assert edited != first
    world.suppliers[1].description = "External wall insulation for social housing."
    db.session.flush()
    assert service.data_hash(service.supplier_records(ids), data_version=version) == first
    assert service.data_hash(service.supplier_records(ids), data_version="999") != first

    world.suppliers[0].commitments[0].quantity_per_million = 10
    db.session.flush()
    db.session.expire_all()
    assert service.data_hash(service.supplier_records(ids), data_version=version) != first


def test_verify_reports_data_changed_after_the_lock(world: World) -> None:
    shortlist, _entry = _locked(world)
    assert service.verify_data_hash(shortlist) is True
    world.suppliers[0].name = "Renamed Insulation Ltd"
    bump_version()
    assert service.verify_data_hash(shortlist) is False
    draft = world.add(world.suppliers[2], new_shortlist_name="Draft").shortlist
    assert service.verify_data_hash(draft) is None


def test_the_canonical_json_sorts_keys_and_has_no_spaces() -> None:
    assert service.canonical_json({"b": 1, "a": [1.5, "£"]}) == '{"a":[1.5,"£"],"b":1}'.encode()


# ---------------------------------------------------------------------------------------
# Outcome and fair rotation


def test_the_outcome_needs_a_locked_shortlist(world: World) -> None:
    shortlist = world.add().shortlist
    with pytest.raises(service.ShortlistError, match="Lock the shortlist"):
        service.record_outcome(shortlist, actor=world.user, outcome="awarded",
                               awarded_supplier_id=world.suppliers[0].id, awarded_value=1)


def test_recording_an_award(world: World) -> None:
    shortlist, _entry = _locked(world)
    service.record_outcome(shortlist, actor=world.colleague, outcome="awarded",
                           awarded_supplier_id=world.suppliers[1].id, awarded_value=250_000,
                           note="Best value")
    assert shortlist.outcome == "awarded"
    assert shortlist.awarded_supplier_id == world.suppliers[1].id
    assert shortlist.awarded_value == 250_000
    assert shortlist.outcome_by_id == world.colleague.id
    assert shortlist.outcome_at is not None
    last = service.audit_trail(shortlist)[-1]
    assert last.label == "Outcome recorded"
    assert last.summary == "Awarded to Mid Insulation Ltd, £250,000.00"
    with pytest.raises(service.ShortlistError, match="already been recorded"):
        service.record_outcome(shortlist, actor=world.user, outcome="none_suitable", note="x")


def test_recording_none_suitable_needs_a_note(world: World) -> None:
    shortlist, _entry = _locked(world)
    with pytest.raises(service.ShortlistError, match="why none"):
        service.record_outcome(shortlist, actor=world.user, outcome="none_suitable")
    service.record_outcome(shortlist, actor=world.user, outcome="none_suitable",
                           note="All over budget")
    assert (shortlist.outcome, shortlist.awarded_supplier_id) == ("none_suitable", None)
    assert service.audit_trail(shortlist)[-1].summary == "None suitable: All over budget"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"outcome": "maybe"}, "Choose whether"),
    ({"outcome": "awarded", "awarded_value": 10}, "Choose the supplier"),
    ({"outcome": "awarded", "awarded_supplier_id": -1, "awarded_value": 10}, "Choose the supplier"),
    ({"outcome": "awarded", "awarded_supplier_id": 0}, "contract value"),
    ({"outcome": "awarded", "awarded_supplier_id": 0, "awarded_value": -5}, "contract value"),
    ({"outcome": "awarded", "awarded_supplier_id": 0, "awarded_value": float("nan")},
     "contract value"),
])
def test_an_award_is_checked(world: World, kwargs: dict[str, Any], message: str) -> None:
    shortlist, entry = _locked(world)
    if kwargs.get("awarded_supplier_id") == 0:
        kwargs["awarded_supplier_id"] = entry.supplier_id
    with pytest.raises(service.ShortlistError, match=message):
        service.record_outcome(shortlist, actor=world.user, **kwargs)
    assert shortlist.outcome is None


def test_a_removed_supplier_cannot_be_awarded(world: World) -> None:
    result = world.add()
    removed = world.add(world.suppliers[1], shortlist=result.shortlist).entry
    service.remove_entry(removed, actor=world.user, reason="x")
    service.lock_shortlist(result.shortlist, actor=world.user, directory=world.directory)
    with pytest.raises(service.ShortlistError, match="Choose the supplier"):
        service.record_outcome(result.shortlist, actor=world.user, outcome="awarded",
                               awarded_supplier_id=removed.supplier_id, awarded_value=1)


def _award(world: World, supplier: Supplier, *, days_ago: int) -> None:
    result = world.add(supplier, new_shortlist_name=f"Award {supplier.name} {days_ago}")
    service.lock_shortlist(result.shortlist, actor=world.user, directory=world.directory)
    service.record_outcome(result.shortlist, actor=world.user, outcome="awarded",
                           awarded_supplier_id=supplier.id, awarded_value=1000)
    result.shortlist.outcome_at = utcnow() - dt.timedelta(days=days_ago)
    db.session.flush()


def test_recent_awards_counts_the_last_12_months(world: World) -> None:
    a, b, c = world.suppliers
    _award(world, a, days_ago=10)
    _award(world, a, days_ago=200)
    _award(world, a, days_ago=400)
    _award(world, b, days_ago=30)
    none = world.add(c, new_shortlist_name="Nobody").shortlist
    service.lock_shortlist(none, actor=world.user, directory=world.directory)
    service.record_outcome(none, actor=world.user, outcome="none_suitable", note="x")

    assert service.recent_awards([a.id, b.id, c.id, world.unmatched.id]) == {
        a.id: 2, b.id: 1, c.id: 0, world.unmatched.id: 0}
    assert service.recent_awards([a.id], since=utcnow() - dt.timedelta(days=100)) == {a.id: 1}
    assert service.recent_awards([a.id], since=dt.date.today() - dt.timedelta(days=500)) == {
        a.id: 3}
    naive = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=100)
    assert service.recent_awards([a.id], since=naive) == {a.id: 1}
    assert service.recent_awards([]) == {}


# ---------------------------------------------------------------------------------------
# Correcting the outcome


def _awarded(world: World, *, value: float = 25_000, note: str = "") -> Shortlist:
    """A locked shortlist (Near and Mid) awarded to Near for ``value``."""
    shortlist, _entry = _locked(world)
    service.record_outcome(shortlist, actor=world.user, outcome="awarded",
                           awarded_supplier_id=world.suppliers[0].id, awarded_value=value,
                           note=note)
    return shortlist


def _outcome(shortlist: Shortlist) -> tuple[Any, ...]:
    return (shortlist.outcome, shortlist.awarded_supplier_id, shortlist.awarded_value,
            shortlist.outcome_note)


def _frozen(shortlist: Shortlist) -> tuple[Any, ...]:
    """Everything a lock froze, and who recorded the outcome when."""
    return (shortlist.status, shortlist.snapshot, shortlist.data_hash, shortlist.locked_at,
            shortlist.locked_by_id, shortlist.algorithm_version, shortlist.catalogue_version,
            shortlist.search_inputs, shortlist.outcome_at, shortlist.outcome_by_id,
            [(e.supplier_id, e.rank, e.score, e.breakdown, e.removed_at)
             for e in shortlist.entries])


def test_correcting_an_award_to_none_suitable_and_back(world: World) -> None:
    shortlist = _awarded(world)
    db.session.expire_all()  # as stored (SQLite hands back naive timestamps)
    frozen = copy.deepcopy(_frozen(shortlist))
    correction = service.correct_outcome(
        shortlist, actor=world.colleague, reason="Recorded before the award was made",
        outcome="none_suitable", note="Award not made yet")
    assert _outcome(shortlist) == ("none_suitable", None, None, "Award not made yet")
    assert correction["before"]["supplier_name"] == "Near Insulation Ltd"

    service.correct_outcome(
        shortlist, actor=world.user, reason="Awarded to Mid after all", outcome="awarded",
        awarded_supplier_id=world.suppliers[1].id, awarded_value=250_000, note="")
    assert _outcome(shortlist) == ("awarded", world.suppliers[1].id, 250_000, "")
    # The lock and the first recording stand; only the outcome changed.
    db.session.expire_all()
    assert _frozen(shortlist) == frozen
    assert shortlist.outcome_by_id == world.user.id
    trail = service.audit_trail(shortlist)
    assert [(t.label, t.actor, t.summary) for t in trail[-3:]] == [
        ("Outcome recorded", "Ada Member", "Awarded to Near Insulation Ltd, £25,000.00"),
        ("Outcome corrected", "Colleague",
         "Awarded to Near Insulation Ltd, £25,000.00 → none suitable; note added. "
         "Reason: Recorded before the award was made"),
        ("Outcome corrected", "Ada Member",
         "None suitable → awarded to Mid Insulation Ltd, £250,000.00; note removed. "
         "Reason: Awarded to Mid after all"),
    ]


def test_a_correction_is_audited_with_before_after_and_reason(world: World) -> None:
    shortlist = _awarded(world, note="Best value")
    service.correct_outcome(shortlist, actor=world.user, reason="Wrong supplier clicked",
                            outcome="awarded", awarded_supplier_id=world.suppliers[1].id,
                            awarded_value=25_000, note="Best value")
    event = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "shortlist.outcome_corrected")).one()
    assert (event.actor_id, event.organisation_id, event.object_id) == (
        world.user.id, world.user.organisation_id, str(shortlist.id))
    assert event.details == {
        "before": {"outcome": "awarded", "supplier_id": world.suppliers[0].id,
                   "supplier_name": "Near Insulation Ltd", "value": 25_000,
                   "note": "Best value"},
        "after": {"outcome": "awarded", "supplier_id": world.suppliers[1].id,
                  "supplier_name": "Mid Insulation Ltd", "value": 25_000, "note": "Best value"},
        "reason": "Wrong supplier clicked",
    }
    [correction] = service.outcome_corrections(shortlist)
    assert correction["corrected_by"] == "Ada Member"
    assert correction["reason"] == "Wrong supplier clicked"
    assert correction["before"] == event.details["before"]
    assert correction["after"] == event.details["after"]
    assert dt.datetime.fromisoformat(correction["corrected_at"]).tzinfo is not None


@pytest.mark.parametrize(("change", "summary"), [
    ({"awarded_value": 250_000},
     "Awarded to Near Insulation Ltd, £25,000.00 → awarded to Near Insulation Ltd, "
     "£250,000.00"),
    ({"awarded_supplier_id": 1},
     "Awarded to Near Insulation Ltd, £25,000.00 → awarded to Mid Insulation Ltd, "
     "£25,000.00"),
    ({"note": "Framework call-off 7"}, "Note added"),
    ({"awarded_value": 25_000.5, "note": "Framework call-off 7"},
     "Awarded to Near Insulation Ltd, £25,000.00 → awarded to Near Insulation Ltd, "
     "£25,000.50; note added"),
], ids=["value", "supplier", "note", "value and note"])
def test_each_part_of_an_award_can_be_corrected(
    world: World, change: dict[str, Any], summary: str
) -> None:
    shortlist = _awarded(world)
    wanted: dict[str, Any] = {"outcome": "awarded", "awarded_supplier_id": 0,
                              "awarded_value": 25_000, "note": "", **change}
    wanted["awarded_supplier_id"] = world.suppliers[wanted["awarded_supplier_id"]].id
    service.correct_outcome(shortlist, actor=world.user, reason="Typo", **wanted)
    assert _outcome(shortlist) == ("awarded", wanted["awarded_supplier_id"],
                                   wanted["awarded_value"], wanted["note"])
    assert service.audit_trail(shortlist)[-1].summary == f"{summary}. Reason: Typo"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"reason": ""}, "Enter the reason for the correction"),
    ({"reason": "   "}, "Enter the reason for the correction"),
    ({"reason": "x" * (service.MAX_TEXT_CHARS + 1)}, "5,000 characters or fewer"),
    ({"outcome": "maybe"}, "Choose whether"),
    ({"outcome": "none_suitable", "note": ""}, "Enter why none of the suppliers was suitable"),
    ({"awarded_supplier_id": "unmatched"}, "Choose the supplier"),
    ({"awarded_supplier_id": None}, "Choose the supplier"),
    ({"awarded_value": -1}, "contract value"),
    ({"awarded_value": float("inf")}, "contract value"),
    ({"awarded_value": None}, "contract value"),
    ({"note": "n" * (service.MAX_TEXT_CHARS + 1)}, "5,000 characters or fewer"),
    ({}, "The outcome is the same as the one recorded"),
    ({"note": "  "}, "The outcome is the same as the one recorded"),  # notes are stripped
])
def test_a_correction_is_checked_and_a_refused_one_changes_nothing(
    world: World, kwargs: dict[str, Any], message: str
) -> None:
    shortlist = _awarded(world)
    wanted: dict[str, Any] = {"reason": "Typo", "outcome": "awarded",
                              "awarded_supplier_id": world.suppliers[0].id,
                              "awarded_value": 25_000, "note": "", **kwargs}
    if wanted["awarded_supplier_id"] == "unmatched":
        wanted["awarded_supplier_id"] = world.unmatched.id  # not on the shortlist
    before, version = _outcome(shortlist), version_token()
    with pytest.raises(service.ShortlistError, match=message):
        service.correct_outcome(shortlist, actor=world.user, **wanted)
    assert _outcome(shortlist) == before
    assert version_token() == version
    assert "shortlist.outcome_corrected" not in _events(shortlist)


def test_only_a_recorded_outcome_of_a_locked_shortlist_can_be_corrected(world: World) -> None:
    correction = {"reason": "x", "outcome": "none_suitable", "note": "x"}
    draft = world.add().shortlist
    with pytest.raises(service.ShortlistError, match="A draft shortlist has no outcome"):
        service.correct_outcome(draft, actor=world.user, **correction)
    locked, _entry = _locked(world)
    with pytest.raises(service.ShortlistError, match="No outcome has been recorded"):
        service.correct_outcome(locked, actor=world.user, **correction)
    assert draft.outcome is None and locked.outcome is None
    assert "shortlist.outcome_corrected" not in _events(draft) + _events(locked)


@pytest.mark.parametrize("who", ["other", "admin"])
def test_only_the_owning_organisation_corrects_an_outcome(world: World, who: str) -> None:
    shortlist = _awarded(world)
    with pytest.raises(service.ShortlistError, match="Only its organisation"):
        service.correct_outcome(shortlist, actor=getattr(world, who), reason="x",
                                outcome="none_suitable", note="x")
    assert shortlist.outcome == "awarded"


def _awards_in_the_index(world: World) -> dict[int, int]:
    """Each ranked supplier's recent awards as the matching index has them."""
    query, _location = parse_search(SEARCH, directory=world.directory)
    return {r.supplier_id: r.recent_awards for r in run_search(query).results}


def test_a_correction_moves_the_award_in_fair_rotation(world: World) -> None:
    near, mid, far = world.suppliers
    shortlist = _awarded(world)
    ids = [near.id, mid.id, far.id]
    assert service.recent_awards(ids) == {near.id: 1, mid.id: 0, far.id: 0}
    assert _awards_in_the_index(world) == {near.id: 1, mid.id: 0, far.id: 0}

    version = version_token()
    service.correct_outcome(shortlist, actor=world.user, reason="Wrong supplier",
                            outcome="awarded", awarded_supplier_id=mid.id,
                            awarded_value=25_000)
    assert version_token() != version  # every worker rebuilds its index
    assert service.recent_awards(ids) == {near.id: 0, mid.id: 1, far.id: 0}
    assert _awards_in_the_index(world) == {near.id: 0, mid.id: 1, far.id: 0}

    version = version_token()
    service.correct_outcome(shortlist, actor=world.user, reason="Typo", outcome="awarded",
                            awarded_supplier_id=mid.id, awarded_value=26_000)
    assert version_token() == version  # the value is not part of the index

    service.correct_outcome(shortlist, actor=world.user, reason="Not awarded yet",
                            outcome="none_suitable", note="Waiting for the board")
    assert version_token() != version
    assert service.recent_awards(ids) == {near.id: 0, mid.id: 0, far.id: 0}
    assert _awards_in_the_index(world) == {near.id: 0, mid.id: 0, far.id: 0}


def test_a_correction_keeps_the_awards_date(world: World) -> None:
    near, mid, _far = world.suppliers
    shortlist = _awarded(world)
    shortlist.outcome_at = utcnow() - dt.timedelta(days=400)  # outside the 12 months
    db.session.flush()
    service.correct_outcome(shortlist, actor=world.user, reason="Wrong supplier",
                            outcome="awarded", awarded_supplier_id=mid.id, awarded_value=1000)
    assert service.recent_awards([near.id, mid.id]) == {near.id: 0, mid.id: 0}
    assert service.recent_awards([mid.id], since=utcnow() - dt.timedelta(days=500)) == {
        mid.id: 1}


# ---------------------------------------------------------------------------------------
# Search inputs, audit trail


def test_search_params_from_a_query_string() -> None:
    params = service.search_params_from_query_string(
        "?need=fire+doors&postcode=L34+1AB&cpv_codes=45421100&cpv_codes=45343000"
        "&radius_km=25&lots=L1&social_value=SV-APP%3A2&social_value=SV-SPEND%3A1"
        "&weights=capability%3D0.7%2Cdistance%3D0.3&sme_only=y&page=3&limit=50&junk=1"
        "&required_accreditations=CHAS&local_authorities=&latitude=53.4"
    )
    assert params == {
        "need": "fire doors", "postcode": "L34 1AB",
        "cpv_codes": ["45421100", "45343000"], "radius_km": "25", "lots": ["L1"],
        "social_value": ["SV-APP:2", "SV-SPEND:1"], "weights": "capability=0.7,distance=0.3",
        "sme_only": "y", "required_accreditations": ["CHAS"], "lat": "53.4",
    }


def test_describe_search_names_options_from_the_catalogue(world: World) -> None:
    shortlist = world.add(search_params={**SEARCH, "sme_only": True, "lots": ["L1"]}).shortlist
    lines = dict(service.describe_search(shortlist.search_inputs))
    assert lines["Need"] == NEED
    assert lines["Radius"] == "50 km"
    assert lines["Social value"] == "Apprenticeship weeks (weight 2)"
    assert lines["Estimated contract value"] == "£500,000"
    assert lines["Filters"] == "SME only"
    assert lines["Lots"] == "L1"
    assert lines["Location"] == "53.41000, -2.90000"


def test_the_trail_is_scoped_to_the_owning_organisation(world: World) -> None:
    shortlist = world.add().shortlist
    record_event("shortlist.exported", actor=world.other,
                 organisation_id=world.other.organisation_id, object_type="shortlist",
                 object_id=shortlist.id, details={"format": "csv"})
    record_event("shortlist.exported", actor=world.admin, organisation_id=None,
                 object_type="shortlist", object_id=shortlist.id, details={"format": "pdf"})
    trail = service.audit_trail(shortlist)
    assert [(t.label, t.actor) for t in trail] == [
        ("Shortlist created", "Ada Member"), ("Search run", "Ada Member"),
        ("Supplier added", "Ada Member"), ("Shortlist exported", "Framework Admin")]
    assert trail[-1].summary == "As PDF"


def test_record_event_stores_plain_json(app_context: Flask) -> None:
    import decimal

    event_id = record_event("thing.done", actor=None, organisation_id=None, object_type="thing",
                            object_id=7, details={"on": dt.date(2026, 1, 2),
                                                  "amount": decimal.Decimal("1.5"),
                                                  "status": ShortlistStatus.LOCKED,
                                                  "codes": {"b", "a"}})
    event = db.session.get(AuditEvent, event_id)
    assert event is not None and event.object_id == "7"
    assert event.details == {"on": "2026-01-02", "amount": 1.5, "status": "locked",
                             "codes": ["a", "b"]}
    assert event.id is not None and event.at is not None
    with pytest.raises(TypeError):
        record_event("thing.done", actor=None, organisation_id=None, object_type="thing",
                     details={"bad": object()})
