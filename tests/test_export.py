"""``ledger export beancount|hledger`` on both engines, checked by the real tools.

The ledger under test has what an export can get wrong: a memo with quotes, a backslash, a
semicolon, a line break and a leading parenthesis; a reversal; UNITS beside USD; an account holding
both; an entry dated before its account's ``opened_on``; entry ids out of date order; accounts with
no posting. Each export must pass ``bean-check`` / ``hledger check``, and the balances the tools
compute must equal ``trial_balance`` exactly. The tamper tests prove the final assertions bite: a
balance one cent off makes the tool fail.

``bean-check`` and ``hledger`` are found in the virtualenv or on PATH. When one is missing the
test is skipped, except under ``CI`` where it fails: CI must not pass by checking nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from ledger.core import chart
from ledger.core.entries import Leg
from ledger.core.errors import Conflict
from ledger.journal import export
from ledger.journal.balances import trial_balance
from ledger.journal.service import open_account, post_entry, reverse_entry
from ledger.practices.service import get_partnership
from ledger.runtime.database import get_session

TRICKY_MEMO = '(draft) Ana said "pay; now"\nsecond line \\ C:\\temp, café\ttab'
ESCROW = "Assets:Escrow"
RENT = chart.overhead("rent")


def need_tool(name: str) -> str:
    """The path of a command-line tool; skip without it, or fail when ``CI`` is set."""
    beside = Path(sys.executable).parent / name
    path = str(beside) if beside.exists() else shutil.which(name)
    if path is None:
        message = f"{name} is not installed"
        if os.environ.get("CI"):
            pytest.fail(f"{message}, and CI must run the export checks (.ci/run installs it)")
        pytest.skip(message)
    return path


def run_tool(*args: str) -> subprocess.CompletedProcess:
    # hledger decodes its input by the locale: under LANG=C a UTF-8 memo ("café") is an error.
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)


def bean_check(path: Path) -> subprocess.CompletedProcess:
    return run_tool(need_tool("bean-check"), str(path))


def hledger_check(path: Path) -> subprocess.CompletedProcess:
    # Plain `check` parses and runs every balance assertion; `accounts commodities` also demands
    # that every account and commodity used is declared.
    return run_tool(need_tool("hledger"), "-f", str(path), "check", "accounts", "commodities")


@pytest.fixture
def ledger(founded):
    """The founded app with a ledger worth exporting, committed; no app context left open."""
    with founded.app_context():
        s = get_session()
        open_account(s, ESCROW, ["USD", "UNITS"], dt.date(2026, 1, 1))
        # Opened after the posting below is dated: the export must open it early enough.
        open_account(s, RENT, ["USD"], dt.date(2026, 3, 1))

        def post(day, memo, *legs, source_type="manual", source_ref=""):
            return post_entry(s, date=day, memo=memo, legs=list(legs), source_type=source_type,
                              source_ref=source_ref)

        post(dt.date(2026, 1, 10), "Capital contribution",
             Leg(chart.CASH, Decimal("10000.00"), "USD"), Leg(chart.capital("ana"), Decimal("-10000.00"), "USD"))
        tricky = post(dt.date(2026, 1, 20), TRICKY_MEMO,
                      Leg(chart.direct_costs("voice"), Decimal("1234.56"), "USD"), Leg(chart.CASH, Decimal("-1234.56"), "USD"),
                      source_type="cost", source_ref='E-1, "quoted"')
        post(dt.date(2026, 3, 5), "Invoice",
             Leg(chart.CASH, Decimal("0.01"), "USD"), Leg(chart.revenue("msft"), Decimal("-0.01"), "USD"),
             source_type="invoice", source_ref="E-2")
        # Dated before the March entry although written after it, and before RENT's opened_on.
        post(dt.date(2026, 2, 10), "Rent", Leg(RENT, Decimal("800.00"), "USD"), Leg(chart.CASH, Decimal("-800.00"), "USD"),
             source_type="overhead")
        post(dt.date(2026, 2, 11), "Units and cash held in escrow",
             Leg(ESCROW, Decimal("25"), "UNITS"), Leg(chart.units_vested("ana"), Decimal("25"), "UNITS"),
             Leg(chart.UNITS_AUTHORIZED, Decimal("-50"), "UNITS"),
             Leg(ESCROW, Decimal("99.99"), "USD"), Leg(chart.CASH, Decimal("-99.99"), "USD"))
        reverse_entry(s, tricky.id, date=dt.date(2026, 2, 1))
        s.commit()
    return founded


def the_trial_balance(app) -> dict[tuple[str, str], Decimal]:
    with app.app_context():
        return {(a, c): amount for a, c, amount in trial_balance(get_session())}


def nonzero(balances: dict[tuple[str, str], Decimal]) -> dict[tuple[str, str], Decimal]:
    return {k: v for k, v in balances.items() if v != 0}


def export_text(app, fmt: str) -> str:
    with app.app_context():
        session = get_session()
        return "".join(export.FORMATS[fmt](session, title=get_partnership(session).name))


# --- Beancount ------------------------------------------------------------------------------------


def beancount_loader():
    try:
        from beancount import loader
    except ImportError:  # pragma: no cover - beancount is a dev dependency
        if os.environ.get("CI"):
            pytest.fail("the beancount package is not installed, and CI must run the export checks")
        pytest.skip("the beancount package is not installed")
    return loader


def test_cli_beancount_out_file_passes_bean_check(ledger, tmp_path):
    out = tmp_path / "ledger.beancount"
    result = ledger.test_cli_runner().invoke(args=["export", "beancount", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    checked = bean_check(out)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    text = out.read_text(encoding="utf-8")
    assert 'option "operating_currency" "USD"' in text
    assert "commodity USD\n" in text and "commodity UNITS\n" in text
    assert f"2026-01-01 open {ESCROW} USD,UNITS\n" in text
    assert f"2026-02-10 open {RENT} USD\n" in text  # the earlier of opened_on and its first posting
    assert "-50 UNITS" in text and "1234.56 USD" in text
    assert not list(tmp_path.glob(".*.tmp"))


def test_beancount_balances_equal_the_trial_balance(ledger, tmp_path):
    loader = beancount_loader()
    from beancount.core import data

    path = tmp_path / "ledger.beancount"
    path.write_text(export_text(ledger, "beancount"), encoding="utf-8")
    entries, errors, options = loader.load_file(str(path))
    assert errors == []
    assert options["title"] == "Worked Example Partners"
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    by_id = {}
    for entry in entries:
        if isinstance(entry, data.Transaction):
            by_id[entry.meta["entry"]] = entry
            for p in entry.postings:
                sums[(p.account, p.units.currency)] += p.units.number
    expected = the_trial_balance(ledger)
    assert dict(sums) == expected  # every (account, commodity) with postings, zero ones included
    assert sum(1 for a, c in expected if c == "UNITS") >= 5
    # One exact assertion per account and commodity, agreeing with the trial balance.
    asserted = {(e.account, e.amount.currency): e.amount.number
                for e in entries if isinstance(e, data.Balance)}
    assert all(e.tolerance == 0 for e in entries if isinstance(e, data.Balance))
    assert nonzero(asserted) == nonzero(expected)
    assert asserted[(ESCROW, "UNITS")] == Decimal("25") and asserted[(RENT, "USD")] == Decimal("800.00")
    # The memo survives exactly, and each transaction names its entry, hash and source.
    tricky = next(e for e in by_id.values() if e.narration == TRICKY_MEMO)
    assert tricky.meta["source"] == 'cost:E-1, "quoted"'
    assert len(tricky.meta["hash"]) == 64
    reversal = next(e for e in by_id.values() if e.meta.get("reverses") == tricky.meta["entry"])
    assert reversal.narration.startswith("Reversal of entry")


def test_a_wrong_balance_fails_bean_check(ledger, tmp_path):
    text = export_text(ledger, "beancount")
    line = next(x for x in text.splitlines() if x.endswith(" USD") and f"balance {chart.CASH} " in x)
    assert line.endswith("9100.02 ~ 0 USD")
    path = tmp_path / "tampered.beancount"
    path.write_text(text.replace(line, line.replace("9100.02", "9100.03")), encoding="utf-8")
    checked = bean_check(path)
    assert checked.returncode != 0
    assert "Balance failed for 'Assets:Cash'" in checked.stdout + checked.stderr


# --- hledger --------------------------------------------------------------------------------------


def test_cli_hledger_stdout_passes_hledger_check(ledger, tmp_path):
    result = ledger.test_cli_runner().invoke(args=["export", "hledger"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "ledger.journal"
    path.write_text(result.stdout, encoding="utf-8")
    checked = hledger_check(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "commodity 1000.00 USD\n" in result.stdout and "commodity 1000. UNITS\n" in result.stdout
    assert f"account {ESCROW}\n" in result.stdout
    assert f"    {chart.CASH}  0.00 USD = 9100.02 USD\n" in result.stdout


def test_hledger_balances_equal_the_trial_balance(ledger, tmp_path):
    path = tmp_path / "ledger.journal"
    path.write_text(export_text(ledger, "hledger"), encoding="utf-8")
    shown = run_tool(need_tool("hledger"), "-f", str(path), "balance", "--flat", "--no-total",
                     "--layout=bare", "-O", "csv")
    assert shown.returncode == 0, shown.stderr
    rows = list(csv.DictReader(io.StringIO(shown.stdout)))
    balances = {(r["account"], r["commodity"]): Decimal(r["balance"]) for r in rows}
    assert nonzero(balances) == nonzero(the_trial_balance(ledger))
    # Each transaction carries its entry's id and hash as tags; the tricky memo is one line.
    printed = run_tool(need_tool("hledger"), "-f", str(path), "print", "-O", "csv", "tag:source=cost:E-1")
    assert printed.returncode == 0, printed.stderr
    txns = list(csv.DictReader(io.StringIO(printed.stdout)))
    assert txns, printed.stdout
    assert txns[0]["description"] == '[draft) Ana said "pay, now" second line \\ C:\\temp, café tab'
    assert "hash:" in txns[0]["comment"] and "entry:" in txns[0]["comment"]


def test_a_wrong_balance_fails_hledger_check(ledger, tmp_path):
    text = export_text(ledger, "hledger")
    good = f"    {ESCROW}  0 UNITS = 25 UNITS\n"
    assert good in text
    path = tmp_path / "tampered.journal"
    path.write_text(text.replace(good, good.replace("= 25", "= 26")), encoding="utf-8")
    checked = hledger_check(path)
    assert checked.returncode != 0
    assert "balance assertion" in checked.stdout + checked.stderr


# --- the command's refusals -----------------------------------------------------------------------


def test_a_bad_format_is_refused(ledger):
    result = ledger.test_cli_runner().invoke(args=["export", "ledger-cli"])
    assert result.exit_code == 2  # click's usage error: no traceback, the choices named
    assert "'ledger-cli' is not one of 'beancount', 'hledger'" in result.stderr
    assert result.stdout == "" and isinstance(result.exception, SystemExit)


def test_an_unfounded_database_is_a_clear_error(app):
    result = app.test_cli_runner().invoke(args=["export", "beancount"])
    assert result.exit_code == 1
    assert "not founded" in result.stderr and result.stdout == ""
    assert isinstance(result.exception, SystemExit)


def test_an_unwritable_out_file_is_a_clear_error(ledger, tmp_path):
    result = ledger.test_cli_runner().invoke(
        args=["export", "hledger", "--out", str(tmp_path / "no-such-dir" / "x.journal")])
    assert result.exit_code == 1
    assert "cannot write" in result.stderr
    assert isinstance(result.exception, SystemExit)


def test_a_failed_export_leaves_the_old_file_alone(ledger, tmp_path, monkeypatch):
    def broken(_session, title):
        yield "half a journal\n"
        raise Conflict("the ledger changed under the export")

    monkeypatch.setitem(export.FORMATS, "beancount", broken)
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "ledger.beancount"
    out.write_text("the previous export\n", encoding="utf-8")
    result = ledger.test_cli_runner().invoke(args=["export", "beancount", "--out", str(out)])
    assert result.exit_code == 1
    assert "the ledger changed under the export" in result.stderr
    assert out.read_text(encoding="utf-8") == "the previous export\n"
    assert [p.name for p in out.parent.iterdir()] == ["ledger.beancount"]  # no temporary left
