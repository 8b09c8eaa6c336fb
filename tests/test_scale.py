"""Concurrency and crash safety (functional, not timed): several writer processes on the same
accounts, and an import killed with SIGKILL half-way then resumed."""

from __future__ import annotations

import io
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from helpers.engine import ENGINE

from ledger.core import chart
from ledger.journal import importer
from ledger.journal.balances import balance, trial_balance
from ledger.partnership.integrity import full_verify
from ledger.runtime.database import get_session

ROOT = Path(__file__).resolve().parent.parent
WRITERS, EACH = (8, 500) if ENGINE == "postgresql" else (4, 50)


def _writer(url: str, n: int, each: int) -> None:
    import datetime as dt

    from ledger import create_app
    from ledger.core.entries import Leg
    from ledger.journal.service import post_entry

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "t"})
    with app.app_context():
        s = get_session()
        for i in range(each):
            post_entry(s, date=dt.date(2026, 1, 1 + i % 28), memo=f"writer {n} entry {i}", source_type="manual",
                       legs=[Leg(chart.CASH, Decimal("0.01"), "USD"), Leg(chart.capital(("ana", "ben", "chen")[i % 3]),
                                                                    Decimal("-0.01"), "USD")])
            s.commit()
    app.extensions["ledger.engine"].dispose()


def test_concurrent_writer_processes_lose_nothing_and_never_fork_the_chain(founded, db_url):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(db_url, n, EACH)) for n in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    with founded.app_context():
        s = get_session()
        report = full_verify(s)
        assert report.ok, report.problems
        assert report.entries == 1 + WRITERS * EACH
        memos = s.scalars(sa.text("SELECT memo FROM entry WHERE source_type = 'manual'")).all()
        assert len(memos) == len(set(memos)) == WRITERS * EACH
        assert balance(s, chart.CASH) == Decimal(WRITERS * EACH) / 100


def _journal(n: int) -> tuple[str, Decimal]:
    out = io.StringIO()
    total = Decimal(0)
    for i in range(n):
        cents = 100 + i % 997
        total += Decimal(cents) / 100
        out.write(json.dumps({"key": f"k{i}", "date": f"2026-0{1 + i % 9}-{1 + i % 28:02d}", "memo": f"m{i}",
                              "postings": [{"account": "Assets:Cash", "amount": f"{cents // 100}.{cents % 100:02d}",
                                            "commodity": "USD"},
                                           {"account": "Equity:Capital:Ana", "amount": f"-{cents // 100}.{cents % 100:02d}",
                                            "commodity": "USD"}]}) + "\n")
    return out.getvalue(), total


def test_an_import_killed_half_way_resumes_to_the_same_totals(founded, db_url, tmp_path):
    text, total = _journal(30_000)
    path = tmp_path / "journal.jsonl"
    path.write_text(text)
    env = {**os.environ, "DATABASE_URL": db_url, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", "from ledger import main; main()", "import", str(path)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    engine = sa.create_engine(db_url)
    deadline = time.monotonic() + 120
    count = 0
    while time.monotonic() < deadline and proc.poll() is None:
        with engine.connect() as c:
            count = c.exec_driver_sql("SELECT count(*) FROM entry WHERE source_type = 'import'").scalar()
        if count >= 4000:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    engine.dispose()
    assert 0 < count < 30_000, "the import was not killed half-way; raise the journal size"
    with founded.app_context():
        s = get_session()
        assert full_verify(s).ok
        partial = s.scalar(sa.text("SELECT count(*) FROM entry WHERE source_type = 'import'"))
        assert partial % importer.BATCH[ENGINE] == 0  # whole batches only: no partial entry, no partial batch
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"skipped {partial}" in done.stdout
    with founded.app_context():
        s = get_session()
        assert full_verify(s).ok
        assert balance(s, chart.CASH) == total
        tb = {(a, c): v for a, c, v in trial_balance(s)}
        assert tb[(chart.capital("ana"), "USD")] == -total
