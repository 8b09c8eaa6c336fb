"""Ledger commands: verify, export, import."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from ledger.runtime.database import get_session


@click.command("verify", help="Check every invariant of the ledger and the hash chain; exit 0 only when all hold.")
@with_appcontext
def verify_command():
    from ledger.partnership.integrity import full_verify as verify

    report = verify(get_session())
    if report.ok:
        click.echo(f"ok: {report.entries} entries, head {report.head}")
        return
    for problem in report.problems:
        click.echo(f"BREACH: {problem}", err=True)
    click.echo(f"{len(report.problems)} problem(s) in {report.entries} entries", err=True)
    sys.exit(1)


def register_ledger_commands(app) -> None:
    app.cli.add_command(verify_command)
    from ledger.journal.export import export_command

    app.cli.add_command(export_command)
