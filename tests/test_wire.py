"""``journal.wire``: the append path's statements sent through libpq itself, parameters and answers
as text (PostgreSQL). The text forms are checked on both engines; the round trips on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from helpers.engine import ENGINE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.journal import wire

pg_only = pytest.mark.skipif(ENGINE != "postgresql", reason="libpq's round trips are PostgreSQL's")
UTC = dt.UTC


def test_each_value_is_sent_as_the_text_postgresql_reads():
    assert wire.text(None) is None
    assert wire.text("caf\u00e9 \"x\"") == "caf\u00e9 \"x\"".encode()
    assert (wire.text(True), wire.text(False)) == (b"t", b"f")
    assert wire.text(7) == b"7" and wire.text(Decimal("-1.50")) == b"-1.50"
    assert wire.text(dt.date(2026, 1, 31)) == b"2026-01-31"
    assert wire.text(dt.datetime(2026, 1, 31, 9, 5, tzinfo=UTC)) == b"2026-01-31T09:05:00+00:00"
    assert wire.text([1, None, 'a"b\\c', dt.date(2026, 2, 1)]) == b'{1,NULL,"a\\"b\\\\c","2026-02-01"}'
    assert wire.text([]) == b"{}"


def test_a_statement_numbers_its_marks_and_is_named_by_its_text():
    one = wire.Statement("SELECT %s::int, %s::text[] WHERE 'ok' = %s")
    assert one.sql == b"SELECT $1::int, $2::text[] WHERE 'ok' = $3"
    assert one.name == wire.Statement("SELECT %s::int, %s::text[] WHERE 'ok' = %s").name
    assert one.name != wire.Statement("SELECT %s::bigint").name
    assert wire.statement("SELECT %s") is wire.statement("SELECT %s")
    with pytest.raises(ValueError, match="%s marks only"):
        wire.Statement("SELECT %s WHERE x LIKE 'a%%'")


def test_answers_are_read_from_their_text():
    assert wire.as_words(b"{ab01,cd23}") == ["ab01", "cd23"] and wire.as_words(b"{}") == []
    assert wire.as_words(None) is None and wire.as_int(b"-12") == -12 and wire.as_int(None) is None
    assert wire.as_str(b"caf\xc3\xa9") == "caf\u00e9" and wire.as_str(None) is None


@pytest.fixture
def conn(founded):
    from ledger.journal.group import driver_connection

    with driver_connection(founded.extensions["ledger.engine"]) as c:
        yield c


_BACK = wire.Statement("SELECT to_jsonb(%s::bigint[]), to_jsonb(%s::text[]), to_jsonb(%s::date[]), "
                       "to_jsonb(%s::boolean), %s::timestamptz = '2026-01-31 09:05:00+00', to_jsonb(%s::text)")


@pg_only
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(numbers=st.lists(st.one_of(st.none(), st.integers(min_value=-2**63, max_value=2**63 - 1)), max_size=6),
       texts=st.lists(st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                                                          blacklist_characters="\x00"))), max_size=6),
       flag=st.one_of(st.none(), st.booleans()),
       word=st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))))
def test_what_the_server_reads_is_exactly_what_was_sent(conn, numbers, texts, flag, word):
    row = _BACK.one(conn, [numbers, texts, [dt.date(2026, 1, 31), None], flag,
                           dt.datetime(2026, 1, 31, 9, 5, tzinfo=UTC), word])
    back = [None if v is None else json.loads(v) for v in (row[0], row[1], row[2], row[3], row[5])]
    assert back == [numbers, texts, ["2026-01-31", None], flag, word] and row[4] == b"t"


@pg_only
def test_an_error_is_psycopgs_own_and_the_connection_goes_on(conn):
    import psycopg

    divide = wire.Statement("SELECT 10 / %s::int")
    with pytest.raises(psycopg.errors.DivisionByZero):
        divide.one(conn, [0])
    assert divide.one(conn, [5]) == (b"2",)
    assert wire.Statement("SELECT 1 WHERE %s::boolean").one(conn, [False]) is None


@pg_only
def test_a_call_sent_ahead_is_answered_when_read_and_its_error_raised_there(conn):
    import psycopg

    slow = wire.Statement("SELECT 10 / %s::int FROM pg_sleep(0.2)")
    slow.send(conn, [5])
    assert conn.pgconn.is_busy()  # sent, the server still at it: the caller's time is its own
    assert wire.answer(conn) == (b"2",)
    slow.send(conn, [0])
    with pytest.raises(psycopg.errors.DivisionByZero):
        wire.answer(conn)
    assert slow.one(conn, [2]) == (b"5",)  # the connection goes on
    wire.Statement("SELECT 1 WHERE %s::boolean").send(conn, [False])
    assert wire.answer(conn) is None


@pg_only
def test_a_statement_is_prepared_once_a_connection_and_again_when_dropped(conn):
    ask = wire.Statement("SELECT %s::int + 1")
    count = wire.Statement("SELECT count(*) FROM pg_prepared_statements WHERE name = %s")
    assert [ask.one(conn, [n]) for n in (1, 2, 3)] == [(b"2",), (b"3",), (b"4",)]
    assert count.one(conn, [ask.name.decode()]) == (b"1",)
    conn.execute("DEALLOCATE ALL")  # a pooler's reset: the server forgets, this process does not
    assert ask.one(conn, [9]) == (b"10",)
    assert count.one(conn, [ask.name.decode()]) == (b"1",)


@pg_only
def test_the_driver_connection_speaks_utf8_and_a_lost_one_raises_operational_error(founded, monkeypatch):
    import psycopg

    from ledger.journal.group import _idle, driver_connection

    engine = founded.extensions["ledger.engine"]
    monkeypatch.setenv("PGCLIENTENCODING", "LATIN1")  # what libpq would take if the connection did not say
    assert not _idle.get(engine)  # so the connection below is made now, under that environment
    ask = wire.Statement("SELECT current_setting('client_encoding'), %s::text")
    with pytest.raises(psycopg.OperationalError), driver_connection(engine) as conn:
        assert ask.one(conn, ["caf\u00e9"]) == (b"UTF8", "caf\u00e9".encode())
        with psycopg.connect(engine.url.set(drivername="postgresql").render_as_string(hide_password=False),
                             autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [conn.info.backend_pid])
        ask.one(conn, ["again"])
    with driver_connection(engine) as fresh:  # the lost one was closed, not kept: a new one answers
        assert ask.one(fresh, ["x"]) == (b"UTF8", b"x")
