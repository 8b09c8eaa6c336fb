"""Writers in threads, each in its own app context, their exceptions collected (``in_threads``);
and grouped writers' entries checked to be one chain, each writer's in its own order
(``grouped_writers``, ``assert_each_in_order``)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import sqlalchemy as sa

from ledger.journal.group import post_grouped
from ledger.journal.models import Entry
from ledger.journal.verify import verify
from ledger.runtime.database import get_session


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
