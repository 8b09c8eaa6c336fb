"""Alembic environment: the URL comes from the caller (``ledger db upgrade`` passes the app's),
else from ``DATABASE_URL``; the target metadata is the models'."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from ledger.journal.models import schema_compared
from ledger.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.attributes.get("url") or os.environ["DATABASE_URL"]


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                          include_object=schema_compared(connection.dialect.name))
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(_url())
    try:
        with engine.connect() as conn:
            context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True,
                              include_object=schema_compared(conn.dialect.name))
            with context.begin_transaction():
                context.run_migrations()
    finally:  # a revision that fails (or is not found) leaves no connection open behind it
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
