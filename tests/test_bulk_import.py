"""``ledger import``'s faster path: the fast text and amount checks agree with the rules they stand
for, PostgreSQL's bulk write takes only drafts carrying their ``COPY`` text, text that needs
escaping and a re-run go through the engine's path intact, and the posting table's engagement
index holds only tagged postings (migration 0023) while every query of it can still use it."""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import re
import signal
from decimal import Decimal

import pytest
import sqlalchemy as sa
from helpers.engine import ENGINE
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import IntegrityError

from ledger.core import chart
from ledger.core.errors import ValidationError
from ledger.core.money import minor_formatter, places
from ledger.core.text import text_problem
from ledger.db import from_stored
from ledger.journal import bulk, importer
from ledger.journal.balances import balance
from ledger.journal.models import Entry, Posting
from ledger.journal.service import close_account
from ledger.partnership.integrity import full_verify
from ledger.runtime.database import get_session

# --- the fast checks --------------------------------------------------------------------------

#: Characters either side of every line ``text_problem`` draws: controls (C0, DEL, C1, tab, line
#: breaks), lone surrogates, spaces that are not ASCII, format and private-use characters, quotes.
EDGES = st.sampled_from(["\x00", "\t", "\n", "\r", "\x0b", "\x1f", "\x7f", "\x80", "\x85", "\x9f", "\ud800", "\udfff",
                         " ", "\xa0", "\u2028", "\u3000", "\u00ad", "\u200b", "\ue000", "\U0010ffff", "\u0378",
                         '"', "\\", "a", "é", "日"])
ANY_CHAR = st.characters(exclude_categories=())  # surrogates included


@settings(max_examples=3000, deadline=None)
@given(value=st.one_of(st.text(st.one_of(EDGES, ANY_CHAR), max_size=12), st.text(st.sampled_from(" \xa0\t"), max_size=4),
                       st.none(), st.integers(), st.binary(max_size=4), st.lists(st.text(max_size=2), max_size=2)),
       max_length=st.integers(0, 12), min_length=st.integers(0, 2))
def test_the_fast_text_check_accepts_exactly_what_text_problem_accepts(value, max_length, min_length):
    assert importer._text_ok(value, max_length, min_length) == (
        text_problem(value, max_length=max_length, min_length=min_length) is None)


COMMODITIES = st.sampled_from(["USD", "JPY", "BHD", "UNITS"])  # 2, 0, 3 and 0 places


@settings(max_examples=500, deadline=None)
@given(minor=st.integers(-10**15, 10**15), commodity=COMMODITIES)
def test_an_amount_already_canonical_is_reused_as_the_line_spells_it(minor, commodity):
    text = minor_formatter(commodity)(minor)
    assert importer._amount(text, places(commodity)) == (minor, text)


@settings(max_examples=1000, deadline=None)
@given(text=st.from_regex(r"-?[0-9]{0,5}(\.[0-9]{0,4})?", fullmatch=True), commodity=COMMODITIES)
def test_an_amount_spelled_otherwise_is_left_to_the_canonical_form(text, commodity):
    """``"012.5"``, ``"-0.00"``, ``"7"`` for dollars: the right minor units, and no text to reuse
    (the draft formats it); a spelling ``D`` refuses or with too many places: no amount at all."""
    n = places(commodity)
    parsed = importer._amount(text, n)
    if parsed is None:
        assert not re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text) or len(text.partition(".")[2]) > n
        return
    minor, same = parsed
    assert Decimal(text) == Decimal(minor).scaleb(-n)
    canonical = minor_formatter(commodity)(minor)
    assert same == (text if text == canonical else None)


@settings(max_examples=3000, deadline=None)
@given(text=st.one_of(st.from_regex(r"-?[0-9]{0,6}(\.[0-9]{0,4})?", fullmatch=True),
                      st.from_regex(r"-?(0|[1-9][0-9]{0,5})(\.[0-9]{0,4})?\n?", fullmatch=True),
                      st.text(st.sampled_from("-0123456789.\n ١e+"), max_size=8)),
       n=st.sampled_from([0, 2, 3]))
def test_the_amount_read_by_its_pattern_is_the_amount_read_character_by_character(text, n):
    assert importer._amount(text, n) == importer._amount_read(text, n)


# --- the engine's write -----------------------------------------------------------------------

def _line(key: str, memo: str, amount: str = "12.50") -> str:
    return json.dumps({"key": key, "date": "2026-01-15", "memo": memo, "postings": [
        {"account": chart.CASH, "amount": amount, "commodity": "USD"},
        {"account": chart.capital("ana"), "amount": f"-{amount}", "commodity": "USD"}]})


#: Lines ``json`` and orjson (the fast path's reader) read differently, or only one of them reads.
JSON_EDGES = [
    ' {"extra": NaN, "key": "k", "date": "2026-01-15", "memo": "m", "postings": %s}',
    '{"extra": Infinity, "key": "k", "date": "2026-01-15", "memo": "m", "postings": %s}',
    '{"extra": 1e400, "key": "k", "date": "2026-01-15", "memo": "m", "postings": %s}',
    '{"extra": 123456789012345678901234567890, "key": "k", "date": "2026-01-15", "memo": "m", "postings": %s}',
    '{"key": "k", "key": "k2", "date": "2026-01-15", "memo": "m", "postings": %s}',
    '{"key": "k", "date": "2026-01-15", "memo": "m\\ud800", "postings": %s}',
    '{"key": "k\\ud83d\\ude00", "date": "2026-01-15", "memo": "m\\u00e9", "postings": %s}',
    '{"key": "k", "date": "2026-01-15", "memo": "m", "postings": %s}  ',
    '{"key": "k", "date": "2026-01-15", "memo": "m", "postings": %s} x',
    '{"key": "k", "date": "2026-01-15", "memo": "m", "postings": %s}{}',
]


@pytest.mark.parametrize("template", JSON_EDGES)
def test_the_fast_path_reads_a_line_as_json_does_or_leaves_it_to_the_slow_path(founded, template):
    """The fast path reads lines with orjson, the slow path (and the error it names) with ``json``:
    whatever the fast path takes must be the entry ``parse_line`` reads from the same line."""
    postings = json.dumps([{"account": chart.CASH, "amount": "12.50", "commodity": "USD"},
                           {"account": chart.capital("ana"), "amount": "-12.50", "commodity": "USD"}])
    text = template % postings
    with founded.app_context():
        accounts = bulk.Accounts(get_session(), "USD")
        try:
            spec = importer.parse_line(text, 1, "USD")
        except ValidationError:
            spec = None
        d = importer.fast_line(text, accounts, "USD", {})
        if d is not None:
            assert accounts.spec(d) == spec
    # Each line's fate is json's: the fast path declines what json refuses.
    assert spec is not None or d is None


def test_text_that_needs_escaping_is_imported_intact_and_a_rerun_skips_it(founded, runner, tmp_path):
    keys = ["back\\slash", 'quote"d', "tab-less ü 日", "\\N", "plain"]
    memos = ["a \\ b", '"q"', "\\.", "\\N", ""]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(_line(k, m) for k, m in zip(keys, memos, strict=True)) + "\n")
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code == 0, result.output
    assert "imported 5 entries (10 postings), skipped 0" in result.output
    result = runner.invoke(args=["import", str(path)])
    assert "imported 0 entries (0 postings), skipped 5" in result.output
    with founded.app_context():
        s = get_session()
        stored = dict(s.execute(sa.select(Entry.idempotency_key, Entry.memo).where(Entry.source_type == "import")).all())
        assert stored == dict(zip(keys, memos, strict=True))
        assert balance(s, chart.CASH) == Decimal("62.50")
        report = full_verify(s)
        assert report.ok, report.problems


def test_an_account_closed_later_than_the_batch_still_takes_the_bulk_path(founded):
    """The re-check under the lock reads an account's last day as the import did (a date, on
    SQLite too), so an unchanged account with a last day does not send every batch to the slow path."""
    with founded.app_context():
        s = get_session()
        close_account(s, chart.CASH, dt.date(2026, 6, 30))
        s.commit()
        accounts = bulk.Accounts(s, "USD")
        d = bulk.draft("late", dt.date(2026, 1, 20), "m",
                       [(chart.CASH, "USD", 100, None), (chart.capital("ana"), "USD", -100, None)], accounts)
        bulk.write(s, [d], accounts)
        s.commit()
        assert balance(s, chart.CASH) == Decimal("1.00")
        report = full_verify(s)
        assert report.ok, report.problems


@pytest.mark.skipif(ENGINE != "postgresql", reason="SQLite's write binds rows; it reads no COPY text")
def test_postgres_refuses_drafts_made_without_their_copy_text(founded):
    with founded.app_context():
        s = get_session()
        accounts = bulk.Accounts(s, "USD")
        assert accounts.copy
        accounts.copy = False  # drafts as another engine's import would make them
        d = bulk.draft("z", dt.date(2026, 1, 20), "m",
                       [(chart.CASH, "USD", 100, None), (chart.capital("ana"), "USD", -100, None)], accounts)
        with pytest.raises(RuntimeError, match="COPY text"):
            bulk.write(s, [d], accounts)
        s.rollback()
        assert s.scalar(sa.select(sa.func.count()).select_from(Entry).where(Entry.source_type == "import")) == 0


# --- where the lines are read: SQLite's reader process ---------------------------------------

FORKED = importer._read_ahead(ENGINE) == "process"
ONLY_FORKED = pytest.mark.skipif(not FORKED, reason=f"{ENGINE}'s import reads its lines in a thread")


def _spy_on_readers(monkeypatch, tmp_path, then=None):
    """Record the pid of each process that reads a line (``fast_line``), in a file; ``then(text)``
    runs after, in that process."""
    pids = tmp_path / "readers"
    real = importer.fast_line

    def fast_line(text, *args):
        with open(pids, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        if then is not None:
            then(text)
        return real(text, *args)
    monkeypatch.setattr(importer, "fast_line", fast_line)
    return pids


def _gone(pid: int) -> bool:
    """``pid`` has ended and been reaped (a zombie still answers ``kill(pid, 0)``)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _keys_in_chain_order(s) -> list[str]:
    return list(s.scalars(sa.select(Entry.idempotency_key).where(Entry.source_type == "import").order_by(Entry.id)))


@ONLY_FORKED
def test_sqlite_reads_the_lines_in_a_reader_process_gone_when_the_import_ends(founded, runner, tmp_path, monkeypatch):
    pids = _spy_on_readers(monkeypatch, tmp_path)
    path = tmp_path / "in.jsonl"
    path.write_text("".join(_line(f"k{i}", "m") + "\n" for i in range(25)))
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code == 0, result.output
    assert "imported 25 entries (50 postings)" in result.output
    readers = {int(p) for p in pids.read_text().split()}
    assert len(readers) == 1 and os.getpid() not in readers
    assert _gone(readers.pop())


@ONLY_FORKED
def test_the_reader_process_adds_up_each_whole_batch_for_the_maintained_tables(founded, runner, tmp_path, monkeypatch):
    """The reader adds up each batch's legs by month and account (``bulk.tally``) on its core; the
    writer uses those sums for a batch written whole and adds up itself one that skipped a key."""
    monkeypatch.setattr(importer, "CHUNK", 3)
    monkeypatch.setattr(importer, "BATCH", dict.fromkeys(importer.BATCH, 7))
    summed: list[bool] = []
    real = bulk.write

    def write(session, drafts, accounts, months=None):
        summed.append(months is not None)
        return real(session, drafts, accounts, months)
    monkeypatch.setattr(bulk, "write", write)

    def lines(keys):
        return "".join(json.dumps({"key": f"k{i}", "date": f"2026-{1 + i % 3:02d}-1{i % 9}", "memo": "m", "postings": [
            {"account": chart.CASH, "amount": f"{i}.25", "commodity": "USD"},
            {"account": chart.capital("ana" if i % 2 else "ben"), "amount": f"-{i}.25", "commodity": "USD"}]}) + "\n"
            for i in keys)

    first = tmp_path / "first.jsonl"
    first.write_text(lines(range(21)))
    result = runner.invoke(args=["import", str(first)])
    assert result.exit_code == 0, result.output
    assert summed == [True, True, True]  # three batches of 7, each added up by the reader
    again = tmp_path / "again.jsonl"
    again.write_text(lines(range(17, 38)))  # its first batch's keys partly known
    summed.clear()
    result = runner.invoke(args=["import", str(again)])
    assert result.exit_code == 0, result.output
    assert "imported 17 entries" in result.output
    assert summed[-3:] == [False, True, True]  # the first written without 17..20: added up by the writer
    with founded.app_context():
        s = get_session()
        report = full_verify(s)  # the maintained balances and month totals, recomputed from the postings
        assert report.ok, report.problems
        expected = sum(Decimal(f"{i}.25") for i in range(38))
        assert balance(s, chart.CASH) == expected
        months = dict(s.execute(sa.text(
            "SELECT t.month, sum(t.balance) FROM account_month_total t JOIN account a ON a.id = t.account_id "
            "WHERE a.name = :cash GROUP BY t.month"), {"cash": chart.CASH}).all())
        assert {m: from_stored(v) for m, v in months.items()} == {
            f"2026-{1 + r:02d}": sum(Decimal(f"{i}.25") for i in range(38) if i % 3 == r) for r in range(3)}


def test_batches_across_chunks_and_slow_lines_between_them_keep_the_file_order(founded, runner, tmp_path, monkeypatch):
    """Batches of 7 lines, pickled 3 at a time, with lines the fast path declines (orjson refuses
    ``NaN``; ``json`` reads it) in their places: every entry once, in the file's order."""
    monkeypatch.setattr(importer, "CHUNK", 3)
    monkeypatch.setattr(importer, "BATCH", dict.fromkeys(importer.BATCH, 7))
    slow = {5, 6, 17, 29}
    lines = [_line(f"k{i}", f"m{i}").replace("{", '{"extra": NaN, ', 1) if i in slow else _line(f"k{i}", f"m{i}")
             for i in range(30)]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code == 0, result.output
    assert "imported 30 entries (60 postings)" in result.output
    with founded.app_context():
        s = get_session()
        assert _keys_in_chain_order(s) == [f"k{i}" for i in range(30)]
        assert balance(s, chart.CASH) == Decimal("375.00")
        report = full_verify(s)
        assert report.ok, report.problems


@ONLY_FORKED
def test_a_reader_killed_mid_import_is_a_clear_error_and_the_batches_it_sent_stand(founded, runner, tmp_path,
                                                                                  monkeypatch):
    """The reader dies reading line 41 (batches of 10): the 40 lines it sent are written and
    committed, the command says what happened and fails, and a re-run goes on from there."""
    monkeypatch.setattr(importer, "CHUNK", 5)
    monkeypatch.setattr(importer, "BATCH", dict.fromkeys(importer.BATCH, 10))

    def die_at_41(text):
        if '"k40"' in text:
            os.kill(os.getpid(), signal.SIGKILL)
    pids = _spy_on_readers(monkeypatch, tmp_path, die_at_41)
    path = tmp_path / "in.jsonl"
    path.write_text("".join(_line(f"k{i}", "m") + "\n" for i in range(100)))
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code == 1
    assert "the import's reader process ended before the file did (killed by signal 9)" in result.output
    assert all(_gone(int(p)) for p in set(pids.read_text().split()))
    with founded.app_context():
        s = get_session()
        assert _keys_in_chain_order(s) == [f"k{i}" for i in range(40)]
        report = full_verify(s)
        assert report.ok, report.problems
    monkeypatch.undo()
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code == 0, result.output
    assert "imported 60 entries (120 postings), skipped 40" in result.output


@ONLY_FORKED
def test_a_writer_stopped_by_a_bad_line_ends_its_reader(founded, runner, tmp_path, monkeypatch):
    """A bad line stops the import early, while the reader is still reading (or waiting to hand
    over) the rest of a long file: the reader is ended and reaped, not left behind."""
    monkeypatch.setattr(importer, "CHUNK", 50)
    monkeypatch.setattr(importer, "BATCH", dict.fromkeys(importer.BATCH, 100))
    pids = _spy_on_readers(monkeypatch, tmp_path)
    lines = [_line(f"k{i}", "m") for i in range(3000)]
    lines[150] = _line("bad", "m", amount="12.505")
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code == 1
    assert "line 151" in result.output
    readers = {int(p) for p in pids.read_text().split()}
    assert len(readers) == 1 and all(_gone(p) for p in readers)
    with founded.app_context():
        assert _keys_in_chain_order(get_session()) == [f"k{i}" for i in range(150)]


def test_an_error_reading_the_lines_is_raised_by_the_writer_after_the_batches_before_it(founded, monkeypatch):
    """The file failing mid-read (a disk error, say) in the reader, a thread or a process: the
    writer raises that error, with the batches read before it written."""
    monkeypatch.setattr(importer, "CHUNK", 4)
    monkeypatch.setattr(importer, "BATCH", dict.fromkeys(importer.BATCH, 10))

    def lines():
        for i in range(25):
            yield _line(f"k{i}", "m")
        raise OSError(5, "Input/output error")
    with founded.app_context():
        s = get_session()
        with pytest.raises(OSError, match="Input/output error"):
            importer.import_lines(s, lines(), "USD")
        s.rollback()
        assert _keys_in_chain_order(s) == [f"k{i}" for i in range(20)]


def test_a_draft_pickles_to_the_same_draft(founded):
    """What the reader process sends: a draft, with or without its ``COPY`` text, as it was."""
    with founded.app_context():
        accounts = bulk.Accounts(get_session(), "USD")
        for copy in (False, True):
            accounts.copy = copy
            d = bulk.draft('k"\\', dt.date(2026, 1, 20), "m ü",
                           [(chart.CASH, "USD", 100, None), (chart.capital("ana"), "USD", -100, "-1.00")], accounts)
            again = pickle.loads(pickle.dumps(d, pickle.HIGHEST_PROTOCOL))
            assert again == d and type(again) is bulk.Draft
            assert (again.copy_legs is not None) == copy


def test_a_reader_thread_that_cannot_start_fails_the_import_with_its_own_error(founded, monkeypatch):
    """The import ends its reader whatever happened; a reader that never started is not an error
    of its own (``join`` on a thread never started would raise one, hiding the real one)."""
    monkeypatch.setitem(importer._READERS, importer._read_ahead(ENGINE), importer._Reader)

    def cannot(self):
        raise RuntimeError("can't start new thread")
    monkeypatch.setattr(importer._Reader, "start", cannot)
    with founded.app_context():
        s = get_session()
        with pytest.raises(RuntimeError, match="can't start new thread"):
            importer.import_lines(s, [_line("k0", "m")], "USD")
        s.rollback()
        assert _keys_in_chain_order(s) == []


@ONLY_FORKED
def test_a_reader_process_that_cannot_be_forked_fails_the_import_leaving_no_pipe_open(founded, monkeypatch):
    def cannot():
        raise BlockingIOError(11, "Resource temporarily unavailable")
    monkeypatch.setattr(os, "fork", cannot)
    with founded.app_context():
        s = get_session()
        s.connection()  # the database's own files open before the count (the fixture may not have connected)
        before = len(os.listdir("/proc/self/fd"))
        with pytest.raises(BlockingIOError, match="Resource temporarily unavailable"):
            importer.import_lines(s, [_line("k0", "m")], "USD")
        assert len(os.listdir("/proc/self/fd")) == before
        s.rollback()
        assert _keys_in_chain_order(s) == []


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_the_reader_process_is_linux_s(monkeypatch, platform):
    monkeypatch.setattr(importer.sys, "platform", platform)
    assert importer._read_ahead("sqlite") == "inline"
    assert importer._read_ahead("postgresql") == "thread"


def test_without_fork_the_writer_reads_between_its_batches(founded, runner, tmp_path, monkeypatch):
    monkeypatch.delattr(os, "fork", raising=False)
    assert importer._read_ahead("sqlite") == "inline"
    assert importer._read_ahead("postgresql") == "thread"
    path = tmp_path / "in.jsonl"
    path.write_text("".join(_line(f"k{i}", "m") + "\n" for i in range(12)))
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code == 0, result.output
    assert "imported 12 entries (24 postings)" in result.output


# --- SQLite's foreign keys, checked per batch ------------------------------------------------

def _foreign_keys_on(s) -> bool:
    return s.connection().exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def _import_counts(s) -> tuple[int, int]:
    return (s.scalar(sa.select(sa.func.count()).select_from(Entry)),
            s.scalar(sa.select(sa.func.count()).select_from(Posting)))


@pytest.mark.skipif(ENGINE != "sqlite", reason="PostgreSQL's foreign keys are never set aside")
@pytest.mark.parametrize("dangling", ["account", "entry"])
def test_a_batch_without_per_row_foreign_keys_still_refuses_a_dangling_reference_writing_nothing(founded, dangling):
    """With the connection's ``foreign_keys`` off for the batch, the set-wise check refuses a
    posting naming no account, or an entry the batch does not write, with the error the per-row
    check raises; nothing is written, and the connection has its checks back."""
    with founded.app_context():
        s = get_session()
        before = _import_counts(s)
        cash = s.scalar(sa.text("SELECT id FROM account WHERE name = :n"), {"n": chart.CASH})
        ana = s.scalar(sa.text("SELECT id FROM account WHERE name = :n"), {"n": chart.capital("ana")})
        s.commit()
        with pytest.raises(IntegrityError, match="FOREIGN KEY constraint failed"):
            with bulk.batch_transaction(s) as off:
                assert off and not _foreign_keys_on(s)  # the set-wise check is the one under test
                seq, prev = s.connection().exec_driver_sql("SELECT seq, hash FROM chain_head").one()
                first = seq + 1
                postings = [(first, cash, "USD", 100), (first, ana, "USD", -100)]
                if dangling == "account":
                    postings[1] = (first, 10**9, "USD", -100)
                else:  # a balanced pair for an entry the batch does not write
                    postings += [(first + 1, cash, "USD", 5), (first + 1, ana, "USD", -5)]
                entry = (first, "2026-01-20", "m", "import", "k", "k", prev, "f" * 64, "2026-01-20 10:00:00")
                bulk._sqlite_rows(s, postings, [entry], first, first)
        assert _foreign_keys_on(s)
        assert _import_counts(s) == before
        assert set(bulk.SQLITE_ROW_GUARDS) <= set(s.scalars(sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")))
        assert full_verify(s).ok
        s.rollback()


@pytest.mark.skipif(ENGINE != "sqlite", reason="PostgreSQL's foreign keys are never set aside")
def test_an_import_gives_its_connection_back_with_foreign_keys_on_after_a_batch_and_after_an_error(founded):
    lines = [_line(f"fk{i}", "m") for i in range(30)]
    with founded.app_context():
        s = get_session()
        raw = s.connection().connection.driver_connection
        result = importer.import_lines(s, lines, "USD")
        assert result.imported == 30
        assert _foreign_keys_on(s) and s.connection().connection.driver_connection is raw
        s.commit()
        with pytest.raises(RuntimeError, match="boom"):
            with bulk.batch_transaction(s) as off:
                assert off
                s.connection().exec_driver_sql("UPDATE chain_head SET seq = seq WHERE id = 1")
                raise RuntimeError("boom")
        assert _foreign_keys_on(s) and s.connection().connection.driver_connection is raw
        assert balance(s, chart.CASH) == Decimal("375.00")
        s.rollback()


@pytest.mark.skipif(ENGINE != "sqlite", reason="PostgreSQL's foreign keys are never set aside")
def test_a_connection_whose_foreign_keys_cannot_be_put_back_is_discarded_not_pooled(founded, monkeypatch):
    real = bulk._foreign_keys
    monkeypatch.setattr(bulk, "_foreign_keys", lambda raw, on: False if on else real(raw, on))
    with founded.app_context():
        s = get_session()
        s.commit()
        raw = s.connection().connection.driver_connection
        s.commit()
        with pytest.raises(RuntimeError, match="foreign keys back on"):
            with bulk.batch_transaction(s):
                pass
        monkeypatch.undo()
        assert s.connection().connection.driver_connection is not raw
        assert _foreign_keys_on(s)
        s.rollback()


@pytest.mark.skipif(ENGINE != "sqlite", reason="PostgreSQL's COPY text is tested with the canonical form")
def test_the_bulk_path_stores_dates_and_times_as_the_posting_service_does(founded, runner, tmp_path):
    """The entries' date and stamp are bound once a batch, as text made by the driver's own
    adapters on SQLite: the same text as an entry the posting service writes."""
    path = tmp_path / "in.jsonl"
    path.write_text(_line("bulk", "m") + "\n")
    assert runner.invoke(args=["import", str(path)]).exit_code == 0
    with founded.app_context():
        s = get_session()
        row = "SELECT CAST(date AS TEXT), CAST(created_at AS TEXT), typeof(date), typeof(created_at) FROM entry "
        bulk_row = s.execute(sa.text(row + "WHERE idempotency_key = 'bulk'")).one()
        service_row = s.execute(sa.text(row + "WHERE source_type <> 'import' ORDER BY id LIMIT 1")).one()
        assert bulk_row[2:] == service_row[2:]
        def shape(text):
            return re.sub(r"[0-9]", "9", text)
        assert shape(bulk_row[0]) == shape(service_row[0]) and shape(bulk_row[1]) == shape(service_row[1])
        assert bulk_row[0] == "2026-01-15"


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


def _spy_on_lookups(monkeypatch) -> list[str]:
    """The first key of each batch whose keys the import looks up (``importer._existing``), in order."""
    looked: list[str] = []
    existing = importer._existing

    def spy(session, keys):
        looked.append(keys[0])
        return existing(session, keys)
    monkeypatch.setattr(importer, "_existing", spy)
    return looked


def test_a_batch_after_one_with_no_known_key_is_written_without_looking_its_keys_up(founded, runner, tmp_path,
                                                                                  monkeypatch):
    """``importer._KeyLookup``: the first batch's keys are looked up; after a batch whose lookup found
    none, the next goes straight to the write; a key the ledger has is then refused by the entries'
    unique key, and that batch is rolled back and written again with its keys looked up. Every key
    once, in the file's order, whichever way each batch went."""
    monkeypatch.setattr(importer, "BATCH", dict.fromkeys(importer.BATCH, 10))
    looked = _spy_on_lookups(monkeypatch)
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text("".join(_line(f"k{i}", "m") + "\n" for i in range(30)))
    result = runner.invoke(args=["import", str(first)])
    assert result.exit_code == 0, result.output
    assert looked == ["k0"]  # k10 and k20 went straight to the write
    # Ten known keys, ten new, ten new, then a key of the third batch again with nine new ones.
    keys = [f"k{i}" for i in range(20, 50)] + ["k35"] + [f"k{i}" for i in range(50, 59)]
    second.write_text("".join(_line(key, "m") + "\n" for key in keys))
    looked.clear()
    result = runner.invoke(args=["import", str(second)])
    assert result.exit_code == 0, result.output
    assert "imported 29 entries (58 postings), skipped 11 already in the ledger" in result.output
    # Looked up: the first batch (all known), the next (none known: the third is not looked up),
    # and the fourth once the write refused its k35.
    assert looked == ["k20", "k30", "k35"]
    with founded.app_context():
        s = get_session()
        assert _keys_in_chain_order(s) == [f"k{i}" for i in range(59)]
        assert balance(s, chart.CASH) == Decimal("737.50")  # 59 entries of 12.50
        report = full_verify(s)
        assert report.ok, report.problems


def test_an_import_in_the_callers_transaction_looks_up_every_batch(founded, monkeypatch):
    """A batch in the caller's transaction cannot be rolled back alone: its keys are always looked up."""
    monkeypatch.setattr(importer, "BATCH", dict.fromkeys(importer.BATCH, 10))
    looked = _spy_on_lookups(monkeypatch)
    with founded.app_context():
        s = get_session()
        result = importer.import_lines(s, [_line(f"k{i}", "m") for i in range(30)], "USD", commit=False)
        s.commit()
        assert (result.imported, looked) == (30, ["k0", "k10", "k20"])
