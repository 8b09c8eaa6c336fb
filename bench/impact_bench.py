"""The impact preview of a policy vote (CONTRACT §8) against the 2-second target: twelve closed
months of 20,000 engagements each (every engagement invoiced every month, a third with a cost),
replayed under a proposed policy by ``GET /proposals/{id}/impact?periods=12``'s read
(``ledger.read.impact``), and printed as ratios to the target and to one close of one of those
months, measured in this run.

    .venv/bin/python bench/impact_bench.py [--engagements N] [--months M] [--engines postgresql,sqlite]
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

TARGET_S = 2.0


def build_and_close(app, n_engagements: int, months: int, n_partners: int = 50, n_practices: int = 30) -> list[float]:
    """Found a partnership, post ``months`` months of work on ``n_engagements`` engagements and close
    each month; return the seconds of each close (from the call to the commit)."""
    import sqlalchemy as sa

    from ledger.core import chart
    from ledger.core.entries import Leg
    from ledger.journal.service import EntrySpec, open_account, post_entries
    from ledger.partnership.charter import load_charter
    from ledger.partnership.close import close_period
    from ledger.partnership.founding import found
    from ledger.practices.models import Client, Engagement, Partner, Practice
    from ledger.runtime.database import get_session

    rng = random.Random(17)
    closes = []
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
                    specs.append(EntrySpec(day, f"cost {ref}", [
                        Leg(chart.direct_costs(pr), c, "USD", engagement_id=ids[ref]), Leg(chart.CASH, -c, "USD")],
                        "cost", ref))
            specs.append(EntrySpec(dt.date(2026, month, 15), "rent", [
                Leg(chart.overhead("rent"), Decimal("25000.00"), "USD"), Leg(chart.CASH, Decimal("-25000.00"), "USD")],
                "overhead"))
            for k in range(0, len(specs), 5000):
                post_entries(s, specs[k:k + 5000])
            s.commit()
            if month == 1:
                # Planner statistics after the first bulk load, as autovacuum gathers them on a live
                # database within a minute (see close_bench.py).
                s.execute(sa.text("ANALYZE"))
                s.commit()
            t0 = time.perf_counter()
            close_period(s, f"2026-{month:02d}")
            s.commit()
            closes.append(time.perf_counter() - t0)
        s.execute(sa.text("ANALYZE"))
        s.commit()
    return closes


def preview(app, months: int, repeat: int) -> tuple[list[float], dict]:
    """Open a change of policy and time its impact over the last ``months`` closed periods."""
    from ledger.core.access import Viewer
    from ledger.governance.service import open_proposal
    from ledger.practices.service import get_partner
    from ledger.read.impact import impact
    from ledger.runtime.database import get_session

    with app.app_context():
        s = get_session()
        proposal = open_proposal(s, get_partner(s, "p000"), "change_policy", "Fifteen percent origination", {
            "origination": "15%", "practice": "55%", "pool_basis": "vested_units", "effective_period": "2027-01"},
            dt.datetime.now(dt.UTC) + dt.timedelta(days=7))
        s.commit()
        times, result = [], {}
        for _ in range(repeat):
            t0 = time.perf_counter()
            result = impact(s, Viewer("treasurer"), proposal.id, periods=months)
            times.append(time.perf_counter() - t0)
            s.rollback()
    return times, result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engagements", type=int, default=20_000)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--engines", default="postgresql,sqlite")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"# impact preview: {args.months} closed months × {args.engagements:,} engagements (30 practices, "
          f"50 partners), replayed under a proposed policy — {machine()}")
    for engine in args.engines.split(","):
        with database(engine) as url:
            app = migrated_app(url)
            closes = build_and_close(app, args.engagements, args.months)
            times, result = preview(app, args.months, args.repeat)
            app.extensions["ledger.engine"].dispose()
        close, median = statistics.median(closes), statistics.median(times)
        verdict = "meets" if median <= TARGET_S else "MISSES"
        assert len(result["periods"]) == args.months and result["totals"]["delta"] == "0.00"
        print(f"{engine:10s} impact of {args.months} periods: median {median:5.2f} s, best {min(times):5.2f} s "
              f"(runs: {', '.join(f'{t:.2f}' for t in times)}) = {median / TARGET_S:.2f} × the {TARGET_S:.0f} s "
              f"target ({verdict}); one close of a month: median {close:5.2f} s, so the preview of "
              f"{args.months} months costs {median / close:.2f} closes")


if __name__ == "__main__":
    main()
