"""Closing a period: gather its facts, allocate (pure), post the allocation, lock the period.

One transaction: the chain head is locked first, so no posting can slip into the period while it is
being closed, and every entry of the close, the vesting events and the period's status commit
together or not at all — a close that fails half-way leaves nothing and can simply be retried.

Entries written, all dated the period's last day, ``source_type = "close"``, ``source_ref`` the
period id, ``policy_version`` the version applied:
- one per practice with margin: Dr its revenue, Cr its direct costs (both emptied for the period),
  Cr the originator's and the owners' capital for each engagement (kinds ``origination`` and
  ``practice``, each posting tagged with its engagement, so a statement line names both the
  engagement and this entry), Cr ``Equity:Pool`` for the pool parts — one entry per practice
  rather than per engagement keeps a close of 20,000 engagements to a few dozen entries;
- one for the pool: Dr ``Equity:Pool``, Cr each overhead account, Cr each member's capital (``pool``);
- the vesting events dated in the period (``UNITS``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from .. import chart
from ..errors import Conflict, NotFound
from ..journal.models import Account, ChainHead, Entry, Posting
from ..journal.rules import Leg
from ..journal.service import EntrySpec, post_entries
from ..money import ZERO, fmt
from ..practices.models import Engagement, Ownership, Partner, Practice
from ..practices.service import get_partnership
from . import periods as P
from .allocation import Allocation, EngagementFacts, PeriodFacts, Policy, allocate
from .models import Period, PolicyVersion
from .period_service import ensure_periods, last_closed_id


def parse_period(session: Session, pid: str) -> tuple[str, dt.date, dt.date]:
    """``(id, first day, last day)``; ``NotFound`` for a malformed id or one before the start."""
    ps = get_partnership(session)
    if not P.is_period_id(pid, ps.period_kind):
        raise NotFound(f"{pid!r} is not a period id ({'2026-Q1' if ps.period_kind == 'quarter' else '2026-01'})",
                       {"period": ["malformed period id"]})
    start, end = P.bounds(pid, ps.period_kind)
    if end < ps.starts_on:
        raise NotFound(f"period {pid} is before the partnership starts", {"period": ["before the start"]})
    return pid, start, end


def oldest_open(session: Session) -> str:
    ps = get_partnership(session)
    closed = last_closed_id(session)
    return P.next_period(closed, ps.period_kind) if closed else P.period_id(ps.starts_on, ps.period_kind)


def policy_for(session: Session, pid: str) -> Policy:
    row = session.scalar(
        select(PolicyVersion).where(PolicyVersion.effective_period <= pid)
        .order_by(PolicyVersion.effective_period.desc(), PolicyVersion.version.desc()).limit(1)
    )
    return Policy(row.version, row.origination, row.practice, row.pool_basis)


def owners_in_force(session: Session, pid: str) -> dict[str, list[tuple[str, Decimal]]]:
    rows = session.execute(
        select(Practice.code, Partner.code, Ownership.share)
        .join(Ownership, Ownership.practice_id == Practice.id)
        .join(Partner, Partner.id == Ownership.partner_id)
        .where(Ownership.from_period <= pid, or_(Ownership.to_period.is_(None), Ownership.to_period > pid))
    )
    out: dict[str, list[tuple[str, Decimal]]] = defaultdict(list)
    for practice, partner, share in rows:
        out[practice].append((partner, share))
    return {k: sorted(v) for k, v in out.items()}


def pool_members(session: Session, pool_basis: str, last_day: dt.date) -> list[tuple[str, Decimal]]:
    """Active partners with their pool weight: vested units on ``last_day``, or 1 each."""
    from ..equity.service import vested_units

    partners = session.scalars(select(Partner).where(Partner.status == "active").order_by(Partner.code))
    if pool_basis == "equal":
        return [(p.code, Decimal(1)) for p in partners]
    return [(p.code, Decimal(vested_units(session, p, last_day))) for p in partners]


def gather(session: Session, pid: str) -> PeriodFacts:
    """The period's facts from the ledger: engagement revenue and direct costs, overhead, owners,
    policy and pool weights. Close entries are excluded (they empty these same accounts)."""
    pid, start, end = parse_period(session, pid)
    in_period = and_(Entry.date >= start, Entry.date <= end, Entry.source_type != "close")
    # One grouped query joined to the engagements (no IN list of ids, which SQLite caps at
    # 32,766 parameters): each engagement's revenue and direct-cost postings in the period.
    eng_rows = session.execute(
        select(Engagement.id, Engagement.ref, Practice.code, Partner.code, Account.name,
               func.sum(Posting.amount))
        .join(Entry, Entry.id == Posting.entry_id)
        .join(Account, Account.id == Posting.account_id)
        .join(Engagement, Engagement.id == Posting.engagement_id)
        .join(Practice, Practice.id == Engagement.practice_id)
        .join(Partner, Partner.id == Engagement.originator_id)
        .where(in_period, or_(Account.name.like("Income:Practice:%"), Account.name.like("Expenses:Direct:%")))
        .group_by(Engagement.id, Engagement.ref, Practice.code, Partner.code, Account.name)
    )
    money: dict[tuple[int, str, str, str], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for eng_id, ref, practice, originator, account, total in eng_rows:
        if account.startswith("Income:"):
            money[(eng_id, ref, practice, originator)][0] -= total
        else:
            money[(eng_id, ref, practice, originator)][1] += total
    engagements = [EngagementFacts(eng_id, ref, practice, originator, invoiced, costs)
                   for (eng_id, ref, practice, originator), (invoiced, costs) in sorted(money.items())
                   if invoiced or costs]
    overhead_rows = session.execute(
        select(Account.name, func.sum(Posting.amount))
        .join(Entry, Entry.id == Posting.entry_id)
        .join(Account, Account.id == Posting.account_id)
        .where(in_period, Account.name.like("Expenses:Overhead:%"))
        .group_by(Account.name).order_by(Account.name)
    )
    overhead = [(name, total) for name, total in overhead_rows if total]
    policy = policy_for(session, pid)
    return PeriodFacts(
        period=pid, policy=policy, engagements=engagements, owners=owners_in_force(session, pid),
        overhead=overhead, pool_members=pool_members(session, policy.pool_basis, end),
    )


def preview(session: Session, pid: str) -> Allocation:
    return allocate(gather(session, pid))


def _practice_entry(pid: str, end: dt.date, practice: str, eas: list, version: int) -> EntrySpec | None:
    """One practice's close entry: its revenue and direct costs emptied (Dr revenue, Cr costs, in
    total), each engagement's origination and practice shares credited to the partners' capital
    (tagged with the engagement and the kind), and the pool parts credited to ``Equity:Pool``."""
    invoiced = sum((ea.facts.invoiced for ea in eas), ZERO)
    costs = sum((ea.facts.costs for ea in eas), ZERO)
    pool = sum((ea.pool for ea in eas), ZERO)
    legs = [Leg(chart.revenue(practice), invoiced), Leg(chart.direct_costs(practice), -costs)]
    for ea in eas:
        eng = ea.facts.engagement_id
        legs.append(Leg(chart.capital(ea.origination.partner), -ea.origination.amount, kind="origination",
                        engagement_id=eng))
        legs.extend(Leg(chart.capital(s.partner), -s.amount, kind="practice", engagement_id=eng)
                    for s in ea.practice)
    legs.append(Leg(chart.POOL, -pool))
    legs = [leg for leg in legs if leg.amount != 0]
    if not legs:
        return None
    memo = (f"Close {pid}: practice {practice}, {len(eas)} engagement(s), net margin {fmt(invoiced - costs)} "
            f"(invoiced {fmt(invoiced)}, costs {fmt(costs)}) under policy v{version}")
    return EntrySpec(end, memo, legs, "close", pid, version)


def close_period(session: Session, pid: str, progress: Callable[[int, int], None] | None = None) -> Period:
    """Close ``pid``, which must be the oldest open period; 409 for any other well-formed id."""
    pid, start, end = parse_period(session, pid)
    session.execute(select(ChainHead).where(ChainHead.id == 1).with_for_update()).scalar_one()
    expected = oldest_open(session)
    if pid != expected:
        state = "already closed" if pid < expected else "not the oldest open period"
        raise Conflict(f"period {pid} cannot be closed: it is {state}; the next to close is {expected}",
                       {"period": [state]})
    ensure_periods(session, pid)
    facts = gather(session, pid)
    allocation = allocate(facts)
    version = facts.policy.version
    by_practice: dict[str, list] = defaultdict(list)
    for ea in allocation.engagements:
        by_practice[ea.facts.practice].append(ea)
    specs = [s for practice, eas in sorted(by_practice.items())
             if (s := _practice_entry(pid, end, practice, eas, version))]
    pool_legs = [Leg(chart.POOL, allocation.pool_gross)]
    pool_legs += [Leg(account, -amount) for account, amount in facts.overhead]
    pool_legs += [Leg(chart.capital(s.partner), -s.amount, kind="pool") for s in allocation.pool_shares]
    pool_legs = [leg for leg in pool_legs if leg.amount != 0]
    if pool_legs:
        memo = (f"Close {pid}: common pool {fmt(allocation.pool_gross)} less overhead "
                f"{fmt(allocation.overhead)} = {fmt(allocation.pool_net)}, by {facts.policy.pool_basis} "
                f"under policy v{version}")
        specs.append(EntrySpec(end, memo, pool_legs, "close", pid, version))
    for i, spec in enumerate(specs):
        post_entries(session, [spec])
        if progress:
            progress(i + 1, len(specs))
    from ..equity.service import post_vesting_events

    post_vesting_events(session, start, end)
    period = session.get(Period, pid)
    # Succession runs after the allocation and vesting, in the same transaction: installments due,
    # then the retirements effective this period.
    from ..succession.service import on_close

    on_close(session, period, allocation)
    from ..journal.service import snapshot_balances

    snapshot_balances(session, pid, end)
    period.status = "closed"
    period.closed_at = dt.datetime.now(dt.UTC)
    period.policy_version = version
    session.flush()
    ensure_periods(session, P.next_period(pid, get_partnership(session).period_kind))
    return period
