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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

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
#: Suppliers tokenised together (one regex pass and one list comprehension per field), and
#: whose postings are then computed together.
TOKENISE_CHUNK = 4_096
#: Suppliers per block where the build works block by block (coordinates to unit vectors,
#: CPV prefixes): temporaries of a few MB at any register size.
BUILD_BLOCK = 16_384
#: Vocabulary size up to which the build holds term ids as uint16 (ids 0..65535).
UINT16_TERMS = 1 << 16
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
        """The blob and its offsets; the writer's own buffers are released."""
        offsets = np.zeros(len(self._ends) + 1, dtype=np.int64)
        offsets[1:] = _drain(self._ends, np.int64)
        blob = bytes(self._buf)
        self._buf = bytearray()
        return blob, offsets


class _KeyedRows:
    """Rows ``(supplier, key, value)`` collected supplier by supplier as typed arrays.

    Keys (lot names, accreditations, ...) are numbered in order of first appearance while
    the suppliers stream past and renumbered in sorted order by ``finish``, so that no
    Python object is kept per row.
    """

    def __init__(self, value_type: str = "b") -> None:
        self._number: dict[str, int] = {}
        self._docs = array("i")
        self._keys = array("i")
        self._values: array[Any] = array(value_type)

    def key(self, key: str) -> int:
        """The number of ``key``; a new key joins the vocabulary even without a row."""
        return self._number.setdefault(key, len(self._number))

    def add(self, doc: int, key: str, value: float = 0) -> None:
        """One row (``value`` 0 for rows that carry none)."""
        self._docs.append(doc)
        self._keys.append(self.key(key))
        self._values.append(value)

    def finish(
        self, value_dtype: npt.DTypeLike = np.int8
    ) -> tuple[list[str], I32, npt.NDArray[np.int64], npt.NDArray[Any]]:
        """(sorted vocabulary, each row's supplier, its key's position in the vocabulary,
        its value), rows in the order added; the collector is emptied."""
        vocab = sorted(self._number)
        position = {key: i for i, key in enumerate(vocab)}
        renumber = np.fromiter((position[k] for k in self._number), dtype=np.int64,
                               count=len(vocab))
        keys = renumber[_drain(self._keys, np.int64)]
        return vocab, _drain(self._docs, np.int32), keys, _drain(self._values, value_dtype)


class _TokenStore:
    """Every supplier's analysed text, from the streaming pass to the posting lists.

    Two growing buffers and nothing per supplier or per chunk: the term ids are the build's
    largest temporary, and one buffer is released whole (many small arrays would leave the
    heap fragmented, its memory kept by the process after they are freed).
    """

    def __init__(self) -> None:
        #: Term ids, supplier by supplier: its description's terms, then its keywords', then
        #: its name's; uint16 while the vocabulary fits (half the memory of int32), then int32.
        self._terms = array("H")
        #: Per supplier: description, keyword and name term counts, description words.
        self._counts = array("i")

    def append(self, terms: I32, counts: I32, vocabulary_size: int) -> None:
        """Add the next suppliers' ``terms`` and their (k, 4) ``counts``."""
        if vocabulary_size > UINT16_TERMS and self._terms.typecode == "H":
            wide = np.frombuffer(self._terms, dtype=np.uint16).astype(np.int32)
            self._terms = array("i", wide.tobytes())
        self._terms.frombytes(terms.astype(self._terms.typecode).tobytes())
        self._counts.frombytes(counts.astype(np.int32).tobytes())

    def description_words(self) -> int:
        """Words in all suppliers' descriptions (stop words excluded, concepts too)."""
        return int(np.frombuffer(self._counts, dtype=np.int32)[3::4].sum())

    def chunks(self) -> Iterator[tuple[int, I32, npt.NDArray[np.integer[Any]]]]:
        """(first supplier, counts, term ids) of every ``TOKENISE_CHUNK`` suppliers in turn."""
        terms = np.frombuffer(self._terms, dtype=self._terms.typecode)
        counts = np.frombuffer(self._counts, dtype=np.int32).reshape(-1, 4)
        start = 0
        for first in range(0, len(counts), TOKENISE_CHUNK):
            chunk = counts[first : first + TOKENISE_CHUNK]
            end = start + int(chunk[:, :3].sum())
            yield first, chunk, terms[start:end]
            start = end

    def clear(self) -> None:
        """Release both buffers."""
        self._terms, self._counts = array("H"), array("i")


def _drain(values: array[Any], dtype: npt.DTypeLike) -> npt.NDArray[Any]:
    """A numpy copy of ``values``, which is then emptied: the build converts its columns one
    at a time instead of holding both forms of every column."""
    out = np.array(values, dtype=dtype)
    del values[:]
    return out


def _doc_indptr(docs: I32, n: int) -> npt.NDArray[np.int64]:
    """CSR offsets of rows collected supplier by supplier (``docs`` ascending): supplier
    ``d``'s rows are ``indptr[d]:indptr[d+1]``, in the order they were collected."""
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(docs, minlength=n), out=indptr[1:])
    return indptr


def _scatter(write: npt.NDArray[np.int64], keys: npt.NDArray[np.integer[Any]]
             ) -> npt.NDArray[np.int64]:
    """Where a block of CSR entries sorted by ``keys`` goes: each key's entries after those
    already written (from ``write[key]``, which is advanced past them)."""
    counts = np.bincount(keys, minlength=len(write))
    run_start = np.cumsum(counts) - counts
    pos: npt.NDArray[np.int64] = write[keys] + (np.arange(len(keys)) - run_start[keys])
    write += counts
    return pos


def _csr(keys: npt.NDArray[np.int64], n_keys: int) -> tuple[npt.NDArray[np.int64], I32]:
    """Stable order of ``keys`` as (indptr, order): entries of key k are order[ip[k]:ip[k+1]]."""
    order = np.argsort(keys, kind="stable").astype(np.int32)
    indptr = np.zeros(n_keys + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n_keys), out=indptr[1:])
    return indptr, order


def _slices(blob: bytes, offsets: npt.NDArray[np.int64], docs: I32) -> list[str]:
    """The UTF-8 strings ``blob[offsets[d]:offsets[d + 1]]`` for each of ``docs``."""
    starts: list[int] = offsets[docs].tolist()
    ends: list[int] = offsets[docs + 1].tolist()
    return [blob[a:z].decode("utf-8") for a, z in zip(starts, ends, strict=True)]


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
        self._mapped: Any = None  # the file the arrays live in, when loaded by matcher.store
        # Seconds the build took, set by whoever built it (saved with the index): what
        # the next build will roughly cost.
        self.build_seconds = 0.0

    def __getstate__(self) -> dict[str, Any]:
        """What ``matcher.store`` saves: everything built, not the caches filled by queries."""
        state = dict(self.__dict__)
        state.update(_mapped=None, _row_by_external_id=None, _fuzzy_cache={})
        return state

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

        One streaming pass: each supplier is reduced at once to typed arrays (no record or
        other Python object is kept per supplier), its text, tokenised with up to
        ``TOKENISE_CHUNK`` others, to term ids in one compact buffer. Then the arrays become
        the index's one at a time, each freed as soon as it is copied, and the text and CPV
        posting lists are counted first, then written into arrays of their exact size, a
        chunk or block of suppliers at a time. So the build's peak memory stays close to the
        finished index's (``tests/benchmarks/README.md`` has the numbers at 1M suppliers).

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
        hashes = array("Q")
        ext = _BlobWriter()
        names = _BlobWriter()
        lat = array("d")
        lon = array("d")
        analysed = _TokenStore()
        la_rows = _KeyedRows()
        lot_rows = _KeyedRows()
        sme = array("b")
        vcse = array("b")
        service_radius = array("d")
        recent_awards = array("i")
        min_val = array("d")
        max_val = array("d")
        cpv_docs = array("i")
        cpv_codes = array("i")
        cpv_cache: dict[str, int] = {}
        acc_rows = _KeyedRows("i")  # value: expiry ordinal
        sv_rows = _KeyedRows("d")  # value: quantity per £1m
        nan = float("nan")
        buffers: tuple[list[str], list[str], list[str]] = ([], [], [])

        def flush() -> None:
            """Tokenise the buffered suppliers' fields at once (one regex pass per field)."""
            count = len(buffers[0])
            if not count:
                return
            docs, toks, fields = [], [], []
            counts = np.zeros((count, 4), dtype=np.int32)  # desc, kw, name, desc words
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
            analysed.append(np.concatenate(toks)[order], counts, len(terms))

        for doc, s in enumerate(suppliers):
            ids.append(s.id)
            hashes.append(tie_hash(s.external_id))
            ext.append(s.external_id)
            names.append(s.name)
            lat.append(float(s.latitude))
            lon.append(float(s.longitude))
            buffers[0].append(s.description)
            buffers[1].append(" | ".join(s.keywords))
            buffers[2].append(s.name)
            if len(buffers[0]) >= TOKENISE_CHUNK:
                flush()
            if s.la_code:
                la_rows.add(doc, s.la_code)
            for lot in s.lots:
                lot_rows.add(doc, lot)
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
                key = acc_key(acc.name)
                acc_rows.add(doc, key, NO_EXPIRY if acc.expires_on is None
                             else acc.expires_on.toordinal())
                self._acc_display.setdefault(key, acc.name)
            if s.commitments:
                pledged: dict[str, float] = {}
                for c in s.commitments:
                    sv_rows.key(c.option_code)  # in the vocabulary even if only pledged 0
                    quantity = float(c.quantity_per_million)
                    if quantity > 0:  # a zero pledge is no commitment; repeats add up
                        pledged[c.option_code] = pledged.get(c.option_code, 0.0) + quantity
                for code, quantity in pledged.items():
                    sv_rows.add(doc, code, quantity)
        flush()

        # each column converted and its collector freed in turn; then the text postings,
        # after which the term ids (the largest temporary) go, before the CPV lists
        n = self.size = len(ids)
        self._ids = _drain(ids, np.int64)
        if len(np.unique(self._ids)) != n:
            raise ValueError("duplicate supplier id")
        self._ext_blob, self._ext_off = ext.finish()
        self._name_blob, self._name_off = names.finish()
        self._lat = _drain(lat, np.float64)
        self._lon = _drain(lon, np.float64)
        self._xyz = np.empty((3, n), dtype=np.float32)
        for a in range(0, n, BUILD_BLOCK):
            z = a + BUILD_BLOCK
            self._xyz[:, a:z] = unit_vectors(self._lat[a:z], self._lon[a:z])
        self._sme = _drain(sme, np.bool_)
        self._vcse = _drain(vcse, np.bool_)
        self._service_radius = _drain(service_radius, np.float64)
        self._recent_awards = _drain(recent_awards, np.int32)
        self._min_val = _drain(min_val, np.float64)
        self._max_val = _drain(max_val, np.float64)

        order = np.lexsort((self._ids, _drain(hashes, np.uint64)))
        self._tie_rank = np.empty(n, dtype=np.int32)
        self._tie_rank[order] = np.arange(n, dtype=np.int32)
        del order

        la_vocab, la_docs, la_keys, _ = la_rows.finish()
        self._la_id = {c: i for i, c in enumerate(la_vocab)}
        self._la = np.full(n, -1, dtype=np.int32)
        self._la[la_docs] = la_keys

        self._terms = terms
        self._term_id = term_id
        self._build_postings(analysed)
        analysed.clear()
        self._build_cpv(_drain(cpv_docs, np.int32), _drain(cpv_codes, np.int32),
                        cpv_cache.values())
        self._build_lots(lot_rows)
        self._build_accreditations(acc_rows)
        self._build_commitments(sv_rows)

        # sorted, so that explanations do not depend on which supplier was indexed first
        self._surfaces = [tuple(s) if t.startswith("~") else tuple(sorted(s))
                          for t, s in zip(terms, surfaces, strict=True)]
        self._surface_tid = surface_tid
        self._build_fuzzy_buckets()
        self._fuzzy_cache: dict[str, tuple[tuple[int, float, str], ...]] = {}
        return self

    def _build_lots(self, rows: _KeyedRows) -> None:
        vocab, docs, keys, _ = rows.finish()
        self._lot_id = {lot: i for i, lot in enumerate(vocab)}
        self._has_lots = np.bincount(docs, minlength=self.size) > 0
        indptr, order = _csr(keys, len(vocab))
        self._lot_indptr = indptr
        self._lot_docs = docs[order]

    def _build_cpv(self, docs: I32, codes: I32, distinct: Iterable[int]) -> None:
        """Posting lists per significant CPV prefix, and each supplier's own codes.

        ``docs``/``codes``: one row per (supplier, code), suppliers ascending, each one's
        codes in its own order; ``distinct``: the codes that occur (repeats allowed).
        """
        n = self.size
        # per supplier codes, for explanations: the rows are already in supplier order
        self._doc_cpv_indptr = row_at = _doc_indptr(docs, n)
        self._doc_cpv = codes
        self._has_cpv = np.diff(row_at) > 0

        # the distinct codes' significant prefixes, numbered in key order: key = length·10^8 +
        # the prefix's digits, so "45" (a division) and "450" (a group) stay distinct.
        # prefix_of[length - 2, i]: the number of code i's prefix of that length, or -1
        known = np.unique(np.fromiter(distinct, dtype=np.int64))
        trailing = np.zeros(len(known), dtype=np.int64)
        for zeros in range(1, 7):
            trailing[known % 10**zeros == 0] = zeros
        lengths = np.arange(2, 9, dtype=np.int64)[:, None]
        keys = lengths * 10**8 + known // 10 ** (8 - lengths)
        significant = lengths <= 8 - trailing
        prefix_keys = np.unique(keys[significant])
        prefix_of = np.where(significant, np.searchsorted(prefix_keys, keys), -1).astype(np.int32)
        self._cpv_prefix = {
            f"{int(k) % 10**8:0{int(k) // 10**8}d}": i for i, k in enumerate(prefix_keys)
        }
        # numpy sorts 16-bit keys by radix, in linear time
        group_dtype = np.uint16 if len(prefix_keys) <= 1 << 16 else np.int32

        def block_pairs(a: int, z: int) -> tuple[I32, I32]:
            """(prefix number, supplier) for suppliers a:z and each of their significant
            prefixes, once each (two codes often share a prefix), grouped by prefix with
            suppliers ascending in each group."""
            span = slice(row_at[a], row_at[z])
            rows = (docs[span].astype(np.int64) << 32) | codes[span]
            rows.sort()  # each supplier's codes ascending: a shared prefix repeats in a row
            suppliers = (rows >> 32).astype(np.int32)
            prefixes = prefix_of[:, np.searchsorted(known, rows & 0xFFFFFFFF)]
            keep = prefixes >= 0
            keep[:, 1:] &= (prefixes[:, 1:] != prefixes[:, :-1]) | (
                suppliers[1:] != suppliers[:-1]
            )
            found = prefixes[keep]
            order = np.argsort(found.astype(group_dtype), kind="stable")
            return found[order], np.broadcast_to(suppliers, prefixes.shape)[keep][order]

        # two passes over blocks of suppliers (bounded temporaries at 1M suppliers): the
        # size of each list, then the lists written in place
        blocks = [(a, min(a + BUILD_BLOCK, n)) for a in range(0, n, BUILD_BLOCK)]
        sizes = np.zeros(len(prefix_keys), dtype=np.int64)
        for a, z in blocks:
            sizes += np.bincount(block_pairs(a, z)[0], minlength=len(prefix_keys))
        self._cpv_indptr = np.zeros(len(prefix_keys) + 1, dtype=np.int64)
        np.cumsum(sizes, out=self._cpv_indptr[1:])
        self._cpv_docs = np.empty(int(self._cpv_indptr[-1]), dtype=np.int32)
        write = self._cpv_indptr[:-1].copy()
        for a, z in blocks:
            found, suppliers = block_pairs(a, z)
            self._cpv_docs[_scatter(write, found)] = suppliers

    def _build_accreditations(self, rows: _KeyedRows) -> None:
        vocab, docs, keys, expiry = rows.finish(np.int32)
        self._acc_id = {name: i for i, name in enumerate(vocab)}
        self._acc_names = vocab
        indptr, order = _csr(keys, len(vocab))
        self._acc_indptr, self._acc_docs, self._acc_expiry = indptr, docs[order], expiry[order]
        # per supplier, for explanations: the rows are already in supplier order
        self._doc_acc_indptr = _doc_indptr(docs, self.size)
        self._doc_acc_name = keys.astype(np.int32)
        self._doc_acc_expiry = expiry

    def _build_commitments(self, rows: _KeyedRows) -> None:
        vocab, docs, keys, qty = rows.finish(np.float64)
        self._sv_id = {code: i for i, code in enumerate(vocab)}
        indptr, order = _csr(keys, len(vocab))
        self._sv_indptr, self._sv_docs, self._sv_qty = indptr, docs[order], qty[order]

    def _build_postings(self, texts: _TokenStore) -> None:
        """BM25F posting lists in two passes over the suppliers' analysed texts: document
        frequencies first, then each chunk's postings written into preallocated arrays."""
        p = self.params
        n, v = self.size, len(self._terms)
        avg_len = float(texts.description_words()) / n if n else 0.0
        if avg_len <= 0:
            avg_len = 1.0

        def chunk_pairs(first: int, counts: I32, terms: npt.NDArray[np.integer[Any]]
                        ) -> tuple[I32, I32, F64]:
            """Unique (term, doc) pairs of a chunk (suppliers numbered from ``first``) with
            their BM25F tf~."""
            n_desc, n_kw, n_name, len_desc = counts.astype(np.int64).T
            per_doc = n_desc + n_kw + n_name
            size = len(per_doc)
            t = terms.astype(np.int64)
            local = np.repeat(np.arange(size, dtype=np.int64), per_doc)
            start = np.zeros(size, dtype=np.int64)
            np.cumsum(per_doc[:-1], out=start[1:])
            pos = np.arange(len(t), dtype=np.int64) - np.repeat(start, per_doc)
            nd = np.repeat(n_desc, per_doc)
            nk = np.repeat(n_kw, per_doc)
            desc_norm = (1.0 - p.b) + p.b * (len_desc / avg_len)
            weight = np.where(
                pos < nd,
                1.0 / desc_norm[local],
                np.where(pos < nd + nk, p.keyword_weight, p.name_weight),
            )
            key = ((local + first) << 32) | t
            uniq, inverse = np.unique(key, return_inverse=True)
            tf = np.bincount(inverse.ravel(), weights=weight, minlength=len(uniq))
            return (uniq & 0xFFFFFFFF).astype(np.int32), (uniq >> 32).astype(np.int32), tf

        df = np.zeros(v, dtype=np.int64)
        for chunk in texts.chunks():
            t, _, _ = chunk_pairs(*chunk)
            df += np.bincount(t, minlength=v)
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        indptr = np.zeros(v + 1, dtype=np.int64)
        np.cumsum(df, out=indptr[1:])
        post_docs = np.empty(int(indptr[-1]), dtype=np.int32)
        # float16 impacts: 3 significant digits are plenty to rank by, and a million suppliers'
        # postings fit in half the memory
        post_impact = np.empty(int(indptr[-1]), dtype=np.float16)
        # chunks in supplier order, so every posting list comes out sorted by supplier
        write = indptr[:-1].copy()
        k1 = p.k1
        for chunk in texts.chunks():
            t, d, tf = chunk_pairs(*chunk)
            order = np.argsort(t, kind="stable")
            t, d, tf = t[order], d[order], tf[order]
            pos = _scatter(write, t)
            post_docs[pos] = d
            post_impact[pos] = idf[t] * (tf * (k1 + 1.0) / (k1 + tf))
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

    def names(self, docs: I32) -> list[str]:
        """Supplier names of internal rows ``docs`` (a page of results), in order."""
        return _slices(self._name_blob, self._name_off, docs)

    def external_ids(self, docs: I32) -> list[str]:
        """External ids of internal rows ``docs``, in order."""
        return _slices(self._ext_blob, self._ext_off, docs)

    def supplier_ids(self, docs: I32) -> list[int]:
        """Supplier ids of internal rows ``docs``, in order."""
        ids: list[int] = self._ids[docs].tolist()
        return ids

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
