"""``ledger export-ocf DIR``: the partnership's equity as an Open Cap Table Format package."""

from __future__ import annotations

import datetime as dt

import click

from ledger.cli.common import Command, transactional
from ledger.core.errors import ValidationError
from ledger.equity.ocf import export_package, write_package


@click.command("export-ocf", cls=Command, help="Write the partnership's units as an OCF 1.2.0 package (JSON files) into DIR.")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="leave out transactions after this date (default: today, UTC)")
@click.option("--country", default="US", show_default=True,
              help="country of formation (ISO 3166-1 alpha-2); the charter does not say, OCF requires it")
@transactional
def export_ocf_command(session, directory, as_of, country):
    if len(country) != 2 or not country.isascii() or not country.isalpha():
        raise ValidationError(f"--country {country!r} is not a two-letter country code such as US",
                              {"country": ["a two-letter ISO 3166-1 code"]})
    day: dt.date | None = as_of.date() if as_of else None
    paths = write_package(export_package(session, day, country_of_formation=country.upper()), directory)
    for path in paths:
        click.echo(str(path))
    click.echo(f"wrote {len(paths)} OCF files to {directory}")
