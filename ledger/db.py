"""Database plumbing: the declarative base, exact column types, engines and sessions.

- Every constraint gets a name from ``NAMING`` so migrations can refer to it on both engines.
- ``ExactAmount`` stores an amount as a BIGINT count of ten-thousandths (``MAX_PLACES``: the most
  decimals an ISO 4217 currency has), whatever its commodity: a USD cent is 100, a yen 10,000, a
  BHD fils 10. SQLite has no exact decimal type (its NUMERIC affinity keeps 0.1 as a binary float),
  so exact integers are the only column that sums exactly on both engines; the Python side only
  ever sees ``Decimal``. ``to_stored`` / ``from_stored`` / ``stored_to_minor`` convert for the
  code that writes or reads the integers directly (the bulk posting path, the close, statements).
- ``DecimalText`` stores a rate (``0.7`` for 70%) as its exact decimal text; rates are never summed
  in SQL.
- SQLite connections turn foreign keys on, use WAL, and begin every transaction with
  ``BEGIN IMMEDIATE`` so two writers queue instead of failing half-way on a lock upgrade.
- PostgreSQL connections are pinged on checkout only when they sat in the pool longer than
  ``PING_AFTER`` seconds (``ping_if_idle``): a connection back from the last request milliseconds
  ago saves the round trip, one that idled (through a server restart, say) is pinged, and a dead
  one is replaced before the caller sees it, as SQLAlchemy's ``pool_pre_ping`` would do.
- Sessions: one per request or CLI command (``get_session``), removed at teardown. Services receive
  the session and never commit; the caller owns the transaction. The session also carries the
  clock its services read the time from (``clock_of``): the system clock unless the caller gave
  another (tests, the demo's simulated year).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Annotated

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import DeclarativeBase, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from ledger.core.clock import SYSTEM_CLOCK, Clock
from ledger.core.money import MAX_PLACES, MoneyError, places

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


#: Stored integers per unit of any commodity.
STORED_SCALE = 10 ** MAX_PLACES


def to_stored(amount: Decimal) -> int:
    """An amount as the stored integer of ten-thousandths; refuses more places than that."""
    if isinstance(amount, float):
        raise MoneyError("a float reached an amount column; use Decimal")
    scaled = Decimal(amount).scaleb(MAX_PLACES)
    stored = int(scaled)
    if stored != scaled:
        raise MoneyError(f"{amount} has more than {MAX_PLACES} decimal places")
    return stored


def from_stored(stored: int) -> Decimal:
    """The stored integer back to an amount (at ``MAX_PLACES``; ``quantize`` gives a commodity's)."""
    return Decimal(int(stored)).scaleb(-MAX_PLACES)


def stored_to_minor(stored: int, commodity: str) -> int:
    """A stored integer as the commodity's minor units (exact: amounts never carry more places
    than their commodity allows)."""
    q, r = divmod(int(stored), 10 ** (MAX_PLACES - places(commodity)))
    if r:
        raise MoneyError(f"a stored amount ({stored}) has more places than {commodity} allows")
    return q


def minor_to_stored(minor: int, commodity: str) -> int:
    return int(minor) * 10 ** (MAX_PLACES - places(commodity))


class ExactAmount(TypeDecorator):
    """A Decimal stored as an exact BIGINT of ten-thousandths (see the module docstring)."""

    impl = sa.BigInteger
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else to_stored(value)

    def process_result_value(self, value, dialect):
        return None if value is None else from_stored(value)


class DecimalText(TypeDecorator):
    """An exact Decimal kept as its text (rates, multiples). Never summed by the database."""

    impl = sa.String(40)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, float):
            raise MoneyError("a float reached a rate column; use Decimal")
        return format(Decimal(value).normalize(), "f")

    def process_result_value(self, value, dialect):
        return None if value is None else Decimal(value)


#: A 64-bit primary key that is still SQLite's auto-incrementing rowid.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

Amount = Annotated[Decimal, mapped_column(ExactAmount, nullable=False)]
Code = Annotated[str, mapped_column(sa.String(32), nullable=False, unique=True)]


def make_engine(url: str) -> sa.Engine:
    """An engine for ``url`` with the per-engine settings the ledger relies on."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn, _record):
            # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is too lazy).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            # 64 MiB of page cache (the default is 2 MiB): a close writes tens of thousands of
            # detail lines into three B-trees, and a cache that small spills them to disk mid-way.
            cur.execute("PRAGMA cache_size=-65536")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = sa.create_engine(url)
    event.listen(engine, "checkin", _mark_idle)
    event.listen(engine, "checkout", lambda dbapi_connection, record, _proxy:
                 ping_if_idle(engine.dialect, dbapi_connection, record))
    return engine


#: Seconds a pooled PostgreSQL connection may sit unused and still be handed out unpinged.
PING_AFTER = 1.0


def _mark_idle(_dbapi_connection, record) -> None:
    record.info["idle_since"] = time.monotonic()


def ping_if_idle(dialect: sa.Dialect, dbapi_connection, record) -> None:
    """Ping a connection that sat in the pool longer than ``PING_AFTER`` (a new one has no mark
    and needs none); a failed ping raises ``DisconnectionError``, on which the pool drops the
    connection and hands out a fresh one (it tries three times)."""
    idle_since = record.info.pop("idle_since", None)
    if idle_since is None or time.monotonic() - idle_since <= PING_AFTER:
        return
    try:
        dialect.do_ping(dbapi_connection)
    except dialect.loaded_dbapi.Error as exc:
        raise sa.exc.DisconnectionError(f"the pooled connection did not answer a ping: {exc}") from exc


def make_sessionmaker(engine: sa.Engine, clock: Clock = SYSTEM_CLOCK) -> sessionmaker[Session]:
    """Sessions on ``engine`` whose services read the time from ``clock``."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True, info={"clock": clock})


def clock_of(session: Session) -> Clock:
    """The clock the session's services take the time from (CONTRACT: times are the server's)."""
    return session.info.get("clock", SYSTEM_CLOCK)


def is_postgres(session_or_conn) -> bool:
    return session_or_conn.get_bind().dialect.name == "postgresql"


@contextmanager
def outside_transaction(session: Session) -> Iterator[None]:
    """Statements run inside this block on the session's connection open no transaction on
    PostgreSQL when none is open yet: each is its own (autocommit), which saves the ``BEGIN``'s
    round trip. For a request's first read (the API's caller and key: ``api.transaction``), whose
    answer holds nothing the transaction after it relies on but what is committed, and for an
    append that is a whole transaction in one statement (``journal.append``, committing); the
    session's transaction begins at its next statement, as before. SQLite's transactions begin in
    process."""
    if not is_postgres(session) or transaction_open(session):
        yield
        return
    conn = session.connection().connection.driver_connection
    conn.autocommit = True
    try:
        yield
    finally:
        conn.autocommit = False


def transaction_open(session: Session) -> bool:
    """PostgreSQL: whether the session's connection is inside a transaction at the server — not
    before its first statement, nor after a ``COMMIT`` sent with the last one (``journal.append``)."""
    from psycopg.pq import TransactionStatus  # PostgreSQL's alone (a SQLite command starts without it)

    return session.connection().connection.driver_connection.info.transaction_status != TransactionStatus.IDLE
