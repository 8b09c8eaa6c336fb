"""Retirement: scheduled by a passed proposal, carried out by the close of its effective period.

That close first allocates the period as usual (the retiring partner still shares in it); then,
in the same transaction (``on_close``, called by ``partnership.close``):
1. each practice ownership share of the retiree moves to the named successor from the next period;
2. unvested units are forfeited and vested units redeemed (``UNITS`` entries);
3. the capital balance moves to ``Liabilities:Buyout:<P>`` (a ``buyout`` line), goodwill is
   charged to the remaining partners' capital by the split rule with the period's pool basis
   (``goodwill`` lines), and the partner is marked ``retired``.
Each later close pays one installment (Dr the liability, Cr cash) until the buyout is paid.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from ledger.core import chart
from ledger.core import periods as P
from ledger.core.entries import Leg
from ledger.core.errors import NotFound
from ledger.core.money import ZERO, fmt, split
from ledger.core.succession import goodwill, installments
from ledger.db import clock_of
from ledger.equity.service import post_retirement_units, vested_units
from ledger.journal.balances import balance
from ledger.journal.models import Account, Entry, Posting
from ledger.journal.service import EntrySpec, ensure_account, post_entries
from ledger.practices.models import Ownership, Partner, Practice
from ledger.practices.service import get_partner, get_partnership
from ledger.succession.models import Retirement


def schedule_retirement(session: Session, proposal, data: dict) -> str:
    ps = get_partnership(session)
    partner = get_partner(session, data["partner"])
    session.add(Retirement(partner_id=partner.id, proposal_id=proposal.id, effective_period=data["effective_period"],
                           successors=json.dumps(data.get("successors", {}), sort_keys=True),
                           status="scheduled", installments=ps.installments))
    partner.leaves_on = P.bounds(data["effective_period"], ps.period_kind)[1]
    session.flush()
    return f"retirement:{partner.code}@{data['effective_period']}"


def allocations_by_period(session: Session, partner_code: str, periods: list[str], kind: str) -> list[Decimal]:
    """The partner's allocation (origination + practice + pool) in each of ``periods``."""
    out = []
    capital = chart.capital(partner_code)
    for pid in periods:
        start, end = P.bounds(pid, kind)
        rows = session.execute(
            select(Posting.amount).join(Entry, Entry.id == Posting.entry_id)
            .join(Account, Account.id == Posting.account_id)
            .where(Account.name == capital, Entry.date >= start, Entry.date <= end,
                   Posting.kind.in_(("origination", "practice", "pool")))
        )
        out.append(-sum((a for (a,) in rows), ZERO))
    return out


def _move_ownership(session: Session, r: Retirement, next_pid: str) -> None:
    successors = json.loads(r.successors)
    partners = {p.code: p for p in session.scalars(select(Partner))}
    for practice_code, successor in sorted(successors.items()):
        practice = session.scalar(select(Practice).where(Practice.code == practice_code))
        current = list(session.scalars(select(Ownership).where(
            Ownership.practice_id == practice.id, Ownership.to_period.is_(None))))
        shares: dict[int, Decimal] = {}
        for row in current:
            target = partners[successor].id if row.partner_id == r.partner_id else row.partner_id
            shares[target] = shares.get(target, ZERO) + row.share
            row.to_period = next_pid
        for partner_id, share in sorted(shares.items()):
            session.add(Ownership(practice_id=practice.id, partner_id=partner_id, share=share,
                                  from_period=next_pid, to_period=None))
    session.flush()


def _retire(session: Session, r: Retirement, pid: str, end: dt.date, pool_basis: str) -> None:
    ps = get_partnership(session)
    partner = r.partner
    code = partner.code
    _move_ownership(session, r, P.next_period(pid, ps.period_kind))
    post_retirement_units(session, code, end)  # forfeit unvested, redeem vested (UNITS)
    specs = []
    capital = -balance(session, chart.capital(code), ps.currency)
    first = P.period_id(ps.starts_on, ps.period_kind)
    history = P.periods_between(first, pid, ps.period_kind)[-ps.lookback_periods:]
    gw = goodwill(ps.goodwill_multiple, allocations_by_period(session, code, history, ps.period_kind))
    liability = chart.buyout(code)
    ensure_account(session, liability, [ps.currency], end)
    if capital:
        specs.append(EntrySpec(end, f"Buyout of {partner.name}: capital {fmt(capital)} moves to the buyout liability",
                               [Leg(chart.capital(code), capital, kind="buyout"), Leg(liability, -capital)],
                               "retirement", code))
    if gw:
        others = list(session.scalars(select(Partner).where(Partner.status == "active", Partner.id != partner.id)
                                      .order_by(Partner.code)))
        weights = [Decimal(1) if pool_basis == "equal" else Decimal(vested_units(session, p, end)) for p in others]
        if not any(weights):
            weights = [Decimal(1)] * len(others)
        shares = split(gw, weights)
        legs = [Leg(chart.capital(p.code), amt, kind="goodwill") for p, amt in zip(others, shares, strict=True) if amt]
        legs.append(Leg(liability, -gw))
        specs.append(EntrySpec(end, f"Buyout of {partner.name}: goodwill {fmt(gw)} ({ps.goodwill_multiple} × mean "
                               f"allocation over {len(history)} period(s)) charged to the remaining partners",
                               legs, "retirement", code))
    post_entries(session, specs)
    r.capital, r.goodwill = capital, gw
    r.status = "done"
    r.executed_at = clock_of(session).now()
    partner.status = "retired"
    partner.retired_on = end
    session.flush()


def _pay_installments(session: Session, pid: str, end: dt.date) -> None:
    due = session.scalars(select(Retirement).where(
        Retirement.status == "done", Retirement.installments_paid < Retirement.installments,
        Retirement.effective_period < pid).order_by(Retirement.id))
    specs = []
    paying = []
    for r in due:
        amount = installments(r.total, r.installments)[r.installments_paid]
        if amount:
            specs.append(EntrySpec(
                end, f"Buyout installment {r.installments_paid + 1} of {r.installments} to {r.partner.name}",
                [Leg(chart.buyout(r.partner.code), amount), Leg(chart.CASH, -amount)],
                "installment", r.partner.code))
        paying.append(r)
    post_entries(session, specs)
    for r in paying:
        r.installments_paid += 1
    session.flush()


def on_close(session: Session, pid: str, end: dt.date, allocation) -> None:
    """The close's succession step: pay the installments due, then carry out the retirements
    effective in ``pid`` (whose last day is ``end``), after its allocation."""
    _pay_installments(session, pid, end)
    for r in session.scalars(select(Retirement).where(Retirement.status == "scheduled",
                                                      Retirement.effective_period == pid)):
        _retire(session, r, pid, end, allocation.policy.pool_basis)


def buyout_schedule(session: Session, partner_code: str) -> dict:
    """The retiree's buyout: capital, goodwill, total and each installment (paid or scheduled)."""
    partner = get_partner(session, partner_code)
    r = session.scalar(select(Retirement).where(Retirement.partner_id == partner.id))
    if r is None:
        raise NotFound(f"{partner_code} has no retirement", {"partner": ["not retiring"]})
    ps = get_partnership(session)
    out = {"partner": partner.code, "status": r.status, "effective_period": r.effective_period,
           "capital": fmt(r.capital) if r.capital is not None else None,
           "goodwill": fmt(r.goodwill) if r.goodwill is not None else None,
           "total": fmt(r.total) if r.total is not None else None, "installments": []}
    if r.total is None:
        return out
    paid = {e.id: e for e in session.scalars(select(Entry).where(
        Entry.source_type == "installment", Entry.source_ref == partner.code).order_by(Entry.id))}
    paid_entries = list(paid.values())
    pid = r.effective_period
    for n, amount in enumerate(installments(r.total, r.installments)):
        pid = P.next_period(pid, ps.period_kind)
        entry = paid_entries[n] if n < len(paid_entries) else None
        out["installments"].append({"number": n + 1, "period": pid, "amount": fmt(amount),
                                    "status": "paid" if n < r.installments_paid else "scheduled",
                                    "entry": entry.id if entry else None})
    return out


def installments_in(session: Session, partner_code: str, start: dt.date, end: dt.date) -> list[dict]:
    rows = session.execute(
        select(Entry.id, Entry.date, Posting.amount).join(Posting, Posting.entry_id == Entry.id)
        .join(Account, Account.id == Posting.account_id)
        .where(Entry.source_type == "installment", Entry.source_ref == partner_code,
               Account.name == chart.buyout(partner_code), and_(Entry.date >= start, Entry.date <= end))
        .order_by(Entry.id))
    return [{"date": d.isoformat(), "amount": fmt(a), "entry": i} for i, d, a in rows]


def successor_problems(session, data: dict, active: dict) -> list[tuple[str, str]]:
    """Why a retire_partner payload cannot apply now: ``[(field, message)]``."""
    problems = []
    code = data["partner"]
    partner = active.get(code)
    if partner is None:
        return [("partner", f"{code!r} is not an active partner")]
    if len(active) < 2:
        problems.append(("partner", "the last active partner cannot retire"))
    if session.scalar(select(Retirement.id).where(Retirement.partner_id == partner.id)):
        problems.append(("partner", f"{code} is already retiring"))
    owned = set(session.scalars(
        select(Practice.code).join(Ownership, Ownership.practice_id == Practice.id)
        .where(Ownership.partner_id == partner.id, Ownership.to_period.is_(None))))
    successors = data.get("successors", {})
    for practice in sorted(owned - set(successors)):
        problems.append((f"successors.{practice}", f"practice {practice} needs a successor"))
    for practice, successor in sorted(successors.items()):
        if practice not in owned:
            problems.append((f"successors.{practice}", f"{code} does not own a practice {practice!r}"))
        if successor == code or successor not in active:
            problems.append((f"successors.{practice}", f"{successor!r} is not an active partner who can succeed"))
    return problems
