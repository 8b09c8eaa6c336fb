"""What a posting and an entry refer to exists, and stays: the database refuses a posting naming no
account or engagement, an entry reversing none, and the removal or renumbering of an account or
engagement a posting names — on SQLite by foreign-key constraints, on PostgreSQL since migration
0029 by statement triggers that check an insert's distinct keys at once, with PostgreSQL's own
error for the constraint. The last tests hold two PostgreSQL sessions against each other: a
delete and an insert that race still leave no posting naming a row that is gone."""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal

import psycopg
import pytest
import sqlalchemy as sa
from helpers.engine import ENGINE
from helpers.postings import claimed, engagement, invoice, next_entry
from sqlalchemy.exc import IntegrityError

from ledger.core import chart
from ledger.core.entries import Leg
from ledger.journal.models import KEYS_AS_TRIGGERS, Entry, Posting
from ledger.journal.service import claim_numbers, open_account, post_entry
from ledger.journal.verify import verify

JAN = dt.date(2026, 1, 15)
MISSING = 10**9
FOREIGN_KEY = "(?i)foreign key"  # SQLite: "FOREIGN KEY constraint failed"; PostgreSQL: "violates foreign key constraint"


def _cash(s) -> int:
    return s.execute(sa.text("SELECT id FROM account WHERE name = :n"), {"n": chart.CASH}).scalar_one()


def _counts(s) -> tuple[int, int]:
    return (s.scalar(sa.select(sa.func.count()).select_from(Entry)),
            s.scalar(sa.select(sa.func.count()).select_from(Posting)))


def _refused(s, sql: str, **params) -> IntegrityError:
    with pytest.raises(IntegrityError, match=FOREIGN_KEY) as caught:
        s.execute(sa.text(sql), params)
        s.flush()
    s.rollback()
    return caught.value


def _postgres_error(exc: IntegrityError, constraint: str, detail: str) -> None:
    """On PostgreSQL the trigger raises what the constraint raised: SQLSTATE 23503, its name, its detail."""
    if ENGINE == "postgresql":
        assert exc.orig.sqlstate == "23503"
        assert exc.orig.diag.constraint_name == constraint
        assert exc.orig.diag.message_detail == detail


@pytest.mark.parametrize("column,referred", [("account_id", "account"), ("engagement_id", "engagement")])
def test_a_posting_naming_no_row_is_refused_and_writes_nothing(s, column, referred):
    before = _counts(s)
    values = {"account_id": _cash(s), "engagement_id": None} | {column: MISSING}
    exc = _refused(s, "INSERT INTO posting (entry_id, account_id, commodity, amount, engagement_id) "
                      "VALUES (:e, :account_id, 'USD', 0, :engagement_id)", e=claimed(s), **values)
    constraint = f"fk_posting_{column}_{referred}"
    assert constraint in KEYS_AS_TRIGGERS
    _postgres_error(exc, constraint, f'Key ({column})=({MISSING}) is not present in table "{referred}".')
    assert _counts(s) == before


def test_one_missing_key_among_many_in_one_statement_is_found_and_named(s):
    """The set-wise check finds the one bad key among a statement's many good ones (the least, if several)."""
    cash, first = _cash(s), claimed(s)
    rows = ", ".join(f"({first}, {cash}, 'USD', {n})" for n in range(50))
    exc = _refused(s, f"INSERT INTO posting (entry_id, account_id, commodity, amount) VALUES {rows}, "
                      f"({first}, {MISSING + 7}, 'USD', 0), ({first}, {MISSING}, 'USD', 0)")
    _postgres_error(exc, "fk_posting_account_id_account", f'Key (account_id)=({MISSING}) is not present in table "account".')


def test_an_entry_reversing_no_entry_is_refused_and_writes_nothing(s):
    before, cash, n = _counts(s), _cash(s), claimed(s)
    ana = s.execute(sa.text("SELECT id FROM account WHERE name = :n"), {"n": chart.capital("ana")}).scalar_one()
    with pytest.raises(IntegrityError, match=FOREIGN_KEY) as caught:
        for account, amount in ((cash, 100), (ana, -100)):
            s.execute(sa.text("INSERT INTO posting (entry_id, account_id, commodity, amount) VALUES (:e, :a, 'USD', :x)"),
                      {"e": n, "a": account, "x": amount})
        s.execute(sa.text("INSERT INTO entry (id, date, memo, source_type, source_ref, reverses_id, prev_hash, hash, "
                          "created_at) VALUES (:e, '2026-01-02', 'x', 'reversal', '', :r, 'p', 'h', :now)"),
                  {"e": n, "r": MISSING, "now": dt.datetime(2026, 1, 2, tzinfo=dt.UTC)})
        s.flush()
        s.commit()
    s.rollback()
    _postgres_error(caught.value, "fk_entry_reverses_id_entry", f'Key (reverses_id)=({MISSING}) is not present in table "entry".')
    assert _counts(s) == before


@pytest.fixture
def named(s):
    """An engagement invoiced: its posting names it and the receivable account; the ids."""
    e = engagement(s, "e1", "msft", "ben")
    invoice(s, e, "100.00", JAN)
    s.commit()
    account = s.scalar(sa.select(Posting.account_id).where(Posting.engagement_id == e.id))
    return {"account": account, "engagement": e.id}


@pytest.mark.parametrize("table", ["account", "engagement"])
@pytest.mark.parametrize("statement", ["DELETE FROM {table} WHERE id = :id",
                                       "UPDATE {table} SET id = id + 100000 WHERE id = :id"])
def test_an_account_or_engagement_a_posting_names_is_neither_deleted_nor_renumbered(s, named, table, statement):
    exc = _refused(s, statement.format(table=table), id=named[table])
    _postgres_error(exc, f"fk_posting_{table}_id_{table}", f'Key (id)=({named[table]}) is still referenced from table "posting".')
    assert s.scalar(sa.text(f"SELECT count(*) FROM {table} WHERE id = :id"), {"id": named[table]}) == 1
    assert verify(s).ok


def test_a_row_no_posting_names_may_still_be_changed_or_removed(s, named):
    """Only a named row is held: an engagement's other columns change freely, and an account
    nothing refers to is renamed, renumbered and deleted (the constraint's ``NO ACTION``, no more)."""
    s.execute(sa.text("UPDATE engagement SET title = 'renamed' WHERE id = :id"), {"id": named["engagement"]})
    spare = open_account(s, "Expenses:Spare", ["USD"]).id
    s.execute(sa.text("UPDATE account SET name = 'Expenses:Spare2' WHERE id = :id"), {"id": spare})
    s.execute(sa.text("UPDATE account SET id = :new WHERE id = :id"), {"id": spare, "new": spare + 100000})
    s.execute(sa.text("DELETE FROM account WHERE id = :id"), {"id": spare + 100000})
    s.commit()
    assert s.scalar(sa.text("SELECT title FROM engagement WHERE id = :id"), {"id": named["engagement"]}) == "renamed"
    assert s.scalar(sa.text("SELECT count(*) FROM account WHERE name LIKE 'Expenses:Spare%'")) == 0


# --- Two PostgreSQL sessions racing -----------------------------------------------------------

postgres_only = pytest.mark.skipif(ENGINE != "postgresql", reason="SQLite has one writer at a time: nothing to race")


def _conninfo(s) -> str:
    url = s.get_bind().url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _waiting_on_a_lock(s, pid: int) -> bool:
    """Whether backend ``pid`` waits on a lock, asked for up to 5 s."""
    deadline = time.monotonic() + 5
    with psycopg.connect(_conninfo(s), autocommit=True) as watcher:
        while time.monotonic() < deadline:
            if watcher.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0] == "Lock":
                return True
            time.sleep(0.02)
    return False


def _in_thread(conninfo: str, statements: list[tuple[str, tuple]], started: threading.Event, pid: list):
    """Run ``statements`` (sql, params) in a session of its own on a thread, then commit; what it
    raised (or None) in the result list."""
    result: list = []

    def run():
        with psycopg.connect(conninfo) as conn:
            pid.append(conn.info.backend_pid)
            started.set()
            try:
                for sql, params in statements:
                    conn.execute(sql, params)
                conn.commit()
                result.append(None)
            except psycopg.Error as exc:
                result.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


@postgres_only
def test_a_delete_waits_for_a_posting_not_yet_committed_then_is_refused(s):
    """A posts to a new account and has not committed; B's delete of the account waits on A's key
    share, and once A commits, B's trigger reads A's posting and refuses, naming the posting's key."""
    spare = open_account(s, "Expenses:Spare", ["USD"]).id
    s.commit()
    post_entry(s, date=JAN, memo="to spare", source_type="manual",
               legs=[Leg("Expenses:Spare", Decimal("5.00"), "USD"), Leg(chart.CASH, Decimal("-5.00"), "USD")])
    started, pid = threading.Event(), []
    thread, result = _in_thread(_conninfo(s), [("DELETE FROM account WHERE id = %s", (spare,))], started, pid)
    started.wait(5)
    assert _waiting_on_a_lock(s, pid[0])
    s.commit()
    thread.join(10)
    assert isinstance(result[0], psycopg.errors.ForeignKeyViolation)
    assert result[0].diag.constraint_name == "fk_posting_account_id_account"
    assert s.scalar(sa.text("SELECT count(*) FROM account WHERE id = :id"), {"id": spare}) == 1
    assert verify(s).ok


@postgres_only
@pytest.mark.parametrize("deleter_commits", [True, False])
def test_a_posting_naming_a_row_being_deleted_waits_and_is_refused_only_if_the_delete_commits(s, deleter_commits):
    """B deletes an account no posting names and has not committed; A's posting to it waits on
    B's row lock (a check by snapshot alone would pass, and leave the posting naming a deleted
    account), then is refused if B committed, or goes in if B rolled back."""
    spare = open_account(s, "Expenses:Spare", ["USD"]).id
    s.commit()
    with psycopg.connect(_conninfo(s)) as deleter:
        deleter.execute("DELETE FROM account WHERE id = %s", (spare,))
        started, pid = threading.Event(), []
        thread, result = _in_thread(
            _conninfo(s), [("UPDATE chain_head SET seq = %s WHERE id = 1", (next_entry(s),)),
                           ("INSERT INTO posting (entry_id, account_id, commodity, amount) VALUES (%s, %s, 'USD', 0)",
                            (next_entry(s), spare))], started, pid)
        started.wait(5)
        assert _waiting_on_a_lock(s, pid[0])
        deleter.commit() if deleter_commits else deleter.rollback()
        thread.join(10)
    if deleter_commits:
        assert isinstance(result[0], psycopg.errors.ForeignKeyViolation)
        assert result[0].diag.constraint_name == "fk_posting_account_id_account"
    else:  # the insert went through; its commit then found the head's entry missing (0031's key, deferred)
        assert isinstance(result[0], psycopg.errors.ForeignKeyViolation)
        assert result[0].diag.constraint_name == "fk_chain_head_entry_id_entry"
    assert s.scalar(sa.select(sa.func.count()).select_from(Posting).where(Posting.account_id == spare)) == 0


# --- A posting's entry: on PostgreSQL the chain head's (migration 0031), on SQLite the key's --------

def _postings(s, rows: list[tuple[int, int]]) -> None:
    """One statement of balanced-per-entry postings: (entry id, amount) on cash, its negation on Ana's capital."""
    cash = _cash(s)
    ana = s.execute(sa.text("SELECT id FROM account WHERE name = :n"), {"n": chart.capital("ana")}).scalar_one()
    values = ", ".join(f"({e}, {cash}, 'USD', {x}), ({e}, {ana}, 'USD', {-x})" for e, x in rows)
    s.execute(sa.text(f"INSERT INTO posting (entry_id, account_id, commodity, amount) VALUES {values}"))


def _entries(s, ids: list[int]) -> None:
    for n in ids:
        s.execute(sa.text("INSERT INTO entry (id, date, memo, source_type, source_ref, prev_hash, hash, created_at) "
                          "VALUES (:e, '2026-01-02', 'x', 'manual', '', 'p', :h, :now)"),
                  {"e": n, "h": f"h{n}", "now": dt.datetime(2026, 1, 2, tzinfo=dt.UTC)})


def test_a_posting_beyond_the_chain_head_is_refused_and_writes_nothing(s):
    """A posting for an entry no writer has moved the head over: on PostgreSQL refused at once,
    with the posting key's error naming the least such entry; on SQLite by the key at the commit."""
    before, first = _counts(s), next_entry(s)
    with pytest.raises(IntegrityError, match=FOREIGN_KEY) as caught:
        _postings(s, [(first + 2, 1), (first + 1, 2)])
        s.commit()
    s.rollback()
    _postgres_error(caught.value, "fk_posting_entry_id_entry",
                    f'Key (entry_id)=({first + 1}) is not present in table "entry".')
    assert _counts(s) == before


def _detail(s, entry_id: int) -> None:
    s.execute(sa.text("INSERT INTO posting_detail (entry_id, line_no, account_id, date, commodity, kind, amount) "
                      "VALUES (:e, 1, :a, '2026-01-02', 'USD', 'share', 1)"), {"e": entry_id, "a": _cash(s)})


@pytest.mark.skipif(ENGINE != "postgresql", reason="the chain head holds detail lines on PostgreSQL (0031)")
def test_detail_for_an_entry_the_head_is_not_moved_over_is_refused(s):
    """Detail lines had no key to their entry on PostgreSQL; since 0031 the head holds them as it
    holds the postings: refused beyond the head, and at the commit if their entry never comes."""
    first = next_entry(s)
    with pytest.raises(IntegrityError, match="the chain head is not moved over it"):
        _detail(s, first)
    s.rollback()
    claimed(s)
    _detail(s, first)
    with pytest.raises(IntegrityError, match="fk_chain_head_entry_id_entry"):
        s.commit()
    s.rollback()
    assert s.scalar(sa.text("SELECT count(*) FROM posting_detail WHERE entry_id >= :e"), {"e": first}) == 0


@pytest.mark.parametrize("statements,written,missing", [
    ([[0, 1, 2]], [0, 1], 2),                # one statement, its last entry never written
    ([[0, 1], [5]], [0, 1], 5),              # a later statement, far past the others
])
def test_a_posting_whose_entry_is_never_written_is_refused_at_the_commit(s, statements, written, missing):
    """The head moved over the entries, their postings written, not every entry: on PostgreSQL the
    head's key finds no entry at the head (written without a gap, so the head's is the last)."""
    before, first = _counts(s), claimed(s, max(max(ids) for ids in statements) + 1)
    with pytest.raises(IntegrityError, match=FOREIGN_KEY) as caught:
        for ids in statements:
            _postings(s, [(first + i, 10 + i) for i in ids])
        _entries(s, [first + i for i in written])
        s.commit()
    s.rollback()
    if ENGINE == "postgresql":
        _postgres_error(caught.value, "fk_chain_head_entry_id_entry",
                        f'Key (entry_id)=({first + missing}) is not present in table "entry".')
    assert _counts(s) == before


def test_an_entry_leaving_a_gap_in_the_chain_is_refused(s):
    """Entries 0, 1 and 3 of four with postings: on PostgreSQL entry 3 is refused as it is written
    (the chain is numbered without a gap, so the head's entry stands for all below it); on SQLite
    the missing entry's postings fail their key at the commit."""
    before, first = _counts(s), claimed(s, 4)
    with pytest.raises(IntegrityError, match="entry .* is not written" if ENGINE == "postgresql" else FOREIGN_KEY):
        _postings(s, [(first, 10), (first + 1, 11)])
        _postings(s, [(first + 2, 12), (first + 3, 13)])
        _entries(s, [first, first + 1, first + 3])
        s.commit()
    s.rollback()
    assert _counts(s) == before


def test_postings_rolled_back_to_a_savepoint_are_not_checked_at_the_commit(s):
    """An orphan statement undone by a savepoint's rollback takes its check with it (on PostgreSQL
    the head's move with it): the entry written after it commits."""
    first = next_entry(s)
    nested = s.begin_nested()
    claim_numbers(s, first - 1, 8)
    _postings(s, [(first + 7, 1)])
    nested.rollback()
    claimed(s)
    _postings(s, [(first, 3)])
    _entries(s, [first])
    s.commit()
    assert s.scalar(sa.select(sa.func.count()).select_from(Posting).where(Posting.entry_id == first)) == 2
    assert s.scalar(sa.select(sa.func.count()).select_from(Posting).where(Posting.entry_id == first + 7)) == 0


@postgres_only
def test_a_posting_for_an_entry_another_transaction_claimed_is_refused(s):
    """A moved the head and has not committed; B's posting for A's entry sees the head where it
    was (A's move is not B's to see) and is refused at once, without waiting for A."""
    first = next_entry(s)
    with psycopg.connect(_conninfo(s)) as claimer:
        claimer.execute("UPDATE chain_head SET seq = %s WHERE id = 1", (first,))
        started, pid = threading.Event(), []
        thread, result = _in_thread(
            _conninfo(s), [("INSERT INTO posting (entry_id, account_id, commodity, amount) VALUES (%s, %s, 'USD', 0)",
                            (first, _cash(s)))], started, pid)
        thread.join(10)
        claimer.rollback()
    assert isinstance(result[0], psycopg.errors.ForeignKeyViolation)
    assert result[0].diag.constraint_name == "fk_posting_entry_id_entry"
    assert s.scalar(sa.select(sa.func.count()).select_from(Posting).where(Posting.entry_id == first)) == 0
    assert verify(s).ok
