"""The database engine under test (``TEST_ENGINE``: ``sqlite``, the default, or ``postgresql``) and
the few things done to a whole database: migrate it, and on PostgreSQL create and drop it
(``TEST_PG_ADMIN_URL`` says where)."""

from __future__ import annotations

import os

import sqlalchemy as sa

from ledger import create_app

ENGINE = os.environ.get("TEST_ENGINE", "sqlite")
PG_ADMIN = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def libpq_url(url: str) -> str:
    """``url`` (SQLAlchemy's, ``postgresql+psycopg://…``) as libpq reads it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def migrate(url: str) -> None:
    app = create_app({"DATABASE_URL": url, "TESTING": True, "SECRET_KEY": "test"})
    runner = app.test_cli_runner()
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    app.extensions["ledger.engine"].dispose()


def create_pg_database(name: str) -> str:
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(name: str) -> None:
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()
