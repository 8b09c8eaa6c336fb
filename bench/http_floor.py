"""Where a posted entry's time goes over HTTP: the same gunicorn, the same 8 clients, in layers.

``http_bench.py`` measures ``POST /api/v1/ledger/entries`` as the product serves it. This script
serves the same request through thinner stacks, in the same run and against the same database, to
show what each layer costs on this machine and so what bounds the endpoint:

- ``wsgi``: a bare WSGI callable that reads the body, parses it and answers 201 with a JSON id —
  the floor of gunicorn's sync worker, the kernel's loopback and the Python clients;
- ``wsgi+db``: the same plus one autocommit ``SELECT 1`` on a kept psycopg connection (a round trip);
- ``flask``: a minimal Flask app, one route that reads the JSON and answers it (Flask's own cost);
- ``services``: the endpoint's work without Flask, flask-smorest, webargs and the API's guard — the
  caller and key in one query, ``EntryIn`` loaded, the entry posted by ``journal.post_manual`` with
  its key's record in the append's statement, answered through ``EntryOut`` — what the request would
  cost if the web framework cost nothing (a measuring harness for the happy path, not a way to serve:
  anything else is a 500 here);
- ``driver``: the same rules with no ORM session or SQLAlchemy Core a request either — the caller's
  query and the append (with the key's record in its statement) straight on a psycopg connection
  (two round trips, as the endpoint made them until its caller's checks went into the append's
  statement on 2026-12-05),
  the checks (``service._validate``), the period check and the call's arguments (``append``) from the
  journal's cached facts, the answer built as a dict: what a serving path without the web framework
  and the ORM's per-request machinery would cost (a harness as ``services`` is; the answer is the
  endpoint's, byte for byte, but for the id and hashes);
- ``app``: the product with its direct path off (``API_DIRECT_ENTRIES=0``): every request through
  Flask, the guard and the ORM session;
- ``endpoint``: the product as it serves (``api.direct`` in front of the app).

Each layer runs ``--rounds`` times with each worker count (gunicorn ``sync``), alternating; the run
prints entries (answers) per second, p99 latency and each layer's ratio to the endpoint in the same
round. ``--in-process N`` first measures the worker's CPU a request of ``driver``, ``services``,
``app`` and ``endpoint`` without gunicorn or clients (``time.process_time`` over N requests,
alternating, three rounds): the web framework's share of the app's CPU and the ORM's, free of the
machine's scheduling; and it checks that each answers what the app answers (its answer to a key,
replayed by the app, byte for byte). Last, ``verify`` and a count of the
acknowledged entries (nothing lost or doubled).

    .venv/bin/python bench/http_floor.py [--seconds 8] [--rounds 2] [--workers 2 3] [--in-process 3000]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import database, libpq_url, machine, migrated_app  # noqa: E402
from bench.http_bench import (  # noqa: E402
    PATH,
    TARGET,
    body,
    checked,
    founded_with_treasurer,
    percentile,
    run_load,
    serve,
    stop,
)

LAYERS = ("wsgi", "wsgi+db", "flask", "driver", "services", "app", "endpoint")
SPEC = {layer: "bench.http_floor:layer_app()" for layer in LAYERS} | {"app": "ledger:create_app()",
                                                                     "endpoint": "ledger:create_app()"}
#: The environment of each layer's gunicorn: ``app`` is the product with its direct path off.
ENV = {layer: {"HTTP_FLOOR_LAYER": layer} for layer in LAYERS} | {"app": {"API_DIRECT_ENTRIES": "0"}}


def _json_response(start_response, status: str, payload: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


def _bare_app(round_trip: bool):
    """``wsgi`` and ``wsgi+db``: read, parse, answer a fresh id (the clients refuse an id twice)."""
    ids = itertools.count(os.getpid() * 10**7)
    conn = None

    def app(environ, start_response):
        nonlocal conn
        if environ["REQUEST_METHOD"] == "GET":
            return _json_response(start_response, "200 OK", b'{"status":"ok"}')
        data = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        if round_trip:
            import psycopg

            if conn is None:
                url = libpq_url(os.environ["DATABASE_URL"])
                conn = psycopg.connect(url, autocommit=True)
            conn.execute("SELECT 1").fetchone()
        return _json_response(start_response, "201 Created",
                              json.dumps({"id": next(ids), "memo": data["memo"]}).encode())

    return app


def _flask_app():
    from flask import Flask, jsonify, request

    app = Flask(__name__)
    ids = itertools.count(os.getpid() * 10**7)

    @app.get("/api/v1/health")
    def health():
        return {"status": "ok"}

    @app.post(PATH)
    def create():
        data = request.get_json()
        return jsonify({"id": next(ids), "memo": data["memo"]}), 201

    return app


def _plain_request(environ) -> tuple[str, str, dict]:
    """The token, the ``Idempotency-Key`` and the body of a harness's request (the bench's own)."""
    raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")[2].strip()
    return token, environ["HTTP_IDEMPOTENCY_KEY"], json.loads(raw)


def services_app():
    """The endpoint's work with no web framework around it (see the module docstring)."""
    from ledger import create_app
    from ledger.api import idempotency
    from ledger.api.auth import CALLER_AND_RECORD
    from ledger.api.journal import EntryIn, EntryOut, entry_out
    from ledger.auth.service import Caller, hash_token
    from ledger.core.entries import Leg
    from ledger.db import clock_of, outside_transaction
    from ledger.journal import service as journal
    from ledger.journal.periods import books_currency
    from ledger.read import entries as reads

    product = create_app()
    make_session = product.extensions["ledger.sessionmaker"]
    entry_in, entry_out_schema = EntryIn(), EntryOut()

    def app(environ, start_response):
        if environ["REQUEST_METHOD"] == "GET":
            return _json_response(start_response, "200 OK", b'{"status":"ok"}')
        token, key, payload = _plain_request(environ)
        session = make_session()
        try:
            with outside_transaction(session):
                row = session.connection().execute(CALLER_AND_RECORD,
                                                   {"token_hash": hash_token(token), "key": key}).first()
            caller = Caller(*row[:4])
            if row[4] is not None or caller.role not in ("treasurer", "admin"):
                raise RuntimeError("the harness answers fresh keys of a treasurer only")
            data = entry_in.load(payload)
            claim = idempotency.Claim(caller.id, key, idempotency.fingerprint("POST", PATH, payload),
                                      clock_of(session).now())
            currency = books_currency(session)
            legs = [Leg(p["account"], p["amount"], p["commodity"] or currency) for p in data["postings"]]
            entry = journal.post_manual(session, data["date"], data["memo"], legs, commit=True,
                                        also=claim.with_entry(201))
            out = product.json.dumps(entry_out_schema.dump(entry_out(reads.posted_view(entry, legs))),
                                      separators=(",", ":")) + "\n"
        finally:
            session.close()
        return _json_response(start_response, "201 Created", out.encode())

    return app


def driver_app():
    """The endpoint's rules with no ORM session a request either: the caller's query and the append
    straight on a psycopg connection, the checks (``service._validate``), the canonical form and the
    call's arguments (``append.call_args``) from the journal's cached facts, the answer as a dict."""
    import psycopg
    from sqlalchemy.dialects import postgresql

    from ledger import create_app
    from ledger.api import idempotency
    from ledger.api.auth import CALLER_AND_RECORD
    from ledger.api.journal import EntryIn
    from ledger.auth.service import hash_token
    from ledger.core.entries import Leg
    from ledger.core.money import fmt
    from ledger.journal import append
    from ledger.journal.periods import books_currency
    from ledger.journal.service import EntrySpec, _validate

    product = create_app()
    session = product.extensions["ledger.sessionmaker"]()  # the cached facts' reads, on a miss only
    facts = append.journal_facts(session)
    currency = books_currency(session)
    session.rollback()
    compiled = CALLER_AND_RECORD.compile(dialect=postgresql.psycopg.dialect())
    caller_sql, caller_params = str(compiled), dict(compiled.params)
    url = libpq_url(os.environ["DATABASE_URL"])
    conn = psycopg.connect(url, autocommit=True)
    entry_in = EntryIn()

    def app(environ, start_response):
        if environ["REQUEST_METHOD"] == "GET":
            return _json_response(start_response, "200 OK", b'{"status":"ok"}')
        token, key, payload = _plain_request(environ)
        row = conn.execute(caller_sql, caller_params | {"token_hash": hash_token(token), "key": key},
                           prepare=True).fetchone()
        if row is None or row[4] is not None or row[1] not in ("treasurer", "admin"):
            raise RuntimeError("the harness answers fresh keys of a treasurer only")
        data = entry_in.load(payload)
        legs = [Leg(p["account"], p["amount"], p["commodity"] or currency) for p in data["postings"]]
        spec = EntrySpec(data["date"], data["memo"], legs, "manual")
        _validate(session, [spec], "postings", facts.resolve(session, {leg.account for leg in legs}))
        guard, first_pid, last_pid = append.dates_need_guard(session, facts, [spec.date])
        if guard:
            raise RuntimeError("the harness posts in open periods the cache knows")
        if session.in_transaction():
            session.rollback()
        params, now = append.call_args(session, [spec], facts.accounts, first_pid, last_pid)
        record = idempotency.Claim(row[0], key, idempotency.fingerprint("POST", PATH, payload), now).with_entry(201)
        status, first_id, prev, hashes = conn.execute(
            record.with_call(), record.arguments([*append.text_arrays(params), True]), prepare=True).fetchone()
        if status != "ok":
            raise RuntimeError(f"the append answered {status}")
        out = {"id": first_id, "date": spec.date.isoformat(), "memo": spec.memo, "source_type": "manual",
               "source_ref": "", "reverses": None, "hash": hashes[0], "prev_hash": prev, "detail": [],
               "postings": [{"account": leg.account, "amount": fmt(leg.amount, leg.commodity),
                             "commodity": leg.commodity, "kind": None, "engagement": None} for leg in legs]}
        answer = product.json.dumps(out, separators=(",", ":")) + "\n"  # as Flask's jsonify writes it
        return _json_response(start_response, "201 Created", answer.encode())

    return app


def layer_app():
    """gunicorn's factory: the layer named by ``HTTP_FLOOR_LAYER``."""
    layer = os.environ["HTTP_FLOOR_LAYER"]
    if layer in ("wsgi", "wsgi+db"):
        return _bare_app(round_trip=layer == "wsgi+db")
    if layer == "flask":
        return _flask_app()
    if layer == "services":
        return services_app()
    if layer == "driver":
        return driver_app()
    raise SystemExit(f"no layer {layer!r}")


class CpuSplit:
    """The cores each kind of process used over the middle of a run (``/proc``, Linux): gunicorn's
    workers, PostgreSQL's backends, the clients (multiprocessing's children); the rest is idle or
    other. Started with the run, it samples from 1.5 s in to 1.5 s before the end."""

    KINDS = ("gunicorn", "postgres", "clients")

    def __init__(self, seconds: float):
        self.seconds, self.cores = seconds, None
        self.thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _kind(cmdline: str) -> str | None:
        if "gunicorn" in cmdline:
            return "gunicorn"
        if cmdline.startswith("postgres"):
            return "postgres"
        return "clients" if "multiprocessing" in cmdline else None

    def _snapshot(self) -> dict[str, tuple[str, int]]:
        seen = {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                cmdline = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            kind = self._kind(cmdline)
            if kind:
                seen[pid] = (kind, int(fields[11]) + int(fields[12]))  # utime + stime, in ticks
        return seen

    def _run(self) -> None:
        if self.seconds < 4 or not Path("/proc/self/stat").exists():
            return
        time.sleep(1.5)
        before, t0 = self._snapshot(), time.perf_counter()
        time.sleep(self.seconds - 3)
        after, span = self._snapshot(), time.perf_counter() - t0
        ticks = dict.fromkeys(self.KINDS, 0)
        for pid, (kind, used) in after.items():
            ticks[kind] += used - before.get(pid, (kind, 0))[1]
        self.cores = {kind: n / os.sysconf("SC_CLK_TCK") / span for kind, n in ticks.items()}

    def describe(self, rate: float) -> str:
        self.thread.join()
        if not self.cores:
            return ""
        parts = ", ".join(f"{kind} {c:.2f} ({c / rate * 1000:.2f} ms a request)" for kind, c in self.cores.items())
        return f"; cores busy: {parts}, idle {max(0.0, os.cpu_count() - sum(self.cores.values())):.2f}"


def in_process(url: str, token: str, requests: int) -> None:
    """The worker's CPU a request of ``services`` and ``endpoint``, alternating, no gunicorn."""
    from werkzeug.test import EnvironBuilder

    from ledger import create_app

    os.environ.update(DATABASE_URL=url, SECRET_KEY="bench")
    apps = {"driver": driver_app(), "services": services_app(), "app": create_app({"API_DIRECT_ENTRIES": False}),
            "endpoint": create_app()}

    def run(name: str, tag: str, n: int) -> float:
        cpu = 0.0
        for i in range(n):
            environ = EnvironBuilder(path=PATH, method="POST", data=body(f"{tag}{i}"), headers={
                "Authorization": f"Bearer {token}", "Content-Type": "application/json",
                "Idempotency-Key": f"{tag}{i}"}).get_environ()
            status: list[str] = []
            t0 = time.process_time()
            b"".join(apps[name](environ, lambda s, _h, _e=None, status=status: status.append(s)))
            cpu += time.process_time() - t0
            if not status[0].startswith("201"):
                raise SystemExit(f"{name} answered {status[0]}")
        return cpu / n * 1000

    def answer(name: str, key: str) -> bytes:
        environ = EnvironBuilder(path=PATH, method="POST", data=body("the same request"), headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json", "Idempotency-Key": key}).get_environ()
        return b"".join(apps[name](environ, lambda _s, _h, _e=None: None))

    for name in ("driver", "services", "endpoint"):
        same = answer(name, f"same-{name}") == answer("app", f"same-{name}")
        print(f"the {name}'s answer, replayed by the app: {'the same bytes' if same else 'DIFFERENT'}")
    for name in apps:
        run(name, f"warm-{name}-", 200)
    for r in range(3):
        ms = {name: run(name, f"cpu{r}-{name}-", requests) for name in apps}
        print(f"in process, round {r + 1}: worker CPU a request: driver {ms['driver']:.3f} ms, services "
              f"{ms['services']:.3f} ms, the app (Flask's path) {ms['app']:.3f} ms, the endpoint {ms['endpoint']:.3f} ms; "
              f"of the app's, the web framework {1 - ms['services'] / ms['app']:.0%} and the ORM session's and "
              f"Core's machinery {(ms['services'] - ms['driver']) / ms['app']:.0%}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", type=int, nargs="+", default=[2, 3])
    ap.add_argument("--layers", nargs="+", choices=LAYERS, default=list(LAYERS))
    ap.add_argument("--in-process", type=int, default=3000, help="requests a round in process (0: skip)")
    args = ap.parse_args()
    print(f"# posting over HTTP in layers on PostgreSQL, {args.clients} clients, {args.seconds:g} s a run — "
          f"{machine()}; load average {os.getloadavg()[0]:.2f}")
    with database("postgresql") as url:
        app = migrated_app(url)
        token = founded_with_treasurer(app)
        if args.in_process:
            in_process(url, token, args.in_process)
        acknowledged: set[int] = set()
        rates: dict[tuple[str, int], list[float]] = {}
        for r in range(args.rounds):
            for workers in args.workers:
                endpoint = None
                for layer in sorted(args.layers, key=lambda x: x == "endpoint", reverse=True):
                    proc, port = serve(url, "sync", workers, 1, app=SPEC[layer], env=ENV[layer])
                    split = CpuSplit(args.seconds)
                    split.thread.start()
                    try:
                        rate, latencies, ids, failures = run_load(port, token, args.clients, args.seconds,
                                                                  f"{layer}{workers}r{r}-")
                    finally:
                        stop(proc)
                    if layer in ("driver", "services", "app", "endpoint"):
                        acknowledged.update(ids)
                    endpoint = rate if layer == "endpoint" else endpoint
                    rates.setdefault((layer, workers), []).append(rate)
                    ratio = f"; {rate / endpoint:.2f} x the endpoint" if endpoint else ""
                    print(f"round {r + 1}, sync {workers} workers, {layer:>8}: {rate:,.0f}/s ({rate / TARGET:.2f} x the "
                          f"{TARGET:,}/s target{ratio}); p99 {percentile(latencies, 0.99) * 1000:.1f} ms, median "
                          f"{statistics.median(latencies) * 1000:.1f} ms; {failures} failed; "
                          f"load average {os.getloadavg()[0]:.2f}{split.describe(rate)}", flush=True)
        for (layer, workers), values in sorted(rates.items(), key=lambda kv: (kv[0][1], LAYERS.index(kv[0][0]))):
            base = statistics.median(rates.get(("endpoint", workers), [0])) or None
            ratio = f" = {statistics.median(values) / base:.2f} x the endpoint" if base else ""
            print(f"median, sync {workers}, {layer:>8}: {statistics.median(values):,.0f}/s{ratio}; "
                  f"the machine's cores over the rate: {os.cpu_count() / statistics.median(values) * 1000:.2f} ms a request")
        lost, verdict = checked(app, acknowledged)
    print(f"acknowledged entries: {len(acknowledged):,}, missing from the ledger: {lost}")
    print(verdict)


if __name__ == "__main__":
    main()
