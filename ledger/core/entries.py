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

from ledger.core.errors import ValidationError
from ledger.core.money import MAX_STORED, MoneyError, check_places, fmt, to_minor

ROOTS = ("Assets", "Liabilities", "Equity", "Income", "Expenses")
#: An account name (also the OpenAPI document's pattern); ``ACCOUNT_RE`` matches it whole, in ASCII.
ACCOUNT_PATTERN = r"^(Assets|Liabilities|Equity|Income|Expenses)(:[A-Z0-9][A-Za-z0-9-]*)+$"
ACCOUNT_RE = re.compile(ACCOUNT_PATTERN, re.ASCII)
COMMODITY_PATTERN = r"^[A-Z][A-Z0-9]{1,15}$"
GENESIS_HASH = "0" * 64
KIND_RE = re.compile(r"^[a-z_]{1,16}$")

#: What a person books (CONTRACT §7): only these entries may be reversed. Everything else is made by
#: the product under a rule or a vote (the founding, vesting, a close, a buyout and its goodwill and
#: installments, a grant, a forfeiture) and is corrected through that rule or vote, never reversed.
REVERSIBLE_SOURCES = frozenset({"manual", "invoice", "cost", "payment", "overhead", "draw", "import"})


def reversal_refusal(source_type: str, reverses_id: int | None) -> str | None:
    """Why an entry may not be reversed, or None when it may (pure: the entry's own facts)."""
    if reverses_id is not None:
        return "is itself a reversal and cannot be reversed; post a new entry instead"
    if source_type not in REVERSIBLE_SOURCES:
        return (f"cannot be reversed: it was made by the product ({source_type}), not booked by a person, "
                "and is corrected through the rule or the vote that made it")
    return None


@dataclass(frozen=True, slots=True)
class Leg:
    """A posting to be written: signed amount (debit positive) of a commodity on an account."""

    account: str
    amount: Decimal
    commodity: str
    kind: str | None = None
    engagement_id: int | None = None


def component(code: str) -> str:
    """An account name component for a partner/practice/client/firm code: ``"ana"`` → ``"Ana"``."""
    return code[:1].upper() + code[1:]


def check_account_name(name: str) -> str:
    if not isinstance(name, str) or not ACCOUNT_RE.fullmatch(name):
        raise ValidationError(
            f"{name!r} is not an account name like 'Assets:Cash' "
            f"(a root among {', '.join(ROOTS)}, then ':'-separated capitalised parts)",
            {"name": ["not a Beancount-style account name"]},
        )
    return name


def check_legs(legs: Sequence[Leg], field: str = "postings") -> None:
    """Refuse an entry that does not balance per commodity, has fewer than two postings, carries
    more decimals than a commodity allows, or moves nothing (every posting zero: CONTRACT §7).
    Every writer posts through here, so none may write such an entry. Errors name the posting at
    fault. An entry whose debits in a commodity total more than the ledger can store is refused
    too (``beyond_storage``)."""
    errors: dict[str, list[str]] = {}
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for i, leg in enumerate(legs):
        try:
            check_places(leg.amount, leg.commodity)
        except MoneyError as exc:
            errors.setdefault(f"{field}[{i}].amount", []).append(str(exc))
        totals[leg.commodity] += leg.amount
    if errors:
        raise ValidationError("a posting's amount is not exact for its commodity, or too large to store", errors)
    if len(legs) < 2:
        raise ValidationError("an entry needs at least two postings", {field: ["at least two postings"]})
    unbalanced = {c: t for c, t in totals.items() if t != 0}
    if unbalanced:
        what = ", ".join(f"{c} off by {t}" for c, t in sorted(unbalanced.items()))
        raise ValidationError(f"the entry does not balance: {what}", {field: [f"does not balance: {what}"]})
    if all(leg.amount == 0 for leg in legs):
        raise ValidationError("an entry whose postings are all zero moves nothing", {field: ["every amount is zero"]})
    moved: dict[str, Decimal] = defaultdict(Decimal)
    for leg in legs:
        if leg.amount > 0:
            moved[leg.commodity] += leg.amount
    if any(total > MAX_STORED for total in moved.values()):
        # Whatever order its postings are summed in (a balance check, an account's total), no
        # partial sum of a balanced entry passes its debits: bounded, every sum can be stored.
        raise beyond_storage(field, "the entry's debits in one commodity")


def beyond_storage(field: str = "postings", what: str = "a balance") -> ValidationError:
    """The refusal of a write that would take ``what`` (a maintained balance or month's total, or
    an entry's own debits) past what the ledger stores: ``MAX_STORED`` in magnitude."""
    message = f"would take {what} beyond what the ledger can store (at most {MAX_STORED} in magnitude)"
    return ValidationError(message, {field: [message]})


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
    detail: str | None = None,
) -> str:
    """The entry as canonical JSON: sorted keys, no spaces, amounts at their commodity's places.

    ``postings`` are ``(account, commodity, amount, kind, engagement_id)`` in posting order;
    ``detail`` is the ``detail_digest`` of the entry's posting detail, for an entry that has one
    (the key is absent otherwise, so entries without detail hash as they always have).
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
    if detail is not None:
        doc["detail"] = detail
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_parts(**fields) -> tuple[str, str]:
    """``canonical_entry`` without its id: ``(head, tail)`` with ``head + str(id) + tail`` equal to
    ``canonical_entry(id=id, **fields)`` for every id. The posting service builds these before it
    takes the chain's lock (the id is the chain position, known only under it), so the database
    can hash ``prev ‖ head ‖ id ‖ tail`` in its one call. The keys sort ``date``, ``detail``,
    ``id``, ``memo``: ``,"id":0,"memo":`` occurs once, since a ``"`` inside a JSON string is
    always escaped."""
    text = canonical_entry(id=0, **fields)
    head, sep, tail = text.partition(',"id":0,"memo":')
    return head + ',"id":', ',"memo":' + tail


def detail_digest(lines: Iterable[tuple[str, str, int, str, int | None]]) -> str:
    """sha256 of an entry's posting detail, one ``account⇥commodity⇥minor units⇥kind⇥engagement``
    line per detail line in line order. Amounts are integer minor units (exact, no formatting), so
    hashing 80,000 lines costs a few tens of milliseconds."""
    h = hashlib.sha256()
    h.update("\n".join(f"{a}\t{c}\t{m}\t{k}\t{'' if e is None else e}" for a, c, m, k, e in lines).encode("utf-8"))
    return h.hexdigest()


def check_detail(legs: Sequence[Leg], detail: Sequence[tuple[str, str, int, str, int | None]],
                 field: str = "detail") -> None:
    """Refuse posting detail that does not sum, per (account, commodity, kind), to the legs with
    that account, commodity and kind (``detail`` lines are ``(account, commodity, minor units,
    kind, engagement_id)``)."""
    malformed = ValidationError("detail lines need a kind such as 'practice', integer minor units and an "
                                "engagement id or None", {field: ["malformed detail line"]})
    sums: dict[tuple[str, str, str], int] = defaultdict(int)
    for a, c, m, k, e in detail:  # one pass: a close sends tens of thousands of lines
        if type(m) is not int or not (e is None or type(e) is int):
            raise malformed
        sums[(a, c, k)] += m
    if not all(isinstance(k, str) and KIND_RE.match(k) for _a, _c, k in sums):
        raise malformed
    legs_sum: dict[tuple[str, str, str], int] = defaultdict(int)
    for leg in legs:
        key = (leg.account, leg.commodity, leg.kind)
        if key in sums:
            legs_sum[key] += to_minor(leg.amount, leg.commodity)
    wrong = sorted(f"{a} {c} {k}" for (a, c, k), m in sums.items() if legs_sum.get((a, c, k), 0) != m)
    if wrong:
        raise ValidationError(f"the detail does not sum to its postings: {', '.join(wrong[:5])}",
                              {field: [f"does not sum to the postings of {w}" for w in wrong[:20]]})


def chain_hash(prev_hash: str, canonical: str) -> str:
    """``sha256(previous hash ‖ canonical entry)`` as hex."""
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()
