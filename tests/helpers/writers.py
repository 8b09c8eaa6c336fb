"""Writers in threads, each in its own app context, their exceptions collected (``in_threads``);
grouped writers' entries checked to be one chain, each writer's in its own order
(``grouped_writers``, ``assert_each_in_order``); the kill -9 tests' writer process and their check
(``killable_writer``, ``assert_acknowledged_kept``); and flushes held on a lock (``flush_held``)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from contextlib import contextmanager
from decimal import Decimal

import sqlalchemy as sa

from ledger.core import chart
from ledger.core.entries import Leg
from ledger.journal.group import post_grouped
from ledger.journal.models import Entry
from ledger.journal.verify import verify
from ledger.runtime.database import get_session

#: The day the append path's tests post on.
DAY = dt.date(2026, 1, 10)


def legs(amount: str = "1.00", partner: str = "ben") -> list[Leg]:
    """Cash in from a partner's capital: the append path's tests' entry."""
    return [Leg(chart.CASH, Decimal(amount), "USD"), Leg(chart.capital(partner), -Decimal(amount), "USD")]


def in_threads(writer: Callable[[int], None], count: int) -> list[BaseException]:
    """Run ``writer(0)`` … ``writer(count - 1)`` in threads at once; what they raised."""
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            writer(n)
        except Exception as exc:  # noqa: BLE001 - collected for the test to assert
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def grouped_writers(app, writers: int, each: int, spec: Callable[[int, int], object]) -> dict[int, list[int]]:
    """``writers`` threads posting ``spec(n, i)`` for i < ``each`` through ``post_grouped``: each
    writer's entry ids, in the order it posted them."""
    got: dict[int, list[int]] = {}

    def writer(n: int) -> None:
        with app.app_context():
            s = get_session()
            got[n] = [post_grouped(s, spec(n, i)) for i in range(each)]

    assert in_threads(writer, writers) == []
    return got


def assert_each_in_order(app, got: dict[int, list[int]], memo: Callable[[int, int], str]) -> None:
    """The writers' entries are every entry after the founding one, ``verify`` is green, and each
    writer's ids carry its memos ``memo(n, i)`` in the order it posted them."""
    ids = [i for n in got for i in got[n]]
    assert sorted(ids) == list(range(2, 2 + len(ids)))
    with app.app_context():
        s = get_session()
        report = verify(s)
        assert report.ok, report.problems
        memos = dict(s.execute(sa.select(Entry.id, Entry.memo)).all())
        for n, mine in got.items():
            assert [memos[i] for i in mine] == [memo(n, i) for i in range(len(mine))]


def killable_writer(url: str, n: int, acks: str, socket_path: str | None = None) -> None:
    """A writer process for the kill -9 tests: posts through ``post_grouped`` (through the
    appender at ``socket_path`` when given) until killed, appending each acknowledged entry's id
    and memo to ``acks`` only once it is answered. An answer lost with the appender
    (``appender.Lost``) is not acknowledged: the writer goes on."""
    import json
    import os

    from ledger import create_app
    from ledger.journal import appender
    from ledger.journal.service import EntrySpec

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "test"})
    with app.app_context(), open(acks, "a", encoding="utf-8") as out:
        s = get_session()
        if socket_path:
            appender.attach(s.get_bind(), socket_path)
        i = 0
        while True:
            i += 1
            memo = f"k{n}-{os.getpid()}-{i}"
            try:
                entry_id = post_grouped(s, EntrySpec(DAY, memo, legs(), "manual"))
            except appender.Lost:
                continue  # unanswered: written or not, never acknowledged
            out.write(json.dumps([entry_id, memo]) + "\n")  # acknowledged: written only once answered
            out.flush()


def assert_acknowledged_kept(app, acks: str) -> None:
    """Every entry ``killable_writer`` acknowledged is in the ledger with its memo, and ``verify``
    is green: no half entry, no fork, balances agree."""
    import json

    with open(acks, encoding="utf-8") as lines:
        acked = [json.loads(line) for line in lines if line.endswith("\n")]
    assert len(acked) > 20
    with app.app_context():
        s = get_session()
        report = verify(s)
        assert report.ok, report.problems
        memos = dict(s.execute(sa.select(Entry.id, Entry.memo)).all())
        for entry_id, memo in acked:
            assert memos.get(entry_id) == memo


@contextmanager
def flush_held(monkeypatch, dsn: str):
    """Every flush an answer waits for (``wire.FLUSHED``) waits, for the block, on an advisory lock
    this holds: what was committed is there, what waits for its flush waits."""
    import psycopg

    from ledger.journal import append, wire

    monkeypatch.setattr(wire, "FLUSHED", wire.Statement(
        "SELECT pg_advisory_lock(4242), pg_advisory_unlock(4242), " + append.FLUSHED.removeprefix("SELECT ")))
    holder = psycopg.connect(dsn, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(4242)")
    try:
        yield holder
    finally:
        holder.execute("SELECT pg_advisory_unlock(4242)")
        holder.close()
