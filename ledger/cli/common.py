"""What every ``ledger`` command shares: one transaction per command, and errors as a message and
a non-zero exit.

A command opens one session, calls services, and commits only when everything succeeded; a domain
error prints its message (every problem, by field or TOML path) and exits with status 1, having
written nothing. Every command and group is made with ``cls=Command`` / ``cls=Group``: a database
the command cannot use (not migrated, not reachable), a revision Alembic cannot find, or a file
or folder it cannot read or write is a message and exit 1 too, whether or not the command is
``transactional``, never a traceback (a test holds every command to it).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import OperationalError, ProgrammingError

from ledger.core.errors import LedgerError
from ledger.runtime.database import get_session

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def fail(message: str, code: int = 1):
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def describe(exc: LedgerError) -> str:
    """The error's detail, then each field at fault that the detail does not already name."""
    extra = [f"  {field}: {msg}" for field, msgs in exc.errors.items() for msg in msgs
             if f"{field}:" not in exc.detail]
    return "\n".join([exc.detail, *extra])


def database_unusable(exc: OperationalError | ProgrammingError) -> str:
    reason = str(exc.orig).splitlines()[0]
    return f"the database could not be used ({reason}); is it migrated (`ledger db upgrade`)?"


class Command(click.Command):
    """A ``ledger`` command: what it cannot do for want of a usable database, a migration or a
    file is a message and exit 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (OperationalError, ProgrammingError) as exc:
            fail(database_unusable(exc))
        except _alembic_errors() as exc:  # a revision Alembic cannot find, a downgrade it cannot do
            fail(str(exc))
        except OSError as exc:  # a file or folder the command was told to read or write
            fail(f"cannot use {exc.filename}: {exc.strerror}" if exc.filename else f"cannot do it: {exc}")


class Group(click.Group):
    """A group of ``ledger`` commands, each a ``Command``."""

    command_class = Command


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
            fail(database_unusable(exc))

    return wrapper


def _alembic_errors() -> tuple[type[BaseException], ...]:
    """Alembic's ``CommandError``, when a command has imported Alembic (only those that migrate
    do: it is 0.1-0.2 s of a command's start, which the others skip); else nothing to catch."""
    found = sys.modules.get("alembic.util.exc")
    return (found.CommandError,) if found is not None else ()


def alembic_config():
    """Alembic's configuration for the app's database and this package's migrations."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = current_app.config["DATABASE_URL"]
    return cfg
