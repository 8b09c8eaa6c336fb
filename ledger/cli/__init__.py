"""The ``ledger`` command: a Flask CLI group over ``ledger:create_app``.

Each command opens one session, calls services, and commits only when everything succeeded; a
domain error prints its message (every problem, by field or TOML path) and exits with status 1,
having written nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy.exc import OperationalError, ProgrammingError

from ledger.core.errors import LedgerError
from ledger.runtime.database import get_session


def fail(message: str, code: int = 1):
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def describe(exc: LedgerError) -> str:
    """The error's detail, then each field at fault that the detail does not already name."""
    extra = [f"  {field}: {msg}" for field, msgs in exc.errors.items() for msg in msgs
             if f"{field}:" not in exc.detail]
    return "\n".join([exc.detail, *extra])


def transactional(fn: Callable) -> Callable:
    """Run a command in one transaction: commit on success, roll back and exit 1 on a domain error."""

    @wraps(fn)
    @with_appcontext
    def wrapper(*args, **kwargs):
        session = get_session()
        try:
            result = fn(session, *args, **kwargs)
            session.commit()
            return result
        except LedgerError as exc:
            session.rollback()
            fail(describe(exc))
        except (OperationalError, ProgrammingError) as exc:
            session.rollback()
            reason = str(exc.orig).splitlines()[0]
            fail(f"the database could not be used ({reason}); is it migrated (`ledger db upgrade`)?")

    return wrapper


@click.group("db", help="Database schema (Alembic migrations).")
def db_group():
    pass


def alembic_config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parents[2] / "migrations"))
    cfg.attributes["url"] = current_app.config["DATABASE_URL"]
    return cfg


@db_group.command("upgrade", help="Apply every migration up to REVISION (default: head).")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision):
    from alembic import command

    try:
        command.upgrade(alembic_config(), revision)
    except OperationalError as exc:
        fail(f"cannot reach the database: {exc.orig}")
    click.echo(f"database at {revision}")


@db_group.command("downgrade", help="Revert migrations down to REVISION.")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision):
    from alembic import command

    command.downgrade(alembic_config(), revision)


@db_group.command("current", help="Show the database's revision.")
@with_appcontext
def db_current():
    from alembic import command

    command.current(alembic_config())


@click.command("init", help="Found the partnership from CHARTER (TOML) into an empty, migrated database.")
@click.argument("charter", type=click.Path(dir_okay=False))
@transactional
def init_command(session, charter):
    from ledger.partnership.charter import load_charter
    from ledger.partnership.founding import found

    path = Path(charter)
    if not path.exists():
        fail(f"no charter at {charter}")
    data = load_charter(path.read_text(encoding="utf-8"))
    ps = found(session, data)
    click.echo(f"founded {ps.name}: {len(data['partners'])} partners, {len(data['practices'])} practices")


@click.group("user", help="Users of the web app and API.")
def user_group():
    pass


@user_group.command("add", help="Add a user with a role; --password-stdin reads a password.")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "treasurer", "partner"]), required=True)
@click.option("--partner", "partner_code", help="the partner code a partner user acts for")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@transactional
def user_add(session, email, role, partner_code, password_stdin):
    from ledger.auth.models import User
    from ledger.auth.service import add_user, get_user, set_password
    from ledger.core.errors import Conflict

    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    try:
        user = add_user(session, email, role, partner_code, password)
    except Conflict:
        # `ledger init` already made each partner's user: let the same command set its password.
        user: User = get_user(session, email)
        if user.role != role or (partner_code and (user.partner is None or user.partner.code != partner_code)):
            raise
        if password is None:
            raise
        set_password(session, user, password)
        click.echo(f"password set for {user.email}")
        return
    click.echo(f"user {user.email} ({user.role}) added")


@click.group("token", help="API tokens.")
def token_group():
    pass


@token_group.command("create", help="Print a new API token for EMAIL (as the last line).")
@click.argument("email")
@transactional
def token_create(session, email):
    from ledger.auth.service import create_token, get_user

    token = create_token(session, get_user(session, email))
    click.echo(f"token for {email} (shown once; store it now):")
    click.echo(token)


@token_group.command("revoke", help="Revoke every API token of EMAIL.")
@click.argument("email")
@transactional
def token_revoke(session, email):
    from ledger.auth.service import get_user, revoke_tokens

    click.echo(f"{revoke_tokens(session, get_user(session, email))} token(s) revoked")


def register(app) -> None:
    for cmd in (db_group, init_command, user_group, token_group):
        app.cli.add_command(cmd)
    from ledger.cli.journal import register_ledger_commands
    from ledger.cli.periods import close_command, demo_command, import_command, statement_command

    register_ledger_commands(app)
    app.cli.add_command(close_command)
    app.cli.add_command(statement_command)
    app.cli.add_command(import_command)
    app.cli.add_command(demo_command)
    from ledger.cli.equity import export_ocf_command

    app.cli.add_command(export_ocf_command)


def main() -> None:
    from ledger import create_app

    cli = FlaskGroup(create_app=create_app, help="Practice Ledger: run a cooperative IT partnership.")
    cli.main(prog_name="ledger")
