"""Ranking quality on real UK award notices (../shared/data/ranking-benchmark/).

Run from the repository root::

    .venv/bin/python tests/benchmarks/bench_ranking.py [--data DIR] [--queries FILE] [--direct]

By default the suppliers go through the product's own path: a Flask app on a temporary
SQLite file, migrations, ``web.services.suppliers_import.import_suppliers`` on the CSV and
``web.services.matching.build_index`` (with the stored thesaurus and catalogue), then the
same queries through ``matcher.search.evaluate``; the fast CSV-to-records path is run too
and a note printed if its numbers differ, as for the product index saved to a file and
mapped back (``matcher.store``, as the workers share it). ``--direct`` runs only the fast
path (for iterating; ``--param`` needs it).

For every query (a later award: need text, buyer location, CPV codes) find the rank of the
supplier that actually won, and print MRR, hit@1, hit@10 and median rank for

(a) the whole pool, capability-only weights;
(b) "local" views: only queries whose winner is within R km of the buyer, radius filter R,
    default weights, R = 25, 50, 100;

beside reference baselines computed in the same run (BM25 k1 1.2 b 0.75 with English stop
words; TF-IDF cosine with sublinear tf; BM25 × (0.5 + 0.5·gauss(scale 50 km)) for the radius
views). Ties count in the winner's favour. A winner the ranker does not return at all (no
term or CPV match, or filtered out) has reciprocal rank 0 and rank = pool size.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from matcher import (  # noqa: E402
    DEFAULT_WEIGHTS,
    CapabilityParams,
    Index,
    Query,
    SupplierRecord,
    Weights,
)
from matcher.distance import haversine_km  # noqa: E402
from matcher.search import evaluate  # noqa: E402
from matcher.store import load_index, save_index  # noqa: E402
from matcher.text import STOP_WORDS  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ranking-benchmark"
RADII_KM = (25.0, 50.0, 100.0)
CAPABILITY_ONLY = Weights(capability=1.0, distance=0.0, social_value=0.0)


def load_suppliers(path: Path) -> list[SupplierRecord]:
    """Read the import-format CSV (cpv_codes ';'-separated; latitude/longitude given)."""
    csv.field_size_limit(1 << 30)
    out = []
    with path.open(newline="", encoding="utf-8") as f:
        for i, row in enumerate(csv.DictReader(f), start=1):
            out.append(SupplierRecord(
                id=i,
                external_id=row["external_id"],
                name=row["name"],
                description=row["description"] or "",
                cpv_codes=tuple(c.strip() for c in (row["cpv_codes"] or "").split(";")
                                if c.strip()),
                latitude=float(row["latitude"]),
                longitude=float(row["longitude"]),
                sme=(row.get("sme") or "").strip().lower() in ("1", "true", "yes", "y"),
                vcse=(row.get("vcse") or "").strip().lower() in ("1", "true", "yes", "y"),
            ))
    return out


def load_queries(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def metrics(ranks: Sequence[int | None], pool: int) -> dict[str, float]:
    """MRR, hit@1, hit@10, median rank (a missing winner ranks last: the pool size)."""
    rr = [1.0 / r if r else 0.0 for r in ranks]
    filled = [r if r else pool for r in ranks]
    return {
        "n": len(ranks),
        "MRR": statistics.fmean(rr) if rr else 0.0,
        "hit@1": statistics.fmean(r == 1 for r in filled) if filled else 0.0,
        "hit@10": statistics.fmean(r <= 10 for r in filled) if filled else 0.0,
        "median": statistics.median(filled) if filled else 0.0,
    }


# ---------------------------------------------------------------- reference baselines
_WORD = re.compile(r"(?u)\b\w\w+\b")


#: scikit-learn's English list = ours plus the trade-meaningful words we deliberately kept.
BASELINE_STOP_WORDS = STOP_WORDS | {
    "bill", "bottom", "call", "computer", "cry", "fill", "find", "fire", "full", "interest",
    "system", "hasnt",
}


def _tokens(text: str) -> list[str]:
    return [t for t in _WORD.findall(text.lower()) if t not in BASELINE_STOP_WORDS]


class Baselines:
    """BM25 (k1 1.2, b 0.75) and TF-IDF cosine (sublinear tf) over name + description, with
    scikit-learn style tokens: this reproduces the data README's TF-IDF row exactly
    (0.141 / 0.066 / 0.281 / 64); its BM25 row (0.240) is not reproduced exactly here."""

    def __init__(self, suppliers: list[SupplierRecord]) -> None:
        self.ids = [s.external_id for s in suppliers]
        self.lat = np.radians([s.latitude for s in suppliers])
        self.lon = np.radians([s.longitude for s in suppliers])
        docs = [Counter(_tokens(s.name + " " + s.description)) for s in suppliers]
        n = len(docs)
        df: Counter[str] = Counter()
        for d in docs:
            df.update(d.keys())
        self.vocab = {t: i for i, t in enumerate(df)}
        lengths = np.array([sum(d.values()) for d in docs], dtype=float)
        avg = lengths.mean()
        self.bm25_idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        self.tfidf_idf = {t: math.log((1 + n) / (1 + c)) + 1 for t, c in df.items()}
        # postings: term -> (docs, bm25 impact, tfidf weight normalised per doc)
        self.post: dict[str, list[tuple[int, float, float]]] = {}
        norms = np.zeros(n)
        for i, d in enumerate(docs):
            for t, tf in d.items():
                norms[i] += ((1 + math.log(tf)) * self.tfidf_idf[t]) ** 2
        norms = np.sqrt(norms)
        for i, d in enumerate(docs):
            denom = 1.2 * (1 - 0.75 + 0.75 * lengths[i] / avg)
            for t, tf in d.items():
                bm = self.bm25_idf[t] * tf * 2.2 / (tf + denom)
                ti = (1 + math.log(tf)) * self.tfidf_idf[t] / norms[i]
                self.post.setdefault(t, []).append((i, bm, ti))
        self.n = n

    def bm25(self, need: str) -> np.ndarray:
        scores = np.zeros(self.n)
        for t, qtf in Counter(_tokens(need)).items():
            for i, bm, _ in self.post.get(t, ()):
                scores[i] += qtf * bm
        return scores

    def tfidf(self, need: str) -> np.ndarray:
        q = {t: (1 + math.log(c)) * self.tfidf_idf[t]
             for t, c in Counter(_tokens(need)).items() if t in self.tfidf_idf}
        qn = math.sqrt(sum(v * v for v in q.values())) or 1.0
        scores = np.zeros(self.n)
        for t, qv in q.items():
            for i, _, ti in self.post[t]:
                scores[i] += qv / qn * ti
        return scores

    def distances(self, lat: float, lon: float) -> np.ndarray:
        return haversine_km(lat, lon, self.lat, self.lon)


def baseline_rank(scores: np.ndarray, ids: list[str], winner: str,
                  allowed: np.ndarray | None = None) -> int | None:
    idx = ids.index(winner)
    if allowed is not None:
        if not allowed[idx]:
            return None
        scores = np.where(allowed, scores, -np.inf)
    return 1 + int(np.count_nonzero(scores > scores[idx]))


# ---------------------------------------------------------------- our engine
def engine_ranks(index: Index, queries: list[dict], weights: Weights,
                 radius: float | None) -> list[int | None]:
    ranks = []
    for q in queries:
        query = Query(q["need"], float(q["lat"]), float(q["lon"]),
                      cpv_codes=tuple(q.get("cpv_codes") or ()), radius_km=radius,
                      weights=weights, limit=10, require_capability=False)
        ranks.append(evaluate(index, query).rank_of(index, q["winner"]))
    return ranks


def fmt_row(name: str, m: dict[str, float]) -> str:
    return (f"| {name} | {m['n']} | {m['MRR']:.3f} | {m['hit@1']:.3f} | {m['hit@10']:.3f} "
            f"| {m['median']:g} |")


def app_index(csv_path: Path, log: Callable[[str], None] = print) -> Index:
    """The index the product would serve after importing ``csv_path``: a Flask app on a
    temporary SQLite file, migrations, ``import_suppliers``, commit, ``build_index``."""
    import flask_migrate

    from web import create_app
    from web.extensions import db
    from web.postcodes import get_directory
    from web.services.matching import build_index
    from web.services.suppliers_import import import_suppliers

    with tempfile.TemporaryDirectory(prefix="bench-ranking-") as tmp:
        config = {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.sqlite3",
            "SECRET_KEY": "x" * 32,
        }
        # reuse a postcode directory already built in the repository's instance folder (else
        # one is built in the temporary instance folder on first use, ~15 s)
        built = sorted((ROOT / "instance").glob("postcodes-*.npz"))
        if built:
            config["POSTCODES_DIRECTORY_PATH"] = str(built[-1])
        app = create_app(config, instance_path=tmp)
        with app.app_context():
            t0 = time.perf_counter()
            flask_migrate.upgrade()
            with csv_path.open("rb") as f:
                report = import_suppliers(f, filename="suppliers.csv",
                                          directory=get_directory(app))
            db.session.commit()
            t1 = time.perf_counter()
            index = build_index(data_version="ranking-benchmark")
            t2 = time.perf_counter()
            db.session.remove()
            db.engine.dispose()
    log(f"product path: import read {report.read}, imported {report.imported}, "
        f"rejected {report.rejected} in {t1 - t0:.1f} s; build_index {t2 - t1:.2f} s "
        f"({index.size} suppliers, vocabulary {index.vocabulary_size})")
    if report.rejected or not report.written:
        log(f"note: the import did not take every row: {report.problems[:3]}")
    return index


def query_half(query_id: str) -> int:
    """0 or 1: parity of the query id's 64-bit blake2b (the fixed 2-fold split)."""
    return hashlib.blake2b(query_id.encode("utf-8"), digest_size=8).digest()[-1] % 2


def run(data: Path, queries_file: Path, params: CapabilityParams, *, direct: bool = False,
        half: int | None = None, log: Callable[[str], None] = print) -> dict[str, dict[str, float]]:
    suppliers = load_suppliers(data / "suppliers.csv")
    queries = load_queries(queries_file)
    if half is not None:
        queries = [q for q in queries if query_half(q["id"]) == half]
    t0 = time.perf_counter()
    index = Index.build(suppliers, params=params, data_version="ranking-benchmark")
    build_s = time.perf_counter() - t0
    log(f"direct path: {len(suppliers)} SupplierRecords from the CSV, Index.build "
        f"{build_s:.2f} s; {params}")
    if not direct:
        direct_index = index
        index = app_index(data / "suppliers.csv", log)
    base = Baselines(suppliers)
    pool = len(suppliers)
    out: dict[str, dict[str, float]] = {}
    log(f"{pool} suppliers, {len(queries)} queries from {queries_file.name}; "
        f"ranked through the {'direct' if direct else 'product'} path"
        + ("" if half is None else f"; split half {half} only"))
    log("")
    log("| view / ranker | n | MRR | hit@1 | hit@10 | median rank |")
    log("|---|---|---|---|---|---|")
    ours = engine_ranks(index, queries, CAPABILITY_ONLY, None)
    out["whole/ours"] = metrics(ours, pool)
    out["whole/bm25"] = metrics(
        [baseline_rank(base.bm25(q["need"]), base.ids, q["winner"]) for q in queries], pool)
    out["whole/tfidf"] = metrics(
        [baseline_rank(base.tfidf(q["need"]), base.ids, q["winner"]) for q in queries], pool)
    log(fmt_row("whole pool · framework-match (capability only)", out["whole/ours"]))
    log(fmt_row("whole pool · BM25 baseline", out["whole/bm25"]))
    log(fmt_row("whole pool · TF-IDF baseline", out["whole/tfidf"]))
    for radius in RADII_KM:
        local = []
        for q in queries:
            d = base.distances(float(q["lat"]), float(q["lon"]))
            if d[base.ids.index(q["winner"])] <= radius:
                local.append((q, d))
        qs = [q for q, _ in local]
        key = f"{radius:g}km"
        out[f"{key}/ours"] = metrics(engine_ranks(index, qs, DEFAULT_WEIGHTS, radius), pool)
        geo_ranks, bm_ranks = [], []
        for q, d in local:
            allowed = d <= radius
            bm = base.bm25(q["need"])
            gauss = np.exp(-(d**2) / (2 * 50.0**2))  # the README's gauss(scale 50 km)
            geo_ranks.append(baseline_rank(bm * (0.5 + 0.5 * gauss), base.ids, q["winner"],
                                           allowed))
            bm_ranks.append(baseline_rank(bm, base.ids, q["winner"], allowed))
        out[f"{key}/bm25geo"] = metrics(geo_ranks, pool)
        out[f"{key}/bm25"] = metrics(bm_ranks, pool)
        log(fmt_row(f"≤{key} · framework-match (default weights)", out[f"{key}/ours"]))
        log(fmt_row(f"≤{key} · BM25 × (0.5+0.5·gauss 50 km)", out[f"{key}/bm25geo"]))
        log(fmt_row(f"≤{key} · BM25 (radius filter only)", out[f"{key}/bm25"]))
    if not direct:
        differ = compare_paths(direct_index, index, queries, base)
        log("")
        log("direct path (CSV → SupplierRecord → Index.build): "
            + ("same ranks for every query and view" if not differ else
               f"note: ranks differ from the product path in {len(differ)} query/view "
               f"pairs, e.g. {differ[:5]}"))
        with tempfile.TemporaryDirectory() as tmp:
            saved = Path(tmp) / "bench.index"
            size = save_index(index, saved, fingerprint="bench")
            loaded = load_index(saved, fingerprint="bench")
            differ = compare_paths(index, loaded, queries, base)
            log(f"saved and mapped back (matcher.store, {size / 1e6:.1f} MB): "
                + ("same ranks for every query and view" if not differ else
                   f"note: ranks differ from the built index in {len(differ)} query/view "
                   f"pairs, e.g. {differ[:5]}"))
            del loaded
    return out


def compare_paths(direct: Index, product: Index, queries: list[dict],
                  base: Baselines) -> list[tuple[str, str, int | None, int | None]]:
    """(query id, view, direct rank, product rank) wherever the two indexes disagree."""
    differ = []
    views: list[tuple[str, Weights, float | None]] = [("whole", CAPABILITY_ONLY, None)]
    views += [(f"{r:g}km", DEFAULT_WEIGHTS, r) for r in RADII_KM]
    for name, weights, radius in views:
        qs = queries if radius is None else [
            q for q in queries
            if base.distances(float(q["lat"]), float(q["lon"]))[base.ids.index(q["winner"])]
            <= radius
        ]
        a = engine_ranks(direct, qs, weights, radius)
        b = engine_ranks(product, qs, weights, radius)
        differ += [(q["id"], name, x, y) for q, x, y in zip(qs, a, b, strict=True) if x != y]
    return differ


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--queries", type=Path, default=None,
                        help="queries JSONL (default: DATA/queries_dev.jsonl)")
    parser.add_argument("--param", action="append", default=[],
                        help="override a CapabilityParams field, e.g. --param b=0.5 "
                             "(with --direct: the product path builds with the defaults)")
    parser.add_argument("--direct", action="store_true",
                        help="skip the product's import path: CSV → SupplierRecords → "
                             "Index.build only (fast, for iterating)")
    parser.add_argument("--half", type=int, choices=(0, 1), default=None,
                        help="only the queries whose blake2b-64(id) is even (0) or odd (1): "
                             "a fixed 2-fold split to check a change helps both halves")
    args = parser.parse_args(argv)
    if args.param and not args.direct:
        parser.error("--param needs --direct (the product path builds with the defaults)")
    if not (args.data / "suppliers.csv").exists():
        print(f"skipped: {args.data / 'suppliers.csv'} not found")
        return 0
    overrides = {}
    for item in args.param:
        key, _, value = item.partition("=")
        overrides[key] = type(getattr(CapabilityParams(), key))(value)
    run(args.data, args.queries or args.data / "queries_dev.jsonl",
        CapabilityParams(**overrides), direct=args.direct, half=args.half)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
