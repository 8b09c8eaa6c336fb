"""Concurrent posting throughput on PostgreSQL: W writer processes, each posting E entries (one
transaction each) on the same few accounts; prints entries/s against the 3,000/s target.

    .venv/bin/python bench/concurrency_bench.py [--writers 8] [--entries 1000]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import database, machine, migrated_app, synthetic_charter  # noqa: E402

TARGET = 3000


def writer(url: str, n: int, each: int, start) -> None:
    import datetime as dt
    from decimal import Decimal

    from ledger.core import chart, create_app
    from ledger.core.entries import Leg
    from ledger.journal.service import post_entry
    from ledger.runtime.database import get_session

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    with app.app_context():
        s = get_session()
        start.wait()
        for i in range(each):
            post_entry(s, date=dt.date(2026, 1, 1 + i % 28), memo=f"w{n}-{i}", source_type="manual",
                       legs=[Leg(chart.CASH, Decimal("1.00"), "USD"), Leg(chart.capital(f"p{i % 3:03d}"), Decimal("-1.00"), "USD")])
            s.commit()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--entries", type=int, default=1000)
    args = ap.parse_args()
    print(f"# concurrent posting on PostgreSQL: {args.writers} processes × {args.entries} entries — {machine()}")
    with database("postgresql") as url:
        app = migrated_app(url)
        from ledger.partnership.charter import load_charter
        from ledger.partnership.founding import found
        from ledger.partnership.integrity import full_verify
        from ledger.runtime.database import get_session

        with app.app_context():
            s = get_session()
            found(s, load_charter(synthetic_charter(5, 2)))
            s.commit()
        ctx = mp.get_context("spawn")
        start = ctx.Event()
        procs = [ctx.Process(target=writer, args=(url, n, args.entries, start)) for n in range(args.writers)]
        for p in procs:
            p.start()
        time.sleep(3)  # let every process import and connect before the clock starts
        t0 = time.perf_counter()
        start.set()
        for p in procs:
            p.join()
        seconds = time.perf_counter() - t0
        total = args.writers * args.entries
        with app.app_context():
            report = full_verify(get_session())
        app.extensions["ledger.engine"].dispose()
    rate = total / seconds
    print(f"{total:,} entries in {seconds:.1f} s = {rate:,.0f} entries/s ({rate / TARGET:.2f} × the {TARGET:,}/s target); "
          f"verify {'ok' if report.ok else 'FAILED'} at {report.entries:,} entries")


if __name__ == "__main__":
    main()
