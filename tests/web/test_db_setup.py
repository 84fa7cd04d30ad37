"""Database connections: retried through a PostgreSQL restart, refused at once otherwise."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from web import create_app
from web.db_setup import connect_with_retry, is_transient_connect_error
from web.extensions import db
from web.models import User

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")
needs_postgres = pytest.mark.skipif(
    not POSTGRES_URL.startswith("postgresql"),
    reason="needs PostgreSQL: set TEST_DATABASE_URL=postgresql+psycopg://…",
)


class Flaky:
    """A connect function that fails ``failures`` times with ``error``, then connects."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.attempts = failures, error, 0

    def __call__(self) -> str:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise self.error
        return "connection"


def _refused() -> psycopg.OperationalError:
    """The error psycopg raises when nothing listens on the port (a server restarting)."""
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    try:
        psycopg.connect(host="127.0.0.1", port=port, user="nobody", dbname="none",
                        connect_timeout=2)
    except psycopg.OperationalError as error:
        return error
    raise AssertionError(f"something listens on port {port}")


def test_a_refused_connection_is_transient() -> None:
    assert is_transient_connect_error(_refused())
    assert not is_transient_connect_error(ValueError("not a database error"))


def test_a_socket_closed_while_connecting_is_transient() -> None:
    """psycopg's words when the server's end of a new connection goes away mid-handshake,
    as during a restart: worth waiting for, like a refused connection."""
    assert is_transient_connect_error(psycopg.OperationalError("connection socket closed"))


@pytest.mark.parametrize("failures", [1, 3])
def test_transient_failures_are_retried_until_the_server_answers(failures: int) -> None:
    flaky = Flaky(failures, _refused())
    assert connect_with_retry(flaky, within_s=30, is_transient=is_transient_connect_error) \
        == "connection"
    assert flaky.attempts == failures + 1


def test_retrying_gives_up_with_the_last_error() -> None:
    flaky = Flaky(10_000, _refused())
    with pytest.raises(psycopg.OperationalError):
        connect_with_retry(flaky, within_s=0.3, is_transient=is_transient_connect_error)
    assert 1 < flaky.attempts < 10  # a few spaced attempts, not a busy loop


def test_a_permanent_failure_is_raised_at_once() -> None:
    flaky = Flaky(1, ValueError("bad password"))
    with pytest.raises(ValueError):
        connect_with_retry(flaky, within_s=30, is_transient=is_transient_connect_error)
    assert flaky.attempts == 1


@needs_postgres
def test_a_missing_database_is_not_transient() -> None:
    url = sa.engine.make_url(POSTGRES_URL)
    try:
        psycopg.connect(host=url.host, port=url.port or 5432, user=url.username,
                        dbname="framework_match_no_such_database", connect_timeout=5)
    except psycopg.OperationalError as error:
        assert "does not exist" in str(error)
        assert not is_transient_connect_error(error)
    else:
        raise AssertionError("connected to a database that does not exist")


class LateProxy:
    """A TCP port that starts forwarding to ``target`` only after ``delay_s``: a database
    server that comes back from a restart while a request waits for it."""

    def __init__(self, target: tuple[str, int], delay_s: float) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.target, self.delay_s = target, delay_s
        self.listener: socket.socket | None = None
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        time.sleep(self.delay_s)
        listener = socket.create_server(("127.0.0.1", self.port))
        self.listener = listener
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self.accepted += 1
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()


@pytest.fixture
def late_proxy() -> Iterator[LateProxy]:
    url = sa.engine.make_url(POSTGRES_URL)
    proxy = LateProxy((url.host or "127.0.0.1", url.port or 5432), delay_s=0.5)
    yield proxy
    proxy.close()


@needs_postgres
def test_a_request_waits_for_the_database_to_come_back(
    late_proxy: LateProxy, tmp_path: Path
) -> None:
    url = sa.engine.make_url(POSTGRES_URL).set(host="127.0.0.1", port=late_proxy.port)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url.render_as_string(hide_password=False),
                      "SECRET_KEY": "k" * 32, "DATABASE_CONNECT_RETRY_S": 20},
                     instance_path=str(tmp_path))
    with app.app_context():
        assert db.session.scalar(sa.text("SELECT 1")) == 1
        db.session.remove()
        db.engine.dispose()
    assert late_proxy.accepted >= 1


@needs_postgres
def test_without_retrying_the_same_outage_fails(late_proxy: LateProxy, tmp_path: Path) -> None:
    url = sa.engine.make_url(POSTGRES_URL).set(host="127.0.0.1", port=late_proxy.port)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url.render_as_string(hide_password=False),
                      "SECRET_KEY": "k" * 32, "DATABASE_CONNECT_RETRY_S": 0},
                     instance_path=str(tmp_path))
    with app.app_context(), pytest.raises(sa.exc.OperationalError):
        db.session.scalar(sa.text("SELECT 1"))


def _terminating_app(tmp_path: Path, *, commit_first: bool, safe: bool = False,
                     write_first: bool = True) -> tuple[Any, list[int]]:
    """An app on PostgreSQL with one extra route whose first run has its connection
    terminated by the server mid-request, as a restart does (``commit_first``: after a
    commit, which holds a write unless ``write_first`` is false; ``safe``: the route is
    marked safe to run again, and records an audit event before it commits)."""
    from flask import jsonify

    from web.db_setup import safe_to_run_again
    from web.services.audit import record_event

    calls: list[int] = []
    app = create_app({"SQLALCHEMY_DATABASE_URI": POSTGRES_URL, "SECRET_KEY": "k" * 32,
                      "DATABASE_CONNECT_RETRY_S": 5, "WTF_CSRF_ENABLED": False},
                     instance_path=str(tmp_path))

    @app.route("/__cut", methods=["GET", "POST"])
    def cut() -> Any:
        from flask import request
        from pydantic import BaseModel

        from web.api.routing import _parse_body

        class Body(BaseModel):
            need: str

        body = _parse_body(Body, required=False) if request.method == "POST" else None
        calls.append(1)
        if commit_first:
            if safe:
                record_event("search.run", actor=None, organisation_id=None,
                             object_type="search")
            db.session.scalar(sa.text("SELECT 1"))
            if write_first and not safe:  # a statement other than a SELECT: a write
                db.session.execute(sa.text("CREATE TEMPORARY TABLE cut_mark (x int)"))
            db.session.commit()  # then a new transaction, cut off below
        pid = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
        if len(calls) == 1:
            killer = sa.create_engine(POSTGRES_URL)
            with killer.connect() as connection:
                connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            killer.dispose()
        return jsonify(pid=db.session.scalar(sa.text("SELECT pg_backend_pid()")),
                       need=getattr(body, "need", None))

    if safe:
        app.view_functions["cut"] = safe_to_run_again(app.view_functions["cut"])

    from web.db_setup import retry_views_after_disconnect

    retry_views_after_disconnect(app)  # the route came after create_app's own wrapping
    return app, calls


@needs_postgres
def test_a_view_cut_off_before_committing_runs_again(tmp_path: Path) -> None:
    app, calls = _terminating_app(tmp_path, commit_first=False)
    response = app.test_client().get("/__cut")
    assert response.status_code == 200
    assert len(calls) == 2  # cut off once, then answered on a new connection
    with app.app_context():
        db.engine.dispose()


@needs_postgres
def test_a_pooled_connection_broken_while_idle_is_replaced_by_running_the_view_again(
    tmp_path: Path,
) -> None:
    """The pool is not pre-pinged (web.config.engine_options): a connection that a restart
    broke while it sat in the pool fails its first query, which invalidates the pool, and
    the view runs again on a new connection. The request never sees it."""
    from flask import jsonify

    from web.db_setup import retry_views_after_disconnect

    app = create_app({"SQLALCHEMY_DATABASE_URI": POSTGRES_URL, "SECRET_KEY": "k" * 32,
                      "DATABASE_CONNECT_RETRY_S": 5}, instance_path=str(tmp_path))
    calls: list[int] = []

    @app.route("/__pid")
    def pid() -> Any:
        calls.append(1)
        return jsonify(pid=db.session.scalar(sa.text("SELECT pg_backend_pid()")))

    retry_views_after_disconnect(app)
    client = app.test_client()
    killer = sa.create_engine(POSTGRES_URL)
    try:
        first = client.get("/__pid").get_json()["pid"]  # its connection goes back to the pool
        with killer.connect() as connection:
            connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            for _ in range(100):  # the backend exits a moment after it is told to
                if not connection.execute(sa.text("SELECT 1 FROM pg_stat_activity "
                                                  "WHERE pid = :pid"), {"pid": first}).first():
                    break
                time.sleep(0.02)
        response = client.get("/__pid")
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["pid"] != first
        assert len(calls) == 3  # the first request; then the cut-off run and the one again
    finally:  # closed even when it fails: an open connection would warn in a later test
        killer.dispose()
        with app.app_context():
            db.engine.dispose()


@needs_postgres
@pytest.mark.parametrize("counted", [True, False])
def test_a_socket_closed_under_a_query_counts_as_a_lost_connection(
    tmp_path: Path, counted: bool
) -> None:
    """psycopg's "connection socket closed" (the socket failed before libpq read why, as
    when a restart races a query) invalidates the connection, and the view runs again on a
    new one. Without web.db_setup's handle_error hook (``counted`` false) it was a 503."""
    import psycopg
    from flask import jsonify
    from sqlalchemy import event

    from web import db_setup

    app = create_app({"SQLALCHEMY_DATABASE_URI": POSTGRES_URL, "SECRET_KEY": "k" * 32},
                     instance_path=str(tmp_path))
    calls: list[int] = []

    @app.route("/__socket")
    def socket_closed() -> Any:
        calls.append(1)
        return jsonify(pid=db.session.scalar(sa.text("SELECT pg_backend_pid()")))

    db_setup.retry_views_after_disconnect(app)
    to_fail = [1]

    def fail_once(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if to_fail and "pg_backend_pid" in statement:
            to_fail.pop()
            raise psycopg.OperationalError("connection socket closed")

    with app.app_context():
        engine = db.engine
    if not counted:
        event.remove(engine, "handle_error", db_setup._socket_closed_is_a_disconnect)
    event.listen(engine, "before_cursor_execute", fail_once)
    try:
        response = app.test_client().get("/__socket")
        assert (response.status_code, len(calls)) == ((200, 2) if counted else (503, 1))
    finally:
        engine.dispose()


@needs_postgres
def test_a_view_run_again_reads_the_same_json_body(tmp_path: Path) -> None:
    app, calls = _terminating_app(tmp_path, commit_first=False)
    response = app.test_client().post("/__cut", json={"need": "roofing"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["need"] == "roofing"
    assert len(calls) == 2
    with app.app_context():
        db.engine.dispose()


@needs_postgres
def test_a_signed_in_request_cut_off_while_loading_its_user_runs_again(
    app: Any, tmp_path: Path,
) -> None:
    """A restart can cut off the query that loads the signed-in user, before any view."""
    from flask import g, jsonify

    from tests.factories import make_user
    from web.auth import start_session
    from web.db_setup import retry_views_after_disconnect

    with app.app_context():
        user = make_user()
        db.session.commit()
        user_id = user.id
        stamped: dict[str, Any] = {}
        start_session(stamped, user)
    second = create_app({"SQLALCHEMY_DATABASE_URI": POSTGRES_URL, "SECRET_KEY": "k" * 32,
                         "DATABASE_CONNECT_RETRY_S": 5}, instance_path=str(tmp_path))
    cut: list[int] = []

    def cut_the_first_request_off() -> None:  # runs first: the user is loaded after it
        if not cut:
            cut.append(db.session.scalar(sa.text("SELECT pg_backend_pid()")))
            killer = sa.create_engine(POSTGRES_URL)
            with killer.connect() as connection:
                connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"),
                                   {"pid": cut[0]})
            killer.dispose()

    second.before_request_funcs.setdefault(None, []).insert(0, cut_the_first_request_off)

    @second.route("/__who")
    def who() -> Any:
        return jsonify(user=g.user.id if g.user else None)

    retry_views_after_disconnect(second)
    client = second.test_client()
    with client.session_transaction() as session:
        session.update(stamped)
    response = client.get("/__who")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"user": user_id}
    assert len(cut) == 1
    with second.app_context():
        db.engine.dispose()


@needs_postgres
def test_a_view_cut_off_after_a_commit_is_a_503_not_a_retry(tmp_path: Path) -> None:
    app, calls = _terminating_app(tmp_path, commit_first=True)
    response = app.test_client().get("/__cut")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "Sorry, the service is unavailable" in response.get_data(as_text=True)
    assert len(calls) == 1
    with app.app_context():
        db.engine.dispose()


@needs_postgres
def test_a_view_that_wrote_nothing_runs_again_even_after_a_commit(tmp_path: Path) -> None:
    """A commit of reads only kept nothing that running the view again could double."""
    app, calls = _terminating_app(tmp_path, commit_first=True, write_first=False)
    response = app.test_client().get("/__cut")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert len(calls) == 2
    with app.app_context():
        db.engine.dispose()


@needs_postgres
def test_a_view_safe_to_run_again_cut_off_after_its_commit_runs_again(
    app: Any, tmp_path: Path
) -> None:
    """On the session's migrated database: the first run's event was committed, and the
    second run's, under the same key, is not recorded again."""
    from web.models import AuditEvent

    app_cut, calls = _terminating_app(tmp_path, commit_first=True, safe=True)
    response = app_cut.test_client().get("/__cut")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert len(calls) == 2
    with app_cut.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 1
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("safe", [True, False])
def test_a_lost_commit_answer_runs_a_safe_view_again_with_each_event_once(
    app: Any, tmp_path: Path, safe: bool
) -> None:
    """The commit went through but its answer was lost, as when a restart cuts the
    connection at that moment: a view safe to run again answers, and its events are
    recorded once; any other view answers 503 (its events, committed, stay)."""
    from flask import jsonify

    from web.db_setup import retry_views_after_disconnect, safe_to_run_again
    from web.models import AuditEvent
    from web.services.audit import record_event

    second = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                         "SECRET_KEY": "k" * 32}, instance_path=str(tmp_path))
    calls: list[int] = []

    def recorded() -> Any:
        calls.append(1)
        for action in ("search.run", "search.viewed"):
            record_event(action, actor=None, organisation_id=None, object_type="search")
        db.session.commit()
        if len(calls) == 1:
            raise sa.exc.OperationalError(
                "COMMIT", {}, Exception("terminating connection due to administrator command"),
                connection_invalidated=True,
            )
        return jsonify(runs=len(calls))

    second.add_url_rule("/__recorded", view_func=safe_to_run_again(recorded) if safe
                        else recorded)
    retry_views_after_disconnect(second)
    response = second.test_client().get("/__recorded")
    with second.app_context():
        events = db.session.execute(
            sa.select(AuditEvent.action, AuditEvent.request_key).order_by(AuditEvent.id)
        ).all()
        db.session.remove()
        db.engine.dispose()
    assert [action for action, _key in events] == ["search.run", "search.viewed"]
    assert len({key for _action, key in events}) == 2
    assert all(key and key.endswith(f"/{n}") for n, (_a, key) in enumerate(events))
    if safe:
        assert (response.status_code, len(calls)) == (200, 2)
    else:
        assert (response.status_code, len(calls)) == (503, 1)


@pytest.mark.parametrize(("wrote", "went_through", "expected"), [
    ("with its event", True, (200, "answer made before the commit", 1, 1, 0)),
    ("with its event", False, (200, "answer made before the commit", 2, 1, 0)),
    # without an event, whether the commit went through cannot be known: 503, not a retry
    ("without an event", True, (503, None, 1, 0, 1)),
    ("without an event", False, (503, None, 1, 0, 0)),
    # nothing written (an edit that changed nothing): nothing to lose, so it runs again
    ("nothing", True, (200, "answer made before the commit", 2, 0, 0)),
    ("nothing", False, (200, "answer made before the commit", 2, 0, 0)),
])
def test_commit_then_cut_off_answers_or_runs_again_as_its_first_event_says(
    app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    wrote: str, went_through: bool, expected: tuple[Any, ...],
) -> None:
    from flask import jsonify

    from tests.factories import make_organisation
    from tests.web.db_faults import cut_first_commit
    from web import db_setup
    from web.models import AuditEvent, MemberOrganisation
    from web.services.audit import record_event

    second = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                         "SECRET_KEY": "k" * 32}, instance_path=str(tmp_path))
    runs: list[int] = []

    def write() -> Any:
        runs.append(1)
        if wrote == "with its event":
            record_event("catalogue.published", actor=None, organisation_id=None,
                         object_type="catalogue")
        elif wrote == "without an event":
            make_organisation(name=f"Written in run {len(runs)}")
        else:
            db.session.scalar(sa.select(sa.func.count()).select_from(MemberOrganisation))
        return db_setup.commit_then(
            lambda: jsonify(said="answer made before the commit", runs=len(runs)))

    cut_first_commit(monkeypatch, went_through=went_through)
    second.add_url_rule("/__write", view_func=write)
    db_setup.retry_views_after_disconnect(second)
    response = second.test_client().get("/__write")
    with second.app_context():
        events = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
        written = db.session.scalar(sa.select(sa.func.count()).select_from(MemberOrganisation))
        db.session.remove()
        db.engine.dispose()
    said = response.get_json()["said"] if response.status_code == 200 else None
    assert (response.status_code, said, len(runs), events, written) == expected


@pytest.mark.parametrize(("path", "media"), [("/__locked", "text/html"),
                                             ("/api/v1/__locked", "application/problem+json")])
def test_a_database_that_cannot_answer_is_a_503_with_retry_after(
    tmp_path: Path, path: str, media: str
) -> None:
    """SQLite's "database is locked" after the busy timeout, say: try again, not a 500."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}",
                      "SECRET_KEY": "k" * 32}, instance_path=str(tmp_path))

    def locked() -> Any:
        raise sa.exc.OperationalError("UPDATE suppliers …", {}, Exception("database is locked"))

    app.add_url_rule(path, view_func=locked, endpoint=path)
    response = app.test_client().get(path)
    assert response.status_code == 503 and response.mimetype == media
    assert response.headers["Retry-After"] == "5"
    assert "database is locked" not in response.get_data(as_text=True)



def test_a_commit_without_expiring_keeps_what_was_loaded(app_context: Any) -> None:
    """Committed like any commit, but reading the objects afterwards needs no query; the
    session expires on later commits as before."""
    from tests.factories import make_user
    from web.db_setup import commit_without_expiring

    user = make_user(name="Kept Loaded")
    db.session.flush()
    organisation_id = user.organisation_id
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        commit_without_expiring()
        assert (user.name, user.organisation_id) == ("Kept Loaded", organisation_id)
        assert statements == []
        db.session.rollback()  # nothing pending: the commit kept the user
        assert db.session.scalar(sa.select(User.name).where(User.id == user.id)) == "Kept Loaded"
        assert db.session().expire_on_commit
        db.session.commit()
        assert "name" not in sa.inspect(user).dict  # expired by an ordinary commit
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)


@pytest.mark.parametrize(("how", "guarded"), [
    ("commit_then after its event", True),
    ("commit_then with no event", False),
    ("plain commit after an event", False),  # the event cannot be looked for: 503 if cut
    ("plain commit, safe to run again", True),
    ("plain commit of reads only", True),
    ("commit_idempotent", True),
])
@pytest.mark.parametrize("testing", [True, False])
def test_a_write_a_restart_could_leave_unknowable_fails_the_tests_and_is_logged(
    app: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    how: str, guarded: bool, testing: bool,
) -> None:
    """Every write route runs in the tests: one that commits a write in a way a restart
    could leave unknown (answering 503) raises there, so it is caught before it ships; in
    production it is logged and the write stands."""
    from flask import jsonify

    from tests.factories import make_organisation
    from web import db_setup
    from web.models import MemberOrganisation
    from web.services.audit import record_event

    second = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                         "SECRET_KEY": "k" * 32, "TESTING": testing},
                        instance_path=str(tmp_path))

    def write() -> Any:
        if how == "plain commit of reads only":
            db.session.scalar(sa.select(sa.func.count()).select_from(MemberOrganisation))
        else:
            make_organisation(name="Written")
        if how in ("commit_then after its event", "plain commit after an event"):
            record_event("catalogue.published", actor=None, organisation_id=None,
                         object_type="catalogue")
        if how.startswith("commit_then"):
            return db_setup.commit_then(lambda: jsonify(ok=True))
        if how == "commit_idempotent":
            db_setup.commit_idempotent()
        else:
            db.session.commit()
        return jsonify(ok=True)

    view = db_setup.safe_to_run_again(write) if how.endswith("safe to run again") else write
    second.add_url_rule("/__write", view_func=view)
    db_setup.retry_views_after_disconnect(second)
    client = second.test_client()
    if testing and not guarded:
        with pytest.raises(db_setup.UnguardedWrite, match="view 'write' commits a write"):
            client.get("/__write")
    else:
        assert client.get("/__write").status_code == 200
    with second.app_context():
        kept = db.session.scalar(sa.select(sa.func.count()).select_from(MemberOrganisation))
        db.session.remove()
        db.engine.dispose()
    warned = [r for r in caplog.records if "a database restart in this commit" in r.message]
    assert (kept, len(warned)) == (
        (0 if how == "plain commit of reads only" or (testing and not guarded) else 1),
        (0 if guarded or testing else 1),
    )
