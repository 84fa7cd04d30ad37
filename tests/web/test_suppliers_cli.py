"""``flask suppliers import`` and ``flask suppliers export``: output, exit codes, commits."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from web.extensions import db
from web.models import AuditEvent, Framework, Lot, Supplier

HEADER = ("external_id", "name", "postcode", "lots", "sme")


@pytest.fixture
def runner(app: Flask) -> Iterator[FlaskCliRunner]:
    """A CLI runner on a database holding one framework with lots L1 and L2."""
    with app.app_context():
        framework = Framework(code="RETRO", name="Retrofit")
        framework.lots = [Lot(code="L1", name="Lot 1"), Lot(code="L2", name="Lot 2")]
        db.session.add(framework)
        db.session.commit()
        db.session.remove()
    yield app.test_cli_runner()
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(table.delete())


def write_csv(path: Path, *rows: tuple[str, ...]) -> Path:
    """A supplier CSV with :data:`HEADER` and ``rows``."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def stored_names(app: Flask) -> list[str]:
    """Supplier names committed to the database (read on a fresh connection)."""
    with app.app_context(), db.engine.connect() as connection:
        return list(connection.scalars(sa.select(Supplier.name).order_by(Supplier.name)))


GOOD = ("S1", "Acme Ltd", "L34 1AB", "L1", "yes")
ALSO_GOOD = ("S2", "Bravo Ltd", "M1 1AE", "L1; L2", "no")
BAD = ("S3", "Charlie Ltd", "SW1A 1ZZ", "L9", "maybe")


def test_import_commits_and_prints_the_totals(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "s.csv", GOOD, ALSO_GOOD)
    result = runner.invoke(args=["suppliers", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "Read 2 rows: 2 imported, 0 updated, 0 unchanged, 0 rejected." in result.output
    assert stored_names(app) == ["Acme Ltd", "Bravo Ltd"]

    again = runner.invoke(args=["suppliers", "import", str(path)])
    assert "Read 2 rows: 0 imported, 0 updated, 2 unchanged, 0 rejected." in again.output
    with app.app_context():
        events = db.session.scalars(sa.select(AuditEvent)).all()
        assert [(e.action, e.details["imported"]) for e in events] == [("suppliers.imported", 2)]


def test_rejected_rows_stop_the_import_with_exit_code_1(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "s.csv", GOOD, BAD)
    result = runner.invoke(args=["suppliers", "import", str(path)])
    assert result.exit_code == 1
    assert "1 would be imported" in result.output
    assert "row 3, column postcode: Postcode \"SW1A 1ZZ\" was not found" in result.output
    assert "row 3, column lots: unknown lot code L9" in result.output
    assert "row 3, column sme:" in result.output
    assert "Nothing was imported: 1 row was rejected" in result.output
    assert stored_names(app) == []


def test_skip_invalid_imports_the_rest_and_writes_the_rejects(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "s.csv", GOOD, BAD, ALSO_GOOD)
    rejects = tmp_path / "rejects.csv"
    result = runner.invoke(args=["suppliers", "import", str(path), "--skip-invalid", str(rejects)])
    assert result.exit_code == 0, result.output
    assert "2 imported, 0 updated, 0 unchanged, 1 rejected" in result.output
    assert f"Wrote the 1 rejected rows, with reasons, to {rejects}." in result.output
    assert stored_names(app) == ["Acme Ltd", "Bravo Ltd"]
    with open(rejects, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == [*HEADER, "reason"]
    assert rows[1][:5] == list(BAD)
    assert rows[1][5].startswith("row 3: postcode:")


def test_dry_run_writes_nothing(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "s.csv", GOOD)
    result = runner.invoke(args=["suppliers", "import", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "1 would be imported" in result.output
    assert "Dry run: nothing was written." in result.output
    assert stored_names(app) == []


def test_a_file_that_cannot_be_read_is_a_clean_error(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "s.xlsx"
    path.write_text("not a workbook")
    result = runner.invoke(args=["suppliers", "import", str(path)])
    assert result.exit_code == 1
    assert "Error: s.xlsx is not a valid Excel workbook (.xlsx)" in result.output
    assert "Traceback" not in result.output


def test_warnings_are_listed_up_to_a_limit(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["external_id", "name", "postcode", "company_number"])
        writer.writerows((f"S{i}", f"Firm {i}", "L34 1AB", "Head Office") for i in range(25))
    result = runner.invoke(args=["suppliers", "import", str(path), "--dry-run"])
    assert "Warnings (25):" in result.output
    assert "row 2, column company_number: \"Head Office\" is not a Companies House number" in (
        result.output
    )
    assert "… and 5 more (--all-warnings lists them)" in result.output
    everything = runner.invoke(args=["suppliers", "import", str(path), "--dry-run",
                                     "--all-warnings"])
    assert "row 26, column company_number" in everything.output
    assert "more (--all-warnings" not in everything.output


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_export_writes_the_register(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path, suffix: str
) -> None:
    runner.invoke(args=["suppliers", "import", str(write_csv(tmp_path / "s.csv", GOOD))])
    out = tmp_path / f"register{suffix}"
    result = runner.invoke(args=["suppliers", "export", str(out)])
    assert result.exit_code == 0, result.output
    assert f"Exported 1 suppliers to {out}." in result.output
    again = runner.invoke(args=["suppliers", "import", str(out)])
    assert "0 imported, 0 updated, 1 unchanged, 0 rejected" in again.output


def test_export_to_an_unknown_format_is_refused(runner: FlaskCliRunner, tmp_path: Path) -> None:
    result = runner.invoke(args=["suppliers", "export", str(tmp_path / "register.json")])
    assert result.exit_code == 1
    assert "export to a .csv or .xlsx file" in result.output
