"""gunicorn settings: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Each setting can be changed from the environment (shown beside it), so a deployment sets
variables rather than editing this file. See docs/deployment.md.

Choices made here:

- **Sync workers** (one request at a time per process), ``GUNICORN_WORKERS`` of them,
  default 2. Searches are CPU-bound Python, so threads in one process would only take
  turns holding the GIL; a process per core is what gives throughput. Sync workers expect
  a buffering reverse proxy in front (nginx), which also deals with slow clients.
  ``GUNICORN_THREADS`` > 1 switches to the ``gthread`` worker for deployments without one.
- **Preloading, with the index built once in the master** (``preload_app``, default on;
  ``GUNICORN_PRELOAD=0`` turns it off). The master imports the app, opens the postcode
  directory and gets the matching index (at 100,000 suppliers about 10 s of CPU to build,
  or 0.04 s to map when it was saved before: web/services/index_files.py), then
  closes every database connection it opened (``when_ready``) and freezes its objects out
  of the garbage collector's reach; each worker is forked with all of that in place. So a
  worker replaced after a crash serves at once instead of rebuilding the index while the
  other workers carry its load, and the workers share the index's pages (numpy arrays:
  reference counting does not write to their data) until the data changes: then one
  worker rebuilds and saves the index and the others map the saved file, each in a
  background thread, answering from the previous index meanwhile
  (``INDEX_REFRESH_WAIT_S`` in web/config.py). No database connection crosses the fork:
  the master's are closed before any worker exists, and each worker drops whatever pool
  it inherited without touching the sockets (``post_fork``). The postcode directory is
  read-only memory, safe to share. The costs: the master keeps its copy of the index (as
  it was at start) for its lifetime, and ``kill -HUP`` restarts the workers with the code
  the master loaded, so a deployment of new code restarts the service (``systemctl
  restart``; see docs/deployment.md) rather than sending HUP.
- **No gunicorn access log**: the app writes one JSON line per request with more in it
  (request id, user, duration; :mod:`web.ops`) on standard output. gunicorn's own error
  log (worker starts, exits, timeouts) goes to standard error.
- ``timeout``: a worker silent for this long (stuck, or a request running away) is killed
  and replaced; the warm-up must fit in it too. ``graceful_timeout``: on SIGTERM (a deploy,
  a shutdown) workers stop accepting and get this long to finish the requests they have.
- ``worker_tmp_dir = /dev/shm``: the workers' heartbeat files live in memory, so a slow or
  busy disk cannot make a healthy worker look dead.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from typing import Any


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


bind = [os.environ.get("GUNICORN_BIND", "").strip() or "127.0.0.1:8000"]
workers = _int("GUNICORN_WORKERS", 2)
threads = _int("GUNICORN_THREADS", 1)
worker_class = "gthread" if threads > 1 else "sync"
timeout = _int("GUNICORN_TIMEOUT", 60)  # seconds; covers the warm-up of a 1M-supplier index
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)  # seconds
keepalive = 5  # seconds (gthread only: sync workers close the connection after each response)
backlog = 2048  # connections queued for the workers (the kernel's somaxconn may cap it)
preload_app = os.environ.get("GUNICORN_PRELOAD", "1").strip().lower() not in ("0", "false", "no")

accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").strip().lower() or "info"
capture_output = False
proc_name = "framework-match"

if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# Behind a reverse proxy on the same machine; the app's BEHIND_HTTPS_PROXY (ProxyFix)
# decides what to trust, not gunicorn.
forwarded_allow_ips = "127.0.0.1"


WARM_UP_ATTEMPTS = 5  # a database restarting as the worker starts: try again, not start cold
WARM_UP_RETRY_S = 2.0


def when_ready(server: Any) -> None:
    """Preloading: warm the master's app (postcode directory, matching index) once, then
    close its database connections and freeze its objects, before any worker is forked."""
    if not server.cfg.preload_app:
        return
    log = logging.getLogger("gunicorn.error")
    app = _flask_app(server.app.wsgi())
    if app is None:
        log.warning("master: %r is not a Flask app nor wraps one; workers warm themselves",
                    server.app.wsgi())
        return
    started = time.perf_counter()
    warm = _warm(app, log, "master", attempts=1)
    _close_connections(app, close=True)
    # Objects made so far live as long as the master: keeping them out of the collector's
    # passes means the workers' collections do not write to (and so copy) their pages.
    gc.collect()
    gc.freeze()
    if warm:
        log.info("master: index and postcode directory ready in %.2f s; workers share them",
                 time.perf_counter() - started)


def post_fork(server: Any, worker: Any) -> None:
    """A new worker forgets any pooled connection it inherited, without closing it (the
    sockets would be the master's); it opens its own on first use."""
    if server.cfg.preload_app:
        app = _flask_app(worker.app.wsgi())
        if app is not None:
            _close_connections(app, close=False)


def post_worker_init(worker: Any) -> None:
    """Warm the worker before it accepts connections: postcode directory and matching index
    (already there when forked from a preloaded master and the data has not changed since).

    gunicorn's ``timeout`` does not run until a worker has started serving, so the retries
    here are bounded by their own count.
    """
    log = logging.getLogger("gunicorn.error")
    app = _flask_app(worker.wsgi)
    if app is None:
        log.warning("worker %s: %r is not a Flask app nor wraps one; starting cold",
                    worker.pid, worker.wsgi)
        return
    _warm(app, log, f"worker {worker.pid}", attempts=WARM_UP_ATTEMPTS)


def _warm(app: Any, log: logging.Logger, who: str, *, attempts: int) -> bool:
    """Open the postcode directory and get the matching index, retrying; whether that
    worked (a failure is logged: the process starts cold, its first search retries)."""
    from web.extensions import db
    from web.postcodes import get_directory
    from web.services import matching

    started = time.perf_counter()
    for attempt in range(1, attempts + 1):
        inherited = matching.cached_index()
        try:
            with app.app_context():
                try:
                    get_directory(app)
                    index = matching.get_index()
                    current = matching.index_is_current(index.data_version)
                finally:
                    db.session.remove()
        except Exception as error:  # the process still starts; its first search retries
            if attempt == attempts:
                log.warning("%s: warm-up failed %d times (%s: %s); starting cold",
                            who, attempt, type(error).__name__, error)
                return False
            log.info("%s: warm-up attempt %d failed (%s); retrying",
                     who, attempt, type(error).__name__)
            time.sleep(WARM_UP_RETRY_S)
        else:
            how = "index inherited" if index is inherited else "index built"
            if not current:  # the data changed since the master built it: serve meanwhile
                how += "; the data changed: the current one is built or loaded in the background"
            log.info("%s: warm in %.2f s (%s)", who, time.perf_counter() - started, how)
            return True
    return False


def _close_connections(app: Any, *, close: bool) -> None:
    """Empty every engine's pool: ``close=False`` forgets the connections without closing
    them (in a forked child, where they belong to the parent)."""
    from web.extensions import db

    with app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=close)


def _flask_app(wsgi: Any) -> Any:
    """The Flask app served, looking through WSGI middleware that keeps it as ``.app``
    (werkzeug's ProxyFix and most others) or ``.wsgi_app``; None if there is none."""
    from flask import Flask

    for _ in range(10):  # middleware stacks are shallow; never loop on a cycle
        if isinstance(wsgi, Flask):
            return wsgi
        wsgi = getattr(wsgi, "app", None) or getattr(wsgi, "wsgi_app", None)
        if wsgi is None:
            return None
    return None
