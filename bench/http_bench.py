"""Posting over HTTP: gunicorn in front of ``ledger:create_app()`` on PostgreSQL, C concurrent clients.

Each client posts ``POST /api/v1/ledger/entries`` with its own ``Idempotency-Key`` for D seconds on
a keep-alive connection (reconnecting when the worker class closes it), one entry per request;
the run prints entries/s, the median, p95 and p99 latency, and the load average, for each gunicorn
configuration asked for (worker class x workers x threads), all against the same database in the
same run. Then the retry storm: for each of K keys, every client sends the same request with that
key at the same moment; every answer must carry one and the same entry, and the ledger must hold
exactly one entry per key. Last, ``verify`` over everything posted, and a count of the entries
against the acknowledgements (nothing lost, nothing doubled).

    .venv/bin/python bench/http_bench.py [--clients 8] [--seconds 10] [--configs sync:2 sync:3] [--client wrk]

A configuration is ``CLASS:WORKERS`` or ``CLASS:WORKERSxTHREADS`` (gunicorn's ``sync`` or
``gthread``; by default ``sync:2 sync:3``, between which the serving configuration was chosen:
docs/operations.md). The clients are threads of two processes, so their own Python shares the
two cores with gunicorn and PostgreSQL, as a real client on this machine would: about 0.3 ms of
the cores a request (``http_floor.py`` measures it), a sixth of what a request costs in all.

With ``--client wrk`` each configuration is measured a second time, right after the first, with
``wrk`` (written in C; two threads) as the clients, as many as ``--clients``: one connection
each, one request in flight on it, each request its own key (a Lua script), every answer's
status read and each 201's entry id kept for the count of acknowledged entries. That is how HTTP
servers are usually measured, and it leaves the cores to the server under test; both figures are
printed, each with its own latency (wrk's from the request's write to its answer), and wrk's own
CPU a request. Skipped with the reason where ``wrk`` is not found (``WRK``, then ``PATH``;
Debian's package ``wrk``). The retry storm stays with the Python clients, whose barrier sends a
key's requests at one moment.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess  # nosec B404 - starts gunicorn from this venv and wrk, fixed argument lists
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import database, found_synthetic, machine, migrated_app  # noqa: E402

TARGET = 1000
PATH = "/api/v1/ledger/entries"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def body(memo: str) -> bytes:
    return json.dumps({"date": "2026-01-05", "memo": memo, "postings": [
        {"account": "Assets:Cash", "amount": "1.00"},
        {"account": "Equity:Capital:P001", "amount": "-1.00"}]}).encode()


class Client:
    """One keep-alive connection; ``post`` returns (status, entry id or None, seconds)."""

    def __init__(self, port: int, token: str):
        self.port, self.token = port, token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(self, memo: str, key: str) -> tuple[int, int | None, float]:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
                   "Idempotency-Key": key}
        payload = body(memo)
        t0 = time.perf_counter()
        for attempt in (1, 2):
            try:
                self.conn.request("POST", PATH, payload, headers)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                self.conn.close()  # the worker closed an idle keep-alive connection: once more
                if attempt == 2:
                    raise
        elapsed = time.perf_counter() - t0
        entry = json.loads(data).get("id") if response.status in (200, 201) else None
        return response.status, entry, elapsed


def client_process(port: int, token: str, threads: int, seconds: float, tag: str, ready, out) -> None:
    results: list[tuple[int, float]] = []
    failures: list[str] = []
    lock = threading.Lock()
    start = threading.Event()

    def run(n: int) -> None:
        c = Client(port, token)
        c.post(f"warm {tag}-{n}", f"warm-{tag}-{n}")
        start.wait()
        deadline = time.perf_counter() + seconds
        i = 0
        mine = []
        while time.perf_counter() < deadline:
            i += 1
            status, entry, elapsed = c.post(f"{tag}-{n}-{i}", f"{tag}-{n}-{i}")
            if status != 201:
                with lock:
                    failures.append(str(status))
                continue
            mine.append((entry, elapsed))
        with lock:
            results.extend(mine)

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    ready.wait()
    start.set()
    for w in workers:
        w.join()
    out.put((results, failures))


def storm_process(port: int, token: str, keys: list[str], threads: int, out) -> None:
    """Every thread sends each key's one request at the same moment (a barrier per key)."""
    answers: list[tuple[str, int, int | None]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def run() -> None:
        c = Client(port, token)
        for key in keys:
            barrier.wait()
            status, entry, _ = c.post(f"storm {key}", key)
            with lock:
                answers.append((key, status, entry))

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put(answers)


def serve(url: str, worker_class: str, workers: int, threads: int, app: str = "ledger:create_app()",
          env: dict | None = None) -> tuple[subprocess.Popen, int]:
    """gunicorn serving ``app`` (a ``module:callable()`` spec from the project's root) on a free port,
    once its ``GET /api/v1/health`` answers 200."""
    port = free_port()
    cmd = [str(Path(sys.executable).parent / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
           "--worker-class", worker_class, "--threads", str(threads), "--log-level", "warning",
           "--keep-alive", "30", app]
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench", **(env or {})}
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True)  # nosec B603
    for _ in range(200):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/api/v1/health")
            if c.getresponse().status == 200:
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("gunicorn did not start")


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def parse_config(text: str) -> tuple[str, int, int]:
    cls, _, size = text.partition(":")
    workers, _, threads = size.partition("x")
    return cls, int(workers), int(threads or 1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run_load(port: int, token: str, clients: int, seconds: float, tag: str) -> tuple[float, list[float], list, int]:
    """Entries/s, latencies, the entry ids and the failures of one configuration's run. Every run's
    keys are its own (``tag`` plus a random part): a configuration measured twice against the same
    database must post, not replay the first run's answers."""
    tag = f"{tag}{uuid.uuid4().hex[:8]}-"
    ctx = mp.get_context("spawn")
    procs_n = 2 if clients >= 2 else 1
    ready = ctx.Barrier(procs_n + 1)
    out = ctx.Queue()
    per = [clients // procs_n + (1 if i < clients % procs_n else 0) for i in range(procs_n)]
    procs = [ctx.Process(target=client_process, args=(port, token, per[i], seconds, f"{tag}{i}", ready, out))
             for i in range(procs_n)]
    for p in procs:
        p.start()
    ready.wait(timeout=120)
    t0 = time.perf_counter()
    results, failures = [], []
    for _ in procs:
        r, f = out.get(timeout=seconds + 120)
        results += r
        failures += f
    elapsed = time.perf_counter() - t0
    for p in procs:
        p.join()
    ids = [i for i, _ in results]
    if len(set(ids)) != len(ids):
        raise SystemExit("an entry id was answered twice in one run: a replay was counted as a post")
    return len(results) / elapsed, [e for _, e in results], ids, len(failures)


#: wrk's script: each request its own key and memo (thread number and count), every 201's entry id
#: kept, and at the end the totals, wrk's latency percentiles (µs) and the ids written to ``OUT``.
WRK_SCRIPT = r"""
local token, path, tag, out = "TOKEN", "PATH", "TAG", "OUT"
local threads, made = {}, 0

function setup(thread)
  made = made + 1
  thread:set("tid", made)
  table.insert(threads, thread)
end

function init(args)
  sent, ok, failed, ids = 0, 0, 0, {}
end

function request()
  sent = sent + 1
  local key = tag .. tid .. "-" .. sent
  local body = '{"date": "2026-01-05", "memo": "' .. key .. '", "postings": ['
    .. '{"account": "Assets:Cash", "amount": "1.00"}, {"account": "Equity:Capital:P001", "amount": "-1.00"}]}'
  return wrk.format("POST", path, {["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json", ["Idempotency-Key"] = key}, body)
end

function response(status, headers, body)
  if status == 201 then
    ok = ok + 1
    ids[ok] = tonumber(string.match(body, '"id":(%d+)'))
  else
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local f = io.open(out, "w")
  f:write(string.format("duration_us %d\n", summary.duration))
  for _, q in ipairs({50, 95, 99}) do
    f:write(string.format("p%d %d\n", q, latency:percentile(q)))
  end
  local e = summary.errors
  f:write(string.format("socket_errors %d\n", e.connect + e.read + e.write + e.timeout))
  for _, t in ipairs(threads) do
    f:write(string.format("failed %d\n", t:get("failed")))
    for _, id in ipairs(t:get("ids")) do
      f:write(string.format("id %d\n", id))
    end
  end
  f:close()
end
"""


def wrk() -> str | None:
    """The ``wrk`` to run (``WRK``, else the one on ``PATH``), if it is there and runs."""
    return shutil.which(os.environ.get("WRK") or "wrk")


def run_wrk(tool: str, port: int, token: str, clients: int, seconds: float,
            tag: str) -> tuple[float, dict, list, int, float]:
    """``run_load`` with ``wrk`` as the clients: entries/s, the latency percentiles (s), the entry ids
    answered 201, the requests that were not (failed answers and socket errors), and wrk's own CPU
    a request (s)."""
    tag = f"{tag}{uuid.uuid4().hex[:8]}-"
    with tempfile.TemporaryDirectory() as tmp:
        out, script = Path(tmp) / "out.txt", Path(tmp) / "post.lua"
        script.write_text(WRK_SCRIPT.replace("TOKEN", token).replace("PATH", PATH)
                          .replace("TAG", tag).replace("OUT", str(out)))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([tool, "-t", str(min(2, clients)), "-c", str(clients), "-d", f"{max(1, round(seconds))}s",  # nosec B603
                        "-s", str(script), f"http://127.0.0.1:{port}{PATH}"], check=True, capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        lines = [line.split() for line in out.read_text().splitlines()]
    ids = [int(v) for k, v in lines if k == "id"]
    found = {k: int(v) for k, v in lines if k != "id" and k != "failed"}
    failures = sum(int(v) for k, v in lines if k == "failed") + found["socket_errors"]
    if len(set(ids)) != len(ids):
        raise SystemExit("an entry id was answered twice in one run: a replay was counted as a post")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime  # wrk's threads, both cores
    quantiles = {q: found[f"p{q}"] / 1e6 for q in (50, 95, 99)}
    return len(ids) / (found["duration_us"] / 1e6), quantiles, ids, failures, cpu / max(1, len(ids))


def founded_with_treasurer(app) -> str:
    """Found the bench's partnership in ``app``'s database and give it a treasurer; the treasurer's
    API token."""
    from ledger.auth.service import add_user_or_set_password, create_token
    from ledger.runtime.database import get_session

    found_synthetic(app)
    with app.app_context():
        s = get_session()
        user, _ = add_user_or_set_password(s, "bench-treasurer@bench.test", "treasurer",
                                           password="bench treasurer password")
        token = create_token(s, user)
        s.commit()
    return token


def checked(app, acknowledged: set[int]) -> tuple[int, str]:
    """After a run: how many ``acknowledged`` entries the ledger lacks, and ``full_verify``'s
    verdict as the line both HTTP benches print. Disposes of ``app``'s engine."""
    from sqlalchemy import select

    from ledger.journal.models import Entry
    from ledger.partnership.integrity import full_verify
    from ledger.runtime.database import get_session

    with app.app_context():
        s = get_session()
        lost = len(acknowledged - set(s.scalars(select(Entry.id))))
        report = full_verify(s)
    app.extensions["ledger.engine"].dispose()
    verdict = "ok" if report.ok else "FAILED: " + "; ".join(report.problems[:3])
    return lost, f"verify {verdict} at {report.entries:,} entries"


def report(what: str, rate: float, quantiles: dict, failures: int, cpu: float | None = None) -> None:
    """One configuration's line: its rate against the target, its latency, its failures and (where
    measured) the clients' own CPU a request."""
    print(f"{what}: {rate:,.0f} entries/s ({rate / TARGET:.2f} x the {TARGET:,}/s target); latency median "
          f"{quantiles[50] * 1000:.1f} ms, p95 {quantiles[95] * 1000:.1f} ms, p99 {quantiles[99] * 1000:.1f} ms; "
          f"{failures} failed; load average {os.getloadavg()[0]:.2f}"
          + (f"; the clients' own CPU {cpu * 1000:.2f} ms a request" if cpu is not None else ""))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--configs", nargs="+", default=["sync:2", "sync:3"])
    ap.add_argument("--storm-keys", type=int, default=50)
    ap.add_argument("--client", choices=["python", "wrk"], default="python",
                    help="wrk: each configuration measured again with wrk as the clients")
    args = ap.parse_args()
    tool = wrk() if args.client == "wrk" else None
    print(f"# posting over HTTP on PostgreSQL, {args.clients} clients, {args.seconds:g} s per configuration — "
          f"{machine()}; load average {os.getloadavg()[0]:.2f}")
    with database("postgresql") as url:
        app = migrated_app(url)
        from sqlalchemy import func, select

        from ledger.journal.models import Entry
        from ledger.runtime.database import get_session

        token = founded_with_treasurer(app)
        acknowledged: set[int] = set()
        for text in args.configs:
            cls, workers, threads = parse_config(text)
            proc, port = serve(url, cls, workers, threads)
            try:
                rate, latencies, ids, failures = run_load(port, token, args.clients, args.seconds,
                                                          f"{cls}{workers}x{threads}-")
                acknowledged.update(ids)
                quantiles = {q: percentile(latencies, q / 100) for q in (95, 99)}
                quantiles[50] = statistics.median(latencies)
                report(f"gunicorn {cls} {workers} workers x {threads} threads", rate, quantiles, failures)
                if args.client == "wrk" and tool is None:
                    print("  wrk: skipped, not found (set WRK, or install Debian's wrk)")
                elif tool is not None:
                    rate, quantiles, ids, failures, cpu = run_wrk(tool, port, token, args.clients, args.seconds,
                                                                  f"wrk-{cls}{workers}x{threads}-")
                    acknowledged.update(ids)
                    report(f"  the same, {args.clients} clients by wrk", rate, quantiles, failures, cpu)
            finally:
                stop(proc)
        # The retry storm, on the first configuration.
        cls, workers, threads = parse_config(args.configs[0])
        proc, port = serve(url, cls, workers, threads)
        try:
            keys = [f"storm-{uuid.uuid4().hex}" for _ in range(args.storm_keys)]
            ctx = mp.get_context("spawn")
            out = ctx.Queue()
            p = ctx.Process(target=storm_process, args=(port, token, keys, args.clients, out))
            p.start()
            answers = out.get(timeout=600)
            p.join()
        finally:
            stop(proc)
        by_key: dict[str, set] = {}
        statuses: dict[int, int] = {}
        for key, status, entry in answers:
            statuses[status] = statuses.get(status, 0) + 1
            if status in (200, 201):
                by_key.setdefault(key, set()).add(entry)
        with app.app_context():
            s = get_session()
            stored = dict(s.execute(select(Entry.memo, func.count()).where(Entry.memo.like("storm %"))
                                    .group_by(Entry.memo)).all())
        lost, verdict = checked(app, acknowledged)
    one_each = all(len(v) == 1 for v in by_key.values()) and len(by_key) == len(keys)
    exactly_once = len(stored) == len(keys) and set(stored.values()) == {1}
    print(f"retry storm: {len(keys)} keys x {args.clients} simultaneous requests; answers by status {statuses}; "
          f"{'every key answered with one entry' if one_each else 'KEYS ANSWERED WITH SEVERAL ENTRIES'}; "
          f"{'one entry per key in the ledger' if exactly_once else 'DOUBLED OR MISSING ENTRIES'}")
    print(f"acknowledged entries missing from the ledger: {lost}")
    print(verdict)


if __name__ == "__main__":
    main()
