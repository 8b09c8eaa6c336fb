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
from dataclasses import dataclass
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


#: The template's tables (``alembic_version`` aside), in name order: each one's dead rows, and whether
#: the role is a superuser (may set triggers aside).
_TABLES = (
    "SELECT t.relname, coalesce(st.n_dead_tup, 0), r.rolsuper FROM pg_class t "
    "JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public' "
    "JOIN pg_roles r ON r.rolname = current_user "
    "LEFT JOIN pg_stat_user_tables st ON st.relid = t.oid "
    "WHERE t.relkind IN ('r', 'p') AND t.relname <> 'alembic_version' ORDER BY t.relname")


def _empty(url: str, snapshot: Snapshot | None = None) -> bool:
    """Empty every table of the template, as ``TRUNCATE … RESTART IDENTITY CASCADE`` of them all
    would and at a tenth of its cost: the non-empty small tables by ``DELETE`` with the triggers
    set aside for the transaction (``session_replication_role = replica``: the immutability guards
    stay installed and untouched), the large or bloated ones by ``TRUNCATE``, the owned sequences
    restarted. A role that may not set triggers aside (not a superuser) truncates them all. With
    ``snapshot``, the tables then hold its rows and the sequences its values, in the same
    transaction (the triggers still aside: the rows are the ones the service wrote). Whether the
    role is a superuser."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        tables = conn.exec_driver_sql(_TABLES).all()
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
        if small or snapshot:
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            for name in small:
                conn.exec_driver_sql(f'DELETE FROM "{name}"')
        conn.exec_driver_sql(_RESTART)
        if snapshot is None:
            conn.exec_driver_sql("INSERT INTO chain_head (id, seq, hash) VALUES (1, 0, '%s')" % ("0" * 64))
        else:
            for name, columns in snapshot.tables:
                conn.exec_driver_sql(f'INSERT INTO public."{name}" ({columns}) OVERRIDING SYSTEM VALUE '
                                     f'SELECT {columns} FROM {_SNAPSHOT}."{name}"')
            for sequence, value, called in snapshot.sequences:
                conn.exec_driver_sql("SELECT setval(%s::regclass, %s, %s)", (sequence, value, called))
    engine.dispose()
    return superuser

#: The schema of the PostgreSQL template that keeps the founded partnership's rows.
_SNAPSHOT = "founded_snapshot"


@dataclass(frozen=True)
class Snapshot:
    """The founded partnership as ``ledger init`` of the worked charter writes it: on SQLite a
    database file to copy; on PostgreSQL the tables with rows and the sequences' values, kept in
    ``_SNAPSHOT`` beside the template's tables."""

    path: Path | None = None
    tables: tuple[tuple[str, str], ...] = ()  # each table with rows, and its columns but the generated
    sequences: tuple[tuple[str, int, bool], ...] = ()


def _found(url: str, folder: Path) -> None:
    """``ledger init`` of the worked charter in ``url``'s database, as ``founded`` runs it."""
    charter = folder / "charter.toml"
    charter.write_text(WORKED_CHARTER)
    app = create_app({"DATABASE_URL": url, "TESTING": True, "SECRET_KEY": "test"})
    result = app.test_cli_runner().invoke(args=["init", str(charter)])
    assert result.exit_code == 0, result.output
    app.extensions["ledger.engine"].dispose()


@pytest.fixture(scope="session")
def founded_snapshot(template_url, tmp_path_factory) -> Snapshot | None:
    """The worked charter founded once for the session (``founded`` restores it in a test's
    database rather than founding again: a third of a test's setup); ``None`` where the
    PostgreSQL role may not set triggers aside to restore it."""
    folder = tmp_path_factory.mktemp("founded")
    if ENGINE != "postgresql":
        path = folder / "ledger.db"
        shutil.copy(template_url.removeprefix("sqlite:///"), path)
        _found(f"sqlite:///{path}", folder)
        return Snapshot(path=path)
    if not _empty(template_url):
        return None
    _found(template_url, folder)
    engine = sa.create_engine(template_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {_SNAPSHOT} CASCADE")
        conn.exec_driver_sql(f"CREATE SCHEMA {_SNAPSHOT}")
        names = conn.exec_driver_sql(_TABLES).scalars().all()
        tables = tuple(name for name in names
                       if conn.exec_driver_sql(f'SELECT EXISTS (SELECT FROM public."{name}")').scalar())
        for name in tables:
            conn.exec_driver_sql(f'CREATE TABLE {_SNAPSHOT}."{name}" AS TABLE public."{name}"')
        written = conn.exec_driver_sql(
            "SELECT table_name, string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) "
            "FROM information_schema.columns WHERE table_schema = 'public' AND is_generated = 'NEVER' "
            "GROUP BY table_name").all()
        columns = dict(written)
        sequences = tuple(conn.exec_driver_sql(
            "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename), coalesce(last_value, start_value), "
            "last_value IS NOT NULL FROM pg_sequences WHERE schemaname = 'public'").all())
    engine.dispose()
    return Snapshot(tables=tuple((name, columns[name]) for name in tables),
                    sequences=tuple(tuple(row) for row in sequences))


def _restores_snapshot(request) -> bool:
    """Whether this test's ``founded`` is this file's, on this file's ``app``, ``db_url`` and
    ``charter_file``: then the founded partnership it would make is the session's snapshot."""
    defs = request.node._fixtureinfo.name2fixturedefs
    return "founded" in defs and all(
        name in defs and defs[name][-1].func.__code__.co_filename == __file__
        for name in ("founded", "app", "db_url", "charter_file"))


@pytest.fixture
def db_url(template_url, tmp_path, request):
    """A migrated, empty database for this test alone; for a test founding the worked charter
    the conftest's way (``founded``), the session's founded snapshot instead."""
    snapshot = request.getfixturevalue("founded_snapshot") if _restores_snapshot(request) else None
    if ENGINE == "postgresql":
        _empty(template_url, snapshot)
        return template_url
    src = snapshot.path if snapshot is not None else Path(template_url.removeprefix("sqlite:///"))
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
def founded(app, runner, charter_file, request):
    """The app with the worked example's partnership founded through the CLI (``ledger init``):
    once a session, restored in this test's database by ``db_url`` (``founded_snapshot``), unless
    the module brings its own ``app``, ``db_url`` or ``charter_file``, or the role may not restore
    it (then founded here)."""
    if _restores_snapshot(request) and request.getfixturevalue("founded_snapshot") is not None:
        return app
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
