"""The opened postcode directory: exact lookups plus suggestions for near misses."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from .build import (
    COORDINATE_UNITS_PER_DEGREE,
    FORMAT_VERSION,
    NO_LA,
    OUTCODE_KEY_BYTES,
    BuildStats,
    build_directory,
)
from .errors import DirectoryUnavailable, PostcodeFormatError, PostcodeNotFound
from .local_authorities import LA_TABLE_PATH, load_local_authorities
from .normalise import ParsedPostcode, PostcodeKind, parse_postcode
from .sources import ATTRIBUTION, ons_version

MAX_SUGGESTIONS = 5
# Similar outcodes considered when the outcode itself is unknown.
OUTCODE_CANDIDATES = 12
# Sorts after every character used in keys, to find the end of a prefix range.
_PREFIX_END = b"\x7f"

BUILD_HINT = "Run `flask postcodes build` to create it."

# Postcode areas that are valid but deliberately absent, with the reason to show.
EXCLUDED_AREAS: dict[str, str] = {
    "BT": "Northern Ireland postcodes are not covered: their data is licensed separately "
    "by Land & Property Services.",
    "GY": "Channel Islands postcodes have no grid reference in the ONS source.",
    "JE": "Channel Islands postcodes have no grid reference in the ONS source.",
    "IM": "Isle of Man postcodes have no grid reference in the ONS source.",
}

_REQUIRED_ARRAYS = (
    "unit_keys", "unit_lat", "unit_lon", "unit_la", "la_codes",
    "outcode_keys", "outcode_lat", "outcode_lon", "outcode_count", "outcode_la",
    "sector_keys", "sector_lat", "sector_lon", "sector_count", "sector_la",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Location:
    """Where a postcode, sector or outcode is.

    For sectors and outcodes the point is the mean of their unit postcodes' grid
    references and ``la_code`` is the local authority holding most of them.
    """

    query: str
    postcode: str
    kind: PostcodeKind
    latitude: float
    longitude: float
    la_code: str | None
    la_name: str | None


def default_directory_path(instance_path: str | Path) -> Path:
    """Where the app keeps its directory file: ``<instance>/postcodes-<source version>.npz``.

    The source version is in the name so upgrading the data package triggers a rebuild.
    """
    return Path(instance_path) / f"postcodes-{ons_version()}.npz"


def _display_many(keys: np.ndarray) -> list[str]:
    """Display forms ("L34 1AB", "L34 1", "L34") of full-width keys, decoded in one go."""
    width = keys.dtype.itemsize
    text = np.ascontiguousarray(keys).tobytes().decode("ascii")
    outcode = OUTCODE_KEY_BYTES
    if width == outcode:
        return [text[i : i + width].rstrip() for i in range(0, len(text), width)]
    return [
        f"{text[i : i + outcode].rstrip()} {text[i + outcode : i + width]}"
        for i in range(0, len(text), width)
    ]


class _Table:
    """Sorted fixed-width keys with per-key coordinates and LA index."""

    __slots__ = ("keys", "lat", "lon", "la")

    def __init__(self, arrays: dict[str, np.ndarray], prefix: str) -> None:
        # np.asarray drops the np.memmap subclass (same memory): its per-call
        # wrapping overhead would otherwise dominate microsecond lookups.
        self.keys = np.asarray(arrays[f"{prefix}_keys"])
        self.lat = np.asarray(arrays[f"{prefix}_lat"])
        self.lon = np.asarray(arrays[f"{prefix}_lon"])
        self.la = np.asarray(arrays[f"{prefix}_la"])

    def _search(self, key: bytes) -> int:
        # Converting the key to the array's dtype first is ~3x faster than letting
        # searchsorted coerce a Python bytes object on every call.
        return int(self.keys.searchsorted(np.array(key, dtype=self.keys.dtype)))

    def find(self, key: bytes) -> int | None:
        """Index of ``key``, or None."""
        index = self._search(key)
        if index < len(self.keys) and self.keys[index] == key:
            return index
        return None

    def prefix_range(self, prefix: bytes) -> tuple[int, int]:
        """Half-open index range of keys starting with ``prefix``."""
        return self._search(prefix), self._search(prefix + _PREFIX_END)


class PostcodeDirectory:
    """Read-only GB postcode directory backed by a memory-mapped file.

    Safe to share between threads: nothing changes after :meth:`open`.
    """

    def __init__(
        self, path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any], la_table: Path
    ) -> None:
        self.path = path
        self.meta = meta
        self._units = _Table(arrays, "unit")
        self._outcodes = _Table(arrays, "outcode")
        self._sectors = _Table(arrays, "sector")
        self._tables: dict[PostcodeKind, _Table] = {
            "unit": self._units,
            "sector": self._sectors,
            "outcode": self._outcodes,
        }
        self._la_codes: list[str] = [str(code) for code in arrays["la_codes"]]
        names = load_local_authorities(la_table)
        self._la_names: list[str | None] = [
            names[code].name if code in names else None for code in self._la_codes
        ]
        # Small (a few thousand): kept as Python strings for fuzzy matching.
        self._outcode_list: list[str] = _display_many(self._outcodes.keys)

    # -- opening and building ------------------------------------------------------

    @classmethod
    def open(
        cls, path: str | Path, *, mmap: bool = True, la_table: Path = LA_TABLE_PATH
    ) -> PostcodeDirectory:
        """Open a directory file written by :func:`build_directory`.

        Raises :class:`DirectoryUnavailable` (telling the operator to run
        ``flask postcodes build``) if the file is missing, corrupt or outdated.
        """
        from .storage import load_arrays

        path = Path(path)
        if not path.is_file():
            raise DirectoryUnavailable(f"Postcode directory {path} does not exist. {BUILD_HINT}")
        try:
            arrays, meta = load_arrays(path, mmap=mmap)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
            raise DirectoryUnavailable(
                f"Postcode directory {path} is unreadable ({error}). {BUILD_HINT}"
            ) from error
        if meta.get("format_version") != FORMAT_VERSION:
            raise DirectoryUnavailable(
                f"Postcode directory {path} has format {meta.get('format_version')}, "
                f"this code needs {FORMAT_VERSION}. {BUILD_HINT}"
            )
        missing = [name for name in _REQUIRED_ARRAYS if name not in arrays]
        if missing:
            raise DirectoryUnavailable(
                f"Postcode directory {path} lacks {', '.join(missing)}. {BUILD_HINT}"
            )
        return cls(path, arrays, meta, la_table)

    @staticmethod
    def import_codepoint_zip(zip_path: str | Path, out_path: str | Path) -> BuildStats:
        """Build a directory file at ``out_path`` from an OS Code-Point Open zip."""
        return build_directory(Path(out_path), codepoint_zip=Path(zip_path))

    # -- facts about the directory -------------------------------------------------

    def __len__(self) -> int:
        """Number of unit postcodes."""
        return len(self._units.keys)

    def __contains__(self, query: object) -> bool:
        """True if ``query`` is a well-formed postcode, sector or outcode we hold."""
        if not isinstance(query, str):
            return False
        try:
            self.lookup(query)
        except (PostcodeFormatError, PostcodeNotFound):
            return False
        return True

    @property
    def source(self) -> str:
        """Name and version of the data the file was built from."""
        return f"{self.meta.get('source')} {self.meta.get('source_version')}"

    @property
    def attribution(self) -> str:
        """The attribution statement the data's licence requires us to show."""
        return str(self.meta.get("attribution", ATTRIBUTION))

    @property
    def la_codes(self) -> list[str]:
        """GSS codes of the local authorities that hold at least one postcode."""
        return list(self._la_codes)

    @property
    def source_la_codes(self) -> list[str]:
        """Every LA code seen in the GB source rows, including rows without coordinates."""
        return list(self.meta.get("source_la_codes", []))

    def la_name(self, code: str) -> str | None:
        """Name of a local authority code present in the directory."""
        try:
            return self._la_names[self._la_codes.index(code)]
        except ValueError:
            return None

    def outcodes(self) -> list[str]:
        """All outcodes, sorted as the ONS does ("L1", "L10", ..., "L2")."""
        return list(self._outcode_list)

    def sectors(self) -> list[str]:
        """All sectors ("L34 1"), in key order."""
        return _display_many(self._sectors.keys)

    # -- lookups -------------------------------------------------------------------

    def _location(self, query: str, table: _Table, index: int, parsed: ParsedPostcode) -> Location:
        la_index = int(table.la[index])
        has_la = la_index != NO_LA
        return Location(
            query=query,
            postcode=parsed.text,  # equal to the stored key, which we found
            kind=parsed.kind,
            latitude=int(table.lat[index]) / COORDINATE_UNITS_PER_DEGREE,
            longitude=int(table.lon[index]) / COORDINATE_UNITS_PER_DEGREE,
            la_code=self._la_codes[la_index] if has_la else None,
            la_name=self._la_names[la_index] if has_la else None,
        )

    def lookup(self, query: str) -> Location:
        """Locate a unit postcode, a sector ("L34 1") or an outcode ("L34").

        Raises :class:`PostcodeFormatError` for malformed text and
        :class:`PostcodeNotFound` (with ``suggestions``) for unknown codes.
        Terminated postcodes resolve like live ones.
        """
        parsed = parse_postcode(query)
        table = self._tables[parsed.kind]
        index = table.find(parsed.key)
        if index is None:
            raise self._not_found(query, parsed)
        return self._location(query, table, index, parsed)

    def units_in_outcode(self, outcode: str) -> list[Location]:
        """Every unit postcode of ``outcode``, in postcode order.

        Raises :class:`PostcodeFormatError` if ``outcode`` is not an outcode and
        :class:`PostcodeNotFound` if there is no such outcode.
        """
        parsed = parse_postcode(outcode)
        if parsed.kind != "outcode":
            raise PostcodeFormatError(outcode, "expected an outcode such as L34")
        start, stop = self._units.prefix_range(parsed.key)
        if start == stop:
            raise self._not_found(outcode, parsed)
        postcodes = _display_many(self._units.keys[start:stop])
        lat = (self._units.lat[start:stop] / COORDINATE_UNITS_PER_DEGREE).tolist()
        lon = (self._units.lon[start:stop] / COORDINATE_UNITS_PER_DEGREE).tolist()
        codes = [*self._la_codes, None]
        names = [*self._la_names, None]
        # NO_LA -> the trailing None entries
        la = np.minimum(self._units.la[start:stop], len(self._la_codes)).tolist()
        return [
            Location(outcode, postcode, "unit", unit_lat, unit_lon, codes[i], names[i])
            for postcode, unit_lat, unit_lon, i in zip(postcodes, lat, lon, la, strict=True)
        ]

    # -- near misses ---------------------------------------------------------------

    def _not_found(self, query: str, parsed: ParsedPostcode) -> PostcodeNotFound:
        area = "".join(ch for ch in parsed.outcode[:2] if ch.isalpha())
        start, stop = self._outcodes.prefix_range(area.encode("ascii"))
        if area in EXCLUDED_AREAS and start == stop:
            return PostcodeNotFound(query, parsed.text, [], EXCLUDED_AREAS[area])
        return PostcodeNotFound(query, parsed.text, self._suggest(parsed))

    def _similar_outcodes(self, outcode: str, limit: int) -> list[str]:
        matches = process.extract(
            outcode, self._outcode_list, scorer=Levenshtein.distance, limit=limit * 4
        )
        # Prefer the same postcode area and length among equally distant outcodes.
        area = "".join(ch for ch in outcode[:2] if ch.isalpha())
        ranked = sorted(
            matches,
            key=lambda m: (
                m[1],
                not m[0].startswith(area),
                abs(len(m[0]) - len(outcode)),
                m[2],
            ),
        )
        return [match[0] for match in ranked[:limit]]

    def _closest(self, target: str, candidates: Sequence[str]) -> list[str]:
        matches = process.extract(
            target, candidates, scorer=Levenshtein.distance, limit=MAX_SUGGESTIONS
        )
        return [match[0] for match in matches]

    def _suggest(self, parsed: ParsedPostcode) -> list[str]:
        outcode_key = parsed.outcode.ljust(OUTCODE_KEY_BYTES).encode("ascii")
        outcode_known = self._outcodes.find(outcode_key) is not None
        if parsed.kind == "outcode":
            return self._similar_outcodes(parsed.outcode, MAX_SUGGESTIONS)
        if parsed.kind == "sector":
            if outcode_known:
                start, stop = self._sectors.prefix_range(outcode_key)
                sectors = _display_many(self._sectors.keys[start:stop])
                return self._closest(parsed.text, sectors)
            similar = self._similar_outcodes(parsed.outcode, OUTCODE_CANDIDATES)
            found = [
                f"{o} {parsed.sector_digit}"
                for o in similar
                if self._sectors.find(f"{o.ljust(OUTCODE_KEY_BYTES)}{parsed.sector_digit}".encode())
                is not None
            ]
            return (found or similar)[:MAX_SUGGESTIONS]
        # A unit postcode.
        if outcode_known:
            start, stop = self._units.prefix_range(outcode_key)
            units = _display_many(self._units.keys[start:stop])
            # Same sector first so that, among equally close codes, the nearest win.
            same_sector = [u for u in units if u[:-2] == parsed.sector]
            others = [u for u in units if u[:-2] != parsed.sector]
            return self._closest(parsed.text, same_sector + others)
        similar = self._similar_outcodes(parsed.outcode, OUTCODE_CANDIDATES)
        inward = f"{parsed.sector_digit}{parsed.unit_letters}"
        found = [
            f"{o} {inward}"
            for o in similar
            if self._units.find(f"{o.ljust(OUTCODE_KEY_BYTES)}{inward}".encode()) is not None
        ]
        return (found or similar)[:MAX_SUGGESTIONS]
