"""The local authority names table, ``web/data/local_authorities.csv``."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

LA_TABLE_PATH = Path(__file__).resolve().parent.parent / "data" / "local_authorities.csv"
LA_TABLE_COLUMNS = ("gss_code", "name", "nation")


@dataclass(frozen=True, slots=True)
class LocalAuthority:
    """A local authority district (or pseudo area) by its GSS code."""

    gss_code: str
    name: str
    nation: str


def load_local_authorities(path: Path = LA_TABLE_PATH) -> dict[str, LocalAuthority]:
    """Read the table into a dict keyed by GSS code."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != LA_TABLE_COLUMNS:
            raise ValueError(
                f"{path}: expected columns {LA_TABLE_COLUMNS}, got {reader.fieldnames}"
            )
        return {
            row["gss_code"]: LocalAuthority(row["gss_code"], row["name"], row["nation"])
            for row in reader
        }
