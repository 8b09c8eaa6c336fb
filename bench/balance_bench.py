"""Reads at scale: the trial balance and one partner's statement with N postings in the ledger.

    .venv/bin/python bench/balance_bench.py [--postings 1000000]

Imports the synthetic journal (bench/generate.py) into a fresh SQLite database, closes January (so
partners have statement lines and a snapshot exists), then measures, in this run:
- ``trial_balance()`` (maintained balances) vs a raw ``SELECT … SUM … GROUP BY`` over the postings;
- ``trial_balance(as_of)`` in the middle of the year (snapshot + postings since);
- one partner's statement for January;
- ``hledger balance`` and ``ledger balance`` (Ledger CLI) on the exported journal, when installed.
Prints medians and p95s and the ratios against the targets (≤ 50 ms and ≤ 1/5 of the GROUP BY for
the trial balance, ≤ 30 ms for a statement).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import database, machine, migrated_app, summary, timed  # noqa: E402
from bench.generate import generate  # noqa: E402
from bench.import_bench import prepare  # noqa: E402


def run_tool(cmd: list[str], repeat: int = 3) -> list[float] | None:
    if shutil.which(cmd[0]) is None:
        return None
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env={"LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"})
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--postings", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"journal-{args.postings}.jsonl"
    if not path.exists():
        with open(path, "w") as fh:
            generate(args.postings, fh)
    print(f"# reads at {args.postings:,} postings (SQLite) — {machine()}")
    with database("sqlite") as url:
        prepare(url)
        app = migrated_app(url)
        import sqlalchemy as sa

        from ledger.journal.balances import trial_balance
        from ledger.journal.export import to_hledger
        from ledger.journal.importer import import_lines
        from ledger.partnership.close import close_period
        from ledger.read.statements import statement
        from ledger.runtime.database import get_session

        with app.app_context():
            s = get_session()
            t0 = time.perf_counter()
            with open(path) as fh:
                import_lines(s, fh, "USD")
            print(f"imported in {time.perf_counter() - t0:.1f} s")
            close_period(s, "2026-01")
            s.commit()
            n = s.scalar(sa.text("SELECT count(*) FROM posting"))
            print(f"postings in the ledger: {n:,}")
            _, tb = timed(lambda: trial_balance(s), args.repeat)
            _, tb_asof = timed(lambda: trial_balance(s, dt.date(2026, 6, 30)), max(5, args.repeat // 3))
            raw_sql = sa.text("SELECT account_id, commodity, sum(amount) FROM posting GROUP BY account_id, commodity")
            _, raw = timed(lambda: s.execute(raw_sql).all(), max(5, args.repeat // 3))
            _, st = timed(lambda: statement(s, "p000", "2026-01"), args.repeat)
            journal = out / "bench.journal"
            with open(journal, "w") as fh:
                for chunk in to_hledger(s):
                    fh.write(chunk)
        app.extensions["ledger.engine"].dispose()
    med = sorted(tb)[len(tb) // 2]
    raw_med = sorted(raw)[len(raw) // 2]
    print(f"trial balance (maintained)   {summary(tb)}   target ≤ 50 ms: {med * 1000 / 50:.2f} × target")
    print(f"raw GROUP BY over postings   {summary(raw)}   trial balance / GROUP BY = {med / raw_med:.4f} (target ≤ 0.2)")
    print(f"trial balance as of 06-30    {summary(tb_asof)}")
    print(f"statement (one partner)      {summary(st)}   target ≤ 30 ms: {sorted(st)[len(st) // 2] * 1000 / 30:.2f} × target")
    for name, cmd in (("hledger balance", ["hledger", "-f", str(journal), "balance"]),
                      ("ledger balance", ["ledger", "-f", str(journal), "balance"])):
        times = run_tool(cmd)
        if times is None:
            print(f"{name:28s} not installed")
        else:
            tool_med = sorted(times)[len(times) // 2]
            print(f"{name:28s} {summary(times)}   trial balance / {name} = {med / tool_med:.5f}")


if __name__ == "__main__":
    main()
