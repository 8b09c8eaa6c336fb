"""Migrations are the only way the schema is made: they upgrade an empty database on both engines,
match the models exactly (autogenerate finds nothing to do), and downgrade cleanly."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from helpers.engine import ENGINE

from ledger.journal.models import schema_compared
from ledger.models import Base

_POSTGRES = ENGINE == "postgresql"


def test_upgrade_an_empty_database_matches_the_models(make_app, fresh_db_url):
    app = make_app(fresh_db_url)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    engine = sa.create_engine(fresh_db_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                     "include_object": schema_compared(engine.dialect.name)})
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


def _a_ledger_with_a_closed_month(make_app, url: str, charter_file):
    """A database at head with a founded partnership, an engagement invoiced, a draw, a manual
    entry and its reversal, and January closed; the app and its CLI runner."""
    import datetime as dt
    from decimal import Decimal

    from ledger.core import chart
    from ledger.core.entries import Leg
    from ledger.journal.service import post_manual, reverse_entry
    from ledger.partnership.close import close_period
    from ledger.practices.bookings import record_draw, record_invoice
    from ledger.practices.engagements import create_client, open_engagement
    from ledger.runtime.database import get_session

    app = make_app(url)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    assert runner.invoke(args=["init", str(charter_file)]).exit_code == 0
    with app.app_context():
        s = get_session()
        create_client(s, "acme", "Acme")
        open_engagement(s, ref="e1", client="acme", practice="voice", originator="chen", title="t",
                        opened_on=dt.date(2026, 1, 2))
        record_invoice(s, "e1", Decimal("1234.57"), dt.date(2026, 1, 10))
        record_draw(s, "ben", Decimal("100.00"), dt.date(2026, 1, 20))
        manual = post_manual(s, dt.date(2026, 1, 21), "a mistake", [
            Leg(chart.CASH, Decimal("5.00"), "USD"), Leg(chart.capital("ben"), Decimal("-5.00"), "USD")])
        reverse_entry(s, manual.id)
        close_period(s, "2026-01")
        s.commit()
    return app, runner


def test_the_latest_migrations_carry_a_ledger_with_data_down_and_up_again(make_app, fresh_db_url, charter_file):
    """From the previous head with data: a founded ledger with a closed month goes down to 0008
    (amounts back to hundredths, the new columns gone) and up again, and comes back the same:
    the same trial balance, the same hash chain, ``verify`` clean."""
    from ledger.journal.balances import trial_balance
    from ledger.partnership.integrity import full_verify
    from ledger.runtime.database import get_session

    app, runner = _a_ledger_with_a_closed_month(make_app, fresh_db_url, charter_file)
    with app.app_context():
        s = get_session()
        before = trial_balance(s), full_verify(s).head
    app.extensions["ledger.engine"].dispose()
    assert runner.invoke(args=["db", "downgrade", "0008"]).exit_code == 0
    engine = sa.create_engine(fresh_db_url)
    with engine.connect() as conn:
        cash = conn.exec_driver_sql("SELECT balance FROM account_balance JOIN account ON account.id = account_id "
                                    "WHERE account.name = 'Assets:Receivable:Acme'").scalar()
        assert cash == 123457  # hundredths again
    engine.dispose()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    with app.app_context():
        s = get_session()
        report = full_verify(s)
        assert report.ok, report.problems
        assert (trial_balance(s), report.head) == before


def _entry_rules(engine: sa.Engine) -> dict:
    """What the entry table holds the ledger to, as the database states it."""
    inspector = sa.inspect(engine)
    rules = {"unique": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints("entry")),
             "indexes": sorted(i["name"] for i in inspector.get_indexes("entry") if not i.get("duplicates_constraint")),
             "posting_refers_to": sorted(fk["referred_table"] for fk in inspector.get_foreign_keys("posting"))}
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            rules["triggers"] = sorted(conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'entry'").scalars())
    return rules


def test_0025_drops_only_the_hash_index_and_keeps_every_entry_and_rule(make_app, fresh_db_url, charter_file):
    """Down to 0024 with entries (a reversal among them; the hash unique again) and up to head:
    the same entries and hash chain, ``verify`` clean, every other rule of the entry table as it
    was — on SQLite, where the table is rebuilt, its guard triggers too, and they still refuse."""
    from ledger.journal.models import Entry
    from ledger.partnership.integrity import full_verify
    from ledger.runtime.database import get_session

    def entries(s) -> list[tuple]:
        return [tuple(r) for r in s.execute(sa.select(Entry.id, Entry.prev_hash, Entry.hash, Entry.reverses_id)
                                            .order_by(Entry.id))]

    app, runner = _a_ledger_with_a_closed_month(make_app, fresh_db_url, charter_file)
    with app.app_context():
        before = entries(get_session())
    assert any(reverses for *_, reverses in before)
    app.extensions["ledger.engine"].dispose()
    engine = sa.create_engine(fresh_db_url)
    at_head = _entry_rules(engine)
    # PostgreSQL checks a posting's keys by triggers since 0029 and 0030
    refers_to = ["account", "engagement", "entry"] if engine.dialect.name == "sqlite" else []
    assert ("hash",) not in at_head["unique"] and at_head["posting_refers_to"] == refers_to
    assert runner.invoke(args=["db", "downgrade", "0024"]).exit_code == 0
    at_0024 = _entry_rules(engine)
    assert ("hash",) in at_0024["unique"]
    assert at_0024["posting_refers_to"] == ["account", "engagement", "entry"]  # 0029 and 0030 undone too
    assert ({**at_0024, "unique": [u for u in at_0024["unique"] if u != ("hash",)], "posting_refers_to": refers_to}
            == at_head)
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    assert _entry_rules(engine) == at_head
    if engine.dialect.name == "sqlite":
        assert at_head["triggers"] == ["entry_balanced", "entry_detail_agrees", "entry_no_delete", "entry_no_update"]
    with engine.connect() as conn:
        for statement in ("UPDATE entry SET memo = 'x'", "DELETE FROM entry"):
            with pytest.raises(sa.exc.DBAPIError, match="immutable"):
                conn.exec_driver_sql(statement)
            conn.rollback()
    engine.dispose()
    with app.app_context():
        s = get_session()
        assert entries(s) == before
        report = full_verify(s)
        assert report.ok, report.problems


def _references(engine: sa.Engine) -> dict:
    """The foreign keys of posting, entry and chain_head, and the tables and triggers of 0029 to
    0031, as the database states them."""
    inspector = sa.inspect(engine)
    rules = {t: sorted(fk["name"] for fk in inspector.get_foreign_keys(t)) for t in ("posting", "entry", "chain_head")}
    rules["posting_check"] = inspector.has_table("posting_check")
    with engine.connect() as conn:
        rules["triggers"] = sorted(conn.exec_driver_sql(
            "SELECT tgname FROM pg_trigger WHERE tgname IN "
            "('account_referenced', 'engagement_referenced', 'posting_check_at_commit')").scalars())
    return rules


@pytest.mark.skipif(not _POSTGRES, reason="0029 to 0031 change PostgreSQL only")
def test_0029_to_0031_trade_the_keys_for_triggers_and_back_with_the_ledger_intact(make_app, fresh_db_url,
                                                                                 charter_file):
    """Up: the four keys are triggers and the chain head's key, and refuse as the keys did; down
    to 0028: the keys again, validated against the rows written meanwhile, the tables, triggers
    and the head's key gone; up again: the same ledger, and an orphan posting still refused."""
    from ledger.partnership.integrity import full_verify
    from ledger.runtime.database import get_session

    app, runner = _a_ledger_with_a_closed_month(make_app, fresh_db_url, charter_file)
    app.extensions["ledger.engine"].dispose()
    engine = sa.create_engine(fresh_db_url)
    try:
        keys = {"posting": ["fk_posting_account_id_account", "fk_posting_engagement_id_engagement",
                            "fk_posting_entry_id_entry"], "entry": ["fk_entry_reverses_id_entry"]}
        assert _references(engine) == {"posting": [], "entry": [], "chain_head": ["fk_chain_head_entry_id_entry"],
                                       "posting_check": False,
                                       "triggers": ["account_referenced", "engagement_referenced"]}
        assert runner.invoke(args=["db", "downgrade", "0030"]).exit_code == 0
        assert _references(engine) == {"posting": [], "entry": [], "chain_head": [], "posting_check": True,
                                       "triggers": ["account_referenced", "engagement_referenced", "posting_check_at_commit"]}
        assert runner.invoke(args=["db", "downgrade", "0028"]).exit_code == 0
        assert _references(engine) == {**keys, "chain_head": [], "posting_check": False, "triggers": []}
        for at in ("0028", "head"):
            with engine.connect() as conn:
                # at 0028 the first key to refuse may be another's (account_balance's): rows name it too
                with pytest.raises(sa.exc.IntegrityError,
                                   match="fk_posting_account_id_account" if at == "head" else "foreign key"):
                    conn.exec_driver_sql("DELETE FROM account WHERE id = (SELECT min(account_id) FROM posting)")
                conn.rollback()
                # refused at the commit by 0028's key, at the insert by head's trigger (beyond the head)
                with pytest.raises(sa.exc.IntegrityError, match="fk_posting_entry_id_entry"):
                    conn.exec_driver_sql("INSERT INTO posting (entry_id, account_id, commodity, amount) "
                                         "SELECT max(id) + 5, 1, 'USD', 0 FROM entry")
                    conn.commit()
                conn.rollback()
            if at == "0028":
                assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    finally:
        engine.dispose()
    with app.app_context():
        report = full_verify(get_session())
        assert report.ok, report.problems


def test_0032_keeps_every_key_down_and_up_again(make_app, fresh_db_url, charter_file):
    """Records that name their entry (0032) go down to 0031 with a stand-in body naming the entry
    (the key still refuses a second entry), and a record with a body is untouched both ways; at
    head a record must have one or the other."""
    from ledger.auth.service import add_user_or_set_password
    from ledger.runtime.database import get_session

    app, runner = _a_ledger_with_a_closed_month(make_app, fresh_db_url, charter_file)
    with app.app_context():
        s = get_session()
        user, _ = add_user_or_set_password(s, "t@example.org", "treasurer", password="a long enough password")
        s.commit()
        user_id = user.id
    app.extensions["ledger.engine"].dispose()
    engine = sa.create_engine(fresh_db_url)
    insert = ("INSERT INTO idempotency_record (user_id, key, request_hash, status, body, entry_id, created_at) "
              "VALUES (?, ?, 'h', 201, ?, ?, '2026-02-01 00:00:00+00:00')")
    if engine.dialect.name == "postgresql":
        insert = insert.replace("?", "%s")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(insert, (user_id, "with-entry", None, 1))
            conn.exec_driver_sql(insert, (user_id, "with-body", '{"code": "acme"}', None))
        with pytest.raises(sa.exc.IntegrityError, match="answer"), engine.begin() as conn:
            conn.exec_driver_sql(insert, (user_id, "neither", None, None))
        assert runner.invoke(args=["db", "downgrade", "0031"]).exit_code == 0
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT key, body FROM idempotency_record ORDER BY key").all()
        assert [tuple(r) for r in rows] == [("with-body", '{"code": "acme"}'), ("with-entry", '{"id": 1}')]
        assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT key, body, entry_id FROM idempotency_record ORDER BY key").all()
        assert [tuple(r) for r in rows] == [("with-body", '{"code": "acme"}', None), ("with-entry", '{"id": 1}', None)]
    finally:
        engine.dispose()
