"""The search index: columnar numpy arrays built once, read by every query.

Layout (N suppliers, V terms):

* text: an inverted index in CSR form. ``_post_indptr[t]:_post_indptr[t+1]`` slices
  ``_post_docs`` (int32, ascending) and ``_post_impact`` (float16): the BM25F impact of term
  ``t`` in each supplier, precomputed so a query only gathers and adds.
* CPV: one posting list per code prefix ("45", "453", "4532", ...), so partial credit up the
  hierarchy is a handful of array assignments.
* everything else a filter needs (coordinates, value bands, lots, accreditations,
  commitments, SME/VCSE) as flat arrays or CSR lists; names and external ids as one UTF-8
  blob with offsets, so a million suppliers do not cost a million Python objects.

Capability text model (BM25F, Robertson & Zaragoza 2009): per supplier and term,
``tf~ = tf_description / (1 - b + b·len/avglen) + keyword_weight·tf_keywords +
name_weight·tf_name``; impact ``= idf · tf~·(k1+1) / (k1 + tf~)`` with
``idf = ln(1 + (N - df + 0.5)/(df + 0.5))``. Keywords and name are not length-normalised: a
supplier's curated keyword list should never be penalised for being thorough, and adding a
keyword can then only raise that supplier's score.
"""

from __future__ import annotations

import hashlib
import re
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from .cpv import normalise_cpv
from .distance import unit_vectors
from .models import SocialValueOption, SupplierRecord
from .text import Analyzer, Thesaurus, concept_term, fold

__all__ = ["CapabilityParams", "DEFAULT_CAPABILITY", "Index"]

I32 = npt.NDArray[np.int32]
F64 = npt.NDArray[np.float64]

#: Expiry ordinal stored for accreditations that never expire.
NO_EXPIRY = np.iinfo(np.int32).max
#: Suppliers tokenised together (one regex pass and one list comprehension per field).
TOKENISE_CHUNK = 4_096
#: Separates suppliers' texts inside a tokenised chunk; ``fold`` output never contains it.
_SEP = "\x00"
_CHUNK_TOKEN_RE = re.compile(r"[a-z0-9]+|\x00")
#: Term-id markers while tokenising: a separator, and a surface word not seen before.
_SEP_TID, _NEW_TID = -3, -2


@dataclass(frozen=True, slots=True)
class CapabilityParams:
    """Tuning of the capability component (fixed per index; documented defaults).

    ``k1``/``b``: BM25 saturation and description-length normalisation; ``b`` is above the
    usual 0.75 because long profiles are concatenations of many past jobs, which match many
    needs by volume alone. ``keyword_weight``, ``name_weight``: how much one occurrence in
    the keywords or the name counts against one in the description (a trading name often
    states the trade: "Alba Cabs", "Smith Roofing"; on the benchmark name terms at the weight
    of description terms lift hit@10 from 0.22 to 0.27). ``cpv_share``: share of CPV credit
    in capability when the need has both text and CPV codes. ``fuzzy_*``: typo tolerance
    against the vocabulary.
    """

    k1: float = 1.2
    b: float = 0.9
    keyword_weight: float = 1.0
    name_weight: float = 1.0
    cpv_share: float = 0.3
    fuzzy_min_score: float = 85.0
    fuzzy_limit: int = 3
    fuzzy_min_length: int = 5


DEFAULT_CAPABILITY = CapabilityParams()


class _BlobWriter:
    """Collects strings as one UTF-8 buffer with offsets (no Python object per string)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._ends = array("q")

    def append(self, text: str) -> None:
        self._buf += text.encode("utf-8")
        self._ends.append(len(self._buf))

    def finish(self) -> tuple[bytes, npt.NDArray[np.int64]]:
        offsets = np.zeros(len(self._ends) + 1, dtype=np.int64)
        offsets[1:] = np.asarray(self._ends, dtype=np.int64)
        return bytes(self._buf), offsets


def _csr(keys: npt.NDArray[np.int64], n_keys: int) -> tuple[npt.NDArray[np.int64], I32]:
    """Stable order of ``keys`` as (indptr, order): entries of key k are order[ip[k]:ip[k+1]]."""
    order = np.argsort(keys, kind="stable").astype(np.int32)
    indptr = np.zeros(n_keys + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n_keys), out=indptr[1:])
    return indptr, order


def tie_hash(external_id: str) -> int:
    """64-bit blake2b of the external id: the documented, insertion-independent tie-break."""
    return int.from_bytes(hashlib.blake2b(external_id.encode("utf-8"), digest_size=8).digest())


class Index:
    """An immutable, query-ready view of a supplier register. Build with ``Index.build``."""

    def __init__(self) -> None:  # populated by build(); not a public constructor
        self.size = 0
        self.data_version = ""
        self.params = DEFAULT_CAPABILITY
        self.thesaurus = Thesaurus()
        self.options: dict[str, SocialValueOption] = {}
        self.analyzer = Analyzer()
        self._acc_display: dict[str, str] = {}
        self._row_by_external_id: dict[str, int] | None = None

    # ------------------------------------------------------------------ build
    @classmethod
    def build(
        cls,
        suppliers: Iterable[SupplierRecord],
        *,
        thesaurus: Thesaurus | None = None,
        social_value_options: Iterable[SocialValueOption] = (),
        data_version: str = "",
        params: CapabilityParams = DEFAULT_CAPABILITY,
    ) -> Index:
        """Index ``suppliers`` (any iterable, read once).

        :raise ValueError: on a malformed CPV code or duplicate supplier id.
        """
        self = cls()
        self.data_version = data_version
        self.params = params
        self.thesaurus = thesaurus or Thesaurus()
        self.options = {o.code: o for o in social_value_options}
        an = self.analyzer

        term_id: dict[str, int] = {}
        terms: list[str] = []
        surfaces: list[list[str]] = []
        surface_tid: dict[str, int] = {_SEP: _SEP_TID}

        def term(stem: str) -> int:
            tid = term_id.get(stem)
            if tid is None:
                tid = term_id[stem] = len(terms)
                terms.append(stem)
                surfaces.append([])
            return tid

        # thesaurus phrases as term-id sequences, keyed by their first term
        phrase_first: dict[int, list[tuple[tuple[int, ...], int]]] = {}
        concept_tid: list[int] = []
        for number, group in enumerate(self.thesaurus.groups):
            ctid = term(concept_term(number))
            concept_tid.append(ctid)
            surfaces[ctid].extend(group)
        for stems, number in self.thesaurus.phrase_stems(an):
            tids = tuple(term(s) for s in stems)
            phrase_first.setdefault(tids[0], []).append((tids, concept_tid[number]))
        self._phrase_first = phrase_first

        def register(word: str) -> int:
            stem = an.stem(word)
            tid = -1 if stem is None else term(stem)
            surface_tid[word] = tid
            if tid >= 0:
                surfaces[tid].append(word)
            return tid

        ids = array("q")
        ext = _BlobWriter()
        names = _BlobWriter()
        lat = array("d")
        lon = array("d")
        token_chunks: list[I32] = []
        field_counts: list[npt.NDArray[np.int64]] = []
        la_codes: list[str | None] = []
        lots: list[frozenset[str]] = []
        sme = array("b")
        vcse = array("b")
        service_radius = array("d")
        recent_awards = array("i")
        min_val = array("d")
        max_val = array("d")
        cpv_docs = array("i")
        cpv_codes = array("i")
        cpv_cache: dict[str, int] = {}
        acc_rows: list[tuple[int, str, int]] = []
        sv_rows: list[tuple[int, str, float]] = []
        nan = float("nan")
        buffers: tuple[list[str], list[str], list[str]] = ([], [], [])

        def flush() -> None:
            """Tokenise the buffered suppliers' fields at once (one regex pass per field)."""
            count = len(buffers[0])
            if not count:
                return
            docs, toks, fields = [], [], []
            counts = np.zeros((count, 4), dtype=np.int64)  # desc, kw, name, desc words
            for field, texts in enumerate(buffers):
                t, d, plain = _tokenise_chunk(texts, surface_tid, register, phrase_first)
                toks.append(t)
                docs.append(d)
                fields.append(np.full(len(t), field, dtype=np.int64))
                counts[:, field] = np.bincount(d, minlength=count)
                if field == 0:
                    counts[:, 3] = plain
                texts.clear()
            d_all = np.concatenate(docs)
            order = np.argsort(d_all * 3 + np.concatenate(fields), kind="stable")
            token_chunks.append(np.concatenate(toks)[order])
            field_counts.append(counts)

        for doc, s in enumerate(suppliers):
            ids.append(s.id)
            ext.append(s.external_id)
            names.append(s.name)
            lat.append(float(s.latitude))
            lon.append(float(s.longitude))
            buffers[0].append(s.description)
            buffers[1].append(" | ".join(s.keywords))
            buffers[2].append(s.name)
            if len(buffers[0]) >= TOKENISE_CHUNK:
                flush()
            la_codes.append(s.la_code)
            lots.append(s.lots)
            sme.append(bool(s.sme))
            vcse.append(bool(s.vcse))
            service_radius.append(nan if s.service_radius_km is None else s.service_radius_km)
            recent_awards.append(max(int(s.recent_awards), 0))
            min_val.append(nan if s.min_contract_value is None else s.min_contract_value)
            max_val.append(nan if s.max_contract_value is None else s.max_contract_value)
            for code in s.cpv_codes:
                cpv_docs.append(doc)
                number = cpv_cache.get(code)
                if number is None:
                    number = cpv_cache[code] = int(normalise_cpv(code))
                cpv_codes.append(number)
            for acc in s.accreditations:
                expiry = NO_EXPIRY if acc.expires_on is None else acc.expires_on.toordinal()
                acc_rows.append((doc, acc_key(acc.name), expiry))
                self._acc_display.setdefault(acc_key(acc.name), acc.name)
            for c in s.commitments:
                sv_rows.append((doc, c.option_code, float(c.quantity_per_million)))
        flush()

        n = self.size = len(ids)
        self._ids = np.frombuffer(ids, dtype=np.int64).copy() if n else np.zeros(0, np.int64)
        if len(np.unique(self._ids)) != n:
            raise ValueError("duplicate supplier id")
        self._ext_blob, self._ext_off = ext.finish()
        self._name_blob, self._name_off = names.finish()
        self._lat = np.asarray(lat, dtype=np.float64)
        self._lon = np.asarray(lon, dtype=np.float64)
        self._xyz = unit_vectors(self._lat, self._lon)
        self._sme = np.frombuffer(sme, dtype=np.int8).astype(bool)
        self._vcse = np.frombuffer(vcse, dtype=np.int8).astype(bool)
        self._service_radius = np.frombuffer(service_radius, dtype=np.float64).copy()
        self._recent_awards = np.frombuffer(recent_awards, dtype=np.int32).copy()
        self._min_val = np.frombuffer(min_val, dtype=np.float64).copy()
        self._max_val = np.frombuffer(max_val, dtype=np.float64).copy()

        hashes = np.fromiter((tie_hash(self.external_id(d)) for d in range(n)),
                             dtype=np.uint64, count=n)
        order = np.lexsort((self._ids, hashes))
        self._tie_rank = np.empty(n, dtype=np.int32)
        self._tie_rank[order] = np.arange(n, dtype=np.int32)

        la_vocab = sorted({c for c in la_codes if c})
        self._la_id = {c: i for i, c in enumerate(la_vocab)}
        self._la = np.fromiter(
            (self._la_id[c] if c else -1 for c in la_codes), dtype=np.int32, count=n
        )
        self._build_lots(lots)
        self._build_cpv(np.asarray(cpv_docs, dtype=np.int32),
                        np.asarray(cpv_codes, dtype=np.int64))
        self._build_accreditations(acc_rows)
        self._build_commitments(sv_rows)

        self._terms = terms
        self._term_id = term_id
        # sorted, so that explanations do not depend on which supplier was indexed first
        self._surfaces = [tuple(s) if t.startswith("~") else tuple(sorted(s))
                          for t, s in zip(terms, surfaces, strict=True)]
        self._surface_tid = surface_tid
        counts = np.concatenate(field_counts) if field_counts else np.zeros((0, 4), np.int64)
        self._build_postings(token_chunks, counts[:, 0], counts[:, 1], counts[:, 2],
                             counts[:, 3])
        token_chunks.clear()
        self._build_fuzzy_buckets()
        self._fuzzy_cache: dict[str, tuple[tuple[int, float, str], ...]] = {}
        return self

    def _build_lots(self, lots: list[frozenset[str]]) -> None:
        vocab = sorted({lot for group in lots for lot in group})
        self._lot_id = {lot: i for i, lot in enumerate(vocab)}
        docs = [d for d, group in enumerate(lots) for _ in group]
        keys = [self._lot_id[lot] for group in lots for lot in sorted(group)]
        self._has_lots = np.fromiter((bool(g) for g in lots), dtype=bool, count=len(lots))
        indptr, order = _csr(np.asarray(keys, dtype=np.int64), len(vocab))
        self._lot_indptr = indptr
        self._lot_docs = np.asarray(docs, dtype=np.int32)[order]

    def _build_cpv(self, docs: I32, codes: npt.NDArray[np.int64]) -> None:
        # every (supplier, significant prefix) pair, vectorised: prefix key = length·10^8 +
        # the prefix's digits, so "45" (division) and "450" (a group) stay distinct
        trailing = np.zeros(len(codes), dtype=np.int64)
        for zeros in range(1, 7):
            trailing[codes % 10**zeros == 0] = zeros
        sig_len = 8 - trailing
        # one prefix length at a time (keys of different lengths never collide, and in
        # ascending length order they come out sorted): bounded temporaries at 1M suppliers
        doc_parts, key_parts = [], []
        for length in range(2, 9):
            on = sig_len >= length
            pairs = np.sort(((length * 10**8 + codes[on] // 10 ** (8 - length)) << 32)
                            | docs[on].astype(np.int64))
            if len(pairs):
                pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]
            doc_parts.append((pairs & 0xFFFFFFFF).astype(np.int32))
            key_parts.append(pairs >> 32)
        prefix = np.concatenate(key_parts)
        starts = np.flatnonzero(np.concatenate(([True], prefix[1:] != prefix[:-1])))
        keys = prefix[starts] if len(prefix) else np.zeros(0, np.int64)
        self._cpv_prefix = {
            f"{int(k) % 10**8:0{int(k) // 10**8}d}": i for i, k in enumerate(keys)
        }
        self._cpv_indptr = np.append(starts, len(prefix)).astype(np.int64)
        self._cpv_docs = np.concatenate(doc_parts)  # sorted by prefix, then doc
        del prefix, key_parts
        # per supplier codes, for explanations
        indptr, order = _csr(docs.astype(np.int64), self.size)
        self._doc_cpv_indptr = indptr
        self._doc_cpv = codes.astype(np.int32)[order]
        self._has_cpv = np.diff(indptr) > 0

    def _build_accreditations(self, rows: list[tuple[int, str, int]]) -> None:
        vocab = sorted({name for _, name, _ in rows})
        self._acc_id = {name: i for i, name in enumerate(vocab)}
        self._acc_names = vocab
        keys = np.asarray([self._acc_id[name] for _, name, _ in rows], dtype=np.int64)
        docs = np.asarray([d for d, _, _ in rows], dtype=np.int32)
        expiry = np.asarray([e for _, _, e in rows], dtype=np.int32)
        indptr, order = _csr(keys, len(vocab))
        self._acc_indptr, self._acc_docs, self._acc_expiry = indptr, docs[order], expiry[order]
        indptr, order = _csr(docs.astype(np.int64), self.size)
        self._doc_acc_indptr = indptr
        self._doc_acc_name = keys.astype(np.int32)[order]
        self._doc_acc_expiry = expiry[order]

    def _build_commitments(self, rows: list[tuple[int, str, float]]) -> None:
        vocab = sorted({code for _, code, _ in rows})
        self._sv_id = {code: i for i, code in enumerate(vocab)}
        summed: dict[tuple[int, str], float] = {}
        for doc, code, quantity in rows:
            if quantity > 0:  # a zero pledge is no commitment; repeats of one option add up
                summed[(doc, code)] = summed.get((doc, code), 0.0) + quantity
        keys = np.asarray([self._sv_id[c] for _, c in summed], dtype=np.int64)
        docs = np.asarray([d for d, _ in summed], dtype=np.int32)
        qty = np.asarray(list(summed.values()), dtype=np.float64)
        indptr, order = _csr(keys, len(vocab))
        self._sv_indptr, self._sv_docs, self._sv_qty = indptr, docs[order], qty[order]

    def _build_postings(self, token_chunks: list[I32], n_desc: npt.NDArray[np.int64],
                        n_kw: npt.NDArray[np.int64], n_name: npt.NDArray[np.int64],
                        len_desc: npt.NDArray[np.int64]) -> None:
        p = self.params
        n, v = self.size, len(self._terms)
        per_doc = (n_desc + n_kw + n_name).astype(np.int64)
        avg_len = float(len_desc.sum()) / n if n else 0.0
        if avg_len <= 0:
            avg_len = 1.0
        desc_norm = (1.0 - p.b) + p.b * (len_desc / avg_len)  # float64, per supplier

        # token chunk i holds the terms of suppliers bounds[i]:bounds[i+1], supplier by
        # supplier, each supplier's description, keywords, then name
        bounds = [0]
        for chunk_docs in (TOKENISE_CHUNK,) * (n // TOKENISE_CHUNK) + (n % TOKENISE_CHUNK,):
            if chunk_docs:
                bounds.append(bounds[-1] + chunk_docs)

        def chunk_pairs(i: int) -> tuple[I32, I32, F64]:
            """Unique (term, doc) pairs of token chunk ``i`` with their BM25F tf~."""
            a, z = bounds[i], bounds[i + 1]
            t = token_chunks[i].astype(np.int64)
            docs = np.repeat(np.arange(a, z, dtype=np.int64), per_doc[a:z])
            start = np.zeros(z - a, dtype=np.int64)
            np.cumsum(per_doc[a : z - 1], out=start[1:])
            pos = np.arange(len(t), dtype=np.int64) - np.repeat(start, per_doc[a:z])
            nd = np.repeat(n_desc[a:z], per_doc[a:z])
            nk = np.repeat(n_kw[a:z], per_doc[a:z])
            weight = np.where(
                pos < nd,
                1.0 / desc_norm[docs],
                np.where(pos < nd + nk, p.keyword_weight, p.name_weight),
            )
            key = (docs << 32) | t
            uniq, inverse = np.unique(key, return_inverse=True)
            tf = np.bincount(inverse.ravel(), weights=weight, minlength=len(uniq))
            return (uniq & 0xFFFFFFFF).astype(np.int32), (uniq >> 32).astype(np.int32), tf

        df = np.zeros(v, dtype=np.int64)
        for i in range(len(bounds) - 1):
            t, _, _ = chunk_pairs(i)
            df += np.bincount(t, minlength=v)
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        indptr = np.zeros(v + 1, dtype=np.int64)
        np.cumsum(df, out=indptr[1:])
        post_docs = np.empty(int(indptr[-1]), dtype=np.int32)
        # float16 impacts: 3 significant digits are plenty to rank by, and a million suppliers'
        # postings fit in half the memory
        post_impact = np.empty(int(indptr[-1]), dtype=np.float16)
        write = indptr[:-1].copy()
        k1 = p.k1
        for i in range(len(bounds) - 1):
            t, d, tf = chunk_pairs(i)
            order = np.argsort(t, kind="stable")
            t, d, tf = t[order], d[order], tf[order]
            counts = np.bincount(t, minlength=v)
            run_start = np.cumsum(counts) - counts
            pos = write[t] + (np.arange(len(t)) - run_start[t])
            post_docs[pos] = d
            post_impact[pos] = idf[t] * (tf * (k1 + 1.0) / (k1 + tf))
            write += counts
        self._df = df
        self._idf = idf
        self._post_indptr = indptr
        self._post_docs = post_docs
        self._post_impact = post_impact
        self._avg_len = avg_len

    def _build_fuzzy_buckets(self) -> None:
        buckets: dict[tuple[str, int], list[str]] = {}
        for word, tid in self._surface_tid.items():
            if tid >= 0 and self._df[tid] > 0 and len(word) >= 3 and not word.isdigit():
                buckets.setdefault((word[0], len(word)), []).append(word)
        self._fuzzy_buckets = {k: sorted(v) for k, v in buckets.items()}

    # ------------------------------------------------------------------ accessors
    def name(self, doc: int) -> str:
        """Supplier name of internal row ``doc``."""
        return self._name_blob[self._name_off[doc] : self._name_off[doc + 1]].decode("utf-8")

    def external_id(self, doc: int) -> str:
        """External id of internal row ``doc``."""
        return self._ext_blob[self._ext_off[doc] : self._ext_off[doc + 1]].decode("utf-8")

    def row_of(self, external_id: str) -> int | None:
        """Internal row of the supplier with ``external_id`` (a dict built on first use)."""
        if self._row_by_external_id is None:
            self._row_by_external_id = {self.external_id(d): d for d in range(self.size)}
        return self._row_by_external_id.get(external_id)

    def supplier_id(self, doc: int) -> int:
        """Supplier id of internal row ``doc``."""
        return int(self._ids[doc])

    @property
    def vocabulary_size(self) -> int:
        """Number of distinct indexed terms (stems and thesaurus concepts)."""
        return len(self._terms)

    def nbytes(self) -> int:
        """Approximate bytes held in numpy arrays and blobs (not Python dict overhead)."""
        total = len(self._ext_blob) + len(self._name_blob)
        for value in vars(self).values():
            if isinstance(value, np.ndarray):
                total += value.nbytes
        return total

    def postings(self, tid: int) -> tuple[I32, npt.NDArray[np.float16]]:
        """(docs, impacts) of term ``tid``."""
        a, z = self._post_indptr[tid], self._post_indptr[tid + 1]
        return self._post_docs[a:z], self._post_impact[a:z]

    def has_term(self, tid: int, docs: I32) -> npt.NDArray[np.bool_]:
        """Which of ``docs`` contain term ``tid`` (binary search in its posting list)."""
        plist, _ = self.postings(tid)
        if not len(plist):
            return np.zeros(len(docs), dtype=bool)
        where = np.minimum(np.searchsorted(plist, docs), len(plist) - 1)
        return np.asarray(plist[where] == docs)


def acc_key(name: str) -> str:
    """Accreditation names compare case- and space-insensitively ("ISO 9001" == "iso9001")."""
    return "".join(fold(name).split())


def _tokenise_chunk(
    texts: list[str],
    surface_tid: dict[str, int],
    register: Callable[[str], int],
    phrase_first: dict[int, list[tuple[tuple[int, ...], int]]],
) -> tuple[I32, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Term ids of ``texts`` (stop words dropped, thesaurus concepts appended), the text
    number of each, and each text's count of words (concepts excluded)."""
    big = fold(_SEP.join(t.replace(_SEP, " ") for t in texts))
    words = _CHUNK_TOKEN_RE.findall(big)
    lookup = surface_tid.get
    tids = [lookup(w, _NEW_TID) for w in words]
    if _NEW_TID in tids:
        tids = [t if t != _NEW_TID else (lookup(w, _NEW_TID) if w in surface_tid
                                         else register(w))
                for t, w in zip(tids, words, strict=True)]
    a = np.asarray(tids, dtype=np.int32)
    seq = a[a != -1]  # meaningful terms and separators, in order
    doc = np.cumsum(seq == _SEP_TID)
    keep = seq >= 0
    out_t, out_d = [seq[keep]], [doc[keep]]
    plain = np.bincount(out_d[0], minlength=len(texts))
    for first, phrases in phrase_first.items():
        starts = np.flatnonzero(seq == first)
        if not len(starts):
            continue
        for phrase, concept in phrases:
            ok = starts[starts + len(phrase) <= len(seq)]
            for j in range(1, len(phrase)):
                ok = ok[seq[ok + j] == phrase[j]]
            if len(ok):
                out_t.append(np.full(len(ok), concept, dtype=np.int32))
                out_d.append(doc[ok])
    return np.concatenate(out_t), np.concatenate(out_d), plain


def find_concepts(
    tids: list[int], phrase_first: dict[int, list[tuple[tuple[int, ...], int]]]
) -> list[int]:
    """Concept term ids for every thesaurus phrase occurring in ``tids`` (once per occurrence)."""
    found = []
    for i, tid in enumerate(tids):
        for phrase, concept in phrase_first.get(tid, ()):
            if tuple(tids[i : i + len(phrase)]) == phrase:
                found.append(concept)
    return found


def today() -> date:
    """Today's date (a seam for tests)."""
    return date.today()
