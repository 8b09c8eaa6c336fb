"""``ledger import``: idempotent by key, stops at a bad line naming it, writes nothing of it."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from ledger.core import chart
from ledger.journal.balances import balance
from ledger.journal.verify import verify
from ledger.runtime.database import get_session


def line(key, amount="10.00", date="2026-01-15", account=chart.CASH, **extra):
    obj = {"key": key, "date": date, "memo": f"imported {key}", "postings": [
        {"account": account, "amount": amount, "commodity": "USD"},
        {"account": chart.capital("ana"), "amount": str(-Decimal(amount)), "commodity": "USD"}]}
    obj.update(extra)
    return json.dumps(obj)


def run(runner, tmp_path, lines, name="in.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return runner.invoke(args=["import", str(path)])


def cash(app):
    with app.app_context():
        return balance(get_session(), chart.CASH)


def test_import_then_rerun_skips_what_is_there(founded, runner, tmp_path):
    lines = [line(f"k{i}", "1.25") for i in range(5)]
    result = run(runner, tmp_path, lines)
    assert result.exit_code == 0, result.output
    assert "imported 5 entries (10 postings), skipped 0" in result.output
    result = run(runner, tmp_path, lines + [line("k5", "1.25")])
    assert "imported 1 entries (2 postings), skipped 5" in result.output
    assert cash(founded) == Decimal("7.50")
    with founded.app_context():
        assert verify(get_session()).ok


@pytest.mark.parametrize("bad,field", [
    ("{not json", "json"),
    (line("x", amount="1.001"), "amount"),
    (json.dumps({"key": "x", "date": "2026-01-15", "postings": [{"account": chart.CASH, "amount": 5}]}), "postings"),
    (line("x", account="Assets:Nowhere"), "account"),
    (line("x", date="2026-02-30"), "date"),
    (line("x", date="2025-12-31"), "date"),
    (json.dumps({"key": "x", "date": "2026-01-15", "postings": [
        {"account": chart.CASH, "amount": "١٠"}, {"account": chart.capital("ana"), "amount": "-10"}]}), "amount"),
    (line("x", date="٢٠٢٦-01-15"), "date"),
    (line("x", memo="nul\u0000byte"), "memo"),
    (line("x", memo="lone \ud800"), "memo"),
    (line("x\u0000y"), "key"),
    (line("x", amount="0.00"), "postings"),
])
def test_a_bad_line_stops_the_import_keeping_the_lines_before_it(founded, runner, tmp_path, bad, field):
    result = run(runner, tmp_path, [line("a", "2.00"), line("b", "3.00"), bad, line("c", "4.00")])
    assert result.exit_code == 1
    assert "line 3" in result.output and field in result.output
    assert cash(founded) == Decimal("5.00")


def test_unbalanced_line_is_refused(founded, runner, tmp_path):
    obj = json.loads(line("u"))
    obj["postings"][0]["amount"] = "10.01"
    result = run(runner, tmp_path, [json.dumps(obj)])
    assert result.exit_code == 1 and "line 1" in result.output and "balance" in result.output
    assert cash(founded) == 0
