"""``ledger appender``: serve the dedicated appender (PostgreSQL) for this database."""

from __future__ import annotations

import signal

import click
import psycopg
from flask import current_app
from flask.cli import with_appcontext

from ledger.cli.common import Command, fail
from ledger.journal.appender import AlreadyServed, Appender
from ledger.journal.group import driver_dsn
from ledger.journal.periods import get_books
from ledger.runtime.database import get_session


@click.command("appender", cls=Command,
               help="Serve the dedicated appender on a Unix socket: grouped entries of every local writer "
                    "appended in one call and one commit a batch (PostgreSQL). Runs until SIGTERM or Ctrl-C.")
@click.option("--socket", "path", type=click.Path(dir_okay=False),
              help="the socket's path (default: LEDGER_APPENDER_SOCKET)")
@click.option("--warn-after", "held_after", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="warn of a session of the database holding a transaction open longer than this many seconds "
                   "(it slows every append down until it ends)")
@with_appcontext
def appender_command(path: str | None, held_after: float) -> None:
    url = current_app.config["DATABASE_URL"]
    if not url.startswith("postgresql"):
        fail("the appender is PostgreSQL's: SQLite has one writer at a time, which posts directly")
    path = path or current_app.config.get("APPENDER_SOCKET")
    if not path:
        fail("give --socket PATH or set LEDGER_APPENDER_SOCKET")
    session = get_session()
    get_books(session)  # a database that cannot be reached or is not migrated: the command's message
    served = Appender(driver_dsn(session.get_bind()), path,
                      warn=lambda message: click.echo(f"warning: {message}", err=True), held_after=held_after)
    session.rollback()  # that read ends here: a transaction open while serving would hold back vacuum
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: served.stop.set())
    try:
        served.serve(ready=lambda: click.echo(f"appending at {path}; SIGTERM or Ctrl-C stops", err=True))
    except AlreadyServed as exc:
        fail(str(exc))
    except psycopg.OperationalError as exc:
        fail(f"cannot reach the database: {str(exc).strip()}")
    click.echo(f"stopped: {served.entries} entries appended in {served.batches} batches")
