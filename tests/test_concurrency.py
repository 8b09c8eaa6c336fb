"""Concurrent writers cannot fork the hash chain or lose an entry (PostgreSQL row lock; SQLite's
write lock)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from helpers.writers import in_threads

from ledger.core import chart
from ledger.core.entries import Leg
from ledger.journal.balances import balance
from ledger.journal.models import Entry
from ledger.journal.service import post_entry
from ledger.journal.verify import verify
from ledger.runtime.database import get_session

WRITERS, EACH = 4, 25


def test_concurrent_writers_keep_one_chain(founded):
    def writer(n):
        with founded.app_context():
            s = get_session()
            for i in range(EACH):
                post_entry(s, date=dt.date(2026, 1, 10), memo=f"w{n}-{i}", source_type="manual",
                           legs=[Leg(chart.CASH, Decimal("1.00"), "USD"), Leg(chart.capital("ben"), Decimal("-1.00"), "USD")])
                s.commit()

    assert in_threads(writer, WRITERS) == []
    with founded.app_context():
        s = get_session()
        report = verify(s)
        assert report.ok, report.problems
        assert report.entries == 1 + WRITERS * EACH
        assert balance(s, chart.CASH) == Decimal(WRITERS * EACH)
        memos = [m for (m,) in s.query(Entry.memo).filter(Entry.source_type == "manual")]
        assert len(set(memos)) == WRITERS * EACH
