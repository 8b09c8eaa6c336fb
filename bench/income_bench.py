"""The income statement (CONTRACT §10) against its 100 ms target: twelve months of 20,000
engagements each (every engagement invoiced every month, a third with a cost, half of those
subcontracted), each month closed, then ``GET /reports/income``'s read (``ledger.read.income``) over
the twelve periods, by practice and by period, printed as ratios to the target and to a raw
aggregate of the same range's postings (the scan the maintained account-month totals replace),
measured in this run. The statement's totals are checked against that raw aggregate to the cent.

    .venv/bin/python bench/income_bench.py [--engagements N] [--months M] [--engines postgresql,sqlite]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import database, machine, migrated_app, year_of_work  # noqa: E402

TARGET_S = 0.100


def raw_aggregate(s, start: dt.date, end: dt.date):
    """The same range summed straight off the postings, per account, cause, kind and tag."""
    import sqlalchemy as sa

    from ledger.journal.models import Entry, Posting

    return s.execute(
        sa.select(Posting.account_id, Entry.source_type, Posting.kind, Posting.engagement_id.is_(None),
                  sa.func.sum(Posting.amount))
        .join(Entry, Entry.id == Posting.entry_id)
        .where(Entry.date >= start, Entry.date <= end, Posting.commodity == "USD")
        .group_by(Posting.account_id, Entry.source_type, Posting.kind, Posting.engagement_id.is_(None))).all()


def measure(app, months: int, repeat: int) -> dict:
    import sqlalchemy as sa

    from ledger.journal.models import Account
    from ledger.read.income import income_statement
    from ledger.runtime.database import get_session

    last = f"2026-{months:02d}"
    start, end = dt.date(2026, 1, 1), dt.date(2026, months, 28) + dt.timedelta(days=4)
    end -= dt.timedelta(days=end.day)
    out: dict[str, list[float]] = {"practice": [], "period": [], "raw": []}
    with app.app_context():
        s = get_session()
        for _ in range(repeat):
            for by in ("practice", "period"):
                t0 = time.perf_counter()
                st = income_statement(s, "2026-01", last, by)
                out[by].append(time.perf_counter() - t0)
                s.rollback()
            t0 = time.perf_counter()
            raw = raw_aggregate(s, start, end)
            out["raw"].append(time.perf_counter() - t0)
            s.rollback()
        names = dict(s.execute(sa.select(Account.id, Account.name)).all())
        revenue = -sum((v for a, src, _k, untagged, v in raw
                        if names[a].startswith("Income:Practice:") and src != "close" and not untagged), Decimal(0))
        sub = sum((v for a, src, k, untagged, v in raw
                   if names[a].startswith("Expenses:Direct:") and src != "close" and k == "subcontract"), Decimal(0))
        assert (st.totals.revenue, st.totals.subcontract) == (revenue, sub), (st.totals, revenue, sub)
        out["statement"] = st
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engagements", type=int, default=20_000)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--engines", default="postgresql,sqlite")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--no-close", action="store_true", help="leave the months open (faster to build)")
    args = ap.parse_args()
    print(f"# income statement: {args.months} periods × {args.engagements:,} engagements (30 practices, "
          f"50 partners){'' if args.no_close else ', each month closed'} — {machine()}")
    for engine in args.engines.split(","):
        with database(engine) as url:
            app = migrated_app(url)
            t0 = time.perf_counter()
            year_of_work(app, args.engagements, args.months, seed=19, subcontract=True, close=not args.no_close)
            built = time.perf_counter() - t0
            r = measure(app, args.months, args.repeat)
            app.extensions["ledger.engine"].dispose()
        raw = statistics.median(r["raw"])
        for by in ("practice", "period"):
            median = statistics.median(r[by])
            verdict = "meets" if median <= TARGET_S else "MISSES"
            print(f"{engine:10s} by {by:8s}: median {median * 1000:6.1f} ms, best {min(r[by]) * 1000:6.1f} ms "
                  f"= {median / TARGET_S:.2f} × the {TARGET_S * 1000:.0f} ms target ({verdict}); "
                  f"the raw aggregate of the same postings: median {raw * 1000:7.1f} ms, so the statement costs "
                  f"{median / raw:.3f} of the scan ({raw / median:.0f}× faster)")
        print(f"{engine:10s} (ledger built in {built:.0f} s; revenue {r['statement'].totals.revenue.quantize(Decimal('0.01')):,}, "
              f"subcontract share {r['statement'].totals.subcontract_share})")


if __name__ == "__main__":
    main()
