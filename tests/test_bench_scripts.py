"""Every bench script runs, at the smallest size it takes, and prints its figures.

The benches are how the project's performance claims are made (docs/performance.md), and they
import the code they measure: a change to that code can break a bench that no other test runs
(2026-12-05: ``procedure_bench.py`` still formatted the group writer's call as a string after the
call became a ``wire.Statement``). Each script runs here as its own process, as it is run by
hand, against the suite's engine (the PostgreSQL suite points the benches' scratch databases at
``TEST_PG_ADMIN_URL``); a run must end with status 0 and print the lines its figures are on.
The figures themselves are not judged: at these sizes they measure start-up.
"""

from __future__ import annotations

import os
import re
import subprocess  # nosec B404 - runs this project's own bench scripts
import sys
from pathlib import Path

import pytest
from helpers.engine import ENGINE, PG_ADMIN

ROOT = Path(__file__).resolve().parent.parent
RATE = r"[\d,.]+"

# (script and arguments, the engine it needs, a pattern each of whose lines the output must match)
BENCHES = [
    (["balance_bench.py", "--postings", "2000", "--repeat", "2"], "sqlite",
     [r"trial balance \(maintained\)\s+median", r"statement \(one partner\)\s+median"]),
    (["import_bench.py", "--postings", "2000", "--engine", "sqlite"], "sqlite",
     [rf"ledger import .* {RATE} postings/s", r"ratio import/raw = ", r"import peak RSS \d+ MB"]),
    (["import_bench.py", "--postings", "2000", "--engine", "postgresql"], "postgresql",
     [rf"ledger import .* {RATE} postings/s", r"ratio import/raw = "]),
    (["concurrency_bench.py", "--engine", "sqlite", "--writers", "2", "--seconds", "1"], "sqlite",
     [rf"2 writers: {RATE} entries/s; writers' CPU", r"verify ok at [\d,]+ entries"]),
    (["concurrency_bench.py", "--writers", "2", "--seconds", "1"], "postgresql",
     [rf"2 writers: ours {RATE} entries/s", r"CPU an entry: writers",
      rf"pgledger hot: {RATE} transfers/s|pgledger not found", r"verify ok at [\d,]+ entries"]),
    (["concurrency_bench.py", "--writers", "2", "--seconds", "1", "--mode", "appender"], "postgresql",
     [rf"2 writers: ours {RATE} entries/s", r"the appender process: [\d.]+ ms of CPU an entry",
      r"the appender: [\d,]+ entries in [\d,]+ calls", r"verify ok at [\d,]+ entries"]),
    (["concurrency_bench.py", "--writers", "2", "--seconds", "1", "--against", "0032"], "postgresql",
     [rf"2 writers, round 1: 0032 {RATE}, head {RATE} entries/s -> head / 0032 {RATE}x",
      rf"2 writers, head / 0032 over 1 rounds: {RATE}; median {RATE}x"]),
    (["procedure_bench.py", "--clients", "1", "--seconds", "1"], "postgresql",
     [rf"1 clients: {RATE} calls/s|skipped: pgbench not found", r"verify ok|skipped: pgbench not found"]),
    (["procedure_bench.py", "--clients", "1", "--seconds", "1", "--rounds", "1", "--idle-reader"], "postgresql",
     [rf"1 clients, round 1: alone {RATE} calls/s, beside a session idle in a transaction {RATE} calls/s"
      r"|skipped: pgbench not found", r"verify ok|skipped: pgbench not found"]),
    (["http_bench.py", "--seconds", "1", "--configs", "sync:2", "--storm-keys", "3", "--client", "wrk"], "postgresql",
     [rf"gunicorn sync 2 workers x 1 threads: {RATE} entries/s .* p99 {RATE} ms; 0 failed",
      rf"the same, 8 clients by wrk: {RATE} entries/s .* p99 {RATE} ms; 0 failed.* CPU {RATE} ms a request"
      r"|wrk: skipped, not found", r"every key answered with one entry",
      r"acknowledged entries missing from the ledger: 0", r"verify ok"]),
    (["http_floor.py", "--seconds", "1", "--rounds", "1", "--workers", "2", "--in-process", "20",
      "--layers", "wsgi", "endpoint"], "postgresql",
     [r"the endpoint's answer, replayed by the app: the same bytes", r"in process, round 1: worker CPU a request",
      rf"round 1, sync 2 workers, endpoint: {RATE}/s", r"missing from the ledger: 0", r"verify ok"]),
    *[([script, "--engagements", "40", "--months", "2", "--repeat", "1", "--engines", engine], engine,
       [rf"{engine}\s+{what}"])
      for engine in ("sqlite", "postgresql")
      for script, what in (("impact_bench.py", "impact of 2 periods: median"), ("income_bench.py", "by practice: median"))],
    *[(["close_bench.py", "--engagements", "40", "--engines", engine, "--repeat", "1"], engine,
       [rf"{engine}\s+close median", rf"{engine}\s+then p000's statement"])
      for engine in ("sqlite", "postgresql")],
]


@pytest.mark.parametrize(("argv", "engine", "patterns"), BENCHES, ids=[" ".join(argv) for argv, _e, _p in BENCHES])
def test_the_bench_runs_and_prints_its_figures(argv, engine, patterns):
    if engine != ENGINE:
        pytest.skip(f"a {engine} bench: run in that engine's suite")
    env = {**os.environ, "BENCH_PG_ADMIN_URL": PG_ADMIN}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / argv[0]), *argv[1:]],  # nosec B603
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    for pattern in patterns:
        assert re.search(pattern, done.stdout), f"{pattern!r} not in:\n{done.stdout}"
