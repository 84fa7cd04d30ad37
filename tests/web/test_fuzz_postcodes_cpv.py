"""Fuzz tests (hypothesis) of the postcode parser and directory, and of CPV code parsing,
suggestions and the CPV list import.

Whatever text comes in, only the documented errors come out (``PostcodeFormatError`` and
``PostcodeNotFound``, both ``PostcodeError``; ``ValueError`` from ``normalise_cpv``; a
report, not an exception, from the CPV import), and every message is short, quotes at most
a bounded part of the input, and holds no control characters (they reach terminals and
pages). What is accepted comes back in its canonical ASCII form.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from matcher import normalise_cpv
from matcher.cpv import cpv_credit, significant
from web.extensions import db
from web.models import CpvCode
from web.postcodes import (
    PostcodeDirectory,
    PostcodeError,
    PostcodeFormatError,
    PostcodeNotFound,
    normalise_postcode,
)
from web.postcodes.errors import MAX_ECHO_CHARS
from web.postcodes.normalise import parse_postcode
from web.services.cpv import describe, import_cpv, suggest
from web.services.supplier_files import Table

# Pure functions take microseconds, so they get many examples; database ones fewer.
PURE = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
WITH_DB = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture,
                                          HealthCheck.too_slow])

MAX_MESSAGE_CHARS = 400  # the longest message: the postcode format hint plus a quote
CANONICAL_POSTCODE = re.compile(
    r"[A-Z]{1,2}[0-9][A-Z0-9]?( [0-9]([A-Z]{2})?)?|GIR 0AA"
)
CODE8 = re.compile(r"[0-9]{8}")
REAL_POSTCODES = ("L34 1AB", "SW1A 1AA", "M1 1AE", "CF10 1EP", "EH1 1YZ", "GIR 0AA")
HUGE_CHARS = 100_000

# ---------------------------------------------------------------------------------------
# Strategies

#: Single characters people never mean: controls (NUL, CR, ESC …), format characters
#: (bidi overrides, zero-width joiners, BOM), lone surrogates, private use, odd spaces,
#: digits of other scripts.
odd_chars = st.characters(categories=["Cc", "Cf", "Cs", "Co", "Zs", "Zl", "Zp", "Nd", "No"])
#: Long runs of one character (built by repetition: drawing 100k characters is slow).
huge_text = st.builds(
    operator.mul,
    st.sampled_from(["A", "1", "\x00", "L34 1AB ", "é", "\ud800", "\x1b[31m", "4532100"]),
    st.integers(1_000, HUGE_CHARS),
)
postcode_like = st.one_of(
    st.sampled_from(REAL_POSTCODES),
    st.from_regex(r"\A[A-Za-z]{1,2}[0-9][A-Za-z0-9]?[ \t]{0,2}[0-9]([A-Za-z]{2})?\Z"),
    st.from_regex(r"\A(BT|GY|JE|IM|ZZ|QQ)[0-9]{1,2} ?[0-9][A-Z]{2}\Z"),
)
cpv_like = st.one_of(
    st.from_regex(r"\A[0-9]{1,9}(-[0-9]{0,2})?\Z"),
    st.from_regex(r"\A\s*[0-9]{8}-[0-9]\s*\Z"),
    st.text(st.characters(categories=["Nd"]), min_size=2, max_size=9),  # ٤٥, ４５, …
)


def mixed(pieces: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Text made of ``pieces`` with odd characters and arbitrary text between them."""
    return st.lists(st.one_of(pieces, odd_chars, st.text(max_size=4)), max_size=6).map(
        "".join
    )


any_text = st.one_of(
    st.text(max_size=40),
    st.text(odd_chars, max_size=20),
    mixed(postcode_like),
    mixed(cpv_like),
    huge_text,
)
postcode_text = st.one_of(postcode_like, mixed(postcode_like), any_text)
cpv_text = st.one_of(cpv_like, mixed(cpv_like), any_text)


def assert_clean_message(message: str, given: Any) -> None:
    """``message`` is short, printable, and quotes a bounded part of ``given``."""
    assert 0 < len(message) <= MAX_MESSAGE_CHARS, len(message)
    assert all(ch.isprintable() for ch in message), ascii(message)
    if isinstance(given, str) and len(given) > 2 * MAX_ECHO_CHARS:
        assert given[: 2 * MAX_ECHO_CHARS] not in message


# ---------------------------------------------------------------------------------------
# Postcodes


@pytest.fixture(scope="module")
def directory(postcode_directory_path: Path) -> PostcodeDirectory:
    """The postcode directory built once for the test session (see tests/conftest.py)."""
    return PostcodeDirectory.open(postcode_directory_path)


@PURE
@given(text=postcode_text)
def test_parser_gives_the_canonical_form_or_a_format_error(text: str) -> None:
    try:
        parsed = parse_postcode(text)
    except PostcodeFormatError as error:
        assert_clean_message(str(error), text)
        return
    assert CANONICAL_POSTCODE.fullmatch(parsed.text), parsed.text
    assert parse_postcode(parsed.text) == parsed  # the canonical form reads as itself
    assert normalise_postcode(text) == parsed.text


@PURE
@given(text=postcode_text)
def test_lookup_finds_a_place_or_raises_a_postcode_error(
    directory: PostcodeDirectory, text: str
) -> None:
    try:
        found = directory.lookup(text)
    except PostcodeNotFound as error:
        event("not found")
        assert isinstance(error, PostcodeError)
        assert_clean_message(str(error), text)
        assert CANONICAL_POSTCODE.fullmatch(error.postcode)
        for suggestion in error.suggestions:  # every suggestion is a real one
            assert directory.lookup(suggestion).postcode == suggestion
        return
    except PostcodeFormatError as error:
        event("not a postcode")
        assert isinstance(error, PostcodeError)
        assert_clean_message(str(error), text)
        return
    event("found")
    assert CANONICAL_POSTCODE.fullmatch(found.postcode)
    assert 49 <= found.latitude <= 61 and -9 <= found.longitude <= 2.5  # Great Britain
    again = directory.lookup(found.postcode)
    assert (again.latitude, again.longitude) == (found.latitude, found.longitude)


@PURE
@given(value=st.one_of(st.none(), st.integers(), st.floats(), st.binary(max_size=20),
                       st.lists(st.text(max_size=5), max_size=3),
                       st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)))
def test_lookup_of_something_not_text_is_a_format_error(
    directory: PostcodeDirectory, value: Any
) -> None:
    with pytest.raises(PostcodeFormatError, match="expected text") as raised:
        directory.lookup(value)
    assert_clean_message(str(raised.value), value)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[31mL34", '"�[31mL34"'),
        ("L3\x004 1AB", '"L3�4 1AB"'),
        ("\u202eBA1 43L", '"�BA1 43L"'),  # a bidi override would reverse the message
        ("SW1A\r\n1AA!", '"SW1A��1AA!"'),
        ("X" * 30, '"' + "X" * MAX_ECHO_CHARS + '…"'),
    ],
)
def test_format_error_shows_unprintable_characters_as_replacements(
    text: str, shown: str
) -> None:
    # Regression: the message quoted the input as typed, so an escape sequence in a
    # postcode reached the page and the terminal (flask postcodes lookup) as it was.
    with pytest.raises(PostcodeFormatError) as raised:
        parse_postcode(text)
    assert str(raised.value).startswith(shown + " is not a valid postcode")
    assert raised.value.query == text  # the exception still carries what was given


# ---------------------------------------------------------------------------------------
# CPV codes


@PURE
@given(text=cpv_text)
def test_normalise_cpv_gives_eight_ascii_digits_or_a_value_error(text: str) -> None:
    try:
        code = normalise_cpv(text)
    except ValueError as error:
        event("not a code")
        assert type(error) is ValueError
        assert_clean_message(str(error), text)
        return
    event("a code")
    assert CODE8.fullmatch(code), ascii(code)
    assert normalise_cpv(code) == code
    assert normalise_cpv(f"{code}-0") == code
    credit, common = cpv_credit(code, code)
    assert (credit, common) == (1.0, len(significant(code)))


@PURE
@given(first=cpv_like, second=cpv_like)
def test_cpv_credit_is_between_0_and_1(first: str, second: str) -> None:
    try:
        a, b = normalise_cpv(first), normalise_cpv(second)
    except ValueError:
        return
    credit, common = cpv_credit(a, b)
    assert 0.0 <= credit <= 1.0 and 0 <= common <= 8


@pytest.mark.parametrize(
    ("text", "code"),
    [("４５３２１０００", "45321000"), ("٤٥٣٢", "45320000"), ("४५४२११५१-३", "45421151")],
)
def test_cpv_digits_of_other_scripts_read_as_ascii_digits(text: str, code: str) -> None:
    # Regression: "\d" matched them and normalise_cpv returned them as they were, so a
    # full-width code (typed with a Japanese input method) matched no supplier.
    assert normalise_cpv(text) == code


def test_cpv_error_quotes_a_bounded_part_of_the_input() -> None:
    # Regression: the message quoted the whole input, however long.
    with pytest.raises(ValueError) as raised:
        normalise_cpv("9" * 100_000)
    assert len(str(raised.value)) < 100


SMALL_LIST = (
    ("45000000", "Construction work"),
    ("45320000", "Insulation work"),
    ("45321000", "Thermal insulation work"),
    ("45421151", "Installation of fitted kitchens"),
    ("39141400", "Fitted kitchens"),
)


def _table(header: tuple[str, ...], rows: list[list[str]]) -> Table:
    return Table(header, [(number, cells) for number, cells in enumerate(rows, start=2)], "csv")


@pytest.fixture
def cpv_list(app_context: Flask) -> Iterator[Flask]:
    """A small CPV list, committed."""
    assert import_cpv(_table(("cpv8", "description_en"), [list(r) for r in SMALL_LIST]),
                      filename="cpv.csv").ok
    db.session.commit()
    yield app_context


def _stored_codes() -> dict[str, str]:
    return dict(db.session.execute(sa.select(CpvCode.code8, CpvCode.description)).all())


@WITH_DB
@given(text=cpv_text)
def test_suggest_and_describe_take_any_text(cpv_list: Flask, text: str) -> None:
    suggestions = suggest(text, limit=10, count_suppliers=True)
    assert len(suggestions) <= 10
    assert all(CODE8.fullmatch(s.code) and s.suppliers == 0 for s in suggestions)
    described = describe([text, *text.split()[:20]])
    assert set(described.values()) <= {description for _, description in SMALL_LIST}


cells = st.one_of(
    st.sampled_from(["45000000", "45000000-7", "45321000", "", "Roof work", "45000000-8"]),
    cpv_like, any_text,
)
#: A row both layouts read as valid: code, description, then a blank parent (tidy layout)
#: or a French description (the EU's layout, ignored).
valid_rows = st.tuples(
    st.from_regex(r"\A[0-9]{8}\Z"),
    st.sampled_from(["Roof work", "Thermal insulation work", "  Joinery\twork "]),
).map(lambda row: [*row, ""])


@st.composite
def cpv_files(draw: st.DrawFn) -> list[list[str]]:
    """Valid rows with, half the time, one row of junk among them."""
    rows = draw(st.lists(valid_rows, max_size=10, unique_by=lambda cells: cells[0]))
    if draw(st.booleans()):
        junk = draw(st.lists(cells, max_size=5))
        rows.insert(draw(st.integers(0, len(rows))), junk)
    return rows


@WITH_DB
@given(rows=cpv_files(), header=st.sampled_from([("cpv8", "description_en", "parent_cpv8"),
                                                  ("CODE", "EN", "FR")]))
def test_cpv_import_replaces_the_list_or_reports_and_changes_nothing(
    cpv_list: Flask, rows: list[list[str]], header: tuple[str, ...]
) -> None:
    before = _stored_codes()
    try:
        report = import_cpv(_table(header, rows), filename="cpv.csv")
        event("imported" if report.ok else "refused")
        if report.ok:
            stored = _stored_codes()
            assert len(stored) == report.imported > 0
            assert all(CODE8.fullmatch(code) for code in stored)
        else:
            assert _stored_codes() == before  # all or nothing
            assert report.imported == 0
            assert report.describe().endswith("nothing imported.")
            for problem in report.problems:
                assert 1 <= problem.row <= len(rows) + 1
                assert_clean_message(problem.message, None)
    finally:
        db.session.rollback()


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (["\x1b[2J45000000", "Roof"],
         "“�[2J45000000” is not an 8-digit CPV code, like 45000000"),
        (["4" * 5000, "Roof"], "“" + "4" * 20 + "…” is not an 8-digit CPV code, like 45000000"),
        (["45000000", "Roof", "x" * 5000],
         "the parent “" + "x" * 20 + "…” is not an 8-digit CPV code"),
    ],
)
def test_cpv_import_problems_quote_cells_briefly_and_printably(
    cpv_list: Flask, cells: list[str], message: str
) -> None:
    # Regression: problems quoted whole cells (up to the file's cell limit of 10,000
    # characters), control characters included, into the terminal.
    report = import_cpv(_table(("cpv8", "description_en", "parent_cpv8"), [cells]),
                        filename="cpv.csv")
    assert [str(p) for p in report.problems] == [f"Row 2: {message}"]
    assert _stored_codes() == dict(SMALL_LIST)
