"""Supplier import and export: every validation rule, all-or-nothing, skip-invalid, dry run,
re-import, export round trip, encodings, delimiters and XLSX, on a real database (SQLite, or
PostgreSQL when ``TEST_DATABASE_URL`` is set)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from web.extensions import db
from web.models import (
    Accreditation,
    Commitment,
    Framework,
    Lot,
    SocialValueCatalogue,
    SocialValueOption,
    Supplier,
)
from web.postcodes import PostcodeDirectory
from web.services import supplier_files
from web.services.suppliers_export import ExportError, export_suppliers
from web.services.suppliers_import import (
    ImportFileError,
    ImportReport,
    RowProblem,
    import_suppliers,
)
from web.services.versions import current_version

TODAY = dt.date(2026, 1, 15)
BENCHMARK_SUPPLIERS = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ranking-benchmark"
    / "suppliers.csv"
)
HEADER = (
    "external_id", "name", "postcode", "latitude", "longitude", "company_number", "address",
    "description", "capabilities", "cpv_codes", "lots", "sme", "vcse", "service_radius_km",
    "min_contract_value", "max_contract_value", "accreditations", "social_value", "website",
    "email", "phone", "local_authority_code",
)


# --- fixtures and factories ----------------------------------------------------------------


@pytest.fixture
def ctx(app: Flask) -> Iterator[Flask]:
    """An app context with a framework (lots L1-L3) and a social-value catalogue seeded."""
    with app.app_context():
        make_framework()
        make_catalogue()
        db.session.commit()
        yield app
        db.session.rollback()
        db.session.remove()
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(table.delete())


@pytest.fixture(scope="module")
def directory(postcode_directory_path: Path) -> PostcodeDirectory:
    """The postcode directory built once for the test session (see tests/conftest.py)."""
    return PostcodeDirectory.open(postcode_directory_path)


def make_framework(code: str = "RETRO", lots: tuple[str, ...] = ("L1", "L2", "L3")) -> Framework:
    """A framework with the given lot codes."""
    framework = Framework(code=code, name=f"{code} framework")
    framework.lots = [Lot(code=lot, name=f"Lot {lot}") for lot in lots]
    db.session.add(framework)
    return framework


def make_catalogue(
    version: str = "2025.1", codes: tuple[str, ...] = ("LOCAL-JOBS", "APPR", "CO2E")
) -> SocialValueCatalogue:
    """A catalogue version with options of the given codes."""
    catalogue = SocialValueCatalogue(version=version, published_on=dt.date(2025, 1, 1),
                                     is_current=True)
    catalogue.options = [
        SocialValueOption(theme_code="JOBS", code=code, title=code, measure=code, unit="unit",
                          proxy_gbp_per_unit=100.0, source="test")
        for code in codes
    ]
    db.session.add(catalogue)
    return catalogue


def supplier_row(**values: str) -> dict[str, str]:
    """A valid row (every column filled) with ``values`` overriding."""
    row = {
        "external_id": "S1", "name": "Acme Retrofit Ltd", "postcode": "L34 1AB",
        "latitude": "", "longitude": "", "company_number": "01234567",
        "address": "1 High Street, Knowsley", "description": "External wall insulation.",
        "capabilities": "EWI; loft insulation", "cpv_codes": "45321000; 45421151-3",
        "lots": "L1; L2", "sme": "yes", "vcse": "no", "service_radius_km": "40",
        "min_contract_value": "£10,000", "max_contract_value": "£2,000,000",
        "accreditations": "CHAS:2027-03-31; PAS 2030", "social_value": "LOCAL-JOBS:2; APPR",
        "website": "https://acme.example", "email": "bids@acme.example",
        "phone": "0151 000 0000", "local_authority_code": "",
    }
    row.update(values)
    return row


def write_csv(
    path: Path, rows: list[dict[str, str]], *, header: tuple[str, ...] = HEADER,
    encoding: str = "utf-8", delimiter: str = ",",
) -> Path:
    """Write ``rows`` (missing keys blank) under ``header``."""
    with open(path, "w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.get(column, "") for column in header])
    return path


def rows_of(count: int, **values: str) -> list[dict[str, str]]:
    """``count`` valid rows with distinct identities."""
    return [
        supplier_row(external_id=f"S{i}", company_number=f"{i:08d}", name=f"Supplier {i}",
                     **values)
        for i in range(1, count + 1)
    ]


def run(path: Path, directory: PostcodeDirectory, **options: Any) -> ImportReport:
    """Import ``path`` the way the CLI does (the format from its name)."""
    return import_suppliers(path, filename=path.name, directory=directory, today=TODAY, **options)


def supplier(external_id: str) -> Supplier:
    """The stored supplier, read fresh."""
    found = db.session.scalar(sa.select(Supplier).where(Supplier.external_id == external_id))
    assert found is not None, external_id
    return found


def supplier_count() -> int:
    """Suppliers stored."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(Supplier)) or 0


def totals(report: ImportReport) -> tuple[int, int, int, int, int]:
    """(read, imported, updated, unchanged, rejected)."""
    return report.read, report.imported, report.updated, report.unchanged, report.rejected


# --- validation rules: one bad cell, its row, column and reason ------------------------------


@pytest.mark.parametrize(
    ("values", "column", "reason"),
    [
        ({"name": "  "}, "name", "the supplier name is missing"),
        ({"postcode": "NOT A CODE"}, "postcode", "is not a valid postcode"),
        ({"postcode": "SW1A 1ZZ"}, "postcode", "Did you mean SW1A 1AZ"),
        ({"postcode": ""}, "postcode", "give a postcode, or latitude and longitude"),
        ({"latitude": "abc", "longitude": "-2.9"}, "latitude", '"abc" is not a number'),
        ({"latitude": "70", "longitude": "-2.9"}, "latitude", "outside the UK"),
        ({"latitude": "53.4", "longitude": "12"}, "longitude", "outside the UK"),
        ({"latitude": "53.4"}, "longitude", "give both latitude and longitude"),
        ({"external_id": "", "company_number": ""}, "external_id",
         "external_id or company_number required"),
        ({"cpv_codes": "4542115"}, "cpv_codes", "malformed CPV code 4542115"),
        ({"cpv_codes": "45421151-33"}, "cpv_codes", "malformed CPV code"),
        ({"lots": "L1; L9"}, "lots", "unknown lot code L9 (known: L1, L2, L3)"),
        ({"sme": "maybe"}, "sme", '"maybe" is not yes or no'),
        ({"vcse": "2"}, "vcse", '"2" is not yes or no'),
        ({"service_radius_km": "-5"}, "service_radius_km", "negative"),
        ({"min_contract_value": "ten"}, "min_contract_value", '"ten" is not a number'),
        ({"max_contract_value": "nan"}, "max_contract_value", "is not a number"),
        ({"min_contract_value": "500000", "max_contract_value": "1000"}, "max_contract_value",
         "less than the minimum"),
        ({"accreditations": "CHAS:2026-13-01"}, "accreditations",
         '"2026-13-01" is not a date: use YYYY-MM-DD'),
        ({"accreditations": "CHAS:31/12/2026"}, "accreditations", "is not a date"),
        ({"social_value": "NOPE:2"}, "social_value", "unknown social-value option code NOPE"),
        ({"social_value": "APPR:lots"}, "social_value", '"lots" is not a number'),
        ({"social_value": "APPR:1; appr:2"}, "social_value", "listed twice"),
        ({"email": "not-an-email"}, "email", "is not an email address"),
        ({"website": "acme dot com"}, "website", "not a web address"),
        ({"local_authority_code": "X123"}, "local_authority_code", "not a local authority"),
        ({"description": "x" * 10_001}, "description", "longer than 10,000 characters"),
        ({"name": "n" * 301}, "name", "longer than 300 characters"),
        ({"phone": "1" * 51}, "phone", "longer than 50 characters"),
    ],
)
def test_each_rule_reports_row_column_and_reason(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory,
    values: dict[str, str], column: str, reason: str,
) -> None:
    second = supplier_row(**{"external_id": "S2", "company_number": "07654321", **values})
    path = write_csv(tmp_path / "s.csv", [supplier_row(), second])
    report = run(path, directory)
    assert totals(report) == (2, 1, 0, 0, 1)
    label = second["external_id"] or None
    assert [(p.row, p.column, p.external_id) for p in report.problems] == [(3, column, label)]
    assert reason in report.problems[0].reason
    assert str(report.problems[0]).startswith(f"row 3, column {column}: ")
    assert report.aborted and not report.written
    assert supplier_count() == 0


def test_a_row_with_several_problems_reports_each(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    path = write_csv(tmp_path / "s.csv", [supplier_row(sme="x", lots="L9", postcode="")])
    report = run(path, directory)
    assert report.rejected == 1
    assert {p.column for p in report.problems} == {"sme", "lots", "postcode"}


@pytest.mark.parametrize(
    ("values", "attribute", "expected"),
    [
        ({"cpv_codes": "45421151-3 45310000;45421151"}, "cpv_codes", ["45421151", "45310000"]),
        ({"cpv_codes": ""}, "cpv_codes", []),
        ({"sme": "Y"}, "sme", True),
        ({"sme": "0"}, "sme", False),
        ({"sme": ""}, "sme", False),
        ({"vcse": "TRUE"}, "vcse", True),
        ({"min_contract_value": "£1,250,000"}, "min_contract_value", 1_250_000.0),
        ({"max_contract_value": ""}, "max_contract_value", None),
        ({"service_radius_km": "32.5"}, "service_radius_km", 32.5),
        ({"company_number": "1234567"}, "company_number", "01234567"),
        ({"company_number": "sc 123456"}, "company_number", "SC123456"),
        ({"company_number": "N/A"}, "company_number", None),
        ({"capabilities": "EWI; loft insulation;; ewi "}, "capabilities",
         ["EWI", "loft insulation"]),
        ({"website": ""}, "website", None),
        ({"name": "  Acme  "}, "name", "Acme"),
    ],
)
def test_cells_are_normalised(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory,
    values: dict[str, str], attribute: str, expected: Any,
) -> None:
    report = run(write_csv(tmp_path / "s.csv", [supplier_row(**values)]), directory)
    assert report.problems == ()
    assert getattr(supplier("S1"), attribute) == expected


def test_lists_become_lots_accreditations_and_commitments(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    path = write_csv(tmp_path / "s.csv", [supplier_row(
        lots="l1; L3", accreditations="ISO 9001:2015; CHAS:2027-03-31; Gas Safe:",
        social_value="LOCAL-JOBS; appr:2.5",
    )])
    run(path, directory)
    stored = supplier("S1")
    assert [lot.code for lot in stored.lots] == ["L1", "L3"]
    assert [(a.name, a.expires_on) for a in stored.accreditations] == [
        ("CHAS", dt.date(2027, 3, 31)), ("Gas Safe", None), ("ISO 9001:2015", None),
    ]
    assert [(c.option_code, c.quantity_per_million) for c in stored.commitments] == [
        ("APPR", 2.5), ("LOCAL-JOBS", 1.0),
    ]


def test_lot_code_in_two_frameworks_must_be_qualified(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    make_framework("SAFETY", ("L1", "F1"))
    db.session.commit()
    report = run(write_csv(tmp_path / "s.csv", [supplier_row(lots="L1")]), directory)
    assert "more than one framework" in report.problems[0].reason
    report = run(write_csv(tmp_path / "t.csv", [supplier_row(lots="SAFETY:L1; F1")]), directory)
    assert report.problems == ()
    assert [(lot.framework.code, lot.code) for lot in supplier("S1").lots] == [
        ("SAFETY", "F1"), ("SAFETY", "L1"),
    ]


def test_expired_accreditation_and_junk_company_number_are_warnings(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    path = write_csv(tmp_path / "s.csv", [supplier_row(
        accreditations="CHAS:2025-12-31", company_number="Acme House, Liverpool",
    )])
    report = run(path, directory)
    assert (report.imported, report.rejected) == (1, 0)
    # In the file's column order: company_number comes before accreditations.
    assert [(w.row, w.column) for w in report.warnings] == [
        (2, "company_number"), (2, "accreditations"),
    ]
    assert report.warnings[1].reason == "CHAS expired on 2025-12-31"
    assert supplier("S1").company_number is None


# --- location ---------------------------------------------------------------------------


def test_postcode_alone_gives_coordinates_and_local_authority(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    run(write_csv(tmp_path / "s.csv", [supplier_row(postcode="sw1a1aa")]), directory)
    stored = supplier("S1")
    assert (stored.postcode, stored.la_code) == ("SW1A 1AA", "E09000033")
    assert stored.latitude == pytest.approx(51.501, abs=0.001)
    assert stored.longitude == pytest.approx(-0.1416, abs=0.001)


def test_given_coordinates_are_kept_with_the_postcodes_local_authority(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    path = write_csv(tmp_path / "s.csv",
                     [supplier_row(postcode="L34 1AB", latitude="53.5", longitude="-2.8")])
    report = run(path, directory)
    assert report.warnings == ()
    stored = supplier("S1")
    assert (stored.latitude, stored.longitude, stored.la_code) == (53.5, -2.8, "E08000011")


def test_unknown_postcode_with_coordinates_is_a_warning_not_a_rejection(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    path = write_csv(tmp_path / "s.csv",
                     [supplier_row(postcode="BT1 1AA", latitude="54.597", longitude="-5.93")])
    report = run(path, directory)
    assert totals(report) == (1, 1, 0, 0, 0)
    assert [(w.row, w.column) for w in report.warnings] == [(2, "postcode")]
    assert "Northern Ireland" in report.warnings[0].reason
    stored = supplier("S1")
    assert (stored.postcode, stored.latitude, stored.la_code) == ("BT1 1AA", 54.597, None)


def test_given_local_authority_code_wins(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    path = write_csv(tmp_path / "s.csv", [supplier_row(local_authority_code="e08000012")])
    run(path, directory)
    assert supplier("S1").la_code == "E08000012"


def test_outcode_places_the_supplier_at_its_centre_with_a_warning(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    report = run(write_csv(tmp_path / "s.csv", [supplier_row(postcode="L34")]), directory)
    assert report.imported == 1
    assert "outcode" in report.warnings[0].reason
    assert supplier("S1").la_code == "E08000011"


# --- header ------------------------------------------------------------------------------


def test_headings_are_case_insensitive_with_aliases_and_unknown_columns_warned(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    header = ("Supplier ID", "Supplier Name", "Post Code", "Lat", "Lng", "CRN", "Keywords",
              "CPV", "Favourite colour")
    path = tmp_path / "s.csv"
    path.write_text(
        ",".join(header) + "\nA1,Acme,L34 1AB,53.42,-2.81,1234567,EWI; CWI,45321000,blue\n",
        encoding="utf-8",
    )
    report = run(path, directory)
    assert totals(report) == (1, 1, 0, 0, 0)
    assert report.warnings == (RowProblem(1, None, "unknown column ignored: Favourite colour"),)
    stored = supplier("A1")
    assert (stored.name, stored.company_number, stored.capabilities, stored.cpv_codes) == (
        "Acme", "01234567", ["EWI", "CWI"], ["45321000"],
    )


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (("external_id", "postcode"), "has no name column"),
        (("name", "postcode"), "has no external_id (or company_number) column"),
        (("external_id", "name"), "has no postcode (or latitude and longitude) column"),
        (("external_id", "name", "postcode", "Post Code"), "both mean postcode"),
    ],
)
def test_a_header_that_cannot_work_is_refused(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory,
    header: tuple[str, ...], message: str,
) -> None:
    path = write_csv(tmp_path / "s.csv", [{}], header=header)
    with pytest.raises(ImportFileError, match=re.escape(message)):
        run(path, directory)


# --- all-or-nothing, skip-invalid, dry run -------------------------------------------------


def test_all_or_nothing_leaves_the_database_unchanged(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    run(write_csv(tmp_path / "first.csv", rows_of(2)), directory)
    db.session.commit()
    version = current_version()
    rows = rows_of(4)
    rows[0]["name"] = "Renamed"  # would be an update
    rows[3]["sme"] = "perhaps"  # rejected
    report = run(write_csv(tmp_path / "s.csv", rows), directory)
    assert totals(report) == (4, 1, 1, 1, 1)
    assert report.aborted and not report.written
    db.session.rollback()
    assert supplier_count() == 2
    assert supplier("S1").name == "Supplier 1"
    assert current_version() == version


def test_skip_invalid_writes_valid_rows_and_every_rejected_row(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    rows = rows_of(5)
    rows[1]["postcode"] = "SW1A 1ZZ"
    rows[3]["lots"] = "L9"
    rows[3]["sme"] = "perhaps"
    path = write_csv(tmp_path / "s.csv", rows + [{"name": "No identity", "postcode": "L34 1AB"}])
    report = run(path, directory, skip_invalid=True)
    assert totals(report) == (6, 3, 0, 0, 3)
    assert report.written and not report.aborted
    assert supplier_count() == 3

    rejects = tmp_path / "rejects.csv"
    assert report.write_rejects(rejects) == 3
    with open(rejects, encoding="utf-8-sig", newline="") as handle:
        written = list(csv.DictReader(handle))
    assert [r["external_id"] for r in written] == ["S2", "S4", ""]
    assert written[0]["postcode"] == "SW1A 1ZZ"  # the original cells, as read
    assert written[0]["reason"].startswith("row 3: postcode: Postcode \"SW1A 1ZZ\" was not found")
    assert "lots: unknown lot code L9" in written[1]["reason"]
    assert "sme:" in written[1]["reason"]
    assert "external_id or company_number required" in written[2]["reason"]
    assert list(written[0])[:len(HEADER)] == list(HEADER)

    # The rejects file, corrected, imports (its reason column is ignored without a warning).
    fixed = [dict(r) for r in written]
    fixed[0]["postcode"] = "SW1A 1AA"
    fixed[1].update(lots="L1", sme="no")
    fixed[2]["external_id"] = "S6"
    again = run(write_csv(tmp_path / "fixed.csv", fixed, header=(*HEADER, "reason")), directory)
    assert totals(again) == (3, 3, 0, 0, 0)
    assert again.warnings == ()


def test_dry_run_reports_and_writes_nothing(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    report = run(write_csv(tmp_path / "s.csv", rows_of(3)), directory, dry_run=True)
    assert totals(report) == (3, 3, 0, 0, 0)
    assert report.dry_run and not report.written and not report.aborted
    assert supplier_count() == 0
    assert current_version() == 0


def test_duplicate_identity_in_a_file_rejects_the_later_row(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    rows = rows_of(2)
    rows.append(dict(rows[0], name="Again"))
    rows.append(supplier_row(external_id="", company_number="00000002", name="By number"))
    report = run(write_csv(tmp_path / "s.csv", rows), directory)
    assert [(p.row, p.column) for p in report.problems] == [
        (4, "external_id"), (5, "company_number"),
    ]
    assert "already in row 2" in report.problems[0].reason


# --- upsert --------------------------------------------------------------------------------


def test_reimport_changes_nothing_and_does_not_bump_the_version(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    path = write_csv(tmp_path / "s.csv", rows_of(3))
    first = run(path, directory)
    db.session.commit()
    assert totals(first) == (3, 3, 0, 0, 0)
    version = current_version()
    assert version == 1
    second = run(path, directory)
    assert totals(second) == (3, 0, 0, 3, 0)
    assert not second.written
    assert current_version() == version


def test_changed_rows_update_and_replace_their_lists(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    run(write_csv(tmp_path / "s.csv", rows_of(3)), directory)
    db.session.commit()
    rows = rows_of(3)
    rows[1].update(lots="L3", accreditations="TrustMark:2028-01-01", social_value="CO2E:4")
    rows[2]["name"] = "Renamed Ltd"
    report = run(write_csv(tmp_path / "t.csv", rows), directory)
    db.session.commit()
    assert totals(report) == (3, 0, 2, 1, 0)
    second = supplier("S2")
    assert [lot.code for lot in second.lots] == ["L3"]
    assert [(a.name, a.expires_on) for a in second.accreditations] == [
        ("TrustMark", dt.date(2028, 1, 1)),
    ]
    assert [(c.option_code, c.quantity_per_million) for c in second.commitments] == [("CO2E", 4)]
    assert supplier("S3").name == "Renamed Ltd"
    assert [lot.code for lot in supplier("S3").lots] == ["L1", "L2"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Accreditation)) == 5
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Commitment)) == 5


def test_columns_a_file_lacks_are_left_as_they_are(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    run(write_csv(tmp_path / "s.csv", rows_of(1)), directory)
    db.session.commit()
    header = ("external_id", "name", "postcode")
    report = run(write_csv(tmp_path / "t.csv", [supplier_row(name="New name")], header=header),
                 directory)
    db.session.commit()
    assert totals(report) == (1, 0, 1, 0, 0)
    stored = supplier("S1")
    assert stored.name == "New name"
    assert [lot.code for lot in stored.lots] == ["L1", "L2"]
    assert stored.min_contract_value == 10_000


def test_a_row_without_external_id_matches_by_company_number(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    run(write_csv(tmp_path / "s.csv", rows_of(1)), directory)
    db.session.commit()
    row = supplier_row(external_id="", company_number="1", name="Found by number")
    report = run(write_csv(tmp_path / "t.csv", [row]), directory)
    db.session.commit()
    assert totals(report) == (1, 0, 1, 0, 0)
    assert supplier("S1").name == "Found by number"
    new = supplier_row(external_id="", company_number="SC123456", name="New by number")
    report = run(write_csv(tmp_path / "u.csv", [new]), directory)
    assert report.imported == 1
    assert supplier("SC123456").company_number == "SC123456"


# --- export round trip -----------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_export_then_import_is_a_no_op(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory, suffix: str
) -> None:
    rows = rows_of(3)
    rows[0].update(accreditations="ISO 9001:2015; CHAS:2027-03-31", capabilities="",
                   website="", postcode="BT1 1AA", latitude="54.597", longitude="-5.93")
    rows[1].update(name='=HYPERLINK("x")', description="Café “quoted”, £5k; multi\nline",
                   social_value="", lots="", company_number="N/A", service_radius_km="")
    rows[2].update(min_contract_value="0.1", max_contract_value="1e6", sme="no")
    assert run(write_csv(tmp_path / "s.csv", rows), directory).rejected == 0
    db.session.commit()
    version = current_version()

    exported = tmp_path / f"register{suffix}"
    assert export_suppliers(exported) == 3
    report = run(exported, directory)
    assert totals(report) == (3, 0, 0, 3, 0)
    assert not report.written
    assert current_version() == version
    assert supplier("S2").name == '=HYPERLINK("x")'


def test_export_refuses_other_extensions(ctx: Flask, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"\.csv or \.xlsx"):
        export_suppliers(tmp_path / "register.json")


# --- encodings, delimiters, XLSX -------------------------------------------------------------


def test_cp1252_file_with_pound_sign_and_accent(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    path = write_csv(tmp_path / "s.csv", [supplier_row(name="Café Rénovation Ltd",
                                                       min_contract_value="£5,000")],
                     encoding="cp1252")
    report = run(path, directory)
    assert report.problems == ()
    assert report.notes == ("read as Windows-1252 (not UTF-8)",)
    stored = supplier("S1")
    assert (stored.name, stored.min_contract_value) == ("Café Rénovation Ltd", 5000)


def test_utf8_with_byte_order_mark(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    path = write_csv(tmp_path / "s.csv", [supplier_row(name="Ŵelsh Ŷnsulation")],
                     encoding="utf-8-sig")
    report = run(path, directory)
    assert (report.imported, report.warnings, report.notes) == (1, (), ())
    assert supplier("S1").name == "Ŵelsh Ŷnsulation"


@pytest.mark.parametrize("delimiter", [";", "\t", ","])
def test_delimiter_is_detected(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory, delimiter: str
) -> None:
    # Semicolons and commas inside cells must not fool the detection.
    path = write_csv(tmp_path / "s.txt", rows_of(2, description="Roofs, walls; windows"),
                     delimiter=delimiter)
    report = run(path, directory)
    assert totals(report) == (2, 2, 0, 0, 0)
    assert supplier("S1").description == "Roofs, walls; windows"


def test_xlsx_with_numbers_and_dates_in_cells(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["External ID", "Name", "Postcode", "Latitude", "Longitude", "Company number",
                  "SME", "Min contract value", "Service radius km"])
    sheet.append(["X1", "Excel Ltd", "M1 1AE", 53.48, -2.23, 1234567, True, 25000, 40.0])
    sheet.append([None] * 9)  # blank rows are skipped, not counted
    sheet.append(["X2", "Second Ltd", "CF10 1EP", None, None, "SC123456", "no", None, None])
    workbook.create_sheet("Notes")
    path = tmp_path / "suppliers.xlsx"
    workbook.save(path)

    report = run(path, directory)
    assert totals(report) == (2, 2, 0, 0, 0)
    assert report.notes == ("only the first worksheet ('Sheet') was read",)
    first = supplier("X1")
    assert (first.company_number, first.sme, first.min_contract_value, first.latitude) == (
        "01234567", True, 25000, 53.48,
    )
    assert supplier("X2").la_code == "W06000015"


# --- files refused -----------------------------------------------------------------------------


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("s.xlsx", b"external_id,name\nS1,Acme\n", "is not a valid Excel workbook"),
        ("s.xlsx", _zip_bytes({"hello.txt": b"hi"}), "is not a valid Excel workbook"),
        ("s.xlsx", _zip_bytes({"xl/workbook.xml": b"<not a workbook"}),
         "is not a valid Excel workbook"),
        ("s.xlsx", _zip_bytes({"xl/workbook.xml": b"", "xl/worksheets/sheet1.xml":
                               b"\0" * (20 * 1024 * 1024)}), "expands to more data"),
        ("s.xls", b"\xd0\xcf\x11\xe0", "old-style Excel file"),
        ("s.pdf", b"%PDF", "not a supported file type"),
        ("s.csv", b"", "is empty"),
        ("s.csv", b"\n\nexternal_id,name\n", "row 1 is blank"),
        ("s.csv", b"PK\x03\x04\x00\x00binary", "NUL bytes"),
        ("s.csv", b"external_id,name\n\x81",
         "not a text file in UTF-8 or Windows-1252"),
    ],
)
def test_bad_files_are_refused_with_a_clear_message(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory,
    filename: str, content: bytes, message: str,
) -> None:
    path = tmp_path / filename
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message):
        run(path, directory)
    assert supplier_count() == 0


def test_file_size_and_row_limits(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(tmp_path / "s.csv", rows_of(3))
    monkeypatch.setattr(supplier_files, "MAX_ROWS", 2)
    with pytest.raises(ImportFileError, match="more than 2 rows"):
        run(path, directory)
    monkeypatch.setattr(supplier_files, "MAX_FILE_BYTES", 100)
    with pytest.raises(ImportFileError, match="too large"):
        run(path, directory)
    with open(path, "rb") as stream, pytest.raises(ImportFileError, match="too large"):
        import_suppliers(stream, filename="s.csv", directory=directory)


def test_a_stray_delimiter_is_a_row_problem(
    ctx: Flask, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    path = tmp_path / "s.csv"
    path.write_text("external_id,name,postcode\nS1,Acme,L34 1AB\nS2,Acme, Ltd,L34 1AB\n"
                    "S3,Trailing,L34 1AB,,\n", encoding="utf-8")
    report = run(path, directory)
    assert [(p.row, p.column) for p in report.problems] == [(3, None)]
    assert "4 cells but the header has 3 columns" in report.problems[0].reason
    assert report.imported == 2


# --- the real benchmark file -------------------------------------------------------------------


def test_benchmark_suppliers_import_as_they_are(ctx: Flask, directory: PostcodeDirectory) -> None:
    if not BENCHMARK_SUPPLIERS.exists():
        pytest.skip(f"needs {BENCHMARK_SUPPLIERS} (shared data, not in a user's clone)")
    report = run(BENCHMARK_SUPPLIERS, directory)
    assert totals(report) == (3088, 3088, 0, 0, 0)
    assert report.written
    db.session.commit()
    assert supplier_count() == 3088
    assert totals(run(BENCHMARK_SUPPLIERS, directory)) == (3088, 0, 0, 3088, 0)
