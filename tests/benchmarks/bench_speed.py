"""Speed of the matching engine against the naive loop, on synthetic GB suppliers.

Run from the repository root::

    .venv/bin/python tests/benchmarks/bench_speed.py [--sizes 1000,10000,100000,1000000]
        [--queries 200] [--naive-sizes 1000,10000,100000]

Synthetic suppliers: trade descriptions composed from a building-trades word list, CPV codes
of those trades, coordinates scattered (normal, σ ≈ 8 km) around ~60 real GB town centres.
For each size: index build time (the synthetic data's own generation time subtracted),
p50/p95 latency over the query mix, the index's resident memory (RSS after the build minus
RSS before it, freed heap returned to the OS first) and the build's peak RSS (the kernel's
high-water mark reset just before ``Index.build`` and read just after it: build temporaries,
the interpreter and the lazily generated suppliers included, queries excluded); every size
runs in its own child process so its RSS is its own, and suppliers are generated lazily,
never held as a list. The naive
way, for comparison, loops over every supplier in Python with geopy's geodesic and
rapidfuzz's token_set_ratio, on the same data. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from matcher import Index, Query, SupplierRecord, Thesaurus, search  # noqa: E402
from matcher.store import load_index, save_index  # noqa: E402

# (town, latitude, longitude) of town centres, WGS84
TOWNS = [
    ("London", 51.5074, -0.1278), ("Birmingham", 52.4862, -1.8904),
    ("Manchester", 53.4808, -2.2426), ("Liverpool", 53.4084, -2.9916),
    ("Leeds", 53.8008, -1.5491), ("Sheffield", 53.3811, -1.4701),
    ("Bristol", 51.4545, -2.5879), ("Newcastle", 54.9783, -1.6178),
    ("Nottingham", 52.9548, -1.1581), ("Leicester", 52.6369, -1.1398),
    ("Coventry", 52.4068, -1.5197), ("Bradford", 53.7960, -1.7594),
    ("Hull", 53.7676, -0.3274), ("Stoke-on-Trent", 53.0027, -2.1794),
    ("Wolverhampton", 52.5862, -2.1288), ("Derby", 52.9225, -1.4746),
    ("Southampton", 50.9097, -1.4044), ("Portsmouth", 50.8198, -1.0880),
    ("Plymouth", 50.3755, -4.1427), ("Exeter", 50.7184, -3.5339),
    ("Norwich", 52.6309, 1.2974), ("Ipswich", 52.0567, 1.1482),
    ("Cambridge", 52.2053, 0.1218), ("Oxford", 51.7520, -1.2577),
    ("Reading", 51.4543, -0.9781), ("Milton Keynes", 52.0406, -0.7594),
    ("Northampton", 52.2405, -0.9027), ("Peterborough", 52.5695, -0.2405),
    ("Lincoln", 53.2307, -0.5406), ("York", 53.9590, -1.0815),
    ("Middlesbrough", 54.5742, -1.2350), ("Sunderland", 54.9069, -1.3838),
    ("Carlisle", 54.8925, -2.9329), ("Lancaster", 54.0466, -2.8007),
    ("Preston", 53.7632, -2.7031), ("Blackpool", 53.8175, -3.0357),
    ("Chester", 53.1934, -2.8931), ("Shrewsbury", 52.7073, -2.7553),
    ("Worcester", 52.1936, -2.2216), ("Gloucester", 51.8642, -2.2382),
    ("Swindon", 51.5558, -1.7797), ("Bath", 51.3811, -2.3590),
    ("Bournemouth", 50.7192, -1.8808), ("Brighton", 50.8225, -0.1372),
    ("Canterbury", 51.2802, 1.0789), ("Maidstone", 51.2720, 0.5292),
    ("Chelmsford", 51.7356, 0.4685), ("Colchester", 51.8959, 0.8919),
    ("Luton", 51.8787, -0.4200), ("Cardiff", 51.4816, -3.1791),
    ("Swansea", 51.6214, -3.9436), ("Newport", 51.5842, -2.9977),
    ("Wrexham", 53.0466, -2.9925), ("Bangor", 53.2274, -4.1293),
    ("Glasgow", 55.8642, -4.2518), ("Edinburgh", 55.9533, -3.1883),
    ("Aberdeen", 57.1497, -2.0943), ("Dundee", 56.4620, -2.9707),
    ("Inverness", 57.4778, -4.2247), ("Perth", 56.3950, -3.4308),
    ("Stirling", 56.1165, -3.9369), ("Dumfries", 55.0700, -3.6054),
    ("Truro", 50.2632, -5.0510), ("Hereford", 52.0565, -2.7160),
]

# (trade phrase, CPV code, extra words that describe the work)
TRADES = [
    ("external wall insulation", "45321000", "render EWI retrofit solid wall thermal"),
    ("cavity wall insulation", "45321000", "retrofit extraction injected bead"),
    ("loft insulation", "45321000", "mineral wool roof space top-up"),
    ("air source heat pumps", "45331000", "ASHP low carbon heating MCS installation"),
    ("ground source heat pumps", "45331000", "GSHP borehole heating"),
    ("solar photovoltaic installation", "09331200", "PV panels inverters battery storage MCS"),
    ("roofing", "45261000", "pitched flat slate tiles felt leadwork guttering"),
    ("flat roof repairs", "45261000", "single ply membrane asphalt GRP"),
    ("scaffolding", "45262100", "access towers edge protection hoists"),
    ("kitchen replacement", "45421151", "fitted kitchens worktops units planned maintenance"),
    ("bathroom refurbishment", "45330000", "showers wet rooms adaptations tiling"),
    ("electrical rewires", "45310000", "NICEIC testing inspection EICR consumer units"),
    ("fire alarm installation", "45312100", "detection BAFE servicing"),
    ("fire door installation", "45421131", "FD30 FD60 certification FIRAS inspection"),
    ("passive fire protection", "45343000", "compartmentation fire stopping dampers"),
    ("sprinkler systems", "45343230", "misting suppression residential"),
    ("gas servicing", "50720000", "boiler Gas Safe landlord certificates CP12"),
    ("boiler replacement", "45331100", "combi condensing central heating upgrades"),
    ("plumbing", "45330000", "pipework drainage sanitary leaks"),
    ("windows and doors", "45421100", "uPVC double glazing FENSA composite doors"),
    ("joinery", "45421000", "carpentry staircases skirting bespoke"),
    ("painting and decorating", "45442100", "external redecoration cyclical painting"),
    ("void property repairs", "45453000", "empty homes turnaround clearance responsive"),
    ("responsive repairs", "50700000", "emergency callouts day-to-day maintenance"),
    ("damp and mould remediation", "45453000", "condensation ventilation treatment"),
    ("lift maintenance", "50750000", "passenger lifts stairlifts LOLER"),
    ("asbestos removal", "45262660", "surveys licensed removal encapsulation"),
    ("grounds maintenance", "77310000", "grass cutting landscaping tree surgery"),
    ("office cleaning", "90910000", "communal areas window cleaning janitorial"),
    ("quantity surveying", "71324000", "cost consultancy estimating contract administration"),
    ("principal designer", "71000000", "CDM consultancy building safety"),
    ("clerk of works", "71315000", "site inspection quality assurance"),
    ("retrofit coordinator", "71315000", "PAS 2035 retrofit assessment energy modelling"),
    ("cladding remediation", "45262600", "EWS1 facade ACM replacement"),
    ("drainage", "45232410", "CCTV surveys jetting sewer repairs"),
    ("groundworks", "45111000", "excavation foundations civil engineering"),
    ("brickwork", "45262500", "masonry repointing structural repairs"),
    ("plastering", "45410000", "dry lining rendering skimming"),
    ("flooring", "45430000", "vinyl carpets screeds floor coverings"),
    ("ventilation", "45331210", "extract fans MVHR air handling"),
    ("door entry systems", "45312000", "access control CCTV intercoms"),
    ("waterproofing", "45261420", "basement tanking membranes"),
    ("demolition", "45111100", "soft strip site clearance"),
    ("building maintenance", "50700000", "planned preventative maintenance facilities"),
]
FILLERS = (
    "experienced", "contractor", "delivering", "quality", "works", "for", "housing",
    "associations", "councils", "schools", "NHS", "trusts", "across", "the", "region", "with",
    "accredited", "operatives", "and", "a", "strong", "safety", "record", "social", "housing",
    "framework", "planned", "programmes", "value", "for", "money",
)


#: Suppliers generated per batch (so that the generator's own arrays stay small next to
#: the index being measured).
GENERATE_BATCH = 10_000


def suppliers(n: int, seed: int = 7) -> Iterator[SupplierRecord]:
    """``n`` synthetic suppliers, generated lazily and reproducibly."""
    rng = np.random.default_rng(seed)
    towns = np.array([(lat, lon) for _, lat, lon in TOWNS])
    for first in range(0, n, GENERATE_BATCH):
        size = min(GENERATE_BATCH, n - first)
        town_of = rng.integers(0, len(TOWNS), size)
        offsets = rng.normal(0.0, 0.075, (size, 2))  # ~8 km in latitude
        n_trades = rng.integers(1, 5, size)
        trade_pick = rng.integers(0, len(TRADES), (size, 4))
        filler_pick = rng.integers(0, len(FILLERS), (size, 12))
        for j in range(size):
            i = first + j
            trades = [TRADES[t] for t in trade_pick[j, : n_trades[j]]]
            words = []
            for phrase, _, extra in trades:
                words.append(phrase)
                words.append(extra)
            words.extend(FILLERS[k] for k in filler_pick[j, : 4 + i % 8])
            lat, lon = towns[town_of[j]] + offsets[j] * (1.0, 1.6)
            yield SupplierRecord(
                id=i + 1,
                external_id=f"SYN{i:07d}",
                name=f"{TOWNS[town_of[j]][0]} {trades[0][0].split()[0].title()} Ltd",
                description=" ".join(words),
                cpv_codes=tuple(dict.fromkeys(t[1] for t in trades)),
                latitude=float(lat),
                longitude=float(lon),
                sme=bool(i % 3),
                service_radius_km=None if i % 4 else 40.0,
            )


def queries(count: int, seed: int = 11) -> list[Query]:
    """A query mix: 1–3 trade phrases, some with a typo, half with a 50 km radius, a third
    with CPV codes, located at random town centres."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        trades = [TRADES[t] for t in rng.integers(0, len(TRADES), 1 + i % 3)]
        need = " and ".join(t[0] for t in trades)
        if i % 5 == 0:  # a typo: drop a letter from the longest word
            word = max(need.split(), key=len)
            need = need.replace(word, word[:3] + word[4:], 1)
        _, lat, lon = TOWNS[int(rng.integers(0, len(TOWNS)))]
        out.append(Query(
            need, lat, lon,
            cpv_codes=tuple(t[1] for t in trades) if i % 3 == 0 else (),
            radius_km=50.0 if i % 2 == 0 else None,
            limit=20,
        ))
    return out


THESAURUS = Thesaurus.from_groups([
    ("external wall insulation", "ewi"), ("air source heat pump", "ashp"),
    ("ground source heat pump", "gshp"), ("solar photovoltaic", "solar pv", "pv"),
])


def rss_mb() -> float:
    """Current resident set size, MB (Linux /proc)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS to its current RSS (Linux 4.0+: "5" to clear_refs), so
    that ``peak_rss_mb`` then reads the peak since now; False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """Peak resident set size of this process since it started or since ``reset_peak_rss``,
    MB (Linux /proc ``VmHWM``; elsewhere the process's peak from getrusage)."""
    with contextlib.suppress(OSError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def naive_search(rows: list[tuple[str, str, float, float]], query: Query) -> list[str]:
    """The naive way: every supplier in a Python loop, geopy geodesic + token_set_ratio."""
    from geopy.distance import geodesic
    from rapidfuzz import fuzz

    scored = []
    origin = (query.latitude, query.longitude)
    for ext, text, lat, lon in rows:
        km = geodesic(origin, (lat, lon)).km
        if query.radius_km is not None and km > query.radius_km:
            continue
        text_score = fuzz.token_set_ratio(query.need, text) / 100.0
        dist_score = 2.0 ** (-((km / 50.0) ** 2))
        scored.append((0.6 * text_score + 0.25 * dist_score, ext))
    scored.sort(reverse=True)
    return [ext for _, ext in scored[: query.limit]]


def release_free_heap() -> None:
    """Return freed heap pages to the OS (glibc keeps them otherwise), so the RSS measured
    after the build is what the index holds, not the build's discarded temporaries."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def measure(size: int, n_queries: int, naive_queries: int) -> dict[str, float]:
    """Build, query and (optionally) run the naive loop at one size, in this process."""
    t0 = time.perf_counter()
    for _ in suppliers(size):  # generation alone, subtracted from the build time below
        pass
    generate_s = time.perf_counter() - t0
    release_free_heap()
    base_rss = rss_mb()
    peak_is_the_builds = reset_peak_rss()
    t0 = time.perf_counter()
    index = Index.build(suppliers(size), thesaurus=THESAURUS, data_version=f"syn-{size}")
    build_s = time.perf_counter() - t0 - generate_s
    build_peak_rss = peak_rss_mb()
    release_free_heap()
    after_build_rss = rss_mb()
    qs = queries(n_queries)
    for q in qs[:5]:  # warm caches (stemmer, fuzzy) as a running service would be
        search(index, q)
    times, cpu = [], []
    for q in qs:
        t, c = time.perf_counter(), time.process_time()
        search(index, q)
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    out = {
        "size": size,
        "build_s": build_s,
        "generate_s": generate_s,
        "p50_ms": statistics.median(times),
        "p95_ms": float(np.percentile(times, 95)),
        "cpu_p50_ms": statistics.median(cpu),
        "rss_index_mb": after_build_rss - base_rss,
        "peak_rss_mb": build_peak_rss,  # the build's peak (the whole child's, if no reset)
        "peak_is_the_builds": peak_is_the_builds,
        "base_rss_mb": base_rss,
        "process_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "index_arrays_mb": index.nbytes() / 1e6,
        "vocabulary": index.vocabulary_size,
    }
    out.update(_saved(index, qs))
    if naive_queries:
        rows = [(s.external_id, s.description, s.latitude, s.longitude)
                for s in suppliers(size)]
        naive, naive_cpu = [], []
        for q in qs[:naive_queries]:
            t, c = time.perf_counter(), time.process_time()
            naive_search(rows, q)
            naive.append((time.perf_counter() - t) * 1000)
            naive_cpu.append((time.process_time() - c) * 1000)
        out["naive_p50_ms"] = statistics.median(naive)
        out["naive_cpu_p50_ms"] = statistics.median(naive_cpu)
        out["naive_queries"] = naive_queries
    return out


def _saved(index: Index, qs: list[Query]) -> dict[str, float]:
    """Save ``index`` (matcher.store), map it back, and query the mapped copy: what a
    worker does that maps the file another process built."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.index"
        t0 = time.perf_counter()
        file_bytes = save_index(index, path, fingerprint="bench")
        save_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        loaded = load_index(path, fingerprint="bench")
        load_s = time.perf_counter() - t0
        for q in qs[:5]:
            search(loaded, q)
        cpu = []
        for q in qs:
            c = time.process_time()
            search(loaded, q)
            cpu.append((time.process_time() - c) * 1000)
        same = all(search(loaded, q) == search(index, q) for q in qs)
        del loaded
    return {"file_mb": file_bytes / 1e6, "save_s": save_s, "load_s": load_s,
            "loaded_cpu_p50_ms": statistics.median(cpu), "loaded_same": same}


def table_row(r: dict[str, float]) -> str:
    """One markdown row of the results table."""
    naive = r.get("naive_p50_ms")
    naive_cpu = r.get("naive_cpu_p50_ms")
    cpu = r.get("cpu_p50_ms", float("nan"))
    naive_txt = f"{naive:,.0f} (n={r['naive_queries']})" if naive else "–"
    naive_cpu_txt = f"{naive_cpu:,.0f}" if naive_cpu else "–"
    speedup = f"{naive_cpu / cpu:,.0f}×" if naive_cpu and cpu else "–"
    return (f"| {r['size']:,} | {r['build_s']:.1f} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} "
            f"| {cpu:.2f} | {r['rss_index_mb']:.0f} | {r['peak_rss_mb']:.0f} | {naive_txt} "
            f"| {naive_cpu_txt} | {speedup} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--naive-sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--child-naive", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, args.queries, args.child_naive)))
        return 0
    naive_sizes = {int(s) for s in args.naive_sizes.split(",") if s}
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        # naive query counts: ~200 at 1k, fewer as each one gets slower
        naive_n = 0
        if size in naive_sizes:
            naive_n = max(3, min(args.queries, 200_000 // size))
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(size), "--child-naive", str(naive_n),
             "--queries", str(args.queries)],
            capture_output=True, text=True, check=True, env=dict(os.environ),
        )
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(result)
        print(f"done {size}: {result}", file=sys.stderr, flush=True)
    print(f"machine: {os.cpu_count()} CPUs, {os.uname().machine}, Python "
          f"{sys.version.split()[0]}, numpy {np.__version__}; {args.queries} queries per size "
          "(half with a 50 km radius, a third with CPV codes, a fifth with a typo)")
    print()
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (other work on the machine "
          "inflates wall-clock timings; CPU time, this process's own, much less)")
    print()
    if not all(r.get("peak_is_the_builds") for r in rows):
        print("peak RSS: the whole child process's (this system cannot reset the peak)")
        print()
    print("| suppliers | build (s) | p50 (ms) | p95 (ms) | CPU p50 (ms) | index RSS (MB) "
          "| build peak RSS (MB) | naive p50 (ms) | naive CPU p50 (ms) | speed-up (CPU p50) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(table_row(r))
    print()
    print("Saved to a file and mapped back (matcher.store), as a worker maps the index "
          "another built:")
    print()
    print("| suppliers | file (MB) | save (s) | load (s) | CPU p50 on the mapped index (ms) "
          "| same results for every query |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']:,} | {r['file_mb']:.0f} | {r['save_s']:.2f} | {r['load_s']:.3f} "
              f"| {r['loaded_cpu_p50_ms']:.2f} | {'yes' if r['loaded_same'] else 'NO'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
