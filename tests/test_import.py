"""``ledger import``: idempotent by key, stops at a bad line naming it, writes nothing of it; its bulk
path hashes what ``verify`` hashes and keeps the maintained tables; killed again and again, it resumes
to every line imported exactly once."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import time
from decimal import Decimal

import pytest
import sqlalchemy as sa
from helpers.engine import ENGINE
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import DBAPIError, IntegrityError

from ledger.core import chart
from ledger.core.entries import Leg, canonical_entry
from ledger.core.errors import ValidationError
from ledger.core.money import minor_formatter
from ledger.core.text import text_problem
from ledger.db import from_stored
from ledger.journal import bulk
from ledger.journal.balances import balance
from ledger.journal.models import Entry
from ledger.journal.service import close_account, post_entry
from ledger.journal.verify import verify
from ledger.partnership.integrity import full_verify
from ledger.runtime.database import get_session


def line(key, amount="10.00", date="2026-01-15", account=chart.CASH, **extra):
    obj = {"key": key, "date": date, "memo": f"imported {key}", "postings": [
        {"account": account, "amount": amount, "commodity": "USD"},
        {"account": chart.capital("ana"), "amount": str(-Decimal(amount)), "commodity": "USD"}]}
    obj.update(extra)
    return json.dumps(obj)


def run(runner, tmp_path, lines, name="in.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return runner.invoke(args=["import", str(path)])


def cash(app):
    with app.app_context():
        return balance(get_session(), chart.CASH)


def test_import_then_rerun_skips_what_is_there(founded, runner, tmp_path):
    lines = [line(f"k{i}", "1.25") for i in range(5)]
    result = run(runner, tmp_path, lines)
    assert result.exit_code == 0, result.output
    assert "imported 5 entries (10 postings), skipped 0" in result.output
    result = run(runner, tmp_path, lines + [line("k5", "1.25")])
    assert "imported 1 entries (2 postings), skipped 5" in result.output
    assert cash(founded) == Decimal("7.50")
    with founded.app_context():
        assert verify(get_session()).ok


def _postings_the_planner_counts(app) -> int:
    with app.app_context():
        conn = get_session().connection()
        if conn.dialect.name == "sqlite":  # an index's stat begins with the table's row count
            return int(conn.exec_driver_sql("SELECT stat FROM sqlite_stat1 WHERE tbl = 'posting' LIMIT 1").scalar()
                       .split()[0])
        return int(conn.exec_driver_sql("SELECT reltuples FROM pg_class WHERE relname = 'posting'").scalar())


def test_an_import_leaves_the_planner_statistics_of_the_ledger_it_made(founded, runner, tmp_path):
    with founded.app_context():
        before = get_session().scalar(sa.select(sa.func.count()).select_from(sa.table("posting")))
    result = run(runner, tmp_path, [line(f"s{i}", "1.00") for i in range(40)])
    assert result.exit_code == 0, result.output
    assert _postings_the_planner_counts(founded) == before + 80


@pytest.mark.parametrize("bad,field", [
    ("{not json", "json"),
    (line("x", amount="1.001"), "amount"),
    (json.dumps({"key": "x", "date": "2026-01-15", "postings": [{"account": chart.CASH, "amount": 5}]}), "postings"),
    (line("x", account="Assets:Nowhere"), "account"),
    (line("x", date="2026-02-30"), "date"),
    (line("x", date="2025-12-31"), "date"),
    (json.dumps({"key": "x", "date": "2026-01-15", "postings": [
        {"account": chart.CASH, "amount": "١٠"}, {"account": chart.capital("ana"), "amount": "-10"}]}), "amount"),
    (line("x", date="٢٠٢٦-01-15"), "date"),
    (line("x", memo="nul\u0000byte"), "memo"),
    (line("x", memo="lone \ud800"), "memo"),
    (line("x\u0000y"), "key"),
    (line("x", amount="0.00"), "postings"),
    (line("x", amount="1000000000000.00"), "amount"),  # the API's bound: less than a trillion
    (line("x", amount="99999999999999999999999.99"), "amount"),
])
def test_a_bad_line_stops_the_import_keeping_the_lines_before_it(founded, runner, tmp_path, bad, field):
    result = run(runner, tmp_path, [line("a", "2.00"), line("b", "3.00"), bad, line("c", "4.00")])
    assert result.exit_code == 1
    assert "line 3" in result.output and field in result.output
    assert cash(founded) == Decimal("5.00")


def test_a_line_that_would_take_a_balance_past_what_the_ledger_stores_stops_the_import(founded, runner, tmp_path):
    """Each amount under the import's bound, but the cash account near what its BIGINT holds: the
    bulk path's batch is refused as a whole by the database, and the slow path names the line."""
    near = Decimal("922337203000000.00")
    with founded.app_context():
        s = get_session()
        post_entry(s, date=dt.date(2026, 1, 2), memo="near the bound", source_type="manual",
                   legs=[Leg(chart.CASH, near, "USD"), Leg(chart.capital("ben"), -near, "USD")])
        s.commit()
    result = run(runner, tmp_path, [line("a", "2.00"), line("b", "999999999999.99"), line("c", "4.00")])
    assert result.exit_code == 1, result.output
    assert "line 2" in result.output and "beyond what the ledger can store" in result.output, result.output
    assert cash(founded) == near + Decimal("2.00")
    with founded.app_context():
        assert full_verify(get_session()).ok


def test_a_line_whose_debits_pass_what_the_ledger_stores_is_refused_by_its_number(founded, runner, tmp_path):
    """Every amount under the import's bound, but more legs than the fast path takes
    (``bulk.MOST_LEGS``), whose debits together pass what the ledger stores: refused by the
    posting service's rule, by the line's number; the line before it committed."""
    big = "999999999999.99"
    legs = bulk.MOST_LEGS + 10
    wide = json.dumps({"key": "wide", "date": "2026-01-15", "postings": [
        *[{"account": chart.CASH, "amount": big, "commodity": "USD"}] * legs,
        *[{"account": chart.capital("ana"), "amount": f"-{big}", "commodity": "USD"}] * legs]})
    result = run(runner, tmp_path, [line("a", "2.00"), wide, line("c", "4.00")])
    assert result.exit_code == 1, result.output
    assert "line 2" in result.output and "beyond what the ledger can store" in result.output, result.output
    assert cash(founded) == Decimal("2.00")


@pytest.mark.parametrize("raw", [
    b"\xff\xfe not text at all",
    line("x").replace("imported", "caf\u00e9").encode("latin-1"),  # Latin-1, not UTF-8: \xe9 alone
    line("x").encode()[:-2] + b', "extra": "\xc3"}',  # a stray byte in a field the import ignores
])
def test_a_line_that_is_not_utf8_stops_the_import_keeping_the_lines_before_it(founded, runner, tmp_path, raw):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join([line("a", "2.00").encode(), line("b", "3.00").encode(), raw,
                                 line("c", "4.00").encode()]) + b"\n")
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "line 3" in result.output and "UTF-8" in result.output, result.output
    assert cash(founded) == Decimal("5.00")


def test_a_byte_order_mark_before_the_first_line_is_read_past(founded, runner, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes("\n".join([line("a", "2.00"), line("b", "3.00")]).encode("utf-8-sig") + b"\n")
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code == 0, result.output
    assert cash(founded) == Decimal("5.00")


def test_unbalanced_line_is_refused(founded, runner, tmp_path):
    obj = json.loads(line("u"))
    obj["postings"][0]["amount"] = "10.01"
    result = run(runner, tmp_path, [json.dumps(obj)])
    assert result.exit_code == 1 and "line 1" in result.output and "balance" in result.output
    assert cash(founded) == 0


#: What ``text_problem`` lets through: no control character, no lone surrogate (quotes, backslashes
#: and any other character are the canonical form's to escape).
TEXT = st.characters(blacklist_categories=("Cc", "Cs"))


@settings(max_examples=200, deadline=None)
@given(key=st.text(TEXT, min_size=1, max_size=30), memo=st.text(TEXT, max_size=40),
       cents=st.lists(st.integers(min_value=-10**12, max_value=10**12), min_size=1, max_size=4),
       day=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31)), id=st.integers(1, 10**12),
       spelled=st.booleans(), copy=st.booleans())
def test_the_bulk_path_builds_the_canonical_form_verify_hashes(key, memo, cents, day, id, spelled, copy):
    """Whether the amounts' canonical text comes with the legs (the line's own, as the importer
    passes it) or is formatted by the draft, and whatever the engine's rows."""
    assume(text_problem(key, max_length=200) is None and text_problem(memo, max_length=500, min_length=0) is None)
    cents = [*cents, -sum(cents)]
    assume(any(cents))
    accounts = bulk.Accounts.__new__(bulk.Accounts)
    accounts.by_name = {chart.CASH: bulk.AccountRow(1, frozenset({"USD"}), None, json.dumps(chart.CASH))}
    accounts.places, accounts.scale, accounts.text = {"USD": 2}, {"USD": 100}, {"USD": minor_formatter("USD")}
    accounts.copy, accounts.legs, accounts.heads = copy, {}, {}
    fmt = minor_formatter("USD")
    d = bulk.draft(key, day, memo, [(chart.CASH, "USD", c, fmt(c) if spelled else None) for c in cents], accounts)
    assert d.head + str(id) + d.tail == canonical_entry(
        id=id, date=day, memo=memo, source_type="import", source_ref=key, policy_version=None, reverses_id=None,
        postings=[(chart.CASH, "USD", Decimal(c).scaleb(-2), None, None) for c in cents])
    assert [stored for _a, _c, stored in d.legs] == [c * 100 for c in cents]
    if copy:  # COPY's text format: tab-separated, a backslash doubled (text holds no tab or line break)
        def field(text):
            return text.replace("\\", "\\\\")
        assert d.copy_entry == f"\t{day.isoformat()}\t{field(memo)}\timport\t{field(key)}\t{field(key)}\t"
        assert d.copy_legs == tuple(f"\t1\tUSD\t{c * 100}" for c in cents)
    else:
        assert d.copy_entry is None and d.copy_legs is None


def test_a_bulk_import_keeps_every_maintained_table_and_the_chain(founded, runner, tmp_path):
    lines = [line(f"b{i}", f"{i}.0{i % 10}", memo=f'memo "{i}" \\ back\\slash ü') for i in range(1, 400)]
    lines.insert(7, line("slow", "3.000"))  # three places: the slow path's, in its place in the chain
    result = run(runner, tmp_path, lines)
    assert result.exit_code == 0, result.output
    assert "imported 400 entries (800 postings)" in result.output
    with founded.app_context():
        s = get_session()
        report = full_verify(s)
        assert report.ok, report.problems
        assert s.scalar(sa.select(Entry.memo).where(Entry.idempotency_key == "b5")) == 'memo "5" \\ back\\slash ü'
        months = dict(s.execute(sa.text(
            "SELECT a.name, sum(t.balance) FROM account_month_total t JOIN account a ON a.id = t.account_id "
            "WHERE t.source_type = 'import' GROUP BY a.name")).all())
        expected = sum(Decimal(f"{i}.0{i % 10}") for i in range(1, 400)) + 3
        assert from_stored(months[chart.CASH]) == expected == balance(s, chart.CASH)
        if s.get_bind().dialect.name == "sqlite":  # the guards the bulk path set aside are back
            names = set(s.scalars(sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")))
            assert set(bulk.SQLITE_ROW_GUARDS) <= names


def test_the_database_still_refuses_what_the_bulk_path_checks(founded):
    with founded.app_context():
        s = get_session()
        acc = s.scalar(sa.text("SELECT id FROM account WHERE name = 'Assets:Cash'"))
        now = dt.datetime.now(dt.UTC)
        for amounts in ([100, -99], [100]):  # unbalanced; a single posting
            with pytest.raises((IntegrityError, DBAPIError)):
                for x in amounts:
                    s.execute(sa.text("INSERT INTO posting (entry_id, account_id, commodity, amount) "
                                      "VALUES (500, :a, 'USD', :x)"), {"a": acc, "x": x})
                s.execute(sa.text("INSERT INTO entry (id, date, memo, source_type, source_ref, prev_hash, hash, "
                                  "created_at) VALUES (500, '2026-01-02', 'x', 'import', '', 'p', 'h', :now)"),
                          {"now": now})
                s.commit()
            s.rollback()


def test_an_account_closed_after_the_import_read_it_sends_the_batch_to_the_slow_path(founded):
    with founded.app_context():
        s = get_session()
        accounts = bulk.Accounts(s, "USD")
        d = bulk.draft("z", dt.date(2026, 1, 20), "m",
                       [(chart.CASH, "USD", 100, None), (chart.capital("ana"), "USD", -100, None)], accounts)
        close_account(s, chart.CASH, dt.date(2026, 1, 10))
        with pytest.raises(ValidationError):
            bulk.write(s, [d], accounts)
        s.rollback()


def _import_killable(url: str, path: str) -> subprocess.Popen:
    # The real command, in small batches so that a kill lands between, inside and after batches.
    code = ("import ledger.journal.importer as i; i.BATCH = dict.fromkeys(i.BATCH, 250); from ledger import main; main()")
    return subprocess.Popen([sys.executable, "-c", code, "import", path], env={**os.environ, "DATABASE_URL": url},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _imported(reader: sa.Engine) -> int:
    # A plain read on its own engine: the app's sessions open SQLite transactions with BEGIN
    # IMMEDIATE, which would queue for the write lock behind the import's batches — and starve
    # while each batch's transaction begins as soon as the last commits — where a WAL reader
    # never waits.
    with reader.connect() as c:
        return c.scalar(sa.select(sa.func.count()).select_from(Entry).where(Entry.source_type == "import"))


def test_an_import_killed_again_and_again_resumes_to_every_line_exactly_once(founded, db_url, tmp_path):
    rng = random.Random(16)
    n = 30_000
    lines = [line(f"r{i}", f"{1 + i % 97}.{i % 100:02d}") if i % 3 else
             json.dumps({"key": f"r{i}", "date": "2026-01-20", "memo": f"three legs {i}", "postings": [
                 {"account": chart.CASH, "amount": "3.00", "commodity": "USD"},
                 {"account": chart.capital("ana"), "amount": "-1.00", "commodity": "USD"},
                 {"account": chart.capital("ben"), "amount": "-2.00", "commodity": "USD"}]})
             for i in range(n)]
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(lines) + "\n")
    counts = [0]
    reader = sa.create_engine(db_url)
    for target in (n // 8, 2 * n // 8, 3 * n // 8, 4 * n // 8):
        proc = _import_killable(db_url, str(path))
        # Once this run has passed its mark (an eighth more of the file each time), kill it at a
        # random moment: mid-batch, between two. The kill lands up to a few thousand lines past
        # the mark; the marks leave half the file to the last run.
        while proc.poll() is None and _imported(reader) < target:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        counts.append(_imported(reader))
        with founded.app_context():
            report = verify(get_session())
            assert report.ok, report.problems  # no half-written batch, the guards all there
    reader.dispose()
    proc = _import_killable(db_url, str(path))
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    assert f"skipped {counts[-1]} already in the ledger" in out
    assert counts == sorted(counts) and counts[-1] < n  # each kill landed mid-import
    verified = subprocess.run([sys.executable, "-c", "from ledger import main; main()", "verify"],
                              env={**os.environ, "DATABASE_URL": db_url}, capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr
    with founded.app_context():
        s = get_session()
        keys = list(s.scalars(sa.select(Entry.idempotency_key).where(Entry.source_type == "import")))
        assert sorted(keys) == sorted(f"r{i}" for i in range(n))  # each line once
        legs = dict(s.execute(sa.text("SELECT e.idempotency_key, count(*) FROM entry e JOIN posting p "
                                      "ON p.entry_id = e.id WHERE e.source_type = 'import' "
                                      "GROUP BY e.idempotency_key")).all())
        assert all(legs[f"r{i}"] == (2 if i % 3 else 3) for i in range(n))  # none half-written
        expected = sum(Decimal(f"{1 + i % 97}.{i % 100:02d}") if i % 3 else Decimal(3) for i in range(n))
        assert balance(s, chart.CASH) == expected


def _die_with_the_guards_set_aside(url: str) -> None:
    from ledger import create_app

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "test"})
    with app.app_context():
        s = get_session()
        head = s.scalar(sa.text("SELECT seq FROM chain_head"))
        acc = s.scalar(sa.text("SELECT id FROM account WHERE name = 'Assets:Cash'"))

        class Postings(list):  # killed half-way through the batch's postings, its triggers dropped
            def __iter__(self):
                for i, row in enumerate(super().__iter__()):
                    if i == 500:
                        names = set(s.connection().exec_driver_sql(
                            "SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars())
                        assert not names & set(bulk.SQLITE_ROW_GUARDS)
                        os.kill(os.getpid(), signal.SIGKILL)
                    yield row

        rows = Postings([(head + 1, acc, "USD", 100)] * 1000)
        bulk._sqlite_rows(s, rows, [], head + 1, head + 1)


@pytest.mark.skipif(ENGINE != "sqlite", reason="PostgreSQL's guards are statement triggers, never set aside")
def test_a_crash_while_the_guards_are_set_aside_leaves_them_in_place(founded, db_url):
    proc = mp.get_context("spawn").Process(target=_die_with_the_guards_set_aside, args=(db_url,))
    proc.start()
    proc.join(60)
    assert proc.exitcode == -signal.SIGKILL
    with founded.app_context():
        s = get_session()
        names = set(s.scalars(sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")))
        assert set(bulk.SQLITE_ROW_GUARDS) <= names
        assert verify(s).ok
        with pytest.raises((IntegrityError, DBAPIError)):  # and they guard again
            s.execute(sa.text("INSERT INTO posting (entry_id, account_id, commodity, amount) "
                              "SELECT 1, id, 'USD', 1 FROM account WHERE name = 'Assets:Cash'"))
        s.rollback()
