"""Attaches the database to the app: one engine per app, one session per request or command,
removed at teardown (rolled back if the caller did not commit). Sessions carry the app's clock
(``CLOCK`` in the config: the system clock unless a test or the demo gives another)."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from ledger.core.clock import SYSTEM_CLOCK
from ledger.db import make_engine, make_sessionmaker


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["ledger.engine"] = engine
    app.extensions["ledger.sessionmaker"] = make_sessionmaker(engine, app.config.get("CLOCK") or SYSTEM_CLOCK)
    if app.config.get("APPENDER_SOCKET") and engine.dialect.name == "postgresql":
        from ledger.journal import appender  # its socket and psycopg only where one is configured

        appender.attach(engine, app.config["APPENDER_SOCKET"])  # grouped entries go through it
    app.teardown_appcontext(close_session)


def get_session() -> Session:
    if "db_session" not in g:
        g.db_session = current_app.extensions["ledger.sessionmaker"]()
    return g.db_session


def close_session(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.rollback()
        session.close()
