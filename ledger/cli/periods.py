"""``ledger close PERIOD``, ``ledger statement PARTNER PERIOD`` and ``ledger import FILE.jsonl``."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from ledger.cli import transactional


@click.command("close", help="Close PERIOD (the oldest open one): allocate, post, lock.")
@click.argument("period")
@transactional
def close_command(session, period):
    from ledger.revenue.close import CLOSE_STEPS, close_period

    with click.progressbar(length=len(CLOSE_STEPS), label=f"closing {period}", show_pos=True,
                           item_show_func=lambda step: step) as bar:
        def progress(done, total):
            bar.update(done - bar.pos, CLOSE_STEPS[done - 1])

        closed = close_period(session, period, progress)
    click.echo(f"closed {closed.id} under policy v{closed.policy_version}")


@click.command("statement", help="Print PARTNER's share statement for PERIOD as JSON.")
@click.argument("partner")
@click.argument("period")
@transactional
def statement_command(session, partner, period):
    from ledger.read.statements import resolve_range, statement

    first, last = resolve_range(session, period)
    click.echo(json.dumps(statement(session, partner, first, last), indent=2))


@click.command("import", help="Bulk-import journal entries from FILE (JSON lines); re-runs skip known keys.")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@transactional
def import_command(session, path):
    import os
    import sys

    from ledger.journal.importer import import_lines
    from ledger.practices.service import get_partnership

    currency = get_partnership(session).currency
    with open(path, encoding="utf-8") as fh, click.progressbar(
        length=os.path.getsize(path), label="importing", file=sys.stderr
    ) as bar:
        result = import_lines(session, fh, currency, progress=bar.update)
    if result.imported:
        # Fresh planner statistics after a bulk load (PostgreSQL's advice for bulk loading; SQLite
        # keeps them in sqlite_stat1): the next close plans its queries on the ledger as it now is.
        from sqlalchemy import text

        session.execute(text("ANALYZE"))
    click.echo(f"imported {result.imported} entries ({result.postings} postings), "
               f"skipped {result.skipped} already in the ledger")


@click.command("demo", help="Found a demo partnership with a year of activity (a fresh SQLite file unless DATABASE_URL says otherwise).")
@with_appcontext
def demo_command():
    from flask import current_app

    from ledger.cli.demo import PASSWORD, build, tokens

    url = current_app.config["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        # A fresh SQLite file: an existing one is kept aside, never silently destroyed.
        import datetime as dt
        import os

        path = url.removeprefix("sqlite:///")
        if os.path.exists(path):
            current_app.extensions["ledger.engine"].dispose()
            aside = f"{path}.{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.bak"
            os.replace(path, aside)
            click.echo(f"kept the previous database aside as {aside}")
        for suffix in ("-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    from alembic import command

    from ledger.cli import alembic_config

    command.upgrade(alembic_config(), "head")
    run_demo(build, tokens, PASSWORD)


@transactional
def run_demo(session, build, tokens, password):
    logins = build(session)
    keys = tokens(session, ["treasurer@example.com", "ana@example.com"])
    click.echo("Demo partnership founded: Harbor IT Partners, January to October 2026 closed.")
    click.echo(f"Sign in at /login with any of these (password {password!r}):")
    for email, role in logins.items():
        click.echo(f"  {email:28s} {role}")
    click.echo("API tokens:")
    for email, token in keys.items():
        click.echo(f"  {email:28s} {token}")
