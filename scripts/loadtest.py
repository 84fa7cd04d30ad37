#!/usr/bin/env python3
"""Load and fault test: gunicorn, mixed traffic, a killed worker, a PostgreSQL restart, and a
check that every write that returned success is in the database.

Run from the repository root (loopback only; stops by itself)::

    .venv/bin/python scripts/loadtest.py [--suppliers 100000] [--duration 60]
        [--database-url postgresql://postgres@127.0.0.1:5432/fm_load --reset-database]

1. Prepares a database (a SQLite file in a temporary folder, or the PostgreSQL database
   given, which must be empty or be reset with ``--reset-database``; never ``test`` or
   ``fm_dev``), migrates it, loads the demo data and ``--suppliers`` synthetic suppliers
   (demo suppliers' trades moved onto real postcodes, through the normal importer), and
   makes an API token and a signed-in session for a demo member.
2. Starts gunicorn with ``gunicorn.conf.py`` (``--workers``, default 2) on 127.0.0.1 and a
   free port, and waits for ``/readyz``.
3. Drives ``--warmup`` + ``--duration`` seconds of traffic from ``--processes`` client
   processes of ``--threads`` threads each (a new connection per request, as sync workers
   close them; no retries): API searches, results pages with a session cookie, shortlist
   writes through the API (create, add entry) and shortlist exports.
4. Mid-load, changes the register (at 15 % of the run: one new supplier through the
   importer, as framework staff would, which makes every worker reindex), SIGKILLs one
   gunicorn worker (at 40 %) and, on PostgreSQL, restarts the local PostgreSQL cluster
   once (at 70 %), unless ``--no-faults``. With ``--faults cut`` (PostgreSQL), every
   client connection of the database is terminated every 1.5 s instead, from 10 % to 90 %.
5. Stops gunicorn (SIGTERM: graceful), checks directly in the database that every shortlist
   and entry whose creation returned 201 is there as returned, and prints a markdown report:
   requests/s, p50/p95/p99 per kind, errors split into those in flight on the killed worker,
   those during the PostgreSQL restart, and the others; lost writes; and how long after
   the register changed searches were answered from the new data, with the search
   latencies meanwhile.

See scripts/README.md for what the numbers mean.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import io
import json
import math
import multiprocessing
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"  # the only address this script ever sends traffic to
FORBIDDEN_DATABASES = {"test", "fm_dev", "postgres", "template0", "template1"}
DEFAULT_MIX = "search=75,results=12,write=9,export=4"
EXPORT_FORMATS = (("csv", 50), ("json", 25), ("xlsx", 15), ("pdf", 10))
EXPECTED_STATUS = {"search": 200, "results": 200, "create": 201, "entry": 201, "export": 200,
                   "form": 303, "health": 200, "options": 200}
# Kinds of --mix. "form" is not in the default mix: a member adding a supplier from a
# results page to a new shortlist through the web form (CSRF token, session cookie), whose
# commit goes through web.db_setup.commit_then rather than the API's path.
# "health" and "options" are not in it either: the floor of the stack, for comparison.
# "health" is GET /healthz (gunicorn, Flask and the request log, no database); "options"
# is GET /api/v1/social-value-options (the same, plus the token lookup and reading the
# catalogue).
MIX_KINDS = ("search", "results", "write", "export", "form", "health", "options")
ENTRIES_PER_SHORTLIST = 5
KILL_AT = 0.4  # of the measured duration
FAULTS = ("change", "kill", "restart")  # the register changes, a worker is killed, PG restarts
# Only when asked for (PostgreSQL): every client connection of the database is cut, again
# and again, as a restart does to the requests in flight (a stress test of the recovery).
EXTRA_FAULTS = ("cut",)
CUT_EVERY_S = 1.5
CUT_FROM, CUT_UNTIL = 0.1, 0.9  # of the measured duration
CHANGE_AT = 0.15  # before the other faults, so that its aftermath is measured alone
CHANGE_ATTEMPTS = 3  # the register change is imported again when a restart ends its connection
# The register change's connections: cuts spare them. Importing one row into a register of
# 100,000 takes longer than the 1.5 s between cuts (the importer reads the register first),
# so cut too it would never finish; a cut is meant for the server's requests.
CHANGE_APPLICATION_NAME = "loadtest-register-change"
PG_RESTART_AT = 0.7
#: The reference loop (see reference_ms): items per pass, and passes (the best counts).
REFERENCE_LOOP_ITEMS = 200_000
REFERENCE_PASSES = 5
PG_GRACE_S = 1.0  # after the restart command returns, still "during the restart"
KILL_SLACK_S = 0.05  # between taking the time and the kill reaching the worker
REQUEST_TIMEOUT_S = 30
READY_TIMEOUT_S = 10  # one /readyz poll while gunicorn starts
SYNTHETIC_POSTCODES = 20_000
IMPORT_BATCH = 25_000  # rows per file given to the importer (about 16 MB)


# ---------------------------------------------------------------------------------------
# 1. The database


@dataclass
class Prepared:
    url: str
    postcodes: Path
    secret_key: str
    token: str
    cookie: str
    csrf: str  # the form token that goes with the cookie's session
    needs: list[str]
    postcodes_sample: list[str]
    suppliers_sample: list[int]
    suppliers: int
    prepare_s: float


def prepare(args: argparse.Namespace, tmp: Path) -> Prepared:
    import flask_migrate
    import sqlalchemy as sa

    from web import create_app
    from web.extensions import db
    from web.models import Role, Supplier, User
    from web.postcodes import build_directory, default_directory_path, get_directory
    from web.services.demo import load_demo
    from web.services.tokens import create_token

    started = time.perf_counter()
    url = args.database_url or f"sqlite:///{tmp / 'load.sqlite3'}"
    if args.database_url:
        _check_postgres_target(url, reset=args.reset_database)
    postcodes = (Path(args.postcodes) if args.postcodes
                 else default_directory_path(ROOT / "instance"))
    if not postcodes.exists():
        postcodes = tmp / "postcodes.npz"
        print(f"building the postcode directory in {postcodes} …", flush=True)
        build_directory(postcodes)
    secret_key = os.urandom(24).hex()
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": secret_key,
        "POSTCODES_DIRECTORY_PATH": str(postcodes),
    }, instance_path=str(tmp / "instance"))
    with app.app_context():
        print("migrating …", flush=True)
        flask_migrate.upgrade()
        directory = get_directory(app)
        print("loading the demo data …", flush=True)
        load_demo(ROOT / "fixtures" / "demo", directory=directory)
        db.session.commit()
        if args.suppliers:
            _import_synthetic(args.suppliers, directory, seed=args.seed)
        user = db.session.scalar(
            sa.select(User).where(User.role == Role.MEMBER, User.organisation_id.is_not(None),
                                  User.active.is_(True)).order_by(User.id)
        )
        if user is None:
            raise SystemExit("the demo data has no member user")
        _token, secret = create_token(user, name=f"loadtest {int(time.time())}")
        db.session.commit()
        serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
        with app.test_request_context():
            from flask import session
            from flask_wtf.csrf import generate_csrf

            from web.auth import start_session

            start_session(session, user)
            csrf = generate_csrf()  # keeps its secret in the session, signed into the cookie
            cookie = f"{app.config['SESSION_COOKIE_NAME']}={serializer.dumps(dict(session))}"
        capabilities = db.session.scalars(
            sa.select(Supplier.capabilities).where(Supplier.external_id.like("DEMO-%"))
        ).all()
        needs = sorted({phrase for row in capabilities for phrase in (row or ())})
        postcodes_sample = sorted(set(db.session.scalars(
            sa.select(Supplier.postcode).where(Supplier.postcode.is_not(None))
            .order_by(Supplier.id).limit(5000)
        )))
        suppliers_sample = list(db.session.scalars(
            sa.select(Supplier.id).where(Supplier.active.is_(True)).order_by(Supplier.id)
            .limit(5000)))
        total = db.session.scalar(sa.select(sa.func.count()).select_from(Supplier)) or 0
        db.session.remove()
        db.engine.dispose()
    return Prepared(url, postcodes, secret_key, secret, cookie, csrf, needs, postcodes_sample,
                    suppliers_sample, total, time.perf_counter() - started)


def _check_postgres_target(url: str, *, reset: bool) -> None:
    import sqlalchemy as sa

    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise SystemExit("--database-url must be a postgresql:// URL (SQLite is the default)")
    if (parsed.database or "") in FORBIDDEN_DATABASES:
        raise SystemExit(f"refusing to use database {parsed.database!r}: create one for the "
                         "load test (e.g. fm_load)")
    if parsed.host not in (None, "", "localhost") and not str(parsed.host).startswith("127."):
        raise SystemExit("the load test only runs against a database on this machine")
    if parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        tables = sa.inspect(connection).get_table_names()
        if tables and not reset:
            raise SystemExit(f"database {parsed.database!r} has tables; pass --reset-database "
                             "to drop everything in it")
        if tables:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


def _import_synthetic(count: int, directory: Any, *, seed: int) -> None:
    """``count`` suppliers cloned from the demo suppliers' trades onto real postcodes."""
    from web.extensions import db
    from web.services.suppliers_import import import_suppliers

    rng = random.Random(seed)
    with open(ROOT / "fixtures" / "demo" / "suppliers.csv", encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        headings = list(reader.fieldnames or ())
        templates = list(reader)
    outcodes = directory.outcodes()
    postcodes: list[str] = []
    for outcode in rng.sample(outcodes, min(len(outcodes), 1500)):
        units = directory.units_in_outcode(outcode)
        postcodes.extend(u.postcode for u in rng.sample(units, min(len(units), 15)))
    postcodes = rng.sample(postcodes, min(len(postcodes), SYNTHETIC_POSTCODES))
    print(f"importing {count} synthetic suppliers …", flush=True)
    started = time.perf_counter()
    imported = 0
    for first in range(1, count + 1, IMPORT_BATCH):  # the importer takes files up to 50 MB
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=headings)
        writer.writeheader()
        for n in range(first, min(count, first + IMPORT_BATCH - 1) + 1):
            row = dict(rng.choice(templates))
            postcode = rng.choice(postcodes)
            row.update(
                external_id=f"LOAD-{n:07d}",
                name=f"{row['name'].removesuffix(' Ltd')} {postcode.split()[0]} {n} Ltd",
                company_number="", postcode=postcode, latitude="", longitude="",
                local_authority_code="", website="", email="", phone="",
                address=f"{n} Load Street",
            )
            writer.writerow(row)
        report = import_suppliers(io.BytesIO(buffer.getvalue().encode("utf-8")),
                                  filename="loadtest.csv", directory=directory)
        if report.rejected:
            problem = report.problems[0]
            raise SystemExit(f"synthetic import: {report.rejected} rows rejected; first at row "
                             f"{problem.row}: {problem.reason}")
        db.session.commit()
        imported += report.imported
    print(f"imported {imported} in {time.perf_counter() - started:.1f} s", flush=True)


# ---------------------------------------------------------------------------------------
# 2. gunicorn


class Server:
    def __init__(self, prepared: Prepared, args: argparse.Namespace, tmp: Path) -> None:
        self.port = _free_port()
        self.tmp = tmp
        env = {k: v for k, v in os.environ.items() if k != "GUNICORN_CMD_ARGS"}
        env.update(
            DATABASE_URL=prepared.url, POSTCODE_DIRECTORY=str(prepared.postcodes),
            SECRET_KEY=prepared.secret_key, LOG_LEVEL="INFO",
            GUNICORN_BIND=f"{HOST}:{self.port}", GUNICORN_WORKERS=str(args.workers),
            GUNICORN_THREADS=str(args.gunicorn_threads),
        )
        # saved indexes in the run's own folder, not the repository's instance folder
        env.setdefault("INDEX_DIRECTORY", str(tmp / "index"))
        # wsgi:app with web.ops applied: a no-op once the app factory wires it (init_app is
        # idempotent), and /readyz and the JSON log before that.
        (tmp / "loadtest_wsgi.py").write_text(
            "from web import ops\nfrom wsgi import app\n\nops.init_app(app)\n")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp), str(ROOT),
                                                          env.get("PYTHONPATH")]))
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.access_log = tmp / "access.jsonl"
        self.error_log = tmp / "gunicorn.log"
        self.proc = subprocess.Popen(
            [str(gunicorn), "-c", str(ROOT / "gunicorn.conf.py"), "loadtest_wsgi:app"],
            cwd=ROOT, env=env,
            stdout=open(self.access_log, "wb"), stderr=open(self.error_log, "wb"),  # noqa: SIM115
            start_new_session=True,
        )

    def wait_ready(self, timeout_s: float) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited ({self.proc.returncode}); "
                                 f"see {self.error_log}:\n" + self.error_log.read_text()[-3000:])
            try:
                status, _body = http_exchange(self.port, "GET", "/readyz", None, {},
                                              timeout_s=READY_TIMEOUT_S)
                if status == 200 and len(self.workers()) >= 1:
                    return time.monotonic() - started
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.25)
        raise SystemExit(f"gunicorn not ready after {timeout_s} s; see {self.error_log}")

    def workers(self) -> list[int]:
        return _children(self.proc.pid)

    def stop(self) -> float:
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=45)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return time.monotonic() - started


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _processes() -> Iterator[tuple[int, str, list[str]]]:
    """(pid, name, the fields of /proc/<pid>/stat after the name) of every process."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue  # ended meanwhile
        yield (int(entry), stat[stat.find("(") + 1:stat.rfind(")")],
               stat[stat.rfind(")") + 2:].split())


def _children(pid: int) -> list[int]:
    return sorted(child for child, _name, fields in _processes() if int(fields[1]) == pid)


def _cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# The columns of /proc/stat's "cpu" line, in seconds of one core once divided by the tick
MACHINE_CPU_STATES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def _machine_cpu() -> dict[str, float]:
    """CPU seconds the whole machine has spent in each state since boot (all cores)."""
    with open("/proc/stat") as handle:
        fields = handle.readline().split()[1:1 + len(MACHINE_CPU_STATES)]
    tick = os.sysconf("SC_CLK_TCK")
    return {state: int(value) / tick
            for state, value in zip(MACHINE_CPU_STATES, fields, strict=True)}


def _postgres_cpu() -> tuple[int, float] | None:
    """(postmaster pid, CPU seconds of PostgreSQL on this machine): every live ``postgres``
    process's own CPU, plus what the postmaster's ended children (closed connections)
    used. None without a local server. Comparable between two readings only when the
    postmaster is the same (a restart starts the count again)."""
    total = 0.0
    postmaster = None
    tick = os.sysconf("SC_CLK_TCK")
    for pid, name, fields in _processes():
        if name != "postgres":
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
        parent = int(fields[1])
        try:
            with open(f"/proc/{parent}/comm") as handle:
                parent_name = handle.read().strip()
        except OSError:
            parent_name = ""
        if parent_name != "postgres":  # the postmaster: its children's ended CPU is its own
            postmaster = pid
            total += (int(fields[13]) + int(fields[14])) / tick
    return (postmaster, total) if postmaster is not None else None


# ---------------------------------------------------------------------------------------
# 3. The clients (run in child processes)


def http_exchange(port: int, method: str, path: str, body: bytes | None,
                  headers: dict[str, str], *,
                  timeout_s: float = REQUEST_TIMEOUT_S) -> tuple[int, bytes]:
    """One request on a new connection to ``HOST:port``: (status, body).

    Written on a bare socket rather than with ``http.client`` because the clients share
    the machine with the server: ``http.client`` parses every response's headers with the
    ``email`` package, about 0.3 CPU-ms per request that the gunicorn workers then did not
    get; this takes 0.12-0.15 (scripts/README.md). The request is an ordinary HTTP/1.1 one
    with ``Connection: close``; a chunked response body is decoded.

    :raise OSError: the connection failed or timed out.
    :raise http.client.RemoteDisconnected: closed before a status line came back.
    :raise http.client.IncompleteRead: closed before the whole body came back.
    """
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", "Connection: close",
             *(f"{name}: {value}" for name, value in headers.items())]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
    with socket.create_connection((HOST, port), timeout=timeout_s) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return parse_response(b"".join(chunks))


def parse_response(raw: bytes) -> tuple[int, bytes]:
    """(status, body) of a whole HTTP/1.x response read until the server closed."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    status_line, _, header_block = head.partition(b"\r\n")
    parts = status_line.split(b" ", 2)
    if not sep or len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise http.client.RemoteDisconnected("no complete status line and headers")
    headers = {}
    for line in header_block.split(b"\r\n"):
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        return int(parts[1]), _unchunk(rest)
    length = headers.get(b"content-length")
    if length is not None and len(rest) < int(length):
        raise http.client.IncompleteRead(rest, int(length) - len(rest))
    return int(parts[1]), rest if length is None else rest[: int(length)]


def _unchunk(data: bytes) -> bytes:
    """The body carried by a chunked transfer coding (chunk extensions ignored).

    :raise http.client.IncompleteRead: the data ends before the last, empty chunk.
    """
    out, at = [], 0
    while True:
        end = data.find(b"\r\n", at)
        if end < 0:
            raise http.client.IncompleteRead(b"".join(out))
        size = int(data[at:end].split(b";", 1)[0], 16)
        if size == 0:
            return b"".join(out)
        if end + 2 + size > len(data):
            raise http.client.IncompleteRead(b"".join(out), end + 2 + size - len(data))
        out.append(data[end + 2 : end + 2 + size])
        at = end + 2 + size + 2


@dataclass
class ClientPlan:
    port: int
    token: str
    cookie: str
    csrf: str
    needs: list[str]
    postcodes: list[str]
    suppliers_sample: list[int]
    mix: list[tuple[str, int]]
    threads: int
    start_at: float  # time.monotonic(), shared by every process on Linux
    end_at: float
    seed: int
    rate_per_thread: float | None


# (kind, started, ended, status, error, write) — status 0 when no response came back; for a
# search answered 200, ``write`` is ("version", the data version it was ranked on)
Record = tuple[str, float, float, int, str, tuple[Any, ...] | None]
DATA_VERSION = re.compile(rb'"data_version":\s*"([^"]*)"')


def run_clients(plan: ClientPlan, queue: Any) -> None:
    records: list[Record] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        local = _Client(plan, random.Random(plan.seed * 1000 + n), f"{plan.seed}-{n}")
        local.loop()
        with lock:
            records.extend(local.records)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(plan.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    queue.put((records, usage.ru_utime + usage.ru_stime))


class _Client:
    def __init__(self, plan: ClientPlan, rng: random.Random, name: str) -> None:
        self.plan = plan
        self.rng = rng
        self.name = name
        self.records: list[Record] = []
        self.kinds = [k for k, _ in plan.mix]
        self.weights = [w for _, w in plan.mix]
        self.shortlist: int | None = None
        self.shortlist_entries = 0
        self.candidates: list[int] = []
        self.search_body: dict[str, Any] | None = None
        self.exportable: list[int] = []
        self.count = 0

    def loop(self) -> None:
        now = time.monotonic()
        if now < self.plan.start_at:
            time.sleep(self.plan.start_at - now)
        next_at = time.monotonic()
        interval = 1 / self.plan.rate_per_thread if self.plan.rate_per_thread else 0.0
        if interval:
            next_at += self.rng.random() * interval
        while True:
            if interval:
                delay = next_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                next_at += self.rng.expovariate(1 / interval)
            if time.monotonic() >= self.plan.end_at:
                return
            kind = self.rng.choices(self.kinds, self.weights)[0]
            getattr(self, f"do_{kind}")()

    # -- the actions ---------------------------------------------------------------

    def _search_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"need": self.rng.choice(self.plan.needs),
                                "postcode": self.rng.choice(self.plan.postcodes)}
        if self.rng.random() < 0.7:
            body["radius_km"] = self.rng.choice((10, 25, 50, 100))
        return body

    def do_search(self, *, keep: bool = False) -> None:
        body = self._search_body()
        status, data = self._call("search", "POST", "/api/v1/search", {**body, "limit": 20})
        version = DATA_VERSION.search(data) if status == 200 else None
        if version:
            self.records[-1] = (*self.records[-1][:5], ("version", version.group(1).decode()))
        if keep and status == 200:
            ids = [r["supplier_id"] for r in json.loads(data)["results"]]
            if ids:  # a shortlist's search has no page: the same inputs without "limit"
                self.search_body, self.candidates = body, ids[:ENTRIES_PER_SHORTLIST]

    def _results_query(self) -> str:
        return urllib.parse.urlencode({
            "need": self.rng.choice(self.plan.needs), "site": "postcode",
            "postcode": self.rng.choice(self.plan.postcodes), "local": "radius",
            "radius": self.rng.choice(("10", "25", "50", "100")),
        })

    def do_results(self) -> None:
        self._call("results", "GET", f"/search/results?{self._results_query()}", None,
                   headers={"Cookie": self.plan.cookie})

    def do_form(self) -> None:
        """Add a supplier to a new shortlist through the results page's form, as a member
        does (each to a shortlist of its own name, so the check finds it exactly once)."""
        self.count += 1
        name = f"form {self.name} #{self.count}"
        supplier_id = self.rng.choice(self.plan.suppliers_sample)
        form = {"csrf_token": self.plan.csrf, "supplier_id": str(supplier_id),
                "search": self._results_query(), "shortlist_id": "",
                "new_shortlist_name": name, "reason": "load test"}
        status, _ = self._call("form", "POST", "/shortlists/add", None, form=form,
                               headers={"Cookie": self.plan.cookie})
        if status == 303:
            self.records[-1] = (*self.records[-1][:5], ("form", name, supplier_id))

    def do_health(self) -> None:
        self._call("health", "GET", "/healthz", None)

    def do_options(self) -> None:
        self._call("options", "GET", "/api/v1/social-value-options", None)

    def do_write(self) -> None:
        if self.shortlist is None or not self.candidates:
            if self.search_body is None or not self.candidates:
                self.do_search(keep=True)
                if not self.candidates:
                    return
            self.count += 1
            name = f"load {self.name} #{self.count}"
            status, data = self._call("create", "POST", "/api/v1/shortlists",
                                      {"name": name, "search": self.search_body})
            if status == 201:
                shortlist_id = json.loads(data)["id"]
                self.records[-1] = (*self.records[-1][:5], ("shortlist", shortlist_id, name))
                self.shortlist = shortlist_id
            return
        supplier_id = self.candidates.pop(0)
        shortlist_id = self.shortlist
        status, data = self._call("entry", "POST", f"/api/v1/shortlists/{shortlist_id}/entries",
                                  {"supplier_id": supplier_id, "reason": "load test"})
        if status == 201:
            entry_id = json.loads(data)["id"]
            self.records[-1] = (*self.records[-1][:5],
                                ("entry", entry_id, shortlist_id, supplier_id))
            if shortlist_id not in self.exportable:
                self.exportable.append(shortlist_id)
        if not self.candidates:  # the shortlist is full: the next write starts another
            self.shortlist, self.search_body = None, None

    def do_export(self) -> None:
        if not self.exportable:
            self.do_write()
            return
        formats, weights = zip(*EXPORT_FORMATS, strict=True)
        fmt = self.rng.choices(formats, weights)[0]
        shortlist_id = self.rng.choice(self.exportable[-5:])
        self._call("export", "GET", f"/api/v1/shortlists/{shortlist_id}/export?format={fmt}", None)

    # -- HTTP ----------------------------------------------------------------------

    def _call(self, kind: str, method: str, path: str, body: dict[str, Any] | None,
              headers: dict[str, str] | None = None,
              form: dict[str, str] | None = None) -> tuple[int, bytes]:
        send = {"Authorization": f"Bearer {self.plan.token}"} if path.startswith("/api/") else {}
        send.update(headers or {})
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            send["Content-Type"] = "application/json"
        elif form is not None:
            payload = urllib.parse.urlencode(form).encode()
            send["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.monotonic()
        status, data, error = 0, b"", ""
        try:
            status, data = http_exchange(self.plan.port, method, path, payload, send)
        except (OSError, http.client.HTTPException) as exc:
            error = type(exc).__name__
        ended = time.monotonic()
        if status and status != EXPECTED_STATUS[kind]:
            error = f"HTTP {status}"
        self.records.append((kind, started, ended, status, error, None))
        return status, data


# ---------------------------------------------------------------------------------------
# 4. The run, with its faults


@dataclass
class Faults:
    kill_at: float | None = None
    killed_pid: int | None = None
    worker_replaced_s: float | None = None
    pg_begin: float | None = None
    pg_end: float | None = None
    pg_error: str | None = None
    cuts: list[tuple[float, float]] = field(default_factory=list)  # (begin, end) of each cut
    cut_connections: int = 0
    cut_error: str | None = None
    change_begin: float | None = None
    change_end: float | None = None
    change_error: str | None = None
    change_retries: int = 0  # imports run again after their connection was cut
    load: list[tuple[float, float]] = field(default_factory=list)  # (time, 1-min load average)
    # CPU seconds of each worker: when measuring began (0 for workers started later, so a
    # replacement's start-up counts), and at the last sample
    worker_cpu_start: dict[int, float] = field(default_factory=dict)
    worker_cpu: dict[int, float] = field(default_factory=dict)
    client_cpu: float = 0.0
    # The whole machine's CPU ticks by state (/proc/stat) and PostgreSQL's CPU seconds,
    # when measuring began and at its end: where the cores went besides the workers
    machine_start: dict[str, float] | None = None
    machine_end: dict[str, float] | None = None
    postgres_start: tuple[int, float] | None = None  # (postmaster pid, CPU-s)
    postgres_end: tuple[int, float] | None = None

    def server_cpu(self) -> float:
        return sum(cpu - self.worker_cpu_start.get(pid, 0.0)
                   for pid, cpu in self.worker_cpu.items())


def reference_ms() -> float:
    """CPU milliseconds of a fixed pure-Python loop (dict, string and integer work, as a
    request's is), the best of ``REFERENCE_PASSES``: how fast this machine is right now.

    A shared virtual machine's speed drifts: the same code has measured 5.5 and 7.7
    CPU-ms per request an hour apart. This loop shows a change in the CPU's own speed. A
    small loop does not feel contention for caches and memory bandwidth, which a request
    does, so a steady loop does not prove a steady machine.
    """
    best = math.inf
    for _ in range(REFERENCE_PASSES):
        started = time.process_time()
        counts: dict[str, int] = {}
        total = 0
        for i in range(REFERENCE_LOOP_ITEMS):
            key = f"w{i % 5000}"
            counts[key] = counts.get(key, 0) + i
            total += len(key)
        best = min(best, time.process_time() - started)
    return best * 1000


def run_load(prepared: Prepared, server: Server, args: argparse.Namespace
             ) -> tuple[list[Record], Faults, float, float]:
    mix = [(k, int(w)) for k, w in (part.split("=") for part in args.mix.split(","))]
    for kind, _ in mix:
        if kind not in MIX_KINDS:
            raise SystemExit(f"--mix: unknown kind {kind!r}")
    start_at = time.monotonic() + 2.0  # the client processes start meanwhile
    measure_from = start_at + args.warmup
    end_at = measure_from + args.duration
    total_threads = args.processes * args.threads
    rate = args.rate / total_threads if args.rate else None
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    processes = []
    for n in range(args.processes):
        plan = ClientPlan(server.port, prepared.token, prepared.cookie, prepared.csrf,
                          prepared.needs, prepared.postcodes_sample, prepared.suppliers_sample,
                          mix, args.threads, start_at, end_at,
                          args.seed * 100 + n, rate)
        process = ctx.Process(target=run_clients, args=(plan, queue), daemon=True)
        process.start()
        processes.append(process)

    faults = Faults()
    kill_at = measure_from + KILL_AT * args.duration
    change_at = measure_from + CHANGE_AT * args.duration
    changer: threading.Thread | None = None
    pg_at = measure_from + PG_RESTART_AT * args.duration
    pg_version = _pg_cluster(args) if args.database_url and "restart" in args.faults else None
    next_cut = measure_from + CUT_FROM * args.duration if "cut" in args.faults else math.inf
    cut_until = measure_from + CUT_UNTIL * args.duration
    known = set(server.workers())
    next_sample = time.monotonic()
    while time.monotonic() < end_at:
        now = time.monotonic()
        if now >= next_sample:  # the last sample before measuring is the baseline
            if now >= measure_from:
                faults.load.append((now, os.getloadavg()[0]))
                if faults.machine_start is None:
                    faults.machine_start = _machine_cpu()
                    faults.postgres_start = _postgres_cpu() if args.database_url else None
            samples = faults.worker_cpu if now >= measure_from else faults.worker_cpu_start
            for pid in server.workers():
                cpu = _cpu_seconds(pid)
                if cpu is not None:
                    samples[pid] = cpu
            next_sample = min(now + 1.0, measure_from) if now < measure_from else now + 1.0
        if "kill" in args.faults and faults.kill_at is None and now >= kill_at:
            victims = server.workers()
            if victims:
                faults.killed_pid = victims[0]
                known = set(victims)
                faults.kill_at = time.monotonic()
                os.kill(victims[0], signal.SIGKILL)
        if (faults.kill_at is not None and faults.worker_replaced_s is None
                and set(server.workers()) - known):
                faults.worker_replaced_s = time.monotonic() - faults.kill_at
        if "change" in args.faults and changer is None and now >= change_at:
            # in a thread, so that the sampling and the other faults keep their times
            changer = threading.Thread(target=change_register, args=(prepared, faults))
            changer.start()
        if pg_version and faults.pg_begin is None and now >= pg_at:
            faults.pg_begin = time.monotonic()
            result = subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", *pg_version, "restart"],
                capture_output=True, text=True, check=False, timeout=120,
            )
            faults.pg_end = time.monotonic()
            if result.returncode:
                faults.pg_error = (result.stderr or result.stdout).strip()[-300:]
        if now >= next_cut and now < cut_until:
            cut_connections(prepared.url, faults)
            next_cut = now + CUT_EVERY_S
        time.sleep(0.05)

    faults.machine_end = _machine_cpu()
    faults.postgres_end = _postgres_cpu() if args.database_url else None
    if changer is not None:
        changer.join(timeout=120)
    for pid in server.workers():  # the last sample, at the end of the measured time
        cpu = _cpu_seconds(pid)
        if cpu is not None:
            faults.worker_cpu[pid] = cpu
    records: list[Record] = []
    for _ in processes:
        got, cpu = queue.get(timeout=REQUEST_TIMEOUT_S + 60)
        records.extend(got)
        faults.client_cpu += cpu
    for process in processes:
        process.join(timeout=10)
    return records, faults, measure_from, end_at


def _sqlalchemy_url(url: str) -> str:
    """``url`` with the psycopg (3) driver named, where a plain postgresql:// URL is given."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def cut_connections(url: str, faults: Faults) -> None:
    """Terminate every client connection of the database at ``url`` but this one's own."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    begin = time.monotonic()
    try:
        engine = sa.create_engine(_sqlalchemy_url(url), poolclass=NullPool)
        with engine.connect() as connection:
            faults.cut_connections += connection.scalar(sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend' AND application_name <> :change"),
                {"change": CHANGE_APPLICATION_NAME}) or 0
        engine.dispose()
    except Exception as error:  # reported; a cut that failed is simply not counted
        faults.cut_error = f"{type(error).__name__}: {error}"[:300]
        return
    faults.cuts.append((begin, time.monotonic()))


def change_register(prepared: Prepared, faults: Faults) -> None:
    """Import one new supplier through the importer, as staff would (a new app in this
    process, its own connection); the data version it bumps makes every worker reindex."""
    from sqlalchemy.exc import DBAPIError

    from web import create_app
    from web.extensions import db
    from web.postcodes import get_directory
    from web.services.suppliers_import import import_suppliers

    faults.change_begin = time.monotonic()
    postcode = prepared.postcodes_sample[0]
    # The same row on every attempt: imported again after a commit that went through, it
    # is found unchanged, so the register changes once.
    row = (f"external_id,name,postcode,description\r\n"
           f"LOAD-CHANGE-{int(time.time())},Newly Added Ltd,{postcode},"
           f"Grounds maintenance and external wall insulation.\r\n")
    try:
        config = {"SQLALCHEMY_DATABASE_URI": prepared.url, "SECRET_KEY": prepared.secret_key,
                  "POSTCODES_DIRECTORY_PATH": str(prepared.postcodes)}
        if prepared.url.startswith("postgresql"):  # named, so that cuts leave it alone
            config["SQLALCHEMY_ENGINE_OPTIONS"] = {
                "connect_args": {"application_name": CHANGE_APPLICATION_NAME}}
        app = create_app(config)
        with app.app_context():
            for attempt in range(1, CHANGE_ATTEMPTS + 1):
                try:
                    report = import_suppliers(io.BytesIO(row.encode()), filename="change.csv",
                                              directory=get_directory(app))
                    if report.imported + (report.unchanged if attempt > 1 else 0) != 1:
                        raise RuntimeError(f"imported {report.imported}, "
                                           f"rejected {report.rejected}")
                    db.session.commit()
                    break
                except DBAPIError as error:
                    # a restart can end this connection: staff would import again, and
                    # so does this, all or nothing each time
                    db.session.rollback()
                    if not error.connection_invalidated or attempt == CHANGE_ATTEMPTS:
                        raise
                    faults.change_retries += 1
            db.session.remove()
            db.engine.dispose()
    except Exception as error:  # reported, not fatal: the rest of the run still counts
        faults.change_error = f"{type(error).__name__}: {error}"[:300]
    faults.change_end = time.monotonic()


def _pg_cluster(args: argparse.Namespace) -> list[str] | None:
    if args.pg_cluster:
        return args.pg_cluster.split("/")
    if shutil.which("pg_ctlcluster") is None or not os.path.isdir("/etc/postgresql"):
        print("no pg_ctlcluster here: PostgreSQL will not be restarted", flush=True)
        return None
    versions = sorted(os.listdir("/etc/postgresql"), key=lambda v: [int(p) for p in v.split(".")
                                                                    if p.isdigit()])
    return [versions[-1], "main"] if versions else None


# ---------------------------------------------------------------------------------------
# 5. Verification and the report


def verify_writes(url: str, records: list[Record]) -> dict[str, Any]:
    """Every write that returned 201 must be in the database exactly as returned; every
    form add that returned 303, its shortlist exactly once, holding that one supplier."""
    import sqlalchemy as sa

    url = _sqlalchemy_url(url)
    shortlists = {w[1]: w[2] for *_, w in records if w and w[0] == "shortlist"}
    entries = {w[1]: (w[2], w[3]) for *_, w in records if w and w[0] == "entry"}
    forms = {w[1]: w[2] for *_, w in records if w and w[0] == "form"}  # name -> supplier
    found_forms: dict[str, list[tuple[int, int | None]]] = {}
    engine = sa.create_engine(url)
    found_shortlists: dict[int, str] = {}
    found_entries: dict[int, tuple[int, int]] = {}
    with engine.connect() as connection:
        for chunk in _chunks(list(shortlists), 500):
            for shortlist_id, name in connection.execute(
                sa.text("SELECT id, name FROM shortlists WHERE id IN :ids")
                .bindparams(sa.bindparam("ids", expanding=True)), {"ids": chunk},
            ):
                found_shortlists[shortlist_id] = name
        for chunk in _chunks(list(entries), 500):
            for entry_id, shortlist_id, supplier_id in connection.execute(
                sa.text("SELECT id, shortlist_id, supplier_id FROM shortlist_entries "
                        "WHERE id IN :ids").bindparams(sa.bindparam("ids", expanding=True)),
                {"ids": chunk},
            ):
                found_entries[entry_id] = (shortlist_id, supplier_id)
        for chunk in _chunks(list(forms), 500):
            for name, shortlist_id, supplier_id in connection.execute(
                sa.text("SELECT s.name, s.id, e.supplier_id FROM shortlists s LEFT JOIN "
                        "shortlist_entries e ON e.shortlist_id = s.id WHERE s.name IN :names")
                .bindparams(sa.bindparam("names", expanding=True)), {"names": chunk},
            ):
                found_forms.setdefault(name, []).append((shortlist_id, supplier_id))
        searches_logged = connection.execute(sa.text(
            "SELECT count(*) FROM audit_events WHERE action = 'search.run'")).scalar_one()
    engine.dispose()
    lost_shortlists = [i for i, name in shortlists.items() if found_shortlists.get(i) != name]
    lost_entries = [i for i, pair in entries.items() if found_entries.get(i) != pair]
    lost_forms = [name for name in forms if not found_forms.get(name)]
    forms_twice = [name for name, rows in found_forms.items()
                   if len(rows) > 1 or rows[0][1] != forms[name]]
    searches_ok = sum(1 for r in records if r[0] in ("search", "results") and not r[4])
    return {
        "shortlists": len(shortlists), "entries": len(entries),
        "lost_shortlists": lost_shortlists, "lost_entries": lost_entries,
        "forms": len(forms), "lost_forms": lost_forms, "forms_twice": forms_twice,
        "searches_ok": searches_ok, "searches_logged": searches_logged,
    }


def lost_writes(writes: dict[str, Any]) -> int:
    """How many writes that answered success are not in the database as answered."""
    return (len(writes["lost_shortlists"]) + len(writes["lost_entries"])
            + len(writes["lost_forms"]))


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def classify(record: Record, faults: Faults) -> str:
    kind, started, ended, status, error, _ = record
    if not error:
        return "ok"
    if (faults.kill_at is not None and status in (0, 500, 502, 503)
            and started <= faults.kill_at + KILL_SLACK_S and ended >= faults.kill_at):
        return "killed worker"
    if (faults.pg_begin is not None and faults.pg_end is not None and status in (0, 500, 503)
            and started <= faults.pg_end + PG_GRACE_S and ended >= faults.pg_begin):
        return "pg restart"
    if status in (0, 500, 503) and any(started <= end and ended >= begin
                                       for begin, end in faults.cuts):
        return "pg restart"  # a cut connection: what a restart does to a request in flight
    return "other"


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] * 1000


def report(args: argparse.Namespace, prepared: Prepared, records: list[Record], faults: Faults,
           measure_from: float, end_at: float, writes: dict[str, Any], server: Server,
           ready_s: float, stop_s: float, reference: tuple[float, float]) -> str:
    window = [r for r in records if r[1] >= measure_from]
    seconds = end_at - measure_from
    ok = sum(1 for r in window if not r[4])
    backend = "PostgreSQL" if args.database_url else "SQLite (WAL)"
    lines = [
        f"### Load test: {backend}, {prepared.suppliers:,} suppliers, {args.workers} workers",
        "",
        f"- {args.duration:.0f} s measured after {args.warmup:.0f} s of warm-up; "
        f"{args.processes} client processes × {args.threads} threads "
        + (f"at {args.rate:.0f} req/s offered (open loop)" if args.rate else "(closed loop)")
        + f", mix {args.mix}",
        f"- gunicorn: {args.workers} {'sync' if args.gunicorn_threads <= 1 else 'gthread'} "
        f"workers; ready {ready_s:.1f} s after start; graceful stop {stop_s:.1f} s",
        f"- machine: {os.cpu_count()} cores; 1-min load average during the run "
        + _load_summary(faults.load)
        + f"; in the measured time the gunicorn workers used {faults.server_cpu():.0f} CPU-s "
        f"({faults.server_cpu() / seconds:.2f} cores, "
        f"{faults.server_cpu() / max(1, ok) * 1000:.1f} CPU-ms per request), the clients "
        f"{faults.client_cpu:.0f} CPU-s (their whole run)",
        f"- machine speed: the reference loop took {reference[0]:.1f} CPU-ms before the load "
        f"and {reference[1]:.1f} after; a request took "
        f"{faults.server_cpu() / max(1, ok) * 1000 / (sum(reference) / 2):.3f} reference loops "
        "of worker CPU",
        *_machine_lines(faults),
        f"- preparing the database took {prepared.prepare_s:.0f} s",
        "",
        "| kind | requests | ok/s | p50 ms | p95 ms | p99 ms | max ms | errors: killed worker "
        "| errors: PG restart or cut | errors: other |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    by_kind: dict[str, list[Record]] = defaultdict(list)
    for record in window:
        by_kind[record[0]].append(record)
    order = ["search", "results", "create", "entry", "export", "form", "health", "options"]
    for kind in [*order, "all"]:
        rows = window if kind == "all" else by_kind.get(kind, [])
        if not rows:
            continue
        latencies = [r[2] - r[1] for r in rows if not r[4]]
        classes = Counter(classify(r, faults) for r in rows)
        label = {"search": "API search", "results": "results page", "create": "shortlist create",
                 "entry": "shortlist add entry", "export": "shortlist export",
                 "form": "web form: add to a new shortlist",
                 "health": "health check (floor)", "options": "API options (floor)",
                 "all": "**all**"}[kind]
        lines.append(
            f"| {label} | {len(rows)} | {len(latencies) / seconds:.1f} | "
            f"{_pct(latencies, .5):.1f} | {_pct(latencies, .95):.1f} | "
            f"{_pct(latencies, .99):.1f} | "
            f"{max(latencies, default=0) * 1000:.0f} | {classes['killed worker']} | "
            f"{classes['pg restart']} | {classes['other']} |"
        )
    all_errors = [r for r in records if r[4]]
    outside = [r for r in records if r[1] < measure_from and r[4]]
    lines += ["", "Faults and writes:", ""]
    if faults.kill_at is not None:
        replaced = (f"replaced after {faults.worker_replaced_s:.1f} s"
                    if faults.worker_replaced_s is not None else "NOT replaced during the run")
        lines.append(f"- SIGKILL worker {faults.killed_pid} at "
                     f"{faults.kill_at - measure_from:.1f} s: {replaced}")
    if faults.pg_begin is not None and faults.pg_end is not None:
        lines.append(f"- PostgreSQL restarted at {faults.pg_begin - measure_from:.1f} s, took "
                     f"{faults.pg_end - faults.pg_begin:.1f} s"
                     + (f" (FAILED: {faults.pg_error})" if faults.pg_error else ""))
    if faults.cuts or faults.cut_error:
        lines.append(f"- client connections of the database cut {len(faults.cuts)} times, every "
                     f"{CUT_EVERY_S:g} s from {faults.cuts[0][0] - measure_from:.1f} s"
                     if faults.cuts else "- client connections of the database: no cut made")
        lines[-1] += (f", {faults.cut_connections} connections in all"
                      + (f" (a cut FAILED: {faults.cut_error})" if faults.cut_error else ""))
    lines.extend(_rerun_summary(server.error_log))
    lines.extend(_change_summary(records, faults, measure_from))
    kinds_of_errors = Counter((r[0], r[4], classify(r, faults)) for r in all_errors)
    for (kind, error, cls), n in sorted(kinds_of_errors.items()):
        lines.append(f"- error: {n} × {kind} {error} ({cls})")
    if outside:
        lines.append(f"- of which during warm-up: {len(outside)}")
    lost = lost_writes(writes)
    lines += [
        f"- writes that returned 201: {writes['shortlists']} shortlists, {writes['entries']} "
        f"entries; **lost: {lost}**"
        + (f" (shortlists {writes['lost_shortlists'][:10]}, entries {writes['lost_entries'][:10]})"
           if lost else ""),
        *([f"- form adds that returned 303: {writes['forms']}; **missing: "
           f"{len(writes['lost_forms'])}**; **made more than once, or not as asked: "
           f"{len(writes['forms_twice'])}**"
           + (f" ({(writes['lost_forms'] + writes['forms_twice'])[:5]})"
              if writes['lost_forms'] or writes['forms_twice'] else "")]
          if writes["forms"] else []),
        f"- searches answered 200: {writes['searches_ok']}; `search.run` audit events in the "
        f"database: {writes['searches_logged']} (never fewer)",
        _log_summary(server.access_log),
    ]
    search_rate = sum(1 for r in by_kind.get("search", []) if not r[4]) / seconds
    all_rate = sum(1 for r in window if not r[4]) / seconds
    lines += ["", f"Summary: {search_rate:.0f} API searches/s, {all_rate:.0f} requests/s in all; "
              f"lost writes {lost}; errors beyond the faults "
              f"{sum(1 for r in all_errors if classify(r, faults) == 'other')}."]
    return "\n".join(lines)


def _change_summary(records: list[Record], faults: Faults, measure_from: float) -> list[str]:
    """When searches began and finished moving to the data version after the change, and
    the search latencies meanwhile against the 10 s before the change."""
    if faults.change_begin is None or faults.change_end is None:
        return []
    begin, end = faults.change_begin, faults.change_end
    again = (f", imported again {faults.change_retries} time"
             f"{'s' if faults.change_retries > 1 else ''} after losing its connection"
             if faults.change_retries else "")
    line = (f"- register changed at {begin - measure_from:.1f} s (one supplier imported, "
            f"committed {end - begin:.1f} s later{again})")
    if faults.change_error:
        return [line + f": FAILED ({faults.change_error})"]
    searches = sorted((r for r in records if r[0] == "search" and r[5] and r[5][0] == "version"),
                      key=lambda r: r[2])
    before = {r[5][1] for r in searches if r[2] < begin}  # type: ignore[index]
    new = [r for r in searches if r[1] > end and r[5][1] not in before]  # type: ignore[index]
    if not new:
        return [line + "; no search was answered from the new data before the end"]
    first_new = new[0][2]
    # the last answer from older data to a search sent after the change was committed
    old = [r for r in searches if r[1] > end and r[5][1] in before]  # type: ignore[index]
    settled = max((r[2] for r in old), default=first_new)
    # searches sent from the commit until the next fault, against those before the change
    until = min((t for t in (faults.kill_at, faults.pg_begin) if t is not None and t > end),
                default=None)
    label = "the next fault" if until is not None else "the end of the run"
    until = until if until is not None else float("inf")
    after = [r[2] - r[1] for r in records
             if r[0] == "search" and not r[4] and end <= r[1] and r[2] < until]
    earlier = [r[2] - r[1] for r in records
               if r[0] == "search" and not r[4] and measure_from <= r[1] and r[2] < begin]
    return [
        line + f"; the first search answered from the new data {first_new - end:.1f} s after "
        f"the commit, the last from the old data {settled - end:.1f} s after it "
        f"({len(old)} searches)",
        f"- searches sent from the commit to {label}"
        + (f" ({until - end:.0f} s)" if until != float("inf") else "") + ": "
        f"{len(after)}, p50 {_pct(after, .5):.0f} ms, p99 {_pct(after, .99):.0f} ms, max "
        f"{max(after, default=0) * 1000:.0f} ms; before the change ({begin - measure_from:.0f} "
        f"s): {len(earlier)}, p50 {_pct(earlier, .5):.0f} ms, p99 {_pct(earlier, .99):.0f} ms, "
        f"max {max(earlier, default=0) * 1000:.0f} ms",
    ]


def _machine_lines(faults: Faults) -> list[str]:
    """Where the machine's cores went in the measured time: busy (of which the workers and
    PostgreSQL), idle, and stolen by the hypervisor."""
    start, end = faults.machine_start, faults.machine_end
    if start is None or end is None:
        return []
    spent = {state: end[state] - start[state] for state in MACHINE_CPU_STATES}
    total = sum(spent.values()) or 1.0
    idle = spent["idle"] + spent["iowait"]
    busy = total - idle - spent["steal"]

    def share(seconds: float) -> str:
        return f"{seconds:.0f} CPU-s ({seconds / total * 100:.0f} %)"

    kernel = spent["system"] + spent["irq"] + spent["softirq"]
    parts = [f"busy {share(busy)} (in the kernel {share(kernel)}), of which the gunicorn "
             f"workers {share(faults.server_cpu())}"]
    if (faults.postgres_start and faults.postgres_end
            and faults.postgres_start[0] == faults.postgres_end[0]):
        parts.append(f"PostgreSQL {share(faults.postgres_end[1] - faults.postgres_start[1])}")
    elif faults.postgres_start:
        parts.append("PostgreSQL not counted (restarted meanwhile)")
    parts.append(f"idle {share(idle)}, stolen by the hypervisor {share(spent['steal'])}")
    return [f"- the machine's cores in the measured time: {'; '.join(parts)}"]


def _load_summary(load: list[tuple[float, float]]) -> str:
    values = [v for _, v in load]
    if not values:
        return "n/a"
    return f"{min(values):.1f}–{max(values):.1f} (mean {statistics.fmean(values):.1f})"


def _rerun_summary(path: Path) -> list[str]:
    """How often the workers ran a view again after losing the database connection, and
    how often a cut commit was found to have gone through (the answer made before it was
    given: web.db_setup.commit_then)."""
    when: Counter[str] = Counter()
    stood = 0
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            found = re.search(r"database connection lost (before any commit|before any write|"
                              r"after a commit began) .*running the view again", line)
            if found:
                when[found.group(1)] += 1
            elif re.search(r"database connection lost .*it went through, so the answer", line):
                stood += 1
    lines = []
    if when:
        lines.append(
            f"- views run again after losing the database connection: {sum(when.values())} "
            f"({when['before any commit']} before any commit, {when['before any write']} in a "
            f"commit with nothing written, {when['after a commit began']} after a commit "
            "began; from gunicorn's log)")
    if stood:
        lines.append(f"- commits cut off that had gone through, answered as made before them: "
                     f"{stood} (from gunicorn's log)")
    return lines


def _log_summary(path: Path) -> str:
    total = bad = 0
    ids: set[str] = set()
    statuses: Counter[int] = Counter()
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            total += 1
            try:
                entry = json.loads(line)
            except ValueError:
                bad += 1
                continue
            ids.add(entry.get("request_id"))
            statuses[entry.get("status", 0) // 100 * 100] += 1
    spread = ", ".join(f"{k // 100}xx: {v}" for k, v in sorted(statuses.items()))
    return (f"- JSON request log: {total} lines, {bad} not JSON, {len(ids)} distinct request ids "
            f"({spread})")


# ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="PostgreSQL URL (default: SQLite in a tmp dir)")
    parser.add_argument("--reset-database", action="store_true",
                        help="drop everything in the PostgreSQL database first")
    parser.add_argument("--suppliers", type=int, default=0,
                        help="synthetic suppliers on top of the demo's 1,600 (e.g. 100000)")
    parser.add_argument("--postcodes", help="a built postcode directory (default: the "
                        "instance folder's, else built in the tmp dir)")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--gunicorn-threads", type=int, default=1,
                        help="threads per worker (>1: gthread)")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=8, help="client threads per process")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="offered requests/s in all (open loop); 0: closed loop")
    parser.add_argument("--mix", default=DEFAULT_MIX)
    parser.add_argument("--no-faults", action="store_true",
                        help="neither change the register, kill a worker nor restart "
                        "PostgreSQL (as --faults '')")
    parser.add_argument("--faults", default=",".join(FAULTS),
                        help="which faults to cause, of " + ", ".join(FAULTS)
                        + " (default: all) and cut (PostgreSQL: cut every connection "
                        f"every {CUT_EVERY_S:g} s)")
    parser.add_argument("--pg-cluster", help="VERSION/CLUSTER to restart (default: newest/main)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the tmp dir (logs, database)")
    parser.add_argument("--output", help="also write the markdown report to this file")
    args = parser.parse_args(argv)
    args.faults = set() if args.no_faults else {f for f in args.faults.split(",") if f}
    if args.faults - set(FAULTS) - set(EXTRA_FAULTS):
        parser.error(f"--faults: unknown {sorted(args.faults - set(FAULTS) - set(EXTRA_FAULTS))}")
    if "cut" in args.faults and not args.database_url:
        parser.error("--faults cut needs --database-url (PostgreSQL)")
    if args.duration <= 0 or args.duration > 3600:
        parser.error("--duration must be within (0, 3600] seconds")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="fm-load-"))
    server: Server | None = None
    try:
        prepared = prepare(args, tmp)
        print(f"database ready: {prepared.suppliers:,} suppliers; starting gunicorn …", flush=True)
        server = Server(prepared, args, tmp)
        ready_s = server.wait_ready(timeout_s=180)
        print(f"gunicorn ready on {HOST}:{server.port} in {ready_s:.1f} s; "
              f"workers {server.workers()}; load for {args.warmup + args.duration:.0f} s …",
              flush=True)
        before = reference_ms()
        records, faults, measure_from, end_at = run_load(prepared, server, args)
        stop_s = server.stop()
        after = reference_ms()
        writes = verify_writes(prepared.url, records)
        text = report(args, prepared, records, faults, measure_from, end_at, writes, server,
                      ready_s, stop_s, (before, after))
        print(text)
        if args.output:
            Path(args.output).write_text(text + "\n", encoding="utf-8")
        log_lines = server.error_log.read_text(errors="replace").splitlines()
        tail = [line for line in log_lines
                if re.search(r"ERROR|Traceback|WARNING|Booting worker|warm", line)]
        print("\ngunicorn log (errors, warnings, worker starts; last 25):")
        print("\n".join(tail[-25:]))
        starts = [n for n, line in enumerate(log_lines) if line.startswith("Traceback")]
        if starts:  # the last one whole: the lines above show only its first line
            block = [log_lines[starts[-1]]]
            for line in log_lines[starts[-1] + 1:]:
                if line.startswith("[") and not line.startswith("[SQL"):
                    break
                block.append(line)
            print("\nthe last traceback:\n" + "\n".join(block[:80]))
        return 1 if lost_writes(writes) or writes["forms_twice"] else 0
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
