"""Ranking: capability, distance and social value, after hard filters, explained.

Query pipeline (all vectorised; Python work is per query term and per returned result):

1. analyse the need into weighted index terms (exact stems, typo corrections against the
   vocabulary, thesaurus concepts) and CPV prefixes;
2. accumulate BM25F impacts over the terms' posting lists and CPV credit over the prefix
   posting lists → candidates (suppliers matching something, unless the need is empty);
3. location (local authorities or radius with a bounding-box prefilter) and hard filters,
   each supplier dropped counted once under the first reason, in the order of
   ``EXCLUSION_REASONS``;
4. component values → weighted total → top ``offset + limit`` by ``np.partition``, ties
   broken by the 64-bit blake2b hash of the external id (stable whatever the insertion
   order; the hash is shown on each result as ``tie_break``);
5. dataclasses, geodesic distances and reasons for the returned page only.

Capability normalisation: the text score is divided by the best text score among the
candidates that passed every filter, so 1.0 means "the best text match you can choose
from" and the capability weight always spans its full range whatever the need's length;
the reason also states the share of the need's terms the supplier matched. CPV credit is
already 0–1. With both, ``capability = (1 - cpv_share)·text + cpv_share·cpv`` for suppliers
with CPV codes on record and ``text`` for those without (missing is not a mismatch).

Service radius: a supplier whose own service radius does not reach the member is kept and
flagged ("outside supplier's service radius"), because firms do travel for the right job
and the member decides; ``Query.strict_service_radius`` excludes them instead.

Social value applies only when the query chooses options: fit = weighted share of the
chosen options the supplier commits to; estimated £ = Σ commitment per £1m × contract value
/ £1m × the option's proxy, each option counted once.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process

from .cpv import LEVEL_CREDIT, LEVEL_NAMES, cpv_credit, normalise_cpv, significant
from .distance import (
    bounding_box,
    decay_scores,
    geodesic_km_many,
    great_circle_km,
    resolve_scale_km,
)
from .index import NO_EXPIRY, Index, acc_key, find_concepts, tie_hash
from .models import (
    ComponentScore,
    MatchResult,
    Query,
    SearchResponse,
    SocialValueItem,
)

__all__ = ["ALGORITHM_VERSION", "EXCLUSION_REASONS", "Evaluation", "evaluate", "search"]

#: Carried on every response; bump when scores for the same data and query change.
ALGORITHM_VERSION = (
    "fm-match/1.1 (bm25f k1=1.2 b=0.9 name=1 kw=1; cpv-hier share=0.3; gauss; rotation 1/(1+n); "
    "blake2b tie-break)"
)

#: Exclusion reasons in the order they are checked (a supplier counts under the first).
EXCLUSION_REASONS = (
    "no_capability_match",
    "outside_local_authorities",
    "outside_radius",
    "outside_service_radius",
    "lot",
    "contract_value",
    "accreditation_missing",
    "accreditation_expired",
    "not_sme",
    "not_vcse",
)


@dataclass(frozen=True, slots=True)
class PlannedTerm:
    """One index term the need searches for, with its weight and where it came from."""

    tid: int
    weight: float
    word: str
    how: str  # "exact" | "typo" | "thesaurus"


def _query_weight(count: int) -> float:
    """Weight of a need term said ``count`` times: sublinear, so a long need that repeats a
    word does not drown its other terms (1, 1.69, 2.1, ...)."""
    return 1.0 + math.log(count)


def plan_terms(index: Index, text: str) -> tuple[list[PlannedTerm], list[str]]:
    """Analyse need ``text`` into index terms and human-readable interpretation lines."""
    an = index.analyzer
    p = index.params
    counts: Counter[str] = Counter()
    first_word: dict[str, str] = {}
    seq: list[int] = []
    for word in an.raw_words(text):
        stem = an.stem(word)
        if stem is None:
            continue
        counts[stem] += 1
        first_word.setdefault(stem, word)
        tid = index._term_id.get(stem)
        if tid is not None:
            seq.append(tid)
    planned: list[PlannedTerm] = []
    notes: list[str] = []
    for stem, count in counts.items():
        weight = _query_weight(count)
        word = first_word[stem]
        tid = index._term_id.get(stem)
        if tid is not None and index._df[tid] > 0:
            planned.append(PlannedTerm(tid, weight, word, "exact"))
            continue
        fixes = fuzzy_terms(index, word) if len(word) >= p.fuzzy_min_length else ()
        for fix_tid, similarity, surface in fixes:
            # a correction counts less than the word itself, the more so the less sure it is
            planned.append(PlannedTerm(fix_tid, weight * similarity**2, word, "typo"))
            notes.append(f"'{word}' read as '{surface}' ({similarity:.0%} similar)")
        if not fixes:
            notes.append(f"'{word}' is not in any supplier's profile")
    for concept in dict.fromkeys(find_concepts(seq, index._phrase_first)):
        if index._df[concept] > 0:
            group = index._surfaces[concept]
            planned.append(PlannedTerm(concept, 1.0, group[0], "thesaurus"))
            notes.append("also searching for " + " / ".join(f"'{g}'" for g in group))
    return planned, notes


def fuzzy_terms(index: Index, word: str) -> tuple[tuple[int, float, str], ...]:
    """Vocabulary terms within typo distance of ``word``: (tid, similarity 0–1, surface).

    Candidates share the first letter and are within two characters of its length (typos
    rarely hit the first letter, and it keeps the search to a few hundred words); cached.
    """
    cache = index._fuzzy_cache
    hit = cache.get(word)
    if hit is not None:
        return hit
    p = index.params
    choices: list[str] = []
    for length in range(len(word) - 2, len(word) + 3):
        choices.extend(index._fuzzy_buckets.get((word[0], length), ()))
    best: dict[int, tuple[float, str]] = {}
    for surface, score, _ in process.extract(
        word, choices, scorer=fuzz.ratio, score_cutoff=p.fuzzy_min_score, limit=p.fuzzy_limit * 3
    ):
        tid = index._surface_tid[surface]
        if tid not in best or best[tid][0] < score:
            best[tid] = (score, surface)
    ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[1][1]))[: p.fuzzy_limit]
    result = tuple((tid, score / 100.0, surface) for tid, (score, surface) in ranked)
    if len(cache) > 100_000:  # bounded: typos are unbounded, memory is not
        cache.clear()
    cache[word] = result
    return result


def _merge(planned: list[PlannedTerm]) -> dict[int, float]:
    weights: dict[int, float] = {}
    for t in planned:
        weights[t.tid] = weights.get(t.tid, 0.0) + t.weight
    return weights


def text_scores(index: Index, weights: dict[int, float]) -> npt.NDArray[np.float32] | None:
    """Σ over need terms of weight × BM25F impact, for every supplier (None: no terms)."""
    if not weights:
        return None
    acc = np.zeros(index.size, dtype=np.float32)
    for tid, weight in weights.items():
        docs, impact = index.postings(tid)
        # Each doc once per posting list, so this is the same sum as acc[docs] += …, in
        # under half the time: numpy's add.at has a fast path for one flat array, while the
        # fancy-indexed add gathers, adds and scatters, converting the int32 rows each time.
        np.add.at(acc, docs, impact.astype(np.float32) * np.float32(weight))
    return acc


def cpv_plan(codes: tuple[str, ...]) -> list[str]:
    """The need's CPV codes, 8-digit, deduplicated, order kept."""
    return list(dict.fromkeys(normalise_cpv(c) for c in codes))


def cpv_scores(index: Index, codes: list[str]) -> npt.NDArray[np.float32] | None:
    """Best CPV credit (0–1) of each supplier for any of ``codes`` (None: no codes)."""
    if not codes:
        return None
    credit_by_prefix: dict[str, float] = {}
    for code in codes:
        sig = significant(code)
        for length in range(2, len(sig) + 1):
            credit = 1.0 if length == len(sig) else LEVEL_CREDIT.get(length, 0.0)
            prefix = sig[:length]
            credit_by_prefix[prefix] = max(credit_by_prefix.get(prefix, 0.0), credit)
    out = np.zeros(index.size, dtype=np.float32)
    # ascending credit: a deeper (better) prefix overwrites a shallower one
    for prefix, credit in sorted(credit_by_prefix.items(), key=lambda kv: (kv[1], kv[0])):
        pid = index._cpv_prefix.get(prefix)
        if pid is None:
            continue
        docs = index._cpv_docs[index._cpv_indptr[pid] : index._cpv_indptr[pid + 1]]
        out[docs] = np.maximum(out[docs], np.float32(credit))
    return out


def _dense_mask(index: Index, indptr: npt.NDArray[np.int64], docs: npt.NDArray[np.int32],
                keys: list[int]) -> npt.NDArray[np.bool_]:
    mask = np.zeros(index.size, dtype=bool)
    for key in keys:
        mask[docs[indptr[key] : indptr[key + 1]]] = True
    return mask


def evaluate(index: Index, query: Query) -> Evaluation:
    """Score every candidate of ``query`` (no ranking, no result objects)."""
    on_date = query.on_date or date.today()
    w = query.weights
    n = index.size
    excluded: dict[str, int] = {}

    need_text = " ".join((query.need, *query.keywords))
    planned, notes = plan_terms(index, need_text)
    term_weights = _merge(planned)
    codes = cpv_plan(query.cpv_codes)
    text = text_scores(index, term_weights)
    if text is None and index.analyzer.stems(need_text):
        text = np.zeros(n, dtype=np.float32)  # words, none of them known: nothing matches
    cpv = cpv_scores(index, codes)
    has_signal = text is not None or bool(codes)

    # --- candidates: suppliers matching something of the need
    if has_signal and query.require_capability:
        if text is not None and cpv is not None:
            cand = np.flatnonzero((text > 0) | (cpv > 0))
        else:
            cand = np.flatnonzero((text if text is not None else cpv) > 0)  # type: ignore[operator]
    else:
        cand = np.arange(n, dtype=np.intp)
    # Candidates stay numpy's native index width (intp): every array below is gathered by
    # them, and int32 rows would be converted again on each gather (measured 1.7x slower).
    excluded["no_capability_match"] = n - len(cand)

    def keep(mask: npt.NDArray[np.bool_], reason: str) -> None:
        nonlocal cand
        excluded[reason] = excluded.get(reason, 0) + int(len(mask) - np.count_nonzero(mask))
        cand = cand[mask]

    # --- location
    if query.local_authorities:
        wanted = [index._la_id[c] for c in query.local_authorities if c in index._la_id]
        keep(np.isin(index._la[cand], np.asarray(wanted, dtype=np.int32)),
             "outside_local_authorities")
    dist: npt.NDArray[np.float64] | None = None
    if query.radius_km is not None:
        lo_lat, hi_lat, lo_lon, hi_lon = bounding_box(
            query.latitude, query.longitude, query.radius_km
        )
        la, lo = index._lat[cand], index._lon[cand]
        box = (la >= lo_lat) & (la <= hi_lat) & (lo >= lo_lon) & (lo <= hi_lon)
        cand_box = cand[box]
        d = great_circle_km(query.latitude, query.longitude, index._xyz, cand_box)
        inside = d <= query.radius_km
        excluded["outside_radius"] = int(len(cand) - np.count_nonzero(inside))
        cand, dist = cand_box[inside], d[inside]
    need_dist = w.distance > 0 or query.strict_service_radius
    if dist is None and need_dist:
        dist = great_circle_km(query.latitude, query.longitude, index._xyz, cand)
    if query.strict_service_radius and dist is not None:
        sr = index._service_radius[cand]
        ok = np.isnan(sr) | (dist <= sr)
        dist = dist[ok]
        keep(ok, "outside_service_radius")

    # --- hard filters (dist, when computed, is kept aligned with cand)
    def keep_aligned(mask: npt.NDArray[np.bool_], reason: str) -> None:
        nonlocal dist
        if dist is not None:
            dist = dist[mask]
        keep(mask, reason)

    if query.lots:
        lot_keys = [index._lot_id[lot] for lot in query.lots if lot in index._lot_id]
        in_lot = _dense_mask(index, index._lot_indptr, index._lot_docs, lot_keys)
        keep_aligned(~index._has_lots[cand] | in_lot[cand], "lot")
    if query.contract_value is not None:
        v = query.contract_value
        lo_v, hi_v = index._min_val[cand], index._max_val[cand]
        keep_aligned((np.isnan(lo_v) | (lo_v <= v)) & (np.isnan(hi_v) | (hi_v >= v)),
                     "contract_value")
    if query.required_accreditations:
        present = np.ones(n, dtype=bool)
        valid = np.ones(n, dtype=bool)
        day = on_date.toordinal()
        for name in dict.fromkeys(acc_key(a) for a in query.required_accreditations):
            aid = index._acc_id.get(name)
            has = np.zeros(n, dtype=bool)
            ok = np.zeros(n, dtype=bool)
            if aid is not None:
                a, z = index._acc_indptr[aid], index._acc_indptr[aid + 1]
                docs, expiry = index._acc_docs[a:z], index._acc_expiry[a:z]
                has[docs] = True
                ok[docs[expiry >= day]] = True
            present &= has
            valid &= ok | ~has
        keep_aligned(present[cand], "accreditation_missing")
        keep_aligned(valid[cand], "accreditation_expired")
    if query.sme_only:
        keep_aligned(index._sme[cand], "not_sme")
    if query.vcse_only:
        keep_aligned(index._vcse[cand], "not_vcse")

    # --- component values for every candidate
    total_count = len(cand)
    best_text = 0.0
    text_c: npt.NDArray[np.float64] | None = None
    if text is not None:
        text_c = text[cand].astype(np.float64)
        best_text = float(text_c.max()) if total_count else 0.0
        text_c = text_c / best_text if best_text > 0 else np.zeros(total_count)
    cpv_c = cpv[cand].astype(np.float64) if cpv is not None else None
    share = index.params.cpv_share
    if text_c is not None and cpv_c is not None:
        # a supplier with no CPV codes on record is judged on its text alone: missing data
        # is not evidence of a different trade (half the benchmark's profiles carry none)
        capability = np.where(index._has_cpv[cand], (1.0 - share) * text_c + share * cpv_c,
                              text_c)
    elif text_c is not None:
        capability = text_c
    elif cpv_c is not None:
        capability = cpv_c
    else:
        capability = np.zeros(total_count)

    scale_km = resolve_scale_km(query.decay, query.radius_km)
    distance_score = (
        decay_scores(dist, query.decay, scale_km) if dist is not None
        else np.zeros(total_count)
    )

    sv_weights = _social_value_weights(query)
    sv_fit = np.zeros(total_count)
    if sv_weights:
        fit = np.zeros(n, dtype=np.float64)
        for code, share_w in sv_weights.items():
            oid = index._sv_id.get(code)
            if oid is not None:
                fit[index._sv_docs[index._sv_indptr[oid] : index._sv_indptr[oid + 1]]] += share_w
        sv_fit = np.minimum(fit[cand], 1.0)

    w_sv = w.social_value if sv_weights else 0.0
    # fair rotation: 1 for no recent awards, 1/2 for one, 1/3 for two, ...
    rotation = 1.0 / (1.0 + index._recent_awards[cand].astype(np.float64))
    w_sum = w.capability + w.distance + w_sv + w.rotation
    if w_sum > 0:
        # normalise the weights first: dividing by a tiny sum would overflow
        total = (
            (w.capability / w_sum) * capability
            + (w.distance / w_sum) * distance_score
            + (w_sv / w_sum) * sv_fit
            + (w.rotation / w_sum) * rotation
        ) * 100.0
    else:
        total = np.zeros(total_count)

    return Evaluation(
        cand=cand, total=total, capability=capability, distance_score=distance_score,
        sv_fit=sv_fit, rotation=rotation, text_norm=text_c, cpv=cpv_c, planned=planned, codes=codes,
        sv_weights=sv_weights, w_sv=w_sv, w_sum=w_sum, scale_km=scale_km, on_date=on_date,
        excluded={r: excluded[r] for r in EXCLUSION_REASONS if excluded.get(r)},
        notes=tuple(notes),
    )


@dataclass(slots=True)
class Evaluation:
    """Every candidate's component values and total, aligned with ``cand`` (internal rows)."""

    cand: npt.NDArray[np.intp]
    total: npt.NDArray[np.float64]
    capability: npt.NDArray[np.float64]
    distance_score: npt.NDArray[np.float64]
    sv_fit: npt.NDArray[np.float64]
    rotation: npt.NDArray[np.float64]
    text_norm: npt.NDArray[np.float64] | None
    cpv: npt.NDArray[np.float64] | None
    planned: list[PlannedTerm]
    codes: list[str]
    sv_weights: dict[str, float]
    w_sv: float
    w_sum: float
    scale_km: float
    on_date: date
    excluded: dict[str, int]
    notes: tuple[str, ...]

    def rank_of(self, index: Index, external_id: str) -> int | None:
        """1-based rank of the supplier with ``external_id`` (ties in its favour), or None
        when it is not a candidate (for evaluation; not on the query path)."""
        doc = index.row_of(external_id)
        where = np.flatnonzero(self.cand == doc) if doc is not None else ()
        if not len(where):
            return None
        return 1 + int(np.count_nonzero(self.total > self.total[where[0]]))

    def top(self, index: Index, offset: int, limit: int) -> npt.NDArray[np.int64]:
        """Positions (into ``cand``) of ranks offset+1 .. offset+limit, ties by tie hash."""
        total, cand = self.total, self.cand
        count = len(cand)
        k = min(offset + limit, count)
        if k == 0:
            return np.zeros(0, dtype=np.int64)
        if k < count:
            kth = np.partition(total, count - k)[count - k]
            pool = np.flatnonzero(total >= kth)
        else:
            pool = np.arange(count)
        order = np.lexsort((index._tie_rank[cand[pool]], -total[pool]))
        return np.asarray(pool[order][offset:k], dtype=np.int64)


def search(index: Index, query: Query) -> SearchResponse:
    """Rank the suppliers of ``index`` for ``query``; see the module docstring."""
    e = evaluate(index, query)
    page = e.top(index, query.offset, query.limit)
    docs = e.cand[page]
    km = geodesic_km_many(query.latitude, query.longitude, index._lat[docs], index._lon[docs])
    # which planned term each page supplier has: one binary search per term for the page
    has = {t.tid: index.has_term(t.tid, docs).tolist() for t in e.planned}
    term_has = [(t, has[t.tid]) for t in e.planned]
    explain = _Explainer(index, query, e, page, docs)
    results = tuple(
        explain.result(r, km_r, [t for t, found in term_has if found[r]])
        for r, km_r in enumerate(km.tolist())
    )
    return SearchResponse(
        results=results,
        total=len(e.cand),
        algorithm_version=ALGORITHM_VERSION,
        data_version=index.data_version,
        excluded=e.excluded,
        interpretation=e.notes,
    )


def _social_value_weights(query: Query) -> dict[str, float]:
    """Chosen options → share of the social-value score (weights normalised to sum 1).

    An option chosen twice counts once, with its larger weight; all-zero weights count
    equally (the member chose them, so they matter).
    """
    chosen: dict[str, float] = {}
    for c in query.social_value:
        chosen[c.code] = max(chosen.get(c.code, 0.0), max(c.weight, 0.0))
    if not chosen:
        return {}
    total = sum(chosen.values())
    if total <= 0:
        return {code: 1.0 / len(chosen) for code in chosen}
    return {code: weight / total for code, weight in chosen.items()}


def _fmt_km(km: float) -> str:
    return f"{km:.1f} km"


class _Explainer:
    """Builds the page's results: what is the same for every result of a query is worked
    out once here, not once per result, and each array the results read is gathered for
    the whole page at once into Python lists (reading numpy arrays one element at a time
    costs more than the arithmetic done with the element)."""

    def __init__(self, index: Index, query: Query, e: Evaluation,
                 page: npt.NDArray[np.int64], docs: npt.NDArray[np.int32]) -> None:
        self.index, self.query, self.e = index, query, e
        w = query.weights
        self.shares = {  # each component's share of the weights
            name: weight / e.w_sum if e.w_sum > 0 else 0.0
            for name, weight in (("capability", w.capability), ("distance", w.distance),
                                 ("social_value", e.w_sv), ("rotation", w.rotation))
        }
        self.need_words = {t.word for t in e.planned if t.how != "thesaurus"}
        if query.radius_km is not None:
            where = f"within the {query.radius_km:g} km radius"
        elif query.local_authorities:
            where = "in a chosen local authority"
        else:
            where = "no radius set"
        self.dist_suffix = (
            f" away ({where}); {query.decay.kind} decay: 1.0 up to "
            f"{query.decay.offset_km:g} km, {query.decay.decay:g} at "
            f"{query.decay.offset_km + e.scale_km:g} km"
        )
        if w.distance == 0:
            self.dist_suffix += "; distance weight is 0, so not scored"
        self.cpv_share_reason = (
            f"weighted {1 - index.params.cpv_share:.0%} text, {index.params.cpv_share:.0%} CPV"
        )
        self.today = e.on_date.toordinal()
        # the page's values, by result
        self.docs: list[int] = docs.tolist()
        self.total: list[float] = e.total[page].tolist()
        self.capability: list[float] = e.capability[page].tolist()
        self.text_norm: list[float] | None = (
            None if e.text_norm is None else e.text_norm[page].tolist())
        self.cpv: list[float] | None = None if e.cpv is None else e.cpv[page].tolist()
        self.distance: list[float] | None = (
            None if w.distance == 0 else e.distance_score[page].tolist())
        self.sv_fit: list[float] = e.sv_fit[page].tolist() if e.sv_weights else []
        self.rotation: list[float] = e.rotation[page].tolist() if w.rotation > 0 else []
        self.has_cpv: list[bool] = index._has_cpv[docs].tolist()
        self.radius: list[float] = index._service_radius[docs].tolist()
        self.awards: list[int] = index._recent_awards[docs].tolist()
        self.acc_from: list[int] = index._doc_acc_indptr[docs].tolist()
        self.acc_to: list[int] = index._doc_acc_indptr[docs + 1].tolist()
        self.supplier_ids = index.supplier_ids(docs)
        self.external_ids = index.external_ids(docs)
        self.names = index.names(docs)
        # each chosen option's commitment for every page supplier: one binary search per
        # option for the whole page
        self.sv_qty: dict[str, list[float]] = {}
        for code in e.sv_weights:
            qty = np.zeros(len(docs), dtype=np.float64)
            oid = index._sv_id.get(code)
            if oid is not None and len(docs):
                a, z = index._sv_indptr[oid], index._sv_indptr[oid + 1]
                plist = index._sv_docs[a:z]
                if len(plist):
                    j = np.minimum(np.searchsorted(plist, docs), len(plist) - 1)
                    found = plist[j] == docs
                    qty[found] = index._sv_qty[a + j[found]]
            self.sv_qty[code] = qty.tolist()

    def result(self, r: int, km: float, matched: list[PlannedTerm]) -> MatchResult:
        """The ``r``-th result of the page, ``km`` away, having the ``matched`` terms."""
        index, query, e = self.index, self.query, self.e
        w = query.weights
        shares = self.shares
        doc = self.docs[r]

        capability = self.capability[r]
        text_norm = None if self.text_norm is None else self.text_norm[r]
        cpv_value = None if self.cpv is None else self.cpv[r]

        # capability reason and matched terms
        matched_words: list[str] = []
        matched_terms: list[str] = []
        seen_words: set[str] = set()
        for t in matched:
            if t.word not in seen_words:
                seen_words.add(t.word)
                matched_words.append(t.word)
            for surface in index._surfaces[t.tid]:
                if surface not in matched_terms:
                    matched_terms.append(surface)
        parts: list[str] = []
        if text_norm is not None:
            parts.append(
                f"text matches {len(seen_words & self.need_words)} of {len(self.need_words)} "
                "need terms"
                + (f" ({', '.join(matched_words[:8])})" if matched_words else "")
                + f", {text_norm:.0%} of the best text match"
            )
        if cpv_value is not None:
            parts.append(_cpv_reason(index, doc, e.codes))
        if text_norm is None and cpv_value is None:
            parts.append("no need text or CPV codes: capability not scored")
        if text_norm is not None and cpv_value is not None and self.has_cpv[r]:
            parts.append(self.cpv_share_reason)
        # each contribution to the 0–100 total is computed as the total is
        comps = [
            ComponentScore("capability", capability, w.capability,
                           shares["capability"] * capability * 100.0, "; ".join(parts)),
        ]
        # distance
        distance_score = 0.0 if self.distance is None else self.distance[r]
        comps.append(ComponentScore("distance", distance_score, w.distance,
                                    shares["distance"] * distance_score * 100.0,
                                    _fmt_km(km) + self.dist_suffix))
        # social value
        items, gbp = self._social_value_items(r)
        if e.sv_weights:
            sv_fit = self.sv_fit[r]
            committed = [item.code for item in items if item.quantity_per_million > 0]
            sv_reason = f"commits to {len(committed)} of {len(e.sv_weights)} chosen options"
            if committed:
                sv_reason += " (" + ", ".join(committed) + ")"
            if gbp is not None:
                sv_reason += f"; estimated £{gbp:,.0f} at £{query.contract_value:,.0f}"
            comps.append(ComponentScore("social_value", sv_fit, e.w_sv,
                                        shares["social_value"] * sv_fit * 100.0, sv_reason))
        else:
            comps.append(ComponentScore("social_value", 0.0, 0.0, 0.0,
                                        "no social-value options chosen: weight drops out"))
        awards = self.awards[r]
        if w.rotation > 0:
            # only when the member turns fair rotation on: otherwise every breakdown would
            # carry a zero line that explains nothing
            rotation = self.rotation[r]
            plural = "award" if awards == 1 else "awards"
            comps.append(ComponentScore(
                "rotation", rotation, w.rotation, shares["rotation"] * rotation * 100.0,
                f"{awards} {plural} through the service in the last 12 months; "
                f"fewer recent awards score higher: 1/(1+{awards}) = {rotation:.2f}",
            ))
        # flags
        flags: list[str] = []
        radius = self.radius[r]
        if not math.isnan(radius) and km > radius:
            flags.append(f"outside supplier's service radius ({radius:g} km)")
        for j in range(self.acc_from[r], self.acc_to[r]):
            expiry = int(index._doc_acc_expiry[j])
            if expiry != NO_EXPIRY and expiry < self.today:
                name = index._acc_display.get(index._acc_names[index._doc_acc_name[j]], "")
                flags.append(f"accreditation {name} expired on {date.fromordinal(expiry)}")
        external_id = self.external_ids[r]
        return MatchResult(
            supplier_id=self.supplier_ids[r],
            external_id=external_id,
            name=self.names[r],
            rank=query.offset + r + 1,
            score=self.total[r],
            distance_km=km,
            components=tuple(comps),
            matched_terms=tuple(matched_terms),
            flags=tuple(flags),
            social_value_gbp=gbp,
            social_value_items=items,
            tie_break=f"blake2b-64(external_id)={tie_hash(external_id):016x}",
            recent_awards=awards,
        )

    def _social_value_items(
        self, r: int
    ) -> tuple[tuple[SocialValueItem, ...], float | None]:
        options, value = self.index.options, self.query.contract_value
        if not self.e.sv_weights:
            return (), None
        items = []
        total: float | None = 0.0 if value is not None else None
        for code, weight in self.e.sv_weights.items():
            qty = self.sv_qty[code][r]
            option = options.get(code)
            proxy = option.proxy_gbp_per_unit if option else 0.0
            quantity = None if value is None else qty * value / 1e6
            gbp = None if quantity is None or option is None else quantity * proxy
            if gbp is not None and total is not None:
                total += gbp
            items.append(SocialValueItem(
                code=code, title=option.title if option else code,
                unit=option.unit if option else "", weight=weight,
                quantity_per_million=qty, quantity=quantity, proxy_gbp_per_unit=proxy, gbp=gbp,
            ))
        return tuple(items), total


def _cpv_reason(index: Index, doc: int, codes: list[str]) -> str:
    a, z = index._doc_cpv_indptr[doc], index._doc_cpv_indptr[doc + 1]
    supplier_codes = [f"{int(c):08d}" for c in index._doc_cpv[a:z]]
    best = (0.0, 0, "", "")
    for need in codes:
        for code in supplier_codes:
            credit, depth = cpv_credit(need, code)
            if credit > best[0]:
                best = (credit, depth, need, code)
    credit, depth, need, code = best
    if credit == 0:
        return "no CPV code in common" if supplier_codes else "supplier has no CPV codes"
    if credit == 1.0:
        return f"CPV {code} is within {need} (1.0)"
    return f"CPV {code} shares the {LEVEL_NAMES[depth]} of {need} ({credit:g})"
