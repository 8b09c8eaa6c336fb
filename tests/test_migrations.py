"""Migrations are the only way the schema is made: they upgrade an empty database on both engines,
match the models exactly (autogenerate finds nothing to do), and downgrade cleanly."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ledger.models import Base


def test_upgrade_an_empty_database_matches_the_models(make_app, fresh_db_url):
    app = make_app(fresh_db_url)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    engine = sa.create_engine(fresh_db_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    assert diff == []


def test_downgrade_to_base_and_up_again(make_app, fresh_db_url):
    app = make_app(fresh_db_url)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    assert runner.invoke(args=["db", "downgrade", "base"]).exit_code == 0
    engine = sa.create_engine(fresh_db_url)
    tables = set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    engine.dispose()
    assert tables == set()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
