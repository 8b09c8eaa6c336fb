"""Generate a synthetic partnership's journal as JSON lines for ``ledger import``.

    .venv/bin/python bench/generate.py --postings 1000000 --out bench/out/journal.jsonl

Entries of 2 to 4 postings over a few hundred accounts of the charter from ``accounts()``, dated
through 2026, each with an idempotency key. Deterministic (seeded), streamed to disk.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

PARTNERS = 50
CLIENTS = 200
PRACTICES = 30


def accounts() -> list[str]:
    from ledger.core import chart

    names = [chart.CASH]
    names += [chart.receivable(f"c{i:03d}") for i in range(CLIENTS)]
    names += [chart.revenue(f"pr{j:02d}") for j in range(PRACTICES)]
    names += [chart.direct_costs(f"pr{j:02d}") for j in range(PRACTICES)]
    names += [chart.overhead(f"cat{i}") for i in range(10)]
    return names


def extra_accounts_jsonl() -> list[str]:
    """The accounts the charter does not open (clients' receivables, overhead categories)."""
    return [a for a in accounts() if a.startswith(("Assets:Receivable:", "Expenses:Overhead:"))]


def generate(postings: int, out, seed: int = 1) -> int:
    rng = random.Random(seed)
    names = accounts()
    receivables = [a for a in names if a.startswith("Assets:Receivable:")]
    income = [a for a in names if a.startswith("Income:")]
    direct = [a for a in names if a.startswith("Expenses:Direct:")]
    overhead = [a for a in names if a.startswith("Expenses:Overhead:")]
    written = n = 0
    expected_entries = max(1, int(postings / 2.75))
    while written < postings:
        n += 1
        month = min(12, 1 + n * 12 // expected_entries)
        day = f"2026-{month:02d}-{1 + n % 28:02d}"
        cents = rng.randrange(100, 5_000_000)
        kind = n % 4
        if kind == 0:  # an invoice
            legs = [(rng.choice(receivables), cents), (rng.choice(income), -cents)]
        elif kind == 1:  # a payment
            legs = [("Assets:Cash", cents), (rng.choice(receivables), -cents)]
        elif kind == 2:  # a cost split over two practices
            a = cents // 3
            legs = [(rng.choice(direct), a), (rng.choice(direct), cents - a), ("Assets:Cash", -cents)]
        else:  # overhead over three categories
            a, b = cents // 4, cents // 3
            legs = [(overhead[0], a), (rng.choice(overhead), b), (rng.choice(overhead), cents - a - b),
                    ("Assets:Cash", -cents)]
        obj = {"key": f"bench-{n}", "date": day, "memo": f"synthetic {n}",
               "postings": [{"account": acc, "amount": _money(c), "commodity": "USD"}
                            for acc, c in legs]}
        out.write(json.dumps(obj, separators=(",", ":")) + "\n")
        written += len(legs)
    return written


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--postings", type=int, default=1_000_000)
    ap.add_argument("--out", default="bench/out/journal.jsonl")
    args = ap.parse_args()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as fh:
        n = generate(args.postings, fh)
    print(f"wrote {n:,} postings to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
