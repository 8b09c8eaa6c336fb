"""The PostgreSQL pool pings a connection only when it idled past ``PING_AFTER``: a connection back
from the last request a moment ago is handed out as it is (no round trip), one that idled is pinged,
and one whose server went away meanwhile is replaced before the caller sees it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from helpers.engine import ENGINE

from ledger import db

pytestmark = pytest.mark.skipif(ENGINE != "postgresql", reason="the idle ping is PostgreSQL's pool")


@pytest.fixture
def engine(db_url):
    engine = db.make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pings(engine, monkeypatch):
    calls = []
    real = engine.dialect.do_ping

    def counting(dbapi_connection):
        calls.append(dbapi_connection)
        return real(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counting)
    return calls


def _backend(engine) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()


def _terminate(db_url: str, pid: int) -> None:
    admin = sa.create_engine(db_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)}, 5000)").scalar()
    admin.dispose()


def test_a_connection_back_a_moment_ago_is_not_pinged(engine, pings):
    first = _backend(engine)
    for _ in range(5):
        assert _backend(engine) == first
    assert pings == []


def test_a_connection_that_idled_is_pinged(engine, pings, monkeypatch):
    first = _backend(engine)
    monkeypatch.setattr(db, "PING_AFTER", -1.0)  # every checkout counts as after a long idle
    assert _backend(engine) == first
    assert len(pings) == 1


def test_a_dead_connection_that_idled_is_replaced_before_the_caller_sees_it(engine, db_url, pings, monkeypatch):
    first = _backend(engine)
    _terminate(db_url, first)
    monkeypatch.setattr(db, "PING_AFTER", -1.0)
    second = _backend(engine)  # no error: the failed ping made the pool connect afresh
    assert second != first
    assert len(pings) == 1  # the dead one's; a fresh connection is not pinged
