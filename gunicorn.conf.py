"""gunicorn settings: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Each setting can be changed from the environment (shown beside it), so a deployment sets
variables rather than editing this file. See docs/deployment.md.

Choices made here:

- **Sync workers** (one request at a time per process), ``GUNICORN_WORKERS`` of them,
  default 2. Searches are CPU-bound Python, so threads in one process would only take
  turns holding the GIL; a process per core is what gives throughput. Sync workers expect
  a buffering reverse proxy in front (nginx), which also deals with slow clients.
  ``GUNICORN_THREADS`` > 1 switches to the ``gthread`` worker for deployments without one.
- **No preloading** (``preload_app = False``): each worker imports the app itself after the
  fork. Database connections (SQLite files, psycopg sockets) and the postcode directory's
  memory map are then never shared between processes, which would corrupt them; ``kill
  -HUP`` reloads new code; and preloading would save little memory, because the matching
  index is built per worker, after the fork, from the database, and CPython's reference
  counting writes to shared pages anyway. The cost, about a second of CPU per worker
  start, is paid when a worker starts, not per request.
- **Warm workers** (``post_worker_init``): a new worker opens the postcode directory and
  builds the matching index *before* it accepts its first connection, so a worker
  replaced after a crash does not answer its first searches seconds late (at 100,000
  suppliers the build takes tens of seconds). A failure (say the database restarting) is
  retried a few times, then logged, and the worker starts cold: its first search builds
  the index, and /readyz reports it until then.
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
preload_app = False

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


def post_worker_init(worker: Any) -> None:
    """Warm the worker before it accepts connections: postcode directory and matching index.

    gunicorn's ``timeout`` does not run until a worker has started serving, so the retries
    here are bounded by their own count.
    """
    log = logging.getLogger("gunicorn.error")
    app = _flask_app(worker.wsgi)
    if app is None:
        log.warning("worker %s: %r is not a Flask app nor wraps one; starting cold",
                    worker.pid, worker.wsgi)
        return
    started = time.perf_counter()
    from web.extensions import db
    from web.postcodes import get_directory
    from web.services.matching import get_index

    for attempt in range(1, WARM_UP_ATTEMPTS + 1):
        try:
            with app.app_context():
                try:
                    get_directory(app)
                    get_index()
                finally:
                    db.session.remove()
        except Exception as error:  # the worker still starts; its first search retries
            if attempt == WARM_UP_ATTEMPTS:
                log.warning("worker %s: warm-up failed %d times (%s: %s); starting cold",
                            worker.pid, attempt, type(error).__name__, error)
                return
            log.info("worker %s: warm-up attempt %d failed (%s); retrying",
                     worker.pid, attempt, type(error).__name__)
            time.sleep(WARM_UP_RETRY_S)
        else:
            log.info("worker %s: warm in %.2f s", worker.pid, time.perf_counter() - started)
            return


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
