"""The group appender's server side alone: ``CALL ledger_post(…)`` driven by ``pgbench``.

``concurrency_bench.py`` measures writers in Python, whose own CPU shares the two cores with the
server. This bench takes Python out of the loop: it founds a synthetic partnership in a scratch
PostgreSQL database, builds one entry's ``ledger_post`` call exactly as ``group.post_grouped``
sends it (``append.call_args``: its canonical parts, posting rows, account ids), writes it as a
``pgbench`` script with literal arguments, and runs ``pgbench`` with each client count for D
seconds. Every call appends one entry (the same legs; the chain numbers and hashes each).

With ``--against REV`` it swaps the procedures in turn on the same database — down to REV, a run,
up to head, a run — for ``--rounds`` rounds, vacuuming the queue's tables before each run (so
neither side inherits the other's dead rows), and prints each round's ratio head / REV and
their median: the effect of a migration on the server's side, measured in one run.

    .venv/bin/python bench/procedure_bench.py [--clients 2 8] [--seconds 5] [--against 0026] [--rounds 3]
                                              [--idle-reader] [--functions]

With ``--idle-reader`` each round runs twice, vacuuming the tables ``ledger_append`` updates in
place before each run: alone, then beside a session that began a repeatable-read transaction, read
the ledger once and went idle (a report, an export or a ``psql`` ``BEGIN`` left open); it prints the
ratio. Such a session keeps every row version the append path replaces (the chain's head, the
balances, the month totals) from being pruned, so each call walks a longer chain of dead versions.

With ``--functions`` the scratch database counts its PL/pgSQL functions (``track_functions``) and
each run also prints, per function, its calls and its own time a call in µs (the time in the
function less that in the functions it called, waits included): where a revision's cost went.

Skips with the reason where ``pgbench`` is not found (``PGBENCH``, ``PATH``, then PostgreSQL's
``bin`` directories).
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import os
import re
import shutil
import statistics
import subprocess  # nosec B404 - runs pgbench, a fixed tool, with arguments built here
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    admin,
    database,
    found_synthetic,
    libpq_url,
    machine,
    migrate,
    migrated_app,
    vacuum_queue,
)


def pgbench() -> str | None:
    found = os.environ.get("PGBENCH") or shutil.which("pgbench")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"))
    return candidates[-1] if candidates else None


def _literal(value: bytes | None) -> str:
    """A parameter's text (``wire.text``) as an SQL literal."""
    return "NULL" if value is None else "'" + value.decode().replace("'", "''") + "'"


def call_script(app) -> str:
    """One entry's ``CALL ledger_post(…)`` with its arguments as literals, built as
    ``group.post_grouped`` builds them."""
    from ledger.core import chart
    from ledger.core.entries import Leg
    from ledger.journal import append, wire
    from ledger.journal.group import _CALL
    from ledger.journal.service import EntrySpec, _names
    from ledger.runtime.database import get_session

    with app.app_context():
        session = get_session()
        spec = EntrySpec(dt.date(2026, 1, 5), "bench", [
            Leg(chart.CASH, Decimal("1.00"), "USD"), Leg(chart.capital("p001"), Decimal("-1.00"), "USD")], "manual")
        facts = append.journal_facts(session)
        facts.resolve(session, _names([spec]))
        guard, first, last = append.dates_need_guard(session, facts, [spec.date])
        assert not guard, "the bench's date needs the authoritative path"
        args, _now = append.call_args(session, [spec], facts.accounts, first, last)
        session.rollback()
    literals = [_literal(wire.text(a)) for a in args]  # each parameter's text, as ``wire`` sends it
    return re.sub(r"\$(\d+)", lambda m: literals[int(m.group(1)) - 1], _CALL.sql.decode()) + ";\n"


def run(tool: str, url: str, script: str, clients: int, seconds: float) -> float:
    """Calls a second over ``seconds`` with ``clients`` connections."""
    m = re.match(r"postgresql\+psycopg://([^@]+)@([^:/]+):(\d+)/(.+)", url)
    user, host, port, name = m.groups()
    out = subprocess.run(  # nosec B603 - a fixed tool and arguments built here
        [tool, "-h", host, "-p", port, "-U", user, "-n", "-c", str(clients), "-j", str(min(clients, 2)),
         "-T", str(int(seconds)), "-f", script, name], capture_output=True, text=True, check=True).stdout
    return float(re.search(r"tps = ([\d.]+)", out).group(1))


def count_functions(url: str) -> None:
    """The scratch database's sessions count their PL/pgSQL functions' calls and times."""
    with admin(url) as conn:
        conn.execute(f"ALTER DATABASE {conn.info.dbname} SET track_functions = 'pl'")


def reset_counts(url: str) -> None:
    with admin(url) as conn:
        conn.execute("SELECT pg_stat_reset()")


def function_times(url: str) -> str:
    """Each counted function's calls and own µs a call since ``reset_counts``, slowest first (the
    clients' counts reach the statistics when their sessions end, as ``pgbench``'s have)."""
    with admin(url) as conn:
        rows = conn.execute("SELECT funcname, calls, self_time * 1000 / calls FROM pg_stat_user_functions "
                            "WHERE calls > 0 ORDER BY self_time DESC").fetchall()
    return "; ".join(f"{name} {calls:,} x {us:.1f} µs" for name, calls, us in rows)


def vacuum_maintained(url: str) -> None:
    """The tables ``ledger_append`` updates in place vacuumed: each run starts with no dead versions."""
    with admin(url) as conn:
        conn.execute("VACUUM chain_head, account_balance, account_month_total, engagement_month_total, append_slot")


def beside_idle_reader(url: str, clients: int, rounds: int, timed) -> None:
    """``--idle-reader``: each round, a run alone and a run beside a session idle in a
    repeatable-read transaction that has read the ledger; the ratio of their rates."""
    import psycopg

    ratios = []
    for r in range(1, rounds + 1):
        vacuum_maintained(url)
        alone = timed(clients, "alone")
        vacuum_maintained(url)
        with psycopg.connect(libpq_url(url)) as reader:
            reader.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            reader.execute("SELECT count(*) FROM entry").fetchone()  # its snapshot taken; then idle
            beside = timed(clients, "beside an idle reader")
            reader.rollback()
        ratios.append(beside / alone)
        print(f"{clients} clients, round {r}: alone {alone:,.0f} calls/s, beside a session idle in a transaction "
              f"{beside:,.0f} calls/s -> {ratios[-1]:.2f}x; load average {os.getloadavg()[0]:.2f}")
    print(f"  {clients} clients, beside an idle reader / alone over {rounds} rounds: "
          f"{' '.join(f'{x:.2f}' for x in ratios)}; median {statistics.median(ratios):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[2, 8])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--against", help="an earlier revision to swap in turn with head (e.g. 0026)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle-reader", action="store_true",
                        help="each round alone, then beside a session idle in a repeatable-read transaction")
    parser.add_argument("--functions", action="store_true",
                        help="print each PL/pgSQL function's calls and own time a call after each run")
    opts = parser.parse_args()
    tool = pgbench()
    if tool is None:
        print("skipped: pgbench not found (set PGBENCH, or install PostgreSQL's client tools)")
        return
    import logging

    logging.disable(logging.INFO)  # Alembic's progress lines
    print(f"# ledger_post through pgbench, {opts.seconds:g} s a run — {machine()}; "
          f"load average {os.getloadavg()[0]:.2f}")
    with database("postgresql") as url, tempfile.TemporaryDirectory() as tmp:
        app = migrated_app(url)
        found_synthetic(app)
        script = str(Path(tmp) / "call.sql")
        Path(script).write_text(call_script(app))
        app.extensions["ledger.engine"].dispose()
        if opts.functions:
            count_functions(url)

        def timed(clients: int, label: str) -> float:
            if opts.functions:
                reset_counts(url)
            rate = run(tool, url, script, clients, opts.seconds)
            if opts.functions:
                time.sleep(0.5)  # the clients' sessions report their counts as they end
                print(f"  {label}, {clients} clients, own time a call: {function_times(url)}")
            return rate

        for clients in opts.clients:
            if opts.idle_reader:
                beside_idle_reader(url, clients, opts.rounds, timed)
                continue
            if not opts.against:
                print(f"{clients} clients: {timed(clients, 'head'):,.0f} calls/s")
                continue
            ratios = []
            for r in range(1, opts.rounds + 1):
                rates = {}
                for revision in (opts.against, "head"):
                    migrate(url, revision)
                    vacuum_queue(url)
                    rates[revision] = timed(clients, revision)
                ratios.append(rates["head"] / rates[opts.against])
                print(f"{clients} clients, round {r}: {opts.against} {rates[opts.against]:,.0f} calls/s, "
                      f"head {rates['head']:,.0f} calls/s -> {ratios[-1]:.2f}x; load average {os.getloadavg()[0]:.2f}")
            print(f"  {clients} clients, head / {opts.against} over {opts.rounds} rounds: "
                  f"{' '.join(f'{x:.2f}' for x in ratios)}; median {statistics.median(ratios):.2f}x")
        from ledger.journal.verify import verify
        from ledger.runtime.database import get_session

        app = migrated_app(url)
        with app.app_context():
            report = verify(get_session())
            print(f"verify {'ok' if report.ok else 'FAILED'} at {report.entries:,} entries")
        app.extensions["ledger.engine"].dispose()


if __name__ == "__main__":
    main()
