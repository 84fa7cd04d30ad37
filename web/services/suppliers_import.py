"""Importing the supplier register from a spreadsheet (CSV or XLSX), row by row, losing none.

The import runs in two phases. First every row is read and validated against the register
as it is (preloaded in a handful of queries), and classified: new, changed, unchanged or
rejected. Only then is anything written, in bulk statements, so that

* by default one rejected row means nothing is written at all (all-or-nothing), and the
  report lists every problem, not just the first;
* with ``skip_invalid`` the valid rows are written and every rejected row is kept, with
  its reason, for :meth:`ImportReport.write_rejects`;
* a dry run is the first phase alone.

Identity: a row is the supplier with its ``external_id``; a row without one is the supplier
with its Companies House number (whose number then serves as its external id when new).
Columns a file does not have are left as they are on existing suppliers; a blank cell in a
column the file does have clears that value. Re-importing a file, or an export of the
register, changes nothing.

This module flushes but never commits: the caller (CLI command or view) owns the
transaction.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import gc
import operator
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from web.extensions import db
from web.models import (
    Accreditation,
    Commitment,
    Framework,
    Lot,
    SocialValueOption,
    Supplier,
    supplier_lots,
)
from web.postcodes import (
    Location,
    PostcodeDirectory,
    PostcodeFormatError,
    PostcodeNotFound,
    normalise_postcode,
)
from web.services.supplier_fields import (
    FieldError,
    codes_hint,
    listed,
    parse_accreditations,
    parse_commitments,
    parse_company_number,
    parse_cpv_codes,
    parse_email,
    parse_number,
    parse_phone,
    parse_website,
    split_list,
)
from web.services.supplier_files import (
    MAX_CELL_CHARS,
    ImportFileError,
    Source,
    Table,
    quote_cell,
    read_table,
)
from web.services.versions import bump_version

__all__ = [
    "COLUMNS",
    "ImportFileError",
    "ImportReport",
    "RowProblem",
    "column_for_heading",
    "import_suppliers",
    "read_supplier_file",
]

# The import (and export) columns, in the order an export writes them.
COLUMNS: tuple[str, ...] = (
    "external_id",
    "name",
    "company_number",
    "address",
    "postcode",
    "latitude",
    "longitude",
    "local_authority_code",
    "description",
    "capabilities",
    "cpv_codes",
    "lots",
    "sme",
    "vcse",
    "service_radius_km",
    "min_contract_value",
    "max_contract_value",
    "accreditations",
    "social_value",
    "website",
    "email",
    "phone",
)

# Other headings people use for the same columns, compared after _heading_key().
_ALIASES: dict[str, tuple[str, ...]] = {
    "external_id": ("id", "supplier id", "supplier ref", "supplier reference", "reference", "ref"),
    "name": ("supplier name", "supplier", "company name", "organisation name", "organisation"),
    "company_number": (
        "company no", "company num", "crn", "companies house number", "company reg no",
        "company registration number", "registration number", "company registration no",
    ),
    "address": ("registered address", "street address"),
    "postcode": ("post code", "postal code", "zip code"),
    "latitude": ("lat",),
    "longitude": ("lon", "lng", "long"),
    "local_authority_code": ("la code", "lad code", "gss code", "local authority code"),
    "capabilities": ("keywords", "capability", "tags", "skills"),
    "cpv_codes": ("cpv", "cpv code", "cpv codes"),
    "lots": ("lot", "lot codes", "lot code"),
    "sme": ("is sme",),
    "vcse": ("is vcse",),
    "service_radius_km": ("service radius", "radius", "radius km", "service area km"),
    "min_contract_value": ("min value", "minimum value", "minimum contract value"),
    "max_contract_value": ("max value", "maximum value", "maximum contract value"),
    "accreditations": ("accreditation", "certifications"),
    "social_value": ("social value commitments", "commitments", "social value options"),
    "website": ("web site", "url", "web"),
    "email": ("e mail", "email address"),
    "phone": ("telephone", "tel", "phone number", "telephone number"),
}

# Columns we write ourselves (the rejects file's reason) and read back without a warning.
IGNORED_COLUMNS = ("reason",)

# Lengths of the database columns, so a long value is a row problem, not a database error.
# (Those of the cell parsers shared with the admin form are in web.services.supplier_fields.)
MAX_EXTERNAL_ID_CHARS = 100
MAX_NAME_CHARS = 300

# A rough box around Great Britain and Northern Ireland (degrees, WGS84): a point outside
# it is almost certainly a typo or swapped latitude and longitude.
LATITUDE_RANGE = (49.0, 61.0)
LONGITUDE_RANGE = (-9.0, 2.5)

WRITE_BATCH_ROWS = 900  # rows per INSERT/UPDATE batch (and ids per "IN (...)" read-back)
INSERT_BATCH_ROWS = 10_000  # rows per executemany of a bulk insert
IN_CLAUSE_CHUNK = 900  # ids per "IN (...)": under SQLite's old 999-parameter limit
PROGRESS_EVERY_ROWS = 500  # rows between progress callbacks

_GSS_CODE_RE = re.compile(r"[EWSN][0-9]{8}")  # ASCII digits: "\d" takes any script's
_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0", ""})

# Supplier columns each import column sets (location columns are handled together).
_SCALAR_FIELDS = (
    "name", "company_number", "address", "description", "capabilities", "cpv_codes", "sme",
    "vcse", "service_radius_km", "min_contract_value", "max_contract_value", "website",
    "email", "phone",
)
_LOCATION_COLUMNS = ("postcode", "latitude", "longitude", "local_authority_code")
_LOCATION_FIELDS = ("postcode", "latitude", "longitude", "la_code")
# Values of a new supplier for columns the file does not have.
_DEFAULTS: dict[str, Any] = {
    "company_number": None, "address": "", "description": "", "capabilities": [],
    "cpv_codes": [], "sme": False, "vcse": False, "service_radius_km": None,
    "min_contract_value": None, "max_contract_value": None, "website": None, "email": None,
    "phone": None, "postcode": None, "la_code": None,
}


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A problem with one row (or, with ``column``, one cell) of the file.

    ``row`` is the row number a spreadsheet shows: the header is row 1.
    """

    row: int
    column: str | None
    reason: str
    external_id: str | None = None

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class ImportReport:
    """What an import read and did (or, for a dry run or a refused import, would do).

    ``read = imported + updated + unchanged + rejected`` always. The counts classify the
    rows; ``written`` says whether the changes were actually written, which is not the
    case for a dry run nor when rejected rows stopped an all-or-nothing import
    (``aborted``).
    """

    read: int
    imported: int
    updated: int
    unchanged: int
    rejected: int
    problems: tuple[RowProblem, ...]
    warnings: tuple[RowProblem, ...]
    written: bool = False
    dry_run: bool = False
    aborted: bool = False
    notes: tuple[str, ...] = ()
    header: tuple[str, ...] = field(default=(), repr=False)
    rejected_rows: tuple[tuple[int, tuple[str, ...]], ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if self.read != self.imported + self.updated + self.unchanged + self.rejected:
            raise AssertionError(f"import totals do not add up: {self!r}")

    @property
    def changed(self) -> int:
        """Rows that add or change a supplier."""
        return self.imported + self.updated

    def reasons_by_row(self) -> dict[int, str]:
        """Each rejected row's problems as one line, by row number."""
        reasons: dict[int, list[str]] = defaultdict(list)
        for problem in self.problems:
            prefix = f"{problem.column}: " if problem.column else ""
            reasons[problem.row].append(prefix + problem.reason)
        return {row: "; ".join(parts) for row, parts in reasons.items()}

    def write_rejects(self, target: str | Path | IO[str]) -> int:
        """Write every rejected row, its cells as read plus a ``reason`` column, as CSV.

        A path is written as UTF-8 with a byte-order mark (so Excel shows "£" right); the
        file can be corrected and imported again (the ``reason`` column is ignored then).
        Returns the number of rows written.
        """
        if isinstance(target, str | Path):
            with open(target, "w", encoding="utf-8-sig", newline="") as handle:
                return self.write_rejects(handle)
        reasons = self.reasons_by_row()
        header = [h for h in self.header if h.strip().lower() != "reason"]
        keep = [i for i, h in enumerate(self.header) if h.strip().lower() != "reason"]
        writer = csv.writer(target)
        writer.writerow([*header, "reason"])
        for number, cells in self.rejected_rows:
            padded = list(cells) + [""] * (len(self.header) - len(cells))
            kept = [padded[i] for i in keep] + padded[len(self.header):]
            writer.writerow([*kept, f"row {number}: {reasons.get(number, '')}"])
        return len(self.rejected_rows)


def column_for_heading(heading: str) -> str | None:
    """The import column a heading means ("Post code" -> "postcode"), or None."""
    return _COLUMN_BY_HEADING.get(_heading_key(heading))


def _heading_key(heading: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", heading.lower()).strip()


_COLUMN_BY_HEADING: dict[str, str] = {
    _heading_key(alias): column
    for column in COLUMNS
    for alias in (column, *_ALIASES.get(column, ()))
}


def _header_score(cells: Sequence[str]) -> int:
    return sum(1 for cell in cells if column_for_heading(cell))


def read_supplier_file(source: Source, *, filename: str) -> Table:
    """Read a supplier file into a table of text cells (the file-level checks only).

    Callers that want to know the row count before importing (a progress bar) read first
    and pass the table to :func:`import_suppliers`.

    :raise ImportFileError: see :func:`web.services.supplier_files.read_table`.
    """
    return read_table(source, filename=filename, header_score=_header_score)


# --- parsing cells ----------------------------------------------------------------------
# The parsers shared with the admin supplier form are in web.services.supplier_fields.


def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise FieldError(
        f'"{quote_cell(text.strip())}" is not yes or no (use yes/no, true/false, y/n or 1/0)'
    )


# --- the register as it is ----------------------------------------------------------------


@dataclass(slots=True)
class _Stored:
    """A supplier as stored, in the same normalised shape as a parsed row."""

    id: int
    external_id: str
    values: dict[str, Any]
    lots: tuple[int, ...] = ()
    accreditations: tuple[tuple[str, dt.date | None], ...] = ()
    commitments: tuple[tuple[str, float], ...] = ()


@dataclass(slots=True)
class _Register:
    by_external_id: dict[str, _Stored]
    by_company_number: dict[str, list[_Stored]]
    lots_by_code: dict[str, list[int]]  # upper-cased lot code -> lot ids (any framework)
    lots_by_qualified: dict[str, int]  # "FRAMEWORK:LOT" upper-cased -> lot id
    option_codes: dict[str, str]  # upper-cased option code -> code as catalogued


def _load_register(*, lots: bool, accreditations: bool, commitments: bool) -> _Register:
    """The register in a few queries: suppliers and, when the file has them, their lists."""
    # Pending changes first (e.g. a lot added in this transaction), then plain Core rows:
    # at 100k suppliers ORM row handling would cost more than the queries.
    db.session.flush()
    connection = db.session.connection()
    names = (*_SCALAR_FIELDS, *_LOCATION_FIELDS)
    columns = [getattr(Supplier, name) for name in names]
    by_id: dict[int, _Stored] = {}
    for row in connection.execute(sa.select(Supplier.id, Supplier.external_id, *columns)):
        by_id[row[0]] = _Stored(row[0], row[1], dict(zip(names, row[2:], strict=True)))
    if lots:
        grouped: dict[int, list[int]] = defaultdict(list)
        for supplier_id, lot_id in connection.execute(
            sa.select(supplier_lots.c.supplier_id, supplier_lots.c.lot_id)
        ):
            grouped[supplier_id].append(lot_id)
        for supplier_id, lot_ids in grouped.items():
            by_id[supplier_id].lots = tuple(sorted(lot_ids))
    if accreditations:
        held: dict[int, list[tuple[str, dt.date | None]]] = defaultdict(list)
        for supplier_id, name, expires in connection.execute(
            sa.select(Accreditation.supplier_id, Accreditation.name, Accreditation.expires_on)
        ):
            held[supplier_id].append((name, expires))
        for supplier_id, items in held.items():
            by_id[supplier_id].accreditations = _accreditation_key(items)
    if commitments:
        made: dict[int, list[tuple[str, float]]] = defaultdict(list)
        for supplier_id, code, quantity in connection.execute(
            sa.select(Commitment.supplier_id, Commitment.option_code,
                      Commitment.quantity_per_million)
        ):
            made[supplier_id].append((code, quantity))
        for supplier_id, items in made.items():
            by_id[supplier_id].commitments = tuple(sorted(items))

    by_company_number: dict[str, list[_Stored]] = defaultdict(list)
    for stored in by_id.values():
        if stored.values["company_number"]:
            by_company_number[stored.values["company_number"]].append(stored)

    lots_by_code: dict[str, list[int]] = defaultdict(list)
    lots_by_qualified: dict[str, int] = {}
    for lot_id, lot_code, framework_code in connection.execute(
        sa.select(Lot.id, Lot.code, Framework.code).join(Lot.framework)
    ):
        lots_by_code[lot_code.upper()].append(lot_id)
        lots_by_qualified[f"{framework_code}:{lot_code}".upper()] = lot_id
    option_codes = {
        code.upper(): code
        for code in connection.scalars(sa.select(SocialValueOption.code).distinct())
    }
    return _Register(
        by_external_id={s.external_id: s for s in by_id.values()},
        by_company_number=dict(by_company_number),
        lots_by_code=dict(lots_by_code),
        lots_by_qualified=lots_by_qualified,
        option_codes=option_codes,
    )


def _accreditation_key(
    items: Iterable[tuple[str, dt.date | None]],
) -> tuple[tuple[str, dt.date | None], ...]:
    # Sorted with None as the earliest date so mixed lists compare without TypeError.
    return tuple(sorted(items, key=lambda item: (item[0], item[1] or dt.date.min)))


# --- parsing rows -------------------------------------------------------------------------


# Columns whose cell alone gives a supplier column of the same name, and whether to
# remember each distinct cell's result (worth it where the same text recurs across rows).
_SIMPLE_PARSERS: dict[str, tuple[Callable[[str], Any], bool]] = {
    "address": (str.strip, False),
    "description": (str.strip, False),
    "capabilities": (split_list, False),
    "cpv_codes": (parse_cpv_codes, True),
    "sme": (_boolean, True),
    "vcse": (_boolean, True),
    "service_radius_km": (parse_number, True),
    "min_contract_value": (parse_number, True),
    "max_contract_value": (parse_number, True),
    "website": (parse_website, False),
    "email": (parse_email, False),
    "phone": (parse_phone, False),
}


@dataclass(slots=True)
class _Row:
    """A valid row, normalised: the supplier columns it sets and the lists it replaces."""

    number: int
    external_id: str
    values: dict[str, Any]
    lots: tuple[int, ...] | None = None  # None: the file has no such column
    accreditations: tuple[tuple[str, dt.date | None], ...] | None = None
    commitments: tuple[tuple[str, float], ...] | None = None
    target: _Stored | None = None  # the stored supplier it updates, if any


class _RowParser:
    """Turns one row of cells into a :class:`_Row`, collecting problems and warnings."""

    def __init__(
        self,
        header: Sequence[str],
        *,
        register: _Register,
        directory: PostcodeDirectory,
        today: dt.date,
    ) -> None:
        self.register = register
        self.directory = directory
        self.today = today
        self.width = len(header)
        self.index: dict[str, int] = {}
        for position, heading in enumerate(header):
            column = column_for_heading(heading)
            if column is not None:
                self.index[column] = position
        self.has_location = any(c in self.index for c in _LOCATION_COLUMNS)
        # Every column's cell position; absent columns read the blank cell after the last.
        self.position = {column: self.index.get(column, self.width) for column in COLUMNS}
        self._simple = [
            (column, self.index[column], self._memoised(parse) if memo else parse)
            for column, (parse, memo) in _SIMPLE_PARSERS.items()
            if column in self.index
        ]
        self._lots_of = self._memoised(self._lots)
        self._commitments_of = self._memoised(
            functools.partial(parse_commitments, option_codes=register.option_codes)
        )
        self._accreditations_of = self._memoised(parse_accreditations)
        self._postcodes: dict[str, Location | PostcodeNotFound | PostcodeFormatError] = {}

    @staticmethod
    def _memoised(parse: Callable[[str], Any]) -> Callable[[str], Any]:
        """``parse`` remembering each distinct text's result or problem.

        Results are shared between rows, so they must never be modified.
        """
        results: dict[str, tuple[bool, Any]] = {}

        def run(text: str) -> Any:
            try:
                ok, result = results[text]
            except KeyError:
                try:
                    ok, result = True, parse(text)
                except FieldError as error:
                    ok, result = False, str(error)
                results[text] = (ok, result)
            if not ok:
                raise FieldError(result)
            return result

        return run

    def _lookup(self, text: str) -> Location | PostcodeNotFound | PostcodeFormatError:
        # Suppliers cluster: a few thousand distinct postcodes cover 100k rows.
        key = text.strip().upper()
        if key not in self._postcodes:
            try:
                self._postcodes[key] = self.directory.lookup(key)
            except (PostcodeNotFound, PostcodeFormatError) as error:
                self._postcodes[key] = error
        return self._postcodes[key]

    def label(self, cells: Sequence[str]) -> str | None:
        """How the report names a row: its external id, else its company number."""
        for column in ("external_id", "company_number"):
            position = self.index.get(column)
            if position is not None and position < len(cells) and cells[position].strip():
                return cells[position].strip()[:MAX_EXTERNAL_ID_CHARS]
        return None

    def parse(
        self, number: int, cells: list[str], problems: list[RowProblem],
        warnings: list[RowProblem],
    ) -> _Row | None:
        """The valid row, or None after adding its problems to ``problems``."""
        found: list[tuple[str | None, str]] = []
        noted: list[tuple[str | None, str]] = []
        width = self.width
        if len(cells) > width and "".join(cells[width:]).strip():
            found.append((None, (
                f"the row has {len(cells)} cells but the header has {width} columns "
                "(a stray delimiter, or a value that should be in quotes?)"
            )))
        # Padded so that a short row reads blanks, plus the blank that absent columns read.
        cells = cells[:width] + [""] * (width + 1 - min(len(cells), width))
        if max(map(len, cells)) > MAX_CELL_CHARS:
            for column, position in self.index.items():
                if len(cells[position]) > MAX_CELL_CHARS:
                    found.append(
                        (column, f"the cell is longer than {MAX_CELL_CHARS:,} characters")
                    )
        if found:
            return self._finish(number, cells, None, found, noted, problems, warnings)

        position = self.position
        values: dict[str, Any] = {}
        external_id = cells[position["external_id"]].strip()
        if len(external_id) > MAX_EXTERNAL_ID_CHARS:
            found.append(("external_id", f"longer than {MAX_EXTERNAL_ID_CHARS} characters"))
        name = cells[position["name"]].strip()
        if not name:
            found.append(("name", "the supplier name is missing"))
        elif len(name) > MAX_NAME_CHARS:
            found.append(("name", f"the name is longer than {MAX_NAME_CHARS} characters"))
        values["name"] = name
        if "company_number" in self.index:
            company_number, warning = parse_company_number(cells[position["company_number"]])
            values["company_number"] = company_number
            if warning:
                noted.append(("company_number", warning))
        for column, cell_position, parse_cell in self._simple:
            try:
                values[column] = parse_cell(cells[cell_position])
            except FieldError as error:
                found.append((column, str(error)))
        low, high = values.get("min_contract_value"), values.get("max_contract_value")
        if low is not None and high is not None and low > high:
            found.append((
                "max_contract_value",
                f"the maximum contract value ({high:,.0f}) is less than the minimum ({low:,.0f})",
            ))
        if self.has_location:
            self._location(cells, values, found, noted)

        row = _Row(number, external_id, values)
        if "lots" in self.index:
            try:
                row.lots = self._lots_of(cells[position["lots"]])
            except FieldError as error:
                found.append(("lots", str(error)))
        if "accreditations" in self.index:
            try:
                held = self._accreditations_of(cells[position["accreditations"]])
            except FieldError as error:
                found.append(("accreditations", str(error)))
            else:
                row.accreditations = _accreditation_key(held)  # sorted, as stored ones are
                for accreditation, expires in held:
                    if expires is not None and expires < self.today:
                        noted.append((
                            "accreditations",
                            f"{quote_cell(accreditation)} expired on {expires.isoformat()}",
                        ))
        if "social_value" in self.index:
            try:
                row.commitments = self._commitments_of(cells[position["social_value"]])
            except FieldError as error:
                found.append(("social_value", str(error)))

        if not found:
            self._identify(row, found)
        return self._finish(number, cells, row, found, noted, problems, warnings)

    def _finish(
        self, number: int, cells: list[str], row: _Row | None,
        found: list[tuple[str | None, str]], noted: list[tuple[str | None, str]],
        problems: list[RowProblem], warnings: list[RowProblem],
    ) -> _Row | None:
        if noted or found:
            label = self.label(cells)
            warnings.extend(RowProblem(number, column, reason, label) for column, reason in noted)
            problems.extend(RowProblem(number, column, reason, label) for column, reason in found)
        return None if found else row

    def _location(
        self, cells: list[str], values: dict[str, Any],
        found: list[tuple[str | None, str]], noted: list[tuple[str | None, str]],
    ) -> None:
        """Postcode, coordinates and local authority, decided together."""
        problems_before = len(found)
        latitude = longitude = None
        position = self.position
        lat_text = cells[position["latitude"]].strip()
        lon_text = cells[position["longitude"]].strip()
        if lat_text or lon_text:
            if not (lat_text and lon_text):
                missing = "longitude" if lat_text else "latitude"
                found.append((missing, "give both latitude and longitude, or neither"))
            else:
                for column, text, bounds in (
                    ("latitude", lat_text, LATITUDE_RANGE),
                    ("longitude", lon_text, LONGITUDE_RANGE),
                ):
                    try:
                        value = parse_number(text, minimum=None)
                    except FieldError as error:
                        found.append((column, str(error)))
                        continue
                    assert value is not None  # text is not blank
                    if not bounds[0] <= value <= bounds[1]:
                        found.append((column, (
                            f"{value:g} is outside the UK ({column} {bounds[0]:g} to "
                            f"{bounds[1]:g}); are latitude and longitude swapped?"
                        )))
                    elif column == "latitude":
                        latitude = value
                    else:
                        longitude = value
        has_coordinates = bool(lat_text and lon_text)

        la_code = cells[position["local_authority_code"]].strip().upper() or None
        if la_code is not None and not _GSS_CODE_RE.fullmatch(la_code):
            found.append((
                "local_authority_code",
                f'"{la_code}" is not a local authority (GSS) code such as E08000011',
            ))

        postcode_text = cells[position["postcode"]].strip()
        postcode: str | None = None
        if postcode_text:
            result = self._lookup(postcode_text)
            if isinstance(result, PostcodeFormatError):
                found.append(("postcode", str(result)))
            elif isinstance(result, PostcodeNotFound):
                if has_coordinates:
                    postcode = normalise_postcode(postcode_text)
                    noted.append(("postcode", (
                        f"{result} The row's latitude and longitude were used, with no "
                        "local authority unless one is given."
                    )))
                else:
                    found.append(("postcode", f"{result} Give a known postcode, or latitude "
                                  "and longitude."))
            else:
                postcode = result.postcode
                if la_code is None:
                    la_code = result.la_code
                if not has_coordinates:
                    latitude, longitude = result.latitude, result.longitude
                    if result.kind != "unit":
                        noted.append(("postcode", (
                            f"{postcode} is a postcode {result.kind}, not a full postcode; "
                            f"the supplier is placed at the centre of the {result.kind}"
                        )))
        elif not has_coordinates:
            found.append(("postcode", "give a postcode, or latitude and longitude"))
        if len(found) == problems_before:
            values.update(
                postcode=postcode, latitude=latitude, longitude=longitude, la_code=la_code
            )

    def _lots(self, text: str) -> tuple[int, ...]:
        lot_ids: set[int] = set()
        unknown: list[str] = []
        for code in split_list(text):
            key = code.upper()
            if ":" in key:
                lot_id = self.register.lots_by_qualified.get(key)
                if lot_id is None:
                    unknown.append(code)
                else:
                    lot_ids.add(lot_id)
                continue
            matches = self.register.lots_by_code.get(key, [])
            if not matches:
                unknown.append(code)
            elif len(matches) > 1:
                raise FieldError(
                    f'lot code "{code}" is used by more than one framework: write it as '
                    "FRAMEWORK:LOT, e.g. RETROFIT:" + code
                )
            else:
                lot_ids.add(matches[0])
        if unknown:
            known = self.register.lots_by_code.keys()
            raise FieldError(
                f"unknown lot code{'s' if len(unknown) > 1 else ''} {listed(unknown)}"
                + codes_hint(known)
            )
        return tuple(sorted(lot_ids))

    def _identify(self, row: _Row, found: list[tuple[str | None, str]]) -> None:
        """Find the stored supplier the row is: by external id, else by company number."""
        company_number = row.values.get("company_number")
        if row.external_id:
            row.target = self.register.by_external_id.get(row.external_id)
            return
        if not company_number:
            found.append(("external_id", "external_id or company_number required"))
            return
        matches = self.register.by_company_number.get(company_number, [])
        if len(matches) > 1:
            ids = listed(sorted(s.external_id for s in matches))
            found.append(("external_id", (
                f"company number {company_number} belongs to {len(matches)} suppliers "
                f"({ids}); give the external_id of the one this row is"
            )))
            return
        row.target = matches[0] if matches else self.register.by_external_id.get(company_number)
        row.external_id = row.target.external_id if row.target else company_number


# --- the import ---------------------------------------------------------------------------


def import_suppliers(
    path_or_stream: Source | Table,
    *,
    filename: str,
    directory: PostcodeDirectory,
    dry_run: bool = False,
    skip_invalid: bool = False,
    today: dt.date | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Validate every row of a supplier file, then add and update suppliers in bulk.

    ``path_or_stream`` is a path, a binary stream, bytes, or a :class:`Table` already read
    with :func:`read_supplier_file`; ``filename`` gives the format (.csv or .xlsx) and names
    the file in messages. With rejected rows nothing is written unless ``skip_invalid``;
    ``dry_run`` never writes. ``today`` dates the expired-accreditation warnings.
    ``progress(n)`` is called as rows are processed, with the number of rows just done:
    each row counts once while validated and once while written (so ``2 × rows`` in all).
    Flushes, never commits; bumps the matching index's data version when anything changed.

    :raise ImportFileError: when the file as a whole cannot be imported.
    """
    with _cyclic_gc_paused():
        return _import(
            path_or_stream, filename=filename, directory=directory, dry_run=dry_run,
            skip_invalid=skip_invalid, today=today or dt.date.today(), progress=progress,
        )


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cycle collector (reference counting still frees everything).

    An import holds millions of small objects (cells, rows, the register); each full
    collection walks all of them, which made a 100k-row import a quarter slower. Nothing
    here creates reference cycles worth collecting mid-import.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _import(
    path_or_stream: Source | Table,
    *,
    filename: str,
    directory: PostcodeDirectory,
    dry_run: bool,
    skip_invalid: bool,
    today: dt.date,
    progress: Callable[[int], None] | None,
) -> ImportReport:
    table = (
        path_or_stream
        if isinstance(path_or_stream, Table)
        else read_supplier_file(path_or_stream, filename=filename)
    )
    present = {column_for_heading(h) for h in table.header} - {None}
    _check_columns(table.header, present, filename)

    register = _load_register(
        lots="lots" in present,
        accreditations="accreditations" in present,
        commitments="social_value" in present,
    )
    parser = _RowParser(table.header, register=register, directory=directory, today=today)
    problems: list[RowProblem] = []
    warnings: list[RowProblem] = _header_warnings(table)
    rejected_rows: list[tuple[int, tuple[str, ...]]] = []
    new_rows: list[_Row] = []
    changed_rows: list[_Row] = []
    unchanged = 0
    first_row_for: dict[str, int] = {}  # external id -> first row that has it
    first_row_for_company: dict[str, int] = {}  # company number -> first row that has it
    company_numbers_seen: dict[str, str] = {}  # company number -> first external id with it

    for done, (number, cells) in enumerate(table.rows, start=1):
        row = parser.parse(number, cells, problems, warnings)
        if row is not None:
            by_number = not _has_cell(parser, "external_id", cells)
            company_number = row.values.get("company_number")
            earlier = first_row_for.get(row.external_id)
            if earlier is None and by_number and company_number:
                # Known only by its company number: the same company earlier in the file
                # (whatever its external id) is the same supplier.
                earlier = first_row_for_company.get(company_number)
            if earlier is not None:
                problems.append(RowProblem(
                    number,
                    "company_number" if by_number else "external_id",
                    f"{company_number if by_number else quote_cell(row.external_id)} is already "
                    f"in row "
                    f"{earlier} of this file; each supplier may appear once",
                    row.external_id,
                ))
                row = None
            else:
                first_row_for[row.external_id] = number
                if company_number:
                    first_row_for_company.setdefault(company_number, number)
        if row is None:
            rejected_rows.append((number, tuple(cells)))
        else:
            _warn_shared_company_number(row, register, company_numbers_seen, warnings)
            if row.target is None:
                new_rows.append(row)
            elif _differs(row, row.target):
                changed_rows.append(row)
            else:
                unchanged += 1
        if progress and done % PROGRESS_EVERY_ROWS == 0:
            progress(PROGRESS_EVERY_ROWS)
    if progress and len(table.rows) % PROGRESS_EVERY_ROWS:
        progress(len(table.rows) % PROGRESS_EVERY_ROWS)

    def in_file_order(problem: RowProblem) -> tuple[int, int]:
        return problem.row, parser.index.get(problem.column or "", -1)

    aborted = bool(rejected_rows) and not skip_invalid
    written = not dry_run and not aborted and bool(new_rows or changed_rows)
    if written:
        _write(new_rows, changed_rows, progress)
        bump_version()
    if progress:
        # Rows not written (unchanged, rejected, or all of them) still finish the bar.
        progress(len(table.rows) - (len(new_rows) + len(changed_rows) if written else 0))
    return ImportReport(
        read=len(table.rows),
        imported=len(new_rows),
        updated=len(changed_rows),
        unchanged=unchanged,
        rejected=len(rejected_rows),
        problems=tuple(sorted(problems, key=in_file_order)),
        warnings=tuple(sorted(warnings, key=in_file_order)),
        written=written,
        dry_run=dry_run,
        aborted=aborted,
        notes=table.notes,
        header=table.header,
        rejected_rows=tuple(rejected_rows),
    )


def _has_cell(parser: _RowParser, column: str, cells: list[str]) -> bool:
    """True if the row has a non-blank cell in ``column``."""
    position = parser.index.get(column)
    return position is not None and position < len(cells) and bool(cells[position].strip())


def _check_columns(header: Sequence[str], present: set[str | None], filename: str) -> None:
    """Refuse a header that cannot work, naming what is missing or repeated."""
    by_column: dict[str, list[str]] = defaultdict(list)
    for heading in header:
        column = column_for_heading(heading)
        if column is not None:
            by_column[column].append(heading)
    repeated = {c: hs for c, hs in by_column.items() if len(hs) > 1}
    if repeated:
        column, headings = next(iter(repeated.items()))
        raise ImportFileError(
            f"{filename}: the columns {' and '.join(repr(quote_cell(h)) for h in headings)} "
            f"both mean {column}; keep one of them."
        )
    missing: list[str] = []
    if "name" not in present:
        missing.append("name")
    if not present & {"external_id", "company_number"}:
        missing.append("external_id (or company_number)")
    if not ("postcode" in present or {"latitude", "longitude"} <= present):
        missing.append("postcode (or latitude and longitude)")
    if missing:
        found = listed([repr(h) for h in header if h]) or "none"
        raise ImportFileError(
            f"{filename} has no {' or '.join(missing)} column. Row 1 must name the columns; "
            f"found: {found}. Columns: {', '.join(COLUMNS)}."
        )


def _header_warnings(table: Table) -> list[RowProblem]:
    unknown = [
        heading for heading in table.header
        if heading and column_for_heading(heading) is None
        and heading.strip().lower() not in IGNORED_COLUMNS
    ]
    if not unknown:
        return []
    return [RowProblem(
        1, None,
        f"unknown column{'s' if len(unknown) > 1 else ''} ignored: {listed(unknown)}",
    )]


def _warn_shared_company_number(
    row: _Row, register: _Register, seen: dict[str, str], warnings: list[RowProblem]
) -> None:
    """Warn (never reject) when a company number is already another supplier's."""
    company_number = row.values.get("company_number")
    if not company_number:
        return
    others = sorted(
        s.external_id for s in register.by_company_number.get(company_number, [])
        if s.external_id != row.external_id
    )
    first = seen.setdefault(company_number, row.external_id)
    if first != row.external_id and first not in others:
        others.append(first)
    if others:
        warnings.append(RowProblem(
            row.number, "company_number",
            f"company number {company_number} is also given for {listed(others)}: "
            "a possible duplicate supplier",
            row.external_id,
        ))


def _differs(row: _Row, stored: _Stored) -> bool:
    if any(stored.values[name] != value for name, value in row.values.items()):
        return True
    return (
        (row.lots is not None and row.lots != stored.lots)
        or (row.accreditations is not None and row.accreditations != stored.accreditations)
        or (row.commitments is not None and row.commitments != stored.commitments)
    )


# --- writing ------------------------------------------------------------------------------


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _insert_many(table: sa.Table, keys: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """INSERT ``rows`` (each a sequence of values in ``keys`` order) with one executemany.

    Not ``session.execute(insert(table), dicts)``: at 100k rows SQLAlchemy's generic per-row
    parameter handling costs more than the database's work. The same type conversions
    (JSON, dates, booleans) are applied here, with each column's own bind processor.
    """
    unset = [c.key for c in table.c if c.default is not None and c.key not in keys]
    if unset:  # defaults are not applied on this path: every such column must be given
        raise AssertionError(f"_insert_many({table.name}) needs values for {unset}")
    connection = db.session.connection()
    dialect = connection.dialect
    compiled = sa.insert(table).compile(dialect=dialect, column_keys=list(keys))
    processors = []
    for position, key in enumerate(keys):
        column_type = table.c[key].type
        process = column_type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            # Dates and flags repeat (every row's created_at is the same): convert each once.
            hashable = not isinstance(column_type, sa.JSON)
            processors.append((position, _memoised(process) if hashable else process))
    order: list[int] = []
    if compiled.positional:
        assert compiled.positiontup is not None
        order = [list(keys).index(name) for name in compiled.positiontup]
        # itemgetter builds the driver's positional tuple in C; it needs two or more items.
        arrange: Callable[[list[Any]], Any] = (
            operator.itemgetter(*order) if len(order) > 1 else lambda values: (values[order[0]],)
        )
    else:
        arrange = lambda values: dict(zip(keys, values, strict=True))  # noqa: E731
    as_given = compiled.positional and order == list(range(len(keys))) and not processors
    for batch in _chunks(list(rows), INSERT_BATCH_ROWS):
        if as_given:  # e.g. (supplier_id, lot_id) pairs: nothing to convert or reorder
            connection.exec_driver_sql(compiled.string, list(batch))
            continue
        params = []
        for row in batch:
            values = list(row)
            for position, process in processors:
                values[position] = process(values[position])
            params.append(arrange(values))
        connection.exec_driver_sql(compiled.string, params)


def _memoised(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    cache: dict[Any, Any] = {}

    def run(value: Any) -> Any:
        try:
            return cache[value]
        except KeyError:
            cache[value] = result = process(value)
            return result

    return run


# Supplier columns an insert gives, in order (the others have no default: id, by the database).
_SUPPLIER_INSERT_KEYS = (
    "external_id", *_SCALAR_FIELDS, *_LOCATION_FIELDS, "active", "created_at", "updated_at",
)


def _write(
    new_rows: list[_Row],
    changed_rows: list[_Row],
    progress: Callable[[int], None] | None,
) -> None:
    """Insert the new suppliers and update the changed ones, in bulk."""
    now = dt.datetime.now(dt.UTC)
    # Children of updated suppliers are replaced (deleted, then inserted with the new ones).
    replaced: dict[str, list[int]] = {"lots": [], "accreditations": [], "commitments": []}
    children: list[tuple[int, _Row]] = []
    value_keys = _SUPPLIER_INSERT_KEYS[1:-3]

    for batch in _chunks(new_rows, WRITE_BATCH_ROWS):
        records = []
        for row in batch:
            values = row.values
            records.append((
                row.external_id,
                *[values[key] if key in values else _DEFAULTS[key] for key in value_keys],
                True, now, now,
            ))
        _insert_many(Supplier.__table__, _SUPPLIER_INSERT_KEYS, records)
        # Ids read back by external id: RETURNING over many rows makes SQLAlchemy splice
        # result batches together, which grows quadratically.
        ids: dict[str, int] = {
            external_id: supplier_id
            for external_id, supplier_id in db.session.connection().execute(
                sa.select(Supplier.external_id, Supplier.id)
                .where(Supplier.external_id.in_([row.external_id for row in batch]))
            )
        }
        children.extend((ids[row.external_id], row) for row in batch)
        if progress:
            progress(len(batch))

    for batch in _chunks(changed_rows, WRITE_BATCH_ROWS):
        updates = []
        for row in batch:
            stored = row.target
            assert stored is not None
            updates.append({**row.values, "id": stored.id, "updated_at": now})
            if row.lots is not None and row.lots != stored.lots:
                replaced["lots"].append(stored.id)
            if row.accreditations is not None and row.accreditations != stored.accreditations:
                replaced["accreditations"].append(stored.id)
            if row.commitments is not None and row.commitments != stored.commitments:
                replaced["commitments"].append(stored.id)
            children.append((stored.id, row))
        db.session.execute(sa.update(Supplier), updates)
        if progress:
            progress(len(batch))

    for ids_chunk in _chunks(replaced["lots"], IN_CLAUSE_CHUNK):
        db.session.execute(
            sa.delete(supplier_lots).where(supplier_lots.c.supplier_id.in_(ids_chunk))
        )
    for ids_chunk in _chunks(replaced["accreditations"], IN_CLAUSE_CHUNK):
        db.session.execute(
            sa.delete(Accreditation).where(Accreditation.supplier_id.in_(ids_chunk))
        )
    for ids_chunk in _chunks(replaced["commitments"], IN_CLAUSE_CHUNK):
        db.session.execute(sa.delete(Commitment).where(Commitment.supplier_id.in_(ids_chunk)))

    replaced_sets = {kind: set(ids) for kind, ids in replaced.items()}
    lot_links: list[tuple[int, int]] = []
    accreditations: list[tuple[int, str, dt.date | None]] = []
    commitments: list[tuple[int, str, float]] = []
    for supplier_id, row in children:
        new = row.target is None
        if row.lots and (new or supplier_id in replaced_sets["lots"]):
            lot_links.extend((supplier_id, lot_id) for lot_id in row.lots)
        if row.accreditations and (new or supplier_id in replaced_sets["accreditations"]):
            accreditations.extend(
                (supplier_id, name, expires) for name, expires in row.accreditations
            )
        if row.commitments and (new or supplier_id in replaced_sets["commitments"]):
            commitments.extend((supplier_id, code, qty) for code, qty in row.commitments)
    _insert_many(supplier_lots, ("supplier_id", "lot_id"), lot_links)
    _insert_many(Accreditation.__table__, ("supplier_id", "name", "expires_on"), accreditations)
    _insert_many(
        Commitment.__table__, ("supplier_id", "option_code", "quantity_per_million"), commitments
    )
    db.session.flush()
    # Bulk statements bypass the identity map: make loaded suppliers re-read what we wrote.
    db.session.expire_all()
