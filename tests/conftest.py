"""Fixtures build on each other: engine URL → migrated template → app → client/runner/session.

The engine comes from ``TEST_ENGINE`` (``sqlite``, the default, or ``postgresql``). On SQLite each
test gets a copy of a database migrated once per run; on PostgreSQL a database is created and
migrated once per run (``TEST_PG_ADMIN_URL`` says where) and each test starts from it emptied
(``_empty``: with the row triggers set aside or by ``TRUNCATE``, so the immutability guards stay
installed and untouched).

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


#: Every sequence a table owns, back to its start (what ``TRUNCATE … RESTART IDENTITY`` does).
_RESTART = """
SELECT setval(s.seqrelid, s.seqstart, false) FROM pg_sequence s
JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid AND d.deptype IN ('a', 'i')
"""
#: A table past this many rows, or with this many dead ones, is truncated rather than emptied by
#: ``DELETE``: a truncate costs about 10 ms a table in files; a delete leaves its rows for a
#: vacuum, which the CI's server does not run (``autovacuum = off``).
_DELETE_UP_TO, _DEAD_AT_MOST = 1000, 20000


def _empty(url: str) -> None:
    """Empty every table of the template, as ``TRUNCATE … RESTART IDENTITY CASCADE`` of them all
    would and at a tenth of its cost: the non-empty small tables by ``DELETE`` with the triggers
    set aside for the transaction (``session_replication_role = replica``: the immutability guards
    stay installed and untouched), the large or bloated ones by ``TRUNCATE``, the owned sequences
    restarted. A role that may not set triggers aside (not a superuser) truncates them all."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        tables = conn.exec_driver_sql(
            "SELECT t.relname, coalesce(st.n_dead_tup, 0), r.rolsuper FROM pg_class t "
            "JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public' "
            "JOIN pg_roles r ON r.rolname = current_user "
            "LEFT JOIN pg_stat_user_tables st ON st.relid = t.oid "
            "WHERE t.relkind IN ('r', 'p') AND t.relname <> 'alembic_version'").all()
        superuser = tables[0][2]
        rows = dict(conn.exec_driver_sql(" UNION ALL ".join(
            f"SELECT '{name}', (SELECT count(*) FROM (SELECT FROM \"{name}\" LIMIT {_DELETE_UP_TO + 1}) x) "
            f"WHERE EXISTS (SELECT FROM \"{name}\")" for name, _dead, _super in tables)).all())
        if superuser:
            big = {name for name, dead, _super in tables if rows.get(name, 0) > _DELETE_UP_TO or dead > _DEAD_AT_MOST}
            small = [name for name in rows if name not in big]
        else:
            big, small = {name for name, _dead, _super in tables}, []
        if big:
            conn.exec_driver_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in sorted(big)) + " RESTART IDENTITY CASCADE")
        if small:
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            for name in small:
                conn.exec_driver_sql(f'DELETE FROM "{name}"')
        conn.exec_driver_sql(_RESTART)
        conn.exec_driver_sql("INSERT INTO chain_head (id, seq, hash) VALUES (1, 0, '%s')" % ("0" * 64))
    engine.dispose()


@pytest.fixture
def db_url(template_url, tmp_path):
    """A migrated, empty database for this test alone."""
    if ENGINE == "postgresql":
        _empty(template_url)
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


#: What ties a test's outcome to the engine under test: one of these fixtures in its closure, or a
#: module that reads the engine itself (``helpers.engine``: the browser tests, a bench's own run).
_DATABASE_FIXTURES = {"template_url", "db_url", "fresh_db_url"}
_ENGINE_NAMES = ("ENGINE", "PG_ADMIN", "create_pg_database", "TEST_PG_ADMIN_URL")


def pytest_collection_modifyitems(config, items):
    """The PostgreSQL run skips what cannot reach PostgreSQL: a test with no database fixture, in a
    module that never names the engine, runs the same whatever ``TEST_ENGINE`` says (the pure
    rules, the architecture and security checks), and the SQLite run has run it. ``make test``
    runs both, so every test still runs once at least; a slow machine's CI does not run it twice."""
    if ENGINE != "postgresql":
        return
    once = pytest.mark.skip(reason="reaches no database, so runs the same on either engine: the SQLite run has it")
    names_engine: dict[Path, bool] = {}
    for item in items:
        if _DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())):
            continue
        path = Path(item.path)
        if path not in names_engine:
            names_engine[path] = any(name in path.read_text(encoding="utf-8") for name in _ENGINE_NAMES)
        if not names_engine[path]:
            item.add_marker(once)
