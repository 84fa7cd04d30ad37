"""Reading supplier spreadsheets (CSV and XLSX) safely, within documented limits.

A file is read whole into a :class:`Table` of text cells before any row is validated: the
import is all-or-nothing, so every row has to be seen before anything is written, and the
limits below keep that affordable. Anything wrong with the file as a whole (too big, not a
workbook, not text, no header) raises :class:`ImportFileError` with a message for the user;
problems with single rows are the importer's business, not this module's.

CSV: UTF-8 (with or without a byte-order mark) or Windows-1252 (what Excel on Windows saves
as "CSV"); the delimiter is comma, semicolon or tab, whichever makes the most sense of the
header row. XLSX: the first worksheet, read in openpyxl's streaming mode after checking the
zip container, so a zip bomb is refused before it is expanded.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

MAX_FILE_BYTES = 50 * 1024 * 1024  # bytes: largest file accepted (about 300k typical rows)
MAX_ROWS = 1_000_000  # data rows, not counting the header
MAX_CELL_CHARS = 10_000  # characters in one cell; a description longer than this is a mistake
MAX_COLUMNS = 200  # columns in the header row
# XLSX is a zip: refuse one that would expand past this much XML (the sheet is parsed as it
# streams, but shared strings are held in memory) ...
MAX_XLSX_UNCOMPRESSED_BYTES = 1024 * 1024 * 1024  # bytes
# ... or that expands suspiciously far. Real sheets compress 5-20x; a zip bomb 1000x or more.
MAX_XLSX_COMPRESSION_RATIO = 100  # uncompressed size / compressed size
XLSX_RATIO_CHECK_FROM_BYTES = 10 * 1024 * 1024  # bytes uncompressed; tiny files are exempt

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
CSV_DELIMITERS = (",", ";", "\t")
_LINE_BREAK_RE = re.compile(r"\r\n?|\n")  # CRLF (Windows), LF, or CR alone (old Macs)
# The encodings we accept, in the order tried. cp1252 decodes almost any byte string, so it
# comes last: UTF-8 is strict and a wrong guess fails loudly instead of garbling "£".
CSV_ENCODINGS = ("utf-8-sig", "cp1252")
SNIFF_SAMPLE_CHARS = 64 * 1024  # characters given to csv.Sniffer when the header is no help

# Room for our own cell limit to apply first; the csv module's default is 128 KiB.
csv.field_size_limit(max(csv.field_size_limit(), 16 * MAX_CELL_CHARS))

MAX_QUOTED_CHARS = 40  # characters of a cell a message quotes; the row number finds the rest
# Shown for each unprintable character of a quoted cell (a control character such as ESC,
# a bidi override): messages reach terminals and pages, which must not act on them.
UNPRINTABLE_SHOWN_AS = "\ufffd"

Source = str | os.PathLike[str] | IO[bytes] | bytes


class ImportFileError(ValueError):
    """The file as a whole cannot be imported; ``str(error)`` is a message for the user."""


def quote_cell(text: str, limit: int = MAX_QUOTED_CHARS) -> str:
    """The start of ``text`` (a cell, or anything else a user typed or uploaded) as a message
    quotes it: unprintable characters replaced, at most ``limit`` characters, then "…".
    Every message that echoes user text (imports, postcodes, CPV codes) quotes it so."""
    shown = "".join(ch if ch.isprintable() else UNPRINTABLE_SHOWN_AS for ch in text[:limit])
    return shown if len(text) <= limit else f"{shown}…"


@dataclass(frozen=True, slots=True)
class Table:
    """A spreadsheet read into text cells.

    ``rows`` holds ``(row number, cells)`` with the row number as a spreadsheet shows it
    (the header is row 1). Rows with no text at all are left out. ``notes`` are facts about
    the file a user may want to know (e.g. "read as Windows-1252").
    """

    header: tuple[str, ...]
    rows: list[tuple[int, list[str]]]
    format: str  # "csv" or "xlsx"
    notes: tuple[str, ...] = field(default=())


def read_table(
    source: Source, *, filename: str, header_score: Callable[[Sequence[str]], int] | None = None
) -> Table:
    """Read a CSV or XLSX file (chosen by ``filename``'s extension) into a :class:`Table`.

    ``header_score`` rates a candidate header row (e.g. the number of recognised column
    names); it picks the CSV delimiter. Without it the delimiter is sniffed.

    :raise ImportFileError: when the file is too big, of an unsupported type, not readable
        as text or as a workbook, has no header row or too many rows.
    """
    suffix = Path(filename).suffix.lower()
    if suffix == ".xls":
        raise ImportFileError(
            f"{filename} is an old-style Excel file (.xls). Save it as .xlsx or CSV and try again."
        )
    if suffix not in CSV_SUFFIXES + XLSX_SUFFIXES:
        raise ImportFileError(
            f"{filename} is not a supported file type: use a .csv or .xlsx file."
        )
    data = _read_bytes(source, filename)
    if suffix in XLSX_SUFFIXES:
        return _read_xlsx(data, filename)
    return _read_csv(data, filename, header_score)


def _read_bytes(source: Source, filename: str) -> bytes:
    """The file's bytes, refusing anything over :data:`MAX_FILE_BYTES`."""
    if isinstance(source, bytes):
        data = source
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            size = path.stat().st_size
        except OSError as error:
            raise ImportFileError(f"Cannot read {filename}: {error.strerror}.") from None
        if size > MAX_FILE_BYTES:
            raise ImportFileError(_too_big(filename, size))
        data = path.read_bytes()
    else:
        # One byte over the limit is enough to know the file is too big.
        data = source.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ImportFileError(_too_big(filename, len(data)))
    return data


def _too_big(filename: str, size: int) -> str:
    limit_mb = MAX_FILE_BYTES // (1024 * 1024)
    if size > MAX_FILE_BYTES + 1:
        return (
            f"{filename} is too large ({size / 1024 / 1024:.0f} MB); the limit is {limit_mb} MB. "
            "Split it into smaller files."
        )
    return f"{filename} is too large; the limit is {limit_mb} MB. Split it into smaller files."


# --- CSV -----------------------------------------------------------------------------------


def _decode(data: bytes, filename: str) -> tuple[str, str]:
    for encoding in CSV_ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise ImportFileError(
        f"{filename} is not a text file in UTF-8 or Windows-1252: "
        "save it from your spreadsheet as “CSV UTF-8” and try again."
    )


def _pick_delimiter(
    text: str, header_score: Callable[[Sequence[str]], int] | None
) -> str:
    # The header row is the most reliable evidence: data cells often hold ";" (our own list
    # separator) and "," (in descriptions), which can mislead csv.Sniffer on the body. A
    # line may end in CR alone (Excel for Mac's "CSV (Macintosh)"), which the csv module
    # refuses inside a line.
    first_line = _LINE_BREAK_RE.split(text, maxsplit=1)[0]
    if header_score is not None:
        scored = [
            (header_score(next(csv.reader([first_line], delimiter=d), [])), d)
            for d in CSV_DELIMITERS
        ]
        best_score, best = max(scored, key=lambda item: item[0])
        if best_score > 0:
            return best
    try:
        dialect = csv.Sniffer().sniff(text[:SNIFF_SAMPLE_CHARS], delimiters="".join(CSV_DELIMITERS))
    except csv.Error:
        return ","
    return dialect.delimiter


def _read_csv(
    data: bytes, filename: str, header_score: Callable[[Sequence[str]], int] | None
) -> Table:
    if b"\x00" in data:
        raise ImportFileError(
            f"{filename} contains NUL bytes, so it is not a CSV text file "
            "(is it a spreadsheet saved with the wrong extension?)."
        )
    text, encoding = _decode(data, filename)
    if not text.strip():
        raise ImportFileError(f"{filename} is empty.")
    delimiter = _pick_delimiter(text, header_score)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header, rows = _header_and_rows(reader, filename)
    except csv.Error as error:
        raise ImportFileError(
            f"{filename}: cannot read row {reader.line_num}: {error}."
        ) from None
    assert header is not None  # the text is not blank, so there is a first row
    notes = ("read as Windows-1252 (not UTF-8)",) if encoding == "cp1252" else ()
    return Table(_check_header(header, filename), rows, "csv", notes)


# --- XLSX ----------------------------------------------------------------------------------


def _check_zip(data: bytes, filename: str) -> None:
    """Refuse a file that is not a zip holding a workbook, or that would expand too far."""
    not_a_workbook = (
        f"{filename} is not a valid Excel workbook (.xlsx). "
        "Open it in your spreadsheet and save it as .xlsx or CSV."
    )
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ImportFileError(not_a_workbook)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ImportFileError(not_a_workbook) from None
    names = {info.filename for info in infos}
    if "xl/workbook.xml" not in names:
        raise ImportFileError(not_a_workbook)
    uncompressed = sum(info.file_size for info in infos)
    compressed = sum(info.compress_size for info in infos) or 1
    too_far = (
        f"{filename} expands to more data than this service will read "
        f"({uncompressed / 1024 / 1024:.0f} MB uncompressed); split it into smaller files."
    )
    if uncompressed > MAX_XLSX_UNCOMPRESSED_BYTES:
        raise ImportFileError(too_far)
    if (
        uncompressed > XLSX_RATIO_CHECK_FROM_BYTES
        and uncompressed / compressed > MAX_XLSX_COMPRESSION_RATIO
    ):
        raise ImportFileError(too_far)


def _cell_text(value: Any) -> str:
    """A cell value as the text a user would type for it."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # 25.0 typed as 25 comes back as a float; show it the way it was typed.
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _read_xlsx(data: bytes, filename: str) -> Table:
    _check_zip(data, filename)
    # Imported here: openpyxl takes a noticeable time to import and CSV users never need it.
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(
            io.BytesIO(data), read_only=True, data_only=True, keep_links=False
        )
    # Not only its own InvalidFileException: a damaged zip member raises zlib.error, XML
    # that is not well-formed ParseError, a part of the wrong shape KeyError or TypeError.
    except Exception:
        raise ImportFileError(
            f"{filename} is not a valid Excel workbook (.xlsx). "
            "Open it in your spreadsheet and save it as .xlsx or CSV."
        ) from None
    try:
        if not workbook.worksheets:
            raise ImportFileError(f"{filename} has no worksheets.")
        sheet = workbook.worksheets[0]
        notes: tuple[str, ...] = ()
        if len(workbook.worksheets) > 1:
            notes = (f"only the first worksheet ({sheet.title!r}) was read",)
        header, rows = _header_and_rows(
            ([_cell_text(value) for value in values]
             for values in sheet.iter_rows(values_only=True)),
            filename,
        )
    except ImportFileError:
        raise
    except Exception as error:  # openpyxl raises many types on malformed sheet XML
        raise ImportFileError(
            f"{filename} is not a valid Excel workbook (.xlsx): its sheet cannot be read "
            f"({type(error).__name__})."
        ) from None
    finally:
        workbook.close()
    if header is None:
        raise ImportFileError(f"{filename} is empty.")
    # Trailing formatted-but-empty columns come back as empty cells; drop them.
    while header and not header[-1].strip():
        header.pop()
    return Table(_check_header(header, filename), rows, "xlsx", notes)


# --- shared --------------------------------------------------------------------------------


def _header_and_rows(
    lines: Iterable[list[str]], filename: str
) -> tuple[list[str] | None, list[tuple[int, list[str]]]]:
    """The first row as the header, then every non-blank row with its number as the user
    sees it (header = 1); the header is None when there are no rows at all.

    :raise ImportFileError: a blank first row, or too many rows.
    """
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    for number, cells in enumerate(lines, start=1):
        if header is None:
            if not any(cell.strip() for cell in cells):
                raise ImportFileError(
                    f"{filename}: row 1 is blank; the first row must hold the column names."
                )
            header = cells
            continue
        if "".join(cells).strip():
            rows.append((number, cells))
            _check_row_count(len(rows), filename)
    return header, rows


def _check_row_count(count: int, filename: str) -> None:
    if count > MAX_ROWS:
        raise ImportFileError(
            f"{filename} has more than {MAX_ROWS:,} rows; split it into smaller files."
        )


def _check_header(header: list[str], filename: str) -> tuple[str, ...]:
    if len(header) > MAX_COLUMNS:
        raise ImportFileError(
            f"{filename} has {len(header)} columns; the limit is {MAX_COLUMNS}."
        )
    for cell in header:
        if len(cell) > MAX_CELL_CHARS:
            raise ImportFileError(f"{filename}: a column name in row 1 is far too long.")
    return tuple(cell.strip().lstrip("\ufeff") for cell in header)
