"""``flask suppliers import`` and ``flask suppliers export``: the register as a spreadsheet."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from web.extensions import db
from web.services.audit import record_event
from web.services.suppliers_export import ExportError, export_suppliers
from web.services.suppliers_import import (
    ImportFileError,
    ImportReport,
    import_suppliers,
    read_supplier_file,
)

# Warnings printed before "… and N more" (problems are always printed in full).
WARNINGS_SHOWN = 20

suppliers = AppGroup(
    "suppliers",
    help="Import and export the supplier register (CSV or XLSX, the same columns both ways).",
)


@suppliers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check every row and report; write nothing.")
@click.option(
    "--skip-invalid",
    "rejects_path",
    metavar="REJECTS.csv",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Import the valid rows and write every rejected row, with its reason, to this file. "
    "Without it, one rejected row means nothing is imported.",
)
@click.option("--all-warnings", is_flag=True, help="List every warning, not just the first 20.")
def import_command(
    file: Path, dry_run: bool, rejects_path: Path | None, all_warnings: bool
) -> None:
    """Add and update suppliers from FILE (.csv or .xlsx).

    Rows are matched to suppliers by external_id, else by company_number; importing the
    same file twice changes nothing. Exits with status 1 when rejected rows stopped the
    import.
    """
    from web.postcodes import get_directory

    try:
        table = read_supplier_file(file, filename=file.name)
    except ImportFileError as error:
        raise click.ClickException(str(error)) from None
    directory = get_directory(current_app)
    try:
        # Each row is counted twice: once validated, once written.
        with click.progressbar(
            length=2 * len(table.rows), label=f"Importing {file.name}", show_eta=False
        ) as bar:
            report = import_suppliers(
                table,
                filename=file.name,
                directory=directory,
                dry_run=dry_run,
                skip_invalid=rejects_path is not None,
                progress=bar.update,
            )
    except ImportFileError as error:  # a header that cannot work, found while importing
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    except BaseException:
        db.session.rollback()
        raise
    if report.written:
        # The command line has no signed-in user: the audit trail records the system.
        record_event(
            "suppliers.imported", actor=None, organisation_id=None, object_type="supplier",
            details={
                "file": file.name, "read": report.read, "imported": report.imported,
                "updated": report.updated, "unchanged": report.unchanged,
                "rejected": report.rejected,
            },
        )
        db.session.commit()
    else:
        db.session.rollback()

    _print_report(report, all_warnings=all_warnings)
    if rejects_path is not None and report.rejected:
        report.write_rejects(rejects_path)
        click.echo(f"Wrote the {report.rejected:,} rejected rows, with reasons, to {rejects_path}.")
    if report.aborted:
        click.echo(
            f"Nothing was imported: {report.rejected:,} "
            f"row{'s were' if report.rejected != 1 else ' was'} rejected. Correct "
            f"{'them' if report.rejected != 1 else 'it'}, or use --skip-invalid REJECTS.csv to "
            "import the valid rows and set the rejected ones aside.",
            err=True,
        )
        raise SystemExit(1)
    if dry_run:
        click.echo("Dry run: nothing was written.")


def _print_report(report: ImportReport, *, all_warnings: bool) -> None:
    would = "would be " if not report.written and (report.dry_run or report.aborted) else ""
    click.echo(
        f"Read {report.read:,} rows: {report.imported:,} {would}imported, "
        f"{report.updated:,} {would}updated, {report.unchanged:,} unchanged, "
        f"{report.rejected:,} rejected."
    )
    for note in report.notes:
        click.echo(f"Note: {note}.")
    if report.problems:
        click.echo(f"Problems ({len(report.problems):,}):")
        for problem in report.problems:
            click.echo(f"  {problem}")
    if report.warnings:
        shown = report.warnings if all_warnings else report.warnings[:WARNINGS_SHOWN]
        click.echo(f"Warnings ({len(report.warnings):,}):")
        for warning in shown:
            click.echo(f"  {warning}")
        if len(shown) < len(report.warnings):
            click.echo(
                f"  … and {len(report.warnings) - len(shown):,} more (--all-warnings lists them)"
            )


@suppliers.command("export")
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
def export_command(file: Path) -> None:
    """Write the whole register to FILE (.csv or .xlsx) in the import format."""
    try:
        count = export_suppliers(file)
    except ExportError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Exported {count:,} suppliers to {file}.")
