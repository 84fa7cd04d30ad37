"""Everything about the database connection: extensions, migrations and SQLite settings."""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from web.extensions import db, migrate

# Shipped inside the package so an installed (non-editable) copy can still migrate.
MIGRATIONS_DIRECTORY = Path(__file__).resolve().parent / "migrations"
FIRST_RETRY_DELAY_S = 0.1
MAX_RETRY_DELAY_S = 1.0  # a restarted server is noticed within a second
# Connection failures worth waiting for: the server refusing or dropping connections
# while it restarts. libpq reports them as text (no SQLSTATE), so they are recognised by
# their words; a refused password or a missing database will not fix itself and fails
# at once.
TRANSIENT_CONNECT_ERRORS = (
    "connection refused",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "server closed the connection unexpectedly",
    "connection reset",
    "timeout expired",
    "connection socket closed",  # psycopg's words for the same: see SOCKET_CLOSED_MESSAGES
)
# What psycopg raises when the socket fails before libpq read why (see
# _socket_closed_is_a_disconnect).
SOCKET_CLOSED_MESSAGES = ("connection socket closed",)
# With a SQLSTATE: connection exceptions (08) and "cannot connect now" (57P03).
TRANSIENT_SQLSTATE_PREFIXES = ("08", "57P")

log = logging.getLogger(__name__)
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def init_app(app: Flask) -> None:
    """Bind SQLAlchemy and Alembic (Flask-Migrate) to ``app``."""
    import web.models  # noqa: F401  (registers every table on the metadata)

    db.init_app(app)
    # Batch mode: SQLite can only ALTER a table by copying it; Alembic does that for us.
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIRECTORY), render_as_batch=True)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_on_connect)
        else:
            event.listen(db.engine, "handle_error", _socket_closed_is_a_disconnect)
            if app.config.get("DATABASE_CONNECT_RETRY_S", 0) > 0:
                event.listen(db.engine, "do_connect",
                             _retrying_connect(float(app.config["DATABASE_CONNECT_RETRY_S"])))


def commit_without_expiring() -> None:
    """Commit, keeping what the session has loaded instead of expiring it.

    For a view that reads everything it shows before committing a Core insert (the
    results page and its audit event): the default expiry would make the page's header
    load the signed-in user again, a query for the values read at the start of the
    request. A view that changed ORM objects should commit normally, so that what it
    shows is what the database holds (on SQLite, for one, a timestamp read back has lost
    the time zone it was written with).
    """
    session = db.session()
    expire = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire


def retry_views_after_disconnect(app: Flask) -> None:
    """Run a view once more when its database connection was cut before it committed.

    A database restart ends every session with a query in flight ("terminating connection
    due to administrator command"). If the request had not started a commit, nothing it
    did was kept (the server rolled the transaction back), so running the view again on a
    new connection is safe and the user never sees the restart. After a commit started,
    whether it happened is unknown, so the error stands (a 503: see web.errors), unless
    the view is marked :func:`safe_to_run_again`.

    The ``before_request`` hooks are run again the same way: loading the signed-in user
    is a query too, and a restart can cut it off.

    A request that has written nothing yet runs again even if a commit had started: a
    transaction holding only reads loses nothing when it is cut off (an edit that changed
    nothing, say). A statement counts as a write unless it is a SELECT, so a savepoint or
    a CTE errs on the side of the 503.

    A view that commits a write any other way (a plain commit after a change that is not
    the same done twice, or ``commit_then`` with no audit event before it) would answer
    503 when cut off in that commit: the commit raises :class:`UnguardedWrite` when the
    app is testing, and is logged as a warning otherwise.

    Call after every view and hook is registered.
    """
    if not event.contains(Session, "before_commit", _note_commit):
        event.listen(Session, "before_commit", _note_commit)
    if not event.contains(Engine, "before_cursor_execute", _note_write):
        event.listen(Engine, "before_cursor_execute", _note_write)
    for endpoint, view in list(app.view_functions.items()):
        app.view_functions[endpoint] = _retrying(view)
    for key, hooks in list(app.before_request_funcs.items()):
        app.before_request_funcs[key] = [_retrying(hook) for hook in hooks]


def safe_to_run_again(view: F) -> F:
    """Mark ``view`` as one that may run again even when a database restart cut off its
    commit, so that whether the commit happened is unknown.

    For views whose writes all come out the same when done twice: audit events (keyed by
    the request, so the second run's are dropped if the first run's were committed) and
    idempotent updates such as an API token's last use. A search is one: without this, a
    restart at the moment of its audit event's commit answers 503. (A write that is not
    the same done twice commits through :func:`commit_then` instead.)
    """
    view._safe_to_run_again = True  # type: ignore[attr-defined]
    return view


def commit_then(answer: Callable[[], T]) -> T:
    """Commit the request's session, then return ``answer()``: a write view's response,
    made ready before the commit.

    ``answer`` must not read the database: it may flash a message and redirect, with
    values read before. After the commit the session's objects are expired, and a read
    cut off by a database restart then would answer 503 for a change that was made.

    A restart can also cut the connection in the commit itself, so that whether the change
    was kept is unknown. If the view recorded an audit event before committing (they are
    keyed by the request: :mod:`web.services.audit`), the view's wrapper
    (:func:`retry_views_after_disconnect`) looks for the first of them on a new connection:
    there, the commit went through and ``answer()`` is the response; missing, nothing was
    kept and the view runs again.
    """
    g.db_answer_if_committed = answer
    _commit()
    g.pop("db_answer_if_committed", None)
    return answer()


def commit_then_redirect(url: str, message: str | None = None) -> Any:
    """:func:`commit_then` with a form's usual answer: ``message`` flashed as a success (if
    given), then a 303 to ``url``. Both are made by the caller before the commit."""
    from flask import flash, redirect

    def answer() -> Any:
        if message:
            flash(message, "success")
        return redirect(url, code=303)

    return commit_then(answer)


def commit_idempotent() -> None:
    """Commit a write that comes out the same when done twice (an API token's last use,
    to the minute). A view cut off in this commit, or after it before committing its own
    change, runs again as if nothing had been committed: done again, the write changes
    nothing."""
    g.db_commit_idempotent = True
    _commit()
    g.db_commit_idempotent = False
    g.db_commit_started = False
    g.db_wrote = False


def _commit() -> None:
    db.session.commit()


class UnguardedWrite(RuntimeError):
    """A view committed a write that a database restart could leave unknowable (raised
    only when testing: see :func:`_note_commit`)."""


def _note_commit(_session: Session) -> None:
    if not has_request_context():
        return
    state = g._get_current_object()  # one proxied access, not one per attribute
    state.db_commit_started = True
    view = getattr(state, "db_view", None)  # (audit key mark, safe to run again)
    if view is not None and getattr(state, "db_wrote", False) and not _known_if_cut(
            state, *view):
        # Cut off in this commit, the request would answer 503: whether the write was kept
        # cannot be told. Tests fail on it (every write route is exercised there), so a new
        # write that forgets its audit event or commit_then is caught before it ships.
        message = (f"view {request.endpoint!r} commits a write that neither goes through "
                   "commit_then with an audit event recorded before it, nor is marked "
                   "safe_to_run_again: a database restart in this commit answers 503")
        if current_app.testing:
            raise UnguardedWrite(message)
        log.warning("%s", message)


def _known_if_cut(state: Any, mark: int, safe_to_run_again: bool) -> bool:
    """Whether a restart cutting off the commit now starting would still let the request
    answer as it should: the write is idempotent, the view is safe to run again, or it
    commits through :func:`commit_then` after recording an audit event (whose presence
    then tells whether the commit went through). ``state`` is the request's ``g``."""
    from web.services.audit import request_keys_mark

    return bool(
        safe_to_run_again
        or getattr(state, "db_commit_idempotent", False)
        or (getattr(state, "db_answer_if_committed", None) is not None
            and request_keys_mark() > mark)
    )


def _note_write(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    # Only the statement's first word is looked at (never the whole text copied): this
    # runs for every statement. Past 32 characters of indentation it counts as a write.
    if has_request_context() and statement[:32].lstrip()[:6].upper() != "SELECT":
        g.db_wrote = True


def _retrying(view: Callable[..., Any]) -> Callable[..., Any]:
    if getattr(view, "_retries_after_disconnect", False):
        return view  # wrapped already (this runs again for routes added later)

    from web.services.audit import (
        first_event_committed,
        request_keys_mark,
        restart_request_keys,
    )

    safe_after_commit = getattr(view, "_safe_to_run_again", False)

    @functools.wraps(view)
    def retrying(*args: Any, **kwargs: Any) -> Any:
        mark = request_keys_mark()
        # for _note_commit's check; set on g's object itself, as every proxied g access
        # costs more than the check
        g._get_current_object().db_view = (mark, safe_after_commit)
        try:
            return view(*args, **kwargs)
        except DBAPIError as error:
            idempotent = g.pop("db_commit_idempotent", False)  # see commit_idempotent
            started = bool(g.get("db_commit_started")) and not idempotent
            # a commit with nothing written in it (or before it) cannot have kept anything
            committing = started and bool(g.get("db_wrote"))
            answer = g.pop("db_answer_if_committed", None)
            # Cut off in a commit_then: its first audit event will tell whether it went through
            knowable = committing and answer is not None and request_keys_mark() > mark
            if not error.connection_invalidated or (
                committing and not safe_after_commit and not knowable
            ):
                raise
            db.session.rollback()
            g.db_commit_started = False
            g.db_wrote = False
            restart_request_keys(mark)  # its audit events get the keys they had
            when = ("after a commit began" if committing
                    else "before any write" if started else "before any commit")
            cause = _first_line(error.orig or error)
            if knowable and first_event_committed():
                log.warning("database connection lost %s (%s); it went through, so the "
                            "answer made before it stands", when, cause)
                return answer()
            log.warning("database connection lost %s (%s); running the view again",
                        when, cause)
            return view(*args, **kwargs)

    retrying._retries_after_disconnect = True  # type: ignore[attr-defined]
    return retrying


def connect_with_retry(connect: Callable[[], T], *, within_s: float,
                       is_transient: Callable[[Exception], bool]) -> T:
    """``connect()``, called again after transient failures for up to ``within_s`` seconds.

    The delay between attempts doubles from ``FIRST_RETRY_DELAY_S`` to
    ``MAX_RETRY_DELAY_S``; the last failure is raised when time runs out, and a failure
    that is not transient is raised at once.
    """
    deadline = time.monotonic() + within_s
    delay = FIRST_RETRY_DELAY_S
    attempt = 1
    while True:
        try:
            return connect()
        except Exception as error:
            remaining = deadline - time.monotonic()
            if not is_transient(error) or remaining <= 0:
                raise
            log.warning("database connection attempt %d failed (%s); retrying for %.1f s more",
                        attempt, _first_line(error), remaining)
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, MAX_RETRY_DELAY_S)
            attempt += 1


def _socket_closed_is_a_disconnect(context: ExceptionContext) -> None:
    """Count psycopg's "connection socket closed" as a lost connection.

    psycopg says it when the socket reports an error or hang-up before libpq has read
    anything from it: the server's end went away (a restart, or its backend terminated)
    while the client waited. The connection is dead, but psycopg has not marked it broken,
    so SQLAlchemy would neither see a disconnect nor invalidate it: the view would not run
    again (a 503), and the rollback after it fails too ("another command is already in
    progress"). Seen under load with connections cut every 1.5 s.
    """
    if not context.is_disconnect and str(context.original_exception).strip() in (
            SOCKET_CLOSED_MESSAGES):
        context.is_disconnect = True


def _first_line(error: BaseException) -> str:
    """An exception's message as one log line: its first line, else its type's name."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def is_transient_connect_error(error: Exception) -> bool:
    """True for a PostgreSQL connection failure that waiting may cure (see the prefixes)."""
    import psycopg

    if not isinstance(error, psycopg.OperationalError):
        return False
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate:
        return bool(sqlstate.startswith(TRANSIENT_SQLSTATE_PREFIXES))
    message = str(error).lower()
    return any(words in message for words in TRANSIENT_CONNECT_ERRORS)


def _retrying_connect(within_s: float) -> Callable[..., Any]:
    """A ``do_connect`` hook: the dialect's own connect, retried through a restart."""

    def do_connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        return connect_with_retry(
            lambda: dialect.loaded_dbapi.connect(*cargs, **cparams),
            within_s=within_s, is_transient=is_transient_connect_error,
        )

    return do_connect


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers run beside one writer (several gunicorn workers); FKs enforced."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
