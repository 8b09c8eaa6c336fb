"""The posting table's engagement index holds only tagged postings (migration 0023) while every
query of it can still use it."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from ledger.journal.models import Posting

# --- the partial engagement index ---------------------------------------------------------------

def _engagement_index_sql(conn) -> str:
    if conn.dialect.name == "postgresql":
        return conn.exec_driver_sql(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_posting_engagement_id'").scalar_one()
    return conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'ix_posting_engagement_id'").scalar_one()


def _triggers(conn) -> set[str]:
    if conn.dialect.name == "postgresql":
        return set(conn.exec_driver_sql("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal").scalars())
    return set(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars())


def test_the_engagement_index_is_partial_as_the_model_says_and_the_downgrade_makes_it_full(make_app, fresh_db_url):
    app = make_app(fresh_db_url)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    engine = sa.create_engine(fresh_db_url)
    model = next(i for i in Posting.__table__.indexes if i.name == "ix_posting_engagement_id")
    with engine.connect() as conn:
        partial, guards = _engagement_index_sql(conn), _triggers(conn)
        created = str(sa.schema.CreateIndex(model).compile(dialect=conn.dialect))
    assert re.search(r"WHERE \(?engagement_id IS NOT NULL\)?", partial), partial
    assert "WHERE engagement_id IS NOT NULL" in created  # the model says the same
    assert runner.invoke(args=["db", "downgrade", "0022"]).exit_code == 0
    with engine.connect() as conn:
        assert "WHERE" not in _engagement_index_sql(conn)
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    with engine.connect() as conn:
        assert "WHERE" in _engagement_index_sql(conn)
        assert _triggers(conn) == guards  # the posting table kept its guards (no table copy on SQLite)
    engine.dispose()


@pytest.mark.parametrize("where", [
    Posting.engagement_id == 7,  # entries of an engagement (read.entries), provenance
    Posting.engagement_id.in_([7, 8, 9]),  # engagement economics (practices.engagements)
])
def test_every_query_of_the_engagement_index_can_still_use_it(session, where):
    query = sa.select(Posting.entry_id).where(where)
    conn = session.connection()
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # an empty table: ask whether it can
        plan = "\n".join(conn.exec_driver_sql(f"EXPLAIN {sql}").scalars())
    else:
        plan = "\n".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    session.rollback()
    assert "ix_posting_engagement_id" in plan, plan
