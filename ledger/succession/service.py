"""Retirement: scheduled by a passed proposal, carried out by the close of its effective period.

Once the vote passes (``schedule_retirement``), the retiree's capital takes nothing dated after the
effective period, and they originate, own or succeed to nothing more. Their period's close first
allocates the period as usual (the retiree still shares in it); then, in the same transaction
(``on_close``, called by ``partnership.close``), every retirement effective in the period is settled
as one set (CONTRACT §7; the arithmetic is ``core.succession``):
1. every practice a retiree owns moves from the next period: to the named successor, else pro rata
   to the owners who stay; one nobody would hold refuses the close (409, naming it);
2. unvested units are forfeited and vested units redeemed (``UNITS`` entries);
3. each capital balance as of the period's last day moves to ``Liabilities:Buyout:<P>`` (a
   ``buyout`` line), each goodwill is charged to the capital of the partners who stay by the
   split rule with the period's pool basis (``goodwill`` lines, one split per retiree), and the
   partners are marked ``retired``.
Each later close pays one installment (Dr the liability, Cr cash) until the buyout is paid.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from decimal import Decimal

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from ledger.core import chart
from ledger.core import periods as P
from ledger.core.entries import Leg
from ledger.core.errors import NotFound
from ledger.core.money import ZERO, fmt
from ledger.core.succession import goodwill, goodwill_charges, installments, reassign
from ledger.db import clock_of
from ledger.equity.service import post_retirement_units, vested_units_by_partner
from ledger.journal.balances import balance
from ledger.journal.models import Account, Entry, Posting
from ledger.journal.service import EntrySpec, close_account, ensure_account, post_entries
from ledger.practices.models import Ownership, Partner, Practice
from ledger.practices.service import get_partner, get_partnership
from ledger.succession.models import Retirement


def schedule_retirement(session: Session, proposal, data: dict) -> str:
    """A passed ``retire_partner``: the retirement waits for its period's close. From now on the
    retiree's capital takes nothing dated after the effective period (the journal refuses it), and
    they may originate no engagement, nor be made an owner or a successor."""
    ps = get_partnership(session)
    partner = get_partner(session, data["partner"])
    session.add(Retirement(partner_id=partner.id, proposal_id=proposal.id, effective_period=data["effective_period"],
                           successors=json.dumps(data.get("successors", {}), sort_keys=True),
                           status="scheduled", installments=ps.installments))
    partner.leaves_on = P.bounds(data["effective_period"], ps.period_kind)[1]
    close_account(session, chart.capital(partner.code), partner.leaves_on)
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


def _move_practices(session: Session, retirements: list[Retirement], next_pid: str) -> None:
    """Every practice a retiree owns moves from ``next_pid`` (``core.succession.reassign``), for the
    whole set of this period's retirees at once; a practice nobody would hold refuses the close."""
    leaving = {r.partner_id for r in retirements}
    partners = {p.id: p for p in session.scalars(select(Partner))}
    by_code = {p.code: p for p in partners.values()}
    named: dict[str, dict[str, str]] = defaultdict(dict)  # practice → {retiree code: successor code}
    for r in retirements:
        for practice, successor in json.loads(r.successors).items():
            named[practice][r.partner.code] = successor
    current = list(session.scalars(select(Ownership).where(Ownership.to_period.is_(None))))
    by_practice: dict[int, list[Ownership]] = defaultdict(list)
    for row in current:
        by_practice[row.practice_id].append(row)
    practices = {p.id: p.code for p in session.scalars(select(Practice))}
    for practice_id, rows in sorted(by_practice.items()):
        if not any(row.partner_id in leaving for row in rows):
            continue
        code = practices[practice_id]
        owners = {partners[row.partner_id].code: row.share for row in rows}
        held = reassign(code, owners, {partners[i].code for i in leaving}, named.get(code, {}))
        for row in rows:
            row.to_period = next_pid
        for partner_code, share in held.items():
            session.add(Ownership(practice_id=practice_id, partner_id=by_code[partner_code].id, share=share,
                                  from_period=next_pid, to_period=None))
    session.flush()


def _stayers(session: Session, leaving: set[int], pool_basis: str, end: dt.date) -> list[tuple[str, Decimal]]:
    """The active partners who stay, with the goodwill weights of the period's pool basis."""
    stay = list(session.scalars(select(Partner).where(Partner.status == "active").order_by(Partner.code)))
    stay = [p for p in stay if p.id not in leaving]
    if pool_basis == "equal":
        return [(p.code, Decimal(1)) for p in stay]
    units = vested_units_by_partner(session, end)
    return [(p.code, Decimal(units[p.code])) for p in stay]


def _settle(session: Session, retirements: list[Retirement], pid: str, end: dt.date, pool_basis: str) -> None:
    """Carry out every retirement effective in ``pid`` as one set (``core.succession``): each
    buyout from the retiree's own capital (as of ``end``) and allocations, computed before any
    goodwill is charged; each goodwill split over the partners who stay."""
    ps = get_partnership(session)
    currency = ps.currency
    retirements = sorted(retirements, key=lambda r: r.partner.code)
    leaving = {r.partner_id for r in retirements}
    _move_practices(session, retirements, P.next_period(pid, ps.period_kind))
    first = P.period_id(ps.starts_on, ps.period_kind)
    history = P.periods_between(first, pid, ps.period_kind)[-ps.lookback_periods:]
    capitals = {r.partner.code: -balance(session, chart.capital(r.partner.code), currency, as_of=end)
                for r in retirements}
    goodwills = {r.partner.code: goodwill(ps.goodwill_multiple,
                                          allocations_by_period(session, r.partner.code, history, ps.period_kind),
                                          currency)
                 for r in retirements}
    charges = goodwill_charges(goodwills, _stayers(session, leaving, pool_basis, end), currency)
    specs = []
    for r in retirements:
        partner, code = r.partner, r.partner.code
        post_retirement_units(session, code, end)  # forfeit unvested, redeem vested (UNITS)
        liability = chart.buyout(code)
        ensure_account(session, liability, [currency], end)
        capital, gw = capitals[code], goodwills[code]
        if capital:
            specs.append(EntrySpec(end, f"Buyout of {partner.name}: capital {fmt(capital, currency)} as of "
                                   f"{end.isoformat()} moves to the buyout liability",
                                   [Leg(chart.capital(code), capital, currency, kind="buyout"),
                                    Leg(liability, -capital, currency)], "retirement", code))
        if gw:
            legs = [Leg(chart.capital(other), amount, currency, kind="goodwill")
                    for other, amount in charges[code] if amount]
            legs.append(Leg(liability, -gw, currency))
            specs.append(EntrySpec(end, f"Buyout of {partner.name}: goodwill {fmt(gw, currency)} "
                                   f"({ps.goodwill_multiple} × mean allocation over {len(history)} period(s)) "
                                   f"charged to the partners who stay", legs, "retirement", code))
        r.capital, r.goodwill = capital, gw
        r.status = "done"
        r.executed_at = clock_of(session).now()
        partner.status = "retired"
        partner.retired_on = end
    post_entries(session, specs)
    session.flush()


def _pay_installments(session: Session, pid: str, end: dt.date) -> None:
    currency = get_partnership(session).currency
    due = session.scalars(select(Retirement).where(
        Retirement.status == "done", Retirement.installments_paid < Retirement.installments,
        Retirement.effective_period < pid).order_by(Retirement.id))
    specs = []
    paying = []
    for r in due:
        amount = installments(r.total, r.installments, currency)[r.installments_paid]
        if amount:
            specs.append(EntrySpec(
                end, f"Buyout installment {r.installments_paid + 1} of {r.installments} to {r.partner.name}",
                [Leg(chart.buyout(r.partner.code), amount, currency), Leg(chart.CASH, -amount, currency)],
                "installment", r.partner.code))
        paying.append(r)
    post_entries(session, specs)
    for r in paying:
        r.installments_paid += 1
    session.flush()


def on_close(session: Session, pid: str, end: dt.date, allocation) -> None:
    """The close's succession step: pay the installments due, then settle the retirements effective
    in ``pid`` (whose last day is ``end``) as one set, after its allocation."""
    _pay_installments(session, pid, end)
    due = list(session.scalars(select(Retirement).where(Retirement.status == "scheduled",
                                                        Retirement.effective_period == pid)))
    if due:
        _settle(session, due, pid, end, allocation.policy.pool_basis)


def buyout_schedule(session: Session, partner_code: str) -> dict:
    """The retiree's buyout: capital, goodwill, total and each installment (paid or scheduled)."""
    partner = get_partner(session, partner_code)
    r = session.scalar(select(Retirement).where(Retirement.partner_id == partner.id))
    if r is None:
        raise NotFound(f"{partner_code} has no retirement", {"partner": ["not retiring"]})
    ps = get_partnership(session)
    out = {"partner": partner.code, "status": r.status, "effective_period": r.effective_period,
           "capital": fmt(r.capital, ps.currency) if r.capital is not None else None,
           "goodwill": fmt(r.goodwill, ps.currency) if r.goodwill is not None else None,
           "total": fmt(r.total, ps.currency) if r.total is not None else None, "installments": []}
    if r.total is None:
        return out
    paid = {e.id: e for e in session.scalars(select(Entry).where(
        Entry.source_type == "installment", Entry.source_ref == partner.code).order_by(Entry.id))}
    paid_entries = list(paid.values())
    pid = r.effective_period
    for n, amount in enumerate(installments(r.total, r.installments, ps.currency)):
        pid = P.next_period(pid, ps.period_kind)
        entry = paid_entries[n] if n < len(paid_entries) else None
        out["installments"].append({"number": n + 1, "period": pid, "amount": fmt(amount, ps.currency),
                                    "status": "paid" if n < r.installments_paid else "scheduled",
                                    "entry": entry.id if entry else None})
    return out


def installments_in(session: Session, partner_code: str, start: dt.date, end: dt.date) -> list[dict]:
    currency = get_partnership(session).currency
    rows = session.execute(
        select(Entry.id, Entry.date, Posting.amount).join(Posting, Posting.entry_id == Entry.id)
        .join(Account, Account.id == Posting.account_id)
        .where(Entry.source_type == "installment", Entry.source_ref == partner_code,
               Account.name == chart.buyout(partner_code), and_(Entry.date >= start, Entry.date <= end))
        .order_by(Entry.id))
    return [{"date": d.isoformat(), "amount": fmt(a, currency), "entry": i} for i, d, a in rows]


def may_hold(partner: Partner | None) -> bool:
    """Whether a partner may be made an owner or a successor: active, and not retiring (CONTRACT §7)."""
    return partner is not None and partner.status == "active" and partner.leaves_on is None


def successor_problems(session: Session, data: dict, active: dict[str, Partner]) -> list[tuple[str, str]]:
    """Why a retire_partner payload cannot apply now: ``[(field, message)]``. A practice the
    retiree owns needs a named successor only when no other owner would stay to hold it."""
    problems = []
    code = data["partner"]
    partner = active.get(code)
    if partner is None:
        return [("partner", f"{code!r} is not an active partner")]
    if partner.leaves_on is not None or session.scalar(select(Retirement.id).where(Retirement.partner_id == partner.id)):
        problems.append(("partner", f"{code} is already retiring"))
    if not [p for c, p in active.items() if c != code and p.leaves_on is None]:
        problems.append(("partner", "the last active partner cannot retire"))
    holders: dict[str, set[str]] = defaultdict(set)  # practice → who else holds it and may stay
    owned = set()
    for practice, owner in session.execute(
            select(Practice.code, Partner.code).join(Ownership, Ownership.practice_id == Practice.id)
            .join(Partner, Partner.id == Ownership.partner_id).where(Ownership.to_period.is_(None))):
        if owner == code:
            owned.add(practice)
        elif may_hold(active.get(owner)):
            holders[practice].add(owner)
    successors = data.get("successors", {})
    for practice in sorted(owned - set(successors)):
        if not holders[practice]:
            problems.append((f"successors.{practice}", f"practice {practice} needs a successor: nobody else owns it"))
    for practice, successor in sorted(successors.items()):
        if practice not in owned:
            problems.append((f"successors.{practice}", f"{code} does not own a practice {practice!r}"))
        if successor == code or not may_hold(active.get(successor)):
            problems.append((f"successors.{practice}",
                             f"{successor!r} is not an active partner who can succeed (not retiring)"))
    return problems
