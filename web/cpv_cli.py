"""``flask cpv import`` and ``flask cpv lookup``: the CPV 2008 list from the EU's file."""

from __future__ import annotations

import time
from pathlib import Path

import click
from flask.cli import AppGroup

from web.extensions import db

PROBLEMS_SHOWN = 50  # problems printed before "… and N more"

cpv = AppGroup(
    "cpv",
    help="The CPV 2008 list (EU Common Procurement Vocabulary): import the EU's file, look up "
    "codes.",
)


@cpv.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--all-problems", is_flag=True, help="List every problem, not just the first 50.")
def import_command(file: Path, all_problems: bool) -> None:
    """Replace the CPV list with the codes in FILE (.csv or .xlsx).

    FILE is the EU's CPV 2008 file (columns CODE and EN, other languages ignored) or a CSV
    with columns cpv8, cpv_code and description_en. Every row is checked first; any problem
    means nothing is imported and the command exits with status 1.
    """
    from web.services.cpv import ImportFileError, import_cpv, read_cpv_file

    started = time.perf_counter()
    try:
        table = read_cpv_file(file, filename=file.name)
        with click.progressbar(length=len(table.rows), label=f"Importing {file.name}",
                               show_eta=False) as bar:
            report = import_cpv(table, filename=file.name, progress=bar.update)
    except ImportFileError as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    except BaseException:
        db.session.rollback()
        raise
    if not report.ok:
        db.session.rollback()
        shown = report.problems if all_problems else report.problems[:PROBLEMS_SHOWN]
        for problem in shown:
            click.echo(str(problem), err=True)
        if len(shown) < len(report.problems):
            click.echo(f"… and {len(report.problems) - len(shown)} more "
                       "(--all-problems lists them all).", err=True)
        click.echo(report.describe(), err=True)
        raise SystemExit(1)
    db.session.commit()
    click.echo(report.describe())
    click.echo(f"Done in {time.perf_counter() - started:.1f} s.")


@cpv.command("lookup")
@click.argument("query", nargs=-1, required=True)
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 100),
              help="Most codes listed.")
def lookup_command(query: tuple[str, ...], limit: int) -> None:
    """Codes starting with QUERY's digits (45421, 45421151-7), or whose descriptions hold
    QUERY's words (fitted kitchens). Exits with status 1 when nothing matches."""
    from web.services.cpv import cpv_count, suggest

    if not cpv_count():
        raise click.ClickException(
            "The CPV list is empty: import the EU's file with `flask cpv import FILE` first."
        )
    suggestions = suggest(" ".join(query), limit=limit, count_suppliers=True)
    if not suggestions:
        raise click.ClickException(f"No CPV code matches “{' '.join(query)}”.")
    for s in suggestions:
        held = f"  ({s.suppliers} {'supplier' if s.suppliers == 1 else 'suppliers'})"
        click.echo(f"{s.code}  {s.description}{held if s.suppliers else ''}")
