"""Any bench script at an earlier revision and at the working tree, in turn, in one run.

The VM these figures come from drifts by more between two runs minutes apart than most changes
move them (2026-12-05: the same code's 8-writer rate fell from 185–217 to 108–154 entries/s within
half an hour). A change is only measured against the code before it in the same minutes, each
side in turn, the order alternating a round. ``concurrency_bench.py --against`` and
``procedure_bench.py --against`` do that for a migration (the server's side); this does it for
anything, Python included: it checks REV out into a temporary git worktree, runs the same bench
command there and here ``--rounds`` times each, and reads every figure a second the bench prints
(``N entries/s``, ``N calls/s``, ``N/s`` …, the first on a line). For each line it prints both
sides' figures a round, here / REV, and the median of those ratios.

    .venv/bin/python bench/against.py REV [--rounds 3] -- bench/concurrency_bench.py --mode commit --writers 2 8

Both sides run with this interpreter (this virtualenv's packages) and import their own tree's
``ledger``; a PostgreSQL bench migrates its own throwaway database with its own tree's migrations.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess  # nosec B404 - runs git and this project's own bench scripts, arguments built here
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The first rate on a line: "1,014 entries/s", "466 calls/s", "158/s" (a target such as "3,000/s"
#: later on the same line is not the figure).
RATE = re.compile(r"(\d[\d,]*(?:\.\d+)?)(?: (?:entries|calls|postings|transfers|answers))?/s")
HERE = "here"


def figures(output: str) -> dict[str, float]:
    """Each line's first rate, keyed by the line up to it with the figure as ``#`` (a key seen again
    in the same output gets `` [2]``, `` [3]`` …: a bench's rounds)."""
    found: dict[str, float] = {}
    seen: Counter = Counter()
    for line in output.splitlines():
        match = RATE.search(line)
        if match is None:
            continue
        key = (line[:match.start()] + "#" + line[match.end(1):match.end()]).strip()
        seen[key] += 1
        if seen[key] > 1:
            key = f"{key} [{seen[key]}]"
        found[key] = float(match.group(1).replace(",", ""))
    return found


def ratios(rounds: list[dict[str, dict[str, float]]], revision: str) -> list[str]:
    """The report: for each line both runs had, each round's figures and here / REV, then the median."""
    lines = []
    keys = [k for k in rounds[0][HERE] if all(k in r[HERE] and k in r[revision] for r in rounds)]
    for key in keys:
        each = [r[HERE][key] / r[revision][key] for r in rounds if r[revision][key]]
        pairs = "; ".join(f"{r[revision][key]:,.0f} / {r[HERE][key]:,.0f}" for r in rounds)
        median = f"median {statistics.median(each):.2f}x" if each else "no ratio (REV's figure 0)"
        lines.append(f"{key}: {revision} / {HERE} {pairs} -> {HERE} / {revision} "
                     f"{' '.join(f'{x:.2f}' for x in each)}; {median}")
    return lines


def run(tree: Path, command: list[str]) -> str:
    """The bench ``command`` (a script path relative to the tree, then its arguments) run in ``tree``."""
    done = subprocess.run([sys.executable, str(tree / command[0]), *command[1:]], cwd=tree,  # nosec B603
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{command[0]} failed in {tree} (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     usage="%(prog)s REVISION [--rounds N] -- BENCH [ARGS ...]",
                                     epilog="after --: a bench script (a path in the tree) and its arguments")
    parser.add_argument("revision", help="the git revision to measure the working tree against")
    parser.add_argument("--rounds", type=int, default=3)
    argv = sys.argv[1:]
    at = argv.index("--") if "--" in argv else len(argv)
    opts, command = parser.parse_args(argv[:at]), argv[at + 1:]
    if not command:
        parser.error("give the bench to run after --, e.g. -- bench/http_floor.py --seconds 8")
    if opts.rounds < 1:
        parser.error("--rounds must be at least 1")
    git = shutil.which("git")
    if git is None:
        raise SystemExit("git not found: the earlier revision is checked out with git worktree")
    other = Path(tempfile.mkdtemp(prefix="against-"))
    subprocess.run([git, "worktree", "add", "--detach", str(other), opts.revision], cwd=ROOT,  # nosec B603
                   check=True, capture_output=True)
    rounds: list[dict[str, dict[str, float]]] = []
    try:
        for r in range(opts.rounds):
            sides = [(opts.revision, other), (HERE, ROOT)]
            outputs = {}
            for label, tree in sides if r % 2 == 0 else reversed(sides):
                outputs[label] = figures(run(tree, command))
            rounds.append(outputs)
            print(f"round {r + 1}: " + "; ".join(
                f"{k}: {outputs[opts.revision].get(k, float('nan')):,.0f} / {v:,.0f}" for k, v in outputs[HERE].items()),
                flush=True)
    finally:
        subprocess.run([git, "worktree", "remove", "--force", str(other)], cwd=ROOT, capture_output=True)  # nosec B603
        shutil.rmtree(other, ignore_errors=True)
    print(f"# {' '.join(command)}: {opts.revision} against the working tree, {opts.rounds} rounds, the order alternating")
    for line in ratios(rounds, opts.revision):
        print(line)


if __name__ == "__main__":
    main()
