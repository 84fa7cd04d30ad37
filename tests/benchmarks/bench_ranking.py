"""Ranking quality on real UK award notices (../shared/data/ranking-benchmark/).

Run from the repository root::

    .venv/bin/python tests/benchmarks/bench_ranking.py [--data DIR] [--queries FILE]

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
import json
import math
import re
import statistics
import sys
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


def run(data: Path, queries_file: Path, params: CapabilityParams,
        log: Callable[[str], None] = print) -> dict[str, dict[str, float]]:
    suppliers = load_suppliers(data / "suppliers.csv")
    queries = load_queries(queries_file)
    t0 = time.perf_counter()
    index = Index.build(suppliers, params=params, data_version="ranking-benchmark")
    build_s = time.perf_counter() - t0
    base = Baselines(suppliers)
    pool = len(suppliers)
    out: dict[str, dict[str, float]] = {}
    log(f"{pool} suppliers, {len(queries)} queries from {queries_file.name}; "
        f"index built in {build_s:.2f} s; {params}")
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
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--queries", type=Path, default=None,
                        help="queries JSONL (default: DATA/queries_dev.jsonl)")
    parser.add_argument("--param", action="append", default=[],
                        help="override a CapabilityParams field, e.g. --param b=0.5")
    args = parser.parse_args(argv)
    if not (args.data / "suppliers.csv").exists():
        print(f"skipped: {args.data / 'suppliers.csv'} not found")
        return 0
    overrides = {}
    for item in args.param:
        key, _, value = item.partition("=")
        overrides[key] = type(getattr(CapabilityParams(), key))(value)
    run(args.data, args.queries or args.data / "queries_dev.jsonl",
        CapabilityParams(**overrides))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
