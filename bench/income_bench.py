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
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import database, machine, migrated_app, synthetic_charter  # noqa: E402

TARGET_S = 0.100


def build(app, n_engagements: int, months: int, close: bool, n_partners: int = 50, n_practices: int = 30) -> None:
    """Found a partnership and post ``months`` months of work on ``n_engagements`` engagements
    through the posting service (which keeps the totals), closing each month when ``close``."""
    import sqlalchemy as sa

    from ledger.core import chart
    from ledger.core.entries import Leg
    from ledger.journal.service import EntrySpec, open_account, post_entries
    from ledger.partnership.charter import load_charter
    from ledger.partnership.close import close_period
    from ledger.partnership.founding import found
    from ledger.practices.models import Client, Engagement, Partner, Practice
    from ledger.runtime.database import get_session

    rng = random.Random(19)
    with app.app_context():
        s = get_session()
        found(s, load_charter(synthetic_charter(n_partners, n_practices)))
        s.add_all(Client(code=f"c{i:03d}", name=f"Client {i}") for i in range(100))
        s.flush()
        for i in range(100):
            open_account(s, chart.receivable(f"c{i:03d}"), ["USD"])
        open_account(s, chart.overhead("rent"), ["USD"])
        clients = dict(s.execute(sa.select(Client.code, Client.id)).all())
        practices = dict(s.execute(sa.select(Practice.code, Practice.id)).all())
        partners = dict(s.execute(sa.select(Partner.code, Partner.id)).all())
        s.execute(sa.insert(Engagement), [
            {"ref": f"e{i:05d}", "client_id": clients[f"c{i % 100:03d}"],
             "practice_id": practices[f"pr{i % n_practices:02d}"],
             "originator_id": partners[f"p{rng.randrange(n_partners):03d}"],
             "title": f"Engagement {i}", "opened_on": dt.date(2026, 1, 1)} for i in range(n_engagements)])
        ids = dict(s.execute(sa.select(Engagement.ref, Engagement.id)).all())
        s.commit()
        for month in range(1, months + 1):
            specs = []
            for i in range(n_engagements):
                ref, pr, cl = f"e{i:05d}", f"pr{i % n_practices:02d}", f"c{i % 100:03d}"
                day = dt.date(2026, month, 1 + i % 28)
                amount = Decimal(rng.randrange(10_000, 5_000_000)) / 100
                specs.append(EntrySpec(day, f"invoice {ref}", [
                    Leg(chart.receivable(cl), amount, "USD", engagement_id=ids[ref]),
                    Leg(chart.revenue(pr), -amount, "USD", engagement_id=ids[ref])], "invoice", ref))
                if i % 3 == 0:
                    c = Decimal(rng.randrange(1_000, 1_000_000)) / 100
                    kind = "subcontract" if i % 2 == 0 else None
                    specs.append(EntrySpec(day, f"cost {ref}", [
                        Leg(chart.direct_costs(pr), c, "USD", kind=kind, engagement_id=ids[ref]),
                        Leg(chart.CASH, -c, "USD")], "cost", ref))
            specs.append(EntrySpec(dt.date(2026, month, 15), "rent", [
                Leg(chart.overhead("rent"), Decimal("25000.00"), "USD"), Leg(chart.CASH, Decimal("-25000.00"), "USD")],
                "overhead"))
            for k in range(0, len(specs), 5000):
                post_entries(s, specs[k:k + 5000])
            s.commit()
            if month == 1:
                s.execute(sa.text("ANALYZE"))  # as autovacuum would within a minute (see close_bench.py)
                s.commit()
            if close:
                close_period(s, f"2026-{month:02d}")
                s.commit()
        s.execute(sa.text("ANALYZE"))
        s.commit()


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
            build(app, args.engagements, args.months, not args.no_close)
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
