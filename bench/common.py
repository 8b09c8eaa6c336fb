"""Shared bench helpers: a throwaway migrated database on either engine, a synthetic charter, and a
PostgreSQL database's migrations swapped in turn (``migrate``, ``vacuum_queue``) for A/B runs."""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def machine() -> str:
    """What ran the bench, with a yardstick of its speed: the figures of two sessions' machines
    differ by more than most changes (2026-12-05: a VM 3-5 x slower than the session before), and a
    ratio to an earlier figure means something only when this reads alike."""
    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}; "
            f"10,000 additions in Python {python_loop() * 1e6:,.0f} µs")


def python_loop() -> float:
    """Seconds for ``sum(range(10000))``, the best of 20: this interpreter's speed on this machine."""
    best = float("inf")
    for _ in range(20):
        started = time.perf_counter()
        sum(range(10000))
        best = min(best, time.perf_counter() - started)
    return best


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


def found_synthetic(app, partners: int = 5, practices: int = 2) -> None:
    """Found a partnership of ``synthetic_charter(partners, practices)`` in ``app``'s database."""
    from ledger.partnership.charter import load_charter
    from ledger.partnership.founding import found
    from ledger.runtime.database import get_session

    with app.app_context():
        session = get_session()
        found(session, load_charter(synthetic_charter(partners, practices)))
        session.commit()


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


def year_of_work(app, n_engagements: int, months: int, *, seed: int, subcontract: bool = False,
                 close: bool = True, n_partners: int = 50, n_practices: int = 30) -> list[float]:
    """Found a partnership of ``n_partners`` partners and ``n_practices`` practices, and post
    ``months`` months of 2026 through the posting service: every one of ``n_engagements``
    engagements invoiced every month, a third with a direct cost (half of those subcontracted when
    ``subcontract``), 25,000.00 of rent as overhead; each month closed when ``close``. Returns the
    seconds of each close (from the call to the commit)."""
    import datetime as dt
    import random
    from decimal import Decimal

    from ledger.core import chart
    from ledger.core.entries import Leg
    from ledger.journal.service import EntrySpec, open_account, post_entries
    from ledger.partnership.charter import load_charter
    from ledger.partnership.close import close_period
    from ledger.partnership.founding import found
    from ledger.practices.models import Client, Engagement, Partner, Practice
    from ledger.runtime.database import get_session

    rng = random.Random(seed)
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
                    kind = "subcontract" if subcontract and i % 2 == 0 else None
                    specs.append(EntrySpec(day, f"cost {ref}", [
                        Leg(chart.direct_costs(pr), c, "USD", kind=kind, engagement_id=ids[ref]),
                        Leg(chart.CASH, -c, "USD")], "cost", ref))
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
            if close:
                t0 = time.perf_counter()
                close_period(s, f"2026-{month:02d}")
                s.commit()
                closes.append(time.perf_counter() - t0)
        s.execute(sa.text("ANALYZE"))
        s.commit()
    return closes


def libpq_url(url: str) -> str:
    """``url`` (SQLAlchemy's, ``postgresql+psycopg://…``) as libpq reads it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def admin(url: str):
    """A psycopg connection to ``url`` in autocommit (for VACUUM and the statistics functions)."""
    import psycopg

    return psycopg.connect(libpq_url(url), autocommit=True)


def migrate(url: str, revision: str) -> None:
    """The database at ``url`` upgraded to head, or downgraded to ``revision``."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["url"] = url
    if revision == "head":
        command.upgrade(config, "head")
    else:
        command.downgrade(config, revision)


def vacuum_queue(url: str) -> None:
    """The append queue's tables vacuumed, so that neither revision of a swap inherits the other's dead rows."""
    with admin(url) as conn:
        # The queue's tables of whichever revision is in: 0016's request and answer tables, or
        # 0028's slots (which need no vacuum, but get the same treatment).
        tables = [t for (t,) in conn.execute("SELECT relname FROM pg_class WHERE relkind = 'r' AND relname "
                                             "IN ('append_request', 'append_result', 'append_slot')")]
        conn.execute("VACUUM " + ", ".join(sorted(tables)))
