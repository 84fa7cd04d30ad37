#!/usr/bin/env python3
"""CPU per request, per kind of the load test's traffic, measured in process.

Run from the repository root::

    .venv/bin/python scripts/profile_requests.py [--suppliers 100000] [--requests 100]
        [--work-dir /tmp/fm-profile] [--kinds search,results,create,entry,export]
        [--profile search [--top 30] [--profile-output search.prof]]
        [--database-url postgresql://postgres@127.0.0.1:5432/fm_profile]

1. Prepares a SQLite database exactly as ``scripts/loadtest.py`` does (its ``prepare``:
   migrated, the demo data, ``--suppliers`` synthetic suppliers, an API token and a signed
   session cookie for a demo member; about a minute at 100,000, plus building the postcode
   directory the first time). With ``--work-dir`` the prepared database is kept there and
   reused by later runs with the same ``--suppliers`` and ``--seed``; each run works on a
   fresh copy of it, so runs before and after a change start from the same data. With
   ``--database-url`` the PostgreSQL database given is emptied and prepared the same way
   on every run (never ``test`` nor ``fm_dev``: ``loadtest.py`` refuses them), so the CPU
   of the PostgreSQL driver is measured too; the server's own CPU is not in the figures.
2. Creates the app as a gunicorn worker would (no ``TESTING``, the JSON access log on,
   written to /dev/null here), warms it (postcode directory, matching index, a few requests
   of each kind), freezes the objects made so far out of the garbage collector's reach
   (as the preloading gunicorn master does before it forks the workers), then calls it as
   a WSGI application, the way gunicorn does, ``--requests`` times for each kind of
   ``--kinds``. The requests are those of the load test's clients (the same code makes
   them: a subclass of its client whose HTTP call is an in-process WSGI call):

   - ``search``: ``POST /api/v1/search`` with a bearer token (a radius 70 % of the time;
     each new shortlist's search counts here too, so there are more than ``--requests``);
   - ``results``: ``GET /search/results`` with the member's session cookie;
   - ``create`` / ``entry``: ``POST /api/v1/shortlists`` and ``…/entries`` (5 entries per
     shortlist, so 5 times as many entries as shortlists);
   - ``export-<format>``: ``GET /api/v1/shortlists/<id>/export?format=…`` for csv, json,
     xlsx and pdf, each shortlist once (``export-<format>-again``: each a second time,
     unchanged).

3. Prints, per kind, the mean and median CPU milliseconds of one request
   (``time.process_time`` around the WSGI call and the reading of its body: what a worker
   spends, without the socket I/O gunicorn adds), and the SQL statements per request.
   CPU time, unlike wall-clock time, is little moved by other work on the machine; on a
   busy machine it still varies by 10-20 % from run to run (shared caches and cores), so
   compare changes over several runs, alternating before and after.

``--profile KIND`` also runs cProfile around that kind's requests and prints the top
``--top`` functions by cumulative and by own time (the CPU figures of a profiled kind are
inflated by the profiler); ``--profile-output`` saves the statistics for pstats.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import gc
import io
import json
import os
import pstats
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "scripts"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import loadtest  # noqa: E402  (scripts/ is on the path only from here)
from instructions import (  # noqa: E402
    Counter,
    InstructionsError,
    instructions_by_kind,
    run_under_callgrind,
    under_callgrind,
)

EXPORT_FORMATS = tuple(fmt for fmt, _weight in loadtest.EXPORT_FORMATS)
KINDS = {"search", "results", "create", "entry", "export"}
WARMUP_REQUESTS = 5  # per kind, not measured: first-call imports, template compiles
PREPARED_FILE = "prepared.json"
PRISTINE_DATABASE = "pristine.sqlite3"
COUNTS_FILE = "requests.json"  # what the child under callgrind measured, for the parent


class InProcessClient(loadtest._Client):
    """The load test's client, calling the app in this process instead of over HTTP."""

    def __init__(self, app: Any, prepared: loadtest.Prepared, seed: int) -> None:
        plan = loadtest.ClientPlan(
            port=0, token=prepared.token, cookie=prepared.cookie, csrf=prepared.csrf,
            needs=prepared.needs, postcodes=prepared.postcodes_sample,
            suppliers_sample=prepared.suppliers_sample, mix=[("search", 1)], threads=1,
            start_at=0.0, end_at=0.0, seed=seed, rate_per_thread=None,
        )
        super().__init__(plan, random.Random(seed), f"profile-{seed}")
        self.app = app
        self.measuring = False
        self.profile_kind: str | None = None
        self.profiler = cProfile.Profile()
        self.cpu_ms: dict[str, list[float]] = defaultdict(list)
        self.statements: dict[str, int] = defaultdict(int)  # SQL statements, measured calls
        self.calls: dict[str, int] = defaultdict(int)
        self.in_call = False
        self.statement_count = 0
        self.label: str | None = None  # overrides the kind of the next calls (exports)
        self.counter: Counter | None = None  # under callgrind: counts measured calls

    def _call(self, kind: str, method: str, path: str, body: dict[str, Any] | None,
              headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        from werkzeug.test import EnvironBuilder

        kind = self.label or kind
        send = {"Authorization": f"Bearer {self.plan.token}"} if path.startswith("/api/") else {}
        send.update(headers or {})
        builder = EnvironBuilder(
            path=path, method=method, headers=send,
            data=None if body is None else json.dumps(body).encode(),
            content_type=None if body is None else "application/json",
            environ_base={"REMOTE_ADDR": loadtest.HOST},
        )
        environ = builder.get_environ()
        builder.close()
        status: list[int] = []

        def start_response(line: str, _headers: Any, _exc_info: Any = None) -> Callable[..., Any]:
            status.append(int(line.split(" ", 1)[0]))
            return lambda _data: None

        profiling = self.measuring and kind == self.profile_kind
        counting = self.measuring and self.counter is not None
        self.in_call, self.statement_count = True, 0
        started = time.process_time()
        if profiling:
            self.profiler.enable()
        if counting:
            self.counter.begin(kind)  # type: ignore[union-attr]
        result = self.app(environ, start_response)
        try:
            data = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        if counting:
            self.counter.end()  # type: ignore[union-attr]
        if profiling:
            self.profiler.disable()
        elapsed_ms = (time.process_time() - started) * 1000
        self.in_call = False
        expected = loadtest.EXPECTED_STATUS[kind.split("-")[0]]
        if status[0] != expected:
            raise SystemExit(f"{method} {path}: HTTP {status[0]}, expected {expected}:\n"
                             f"{data[:2000].decode(errors='replace')}")
        self.calls[kind] += 1
        if self.measuring:
            self.cpu_ms[kind].append(elapsed_ms)
            self.statements[kind] += self.statement_count
        self.records.append((kind, 0.0, 0.0, status[0], "", None))
        return status[0], data

    def count_statement(self, *_args: Any) -> None:
        """A ``before_cursor_execute`` listener: one more SQL statement in this call."""
        if self.in_call:
            self.statement_count += 1

    def export(self, shortlist_id: int, fmt: str, label: str) -> None:
        self.label = label
        try:
            self._call("export", "GET", f"/api/v1/shortlists/{shortlist_id}/export?format={fmt}",
                       None)
        finally:
            self.label = None


def run(client: InProcessClient, requests: int, kinds: set[str]) -> None:
    """``requests`` of each kind in ``kinds`` (entries: five per shortlist created)."""
    if "search" in kinds:
        for _ in range(requests):
            client.do_search()
    if "results" in kinds:
        for _ in range(requests):
            client.do_results()
    if kinds & {"create", "entry", "export"}:
        creates = client.calls["create"] + requests
        while client.calls["create"] < creates or client.shortlist is not None:
            client.do_write()  # until the last shortlist has its five entries
    if "export" in kinds:
        shortlists = list(client.exportable)[-requests:]
        for again in ("", "-again"):
            for fmt in EXPORT_FORMATS:
                for shortlist_id in shortlists:
                    client.export(shortlist_id, fmt, f"export-{fmt}{again}")


def prepared_database(args: argparse.Namespace) -> tuple[loadtest.Prepared, Path]:
    """The prepared data (made now, or reused from ``--work-dir``) and its pristine copy."""
    work = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="fm-profile-"))
    work.mkdir(parents=True, exist_ok=True)
    saved = work / PREPARED_FILE
    pristine = work / PRISTINE_DATABASE
    if saved.exists() and pristine.exists():
        data = json.loads(saved.read_text())
        fields = {k: v for k, v in data.items() if k not in ("suppliers_asked", "seed")}
        # prepared by an older version of this script (fewer fields): prepared again
        current = set(fields) == {f.name for f in dataclasses.fields(loadtest.Prepared)}
        if current and data["suppliers_asked"] == args.suppliers and data["seed"] == args.seed:
            fields["postcodes"] = Path(fields["postcodes"])
            print(f"reusing the database prepared in {work}", flush=True)
            return loadtest.Prepared(**fields), pristine
    build = work / "build"
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir()
    postcodes = args.postcodes
    if postcodes is None and (work / "postcodes.npz").exists():
        postcodes = str(work / "postcodes.npz")
    prepare_args = argparse.Namespace(
        database_url=None, reset_database=False, suppliers=args.suppliers,
        postcodes=postcodes, seed=args.seed,
    )
    prepared = loadtest.prepare(prepare_args, build)
    if prepared.postcodes.parent == build:  # built by prepare: keep it for the next runs
        shutil.move(prepared.postcodes, work / "postcodes.npz")
        prepared.postcodes = work / "postcodes.npz"
    _copy_sqlite(prepared.url.removeprefix("sqlite:///"), pristine)
    shutil.rmtree(build, ignore_errors=True)
    record = {**prepared.__dict__, "postcodes": str(prepared.postcodes),
              "suppliers_asked": args.suppliers, "seed": args.seed}
    saved.write_text(json.dumps(record))
    print(f"prepared in {prepared.prepare_s:.0f} s: {prepared.suppliers:,} suppliers ({work})",
          flush=True)
    return prepared, pristine


def prepared_postgres(args: argparse.Namespace, work: Path) -> loadtest.Prepared:
    """``--database-url`` emptied and prepared as the load test prepares it."""
    prepare_args = argparse.Namespace(
        database_url=args.database_url, reset_database=True, suppliers=args.suppliers,
        postcodes=args.postcodes, seed=args.seed,
    )
    prepared = loadtest.prepare(prepare_args, work)
    print(f"prepared in {prepared.prepare_s:.0f} s: {prepared.suppliers:,} suppliers "
          f"(PostgreSQL)", flush=True)
    return prepared


def _copy_sqlite(source: str | Path, target: Path) -> None:
    """A consistent copy (the WAL included) through SQLite's backup API."""
    target.unlink(missing_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def make_app(prepared: loadtest.Prepared, database: Path | str, instance: Path,
             index_folder: Path) -> Any:
    """The app on ``database`` (a SQLite file, or a database URL), saving and mapping its
    matching indexes in ``index_folder``."""
    from web import create_app

    url = database if isinstance(database, str) else f"sqlite:///{database}"
    return create_app({
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": prepared.secret_key,
        "POSTCODES_DIRECTORY_PATH": str(prepared.postcodes),
        "INDEX_DIRECTORY": str(index_folder),
    }, instance_path=str(instance))


def report(client: InProcessClient) -> str:
    lines = ["| kind | requests | CPU-ms mean | CPU-ms median | SQL statements per request |",
             "|---|---:|---:|---:|---:|"]
    for kind, samples in client.cpu_ms.items():
        lines.append(f"| {kind} | {len(samples)} | {statistics.fmean(samples):.2f} | "
                     f"{statistics.median(samples):.2f} | "
                     f"{client.statements[kind] / len(samples):.2f} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suppliers", type=int, default=100_000,
                        help="synthetic suppliers on top of the demo's 1,600")
    parser.add_argument("--requests", type=int, default=100, help="measured requests per kind")
    parser.add_argument("--work-dir", help="keep the prepared database here and reuse it")
    parser.add_argument("--postcodes", help="a built postcode directory")
    parser.add_argument("--kinds", default=",".join(sorted(KINDS)),
                        help="measure only these (comma-separated; export means all formats)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url",
                        help="a PostgreSQL database to empty and prepare (default: SQLite)")
    parser.add_argument("--profile", metavar="KIND",
                        help="cProfile this kind (search, results, create, entry, export-pdf, …)")
    parser.add_argument("--top", type=int, default=30, help="functions shown by --profile")
    parser.add_argument("--profile-output", metavar="FILE",
                        help="also save --profile's statistics here (for pstats, snakeviz)")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions per request under valgrind's callgrind "
                             "instead of CPU time (slow; see scripts/instructions.py)")
    args = parser.parse_args(argv)
    if args.instructions and args.profile:
        parser.error("--instructions and --profile measure differently: choose one")
    unknown = set(args.kinds.split(",")) - KINDS
    if unknown:
        parser.error(f"--kinds: unknown {', '.join(sorted(unknown))}")
    return args


def count_instructions(args: argparse.Namespace, argv: list[str]) -> int:
    """Run this script again under callgrind and report instructions per request."""
    folder = Path(tempfile.mkdtemp(prefix="fm-callgrind-"))
    try:
        started = time.monotonic()
        run_under_callgrind([sys.executable, str(Path(__file__).resolve()), *argv], folder)
        counts = json.loads((folder / COUNTS_FILE).read_text())
        totals = instructions_by_kind(folder)
    except InstructionsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"\n{counts['suppliers']:,} suppliers; instructions per request (callgrind, "
          f"PYTHONHASHSEED=0), {args.requests} requests per kind; run under valgrind in "
          f"{time.monotonic() - started:.0f} s:\n")
    print("| kind | requests | instructions per request (millions) | SQL statements per request |")
    print("|---|---:|---:|---:|")
    for kind, requests in counts["requests"].items():
        print(f"| {kind} | {requests} | {totals.get(kind, 0) / requests / 1e6:.3f} | "
              f"{counts['statements'].get(kind, 0) / requests:.2f} |")
    return 0


def main(argv: list[str] | None = None) -> int:
    from sqlalchemy import event

    from web.extensions import db

    args = parse_args(argv)
    if args.instructions and under_callgrind() is None:
        return count_instructions(args, sys.argv[1:] if argv is None else argv)
    run_dir = Path(tempfile.mkdtemp(prefix="fm-profile-run-"))
    database: Path | str
    if args.database_url:
        prepared = prepared_postgres(args, run_dir)
        database = prepared.url
        index_folder = run_dir / "index"
    else:
        prepared, pristine = prepared_database(args)
        # The same path in every run, and indexes kept in the work folder: the data version
        # and the database's URL are then those of the last run, so a run of the same
        # engine code maps the index an earlier run saved instead of building it again.
        work = pristine.parent
        database = work / "run.sqlite3"
        _copy_sqlite(pristine, database)
        index_folder = work / "index"
    stdout = sys.stdout
    try:
        app = make_app(prepared, database, run_dir / "instance", index_folder)
        client = InProcessClient(app, prepared, seed=args.seed)
        client.profile_kind = args.profile
        callgrind = under_callgrind()
        if callgrind is not None:
            client.counter = Counter(callgrind)
        with app.app_context():
            event.listen(db.engine, "before_cursor_execute", client.count_statement)
        # The access log goes to standard output, one line per request, as under gunicorn
        # (where it is a file): the write is part of a request's cost, the text is not wanted.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (closed below)
        try:
            run(client, WARMUP_REQUESTS, KINDS)
            # As gunicorn.conf.py's when_ready does in the master before it forks the
            # workers: what exists now is kept out of the collector's passes.
            gc.collect()
            gc.freeze()
            before = loadtest.reference_ms()
            if client.counter is not None:
                client.counter.start()
            client.measuring = True
            run(client, args.requests, set(args.kinds.split(",")))
            if client.counter is not None:
                client.counter.flush()
            after = loadtest.reference_ms()
        finally:
            sys.stdout.close()
            sys.stdout = stdout
        if callgrind is not None:  # the parent reports; CPU times under valgrind mean nothing
            (callgrind / COUNTS_FILE).write_text(json.dumps({
                "requests": client.counter.requests,  # type: ignore[union-attr]
                "statements": client.statements, "suppliers": prepared.suppliers,
            }))
            return 0
        print(f"\n{prepared.suppliers:,} suppliers; CPU per request (time.process_time), "
              f"{args.requests} requests per kind; the machine's reference loop "
              f"(loadtest.reference_ms) took {before:.1f} CPU-ms before and {after:.1f} "
              "after:\n")
        print(report(client))
        if args.profile and args.profile_output:
            client.profiler.dump_stats(args.profile_output)
        if args.profile:
            for order in ("cumulative", "tottime"):
                text = io.StringIO()
                pstats.Stats(client.profiler, stream=text).sort_stats(order).print_stats(args.top)
                print(f"\ncProfile of {args.profile!r}, by {order}:\n{text.getvalue()}")
    finally:
        sys.stdout = stdout
        shutil.rmtree(run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
