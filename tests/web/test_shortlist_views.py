"""Shortlist pages: status codes, forms and errors, locking, exports, organisation isolation."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook

from tests.conftest import AuthActions
from tests.web.db_faults import cut_first_commit
from tests.web.sql_recorder import statements_after_commit
from tests.web.test_shortlists_service import SEARCH, World, make_world
from web.extensions import db
from web.forms import search as search_form
from web.models import AuditEvent, Shortlist, ShortlistEntry, ShortlistStatus, Site
from web.models.base import utcnow
from web.services import matching
from web.services import shortlists as service
from web.services.matching import parse_search, run_search

# The results page's query string, in the search form's names.
RESULTS_QUERY = urlencode({
    "need": "external wall insulation", "site": "postcode", "postcode": "L34 1AB",
    "local": "radius", "radius": "50", "value": "500000", "sv-SV-APP": "2",
    "weight_capability": "60", "weight_distance": "25", "weight_social_value": "15",
})


@dataclass
class Ids:
    """What the tests need, as ids (objects expire when the view commits)."""

    world: World
    user: int
    other: int
    admin: int
    suppliers: list[int]
    unmatched: int


@pytest.fixture(autouse=True)
def _fresh_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables are emptied between tests, so data versions restart: rebuild what they key."""
    monkeypatch.setattr(matching, "_cache", None)
    monkeypatch.setattr(search_form, "_register_cache", {})


@pytest.fixture
def ids(app_context: Flask) -> Iterator[Ids]:
    world = make_world(app_context)
    db.session.commit()
    yield Ids(world, world.user.id, world.other.id, world.admin.id,
              [s.id for s in world.suppliers], world.unmatched.id)


def _login(auth: AuthActions, user_id: int) -> None:
    from web.models import User

    user = db.session.get(User, user_id)
    assert user is not None
    auth.login_as(user)


def _add(client: FlaskClient, supplier_id: int, **form: Any) -> Any:
    data = {"supplier_id": supplier_id, "search": RESULTS_QUERY, "shortlist_id": "",
            "new_shortlist_name": "Walls 2027", "reason": "Close by", **form}
    return client.post("/shortlists/add", data=data)


def _draft(ids: Ids, *, actor: str = "user", suppliers: int = 2) -> int:
    """A committed draft of ``actor``'s organisation with the first ``suppliers``."""
    world = ids.world
    user = world.user if actor == "user" else world.other
    result = world.add(actor=user, new_shortlist_name=f"{actor}'s list")
    for supplier in world.suppliers[1:suppliers]:
        world.add(supplier, actor=user, shortlist=result.shortlist)
    db.session.commit()
    return result.shortlist.id


def _locked(ids: Ids) -> int:
    shortlist_id = _draft(ids)
    shortlist = db.session.get(Shortlist, shortlist_id)
    assert shortlist is not None
    service.lock_shortlist(shortlist, actor=ids.world.user, directory=ids.world.directory)
    db.session.commit()
    return shortlist_id


def _flashes(client: FlaskClient) -> list[tuple[str, str]]:
    with client.session_transaction() as session:
        return list(session.get("_flashes", []))


# ---------------------------------------------------------------------------------------
# Signed out, lists


@pytest.mark.parametrize("path", ["/shortlists", "/shortlists/1", "/shortlists/1/export.csv",
                                  "/shortlists/1/lock", "/shortlists/1/outcome/correct",
                                  "/shortlists/1/delete", "/shortlists/add"])
def test_signed_out_visitors_are_sent_to_sign_in(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert "/sign-in" in response.headers["Location"]


def test_the_list_shows_the_organisations_own_shortlists(
    client: FlaskClient, auth: AuthActions, ids: Ids
) -> None:
    mine = _draft(ids)
    _draft(ids, actor="other")
    _login(auth, ids.user)
    page = client.get("/shortlists").get_data(as_text=True)
    assert f'href="/shortlists/{mine}"' in page
    assert "user&#39;s list" in page
    assert "other&#39;s list" not in page
    assert "govuk-tag--blue\">Draft" in page


def _bare_shortlists(ids: Ids, count: int, *, actor: str = "user", name: str = "List") -> None:
    """``count`` empty drafts of ``actor``'s organisation, oldest first, committed."""
    user = ids.world.user if actor == "user" else ids.world.other
    start = utcnow() - dt.timedelta(days=1)
    for n in range(count):
        db.session.add(Shortlist(
            organisation_id=user.organisation_id, created_by_id=user.id, name=f"{name} {n:02d}",
            notes="", search_inputs={}, status=ShortlistStatus.DRAFT,
            created_at=start + dt.timedelta(minutes=n)))
    db.session.commit()


def test_the_list_comes_a_page_at_a_time(client: FlaskClient, auth: AuthActions, ids: Ids) -> None:
    _bare_shortlists(ids, service.LIST_PAGE_SIZE + 2)
    _login(auth, ids.user)
    first = client.get("/shortlists").get_data(as_text=True)
    assert "27 shortlists." in first
    assert "List 26" in first and "List 02" in first and "List 01" not in first
    assert 'href="/shortlists?page=2"' in first and "govuk-pagination" in first
    second = client.get("/shortlists?page=2").get_data(as_text=True)
    assert "List 01" in second and "List 00" in second and "List 02" not in second
    beyond = client.get("/shortlists?page=99").get_data(as_text=True)
    assert "There is no page 99" in beyond


def test_the_list_finds_shortlists_by_name_and_status(
    client: FlaskClient, auth: AuthActions, ids: Ids
) -> None:
    locked = _locked(ids)
    _bare_shortlists(ids, 3, name="Roofs")
    _login(auth, ids.user)
    found = client.get("/shortlists?q=roofs").get_data(as_text=True)
    assert "3 shortlists found." in found and "Roofs 00" in found
    assert f'href="/shortlists/{locked}"' not in found
    assert 'value="roofs"' in found  # the form keeps what was asked
    only_locked = client.get("/shortlists?status=locked").get_data(as_text=True)
    assert "1 shortlist found." in only_locked and f'href="/shortlists/{locked}"' in only_locked
    none = client.get("/shortlists?q=nothing+like+it").get_data(as_text=True)
    assert "No shortlist matches" in none and "Show every shortlist" in none
    # Values the form does not offer are ignored, not an error.
    odd = client.get("/shortlists?status=open&organisation=abc&page=x")
    assert odd.status_code == 200 and "4 shortlists." in odd.get_data(as_text=True)
    assert 'name="organisation"' not in odd.get_data(as_text=True)  # admins only


def test_an_admin_finds_an_organisations_shortlists(
    client: FlaskClient, auth: AuthActions, ids: Ids
) -> None:
    _bare_shortlists(ids, 2, name="Ours")
    _bare_shortlists(ids, 3, actor="other", name="Theirs")
    other_org = ids.world.other.organisation_id
    _login(auth, ids.admin)
    everything = client.get("/shortlists").get_data(as_text=True)
    assert "5 shortlists." in everything and 'name="organisation"' in everything
    theirs = client.get(f"/shortlists?organisation={other_org}&page=1").get_data(as_text=True)
    assert "3 shortlists found." in theirs and "Ours 00" not in theirs
    assert f'<option value="{other_org}" selected>' in theirs


def test_an_empty_list_says_so(client: FlaskClient, auth: AuthActions, ids: Ids) -> None:
    _login(auth, ids.user)
    assert 'id="no-shortlists"' in client.get("/shortlists").get_data(as_text=True)


def test_admins_read_every_shortlist_but_change_none(
    client: FlaskClient, auth: AuthActions, ids: Ids
) -> None:
    mine = _draft(ids)
    _draft(ids, actor="other")
    _login(auth, ids.admin)
    page = client.get("/shortlists").get_data(as_text=True)
    assert "user&#39;s list" in page and "other&#39;s list" in page
    assert "Knowsley Homes" in page
    detail = client.get(f"/shortlists/{mine}")
    assert detail.status_code == 200
    assert "Lock shortlist" not in detail.get_data(as_text=True)
    assert client.get(f"/shortlists/{mine}/export.json").status_code == 200
    assert client.get(f"/shortlists/{mine}/edit").status_code == 403
    assert client.post(f"/shortlists/{mine}/lock").status_code == 403
    assert client.post(f"/shortlists/{mine}/delete").status_code == 403
    assert "Delete draft" not in detail.get_data(as_text=True)
    assert client.post("/shortlists/add", data={"supplier_id": ids.suppliers[0]}).status_code == 403


# ---------------------------------------------------------------------------------------
# Add from a search


def test_adding_from_the_results_page_re_runs_its_search(
    client: FlaskClient, auth: AuthActions, ids: Ids
) -> None:
    _login(auth, ids.user)
    response = _add(client, ids.suppliers[1])
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == "/search/results"
    assert parse_qs(location.query) == parse_qs(RESULTS_QUERY)
    [(category, message)] = _flashes(client)
    assert category == "success"
    shortlist = db.session.scalars(sa.select(Shortlist)).one()
    assert message.startswith("Added Mid Insulation Ltd to shortlist <a ")
    assert f'href="/shortlists/{shortlist.id}">Walls 2027</a>' in message

    entry = shortlist.entries[0]
    params = {"need": "external wall insulation", "postcode": "L34 1AB", "radius_km": 50.0,
              "contract_value": 500000, "social_value": [{"code": "SV-APP", "weight": 2}],
              "weights": {"capability": 60, "distance": 25, "social_value": 15}}
    query, _ = parse_search(params, directory=ids.world.directory)
    expected = next(r for r in run_search(query).results if r.supplier_id == ids.suppliers[1])
    assert (entry.rank, entry.score) == (expected.rank, round(expected.score, 2))
    assert entry.reason_added == "Close by"
    inputs = shortlist.search_inputs
    assert inputs["query_string"] == RESULTS_QUERY
    assert inputs["params"]["postcode"] == "L34 1AB"
    assert inputs["location"]["postcode"] == "L34 1AB"
    assert inputs["social_value"] == [{"code": "SV-APP", "weight": 2.0}]


# What each write posts (given the shortlist the case starts from), the message it
# flashes, and the audit events it records: the cases of the test below.
CUT_WRITES: dict[str, tuple[str, Any, str, list[str]]] = {
    "add to a new shortlist": (
        "none", lambda c, sid, ids: _add(c, ids.suppliers[1]),
        "Added Mid Insulation Ltd to shortlist",
        ["shortlist.created", "shortlist.search_run", "shortlist.entry_added"]),
    "add to a draft": (
        "draft of one", lambda c, sid, ids: _add(c, ids.suppliers[1], shortlist_id=str(sid)),
        "Added Mid Insulation Ltd to shortlist", ["shortlist.entry_added"]),
    "edit": (
        "draft", lambda c, sid, ids: c.post(f"/shortlists/{sid}/edit",
                                            data={"name": "Renamed", "notes": "New"}),
        "Changes saved.", ["shortlist.edited"]),
    # no event, and nothing written: cut off anywhere, it simply runs again
    "edit, nothing changed": (
        "draft", lambda c, sid, ids: c.post(f"/shortlists/{sid}/edit",
                                            data={"name": "user's list", "notes": ""}),
        "Nothing changed.", []),
    "remove": (
        "draft", lambda c, sid, ids: c.post(
            f"/shortlists/{sid}/entries/{_first_entry(sid)}/remove", data={"reason": "Far"}),
        "Removed Near Insulation Ltd from the shortlist.", ["shortlist.entry_removed"]),
    "delete a draft": (
        "draft", lambda c, sid, ids: c.post(f"/shortlists/{sid}/delete"),
        "Draft “user's list” deleted.", ["shortlist.deleted"]),
    "lock": (
        "draft", lambda c, sid, ids: c.post(f"/shortlists/{sid}/lock"),
        "Shortlist “user's list” is locked.", ["shortlist.search_run", "shortlist.locked"]),
    "record the outcome": (
        "locked", lambda c, sid, ids: c.post(f"/shortlists/{sid}/outcome", data={
            "outcome": "awarded", "supplier_id": str(ids.suppliers[1]), "value": "£250,000"}),
        "Outcome recorded.", ["shortlist.outcome_recorded"]),
    "correct the outcome": (
        "with outcome", lambda c, sid, ids: c.post(f"/shortlists/{sid}/outcome/correct", data={
            "outcome": "none_suitable", "note": "Board has not decided",
            "reason": "Recorded too soon"}),
        "Outcome corrected.", ["shortlist.outcome_corrected"]),
}


def _first_entry(shortlist_id: int) -> int:
    shortlist = db.session.get(Shortlist, shortlist_id)
    assert shortlist is not None
    return shortlist.entries[0].id


def _starting_shortlist(ids: Ids, start: str) -> int:
    return {"none": lambda: 0, "draft of one": lambda: _draft(ids, suppliers=1),
            "draft": lambda: _draft(ids), "locked": lambda: _locked(ids),
            "with outcome": lambda: _with_outcome(ids)}[start]()


@pytest.mark.parametrize("write", list(CUT_WRITES))
def test_a_write_reads_nothing_after_its_commit(
    client: FlaskClient, auth: AuthActions, ids: Ids, write: str
) -> None:
    """The flash message and the way on are made before the commit: a read after it, cut
    off by a database restart, would answer 503 for a change that was made."""
    start, post, message, _actions = CUT_WRITES[write]
    shortlist_id = _starting_shortlist(ids, start)
    _login(auth, ids.user)
    with statements_after_commit(db.engine) as recorder:
        response = post(client, shortlist_id, ids)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert recorder.committed
    assert recorder.after == []
    [(_category, flashed)] = _flashes(client)
    assert flashed.startswith(message)


@pytest.mark.parametrize("went_through", [True, False], ids=["went through", "cut before"])
@pytest.mark.parametrize("write", list(CUT_WRITES))
def test_a_write_cut_off_in_its_commit_answers_as_it_would_have_once(
    client: FlaskClient, auth: AuthActions, ids: Ids, monkeypatch: pytest.MonkeyPatch,
    write: str, went_through: bool,
) -> None:
    """A database restart can cut the connection while a page's write commits. Went
    through, the answer made before the commit is given (its first audit event, keyed by
    the request, shows it was kept); cut before, the view runs again. Either way the
    member sees the page and the message they would have, and the change is made once.
    Before, both answered 503. A write that wrote nothing runs again either way."""
    start, post, message, actions = CUT_WRITES[write]
    shortlist_id = _starting_shortlist(ids, start)
    events_before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    _login(auth, ids.user)
    runs = cut_first_commit(monkeypatch, went_through=went_through)
    response = post(client, shortlist_id, ids)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert len(runs) == (1 if went_through and actions else 2)
    [(category, flashed)] = _flashes(client)
    assert category == "success" and flashed.startswith(message)
    db.session.expire_all()
    events = db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)
                                .offset(events_before)).all()
    assert events == actions
    shortlists = db.session.scalars(sa.select(Shortlist).order_by(Shortlist.id)).all()
    if start == "none":
        assert response.headers["Location"].startswith("/search/results?")
        assert len(shortlists) == 1 and len(shortlists[0].entries) == 1
    elif write == "delete a draft":
        assert shortlists == [] and response.headers["Location"] == "/shortlists"
    else:
        assert len(shortlists) == 1
        if write != "add to a draft":
            assert response.headers["Location"] == f"/shortlists/{shortlist_id}"


def test_adding_from_a_site_records_the_site(
    client: FlaskClient, auth: AuthActions, ids: Ids
) -> None:
    site = Site(organisation_id=ids.world.user.organisation_id, name="Head office",
                postcode="L34 1AB", latitude=53.41, longitude=-2.90)
    db.session.add(site)
    db.session.commit()
    _login(auth, ids.user)
    query = RESULTS_QUERY.replace("site=postcode", f"site={site.id}")
    assert _add(client, ids.suppliers[0], search=query).status_code == 303
    shortlist = db.session.scalars(sa.select(Shortlist)).one()
    assert shortlist.search_inputs["location"]["site"] == "Head office, L34 1AB"
    assert shortlist.search_inputs["params"]["lat"] == 53.41
    assert shortlist.entries[0].rank == 1


def test_adding_with_plain_search_keys_and_to_an_existing_draft(
    client: FlaskClient, auth: AuthActions, ids: Ids
) -> None:
    draft = _draft(ids, suppliers=1)
    _login(auth, ids.user)
    plain = urlencode({**SEARCH, "social_value": "SV-APP:2"})
    response = _add(client, ids.suppliers[2], search=plain, shortlist_id=str(draft),
                    new_shortlist_name="")
    assert response.status_code == 303
    shortlist = db.session.get(Shortlist, draft)
    assert shortlist is not None
    assert [e.supplier_id for e in shortlist.entries] == ids.suppliers[:1] + ids.suppliers[2:3]
    assert shortlist.entries[1].rank == 3


def test_adding_a_supplier_the_search_does_not_rank_says_so(
    client: FlaskClient, auth: AuthActions, ids: Ids
) -> None:
    _login(auth, ids.user)
    assert _add(client, ids.unmatched).status_code == 303
    [(_category, message)] = _flashes(client)
    assert "did not rank this supplier" in message
    assert db.session.scalars(sa.select(ShortlistEntry)).one().score is None


def test_the_add_page_shows_the_choice(client: FlaskClient, auth: AuthActions, ids: Ids) -> None:
    _draft(ids)
    _login(auth, ids.user)
    query = urlencode({"supplier_id": ids.suppliers[2], "search": RESULTS_QUERY})
    page = client.get(f"/shortlists/add?{query}").get_data(as_text=True)
    assert "Add Far Insulation Ltd to a shortlist" in page
    assert "user&#39;s list" in page and "A new shortlist" in page
    assert 'href="/search/results?need=external+wall+insulation' in page


@pytest.mark.parametrize(("form", "error"), [
    ({"new_shortlist_name": ""}, "Enter a name for the new shortlist"),
    ({"shortlist_id": "abc"}, "Choose one of your draft shortlists"),
    ({"supplier_id": ""}, "Choose a supplier to add"),
    ({"reason": "x" * 5001}, "5000 characters"),
    ({"search": RESULTS_QUERY.replace("L34+1AB", "ZZ99+9ZZ")}, "The search could not be run"),
    ({"supplier_id": 999_999}, "That supplier is not on the register"),
])
def test_adding_shows_errors(
    client: FlaskClient, auth: AuthActions, ids: Ids, form: dict[str, Any], error: str
) -> None:
    _login(auth, ids.user)
    response = _add(client, form.pop("supplier_id", ids.suppliers[0]), **form)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "govuk-error-summary" in page and error in page
    assert page.count("<title>Error: ") == 1 or "Error:" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Shortlist)) == 0


def test_adding_twice_shows_an_error(client: FlaskClient, auth: AuthActions, ids: Ids) -> None:
    draft = _draft(ids, suppliers=1)
    _login(auth, ids.user)
    response = _add(client, ids.suppliers[0], shortlist_id=str(draft))
    assert response.status_code == 400
    assert "Near Insulation Ltd is already on shortlist" in response.get_data(as_text=True)


def test_adding_to_a_locked_shortlist_is_a_conflict(
    client: FlaskClient, auth: AuthActions, ids: Ids
) -> None:
    locked = _locked(ids)
    _login(auth, ids.user)
    response = _add(client, ids.suppliers[2], shortlist_id=str(locked))
    assert response.status_code == 409
    assert "is locked, so it cannot be changed" in response.get_data(as_text=True)


# ---------------------------------------------------------------------------------------
# Detail, edit, remove


def test_the_detail_page_explains_the_shortlist(
    client: FlaskClient, auth: AuthActions, ids: Ids
) -> None:
    shortlist_id = _draft(ids, suppliers=3)
    shortlist = db.session.get(Shortlist, shortlist_id)
    assert shortlist is not None
    service.remove_entry(shortlist.entries[2], actor=ids.world.user, reason="Too far away")
    service.update_shortlist(shortlist, actor=ids.world.user, name=shortlist.name,
                             notes="Call them on Monday")
    db.session.commit()
    _login(auth, ids.user)
    page = client.get(f"/shortlists/{shortlist_id}").get_data(as_text=True)
    assert "1. Near Insulation Ltd" in page and "2. Mid Insulation Ltd" in page
    assert "<del>Far Insulation Ltd</del>" in page and "Too far away" in page
    assert "How the score adds up" in page and "Capability" in page
    assert "Call them on Monday" in page
    assert "external wall insulation" in page and "50 km" in page
    for label in ("Shortlist created", "Search run", "Supplier added", "Supplier removed",
                  "Shortlist edited"):
        assert label in page
    assert f'/shortlists/{shortlist_id}/export.xlsx' in page
    assert "style=" not in page and "<script>" not in page


def test_an_unknown_shortlist_is_not_found(
    client: FlaskClient, auth: AuthActions, ids: Ids
) -> None:
    _login(auth, ids.user)
    assert client.get("/shortlists/999999").status_code == 404


def test_editing_name_and_notes(client: FlaskClient, auth: AuthActions, ids: Ids) -> None:
    shortlist_id = _draft(ids)
    _login(auth, ids.user)
    assert client.get(f"/shortlists/{shortlist_id}/edit").status_code == 200
    response = client.post(f"/shortlists/{shortlist_id}/edit",
                           data={"name": "Renamed", "notes": "New notes"})
    assert response.status_code == 303
    assert _flashes(client) == [("success", "Changes saved.")]
    shortlist = db.session.get(Shortlist, shortlist_id)
    assert shortlist is not None
    db.session.refresh(shortlist)
    assert (shortlist.name, shortlist.notes) == ("Renamed", "New notes")

    response = client.post(f"/shortlists/{shortlist_id}/edit", data={"name": "", "notes": ""})
    assert response.status_code == 400
    assert "Enter a name for the shortlist" in response.get_data(as_text=True)
    assert 'href="#name"' in response.get_data(as_text=True)


def test_removing_a_supplier_needs_a_reason(
    client: FlaskClient, auth: AuthActions, ids: Ids
) -> None:
    shortlist_id = _draft(ids)
    shortlist = db.session.get(Shortlist, shortlist_id)
    assert shortlist is not None
    entry_id = shortlist.entries[0].id
    url = f"/shortlists/{shortlist_id}/entries/{entry_id}/remove"
    _login(auth, ids.user)
    assert "Remove Near Insulation Ltd" in client.get(url).get_data(as_text=True)
    response = client.post(url, data={"reason": " "})
    assert response.status_code == 400
    assert "Enter why you are removing this supplier" in response.get_data(as_text=True)
    response = client.post(url, data={"reason": "No capacity"})
    assert response.status_code == 303
    entry = db.session.get(ShortlistEntry, entry_id)
    assert entry is not None
    db.session.refresh(entry)
    assert entry.removed_at is not None and entry.reason_removed == "No capacity"
    assert client.get(url).status_code == 303  # already removed: back to the shortlist


def test_an_entry_of_another_shortlist_is_not_found(
    client: FlaskClient, auth: AuthActions, ids: Ids
) -> None:
    first, second = _draft(ids), _draft(ids)
    shortlist = db.session.get(Shortlist, second)
    assert shortlist is not None
    _login(auth, ids.user)
    url = f"/shortlists/{first}/entries/{shortlist.entries[0].id}/remove"
    assert client.get(url).status_code == 404


# ---------------------------------------------------------------------------------------
# Lock and outcome


def test_locking_asks_for_confirmation_then_freezes(
    client: FlaskClient, auth: AuthActions, ids: Ids
) -> None:
    shortlist_id = _draft(ids)
    _login(auth, ids.user)
    page = client.get(f"/shortlists/{shortlist_id}/lock").get_data(as_text=True)
    assert "govuk-warning-text" in page and "You cannot unlock a shortlist" in page
    response = client.post(f"/shortlists/{shortlist_id}/lock")
    assert response.status_code == 303
    assert _flashes(client) == [("success", "Shortlist “user's list” is locked.")]
    shortlist = db.session.get(Shortlist, shortlist_id)
    assert shortlist is not None
    db.session.refresh(shortlist)
    assert shortlist.status == ShortlistStatus.LOCKED and shortlist.data_hash
    page = client.get(f"/shortlists/{shortlist_id}").get_data(as_text=True)
    assert shortlist.data_hash in page and "Shortlist locked" in page
    assert 'id="data-unchanged"' in page
    assert "Record the outcome" in page


def test_deleting_a_draft_asks_for_confirmation_then_leaves_an_audit_record(
    client: FlaskClient, auth: AuthActions, ids: Ids
) -> None:
    shortlist_id = _draft(ids)
    kept = _draft(ids)
    entry_ids = db.session.scalars(sa.select(ShortlistEntry.id).where(
        ShortlistEntry.shortlist_id == shortlist_id)).all()
    _login(auth, ids.user)
    detail = client.get(f"/shortlists/{shortlist_id}").get_data(as_text=True)
    assert f'href="/shortlists/{shortlist_id}/delete"' in detail
    page = client.get(f"/shortlists/{shortlist_id}/delete").get_data(as_text=True)
    assert "govuk-warning-text" in page and "its 2 suppliers and its notes" in page

    response = client.post(f"/shortlists/{shortlist_id}/delete")

    assert response.status_code == 303 and response.headers["Location"] == "/shortlists"
    assert _flashes(client) == [("success", "Draft “user's list” deleted.")]
    db.session.expire_all()
    assert db.session.get(Shortlist, shortlist_id) is None
    assert db.session.scalars(sa.select(ShortlistEntry).where(
        ShortlistEntry.id.in_(entry_ids))).all() == []
    assert db.session.get(Shortlist, kept) is not None
    [event] = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "shortlist.deleted")).all()
    assert event.actor_id == ids.user and event.object_id == str(shortlist_id)
    assert event.details["name"] == "user's list"
    assert event.details["created_by_id"] == ids.user
    assert sorted(e["supplier_id"] for e in event.details["entries"]) == sorted(
        ids.suppliers[:2])
    assert client.get(f"/shortlists/{shortlist_id}").status_code == 404
    listing = client.get("/shortlists").get_data(as_text=True)
    assert f'href="/shortlists/{shortlist_id}"' not in listing
    assert f'href="/shortlists/{kept}"' in listing


@pytest.mark.parametrize(("method", "path", "data"), [
    ("get", "/edit", None),
    ("post", "/edit", {"name": "x", "notes": ""}),
    ("get", "/entries/{entry}/remove", None),
    ("post", "/entries/{entry}/remove", {"reason": "x"}),
    ("get", "/lock", None),
    ("post", "/lock", {}),
    ("get", "/delete", None),
    ("post", "/delete", {}),
])
def test_a_locked_shortlist_refuses_changes(
    client: FlaskClient, auth: AuthActions, ids: Ids, method: str, path: str,
    data: dict[str, str] | None,
) -> None:
    shortlist_id = _locked(ids)
    shortlist = db.session.get(Shortlist, shortlist_id)
    assert shortlist is not None
    url = f"/shortlists/{shortlist_id}" + path.format(entry=shortlist.entries[0].id)
    _login(auth, ids.user)
    response = getattr(client, method)(url, data=data)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/shortlists/{shortlist_id}"
    [(category, message)] = _flashes(client)
    assert category == "error" and "is locked, so it cannot be changed" in message


def test_locking_an_empty_shortlist_is_refused(
    client: FlaskClient, auth: AuthActions, ids: Ids
) -> None:
    shortlist_id = _draft(ids, suppliers=1)
    shortlist = db.session.get(Shortlist, shortlist_id)
    assert shortlist is not None
    service.remove_entry(shortlist.entries[0], actor=ids.world.user, reason="x")
    db.session.commit()
    _login(auth, ids.user)
    response = client.post(f"/shortlists/{shortlist_id}/lock")
    assert response.status_code == 303
    assert _flashes(client) == [
        ("error", "Add at least one supplier before locking the shortlist")]


def test_the_outcome_comes_after_the_lock(
    client: FlaskClient, auth: AuthActions, ids: Ids
) -> None:
    shortlist_id = _draft(ids)
    _login(auth, ids.user)
    assert client.get(f"/shortlists/{shortlist_id}/outcome").status_code == 303
    assert _flashes(client)[0][1] == "Lock the shortlist before recording its outcome."


@pytest.mark.parametrize(("data", "error"), [
    ({}, "Select what the outcome was"),
    ({"outcome": "awarded", "value": "1000"}, "Select the supplier awarded the contract"),
    ({"outcome": "awarded", "supplier_id": "{supplier}"}, "Enter the contract value"),
    ({"outcome": "awarded", "supplier_id": "{supplier}", "value": "lots"},
     "Enter the contract value as an amount in pounds"),
    ({"outcome": "awarded", "supplier_id": "{unmatched}", "value": "1"},
     "Select the supplier awarded the contract"),
    ({"outcome": "none_suitable"}, "Enter why none of the suppliers was suitable"),
])
def test_the_outcome_form_shows_errors(
    client: FlaskClient, auth: AuthActions, ids: Ids, data: dict[str, str], error: str
) -> None:
    shortlist_id = _locked(ids)
    _login(auth, ids.user)
    data = {k: v.format(supplier=ids.suppliers[0], unmatched=ids.unmatched)
            for k, v in data.items()}
    response = client.post(f"/shortlists/{shortlist_id}/outcome", data=data)
    assert response.status_code == 400
    assert error in response.get_data(as_text=True)


def test_recording_an_award(client: FlaskClient, auth: AuthActions, ids: Ids) -> None:
    shortlist_id = _locked(ids)
    _login(auth, ids.user)
    page = client.get(f"/shortlists/{shortlist_id}/outcome").get_data(as_text=True)
    assert "Mid Insulation Ltd" in page
    response = client.post(f"/shortlists/{shortlist_id}/outcome", data={
        "outcome": "awarded", "supplier_id": str(ids.suppliers[1]), "value": "£250,000"})
    assert response.status_code == 303
    assert service.recent_awards(ids.suppliers) == {
        ids.suppliers[0]: 0, ids.suppliers[1]: 1, ids.suppliers[2]: 0}
    page = client.get(f"/shortlists/{shortlist_id}").get_data(as_text=True)
    assert "Awarded to Mid Insulation Ltd, £250,000.00" in page
    assert client.get(f"/shortlists/{shortlist_id}/outcome").status_code == 303


# ---------------------------------------------------------------------------------------
# Correcting the outcome

RECORDED = ("awarded", 1, 250_000, "Best value")  # (outcome, supplier index, value, note)


def _with_outcome(ids: Ids) -> int:
    """A committed locked shortlist (Near, Mid) awarded to Mid for £250,000."""
    shortlist_id = _locked(ids)
    shortlist = db.session.get(Shortlist, shortlist_id)
    assert shortlist is not None
    service.record_outcome(shortlist, actor=ids.world.user, outcome="awarded",
                           awarded_supplier_id=ids.suppliers[1], awarded_value=250_000,
                           note="Best value")
    db.session.commit()
    return shortlist_id


def _outcome_of(ids: Ids, shortlist_id: int) -> tuple[Any, ...]:
    """The stored outcome, with a supplier as its index in ``ids.suppliers``, and how many
    corrections the trail holds."""
    db.session.expire_all()
    shortlist = db.session.get(Shortlist, shortlist_id)
    assert shortlist is not None
    supplier = (ids.suppliers.index(shortlist.awarded_supplier_id)
                if shortlist.awarded_supplier_id is not None else None)
    corrections = [t for t in service.audit_trail(shortlist)
                   if t.action == "shortlist.outcome_corrected"]
    return (shortlist.outcome, supplier, shortlist.awarded_value, shortlist.outcome_note,
            len(corrections))


def test_the_correction_form_is_prefilled_with_the_recorded_outcome(
    client: FlaskClient, auth: AuthActions, ids: Ids
) -> None:
    shortlist_id = _with_outcome(ids)
    _login(auth, ids.user)
    detail = client.get(f"/shortlists/{shortlist_id}").get_data(as_text=True)
    assert f'href="/shortlists/{shortlist_id}/outcome/correct"' in detail
    assert 'id="outcome-corrected"' not in detail
    response = client.get(f"/shortlists/{shortlist_id}/outcome/correct")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Correct the outcome" in page
    assert 'value="awarded" checked' in page
    assert f'value="{ids.suppliers[1]}" checked' in page
    assert f'value="{ids.suppliers[0]}">' in page  # offered, not chosen
    assert 'name="value" type="text" value="250,000"' in page
    assert ">Best value</textarea>" in page
    assert 'name="reason"' in page and "govuk-error-summary" not in page


def test_correcting_the_outcome(client: FlaskClient, auth: AuthActions, ids: Ids) -> None:
    shortlist_id = _with_outcome(ids)
    _login(auth, ids.user)
    response = client.post(f"/shortlists/{shortlist_id}/outcome/correct", data={
        "outcome": "none_suitable", "note": "Board has not decided",
        "reason": "Recorded before the award was made"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/shortlists/{shortlist_id}"
    assert _flashes(client) == [("success", "Outcome corrected. The outcome as it was and "
                                            "your reason are in the history.")]
    assert _outcome_of(ids, shortlist_id) == (
        "none_suitable", None, None, "Board has not decided", 1)
    assert service.recent_awards(ids.suppliers[:2]) == {ids.suppliers[0]: 0, ids.suppliers[1]: 0}
    page = client.get(f"/shortlists/{shortlist_id}").get_data(as_text=True)
    assert "None of the suppliers was suitable" in page
    assert 'id="outcome-corrected"' in page and "Once, last by Ada Member" in page
    assert ("<td class=\"govuk-table__cell\">Outcome corrected</td>\n"
            "      <td class=\"govuk-table__cell\">Awarded to Mid Insulation Ltd, £250,000.00 → "
            "none suitable; note changed. Reason: Recorded before the award was made</td>"
            ) in page

    response = client.post(f"/shortlists/{shortlist_id}/outcome/correct", data={
        "outcome": "awarded", "supplier_id": str(ids.suppliers[0]), "value": "£1,000.50",
        "note": "", "reason": "Awarded to Near in the end"})
    assert response.status_code == 303
    assert _outcome_of(ids, shortlist_id) == ("awarded", 0, 1000.5, "", 2)
    assert service.recent_awards(ids.suppliers[:2]) == {ids.suppliers[0]: 1, ids.suppliers[1]: 0}
    page = client.get(f"/shortlists/{shortlist_id}").get_data(as_text=True)
    assert "Awarded to Near Insulation Ltd, £1,000.50" in page and "2 times" in page


@pytest.mark.parametrize(("data", "error", "field"), [
    ({"outcome": "none_suitable", "note": "x"}, "Enter why you are correcting the outcome",
     "reason"),
    ({"outcome": "none_suitable", "note": "x", "reason": "  "},
     "Enter why you are correcting the outcome", "reason"),
    ({"outcome": "none_suitable", "note": "x", "reason": "Typo\x07"},
     "Reason must not contain control characters", "reason"),
    ({"outcome": "none_suitable", "note": "x", "reason": "x" * 5001},
     "Reason must be 5000 characters or fewer", "reason"),
    ({"outcome": "none_suitable", "note": "a\x00b", "reason": "x"},
     "Note must not contain control characters", "note"),
    ({"outcome": "none_suitable", "note": "", "reason": "x"},
     "Enter why none of the suppliers was suitable", "note"),
    ({"reason": "x"}, "Select what the outcome was", "outcome"),
    ({"outcome": "awarded", "supplier_id": "{mid}", "value": "lots", "reason": "x"},
     "Enter the contract value as an amount in pounds", "value"),
    ({"outcome": "awarded", "supplier_id": "{unmatched}", "value": "1", "reason": "x"},
     "Select the supplier awarded the contract", "supplier_id"),
    ({"outcome": "awarded", "supplier_id": "{mid}", "value": "£250,000", "note": "Best value",
      "reason": "x"}, "The outcome is the same as the one recorded", None),
], ids=["no reason", "blank reason", "control in reason", "long reason", "control in note",
        "no note", "no outcome", "bad value", "not shortlisted", "unchanged"])
def test_the_correction_form_shows_errors_and_changes_nothing(
    client: FlaskClient, auth: AuthActions, ids: Ids, data: dict[str, str], error: str,
    field: str | None,
) -> None:
    shortlist_id = _with_outcome(ids)
    _login(auth, ids.user)
    data = {k: v.format(mid=ids.suppliers[1], unmatched=ids.unmatched) for k, v in data.items()}
    response = client.post(f"/shortlists/{shortlist_id}/outcome/correct", data=data)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "<title>Error: Correct the outcome" in page
    summary = page[page.index('class="govuk-error-summary"'):page.index("<h1")]
    assert error in summary
    if field is not None:
        assert f'href="#{field}"' in summary
        assert 'class="govuk-error-message"' in page
    assert _outcome_of(ids, shortlist_id) == (*RECORDED, 0)


def test_only_a_recorded_outcome_can_be_corrected(
    client: FlaskClient, auth: AuthActions, ids: Ids
) -> None:
    draft, locked = _draft(ids), _locked(ids)
    _login(auth, ids.user)
    correction = {"outcome": "none_suitable", "note": "x", "reason": "x"}
    for shortlist_id, message in (
        (draft, "A draft shortlist has no outcome to correct."),
        (locked, "No outcome has been recorded for this shortlist yet, so there is nothing "
                 "to correct."),
    ):
        for method, data in (("get", None), ("post", correction)):
            response = getattr(client, method)(f"/shortlists/{shortlist_id}/outcome/correct",
                                               data=data)
            assert response.status_code == 303
            assert response.headers["Location"] == f"/shortlists/{shortlist_id}"
            assert _flashes(client) == [("message", message)]
            client.get(f"/shortlists/{shortlist_id}")  # shows, and so clears, the flash
        assert _outcome_of(ids, shortlist_id) == (None, None, None, "", 0)
    page = client.get(f"/shortlists/{locked}").get_data(as_text=True)
    assert "/outcome/correct" not in page


@pytest.mark.parametrize(("who", "status"), [("other", 404), ("admin", 403)])
def test_only_the_owning_organisation_corrects_an_outcome(
    client: FlaskClient, auth: AuthActions, ids: Ids, who: str, status: int
) -> None:
    shortlist_id = _with_outcome(ids)
    _login(auth, getattr(ids, who))
    url = f"/shortlists/{shortlist_id}/outcome/correct"
    assert client.get(url).status_code == status
    response = client.post(url, data={"outcome": "none_suitable", "note": "x", "reason": "x"})
    assert response.status_code == status
    assert _outcome_of(ids, shortlist_id) == (*RECORDED, 0)
    if who == "admin":
        page = client.get(f"/shortlists/{shortlist_id}").get_data(as_text=True)
        assert "Awarded to Mid Insulation Ltd" in page and url not in page


def test_a_correction_needs_a_csrf_token(
    client: FlaskClient, auth: AuthActions, ids: Ids, app: Flask,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shortlist_id = _with_outcome(ids)
    _login(auth, ids.user)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    page = client.get(f"/shortlists/{shortlist_id}/outcome/correct").get_data(as_text=True)
    assert 'name="csrf_token"' in page
    response = client.post(f"/shortlists/{shortlist_id}/outcome/correct", data={
        "outcome": "none_suitable", "note": "x", "reason": "x"})
    assert response.status_code == 400
    assert _outcome_of(ids, shortlist_id) == (*RECORDED, 0)


# ---------------------------------------------------------------------------------------
# Exports


@pytest.mark.parametrize(("fmt", "mimetype"), [
    ("csv", "text/csv"), ("json", "application/json"), ("pdf", "application/pdf"),
    ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
])
def test_downloads(
    client: FlaskClient, auth: AuthActions, ids: Ids, fmt: str, mimetype: str
) -> None:
    shortlist_id = _locked(ids)
    _login(auth, ids.user)
    response = client.get(f"/shortlists/{shortlist_id}/export.{fmt}")
    assert response.status_code == 200
    assert response.mimetype == mimetype
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith(f'attachment; filename="shortlist-{shortlist_id}-')
    assert disposition.endswith(f'.{fmt}"')
    data = response.get_data()
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
        assert [r["name"] for r in rows] == ["Near Insulation Ltd", "Mid Insulation Ltd"]
    elif fmt == "json":
        assert json.loads(data)["reproducibility"]["locked"] is True
    elif fmt == "pdf":
        assert data.startswith(b"%PDF")
    else:
        assert load_workbook(io.BytesIO(data)).sheetnames[:2] == ["Method", "Shortlist"]
    page = client.get(f"/shortlists/{shortlist_id}").get_data(as_text=True)
    assert f"As {fmt.upper()}" in page


def test_an_unknown_export_format_is_not_found(
    client: FlaskClient, auth: AuthActions, ids: Ids
) -> None:
    shortlist_id = _draft(ids)
    _login(auth, ids.user)
    assert client.get(f"/shortlists/{shortlist_id}/export.docx").status_code == 404


# ---------------------------------------------------------------------------------------
# Another organisation's shortlist: always 404, never 403


ISOLATED_ROUTES = [
    ("get", "", None),
    ("get", "/export.csv", None),
    ("get", "/export.pdf", None),
    ("get", "/edit", None),
    ("post", "/edit", {"name": "Mine now", "notes": ""}),
    ("get", "/entries/{entry}/remove", None),
    ("post", "/entries/{entry}/remove", {"reason": "x"}),
    ("get", "/lock", None),
    ("post", "/lock", {}),
    ("get", "/delete", None),
    ("post", "/delete", {}),
    ("get", "/outcome", None),
    ("post", "/outcome", {"outcome": "none_suitable", "note": "x"}),
    ("get", "/outcome/correct", None),
    ("post", "/outcome/correct", {"outcome": "none_suitable", "note": "x", "reason": "x"}),
    ("post", "add", {"supplier_id": "{supplier}", "shortlist_id": "{shortlist}",
                     "search": RESULTS_QUERY}),
]


@pytest.mark.parametrize(("method", "path", "data"), ISOLATED_ROUTES,
                         ids=[f"{m} {p or 'detail'}" for m, p, _ in ISOLATED_ROUTES])
@pytest.mark.parametrize("state", ["draft", "locked"])
def test_another_organisations_shortlist_is_not_found(
    client: FlaskClient, auth: AuthActions, ids: Ids, method: str, path: str,
    data: dict[str, str] | None, state: str,
) -> None:
    shortlist_id = _locked(ids) if state == "locked" else _draft(ids)
    shortlist = db.session.get(Shortlist, shortlist_id)
    assert shortlist is not None
    values = {"entry": shortlist.entries[0].id, "supplier": ids.suppliers[2],
              "shortlist": shortlist_id}
    url = ("/shortlists/add" if path == "add"
           else f"/shortlists/{shortlist_id}" + path.format(**values))
    if data is not None:
        data = {k: v.format(**values) for k, v in data.items()}
    _login(auth, ids.other)
    response = getattr(client, method)(url, data=data)
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)
    db.session.expire_all()
    unchanged = db.session.get(Shortlist, shortlist_id)
    assert unchanged is not None
    assert unchanged.name == "user's list" and len(unchanged.entries) == 2
    assert all(e.removed_at is None for e in unchanged.entries)
    assert unchanged.outcome is None
    exported = [t for t in service.audit_trail(unchanged) if t.action == "shortlist.exported"]
    assert exported == []


def test_posts_need_a_csrf_token(
    client: FlaskClient, auth: AuthActions, ids: Ids, app: Flask,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shortlist_id = _draft(ids)
    _login(auth, ids.user)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    assert client.post(f"/shortlists/{shortlist_id}/lock").status_code == 400
    assert client.post(f"/shortlists/{shortlist_id}/delete").status_code == 400
    assert _add(client, ids.suppliers[2]).status_code == 400
    shortlist = db.session.get(Shortlist, shortlist_id)
    assert shortlist is not None
    db.session.refresh(shortlist)
    assert shortlist.status == ShortlistStatus.DRAFT
