"""``flask match``: rank suppliers for one need, or for every line of a batch file.

The batch contract: each input line is a JSON object with an ``id`` and the keys of
:func:`web.services.matching.parse_search`; each output line is
``{"id": …, "results": [{"external_id", "name", "score", "distance_km", "breakdown"}]}``, or
``{"id": …, "line": N, "error": …}`` for a bad line (the batch goes on). Options given on
the command line are defaults for every line.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

import click
from flask import current_app

from web.postcodes import get_directory
from web.services.matching import SearchInputError, parse_search, result_to_dict, run_search


@click.command("match")
@click.option("--need", help="What the member needs, in words.")
@click.option("--postcode", help="Site postcode (unit, sector or outcode).")
@click.option("--lat", type=float, help="Site latitude (WGS84), with --lon.")
@click.option("--lon", type=float, help="Site longitude (WGS84), with --lat.")
@click.option("--cpv", "cpv_codes", multiple=True, help="CPV code; repeat for more.")
@click.option("--radius-km", type=float, help="Only suppliers within this distance.")
@click.option("--local-authority", "local_authorities", multiple=True,
              help="GSS code of a local authority counted as local; repeat for more.")
@click.option("--lot", "lots", multiple=True, help="Lot code; repeat for more.")
@click.option("--contract-value", type=float, help="Estimated contract value in £.")
@click.option("--social-value", "social_value", multiple=True,
              help="Social-value option CODE[:WEIGHT]; repeat for more.")
@click.option("--weights", help="capability=W,distance=W,social_value=W")
@click.option("--limit", type=int, default=None, help="How many results (default 20).")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.option("--batch", type=click.File("r", encoding="utf-8"),
              help="JSONL file of queries (- for stdin).")
@click.option("--output", type=click.File("w", encoding="utf-8"), default="-",
              help="Where batch results go (default stdout).")
def match(output_format: str, batch: TextIO | None, output: TextIO, **options: Any) -> None:
    """Rank suppliers for a need and explain every score."""
    directory = get_directory(current_app)
    defaults = {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()
                if v not in (None, ())}
    if batch is not None:
        _run_batch(batch, output, directory=directory, defaults=defaults)
        return
    try:
        query, location = parse_search({}, directory=directory, defaults=defaults)
    except SearchInputError as error:
        for key, message in error.errors.items():
            click.echo(f"Error: {key}: {message}", err=True)
        sys.exit(2)
    response = run_search(query)
    if output_format == "json":
        click.echo(json.dumps({
            "algorithm_version": response.algorithm_version,
            "data_version": response.data_version,
            "total": response.total,
            "location": {"postcode": location.postcode, "lat": location.latitude,
                         "lon": location.longitude, "la_code": location.la_code},
            "results": [result_to_dict(r) for r in response.results],
        }, indent=2))
        return
    click.echo(f"{response.total} suppliers matched; algorithm {response.algorithm_version}")
    click.echo(f"{'#':>3}  {'score':>5}  {'km':>6}  supplier")
    for result in response.results:
        click.echo(f"{result.rank:>3}  {result.score:5.1f}  {result.distance_km:6.1f}  "
                   f"{result.name} ({result.external_id})")
        for c in result.components:
            click.echo(f"{'':>18}{c.component:<13} {c.value:4.2f} × {c.weight:4.2f} "
                       f"→ {c.contribution:5.1f}  {c.reason}")


def _run_batch(
    batch: TextIO, output: TextIO, *, directory: Any, defaults: dict[str, Any]
) -> None:
    done = failed = 0
    for number, line in enumerate(batch, start=1):
        if not line.strip():
            continue
        record: dict[str, Any]
        params: Any = None
        try:
            params = json.loads(line)
            if not isinstance(params, dict):
                raise ValueError("each line must be a JSON object")
            query, _location = parse_search(params, directory=directory, defaults=defaults)
            response = run_search(query)
            record = {"id": params.get("id"),
                      "results": [result_to_dict(r) for r in response.results]}
            done += 1
        except (ValueError, SearchInputError) as error:
            identifier = params.get("id") if isinstance(params, dict) else None
            record = {"id": identifier, "line": number, "error": str(error)}
            failed += 1
        output.write(json.dumps(record) + "\n")
    click.echo(f"{done} queries answered, {failed} lines with errors.", err=True)

