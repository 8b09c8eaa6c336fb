"""``ledger verify`` detects a ledger altered behind the database's back."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa
from helpers.engine import ENGINE

from ledger.core import chart
from ledger.core.entries import Leg
from ledger.journal.service import post_entry
from ledger.runtime.database import get_session


def _found_and_post(make_app, url, charter_file):
    app = make_app(url)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    assert runner.invoke(args=["init", str(charter_file)]).exit_code == 0
    with app.app_context():
        s = get_session()
        for cents in ("100.00", "250.50"):
            post_entry(s, date=dt.date(2026, 1, 9), memo="seed", source_type="manual",
                       legs=[Leg(chart.CASH, Decimal(cents), "USD"), Leg(chart.capital("ben"), -Decimal(cents), "USD")])
        s.commit()
    return app, runner


def test_verify_passes_on_an_honest_ledger(founded, runner):
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 1 entries, head ")


def test_verify_finds_an_amount_altered_with_the_trigger_dropped(make_app, fresh_db_url, charter_file):
    app, runner = _found_and_post(make_app, fresh_db_url, charter_file)
    engine = app.extensions["ledger.engine"]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("DROP TRIGGER posting_no_update_delete ON posting")
        else:
            conn.exec_driver_sql("DROP TRIGGER posting_no_update")
        conn.exec_driver_sql("UPDATE posting SET amount = 1005000 WHERE amount = 1000000")  # 100.00 → 100.50
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1
    assert "entry 2: hash mismatch" in result.output
    assert "posting_no_update" in result.output  # the missing guard is reported too


@pytest.mark.skipif(ENGINE != "postgresql", reason="PostgreSQL's references are checked by triggers (0029)")
@pytest.mark.parametrize("trigger,table", [("account_referenced", "account"), ("engagement_referenced", "engagement")])
def test_verify_reports_a_reference_check_dropped(make_app, fresh_db_url, charter_file, trigger, table):
    """A reference the database no longer checks is reported like any other missing guard."""
    app, runner = _found_and_post(make_app, fresh_db_url, charter_file)
    with app.extensions["ledger.engine"].begin() as conn:
        conn.exec_driver_sql(f"DROP TRIGGER {trigger} ON {table}")
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1
    assert f"the database guard trigger {trigger} is missing" in result.output


@pytest.mark.skipif(ENGINE != "postgresql", reason="the chain head's key to its entry is PostgreSQL's (0031)")
def test_verify_reports_the_chain_heads_key_dropped(make_app, fresh_db_url, charter_file):
    """Without the head's key a posting could be committed without its entry: reported."""
    app, runner = _found_and_post(make_app, fresh_db_url, charter_file)
    assert runner.invoke(args=["verify"]).exit_code == 0
    with app.extensions["ledger.engine"].begin() as conn:
        conn.exec_driver_sql("ALTER TABLE chain_head DROP CONSTRAINT fk_chain_head_entry_id_entry")
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1
    assert "the database key fk_chain_head_entry_id_entry is missing" in result.output


def test_verify_finds_a_broken_chain_link(make_app, fresh_db_url, charter_file):
    app, runner = _found_and_post(make_app, fresh_db_url, charter_file)
    engine = app.extensions["ledger.engine"]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE entry DISABLE TRIGGER entry_no_update_delete")
            conn.exec_driver_sql("UPDATE entry SET memo = 'rewritten' WHERE id = 3")
            conn.exec_driver_sql("ALTER TABLE entry ENABLE TRIGGER entry_no_update_delete")
        else:
            conn.exec_driver_sql("DROP TRIGGER entry_no_update")
            conn.exec_driver_sql("UPDATE entry SET memo = 'rewritten' WHERE id = 3")
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1
    assert "entry 3: hash mismatch" in result.output


def test_verify_finds_a_deleted_entry(make_app, fresh_db_url, charter_file):
    app, runner = _found_and_post(make_app, fresh_db_url, charter_file)
    engine = app.extensions["ledger.engine"]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET session_replication_role = replica")  # disables all triggers
            conn.exec_driver_sql("DELETE FROM posting WHERE entry_id = 2")
            conn.exec_driver_sql("DELETE FROM entry WHERE id = 2")
            conn.exec_driver_sql("SET session_replication_role = DEFAULT")
        else:
            conn.exec_driver_sql("DROP TRIGGER posting_no_delete")
            conn.exec_driver_sql("DROP TRIGGER entry_no_delete")
            conn.exec_driver_sql("DELETE FROM posting WHERE entry_id = 2")
            conn.exec_driver_sql("DELETE FROM entry WHERE id = 2")
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1
    assert "entry ids jump from 1 to 3" in result.output
    assert "entry 3: prev_hash does not match" in result.output


def test_triggers_survive_the_test_truncation(founded):
    # Sanity for the fixtures: the shared template still has its guards.
    with founded.app_context():
        s = get_session()
        if s.get_bind().dialect.name == "postgresql":
            n = s.scalar(sa.text("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal"))
        else:
            n = s.scalar(sa.text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"))
        assert n >= 5
