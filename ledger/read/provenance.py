"""Why a figure is what it is (CONTRACT §8): the policy versions and the votes behind them, and one
statement line explained down to the engagement, the split and its weights.

- ``policies``: every policy version with its shares, basis, first period and the proposal that made
  it (``None`` for the charter's).
- ``explain``: one line of a partner's statement (``lines[n]``, counted from 0), with the chain
  behind it. A line of a closed period is replayed by the same pure allocation the close ran
  (``revenue.close.gather`` → ``core.allocation.allocate``: the facts of a closed period can no
  longer change), so the explanation gives the very amounts the close posted. The viewer reads
  the weights of every sharer only where ``core.access`` lets them see those partners' money
  (the treasurer, or open books); otherwise their own weight and the total.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core import chart
from ledger.core import periods as P
from ledger.core.access import Viewer, sees_capital_of
from ledger.core.allocation import Allocation, EngagementAllocation, allocate
from ledger.core.errors import NotFound
from ledger.core.money import fmt, format_percent
from ledger.governance.models import Proposal
from ledger.journal.models import Account, Entry, Posting
from ledger.journal.periods import get_books
from ledger.practices.models import Cost, Engagement
from ledger.practices.service import get_partnership
from ledger.read.proposals import describe
from ledger.read.statements import ALLOCATION_KINDS, read_statement
from ledger.revenue.close import gather
from ledger.revenue.models import PolicyVersion


def _proposal(session: Session, proposal_id: int | None) -> dict | None:
    if proposal_id is None:
        return None
    proposal = session.get(Proposal, proposal_id)
    if proposal is None:
        return None
    d = describe(session, proposal)
    return {"id": d["id"], "title": d["title"], "status": d["status"], "closed_at": d["closed_at"],
            "tally": d["tally"]}


def policy_view(session: Session, row: PolicyVersion, with_proposal: bool = False) -> dict:
    out = {"version": row.version, "origination": format_percent(row.origination),
           "practice": format_percent(row.practice), "pool": format_percent(1 - row.origination - row.practice),
           "pool_basis": row.pool_basis, "effective_period": row.effective_period, "proposal": row.proposal_id}
    if with_proposal:
        out["proposal_detail"] = _proposal(session, row.proposal_id)
    return out


def policies(session: Session) -> list[dict]:
    """Every policy version, oldest first (``GET /policies``)."""
    return [policy_view(session, row) for row in session.scalars(select(PolicyVersion).order_by(PolicyVersion.version))]


def _engagement_money(session: Session, engagement_id: int, start: dt.date, end: dt.date, currency: str) -> dict:
    """The invoices and costs that made an engagement's net in the period (close entries aside)."""
    rows = session.execute(
        select(Entry.id, Entry.date, Entry.source_type, Entry.memo, Account.name, Posting.amount, Cost.kind)
        .join(Posting, Posting.entry_id == Entry.id).join(Account, Account.id == Posting.account_id)
        .outerjoin(Cost, Cost.entry_id == Entry.id)
        .where(Posting.engagement_id == engagement_id, Entry.date >= start, Entry.date <= end,
               Entry.source_type != "close")
        .where(Account.name.like("Income:%") | Account.name.like("Expenses:%"))
        .order_by(Entry.id)).all()
    invoices = [{"entry": i, "date": d.isoformat(), "memo": memo, "amount": fmt(-amount, currency)}
                for i, d, _s, memo, name, amount, _k in rows if name.startswith("Income:")]
    costs = [{"entry": i, "date": d.isoformat(), "memo": memo, "amount": fmt(amount, currency), "kind": kind}
             for i, d, _s, memo, name, amount, kind in rows if name.startswith("Expenses:")]
    return {"invoice_entries": invoices, "cost_entries": costs}


def _weights(viewer: Viewer, partner: str, pairs: list[tuple[str, Decimal]], open_books: bool, label) -> dict:
    """Every sharer's weight where the viewer may see them all, else the partner's own and the total."""
    total = sum((w for _, w in pairs), Decimal(0))
    if all(sees_capital_of(viewer, code, open_books) for code, _ in pairs):
        return {"weights": [{"partner": code, label: str(w)} for code, w in pairs], "total": str(total)}
    own = next((w for code, w in pairs if code == partner), Decimal(0))
    return {"weights": [{"partner": partner, label: str(own)}], "total": str(total),
            "others": "the other partners' weights are theirs to see (the books are not open)"}


def _find(allocation: Allocation, ref: str) -> EngagementAllocation | None:
    return next((e for e in allocation.engagements if e.facts.ref == ref), None)


def explain(session: Session, viewer: Viewer, code: str, period: str, n: int) -> dict:
    """Line ``n`` of ``code``'s statement for ``period`` and the chain behind it (module docstring)."""
    st = read_statement(session, viewer, code, period)
    if not 0 <= n < len(st["lines"]):
        raise NotFound(f"the statement has {len(st['lines'])} line(s); there is no line {n}",
                       {"line": [f"from 0 to {len(st['lines']) - 1}"]})
    line = st["lines"][n]
    entry = session.get(Entry, line["entry"])
    out = {"partner": code, "period": st["period"], "line_number": n, "line": line,
           "entry": {"id": entry.id, "date": entry.date.isoformat(), "memo": entry.memo,
                     "source_type": entry.source_type, "source_ref": entry.source_ref},
           "engagement": None, "split": None, "policy": None, "proposal": None}
    if line["kind"] not in ALLOCATION_KINDS or entry.source_type != "close":
        out["note"] = (f"a {line['kind']} line is not an allocation: it is the entry above, as it was booked "
                       "or as the rule that made it posted it")
        return out
    books = get_books(session)
    currency = books.currency
    pid = P.period_id(entry.date, books.period_kind)
    start, end = P.bounds(pid, books.period_kind)
    facts = gather(session, pid)
    allocation = allocate(facts)
    policy_row = session.get(PolicyVersion, entry.policy_version)
    out["policy"] = policy_view(session, policy_row)
    out["proposal"] = _proposal(session, policy_row.proposal_id)
    open_books = get_partnership(session).open_books
    money = lambda amount: fmt(amount, currency)  # noqa: E731 - a local shorthand
    if line["kind"] in ("origination", "practice"):
        ea = _find(allocation, line["engagement"])
        engagement = session.scalar(select(Engagement).where(Engagement.ref == line["engagement"]))
        out["engagement"] = {"ref": engagement.ref, "title": engagement.title, "practice": engagement.practice.code,
                             "originator": engagement.originator.code, "client": engagement.client.code,
                             "invoiced": money(ea.facts.invoiced), "costs": money(ea.facts.costs),
                             "net_margin": money(ea.facts.net),
                             **_engagement_money(session, engagement.id, start, end, currency)}
        practice_total = sum((s.amount for s in ea.practice), Decimal(0))
        split = {"step": "origination, practice, pool: one split of the net margin",
                 "weights": {"origination": format_percent(facts.policy.origination),
                             "practice": format_percent(facts.policy.practice),
                             "pool": format_percent(facts.policy.pool)},
                 "amounts": {"origination": money(ea.origination.amount), "practice": money(practice_total),
                             "pool": money(ea.pool)}}
        if line["kind"] == "practice":
            owners = list(facts.owners.get(ea.facts.practice, ()))
            split["owners"] = {"step": f"the practice share split among {ea.facts.practice}'s owners by ownership",
                               **_weights(viewer, code, [(c, share) for c, share in owners], open_books, "share")}
            split["owners"]["amount"] = line["amount"]
        elif ea.facts.originator in facts.retired:
            split["note"] = "the originator had retired: the origination share went to the pool"
        out["split"] = split
    else:  # pool
        members = list(facts.pool_members)
        basis = allocation.pool_basis_applied
        out["split"] = {
            "step": f"the common pool split among the active partners by {basis}",
            "pool_gross": money(allocation.pool_gross), "unattributed": money(allocation.unattributed),
            "overhead": money(allocation.overhead), "pool_net": money(allocation.pool_net),
            "basis": basis, **_weights(viewer, code, members if basis != "equal" else
                                       [(c, Decimal(1)) for c, _ in members], open_books, "weight"),
            "amount": line["amount"]}
    out["capital_account"] = chart.capital(code)
    return out
