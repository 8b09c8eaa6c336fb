"""What a policy vote would change (CONTRACT §8): the last N closed periods replayed under a
``change_policy`` proposal's policy, posting nothing.

``actual`` is what the closes of those periods allocated to each partner (origination + practice
+ pool, read from the capital postings they made); ``proposed`` is what the same facts allocate
under the proposed policy, by the close's own rule with the same rounding: each engagement's net
summed by the database from the engagement month totals and the overhead and unattributed amounts
read off the close's own entries (``revenue.close.closed_period_inputs``: two queries for all the
periods, no scan of their postings), the rest of the period's facts as the close gathers them, and ``core.allocation.allocate_totals`` — ``allocate`` summed per partner
without an object per engagement (a hypothesis property holds the two equal to the cent), so
twelve twenty-thousand-engagement months replay in well under the 2 s the contract allows
(bench/impact_bench.py). A closed period's facts no longer change, so the replay is exact.
With closed books a partner reads their own row and the totals (``core.access``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.core import chart
from ledger.core import periods as P
from ledger.core.access import Viewer, sees_capital_of
from ledger.core.allocation import Policy, allocate_totals
from ledger.core.errors import Conflict, ValidationError
from ledger.core.money import ZERO, fmt, from_minor, parse_percent
from ledger.governance.service import get_proposal
from ledger.journal.models import Account, Entry, Period, Posting
from ledger.journal.periods import get_books
from ledger.practices.models import Partner
from ledger.practices.service import get_partnership
from ledger.read.statements import ALLOCATION_KINDS
from ledger.revenue.close import closed_period_inputs, gather_context

MAX_PERIODS = 12


def _actual(session: Session, periods: list[str], kind: str) -> dict[str, Decimal]:
    """What the closes of ``periods`` allocated to each partner, from their capital postings."""
    if not periods:
        return {}
    start = P.bounds(periods[0], kind)[0]
    end = P.bounds(periods[-1], kind)[1]
    names = {chart.capital(code): code for code in session.scalars(select(Partner.code))}
    rows = session.execute(
        select(Account.name, func.sum(Posting.amount)).join(Posting, Posting.account_id == Account.id)
        .join(Entry, Entry.id == Posting.entry_id)
        .where(Account.name.like("Equity:Capital:%"), Posting.kind.in_(ALLOCATION_KINDS),
               Entry.source_type == "close", Entry.date >= start, Entry.date <= end)
        .group_by(Account.name))
    return {names[name]: -total for name, total in rows if name in names}


def impact(session: Session, viewer: Viewer, proposal_id: int, periods: int = 4) -> dict:
    """``{periods, partners: [{code, actual, proposed, delta}], totals: {actual, proposed, delta}}``."""
    if not isinstance(periods, int) or not 1 <= periods <= MAX_PERIODS:
        raise ValidationError(f"periods is from 1 to {MAX_PERIODS}", {"periods": [f"from 1 to {MAX_PERIODS}"]})
    proposal = get_proposal(session, proposal_id)
    if proposal.kind != "change_policy":
        raise Conflict(f"proposal {proposal.id} is a {proposal.kind}: only a change_policy has an impact to preview",
                       {"proposal": ["not a change_policy"]})
    payload = json.loads(proposal.payload)
    proposed_policy = Policy(0, parse_percent(payload["origination"]), parse_percent(payload["practice"]),
                             payload["pool_basis"])
    books = get_books(session)
    currency = books.currency
    closed = list(reversed(session.scalars(select(Period.id).where(Period.status == "closed")
                                           .order_by(Period.id.desc()).limit(periods)).all()))
    actual = _actual(session, closed, books.period_kind)
    proposed_minor: dict[str, int] = defaultdict(int)
    inputs = closed_period_inputs(session, closed)
    for pid in closed:
        facts = gather_context(session, pid, inputs[pid])
        proposed_facts = replace(facts, policy=replace(proposed_policy, version=facts.policy.version))
        for (code, _kind), minor in allocate_totals(proposed_facts, inputs[pid].nets).items():
            proposed_minor[code] += minor
    proposed = {code: from_minor(minor, currency) for code, minor in proposed_minor.items()}
    codes = sorted(set(actual) | set(proposed))
    open_books = get_partnership(session).open_books
    rows = [{"code": code, "actual": fmt(actual.get(code, ZERO), currency),
             "proposed": fmt(proposed.get(code, ZERO), currency),
             "delta": fmt(proposed.get(code, ZERO) - actual.get(code, ZERO), currency)}
            for code in codes if sees_capital_of(viewer, code, open_books)]
    total_actual = sum(actual.values(), ZERO)
    total_proposed = sum(proposed.values(), ZERO)
    return {"proposal": proposal.id, "periods": closed, "currency": currency,
            "policy": {"origination": payload["origination"], "practice": payload["practice"],
                       "pool_basis": payload["pool_basis"]},
            "partners": rows,
            "totals": {"actual": fmt(total_actual, currency), "proposed": fmt(total_proposed, currency),
                       "delta": fmt(total_proposed - total_actual, currency)}}
