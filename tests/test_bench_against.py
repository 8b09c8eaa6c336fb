"""``bench/against.py``: the figures it reads from a bench's output and the ratios it prints."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location("against", Path(__file__).resolve().parent.parent / "bench" / "against.py")
against = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(against)

CONCURRENCY = """# concurrent posting on PostgreSQL, ours (group) vs pgledger, 8 s each — 2 cores; load average 0.93
8 writers: ours 1,375 entries/s (0.46 x the 3,000/s target); load average 3.38 (round 1 of 2)
  CPU an entry: writers 1.15 ms + server 1.83 ms -> 2 cores bound it at about 670 entries/s
  pgledger hot: 255 transfers/s -> ours / pgledger = 1.47x (target >= 2x)
8 writers: ours 372.5 entries/s (0.12 x the 3,000/s target); load average 5.46 (round 2 of 2)
median, sync 2, endpoint: 158/s = 1.00 x the endpoint
verify ok at 19,633 entries
"""


def test_each_lines_first_rate_is_read_under_its_lines_words():
    assert against.figures(CONCURRENCY) == {
        "8 writers: ours # entries/s": 1375.0,
        "CPU an entry: writers 1.15 ms + server 1.83 ms -> 2 cores bound it at about # entries/s": 670.0,
        "pgledger hot: # transfers/s": 255.0,
        "8 writers: ours # entries/s [2]": 372.5,  # the same line again: the bench's next round
        "median, sync 2, endpoint: #/s": 158.0,
    }


def test_the_report_gives_each_rounds_figures_and_the_median_of_here_over_the_revision():
    rounds = [{"abc123": {"a: #/s": 100.0, "gone: #/s": 5.0}, "here": {"a: #/s": 150.0}},
              {"abc123": {"a: #/s": 200.0}, "here": {"a: #/s": 180.0}},
              {"abc123": {"a: #/s": 100.0}, "here": {"a: #/s": 120.0}}]
    assert against.ratios(rounds, "abc123") == [
        "a: #/s: abc123 / here 100 / 150; 200 / 180; 100 / 120 -> here / abc123 1.50 0.90 1.20; median 1.20x"]


@pytest.mark.parametrize("argv", [["HEAD"], ["HEAD", "--"], ["HEAD", "--rounds", "0", "--", "bench/x.py"]])
def test_a_run_without_a_bench_or_rounds_is_refused_before_anything_runs(argv, monkeypatch, capsys):
    monkeypatch.setattr(against.sys, "argv", ["against.py", *argv])
    with pytest.raises(SystemExit) as exit_:
        against.main()
    assert exit_.value.code == 2 and "error:" in capsys.readouterr().err
