"""The CPV 2008 list: importing the EU's file, suggesting codes, describing codes.

The list itself is not part of the product (it is the EU's data; each installation imports
its own copy with ``flask cpv import``). Two file layouts are recognised by their header,
ignoring case, in CSV or XLSX:

* the EU's own: ``CODE`` (with its check digit, e.g. ``45000000-7``) and ``EN`` (the English
  description), other language columns ignored;
* a tidy CSV: ``cpv8``, optional ``cpv_code`` (with check digit) and ``description_en``
  (``description`` also accepted), optional ``parent_cpv8``; other columns ignored.

The check digit cannot be recomputed: the EU's published digits do not follow the
algorithm its documentation describes (OP-TED/ePO discussion 589), so a check digit is only
checked for its form and for agreeing with the 8-digit code beside it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import sqlalchemy as sa

from matcher import normalise_cpv
from matcher.cpv import significant
from web.extensions import db
from web.models import CpvCode, Supplier
from web.services.supplier_fields import listed
from web.services.supplier_files import (
    ImportFileError,
    Source,
    Table,
    quote_cell,
    read_table,
)

__all__ = [
    "CpvImportReport",
    "CpvProblem",
    "CpvSuggestion",
    "ImportFileError",
    "cpv_count",
    "cpv_list_loaded",
    "describe",
    "import_cpv",
    "read_cpv_file",
    "suggest",
    "supplier_counts",
]

# ASCII digits only: the EU's list is written in them, and "\d" would take any script's.
CODE8_RE = re.compile(r"[0-9]{8}")
CODE_WITH_CHECK_RE = re.compile(r"([0-9]{8})-([0-9])")
WORD_RE = re.compile(r"[^\W_]+")
MIN_WORD_CHARS = 2  # shorter words in a query are ignored ("of", "a")
MAX_WORDS = 6  # words of a query used; more say nothing new
QUOTED_CELL_CHARS = 20  # characters of a bad code a problem quotes (a code is 8 to 10)
INSERT_BATCH = 1000  # rows per INSERT statement

# Header names (lower case) of each layout's columns.
_CODE8 = ("cpv8",)
_CODE_WITH_CHECK = ("cpv_code", "code")
_DESCRIPTION = ("description_en", "description", "en")
_PARENT = ("parent_cpv8",)
_KNOWN = {*_CODE8, *_CODE_WITH_CHECK, *_DESCRIPTION, *_PARENT}


@dataclass(frozen=True, slots=True)
class CpvProblem:
    """Why a row of the file was refused; ``row`` as a spreadsheet numbers it (header 1)."""

    row: int
    message: str

    def __str__(self) -> str:
        return f"Row {self.row}: {self.message}"


@dataclass(slots=True)
class CpvImportReport:
    """What :func:`import_cpv` did: nothing at all when there are problems."""

    filename: str
    layout: str = ""  # the columns read, e.g. "CODE, EN" or "cpv8, cpv_code, description_en"
    read: int = 0  # data rows read
    imported: int = 0  # codes in the table afterwards (0 when refused)
    replaced: int = 0  # codes the table held before
    problems: list[CpvProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        """One line for the command line."""
        if not self.ok:
            return (f"{self.filename}: {len(self.problems)} "
                    f"{'problem' if len(self.problems) == 1 else 'problems'} in "
                    f"{self.read} rows; nothing imported.")
        return (f"{self.filename} ({self.layout}): imported {self.imported} CPV codes, "
                f"replacing {self.replaced}.")


class CpvSuggestion(NamedTuple):
    """A suggested code; ``suppliers`` (active suppliers holding it or a code below it) is
    None unless asked for."""

    code: str
    description: str
    suppliers: int | None = None


# ---------------------------------------------------------------------------------------
# Import


def _header_score(header: Sequence[str]) -> int:
    return sum(1 for name in header if name.strip().lower() in _KNOWN)


def _column(header: Sequence[str], names: tuple[str, ...]) -> int | None:
    lowered = [name.strip().lower() for name in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


def read_cpv_file(path: Source, *, filename: str) -> Table:
    """Read a CPV file (for a progress bar's row count), to pass to :func:`import_cpv`.

    :raise ImportFileError: when the file cannot be read.
    """
    return read_table(path, filename=filename, header_score=_header_score)


def import_cpv(
    path: Source | Table,
    *,
    filename: str | None = None,
    progress: Callable[[int], object] | None = None,
) -> CpvImportReport:
    """Replace the CPV list with the codes in the file at ``path`` (CSV or XLSX).

    Every row is checked first: an 8-digit code, a check digit (if given) of the form
    ``NNNNNNNN-D`` agreeing with the 8-digit code, a description, no code twice. Any problem
    means nothing is written and the report lists each, with its row number. ``path`` may
    be a table already read with :func:`read_cpv_file`. Otherwise the
    table's rows are deleted and the file's inserted in the session's transaction, flushed,
    not committed (the caller commits). ``progress`` is called with a number of rows done.

    :raise ImportFileError: when the file cannot be read or its header is not recognised.
    """
    name = filename or (Path(path).name if isinstance(path, str | Path) else "CPV file")
    table = path if isinstance(path, Table) else read_cpv_file(path, filename=name)
    report = CpvImportReport(filename=name, read=len(table.rows))

    code8_col = _column(table.header, _CODE8)
    check_col = _column(table.header, _CODE_WITH_CHECK)
    description_col = _column(table.header, _DESCRIPTION)
    parent_col = _column(table.header, _PARENT)
    if (code8_col is None and check_col is None) or description_col is None:
        raise ImportFileError(
            f"{name}: the header must name a code column (CODE, or cpv8 and cpv_code) and "
            "an English description column (EN, or description_en); found: "
            + listed([h for h in table.header if h.strip()])
        )
    report.layout = ", ".join(table.header[i].strip() for i in
                              (code8_col, check_col, description_col) if i is not None)

    def cell(cells: list[str], column: int | None) -> str:
        return cells[column].strip() if column is not None and column < len(cells) else ""

    rows: dict[str, dict[str, object]] = {}
    given_parents: dict[str, tuple[int, str]] = {}
    first_row: dict[str, int] = {}
    for number, cells in table.rows:
        problems: list[str] = []
        code8 = cell(cells, code8_col)
        with_check = cell(cells, check_col)
        if code8_col is None and CODE8_RE.fullmatch(with_check):
            code8, with_check = with_check, ""  # a CODE column without check digits
        description = " ".join(cell(cells, description_col).split())
        match = CODE_WITH_CHECK_RE.fullmatch(with_check) if with_check else None
        if with_check and match is None:
            problems.append(f"“{quote_cell(with_check, QUOTED_CELL_CHARS)}” is not a CPV code "
                            "with its check digit, like 45000000-7")
        if code8_col is None:
            code8 = match.group(1) if match else code8
            if not with_check and not code8:
                problems.append("the code is missing")
        elif not code8:
            problems.append("the code is missing")
        elif not CODE8_RE.fullmatch(code8):
            problems.append(f"“{quote_cell(code8, QUOTED_CELL_CHARS)}” is not an 8-digit CPV "
                            "code, like 45000000")
        elif match and match.group(1) != code8:
            problems.append(f"the check-digit code {with_check} does not match {code8}")
        if not description:
            problems.append("the description is missing")
        if code8 and CODE8_RE.fullmatch(code8):
            if code8 in first_row:
                problems.append(f"{code8} is also on row {first_row[code8]}")
            else:
                first_row[code8] = number
        parent = cell(cells, parent_col)
        if parent and not CODE8_RE.fullmatch(parent):
            problems.append(f"the parent “{quote_cell(parent, QUOTED_CELL_CHARS)}” is not an "
                            "8-digit CPV code")
        report.problems.extend(CpvProblem(number, message) for message in problems)
        if not problems:
            rows[code8] = {
                "code8": code8,
                "code_with_check": with_check or None,
                "description": description,
                "level": len(significant(code8)) - 1,
                "parent": None,
            }
            if parent:
                given_parents[code8] = (number, parent)
        if progress is not None:
            progress(1)

    for number, parent in given_parents.values():
        if parent not in rows and parent not in first_row:
            report.problems.append(CpvProblem(number, f"the parent {parent} is not in the file"))
    if not table.rows:
        report.problems.append(CpvProblem(1, "the file holds no CPV codes"))
    if report.problems:
        report.problems.sort(key=lambda problem: problem.row)
        return report

    for code8, values in rows.items():
        given = given_parents.get(code8)
        values["parent"] = given[1] if given else _nearest_parent(code8, rows)

    report.replaced = db.session.scalar(sa.select(sa.func.count()).select_from(CpvCode)) or 0
    db.session.execute(sa.delete(CpvCode))
    values_list = list(rows.values())
    for start in range(0, len(values_list), INSERT_BATCH):
        db.session.execute(sa.insert(CpvCode), values_list[start:start + INSERT_BATCH])
    db.session.flush()
    report.imported = len(values_list)
    return report


def _nearest_parent(code8: str, codes: dict[str, object]) -> str | None:
    """The nearest broader code of ``code8`` in ``codes`` (one significant digit fewer
    at a time), or None for a division or an orphan."""
    digits = significant(code8)
    for length in range(len(digits) - 1, 1, -1):
        candidate = digits[:length].ljust(8, "0")
        if candidate in codes:
            return candidate
    return None


# ---------------------------------------------------------------------------------------
# Reading


def cpv_list_loaded() -> bool:
    """Whether a CPV list has been imported (one indexed row read, not a count)."""
    return db.session.scalar(sa.select(CpvCode.code8).limit(1)) is not None


def cpv_count() -> int:
    """Number of codes in the CPV list (0 until a file is imported)."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(CpvCode)) or 0


def suggest(
    prefix_or_words: str, limit: int = 10, *, count_suppliers: bool = False
) -> list[CpvSuggestion]:
    """Codes for what a person is typing: a code prefix, or words of a description.

    Digits (with spaces or a check-digit dash) are a code prefix: codes starting with them,
    in code order, so the broader codes come first. Anything with letters is words: codes
    whose description has every word (case-insensitive; a number narrows the code): first
    those where each word starts a word of the description, then those starting with the
    first word, then broader codes, then shorter descriptions.
    """
    text = prefix_or_words.strip()
    if not text or limit <= 0:
        return []
    if re.fullmatch(r"[\d\s-]+", text):
        digits = "".join(ch for ch in text.split("-")[0] if ch.isdigit())[:8]
        rows = _by_prefix(digits, limit) if digits else []
    else:
        rows = _by_words(text, limit)
    suggestions = [CpvSuggestion(code, description) for code, description in rows]
    if count_suppliers and suggestions:
        counts = supplier_counts(s.code for s in suggestions)
        suggestions = [s._replace(suppliers=counts.get(s.code, 0)) for s in suggestions]
    return suggestions


def _by_prefix(digits: str, limit: int) -> list[tuple[str, str]]:
    # A range on the primary key rather than LIKE: uses the index on SQLite and PostgreSQL.
    low, high = digits.ljust(8, "0"), digits.ljust(8, "9")
    return [
        (row.code8, row.description)
        for row in db.session.execute(
            sa.select(CpvCode.code8, CpvCode.description)
            .where(CpvCode.code8.between(low, high))
            .order_by(CpvCode.code8).limit(limit)
        )
    ]


def _by_words(text: str, limit: int) -> list[tuple[str, str]]:
    words = [w.casefold() for w in WORD_RE.findall(text)]
    prefixes = [w for w in words if w.isdigit()][:1]
    words = [w for w in words if not w.isdigit() and len(w) >= MIN_WORD_CHARS][:MAX_WORDS]
    if not words:
        return []
    # The words are letters and digits only, so they hold no LIKE wildcard to escape.
    # SQLite's LIKE ignores ASCII case already (ILIKE would add a slower lower() per row).
    column = CpvCode.description
    sqlite = db.session.get_bind().dialect.name == "sqlite"
    query = sa.select(CpvCode.code8, CpvCode.description, CpvCode.level).where(
        *((column.like if sqlite else column.ilike)(f"%{word}%") for word in words)
    )
    if prefixes:
        query = query.where(CpvCode.code8.startswith(prefixes[0][:8]))
    starts = [re.compile(rf"(?<![^\W_]){re.escape(word)}", re.IGNORECASE) for word in words]
    first = starts[0]
    ranked = sorted(
        db.session.execute(query),
        key=lambda row: (not all(s.search(row.description) for s in starts),
                         first.match(row.description) is None,
                         row.level, len(row.description), row.code8),
    )
    return [(row.code8, row.description) for row in ranked[:limit]]


def describe(codes: Iterable[str]) -> dict[str, str]:
    """Descriptions of ``codes`` from the CPV list, keyed by each code as given.

    Codes may carry a check digit or be short ("4542"); codes not in the list, or not CPV
    codes at all, are left out (so all of them are, until a list is imported).
    """
    wanted: dict[str, str] = {}
    for code in codes:
        try:
            wanted[str(code)] = normalise_cpv(str(code))
        except ValueError:
            continue
    if not wanted:
        return {}
    found = {
        code8: description
        for code8, description in db.session.execute(
            sa.select(CpvCode.code8, CpvCode.description)
            .where(CpvCode.code8.in_(set(wanted.values())))
        )
    }
    return {given: found[code8] for given, code8 in wanted.items() if code8 in found}


def supplier_counts(codes: Iterable[str]) -> dict[str, int]:
    """For each 8-digit code, the active suppliers holding it or a code below it (what the
    engine counts as a full CPV match for a need with that code).

    Reads every active supplier's codes: fine for a register of a few thousand.
    """
    wanted = {code: significant(code) for code in codes}
    stems = set(wanted.values())
    lengths = sorted({len(stem) for stem in stems})
    per_stem: Counter[str] = Counter()
    for held in db.session.scalars(
        sa.select(Supplier.cpv_codes).where(Supplier.active.is_(True))
    ):
        if held:
            # Each supplier once per stem, however many of its codes fall below it.
            per_stem.update({str(code)[:n] for code in held for n in lengths} & stems)
    return {code: per_stem[stem] for code, stem in wanted.items()}
