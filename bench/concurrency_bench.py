"""Concurrent posting on PostgreSQL, side by side with pgledger in the same run.

For each writer count (8 and 2 by default): our W writer processes, each posting one entry per
call for D seconds on the same few accounts (every entry touches the cash account, as every entry
of a single ordered ledger takes the chain);
then pgledger's W writers for D seconds in its ``hot`` shape (every transfer touches one account:
the like-for-like ratio) and its ``pairs`` shape (random pairs of 10 accounts: its own benchmark).
pgledger is loaded from ``../shared/peers/pgledger`` (its ``bench.py`` makes and drops its own
scratch database); where it is absent the peer's rows are skipped with the reason. Prints
entries/s, the ratios against the targets (8 writers >= 3,000/s and >= 2x pgledger hot; 2 writers
>= 1.5x pgledger hot) and the load average, then runs ``verify`` over everything posted.

    .venv/bin/python bench/concurrency_bench.py [--writers 8 2] [--seconds 10] [--mode group|appender|commit|direct]
                                               [--rounds 1] [--against REV]

``--rounds N`` runs ours and pgledger's ``hot`` alternately N times for each writer count (``pairs``
once) and prints each round's ratio and their median: this VM's speed drifts by more than the
changes measured here from one minute to the next, and a ratio of neighbouring runs, repeated,
carries less of it than one pair.

``--against REV`` (with ``--rounds``) measures a migration's effect on the writers: each round runs
ours at REV (the database migrated down to it) and at head, in alternating order, and pgledger's
``hot`` once, and prints both sides' ratios to the same peer run, head / REV, and their medians.
The writers' Python is head's either way, so REV must be one head's Python still runs against
(a change to the server's side only, as 0031 against 0030).

Modes: ``group`` (default) through the group-commit appender in the database
(``ledger.journal.group``); ``appender`` through the dedicated appender (``ledger.journal.appender``:
the bench starts one process serving a socket for each run and counts its CPU with the writers',
printing its own share, its calls and its flushes), the fastest at 8 writers; ``commit`` with ``post_and_commit``, the append and its COMMIT in
one round trip; ``direct`` with ``post_entry`` then ``session.commit()`` (a request's path, one more
round trip under the lock).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import statistics
import subprocess  # nosec B404 - runs the peer's own bench script, a fixed path
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    PG_ADMIN,
    database,
    found_synthetic,
    libpq_url,
    machine,
    migrate,
    migrated_app,
    vacuum_queue,
)

TARGET = 3000
PEER = Path(os.environ.get("PGLEDGER_DIR", ROOT.parent / "shared" / "peers" / "pgledger"))


def writer(url: str, n: int, seconds: float, mode: str, ready, counts, cpu) -> None:
    import datetime as dt
    from decimal import Decimal

    from ledger import create_app
    from ledger.core import chart
    from ledger.core.entries import Leg
    from ledger.journal.service import EntrySpec, post_and_commit, post_entry
    from ledger.runtime.database import get_session

    def entry(i: int) -> EntrySpec:
        return EntrySpec(dt.date(2026, 1, 1 + i % 28), f"w{n}-{i}", [
            Leg(chart.CASH, Decimal("1.00"), "USD"), Leg(chart.capital(f"p{i % 3:03d}"), Decimal("-1.00"), "USD")],
            "manual")

    def post(s, i: int) -> None:
        if mode == "commit":  # the append and its COMMIT in one round trip
            post_and_commit(s, [entry(i)])
        elif mode in ("group", "appender"):
            from ledger.journal.group import post_grouped
            post_grouped(s, entry(i))
        else:  # what a request does: post_entry, then the request's commit
            spec = entry(i)
            post_entry(s, date=spec.date, memo=spec.memo, legs=spec.legs, source_type=spec.source_type)
            s.commit()

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    with app.app_context():
        s = get_session()
        if mode == "appender":
            from ledger.journal import appender
            appender.attach(s.get_bind(), socket_path(url))
        post(s, 0)  # warm up: the connection, the prepared statement and the facts cache
        ready.wait()  # every writer imported, connected and warmed up: the clock starts for all
        deadline = time.perf_counter() + seconds
        started = time.process_time()
        i = done = 0
        while time.perf_counter() < deadline:
            i += 1
            post(s, i)
            done += 1
        counts[n] = done
        cpu[n] = time.process_time() - started  # this writer's CPU over the window, start-up excluded


class ServerCPU:
    """The CPU time of the database's backends serving ``url`` over a window, read from
    ``/proc/PID/stat`` of each backend (this machine's server), sampled every 50 ms: a backend
    that ends between two samples loses at most its last 50 ms. ``None`` where /proc cannot be read."""

    def __init__(self, url: str):
        self.dsn = libpq_url(url)
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _cpu(pid: int) -> float | None:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                pids = [r[0] for r in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")]
                for pid in pids:
                    value = self._cpu(pid)
                    if value is not None:
                        self.first.setdefault(pid, value)
                        self.last[pid] = value
                self.stop.wait(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()

    @property
    def seconds(self) -> float | None:
        return sum(self.last[p] - self.first[p] for p in self.last) if self.last else None


def socket_path(url: str) -> str:
    """The bench's appender socket for ``url``'s database (``--mode appender``)."""
    return f"/tmp/ledger-bench-{url.rsplit('/', 1)[-1]}.sock"  # nosec B108 - a scratch socket, this user's


def serve_appender(url: str, ready, stats) -> None:
    """The appender for the run, until SIGTERM; then its batches, entries and flushes into ``stats``."""
    import signal

    from ledger.journal.appender import Appender

    served = Appender(libpq_url(url), socket_path(url))
    signal.signal(signal.SIGTERM, lambda *_: served.stop.set())
    served.serve(ready.set)
    stats[:] = [served.batches, served.entries, served.flushes]


def ours(url: str, writers: int, seconds: float, mode: str) -> tuple[float, float, float | None]:
    """Entries/s, and the writers' and the server's CPU seconds per entry over the window (with
    ``--mode appender`` the appender process's CPU counts as the writers')."""
    ctx = mp.get_context("spawn")
    served = None
    if mode == "appender":
        up = ctx.Event()
        stats = ctx.Array("l", 3)
        served = ctx.Process(target=serve_appender, args=(url, up, stats), daemon=True)
        served.start()
        if not up.wait(60):
            raise SystemExit("the appender did not start")
    try:
        return _ours(ctx, url, writers, seconds, mode, served)
    finally:
        if served is not None:
            served.terminate()
            served.join()
            batches, entries, flushes = stats[:]
            print(f"  the appender: {entries:,} entries in {batches:,} calls ({entries / max(batches, 1):.1f} entries "
                  f"a call), {flushes:,} flushes ({entries / max(flushes, 1):.1f} entries a flush), "
                  "warm-up included")


def _ours(ctx, url: str, writers: int, seconds: float, mode: str, served) -> tuple[float, float, float | None]:
    ready = ctx.Barrier(writers + 1)
    counts = ctx.Array("l", writers)
    cpu = ctx.Array("d", writers)
    procs = [ctx.Process(target=writer, args=(url, n, seconds, mode, ready, counts, cpu)) for n in range(writers)]
    for p in procs:
        p.start()
    try:
        ready.wait(timeout=300)  # broken (and the run stopped) when a writer dies before the start
    except threading.BrokenBarrierError:
        for p in procs:
            p.kill()
        raise SystemExit("a writer failed before the start") from None
    t0 = time.perf_counter()
    appender_cpu = ServerCPU._cpu(served.pid) if served is not None else 0.0
    with ServerCPU(url) if url.startswith("postgresql") else nullcontext() as server:
        for p in procs:
            p.join()
    elapsed = time.perf_counter() - t0
    if served is not None:
        appender_cpu = ServerCPU._cpu(served.pid) - appender_cpu
        print(f"  the appender process: {appender_cpu / max(sum(counts[:]), 1) * 1000:.3f} ms of CPU an entry "
              "(counted with the writers')")
    if any(p.exitcode for p in procs):
        raise SystemExit("a writer failed")
    entries = sum(counts[:])
    server_cpu = server.seconds if server is not None else None
    return entries / elapsed, (sum(cpu[:]) + appender_cpu) / entries, (server_cpu / entries if server_cpu is not None else None)


def bound(client: float, server: float | None) -> str:
    """What the CPU per entry says of this machine's ceiling: its cores / (writers' + server's CPU an entry)."""
    if server is None:
        return f"writers' CPU {client * 1000:.2f} ms an entry"
    cores = os.cpu_count() or 1
    return (f"CPU an entry: writers {client * 1000:.2f} ms + server {server * 1000:.2f} ms -> "
            f"{cores} cores bound it at about {cores / (client + server):,.0f} entries/s")


def peer(writers: int, seconds: float, shape: str) -> tuple[float | None, str]:
    script = PEER / "bench.py"
    if not script.exists():
        return None, f"pgledger not found at {PEER} (set PGLEDGER_DIR): peer skipped"
    admin = libpq_url(PG_ADMIN)
    out = subprocess.run([sys.executable, str(script), "--writers", str(writers), "--seconds", str(seconds),  # nosec B603
                          "--accounts", "10", "--mode", shape, "--admin-url", admin],
                         capture_output=True, text=True, timeout=seconds * 10 + 120, check=False)
    found = re.search(r"= ([\d,]+) transfers/s", out.stdout)
    if out.returncode or not found:
        return None, f"pgledger {shape} failed: {(out.stderr or out.stdout).strip().splitlines()[-1:]}"
    return float(found.group(1).replace(",", "")), out.stdout.strip().splitlines()[-1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--writers", type=int, nargs="+", default=[8, 2])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--mode", choices=["direct", "commit", "group", "appender"], default="group")
    ap.add_argument("--rounds", type=int, default=1,
                    help="ours and pgledger hot alternately this many times a writer count; the median ratio")
    ap.add_argument("--against", metavar="REV",
                    help="an earlier revision whose server side to swap in turn with head's, each round")
    ap.add_argument("--engine", choices=["postgresql", "sqlite"], default="postgresql",
                    help="sqlite: our writers alone (one writer at a time by design; no peer)")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    if args.engine == "sqlite":
        sqlite(args)
        return
    print(f"# concurrent posting on PostgreSQL, ours ({args.mode}) vs pgledger, {args.seconds:g} s each — {machine()}; "
          f"load average {os.getloadavg()[0]:.2f}")
    with database("postgresql") as url:
        app = migrated_app(url)
        from ledger.partnership.integrity import full_verify
        from ledger.runtime.database import get_session

        found_synthetic(app)
        if args.against:
            against(url, args)
            app.extensions["ledger.engine"].dispose()  # its pooled sessions planned against the swapped functions
        else:
            alongside(url, args)
        with app.app_context():
            report = full_verify(get_session())
        app.extensions["ledger.engine"].dispose()
    print(f"verify {'ok' if report.ok else 'FAILED: ' + '; '.join(report.problems[:3])} at {report.entries:,} entries")


def _need(writers: int) -> float:
    """The issue's ratio to pgledger ``hot``: 2 x at 8 writers, 1.5 x at 2."""
    return 2.0 if writers >= 8 else 1.5


def _medians(writers: int, label: str, ratios: list[float]) -> None:
    print(f"  {writers} writers, {label} / pgledger hot over {len(ratios)} rounds: "
          f"{' '.join(f'{x:.2f}' for x in ratios)}; median {statistics.median(ratios):.2f}x "
          f"(target >= {_need(writers):g}x)")


def alongside(url: str, args) -> None:
    """Each round: ours, then pgledger ``hot`` (and ``pairs`` in the first round)."""
    for w in args.writers:
        need = _need(w)
        ratios = []
        for r in range(args.rounds):
            rate, client, server = ours(url, w, args.seconds, args.mode)
            hot, hot_line = peer(w, args.seconds, "hot")
            shapes = [("hot", hot, hot_line)]
            if r == 0:
                pairs, pairs_line = peer(w, args.seconds, "pairs")
                shapes.append(("pairs", pairs, pairs_line))
            round_note = f" (round {r + 1} of {args.rounds})" if args.rounds > 1 else ""
            print(f"{w} writers: ours {rate:,.0f} entries/s ({rate / TARGET:.2f} x the {TARGET:,}/s target); "
                  f"load average {os.getloadavg()[0]:.2f}{round_note}")
            print(f"  {bound(client, server)}")
            for shape, value, line in shapes:
                if value is None:
                    print(f"  pgledger {shape}: {line}")
                else:
                    note = f" (target >= {need:g}x)" if shape == "hot" else ""
                    print(f"  pgledger {shape}: {value:,.0f} transfers/s -> ours / pgledger = {rate / value:.2f}x{note}")
            if hot is not None:
                ratios.append(rate / hot)
        if len(ratios) > 1:
            _medians(w, "ours", ratios)


def against(url: str, args) -> None:
    """Each round: ours at ``args.against`` and at head, in alternating order, then pgledger ``hot``
    (where it is found); each round's head / REV and their median; the database is left at head."""
    try:
        for w in args.writers:
            ratios: dict[str, list[float]] = {args.against: [], "head": []}
            changes = []
            for r in range(args.rounds):
                rates = {}
                for revision in (args.against, "head") if r % 2 == 0 else ("head", args.against):
                    migrate(url, revision)
                    vacuum_queue(url)
                    rates[revision] = ours(url, w, args.seconds, args.mode)[0]
                changes.append(rates["head"] / rates[args.against])
                hot, hot_line = peer(w, args.seconds, "hot")
                if hot is None:
                    peer_part = ""
                    if r == 0:
                        print(f"  pgledger hot: {hot_line}")
                else:
                    for revision, rate in rates.items():
                        ratios[revision].append(rate / hot)
                    peer_part = (f"; pgledger hot {hot:,.0f}/s -> {rates[args.against] / hot:.2f}x / "
                                 f"{rates['head'] / hot:.2f}x")
                print(f"{w} writers, round {r + 1}: {args.against} {rates[args.against]:,.0f}, head "
                      f"{rates['head']:,.0f} entries/s -> head / {args.against} {changes[-1]:.2f}x{peer_part}; "
                      f"load average {os.getloadavg()[0]:.2f}")
            print(f"  {w} writers, head / {args.against} over {len(changes)} rounds: "
                  f"{' '.join(f'{x:.2f}' for x in changes)}; median {statistics.median(changes):.2f}x")
            for revision, values in ratios.items():
                if values:
                    _medians(w, revision, values)
    finally:
        migrate(url, "head")


def sqlite(args) -> None:
    print(f"# concurrent posting on SQLite (WAL, one writer at a time), {args.seconds:g} s each — {machine()}; "
          f"load average {os.getloadavg()[0]:.2f}")
    with database("sqlite") as url:
        app = migrated_app(url)
        from ledger.partnership.integrity import full_verify
        from ledger.runtime.database import get_session

        found_synthetic(app)
        for w in args.writers:
            rate, client, _ = ours(url, w, args.seconds, args.mode)
            print(f"{w} writers: {rate:,.0f} entries/s; {bound(client, None)}; load average {os.getloadavg()[0]:.2f}")
        with app.app_context():
            report = full_verify(get_session())
        app.extensions["ledger.engine"].dispose()
    print(f"verify {'ok' if report.ok else 'FAILED'} at {report.entries:,} entries")


if __name__ == "__main__":
    main()
