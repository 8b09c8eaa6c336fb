"""Close a period of 20,000 engagements across 30 practices and 50 partners, on SQLite and
PostgreSQL, and print the time against the 2-second target (a ratio measured in this run). The
period is built once per engine and closed on several identical copies; the verdict is on the
median, so one slow run on a shared machine neither passes nor fails it alone.

    .venv/bin/python bench/close_bench.py [--engagements N] [--engines sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from bench.common import PG_ADMIN, database, machine, migrated_app, summary, synthetic_charter  # noqa: E402

TARGET_S = 2.0


def build(app, n_engagements: int, n_partners: int = 50, n_practices: int = 30) -> None:
    import sqlalchemy as sa

    from ledger.core import chart
    from ledger.core.entries import Leg
    from ledger.journal.service import EntrySpec, open_account, post_entries
    from ledger.partnership.charter import load_charter
    from ledger.partnership.founding import found
    from ledger.practices.models import Client, Engagement, Partner, Practice
    from ledger.runtime.database import get_session

    rng = random.Random(7)
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
        rows = []
        for i in range(n_engagements):
            rows.append({"ref": f"e{i:05d}", "client_id": clients[f"c{i % 100:03d}"],
                         "practice_id": practices[f"pr{i % n_practices:02d}"],
                         "originator_id": partners[f"p{rng.randrange(n_partners):03d}"],
                         "title": f"Engagement {i}", "opened_on": dt.date(2026, 1, 1)})
        s.execute(sa.insert(Engagement), rows)
        ids = dict(s.execute(sa.select(Engagement.ref, Engagement.id)).all())
        specs = []
        for i in range(n_engagements):
            ref, pr, cl = f"e{i:05d}", f"pr{i % n_practices:02d}", f"c{i % 100:03d}"
            amount = Decimal(rng.randrange(10_000, 5_000_000)) / 100
            specs.append(EntrySpec(dt.date(2026, 1, 1 + i % 28), f"invoice {ref}", [
                Leg(chart.receivable(cl), amount, "USD", engagement_id=ids[ref]),
                Leg(chart.revenue(pr), -amount, "USD", engagement_id=ids[ref])], "invoice", ref))
            if i % 3 == 0:
                c = Decimal(rng.randrange(1_000, 1_000_000)) / 100
                specs.append(EntrySpec(dt.date(2026, 1, 1 + i % 28), f"cost {ref}", [
                    Leg(chart.direct_costs(pr), c, "USD", engagement_id=ids[ref]), Leg(chart.CASH, -c, "USD")], "cost", ref))
        specs.append(EntrySpec(dt.date(2026, 1, 15), "rent", [Leg(chart.overhead("rent"), Decimal("25000.00"), "USD"),
                                                              Leg(chart.CASH, Decimal("-25000.00"), "USD")], "overhead"))
        for k in range(0, len(specs), 5000):
            post_entries(s, specs[k:k + 5000])
        s.commit()
        # Planner statistics after the bulk load, as autovacuum would gather within a minute on
        # PostgreSQL (and `ledger import` does at its end): without them PostgreSQL's planner
        # guesses one row per table and runs the close's gather as nested loops, 4× slower.
        s.execute(sa.text("ANALYZE"))
        s.commit()


def close_once(url: str) -> tuple[float, list[float], int]:
    """Close 2026-01 in the database at ``url`` the way ``ledger close`` does — in a process of its
    own that did not build the data — and return the seconds from the call to the commit; then
    read partner p000's statement of the period 20 times (the seconds of each, and its lines)."""
    from ledger import create_app
    from ledger.partnership.close import close_period
    from ledger.read.statements import statement
    from ledger.runtime.database import get_session

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    with app.app_context():
        s = get_session()
        s.connection()  # the connection is open, as it is by the time a command runs
        t0 = time.perf_counter()
        close_period(s, "2026-01")
        s.commit()
        seconds = time.perf_counter() - t0
        reads = []
        for _ in range(20):
            t0 = time.perf_counter()
            lines = len(statement(s, "p000", "2026-01")["lines"])
            reads.append(time.perf_counter() - t0)
            s.rollback()
    app.extensions["ledger.engine"].dispose()
    return seconds, reads, lines


def close_in_fresh_process(url: str) -> tuple[float, list[float], int]:
    out = subprocess.run([sys.executable, __file__, "--close-only", url], check=True, capture_output=True, text=True)
    seconds, reads, lines = json.loads(out.stdout.strip().splitlines()[-1])
    return seconds, reads, lines


@contextmanager
def copies(engine: str, url: str, repeat: int):
    """Yield a function giving, for run i, the URL of a fresh copy of the built database at ``url``
    (a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL), so every run closes the
    very same period from the very same state."""
    made: list[str] = []
    if engine == "postgresql":
        admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        base = url.rsplit("/", 1)[1]

        def copy(i: int) -> str:
            name = f"{base}_run{i}"
            with admin.connect() as c:
                c.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{base}"')
            made.append(name)
            return url.rsplit("/", 1)[0] + f"/{name}"
        try:
            yield copy
        finally:
            with admin.connect() as c:
                for name in made:
                    c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
    else:
        path = url.removeprefix("sqlite:///")

        def copy(i: int) -> str:
            target = f"{path}.run{i}"
            src, dst = sqlite3.connect(path), sqlite3.connect(target)
            src.backup(dst)
            src.close()
            dst.close()
            made.append(target)
            return f"sqlite:///{target}"
        yield copy


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engagements", type=int, default=20_000)
    ap.add_argument("--engines", default="sqlite,postgresql")
    ap.add_argument("--repeat", type=int, default=5, help="closes of identical copies per engine")
    ap.add_argument("--close-only", metavar="URL", help=argparse.SUPPRESS)  # the child process
    args = ap.parse_args()
    if args.close_only:
        print(json.dumps(close_once(args.close_only)))
        return
    print(f"# period close: {args.engagements:,} engagements, 30 practices, 50 partners — {machine()}")
    print(f"# each engine: the period built once, then closed on {args.repeat} identical copies, each by a "
          "process of its own (as `ledger close` runs), timed from the call to the commit")

    for engine in args.engines.split(","):
        with database(engine) as url:
            app = migrated_app(url)
            build(app, args.engagements)
            app.extensions["ledger.engine"].dispose()
            times, reads = [], []
            with copies(engine, url, args.repeat) as copy:
                for i in range(args.repeat):
                    seconds, statement_reads, lines = close_in_fresh_process(copy(i))
                    times.append(seconds)
                    reads.extend(statement_reads)
        median, best = statistics.median(times), min(times)
        verdict = "meets" if median <= TARGET_S else "MISSES"
        print(f"{engine:10s} close median {median:5.2f} s, best {best:5.2f} s "
              f"(runs: {', '.join(f'{t:.2f}' for t in times)}) = median {median / TARGET_S:.2f} × the "
              f"{TARGET_S:.0f} s target ({verdict})")
        print(f"{engine:10s} then p000's statement of the period ({lines:,} lines, one per engagement share): "
              f"{summary(reads)} over {len(reads)} reads; target ≤ 30 ms")


if __name__ == "__main__":
    main()
