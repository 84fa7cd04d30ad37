"""Index.build: one pass over any iterable, and the same index however the work is split."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import numpy as np
import pytest

from matcher import Accreditation, Commitment, Index, SupplierRecord, normalise_cpv
from matcher import index as index_module

from .conftest import make_index, make_supplier

TRADES = [
    ("Pitched and flat roofing, slate and tile roofs", ("45261000", "45261210")),
    ("External wall insulation and cavity wall insulation", ("45321000",)),
    ("Air source heat pumps, ASHP installation", ("45331000", "45331100", "09332000")),
    ("Solar PV panels and battery storage", ("09331200",)),
    ("Kitchen and bathroom refurbishment", ("45421151", "45330000", "45000000")),
    ("Gas servicing, boiler replacement", ("50720000", "45331100")),
]

ACCREDITATIONS = (Accreditation("CHAS"), Accreditation("Gas Safe", date(2026, 1, 31)))
COMMITMENTS = (Commitment("APPR", 2.0), Commitment("VOL", 0.0), Commitment("APPR", 1.5))


def varied_suppliers(count: int = 40) -> list[SupplierRecord]:
    """Suppliers using every field the index stores, some sharing CPV prefixes."""
    out = []
    for i in range(count):
        description, cpv = TRADES[i % len(TRADES)]
        out.append(make_supplier(
            external_id=f"V{i:03d}",
            name=f"Firm {i} {description.split()[0]}",
            description=f"{description}; job {i} in district{i % 7} near town{i}",
            keywords=("EWI", f"kw{i % 5}") if i % 3 else (),
            cpv_codes=cpv[: 1 + i % len(cpv)],
            la_code=("E08000012", "E08000011", None)[i % 3],
            lots=frozenset(("Lot 1", "Lot 2", "Lot 3")[: i % 4]),
            sme=bool(i % 2),
            service_radius_km=None if i % 4 else 30.0 + i,
            min_contract_value=None if i % 5 else 10_000.0,
            accreditations=ACCREDITATIONS[: i % 3],
            commitments=COMMITMENTS[: i % 4],  # a zero pledge, and a repeated option
            recent_awards=i % 3,
        ))
    return out


def index_state(index: Index) -> dict[str, Any]:
    """What queries read: arrays, blobs and vocabularies (the caches and analyzer left out).

    Term ids are numbered in tokenisation order, which the chunk size changes, so whatever is
    indexed by term id is keyed by the term instead.
    """
    skip = {"analyzer", "_fuzzy_cache", "_row_by_external_id", "_terms", "_term_id", "_df",
            "_idf", "_post_indptr", "_post_docs", "_post_impact", "_surfaces", "_surface_tid",
            "_phrase_first"}
    state = {name: value for name, value in vars(index).items() if name not in skip}
    terms = index._terms
    postings = {}
    for tid, term in enumerate(terms):
        docs, impacts = index.postings(tid)
        postings[term] = (docs.tolist(), impacts.tolist(), int(index._df[tid]),
                          float(index._idf[tid]), index._surfaces[tid])
    state["postings"] = postings
    state["surface_terms"] = {w: terms[t] if t >= 0 else t for w, t in index._surface_tid.items()}
    state["phrases"] = {
        terms[first]: [(tuple(terms[t] for t in phrase), terms[c]) for phrase, c in found]
        for first, found in index._phrase_first.items()
    }
    return state


def assert_same_index(a: Index, b: Index) -> None:
    """Every array equal in dtype and content, every other attribute equal."""
    state_a, state_b = index_state(a), index_state(b)
    assert state_a.keys() == state_b.keys()
    for name, value in state_a.items():
        other = state_b[name]
        if isinstance(value, np.ndarray):
            assert value.dtype == other.dtype, name
            assert np.array_equal(value, other, equal_nan=value.dtype.kind == "f"), name
        else:
            assert value == other, name


def test_one_shot_iterator_gives_the_same_index_as_a_list() -> None:
    suppliers = varied_suppliers()

    def once() -> Iterator[SupplierRecord]:
        yield from suppliers

    assert_same_index(make_index(once()), make_index(suppliers))


def test_chunk_and_block_sizes_do_not_change_the_index(monkeypatch) -> None:
    suppliers = varied_suppliers()
    expected = make_index(suppliers)
    # chunks and blocks of a few suppliers: many boundaries, a short last one
    monkeypatch.setattr(index_module, "TOKENISE_CHUNK", 3)
    monkeypatch.setattr(index_module, "BUILD_BLOCK", 2)
    assert_same_index(make_index(suppliers), expected)


def test_term_ids_widen_past_uint16_without_changing_the_index(monkeypatch) -> None:
    suppliers = varied_suppliers()
    expected = make_index(suppliers)
    # a vocabulary that outgrows the uint16 limit midway (lowered so the test stays small)
    monkeypatch.setattr(index_module, "TOKENISE_CHUNK", 4)
    monkeypatch.setattr(index_module, "UINT16_TERMS", expected.vocabulary_size // 2)
    widths = []
    append = index_module._TokenStore.append

    def spy(store: Any, *args: Any) -> None:
        append(store, *args)
        widths.append(store._terms.typecode)

    monkeypatch.setattr(index_module._TokenStore, "append", spy)
    assert_same_index(make_index(suppliers), expected)
    assert widths[0] == "H" and widths[-1] == "i"


def test_cpv_prefix_lists_hold_each_supplier_once_in_order(monkeypatch) -> None:
    suppliers = varied_suppliers()
    expected: dict[str, list[int]] = {}
    for doc, supplier in enumerate(suppliers):
        prefixes = set()
        for code in supplier.cpv_codes:
            digits = normalise_cpv(code)
            significant = max(len(digits.rstrip("0")), 2)
            prefixes.update(digits[:length] for length in range(2, significant + 1))
        for prefix in prefixes:
            expected.setdefault(prefix, []).append(doc)
    monkeypatch.setattr(index_module, "BUILD_BLOCK", 3)
    index = make_index(suppliers)
    ip = index._cpv_indptr
    found = {prefix: index._cpv_docs[ip[i] : ip[i + 1]].tolist()
             for prefix, i in index._cpv_prefix.items()}
    assert found == expected
    assert list(index._cpv_prefix) == sorted(expected, key=lambda p: (len(p), p))


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate supplier id"):
        make_index([make_supplier(id=1), make_supplier(id=1, external_id="OTHER")])


def test_page_accessors_read_the_same_as_one_row_at_a_time() -> None:
    suppliers = varied_suppliers()
    suppliers[3] = make_supplier(id=9003, external_id="ÉX-3 ✓", name="Café Ñandú Ltd")
    index = make_index(suppliers)
    docs = np.array([5, 3, 0, len(suppliers) - 1, 3], dtype=np.int32)  # any order, repeats
    assert index.names(docs) == [index.name(int(d)) for d in docs]
    assert index.external_ids(docs) == [index.external_id(int(d)) for d in docs]
    assert index.supplier_ids(docs) == [index.supplier_id(int(d)) for d in docs]
    assert "Café Ñandú Ltd" in index.names(docs)
    assert index.names(np.array([], dtype=np.int32)) == []
