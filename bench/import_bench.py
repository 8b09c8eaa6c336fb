"""Import throughput and memory: ``ledger import`` of N postings vs a raw ``executemany`` INSERT
of the same posting rows into a trigger-less copy of the posting table, on the same database.

    .venv/bin/python bench/import_bench.py [--postings 1000000] [--engine sqlite]

Prints postings/s for both, their ratio, and the peak RSS of the import (a separate process).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import database, machine, migrated_app, synthetic_charter  # noqa: E402
from bench.generate import extra_accounts_jsonl, generate  # noqa: E402

TARGET_RATE = 100_000
TARGET_RATIO = 0.5
TARGET_RSS_MB = 200


def prepare(url: str) -> None:
    from ledger.journal.service import open_account
    from ledger.partnership.charter import load_charter
    from ledger.partnership.founding import found
    from ledger.runtime.database import get_session

    app = migrated_app(url)
    with app.app_context():
        s = get_session()
        found(s, load_charter(synthetic_charter(50, 30)))
        for name in extra_accounts_jsonl():
            open_account(s, name, ["USD"])
        s.commit()
    app.extensions["ledger.engine"].dispose()


def raw_insert(url: str, path: Path) -> tuple[int, float]:
    """The floor: the same posting rows, parsed minimally, inserted with one executemany per
    batch into a copy of the posting table with its indexes but no triggers."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as c:
        key = "id INTEGER PRIMARY KEY" if engine.dialect.name == "sqlite" else "id BIGSERIAL PRIMARY KEY"
        c.exec_driver_sql(f"CREATE TABLE raw_posting ({key}, entry_id BIGINT NOT NULL, "
                          "account_id INTEGER NOT NULL, commodity VARCHAR(16) NOT NULL, amount BIGINT NOT NULL)")
        for col in ("entry_id", "account_id"):
            c.exec_driver_sql(f"CREATE INDEX ix_raw_{col} ON raw_posting ({col})")
        ids = dict(c.exec_driver_sql("SELECT name, id FROM account").fetchall())
    n = 0
    t0 = time.perf_counter()
    with engine.begin() as c, open(path) as fh:
        batch = []
        for i, line in enumerate(fh):
            obj = json.loads(line)
            for p in obj["postings"]:
                batch.append((i, ids[p["account"]], p["commodity"], int(p["amount"].replace(".", ""))))
            if len(batch) >= 10_000:
                c.exec_driver_sql("INSERT INTO raw_posting (entry_id, account_id, commodity, amount) "
                                  "VALUES (?, ?, ?, ?)" if engine.dialect.name == "sqlite" else
                                  "INSERT INTO raw_posting (entry_id, account_id, commodity, amount) "
                                  "VALUES (%s, %s, %s, %s)", batch)
                n += len(batch)
                batch = []
        if batch:
            c.exec_driver_sql("INSERT INTO raw_posting (entry_id, account_id, commodity, amount) VALUES "
                              + ("(?, ?, ?, ?)" if engine.dialect.name == "sqlite" else "(%s, %s, %s, %s)"), batch)
            n += len(batch)
    seconds = time.perf_counter() - t0
    with engine.begin() as c:
        c.exec_driver_sql("DROP TABLE raw_posting")
    engine.dispose()
    return n, seconds


def ledger_import(url: str, path: Path) -> tuple[float, float, str]:
    env = {**os.environ, "DATABASE_URL": url}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", "from ledger import main; main()", "import", str(path)], env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return seconds, rss_mb, proc.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--postings", type=int, default=1_000_000)
    ap.add_argument("--engine", default="sqlite")
    ap.add_argument("--keep", help="keep the imported database at this SQLite path (for balance_bench)")
    args = ap.parse_args()
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"journal-{args.postings}.jsonl"
    if not path.exists():
        with open(path, "w") as fh:
            generate(args.postings, fh)
    print(f"# import of {args.postings:,} postings on {args.engine} — {machine()}")
    with database(args.engine) as url:
        prepare(url)
        seconds, rss, said = ledger_import(url, path)
        rate = args.postings / seconds
        n, raw_seconds = raw_insert(url, path)
        raw_rate = n / raw_seconds
        if args.keep and url.startswith("sqlite:///"):
            import shutil

            shutil.copy(url.removeprefix("sqlite:///"), args.keep)
    print(f"ledger import   {seconds:7.1f} s  {rate:10,.0f} postings/s  ({said})")
    print(f"raw executemany {raw_seconds:7.1f} s  {raw_rate:10,.0f} postings/s")
    print(f"ratio import/raw = {rate / raw_rate:.2f}  (target ≥ {TARGET_RATIO}); "
          f"rate {rate / TARGET_RATE:.2f} × the {TARGET_RATE:,}/s target")
    print(f"import peak RSS {rss:.0f} MB  (target ≤ {TARGET_RSS_MB} MB)")


if __name__ == "__main__":
    main()
