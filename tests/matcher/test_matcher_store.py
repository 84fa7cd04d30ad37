"""matcher.store: an index saved to a file and mapped back ranks exactly as it was built."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from matcher import Query, SocialValueChoice, Weights, search
from matcher.models import Accreditation, Commitment
from matcher.store import IndexFileError, load_index, save_index
from tests.matcher.conftest import TODAY, make_index, make_query, make_supplier, north_of

FINGERPRINT = "code-v1"


@pytest.fixture
def built(filler: list[Any]):  # type: ignore[no-untyped-def]
    """An index with every kind of data a search reads."""
    suppliers = [
        make_supplier(name="Wall Warmers", description="External wall insulation, EWI",
                      cpv_codes=("45321000",), lots=frozenset({"L1"}), sme=True,
                      accreditations=(Accreditation("PAS 2030", date(2030, 1, 1)),),
                      commitments=(Commitment("APPR", 4.0), Commitment("LOCAL", 2000.0))),
        make_supplier(name="Sunny Roofs", description="Solar photovoltaic panels on roofs",
                      keywords=("solar pv",), vcse=True, service_radius_km=20.0,
                      accreditations=(Accreditation("MCS", date(2020, 1, 1)),),
                      recent_awards=2),
        make_supplier(name="Far Fixers", description="Roofing and insulation",
                      min_contract_value=1e6, la_code="E08000012",
                      **dict(zip(("latitude", "longitude"), north_of(150.0), strict=True))),
        *filler,
    ]
    index = make_index(suppliers)
    index.build_seconds = 1.25
    return index


QUERIES = [
    make_query("external wall insulaton"),  # a typo
    make_query("ewi", social_value=(SocialValueChoice("APPR", 2), SocialValueChoice("LOCAL", 1)),
               contract_value=500_000),
    make_query("solar pv roofing", radius_km=50),
    make_query("", cpv_codes=("45320000",)),
    make_query("insulation", lots=frozenset({"L1"}), required_accreditations=("PAS 2030",)),
    make_query("roof", weights=Weights(1, 0, 0, rotation=1), sme_only=False, limit=3, offset=1),
]


def test_a_saved_index_ranks_exactly_as_the_built_one(built, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "a.index"
    size = save_index(built, path, fingerprint=FINGERPRINT)
    assert size == path.stat().st_size
    loaded = load_index(path, fingerprint=FINGERPRINT)
    assert loaded is not built and loaded.size == built.size
    assert loaded.data_version == built.data_version and loaded.build_seconds == 1.25
    for query in QUERIES:
        assert search(loaded, query) == search(built, query), query.need


def test_the_arrays_are_read_only_views_of_the_file(built, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "a.index"
    save_index(built, path, fingerprint=FINGERPRINT)
    loaded = load_index(path, fingerprint=FINGERPRINT)
    assert not loaded._lat.flags.writeable and not loaded._post_docs.flags.writeable
    assert loaded._mapped is not None
    with pytest.raises(ValueError, match="read-only"):
        loaded._lat[0] = 0.0


def test_queries_fill_caches_that_are_not_saved(built, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    search(built, make_query("insulaton roofng"))  # fills the fuzzy cache
    assert built._fuzzy_cache
    path = tmp_path / "a.index"
    save_index(built, path, fingerprint=FINGERPRINT)
    assert load_index(path, fingerprint=FINGERPRINT)._fuzzy_cache == {}


def test_another_fingerprint_is_refused(built, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "a.index"
    save_index(built, path, fingerprint=FINGERPRINT)
    with pytest.raises(IndexFileError, match="other code or data"):
        load_index(path, fingerprint="code-v2")


@pytest.mark.parametrize("keep", [0, 5, 8, 16, 200, -100, -1])
def test_a_truncated_file_is_refused(built, tmp_path: Path, keep: int) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "a.index"
    save_index(built, path, fingerprint=FINGERPRINT)
    data = path.read_bytes()
    path.write_bytes(data[:keep] if keep >= 0 else data[:len(data) + keep])
    with pytest.raises(IndexFileError):
        load_index(path, fingerprint=FINGERPRINT)


@pytest.mark.parametrize("content", [
    b"not an index at all, just some text that is long enough",
    b"FMINDEX1" + (10**9).to_bytes(8, "little") + b"{}",
    b"FMINDEX1" + (2).to_bytes(8, "little") + b"{}" + b"x" * 100,
])
def test_other_files_are_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "a.index"
    path.write_bytes(content)
    with pytest.raises(IndexFileError):
        load_index(path, fingerprint=FINGERPRINT)


def test_a_damaged_payload_is_refused(built, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "a.index"
    save_index(built, path, fingerprint=FINGERPRINT)
    data = bytearray(path.read_bytes())
    header_end = 16 + int.from_bytes(data[8:16], "little")
    data[header_end:header_end + 40] = b"\xff" * 40  # the pickle's first opcodes
    path.write_bytes(bytes(data))
    with pytest.raises(IndexFileError, match="damaged"):
        load_index(path, fingerprint=FINGERPRINT)


def test_saving_replaces_the_file_whole_and_leaves_nothing_else(built, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "a.index"
    path.write_bytes(b"an older file")
    save_index(built, path, fingerprint=FINGERPRINT)
    assert os.listdir(tmp_path) == ["a.index"]
    assert load_index(path, fingerprint=FINGERPRINT).size == built.size


def test_the_query_date_still_decides_expiry_after_loading(built, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "a.index"
    save_index(built, path, fingerprint=FINGERPRINT)
    loaded = load_index(path, fingerprint=FINGERPRINT)
    query = make_query("solar pv", on_date=TODAY)
    flags = {r.name: r.flags for r in search(loaded, query).results}
    assert any("expired" in flag for flag in flags["Sunny Roofs"])
    assert isinstance(query, Query)
