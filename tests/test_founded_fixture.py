"""The ``founded`` fixture restores a founding made once a session (``conftest.founded_snapshot``)
instead of running ``ledger init`` in every test. It must be the founding ``ledger init`` makes in
the test's own database: every row alike but for what a second run makes otherwise (the time it
ran, salted password hashes, and the chain's hashes, which cover the time), and the same ids next.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from helpers.engine import migrate
from helpers.postings import engagement, invoice

from ledger.journal.models import Entry
from ledger.journal.verify import verify
from ledger.runtime.database import get_session

#: Columns whose values a second founding writes otherwise (besides every date-time column).
VARIES = {"password_hash", "hash", "prev_hash"}


def _rows(app) -> dict[str, list[tuple]]:
    """Every table's rows, less the columns a second founding writes otherwise."""
    with app.app_context():
        s = get_session()
        meta = sa.MetaData()
        meta.reflect(bind=s.connection())
        out = {}
        for table in sorted(meta.tables.values(), key=lambda t: t.name):
            if table.name == "alembic_version":
                continue
            kept = [c for c in table.columns if not isinstance(c.type, sa.DateTime) and c.name not in VARIES]
            out[table.name] = sorted(tuple(map(repr, row)) for row in s.execute(sa.select(*kept)))
        s.rollback()
    return out


def _next_ids(app) -> tuple[int, int, bool]:
    """The ids the next engagement and entry get, and whether the chain verifies after them."""
    with app.app_context():
        s = get_session()
        e = engagement(s, "next", "msft", "ben")
        invoice(s, e, "100.00", dt.date(2026, 1, 10))
        s.commit()
        return e.id, s.scalar(sa.select(sa.func.max(Entry.id))), verify(s).ok


def test_the_restored_founding_is_the_one_ledger_init_makes(founded, founded_snapshot, make_app, fresh_db_url,
                                                            charter_file):
    assert founded_snapshot is not None  # restored, not founded again (a superuser's PostgreSQL, SQLite)
    migrate(fresh_db_url)
    made = make_app(fresh_db_url)
    result = made.test_cli_runner().invoke(args=["init", str(charter_file)])
    assert result.exit_code == 0, result.output

    restored_rows, made_rows = _rows(founded), _rows(made)
    assert sum(map(len, made_rows.values())) > 20  # a founding writes partners, accounts, entries...
    assert restored_rows == made_rows
    assert _next_ids(founded) == _next_ids(made)
