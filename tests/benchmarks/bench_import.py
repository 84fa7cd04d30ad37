"""Benchmark: supplier import speed (target: 100k rows in 30 s or less).

Generates synthetic suppliers with every import column filled (real GB postcodes from the
directory, lots, accreditations, social-value commitments), writes them to a CSV file and
imports it into a fresh SQLite database file, timing the first import (all new) and a
re-import (all unchanged). Then imports the real ranking-benchmark suppliers
(``../shared/data/ranking-benchmark/suppliers.csv``) into another fresh database, if present.

Run: ``.venv/bin/python tests/benchmarks/bench_import.py [--rows 100000]``
(not collected by pytest; no timing assertions anywhere).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import platform
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from web import create_app  # noqa: E402
from web.extensions import db  # noqa: E402
from web.models import Framework, Lot, SocialValueCatalogue, SocialValueOption  # noqa: E402
from web.postcodes import PostcodeDirectory, build_directory  # noqa: E402
from web.services.suppliers_import import import_suppliers  # noqa: E402

BENCHMARK_SUPPLIERS = REPO_ROOT.parent / "shared" / "data" / "ranking-benchmark" / "suppliers.csv"
SEED = 20_240_601
DISTINCT_POSTCODES = 20_000  # suppliers share postcodes in real registers too
LOT_CODES = ("L1", "L2", "L3", "L4", "L5", "L6")
OPTION_CODES = ("JOBS1", "APPR1", "TRAIN1", "LOCAL1", "VOL1", "CO2E1")
TRADES = (
    "external wall insulation", "cavity wall insulation", "loft insulation", "air source heat "
    "pumps", "solar PV", "windows and doors", "fire doors", "passive fire protection",
    "kitchens", "bathrooms", "roofing", "electrical rewires", "gas servicing", "lifts",
    "grounds maintenance", "cleaning", "responsive repairs", "voids", "damp and mould",
)
CPV = ("45321000", "45331000", "45421100", "45421151-3", "45261000", "45310000", "50720000",
       "45343000", "90910000", "77310000", "09331200", "71315000")
ACCREDITATIONS = ("CHAS", "SafeContractor", "ISO 9001:2015", "ISO 14001", "Gas Safe",
                  "NICEIC", "TrustMark", "PAS 2030", "MCS", "FENSA", "BM TRADA Q-Mark")
HEADER = (
    "external_id", "name", "company_number", "address", "postcode", "description",
    "capabilities", "cpv_codes", "lots", "sme", "vcse", "service_radius_km",
    "min_contract_value", "max_contract_value", "accreditations", "social_value", "website",
    "email", "phone",
)


def sample_postcodes(directory: PostcodeDirectory, count: int, rng: random.Random) -> list[str]:
    """``count`` distinct real unit postcodes from random outcodes."""
    outcodes = list(directory.outcodes())
    rng.shuffle(outcodes)
    chosen: list[str] = []
    for outcode in outcodes:
        units = directory.units_in_outcode(outcode)
        chosen.extend(unit.postcode for unit in rng.sample(units, min(len(units), 40)))
        if len(chosen) >= count:
            break
    return chosen[:count]


def write_synthetic(path: Path, rows: int, postcodes: list[str], rng: random.Random) -> None:
    """A CSV of ``rows`` synthetic suppliers with every column filled."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            trades = rng.sample(TRADES, 3)
            low = rng.choice((0, 10_000, 50_000, 100_000))
            writer.writerow([
                f"SYN{i:07d}",
                f"{trades[0].title()} Contractors {i} Ltd",
                f"{rng.randrange(1, 16_000_000):08d}",
                f"{rng.randrange(1, 300)} High Street",
                rng.choice(postcodes),
                f"We deliver {', '.join(trades)} for social landlords and councils, "
                "with our own trained operatives and a 24-hour helpline.",
                "; ".join(trades),
                "; ".join(rng.sample(CPV, 2)),
                "; ".join(rng.sample(LOT_CODES, rng.randrange(1, 3))),
                rng.choice(("yes", "no")),
                rng.choice(("no", "no", "no", "yes")),
                rng.choice(("25", "40", "80", "")),
                f"£{low:,}",
                f"£{low * 20 + 250_000:,}",
                "; ".join(
                    f"{name}:{dt.date.today() + dt.timedelta(days=rng.randrange(1, 900))}"
                    for name in rng.sample(ACCREDITATIONS, 2)
                ),
                "; ".join(f"{code}:{rng.randrange(1, 20)}" for code in rng.sample(OPTION_CODES, 2)),
                f"https://supplier{i}.example.co.uk",
                f"bids@supplier{i}.example.co.uk",
                f"0151 {rng.randrange(1_000_000):06d}",
            ])


def fresh_app(database: Path, directory_path: Path):  # type: ignore[no-untyped-def]
    """An app on an empty SQLite file with a framework (6 lots) and a catalogue seeded."""
    if database.exists():
        database.unlink()
    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
        "SECRET_KEY": "bench-" + "x" * 32,
        "POSTCODES_DIRECTORY_PATH": str(directory_path),
    })
    with app.app_context():
        db.create_all()
        framework = Framework(code="BENCH", name="Benchmark framework")
        framework.lots = [Lot(code=code, name=f"Lot {code}") for code in LOT_CODES]
        catalogue = SocialValueCatalogue(version="bench-1", published_on=dt.date(2025, 1, 1),
                                         is_current=True)
        catalogue.options = [
            SocialValueOption(theme_code="T", code=code, title=code, measure=code, unit="unit",
                              proxy_gbp_per_unit=1.0, source="benchmark")
            for code in OPTION_CODES
        ]
        db.session.add_all([framework, catalogue])
        db.session.commit()
    return app


def timed_import(app, path: Path, directory: PostcodeDirectory, label: str) -> float:  # type: ignore[no-untyped-def]
    """Import ``path`` and commit; print and return the seconds taken."""
    with app.app_context():
        started, cpu_started = time.perf_counter(), time.process_time()
        report = import_suppliers(path, filename=path.name, directory=directory)
        db.session.commit()
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
    # CPU time too: on a shared machine, wall time includes waiting for other processes.
    print(
        f"{label}: {report.read:,} rows in {seconds:.1f} s wall, {cpu_seconds:.1f} s CPU "
        f"({report.read / seconds:,.0f} rows/s): "
        f"{report.imported:,} imported, {report.updated:,} updated, "
        f"{report.unchanged:,} unchanged, {report.rejected:,} rejected, "
        f"{len(report.warnings):,} warnings"
    )
    return seconds


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="synthetic rows (100000)")
    parser.add_argument("--directory", type=Path, help="a built postcode directory file")
    args = parser.parse_args()
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        directory_path = args.directory
        if directory_path is None:
            directory_path = work / "postcodes.npz"
            print("Building the postcode directory (once)…")
            build_directory(directory_path)
        directory = PostcodeDirectory.open(directory_path)
        rng = random.Random(SEED)
        csv_path = work / "synthetic-suppliers.csv"
        write_synthetic(csv_path, args.rows, sample_postcodes(directory, DISTINCT_POSTCODES, rng),
                        rng)
        print(f"Synthetic file: {csv_path.stat().st_size / 1e6:.1f} MB")
        app = fresh_app(work / "synthetic.sqlite3", directory_path)
        timed_import(app, csv_path, directory, "Synthetic, first import")
        timed_import(app, csv_path, directory, "Synthetic, re-import")
        if BENCHMARK_SUPPLIERS.exists():
            app = fresh_app(work / "benchmark.sqlite3", directory_path)
            timed_import(app, BENCHMARK_SUPPLIERS, directory, "Ranking-benchmark suppliers.csv")
        else:
            print(f"Skipped {BENCHMARK_SUPPLIERS}: not present")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Peak RSS: {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
