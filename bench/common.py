"""Shared bench helpers: a throwaway migrated database on either engine, a synthetic charter."""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
import uuid
from contextlib import contextmanager

import sqlalchemy as sa

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


@contextmanager
def database(engine: str):
    """Yield the URL of a fresh, empty database on ``engine`` ("sqlite" or "postgresql")."""
    if engine == "postgresql":
        name = f"pl_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
        finally:
            with admin.connect() as c:
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
    else:
        with tempfile.TemporaryDirectory() as d:
            yield f"sqlite:///{d}/bench.db"


def migrated_app(url: str):
    from ledger import create_app

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    return app


def synthetic_charter(partners: int, practices: int, start: str = "2026-01-01") -> str:
    out = [f'[partnership]\nname = "Bench Partners"\ncurrency = "USD"\nperiod = "month"\nstarts_on = {start}\n']
    for i in range(partners):
        out.append(f'[[partners]]\ncode = "p{i:03d}"\nname = "Partner {i}"\nemail = "p{i}@bench.test"\nunits = {100 + i * 7}\n')
    for j in range(practices):
        owners = [f"p{(j * 3 + k) % partners:03d}" for k in range(3)]
        out.append(f'[[practices]]\ncode = "pr{j:02d}"\nname = "Practice {j}"\n'
                   f'owners = {{ {owners[0]} = "50%", {owners[1]} = "30%", {owners[2]} = "20%" }}\n')
    out.append('[policy]\norigination = "10%"\npractice = "60%"\npool_basis = "vested_units"\n')
    return "\n".join(out)


def timed(fn, repeat: int = 1):
    times = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return result, times


def summary(times: list[float]) -> str:
    ts = sorted(times)
    p95 = ts[min(len(ts) - 1, int(round(0.95 * (len(ts) - 1))))]
    return f"median {statistics.median(ts) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"
