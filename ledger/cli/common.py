"""What every ``ledger`` command shares: one transaction per command, and errors as a message and
a non-zero exit.

A command opens one session, calls services, and commits only when everything succeeded; a domain
error prints its message (every problem, by field or TOML path) and exits with status 1, having
written nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path

import click
from alembic.config import Config
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


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = current_app.config["DATABASE_URL"]
    return cfg
