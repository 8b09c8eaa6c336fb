"""Import throughput and memory: ``ledger import`` of N postings vs a raw ``executemany`` INSERT
of the same rows into copies of the tables without checks, on the same database.

    .venv/bin/python bench/import_bench.py [--postings 1000000] [--engine sqlite]

Prints postings/s for the import and for two raw floors — the entry and posting rows into copies
of both tables (issue 16's "raw bulk insert into the same tables without checks", the target's
ratio), and the posting rows alone (the stricter floor printed before 2026-12-03 18:00) — the
ratios, and the peak RSS of the import (a separate process). On PostgreSQL also the same rows by
``COPY`` into the copies: what the server stores a second with no check, which bounds the rate.
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


def _raw_tables(engine, names: tuple[str, ...]) -> dict[str, object]:
    """Copies of the ledger's ``names`` tables as ``raw_<name>``: the same columns, keys and
    indexes (renamed: index names are the schema's), no foreign key and no trigger."""
    import sqlalchemy as sa

    from ledger.models import Base

    md = sa.MetaData()
    copies = {}
    for name in names:
        source = Base.metadata.tables[name]
        table = sa.Table(f"raw_{name}", md, *[
            sa.Column(c.name, c.type, nullable=c.nullable, primary_key=c.primary_key, autoincrement=c.autoincrement)
            for c in source.columns])
        for u in source.constraints:
            if isinstance(u, sa.UniqueConstraint):
                table.append_constraint(sa.UniqueConstraint(*u.columns.keys(), name=f"raw_{u.name}"))
        for ix in source.indexes:
            sa.Index(f"raw_{ix.name}", *[table.c[c.name] for c in ix.columns], unique=ix.unique,
                     **{k: v for k, v in ix.kwargs.items() if k.endswith("_where")})
        copies[name] = table
    md.create_all(engine)
    return copies


#: The floor's columns, as the import writes them.
ENTRY_COLUMNS = "id, date, memo, source_type, source_ref, idempotency_key, prev_hash, hash, created_at"
POSTING_COLUMNS = "entry_id, account_id, commodity, amount"


def raw_insert(url: str, path: Path, both: bool, copy: bool = False) -> tuple[int, float]:
    """The floor: the same rows, parsed minimally (``json.loads``), inserted with one
    ``executemany`` per batch and table into copies of the tables with their keys and indexes but
    no checks — no trigger, no foreign key, nothing validated, numbered or hashed.

    ``both``: the entries and the postings, the issue's "raw bulk insert into the same tables"
    (each entry row as the import stores it: its date, memo, source, key, the time, and the
    hashes' 64 characters each, a constant); else the posting rows alone (the stricter floor these
    benches printed before 2026-12-03 18:00). ``copy`` (PostgreSQL): the rows by ``COPY``, as the
    import writes them — what the server stores a second with no check at all, which bounds the
    import's rate whatever it does."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    tables = _raw_tables(engine, ("entry", "posting") if both else ("posting",))
    with engine.connect() as c:
        ids = dict(c.exec_driver_sql("SELECT name, id FROM account").fetchall())
    n = 0
    t0 = time.perf_counter()
    with engine.begin() as c:
        write = _copier(c) if copy else _inserter(c)
        for entries, postings in _raw_batches(path, ids, both):
            if entries:
                write("raw_entry", ENTRY_COLUMNS, entries)
            write("raw_posting", POSTING_COLUMNS, postings)
            n += len(postings)
    seconds = time.perf_counter() - t0
    with engine.begin() as c:
        for table in tables.values():
            table.drop(c)
    engine.dispose()
    return n, seconds


def _raw_batches(path: Path, ids: dict[str, int], both: bool):
    """The floor's rows from the journal, about 10,000 postings a batch: ``(entries, postings)``,
    the entries empty unless ``both``."""
    import datetime as dt

    hashed = "0" * 64
    now = dt.datetime.now(dt.UTC).isoformat(" ")
    entries, postings = [], []
    with open(path) as fh:
        for i, line in enumerate(fh, 1):
            obj = json.loads(line)
            if both:
                key = obj["key"]
                entries.append((i, obj["date"], obj.get("memo", ""), "import", key, key, hashed, hashed, now))
            for p in obj["postings"]:
                postings.append((i, ids[p["account"]], p["commodity"], int(p["amount"].replace(".", ""))))
            if len(postings) >= 10_000:
                yield entries, postings
                entries, postings = [], []
    if postings:
        yield entries, postings


def _inserter(c):
    """Rows into a table by one ``executemany``."""
    mark = "?" if c.dialect.name == "sqlite" else "%s"

    def write(table: str, columns: str, rows: list[tuple]) -> None:
        c.exec_driver_sql(f"INSERT INTO {table} ({columns}) VALUES ({', '.join([mark] * len(rows[0]))})", rows)
    return write


def _copier(c):
    """Rows into a table by one ``COPY`` (PostgreSQL; the synthetic rows hold no tab, line break
    or backslash)."""
    cursor = c.connection.driver_connection.cursor()

    def write(table: str, columns: str, rows: list[tuple]) -> None:
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as out:
            out.write("".join("\t".join(map(str, row)) + "\n" for row in rows))
    return write


def _family(pid: int) -> list[int]:
    """``pid`` and its descendants, from ``/proc`` (Linux)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                todo.extend(int(c) for c in task.read_text().split())
            except OSError:
                continue
    return out


def _memory(pids: list[int]) -> tuple[int, int]:
    """The summed RSS and PSS (kB) of ``pids`` (``/proc/PID/smaps_rollup``): PSS shares each page
    among the processes that map it, so a forked reader's pages inherited from the import are
    counted once between them."""
    rss = pss = 0
    for p in pids:
        try:
            text = Path(f"/proc/{p}/smaps_rollup").read_text()
        except OSError:
            continue
        for row in text.splitlines():
            if row.startswith("Rss:"):
                rss += int(row.split()[1])
            elif row.startswith("Pss:"):
                pss += int(row.split()[1])
    return rss, pss


def ledger_import(url: str, path: Path) -> tuple[float, dict[str, float], str]:
    """Run ``ledger import`` in a process of its own; its seconds, its memory (the peak RSS of its
    largest process, ``ru_maxrss``, and the peaks of its processes' summed RSS and PSS, sampled
    every 100 ms: each sample reads ``/proc`` for every process, and every 20 ms it took an eighth
    of a core from the import it measured) and what it printed."""
    env = {**os.environ, "DATABASE_URL": url}
    peak_rss = peak_pss = 0
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", "from ledger import main; main()", "import", str(path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampling = os.path.exists(f"/proc/{proc.pid}/smaps_rollup")
    while proc.poll() is None:
        if sampling:
            rss, pss = _memory(_family(proc.pid))
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        time.sleep(0.1)
    out, err = proc.communicate()
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(err[-2000:])
    memory = {"maxrss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
              "rss": peak_rss / 1024, "pss": peak_pss / 1024}
    return seconds, memory, out.strip()


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
        seconds, memory, said = ledger_import(url, path)
        rate = args.postings / seconds
        n, raw_seconds = raw_insert(url, path, both=True)
        _n, posting_seconds = raw_insert(url, path, both=False)
        raw_rate, posting_rate = n / raw_seconds, n / posting_seconds
        copied = raw_insert(url, path, both=True, copy=True) if url.startswith("postgresql") else None
        if args.keep and url.startswith("sqlite:///"):
            import shutil

            shutil.copy(url.removeprefix("sqlite:///"), args.keep)
    print(f"ledger import   {seconds:7.1f} s  {rate:10,.0f} postings/s  ({said})")
    print(f"raw executemany {raw_seconds:7.1f} s  {raw_rate:10,.0f} postings/s  (entries and postings)")
    print(f"raw executemany {posting_seconds:7.1f} s  {posting_rate:10,.0f} postings/s  (postings alone)")
    if copied:
        copy_rate = copied[0] / copied[1]
        print(f"raw COPY        {copied[1]:7.1f} s  {copy_rate:10,.0f} postings/s  (entries and postings: the server's "
              f"own floor, {copy_rate / TARGET_RATE:.2f} × the target; the import is {rate / copy_rate:.2f} × it)")
    print(f"ratio import/raw = {rate / raw_rate:.2f}  (target ≥ {TARGET_RATIO}: the same tables); "
          f"{rate / posting_rate:.2f} to the postings alone; rate {rate / TARGET_RATE:.2f} × the {TARGET_RATE:,}/s target")
    print(f"import peak RSS {memory['maxrss']:.0f} MB, its processes together: RSS {memory['rss']:.0f} MB, "
          f"PSS {memory['pss']:.0f} MB  (target ≤ {TARGET_RSS_MB} MB)")


if __name__ == "__main__":
    main()
