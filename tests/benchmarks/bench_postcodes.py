"""Postcode directory performance: build time, open time, lookup latency, file size, RSS.

Run from the repository root::

    .venv/bin/python tests/benchmarks/bench_postcodes.py [--path FILE] [--lookups N]

Without ``--path`` the directory is built into a temporary folder (timed); with it,
an existing file is measured. Lookups are a random mix of unit postcodes written
the way people type them (lower case, no space, extra spaces), plus sectors and
outcodes, timed one call at a time.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO_ROOT))

from web.postcodes import PostcodeDirectory, PostcodeNotFound, build_directory  # noqa: E402

DEFAULT_LOOKUPS = 10_000
RANDOM_SEED = 20_251_126
NOT_FOUND_SAMPLE = 200
NS_PER_US = 1_000


def rss_kib() -> dict[str, int]:
    """Resident memory from /proc/self/status (kB): total, anonymous, file-backed (mmap)."""
    fields = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0, "VmHWM": 0}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in fields:
                fields[key] = int(value.split()[0])
    except OSError:
        pass
    return fields


def fmt_rss(label: str) -> str:
    """One line describing current memory use."""
    rss = rss_kib()
    return (
        f"RSS {label}: {rss['VmRSS'] / 1024:.0f} MiB "
        f"(anon {rss['RssAnon'] / 1024:.0f}, file/mmap {rss['RssFile'] / 1024:.0f}, "
        f"peak {rss['VmHWM'] / 1024:.0f})"
    )


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def fresh_process_open(path: Path) -> float:
    """Seconds to import the package and open the file in a new interpreter."""
    code = (
        "import time; t = time.perf_counter(); "
        "from web.postcodes.directory import PostcodeDirectory; "
        f"d = PostcodeDirectory.open({str(path)!r}); d.lookup('L34 1AB'); "
        "print(time.perf_counter() - t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def typed_variants(postcode: str, rng: random.Random) -> str:
    """The postcode as a person might type it."""
    choice = rng.randrange(4)
    if choice == 0:
        return postcode.lower()
    if choice == 1:
        return postcode.replace(" ", "")
    if choice == 2:
        return f"  {postcode.replace(' ', '  ')} "
    return postcode


def main() -> None:
    """Run the benchmark and print a report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, help="measure this existing directory file")
    parser.add_argument("--lookups", type=int, default=DEFAULT_LOOKUPS)
    args = parser.parse_args()
    print(fmt_rss("at start"))

    if args.path is None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "postcodes.npz"
            started = time.perf_counter()
            stats = build_directory(path)
            print(f"Build: {time.perf_counter() - started:.2f} s")
            print(stats.summary())
            print(fmt_rss("after build"))
            # Measure the rest in a fresh interpreter, so its memory is not the build's.
            command = [
                sys.executable,
                __file__,
                "--path",
                str(path),
                "--lookups",
                str(args.lookups),
            ]
            subprocess.run(command, check=True)
        return
    measure(args.path, args.lookups)


def measure(path: Path, lookups: int) -> None:
    """Open ``path`` and time lookups."""
    print(f"File size: {path.stat().st_size / 1e6:.1f} MB")

    started = time.perf_counter()
    directory = PostcodeDirectory.open(path)
    print(f"Open (in process, warm page cache): {(time.perf_counter() - started) * 1e3:.1f} ms")
    print(fmt_rss("after open"))
    started = time.perf_counter()
    PostcodeDirectory.open(path, mmap=False)
    print(f"Open without mmap (reads arrays): {(time.perf_counter() - started) * 1e3:.1f} ms")
    print(f"Import + open + first lookup, fresh process: {fresh_process_open(path):.2f} s")

    rng = random.Random(RANDOM_SEED)
    outcodes = directory.outcodes()
    units: list[str] = []
    while len(units) < lookups * 8 // 10:
        units.extend(u.postcode for u in directory.units_in_outcode(rng.choice(outcodes))[:3])
    queries = [typed_variants(u, rng) for u in units[: lookups * 8 // 10]]
    sectors = directory.sectors()
    queries += [rng.choice(sectors) for _ in range(lookups // 10)]
    queries += [rng.choice(outcodes) for _ in range(lookups - len(queries))]
    rng.shuffle(queries)

    timings_us: list[float] = []
    for query in queries:
        started_ns = time.perf_counter_ns()
        directory.lookup(query)
        timings_us.append((time.perf_counter_ns() - started_ns) / NS_PER_US)
    p50, p95, p99 = (percentile(timings_us, f) for f in (0.50, 0.95, 0.99))
    print(
        f"Lookup x{len(timings_us):,} (80% units, 10% sectors, 10% outcodes): "
        f"p50 {p50:.1f} µs, p95 {p95:.1f} µs, p99 {p99:.1f} µs, "
        f"mean {statistics.fmean(timings_us):.1f} µs"
    )

    missing_us: list[float] = []
    for query in rng.sample(units, NOT_FOUND_SAMPLE):
        wrong = f"{query[:-2]}ZX" if not query.endswith("ZX") else f"{query[:-2]}ZY"
        started_ns = time.perf_counter_ns()
        with contextlib.suppress(PostcodeNotFound):
            directory.lookup(wrong)
        missing_us.append((time.perf_counter_ns() - started_ns) / NS_PER_US)
    print(
        f"Not found + suggestions x{NOT_FOUND_SAMPLE}: "
        f"p50 {percentile(missing_us, 0.50):.0f} µs, p95 {percentile(missing_us, 0.95):.0f} µs"
    )

    started = time.perf_counter()
    l34 = directory.units_in_outcode("L34")
    elapsed_ms = (time.perf_counter() - started) * 1e3
    print(f"units_in_outcode('L34'): {len(l34)} units in {elapsed_ms:.1f} ms")
    print(fmt_rss("after lookups"))


if __name__ == "__main__":
    main()
