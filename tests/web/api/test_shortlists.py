"""Shortlists through the API: own organisation only (another's is a 404), server-side
scores, removal with a reason, lock, export."""

from __future__ import annotations

import pytest

from tests.web.api.conftest import SEARCH, Api, ApiWorld, assert_problem, make_shortlist
from tests.web.db_faults import cut_commit
from tests.web.sql_recorder import statements_after_commit


def _add(api: Api, token: str, shortlist_id: int, supplier_id: int, **extra: object):  # type: ignore[no-untyped-def]
    return api.post(f"/shortlists/{shortlist_id}/entries", token=token,
                    json={"supplier_id": supplier_id, **extra})


def test_create_keeps_the_search_and_starts_empty(api: Api, world: ApiWorld) -> None:
    response = api.post("/shortlists", token=world.member,
                        json={"name": "Walls 2027", "search": SEARCH})
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "draft"
    assert body["organisation_id"] == world.org_id
    assert body["entries"] == []
    assert body["search_inputs"]["params"]["need"] == SEARCH["need"]
    assert body["search_inputs"]["location"]["latitude"] == SEARCH["lat"]


@pytest.mark.parametrize(("body", "field"), [
    ({"search": SEARCH}, "name"),
    ({"name": "", "search": SEARCH}, "name"),
    ({"name": "x" * 201, "search": SEARCH}, "name"),
    ({"name": "Walls"}, "search"),
    ({"name": "Walls", "search": {"need": "walls"}}, "search.postcode"),
    ({"name": "Walls", "search": {**SEARCH, "limit": 5}}, "search.limit"),
])
def test_create_validates(api: Api, world: ApiWorld, body: dict, field: str) -> None:  # type: ignore[type-arg]
    problem = assert_problem(api.post("/shortlists", token=world.member, json=body), 422)
    assert field in [e["field"] for e in problem["errors"]]


def test_admins_cannot_create_or_change_shortlists(api: Api, world: ApiWorld) -> None:
    assert_problem(api.post("/shortlists", token=world.admin,
                            json={"name": "x", "search": SEARCH}), 403)
    shortlist_id = make_shortlist(api, world.member)
    assert_problem(_add(api, world.admin, shortlist_id, world.suppliers[0]), 403)
    assert_problem(api.post(f"/shortlists/{shortlist_id}/lock", token=world.admin), 403)
    assert_problem(api.delete(f"/shortlists/{shortlist_id}", token=world.admin), 403)
    # …but read them all
    assert api.get(f"/shortlists/{shortlist_id}", token=world.admin).status_code == 200
    assert [s["id"] for s in api.get("/shortlists", token=world.admin).get_json()["items"]] == [
        shortlist_id]


def test_list_holds_only_the_own_organisations_shortlists(api: Api, world: ApiWorld) -> None:
    mine = make_shortlist(api, world.member, "Mine")
    theirs = make_shortlist(api, world.other, "Theirs")
    ours = api.get("/shortlists", token=world.colleague).get_json()["items"]
    assert [s["id"] for s in ours] == [mine]
    assert ours[0]["entry_count"] == 0
    assert [s["id"] for s in api.get("/shortlists", token=world.other).get_json()["items"]] == [
        theirs]


def test_the_list_comes_in_pages_and_filters(api: Api, world: ApiWorld) -> None:
    made = [make_shortlist(api, world.member, f"Walls {n}") for n in range(3)]
    roofs = make_shortlist(api, world.member, "Roofs 50%")
    theirs = make_shortlist(api, world.other, "Roofs of theirs")
    _add(api, world.member, made[0], world.suppliers[0])
    assert api.post(f"/shortlists/{made[0]}/lock", token=world.member).status_code == 200

    def listed(token: str, query: str = "") -> dict:  # type: ignore[type-arg]
        response = api.get(f"/shortlists{query}", token=token)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()  # type: ignore[no-any-return]

    first = listed(world.member, "?per_page=3")
    assert [s["id"] for s in first["items"]] == [roofs, made[2], made[1]]
    assert (first["page"], first["per_page"], first["total"], first["pages"]) == (1, 3, 4, 2)
    assert [s["id"] for s in listed(world.member, "?per_page=3&page=2")["items"]] == [made[0]]
    assert listed(world.member, "?page=9")["items"] == []
    assert [s["id"] for s in listed(world.member, "?q=50%25")["items"]] == [roofs]
    assert [s["id"] for s in listed(world.member, "?status=locked")["items"]] == [made[0]]
    assert listed(world.member, "?status=draft")["total"] == 3
    assert listed(world.member, f"?organisation_id={world.other_org_id}")["total"] == 4
    by_admin = listed(world.admin, f"?organisation_id={world.other_org_id}")
    assert [s["id"] for s in by_admin["items"]] == [theirs]
    assert listed(world.admin, "?q=roofs")["total"] == 2
    empty = listed(world.member, "?q=nothing+like+it")
    assert (empty["total"], empty["pages"], empty["items"]) == (0, 0, [])
    for bad in ("?status=open", "?per_page=101", "?page=0", "?organisation_id=0"):
        assert_problem(api.get(f"/shortlists{bad}", token=world.member), 422)


def test_another_organisations_shortlist_is_404_everywhere(api: Api, world: ApiWorld) -> None:
    theirs = make_shortlist(api, world.other)
    entry = _add(api, world.other, theirs, world.suppliers[0]).get_json()["id"]
    base = f"/shortlists/{theirs}"
    for response in (
        api.get(base, token=world.member),
        _add(api, world.member, theirs, world.suppliers[1]),
        api.delete(f"{base}/entries/{entry}?reason=nope", token=world.member),
        api.post(f"{base}/lock", token=world.member),
        api.delete(base, token=world.member),
        api.get(f"{base}/export?format=csv", token=world.member),
    ):
        body = assert_problem(response, 404)
        # the same words as for a shortlist that does not exist at all
        assert body["detail"] == assert_problem(
            api.get("/shortlists/999999", token=world.member), 404)["detail"]
    assert api.get(base, token=world.other).get_json()["entries"][0]["id"] == entry


def test_entries_are_scored_on_the_server(api: Api, world: ApiWorld) -> None:
    shortlist_id = make_shortlist(api, world.member)
    response = _add(api, world.member, shortlist_id, world.suppliers[1], reason="Local firm")
    assert response.status_code == 201
    entry = response.get_json()
    search = api.post("/search", token=world.member, json=SEARCH).get_json()
    expected = next(r for r in search["results"] if r["supplier_id"] == world.suppliers[1])
    assert (entry["rank"], entry["score"]) == (expected["rank"], expected["score"])
    assert entry["breakdown"]["components"] == expected["breakdown"]["components"]
    assert entry["reason_added"] == "Local firm"
    # a supplier the search does not rank is added unscored
    unranked = _add(api, world.member, shortlist_id, world.grounds).get_json()
    assert unranked["score"] is None and unranked["rank"] is None


def test_scores_in_the_request_are_refused(api: Api, world: ApiWorld) -> None:
    shortlist_id = make_shortlist(api, world.member)
    problem = assert_problem(_add(api, world.member, shortlist_id, world.suppliers[0],
                                  score=100), 422)
    assert problem["errors"] == [{"field": "score", "message": "is not a field of this request"}]


@pytest.mark.parametrize("supplier_id", [999_999, 2**31 - 1])
def test_adding_an_unknown_supplier_is_422(api: Api, world: ApiWorld, supplier_id: int) -> None:
    shortlist_id = make_shortlist(api, world.member)
    assert_problem(_add(api, world.member, shortlist_id, supplier_id), 422)


def test_adding_twice_is_refused(api: Api, world: ApiWorld) -> None:
    shortlist_id = make_shortlist(api, world.member)
    assert _add(api, world.member, shortlist_id, world.suppliers[0]).status_code == 201
    assert_problem(_add(api, world.member, shortlist_id, world.suppliers[0]), 422)


def test_removal_needs_a_reason_in_the_body_or_the_query(api: Api, world: ApiWorld) -> None:
    shortlist_id = make_shortlist(api, world.member)
    first = _add(api, world.member, shortlist_id, world.suppliers[0]).get_json()["id"]
    second = _add(api, world.member, shortlist_id, world.suppliers[1]).get_json()["id"]
    base = f"/shortlists/{shortlist_id}/entries"
    problem = assert_problem(api.delete(f"{base}/{first}", token=world.member), 422)
    assert problem["errors"] == [{"field": "reason", "message": "is required"}]
    assert_problem(api.delete(f"{base}/{first}?reason=%20", token=world.member), 422)

    by_query = api.delete(f"{base}/{first}?reason=Too busy", token=world.member)
    assert by_query.status_code == 200
    assert by_query.get_json()["status"] == "removed"
    assert by_query.get_json()["reason_removed"] == "Too busy"
    by_body = api.delete(f"{base}/{second}", token=world.colleague, json={"reason": "No capacity"})
    assert by_body.get_json()["reason_removed"] == "No capacity"
    # removed entries stay on the shortlist, with their reasons
    detail = api.get(f"/shortlists/{shortlist_id}", token=world.member).get_json()
    assert {e["status"] for e in detail["entries"]} == {"removed"}
    assert_problem(api.delete(f"{base}/{first}?reason=again", token=world.member), 422)


def test_removing_an_entry_of_another_shortlist_is_404(api: Api, world: ApiWorld) -> None:
    one = make_shortlist(api, world.member, "One")
    two = make_shortlist(api, world.member, "Two")
    entry = _add(api, world.member, one, world.suppliers[0]).get_json()["id"]
    assert_problem(api.delete(f"/shortlists/{two}/entries/{entry}?reason=x",
                              token=world.member), 404)


def test_lock_freezes_the_shortlist(api: Api, world: ApiWorld) -> None:
    shortlist_id = make_shortlist(api, world.member)
    assert_problem(api.post(f"/shortlists/{shortlist_id}/lock", token=world.member), 422)
    entry = _add(api, world.member, shortlist_id, world.suppliers[0]).get_json()["id"]
    response = api.post(f"/shortlists/{shortlist_id}/lock", token=world.member)
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "locked"
    assert body["locked_at"] and len(body["data_hash"]) == 64 and body["algorithm_version"]
    assert_problem(api.post(f"/shortlists/{shortlist_id}/lock", token=world.member), 409)
    assert_problem(_add(api, world.member, shortlist_id, world.suppliers[1]), 409)
    assert_problem(api.delete(f"/shortlists/{shortlist_id}/entries/{entry}?reason=x",
                              token=world.member), 409)
    assert_problem(api.delete(f"/shortlists/{shortlist_id}", token=world.member), 409)
    assert api.get(f"/shortlists/{shortlist_id}", token=world.member).status_code == 200


def test_a_draft_is_deleted_for_good_with_an_audit_record(
    api: Api, world: ApiWorld, app  # type: ignore[no-untyped-def]
) -> None:
    import sqlalchemy as sa

    from web.extensions import db
    from web.models import AuditEvent

    shortlist_id = make_shortlist(api, world.member, "Mistake")
    kept = make_shortlist(api, world.member, "Kept")
    _add(api, world.member, shortlist_id, world.suppliers[0])

    response = api.delete(f"/shortlists/{shortlist_id}", token=world.colleague)

    assert response.status_code == 204 and response.data == b""
    assert_problem(api.get(f"/shortlists/{shortlist_id}", token=world.member), 404)
    assert_problem(api.delete(f"/shortlists/{shortlist_id}", token=world.member), 404)
    listed = api.get("/shortlists", token=world.member).get_json()["items"]
    assert [s["id"] for s in listed] == [kept]
    with app.app_context():
        [event] = db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.action == "shortlist.deleted")).all()
        assert event.object_id == str(shortlist_id) and event.details["name"] == "Mistake"
        assert [e["supplier_id"] for e in event.details["entries"]] == [world.suppliers[0]]
        db.session.remove()


@pytest.mark.parametrize(("fmt", "mimetype"), [
    ("csv", "text/csv"),
    ("json", "application/json"),
    ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("pdf", "application/pdf"),
])
def test_export_formats(api: Api, world: ApiWorld, fmt: str, mimetype: str) -> None:
    shortlist_id = make_shortlist(api, world.member)
    _add(api, world.member, shortlist_id, world.suppliers[0])
    response = api.get(f"/shortlists/{shortlist_id}/export?format={fmt}", token=world.member)
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert f"shortlist-{shortlist_id}-" in response.headers["Content-Disposition"]
    assert response.data


def test_export_of_an_unknown_format_is_422(api: Api, world: ApiWorld) -> None:
    shortlist_id = make_shortlist(api, world.member)
    problem = assert_problem(
        api.get(f"/shortlists/{shortlist_id}/export?format=docx", token=world.member), 422)
    assert problem["errors"][0]["field"] == "format"



@pytest.mark.parametrize("write", ["create", "add", "remove", "lock", "delete"])
def test_a_write_reads_nothing_after_its_commit(
    api: Api, world: ApiWorld, app, write: str  # type: ignore[no-untyped-def]
) -> None:
    """A read after the commit, cut off by a database restart, would make the answer a 503
    for a change that was made (the view cannot run again): the answer is built first."""
    from web.extensions import db

    shortlist_id = make_shortlist(api, world.member)
    entry = _add(api, world.member, shortlist_id, world.suppliers[0]).get_json()
    calls = {
        "create": lambda: api.post("/shortlists", token=world.member,
                                   json={"name": "Walls", "search": SEARCH}),
        "add": lambda: _add(api, world.member, shortlist_id, world.suppliers[1]),
        "remove": lambda: api.delete(f"/shortlists/{shortlist_id}/entries/{entry['id']}",
                                     token=world.member, json={"reason": "Too far"}),
        "lock": lambda: api.post(f"/shortlists/{shortlist_id}/lock", token=world.member),
        "delete": lambda: api.delete(f"/shortlists/{shortlist_id}", token=world.member),
    }
    with app.app_context():
        engine = db.engine
    with statements_after_commit(engine) as recorder:
        response = calls[write]()
    assert response.status_code in (200, 201, 204), response.get_data(as_text=True)
    assert recorder.committed
    assert recorder.after == []


@pytest.mark.parametrize("went_through", [True, False])
@pytest.mark.parametrize("write", ["create", "add", "remove", "lock", "delete"])
def test_a_write_cut_off_in_its_commit_answers_with_what_it_did_once(
    api: Api, world: ApiWorld, app, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
    write: str, went_through: bool,
) -> None:
    """A database restart can cut the connection while a write commits. Went through,
    the answer made before the commit is given (its first audit event shows it); cut
    before, the request runs again. Either way the change is made once, with its events
    once; before stop 13 it answered 503 either way."""
    import sqlalchemy as sa

    from tests.web.db_faults import cut_first_commit
    from web.extensions import db
    from web.models import AuditEvent, Shortlist, ShortlistEntry

    shortlist_id = make_shortlist(api, world.member)
    entry = _add(api, world.member, shortlist_id, world.suppliers[0]).get_json()
    calls = {
        "create": lambda: api.post("/shortlists", token=world.member,
                                   json={"name": "Walls", "search": SEARCH}),
        "add": lambda: _add(api, world.member, shortlist_id, world.suppliers[1], reason="Near"),
        "remove": lambda: api.delete(f"/shortlists/{shortlist_id}/entries/{entry['id']}",
                                     token=world.member, json={"reason": "Too far"}),
        "lock": lambda: api.post(f"/shortlists/{shortlist_id}/lock", token=world.member),
        "delete": lambda: api.delete(f"/shortlists/{shortlist_id}", token=world.member),
    }
    with app.app_context():
        events_before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
        db.session.remove()
    runs = cut_first_commit(monkeypatch, went_through=went_through)
    response = calls[write]()
    statuses = {"create": 201, "add": 201, "delete": 204}
    assert response.status_code == statuses.get(write, 200), response.get_data(as_text=True)
    body = response.get_json() if write != "delete" else None
    assert len(runs) == (1 if went_through else 2)  # went through: its answer, not run again
    with app.app_context():
        events = db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)
                                    .offset(events_before)).all()
        shortlists = db.session.scalars(sa.select(Shortlist).order_by(Shortlist.id)).all()
        entries = db.session.scalars(sa.select(ShortlistEntry).where(
            ShortlistEntry.shortlist_id == shortlist_id).order_by(ShortlistEntry.id)).all()
        if write == "create":
            assert len(shortlists) == 2 and body["id"] == shortlists[1].id
            assert events == ["shortlist.created", "shortlist.search_run"]
        elif write == "add":
            assert [e.supplier_id for e in entries] == [world.suppliers[0], world.suppliers[1]]
            assert (body["supplier_id"], body["reason_added"]) == (world.suppliers[1], "Near")
            assert events == ["shortlist.entry_added"]
        elif write == "remove":
            assert entries[0].reason_removed == "Too far" and body["status"] == "removed"
            assert events == ["shortlist.entry_removed"]
        elif write == "delete":
            assert shortlists == [] and entries == [] and response.data == b""
            assert events == ["shortlist.deleted"]
        else:
            assert shortlists[0].locked_at is not None and body["status"] == "locked"
            assert events == ["shortlist.search_run", "shortlist.locked"]
        db.session.remove()


@pytest.mark.parametrize("went_through", [True, False])
def test_an_export_cut_off_in_its_commit_runs_again_and_is_audited_once(
    api: Api, world: ApiWorld, app, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
    went_through: bool,
) -> None:
    """An export's only write is its audit event, keyed by the request: run again after a
    cut commit, it answers the file, and the event is there once."""
    import sqlalchemy as sa

    from web.extensions import db
    from web.models import AuditEvent
    from web.services import exports

    shortlist_id = make_shortlist(api, world.member)
    _add(api, world.member, shortlist_id, world.suppliers[0])
    export = exports.export_shortlist
    runs: list[int] = []

    def cut_in_commit(*args, **kwargs):  # type: ignore[no-untyped-def]
        file = export(*args, **kwargs)
        runs.append(1)
        if len(runs) > 1:
            return file
        cut_commit(went_through=went_through)

    monkeypatch.setattr(exports, "export_shortlist", cut_in_commit)
    response = api.get(f"/shortlists/{shortlist_id}/export?format=csv", token=world.member)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert len(runs) == 2
    with app.app_context():
        exported = db.session.scalars(sa.select(AuditEvent.action).where(
            AuditEvent.action == "shortlist.exported")).all()
        db.session.remove()
    assert exported == ["shortlist.exported"]
