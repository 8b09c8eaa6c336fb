"""Concurrent writers cannot fork the hash chain or lose an entry (PostgreSQL row lock; SQLite's
write lock)."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

from ledger.core import chart
from ledger.core.entries import Leg
from ledger.journal.balances import balance
from ledger.journal.models import Entry
from ledger.journal.service import post_entry
from ledger.journal.verify import verify
from ledger.runtime.database import get_session

WRITERS, EACH = 4, 25


def test_concurrent_writers_keep_one_chain(founded):
    errors = []

    def writer(n):
        try:
            with founded.app_context():
                s = get_session()
                for i in range(EACH):
                    post_entry(s, date=dt.date(2026, 1, 10), memo=f"w{n}-{i}", source_type="manual",
                               legs=[Leg(chart.CASH, Decimal("1.00"), "USD"), Leg(chart.capital("ben"), Decimal("-1.00"), "USD")])
                    s.commit()
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with founded.app_context():
        s = get_session()
        report = verify(s)
        assert report.ok, report.problems
        assert report.entries == 1 + WRITERS * EACH
        assert balance(s, chart.CASH) == Decimal(WRITERS * EACH)
        memos = [m for (m,) in s.query(Entry.memo).filter(Entry.source_type == "manual")]
        assert len(set(memos)) == WRITERS * EACH
