"""Fuzz tests (hypothesis) of the supplier import: the importer itself, ``flask suppliers
import`` and the admin upload page.

Generated CSV bytes (random bytes, mixed encodings, valid files cut at any byte, NULs,
huge cells, rows of the wrong width, odd headings), XLSX files that are truncated zips or
random bytes, a zip bomb, a zip that lies about its sizes, an entity bomb and sheet XML that
is not well-formed. Each is answered by a report or :class:`ImportFileError`, with short,
printable messages; no other exception. A refused import leaves the register (suppliers,
their lots, accreditations and commitments, the data version) and the audit trail as they
were: all or nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import operator
import re
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.factories import make_user
from web.extensions import db
from web.models import (
    Accreditation,
    AuditEvent,
    Commitment,
    Framework,
    Lot,
    Role,
    SocialValueCatalogue,
    SocialValueOption,
    Supplier,
    supplier_lots,
)
from web.postcodes import PostcodeDirectory
from web.services import supplier_files
from web.services.suppliers_import import COLUMNS, ImportFileError, ImportReport, import_suppliers
from web.services.versions import current_version

FUZZ = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.large_base_example])
FEW = settings(FUZZ, max_examples=25)  # through the CLI and the upload page: slower
MAX_MESSAGE_CHARS = 1000  # a reason or an error: a short paragraph (it may list the columns)
BIG_CELL = supplier_files.MAX_CELL_CHARS + 1
VALID_HEADER = ("external_id", "name", "postcode", "lots", "sme", "accreditations",
                "social_value", "cpv_codes", "min_contract_value", "email")
VALID_ROWS = [
    ("S1", "Acme Retrofit Ltd", "L34 1AB", "L1", "yes", "CHAS:2099-03-31", "APPR:2",
     "45321000", "£10,000", "bids@acme.example"),
    ("S2", "Bravo Roofing Ltd", "M1 1AE", "L1; L2", "no", "", "", "45261000-3", "",
     ""),
    ("S3", "Charlie Glazing Ltd", "CF10 1EP", "", "y", "TrustMark", "APPR", "", "25000",
     "c@charlie.example"),
]


# ---------------------------------------------------------------------------------------
# The register before each import, and what a refusal must leave as it was


@pytest.fixture(scope="module")
def directory(postcode_directory_path: Path) -> PostcodeDirectory:
    """The postcode directory built once for the test session (see tests/conftest.py)."""
    return PostcodeDirectory.open(postcode_directory_path)


@pytest.fixture
def register(app: Flask, directory: PostcodeDirectory) -> Iterator[Flask]:
    """An app context with lots L1 and L2, a catalogue (option APPR) and two of
    :data:`VALID_ROWS`' suppliers already imported, committed."""
    with app.app_context():
        framework = Framework(code="RETRO", name="Retrofit")
        framework.lots = [Lot(code="L1", name="Lot 1"), Lot(code="L2", name="Lot 2")]
        catalogue = SocialValueCatalogue(version="2025.1", published_on=dt.date(2025, 1, 1),
                                         is_current=True)
        catalogue.options = [SocialValueOption(
            theme_code="JOBS", code="APPR", title="Apprenticeships", measure="weeks",
            unit="week", proxy_gbp_per_unit=100.0, source="test")]
        db.session.add_all([framework, catalogue])
        report = import_suppliers(csv_bytes(VALID_HEADER, VALID_ROWS[:2]), filename="s.csv",
                                  directory=directory)
        assert report.written and report.imported == 2, report
        db.session.commit()
        yield app
        db.session.rollback()


def snapshot() -> tuple[Any, ...]:
    """Everything an import may change, as read in the current session (flushed rows
    included): suppliers and their lists, audit events and the data version."""
    db.session.expire_all()

    def rows(*columns: Any) -> list[tuple[Any, ...]]:
        # PostgreSQL cannot order by a JSON column; the others order every table.
        order = [c for c in columns if not isinstance(c.type, sa.JSON)]
        return [tuple(row) for row in db.session.execute(sa.select(*columns).order_by(*order))]

    return (
        rows(*Supplier.__table__.columns),
        rows(supplier_lots.c.supplier_id, supplier_lots.c.lot_id),
        rows(Accreditation.supplier_id, Accreditation.name, Accreditation.expires_on),
        rows(Commitment.supplier_id, Commitment.option_code, Commitment.quantity_per_million),
        rows(AuditEvent.id),
        current_version(),
    )


def assert_clean_message(message: str) -> None:
    assert 0 < len(message) <= MAX_MESSAGE_CHARS, (len(message), message[:200])
    assert all(ch.isprintable() for ch in message), ascii(message[:300])


def assert_report_is_clear(report: ImportReport) -> None:
    """Totals add up, every problem names a row of the file, messages are clean."""
    assert report.read == report.imported + report.updated + report.unchanged + report.rejected
    for item in (*report.problems, *report.warnings):
        assert 1 <= item.row
        assert_clean_message(item.reason)
        assert_clean_message(str(item))
    assert report.rejected == len({p.row for p in report.problems})


def run_import(data: bytes, filename: str, directory: PostcodeDirectory) -> None:
    """Import ``data``: a refusal (an error, or rejected rows) must change nothing, and an
    import that writes must say so. Rolled back afterwards, for the next example."""
    before = snapshot()
    try:
        report = import_suppliers(data, filename=filename, directory=directory)
    except ImportFileError as error:
        event("file refused")
        assert_clean_message(str(error))
        assert snapshot() == before
        return
    try:
        assert_report_is_clear(report)
        if report.rejected:
            event("rows rejected")
            assert report.aborted and not report.written
            assert snapshot() == before
        elif report.written:
            event("written")
            assert report.imported + report.updated > 0
        else:
            event("nothing to change")
            assert snapshot() == before
    finally:
        db.session.rollback()


# ---------------------------------------------------------------------------------------
# Generated files


def csv_bytes(header: tuple[str, ...] | list[str], rows: list[Any], *, delimiter: str = ",",
              encoding: str = "utf-8") -> bytes:
    """``rows`` under ``header`` as CSV bytes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding, "replace")


#: Cells nobody means: controls (ESC, CR, DEL, not NUL: see nul_bytes), bidi overrides,
#: private use, odd spaces, digits of other scripts.
odd_text = st.text(st.characters(categories=["Cc", "Cf", "Co", "Zs", "Zl", "Zp", "Nd"],
                                 exclude_characters="\x00"), min_size=1, max_size=8)
cells = st.one_of(
    st.sampled_from(["", "yes", "maybe", "L1", "L9", "L1; L1; l2", "APPR:-1", "APPR:NaN",
                     "NOPE:1", "CHAS:2026-02-30", "CHAS:", ":2027-01-01", "1e309", "-5", "inf",
                     "nan", "£1,000,000", "٣٤", "45321000;4532", "4532100٠", "not@an@email",
                     "SW1A 1ZZ", "BT1 1AA", "ZZ99 9ZZ", "L34", "L34 1", "=1+1", '"quoted"',
                     "a\nb", "a\r\nb", "a,b;c\td", "\ufeffS1", "S1", "S2", "01234567"]),
    st.text(max_size=20), odd_text,
    st.builds(operator.mul, st.sampled_from(["x", "é", "\x1b", "S", " "]),
              st.integers(BIG_CELL - 5, BIG_CELL + 5)),
)
headings = st.one_of(st.sampled_from(COLUMNS), st.sampled_from(
    ["External ID", "Post code", "supplier", "id", "reason", "", " ", "lat", "lon", "x"]),
    odd_text, st.text(max_size=10))


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """A supplier CSV: valid rows with odd cells put in, or a header of real, aliased,
    repeated and odd headings over rows of odd cells, too short or too long; in one of
    several encodings and delimiters; sometimes cut at a random byte, or with a NUL or
    random bytes put in; now and then random bytes alone."""
    kind = draw(st.sampled_from(["valid", "valid", "valid", "odd", "odd", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "valid":
        header: list[str] = list(VALID_HEADER)
        rows: list[list[str]] = [list(row) for row in draw(
            st.lists(st.sampled_from(VALID_ROWS), min_size=1, max_size=3, unique=True))]
        for row in rows:
            for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
                row[draw(st.integers(0, len(row) - 1))] = draw(cells)
    else:  # the columns an import needs, among others, in any order
        header = draw(st.permutations(
            ["external_id", "name", "postcode", *draw(st.lists(headings, max_size=5))]))
        rows = draw(st.lists(st.lists(cells, max_size=len(header) + 2), max_size=5))
    data = csv_bytes(header, rows, delimiter=draw(st.sampled_from([",", ";", "\t", "|"])),
                     encoding=draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig",
                                                    "cp1252", "latin-1", "utf-16"])))
    how = draw(st.sampled_from(["as is"] * 5 + ["cut", "nul", "bytes"]))
    if how == "cut" and data:
        data = data[:draw(st.integers(0, len(data) - 1))]
    elif how == "nul":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + b"\x00" + data[at:]
    elif how == "bytes":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    return data


def workbook(rows: list[tuple[Any, ...]]) -> bytes:
    """An XLSX workbook holding ``rows``, as bytes."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


GOOD_XLSX = workbook([VALID_HEADER, VALID_ROWS[2]])


def replace_member(data: bytes, name: str, content: bytes, *,
                   compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """The zip ``data`` with member ``name``'s content replaced."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, \
            zipfile.ZipFile(out, "w", compression=compression) as target:
        for info in source.infolist():
            target.writestr(info.filename,
                            content if info.filename == name else source.read(info.filename))
    return out.getvalue()


SHEET = "xl/worksheets/sheet1.xml"
SHEET_XML = zipfile.ZipFile(io.BytesIO(GOOD_XLSX)).read(SHEET)


def zip_bomb() -> bytes:
    """A workbook whose sheet expands to about 20 MB from a few kilobytes: above the
    ratio check's threshold and its ratio."""
    filler = b"<row>" + b"<c><v>0</v></c>" * 1000 + b"</row>"
    size = 2 * supplier_files.XLSX_RATIO_CHECK_FROM_BYTES
    sheet = SHEET_XML.replace(b"</sheetData>", filler * (size // len(filler)) + b"</sheetData>")
    return replace_member(GOOD_XLSX, SHEET, sheet)


def lying_sizes(data: bytes, claimed: int) -> bytes:
    """``data`` (a zip) with every central directory entry claiming ``claimed`` bytes
    uncompressed (the local headers and the data are left as they are)."""
    out = bytearray(data)
    at = out.find(b"PK\x01\x02")
    while at >= 0:
        struct.pack_into("<I", out, at + 24, claimed)  # uncompressed size
        at = out.find(b"PK\x01\x02", at + 4)
    return bytes(out)


ENTITY_BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY a "aaaaaaaaaa">'
    + b"".join(b'<!ENTITY %c "%s">' % (98 + i, (b"&%c;" % (97 + i)) * 10) for i in range(9))
    + b"]>" + SHEET_XML.split(b"?>", 1)[-1].replace(b"Charlie Glazing Ltd", b"&j;")
)
BAD_XLSX = {
    "random bytes": b"\x8b\x00\xffnot a zip at all",
    "a CSV named .xlsx": csv_bytes(VALID_HEADER, VALID_ROWS),
    "empty": b"",
    "a zip of something else": replace_member(GOOD_XLSX, "xl/workbook.xml", b"<workbook/>")
    .replace(b"xl/workbook.xml", b"xl/notebook.xml"),
    "sheet XML not well-formed": replace_member(GOOD_XLSX, SHEET, SHEET_XML[:-40] + b"<c><v>"),
    "sheet XML of another shape": replace_member(GOOD_XLSX, SHEET, b"<worksheet><x/></worksheet>"),
    "sheet XML with an entity bomb": replace_member(GOOD_XLSX, SHEET, ENTITY_BOMB),
    "workbook XML not well-formed": replace_member(GOOD_XLSX, "xl/workbook.xml", b"<workbook"),
    "zip bomb": zip_bomb(),
    "claims 2 GB uncompressed": lying_sizes(GOOD_XLSX, 2**31),
    "claims less than it holds": lying_sizes(zip_bomb(), 100),
    "stored, not compressed, cut": replace_member(GOOD_XLSX, SHEET, SHEET_XML,
                                                  compression=zipfile.ZIP_STORED)[:-200],
}


# ---------------------------------------------------------------------------------------
# The importer


@FUZZ
@given(data=csv_files())
def test_any_csv_is_a_report_or_a_clear_error(
    register: Flask, directory: PostcodeDirectory, data: bytes
) -> None:
    run_import(data, "suppliers.csv", directory)


@FUZZ
@given(cut=st.integers(0, len(GOOD_XLSX) - 1))
def test_a_truncated_workbook_is_refused(
    register: Flask, directory: PostcodeDirectory, cut: int
) -> None:
    before = snapshot()
    with pytest.raises(ImportFileError, match="is not a valid Excel workbook") as raised:
        import_suppliers(GOOD_XLSX[:cut], filename="suppliers.xlsx", directory=directory)
    assert_clean_message(str(raised.value))
    assert snapshot() == before


@FUZZ
@given(data=st.one_of(st.binary(max_size=300), csv_files(),
                      st.integers(0, len(GOOD_XLSX) - 1).map(
                          lambda at: GOOD_XLSX[:at] + b"\x00" + GOOD_XLSX[at + 1:])))
def test_random_bytes_named_xlsx_are_refused(
    register: Flask, directory: PostcodeDirectory, data: bytes
) -> None:
    before = snapshot()
    try:
        report = import_suppliers(data, filename="suppliers.xlsx", directory=directory)
    except ImportFileError as error:
        event("refused")
        assert_clean_message(str(error))
        assert snapshot() == before
    else:  # a byte changed where the zip does not look (a timestamp, a comment)
        event("read")
        assert_report_is_clear(report)
        db.session.rollback()


@pytest.mark.parametrize("name", sorted(BAD_XLSX))
def test_a_broken_workbook_is_a_clear_error(
    register: Flask, directory: PostcodeDirectory, name: str
) -> None:
    before = snapshot()
    with pytest.raises(ImportFileError) as raised:
        import_suppliers(BAD_XLSX[name], filename="suppliers.xlsx", directory=directory)
    assert_clean_message(str(raised.value))
    assert "suppliers.xlsx" in str(raised.value)
    assert snapshot() == before


def test_the_zip_bomb_is_refused_before_it_is_expanded(
    register: Flask, directory: PostcodeDirectory
) -> None:
    bomb = BAD_XLSX["zip bomb"]
    assert len(bomb) < 200_000  # the test builds it small
    with pytest.raises(ImportFileError, match="expands to more data than this service"):
        import_suppliers(bomb, filename="suppliers.xlsx", directory=directory)
    with pytest.raises(ImportFileError, match="expands to more data than this service"):
        import_suppliers(BAD_XLSX["claims 2 GB uncompressed"], filename="suppliers.xlsx",
                         directory=directory)


@pytest.mark.parametrize(
    ("cells", "quoted"),
    [
        ({"min_contract_value": "\x1b[2J" + "9" * 50}, '"�[2J' + "9" * 36 + '…" is not a number'),
        ({"email": "x" * 200 + "@"}, '"' + "x" * 40 + '…" is not an email address'),
        ({"lots": "L9\x07"}, "unknown lot code L9�"),
        ({"accreditations": "CHAS:" + "2" * 5000}, '"' + "2" * 40 + '…" is not a date'),
    ],
)
def test_row_problems_quote_cells_briefly_and_printably(
    register: Flask, directory: PostcodeDirectory, cells: dict[str, str], quoted: str
) -> None:
    # Regression: problems quoted whole cells (up to 10,000 characters), control
    # characters included, into the terminal and the upload page.
    row = dict(zip(VALID_HEADER, VALID_ROWS[2], strict=True)) | cells
    report = import_suppliers(csv_bytes(VALID_HEADER, [list(row.values())]), filename="s.csv",
                              directory=directory)
    assert report.aborted
    reasons = [problem.reason for problem in report.problems]
    assert any(reason.startswith(quoted) for reason in reasons), reasons
    for reason in reasons:
        assert_clean_message(reason)
    db.session.rollback()


@pytest.mark.parametrize("line_break", ["\r", "\r\n", "\n"])
def test_a_csv_with_any_line_breaks_is_read(
    register: Flask, directory: PostcodeDirectory, line_break: str
) -> None:
    # Regression: a file with CR line endings (Excel for Mac's "CSV (Macintosh)") raised
    # csv.Error "new-line character seen in unquoted field" out of the importer: a
    # traceback from the command, a 500 from the upload page.
    data = csv_bytes(VALID_HEADER, [VALID_ROWS[2]]).decode().replace("\r\n", line_break)
    report = import_suppliers(data.encode(), filename="s.csv", directory=directory)
    assert (report.imported, report.rejected) == (1, 0), report.problems
    db.session.rollback()


def test_digits_of_other_scripts_are_stored_as_ascii_cpv_codes(
    register: Flask, directory: PostcodeDirectory
) -> None:
    # Regression: "\d" took any script's digits, so "４５３２１０００" was stored as it was and
    # matched no search for 45321000.
    row = list(VALID_ROWS[2])
    row[VALID_HEADER.index("cpv_codes")] = "４５３２１０００"
    report = import_suppliers(csv_bytes(VALID_HEADER, [row]), filename="s.csv",
                              directory=directory)
    assert report.written
    stored = db.session.scalar(sa.select(Supplier).where(Supplier.external_id == "S3"))
    assert stored.cpv_codes == ["45321000"]
    db.session.rollback()


# ---------------------------------------------------------------------------------------
# flask suppliers import, and the admin upload page

#: Files the import must refuse: broken workbooks, and CSVs with at least one bad row
#: (an unknown postcode) among valid ones, so all or nothing is what is tested.
refused_files = st.one_of(
    st.sampled_from(sorted(BAD_XLSX)).map(lambda name: ("s.xlsx", BAD_XLSX[name])),
    csv_files().map(lambda data: ("s.csv", data + b"\nS9,Bad Row Ltd,ZZ99 9ZZ\n")),
)


@FEW
@given(file=refused_files)
def test_the_command_refuses_with_exit_code_1_and_writes_nothing(
    register: Flask, runner: FlaskCliRunner, tmp_path: Path, file: tuple[str, bytes]
) -> None:
    name, data = file
    path = tmp_path / name
    path.write_bytes(data)
    before = snapshot()
    result = runner.invoke(args=["suppliers", "import", str(path)])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not a traceback
    assert "Traceback" not in result.output
    assert "Error:" in result.output or "Nothing was imported" in result.output
    for line in result.output.splitlines():
        assert all(ch.isprintable() for ch in line), ascii(line[:200])
    assert snapshot() == before


@pytest.fixture
def admin(register: Flask, client: FlaskClient, auth: Any) -> FlaskClient:
    """The client signed in as a framework admin."""
    user = make_user(role=Role.ADMIN, organisation=None)
    db.session.commit()
    auth.login_as(user)
    return client


@FEW
@given(file=refused_files)
def test_the_upload_page_refuses_with_a_message_and_writes_nothing(
    register: Flask, admin: FlaskClient, file: tuple[str, bytes]
) -> None:
    name, data = file
    before = snapshot()
    response = admin.post("/admin/suppliers/import", data={"file": (io.BytesIO(data), name)},
                          content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code in (200, 400), page[-2000:]
    assert "Traceback" not in page
    if response.status_code == 400:  # the file as a whole: the form again, with the error
        event("file refused")
        assert 'class="govuk-error-summary"' in page
    else:  # its rows: the dry run's report, which offers no import
        event("rows rejected")
        assert "Nothing can be imported while rows are rejected" in page
        token = re.search(r"/admin/suppliers/import/([\w-]+)/rejects.csv", page)[1]
        confirmed = admin.post("/admin/suppliers/import/confirm",
                               data={"token": token, "skip_invalid": ""})
        assert confirmed.status_code == 409
    assert snapshot() == before
