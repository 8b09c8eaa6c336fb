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
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import database, machine, migrated_app, year_of_work  # noqa: E402

TARGET_S = 2.0


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
            closes = year_of_work(app, args.engagements, args.months, seed=17)
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
