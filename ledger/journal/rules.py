"""Pure rules of the journal: account names, balance, the canonical form and the hash chain.

No Flask, no SQLAlchemy: these take and return plain values so they can be tested alone and
reused by ``verify`` to recompute what the database holds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from ..errors import ValidationError
from ..money import MoneyError, check_places, fmt

ROOTS = ("Assets", "Liabilities", "Equity", "Income", "Expenses")
ACCOUNT_RE = re.compile(r"^(Assets|Liabilities|Equity|Income|Expenses)(:[A-Z0-9][A-Za-z0-9-]*)+$")
COMMODITY_RE = re.compile(r"^[A-Z][A-Z0-9]{1,15}$")
GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class Leg:
    """A posting to be written: signed amount (debit positive) of a commodity on an account."""

    account: str
    amount: Decimal
    commodity: str = "USD"
    kind: str | None = None
    engagement_id: int | None = None


def component(code: str) -> str:
    """An account name component for a partner/practice/client/firm code: ``"ana"`` → ``"Ana"``."""
    return code[:1].upper() + code[1:]


def check_account_name(name: str) -> str:
    if not isinstance(name, str) or not ACCOUNT_RE.match(name):
        raise ValidationError(
            f"{name!r} is not an account name like 'Assets:Cash' "
            f"(a root among {', '.join(ROOTS)}, then ':'-separated capitalised parts)",
            {"name": ["not a Beancount-style account name"]},
        )
    return name


def check_legs(legs: Sequence[Leg], field: str = "postings") -> None:
    """Refuse an entry that does not balance per commodity, has fewer than two postings, or carries
    more decimals than a commodity allows. Errors name the posting at fault."""
    errors: dict[str, list[str]] = {}
    if len(legs) < 2:
        raise ValidationError("an entry needs at least two postings", {field: ["at least two postings"]})
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for i, leg in enumerate(legs):
        try:
            check_places(leg.amount, leg.commodity)
        except MoneyError as exc:
            errors.setdefault(f"{field}[{i}].amount", []).append(str(exc))
        totals[leg.commodity] += leg.amount
    if errors:
        raise ValidationError("a posting's amount is not exact for its commodity", errors)
    unbalanced = {c: t for c, t in totals.items() if t != 0}
    if unbalanced:
        what = ", ".join(f"{c} off by {t}" for c, t in sorted(unbalanced.items()))
        raise ValidationError(f"the entry does not balance: {what}", {field: [f"does not balance: {what}"]})


def canonical_entry(
    *,
    id: int,
    date: dt.date,
    memo: str,
    source_type: str,
    source_ref: str,
    policy_version: int | None,
    reverses_id: int | None,
    postings: Iterable[tuple[str, str, Decimal, str | None, int | None]],
) -> str:
    """The entry as canonical JSON: sorted keys, no spaces, amounts at their commodity's places.

    ``postings`` are ``(account, commodity, amount, kind, engagement_id)`` in posting order.
    """
    doc = {
        "id": id,
        "date": date.isoformat(),
        "memo": memo,
        "source": [source_type, source_ref],
        "policy_version": policy_version,
        "reverses": reverses_id,
        "postings": [[a, c, fmt(amt, c), k, e] for a, c, amt, k, e in postings],
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, canonical: str) -> str:
    """``sha256(previous hash ‖ canonical entry)`` as hex."""
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()
