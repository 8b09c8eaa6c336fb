"""Fixtures build on each other: engine URL → migrated template → app → client/runner/session.

The engine comes from ``TEST_ENGINE`` (``sqlite``, the default, or ``postgresql``). On SQLite each
test gets a copy of a database migrated once per run; on PostgreSQL a database is created and
migrated once per run (``TEST_PG_ADMIN_URL`` says where) and each test starts from it truncated
(``TRUNCATE`` fires no row triggers, so the immutability guards stay installed and untouched).

The layout of ``tests/``:

- this file: the database and app fixtures below, and ``pytest_plugins``, which loads the fixtures
  of ``tests/fixtures/`` (services, API, web) for every test module: tests name fixtures as
  arguments and never import them;
- ``tests/helpers/``: plain helpers imported as usual (the engine under test, ``ApiClient``,
  ``assert_problem``, signing in, reading pages, postings);
- ``tests/charters.py``: every charter the tests found a partnership with.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from charters import WORKED_CHARTER
from helpers.engine import ENGINE, create_pg_database, drop_pg_database, migrate

from ledger import create_app
from ledger.runtime.database import get_session

pytest_plugins = ["fixtures.services", "fixtures.api", "fixtures.web"]


@pytest.fixture(scope="session")
def template_url(tmp_path_factory):
    if ENGINE == "postgresql":
        name = f"pl_test_{os.getpid()}"
        url = create_pg_database(name)
        migrate(url)
        yield url
        drop_pg_database(name)
    else:
        path = tmp_path_factory.mktemp("template") / "ledger.db"
        url = f"sqlite:///{path}"
        migrate(url)
        yield url


def _truncate(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        tables = [r[0] for r in conn.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")]
        conn.exec_driver_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
        conn.exec_driver_sql("INSERT INTO chain_head (id, seq, hash) VALUES (1, 0, '%s')" % ("0" * 64))
    engine.dispose()


@pytest.fixture
def db_url(template_url, tmp_path):
    """A migrated, empty database for this test alone."""
    if ENGINE == "postgresql":
        _truncate(template_url)
        return template_url
    src = Path(template_url.removeprefix("sqlite:///"))
    dst = tmp_path / "ledger.db"
    shutil.copy(src, dst)
    return f"sqlite:///{dst}"


@pytest.fixture
def fresh_db_url(tmp_path):
    """A database of its own (for tests that drop triggers or run migrations), not yet migrated."""
    if ENGINE == "postgresql":
        name = f"pl_fresh_{uuid.uuid4().hex[:10]}"
        url = create_pg_database(name)
        yield url
        drop_pg_database(name)
    else:
        yield f"sqlite:///{tmp_path / 'fresh.db'}"


@pytest.fixture
def make_app():
    apps = []

    def factory(url, **config):
        app = create_app({"DATABASE_URL": url, "TESTING": True, "SECRET_KEY": "test", **config})
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.extensions["ledger.engine"].dispose()


@pytest.fixture
def app(db_url, make_app):
    return make_app(db_url)


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def session(app):
    with app.app_context():
        yield get_session()


@pytest.fixture
def charter_file(tmp_path):
    path = tmp_path / "charter.toml"
    path.write_text(WORKED_CHARTER)
    return path


@pytest.fixture
def founded(app, runner, charter_file):
    """The app with the worked example's partnership founded through the CLI."""
    result = runner.invoke(args=["init", str(charter_file)])
    assert result.exit_code == 0, result.output
    return app
