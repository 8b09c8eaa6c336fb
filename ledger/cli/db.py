"""``ledger db upgrade|downgrade|current``: the schema, by Alembic migrations only."""

from __future__ import annotations

import click
from alembic import command
from flask.cli import with_appcontext
from sqlalchemy.exc import OperationalError

from ledger.cli.common import Group, alembic_config, fail


@click.group("db", cls=Group, help="Database schema (Alembic migrations).")
def db_group():
    pass


@db_group.command("upgrade", help="Apply every migration up to REVISION (default: head).")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision):
    try:
        command.upgrade(alembic_config(), revision)
    except OperationalError as exc:
        fail(f"cannot reach the database: {exc.orig}")
    click.echo(f"database at {revision}")


@db_group.command("downgrade", help="Revert migrations down to REVISION.")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision):
    command.downgrade(alembic_config(), revision)


@db_group.command("current", help="Show the database's revision.")
@with_appcontext
def db_current():
    command.current(alembic_config())
