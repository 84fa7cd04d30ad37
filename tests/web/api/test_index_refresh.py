"""The matching index after a change to the register: rebuilt in a background thread; a
search answered from the previous index while a slow rebuild runs, and saying so; a lock
that waits for the current index or asks to be tried again."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.conftest import AuthActions
from tests.factories import make_supplier
from tests.web.api.conftest import SEARCH, Api, ApiWorld, assert_problem, make_shortlist
from web.extensions import db
from web.models import Shortlist, User
from web.services import matching
from web.services.shortlists import verify_data_hash
from web.services.versions import bump_version

NEW = "EWI-NEW"


@pytest.fixture(autouse=True)
def _no_refresh_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(matching, "_refresh", None)
    monkeypatch.setattr(matching, "_last_build_s", 0.0)
    yield
    assert matching.wait_for_refresh(30), "a background rebuild outlived its test"


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Holds every background rebuild until set, so a test can act while one runs."""
    gate = threading.Event()
    build = matching.build_index

    def held_build(*, data_version: str):  # type: ignore[no-untyped-def]
        if threading.current_thread().name == "index-refresh":
            assert gate.wait(30), "the test never let the rebuild go"
        return build(data_version=data_version)

    monkeypatch.setattr(matching, "build_index", held_build)
    yield gate
    gate.set()
    matching.wait_for_refresh(30)


def add_supplier(app: Flask) -> None:
    """Another insulation supplier, committed as an import would be (its own context)."""
    with app.app_context():
        make_supplier(external_id=NEW, name="New Insulation Ltd", latitude=53.42,
                      longitude=-2.85, description="External wall insulation.")
        bump_version()
        db.session.commit()


def found(api: Api, world: ApiWorld) -> tuple[list[str], dict]:  # type: ignore[type-arg]
    response = api.post("/search", token=world.member, json=SEARCH)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    return [r["external_id"] for r in body["results"]], body


def test_a_quick_rebuild_is_waited_for(app: Flask, api: Api, world: ApiWorld) -> None:
    before, first = found(api, world)
    assert NEW not in before and first["index_current"] is True
    add_supplier(app)
    after, body = found(api, world)
    assert NEW in after
    assert body["index_current"] is True and body["data_version"] != first["data_version"]
    refresh = matching._refresh
    assert refresh is not None and refresh.version == body["data_version"]  # the thread's


@pytest.mark.parametrize(("budget_s", "last_build_s"), [
    (0.0, 0.0),  # the deployment never waits
    (2.0, 5.0),  # the last build took longer than a search may wait
])
def test_a_slow_rebuild_answers_from_the_previous_index_and_says_so(
    app: Flask, api: Api, world: ApiWorld, gate: threading.Event,
    monkeypatch: pytest.MonkeyPatch, budget_s: float, last_build_s: float,
) -> None:
    monkeypatch.setitem(app.config, "INDEX_REFRESH_WAIT_S", budget_s)
    _, first = found(api, world)
    monkeypatch.setattr(matching, "_last_build_s", last_build_s)
    add_supplier(app)

    during, body = found(api, world)
    assert NEW not in during
    assert body["index_current"] is False and body["data_version"] == first["data_version"]
    assert matching._refresh is not None and not matching._refresh.done.is_set()

    client = api.client
    with app.app_context():
        AuthActions(client).login_as(db.session.get(User, world.member_id))
    page = client.get("/search/results", query_string={
        "need": SEARCH["need"], "site": "postcode", "postcode": "L34 1AB"})
    assert page.status_code == 200
    assert 'id="index-refreshing"' in page.get_data(as_text=True)

    gate.set()
    assert matching.wait_for_refresh(30)
    after, body = found(api, world)
    assert NEW in after and body["index_current"] is True
    page = client.get("/search/results", query_string={
        "need": SEARCH["need"], "site": "postcode", "postcode": "L34 1AB"})
    assert 'id="index-refreshing"' not in page.get_data(as_text=True)


def test_a_lock_waits_for_the_current_index_or_asks_to_be_tried_again(
    app: Flask, api: Api, world: ApiWorld, gate: threading.Event,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(app.config, "INDEX_REFRESH_WAIT_S", 0.0)
    monkeypatch.setattr(matching, "CURRENT_INDEX_WAIT_S", 0.3)
    shortlist_id = make_shortlist(api, world.member)
    added = api.post(f"/shortlists/{shortlist_id}/entries", token=world.member,
                     json={"supplier_id": world.suppliers[0]})
    assert added.status_code == 201
    add_supplier(app)

    refused = api.post(f"/shortlists/{shortlist_id}/lock", token=world.member)
    body = assert_problem(refused, 503)
    assert refused.headers["Retry-After"] == "30"
    assert "being reindexed" in body["detail"]
    still = api.get(f"/shortlists/{shortlist_id}", token=world.member).get_json()
    assert still["status"] == "draft"

    # the lock now waits, and the rebuild finishes while it does
    monkeypatch.setattr(matching, "CURRENT_INDEX_WAIT_S", 30.0)
    threading.Timer(0.2, gate.set).start()
    locked = api.post(f"/shortlists/{shortlist_id}/lock", token=world.member)
    assert locked.status_code == 200, locked.get_json()
    with app.app_context():  # frozen against the register as it is now, not as it was
        assert verify_data_hash(db.session.get(Shortlist, shortlist_id)) is True


def test_a_failed_rebuild_keeps_the_previous_index_and_is_tried_again_later(
    app: Flask, api: Api, world: ApiWorld, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures = []
    build = matching.build_index

    def failing_once(*, data_version: str):  # type: ignore[no-untyped-def]
        if threading.current_thread().name == "index-refresh" and not failures:
            failures.append(data_version)
            raise ConnectionError("the database went away")
        return build(data_version=data_version)

    monkeypatch.setattr(matching, "build_index", failing_once)
    found(api, world)
    add_supplier(app)
    with caplog.at_level(logging.WARNING, logger=matching.__name__):
        during, body = found(api, world)
    assert NEW not in during and body["index_current"] is False
    assert "rebuild failed (ConnectionError: the database went away)" in caplog.text
    failed = matching._refresh
    found(api, world)  # moments later: not tried again yet
    assert matching._refresh is failed
    # nor does a caller that needs the current index go round waiting on that failure
    starts = []
    start = matching._start_refresh
    monkeypatch.setattr(matching, "_start_refresh",
                        lambda *args: starts.append(1) or start(*args))
    monkeypatch.setattr(matching, "CURRENT_INDEX_WAIT_S", 5.0)
    with app.app_context(), pytest.raises(matching.IndexNotCurrent):
        matching.get_index(current=True)
    assert len(starts) == 1 and matching._refresh is failed

    monkeypatch.setattr(matching, "REFRESH_RETRY_S", 0.0)
    after, body = found(api, world)
    assert NEW in after and body["index_current"] is True
    assert len(failures) == 1


def test_a_rebuild_that_meets_a_broken_connection_tries_once_more_at_once(
    app: Flask, api: Api, world: ApiWorld, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The pool is not pre-pinged: after a database restart, the rebuild's first query
    can fail on a pooled connection the restart broke. That invalidates the pool, and the
    same rebuild runs again on a new connection instead of failing for REFRESH_RETRY_S."""
    broken = []
    build = matching.build_index

    def broken_once(*, data_version: str):  # type: ignore[no-untyped-def]
        if threading.current_thread().name == "index-refresh" and not broken:
            broken.append(data_version)
            raise sa.exc.OperationalError(
                "SELECT", {}, Exception("server closed the connection unexpectedly"),
                connection_invalidated=True)
        return build(data_version=data_version)

    monkeypatch.setattr(matching, "build_index", broken_once)
    found(api, world)
    add_supplier(app)
    with caplog.at_level(logging.INFO, logger=matching.__name__):
        after, body = found(api, world)
    assert NEW in after and body["index_current"] is True
    assert len(broken) == 1 and matching._refresh is not None
    assert matching._refresh.error is None
    assert "rebuild lost its database connection; trying again" in caplog.text
    assert "rebuild failed" not in caplog.text


def test_a_change_made_in_this_request_is_indexed_from_its_own_session(
    app: Flask, world: ApiWorld,
) -> None:
    with app.app_context():
        assert matching.get_index().row_of(NEW) is None
        make_supplier(external_id=NEW, name="New Insulation Ltd",
                      description="External wall insulation.")
        bump_version()  # not committed: no other session can see it yet
        assert matching.get_index().row_of(NEW) is not None
        db.session.rollback()


def test_a_large_register_is_rebuilt_in_a_separate_process(
    app: Flask, api: Api, world: ApiWorld, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setitem(app.config, "INDEX_REFRESH_WAIT_S", 0.0)
    _, first = found(api, world)
    # as if the last build had taken long: the rebuild goes to a process of its own
    monkeypatch.setattr(matching, "_last_build_s", matching.SEPARATE_BUILD_MIN_S)
    add_supplier(app)
    with caplog.at_level(logging.INFO, logger=matching.__name__):
        found(api, world)  # starts the rebuild, answered from the previous index
        assert matching.wait_for_refresh(60)
    assert "built in a separate process and loaded" in caplog.text
    after, body = found(api, world)
    assert NEW in after and body["index_current"] is True
