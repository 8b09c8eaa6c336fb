"""A period's sharing: gather its facts from the ledger, allocate them (the pure
``core.allocation.allocate``), post the allocation. The close (``ledger.partnership.close``) runs
this first, under the chain's lock, then the vesting, the succession and the snapshot.

Entries written, all dated the period's last day, ``source_type = "close"``, ``source_ref`` the
period id, ``policy_version`` the version applied:
- one per practice with margin: Dr its revenue, Cr its direct costs (both emptied for the period),
  Cr each originator's and owner's capital once per kind (``origination``, ``practice``), Cr
  ``Equity:Pool`` for the pool parts; the capital postings are broken down by engagement in the
  entry's posting detail (one line per engagement, partner and kind, sealed and hashed with the
  entry), so a statement line names both the engagement and this entry. One entry per practice
  and one posting per partner and kind keep a close of 20,000 engagements to a few dozen entries
  and a few hundred postings, with 80,000 detail lines;
- one for the pool: Dr ``Equity:Pool``, Cr each overhead account, Cr each member's capital (``pool``);
- the vesting events dated in the period (``UNITS``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal

from sqlalchemy import BigInteger, cast, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from ledger.core import chart
from ledger.core import periods as P
from ledger.core.allocation import Allocation, EngagementFacts, PeriodFacts, Policy, allocate
from ledger.core.entries import Leg
from ledger.core.money import MAX_PLACES, MoneyError, fmt, from_minor, places
from ledger.db import stored_to_minor
from ledger.equity.service import vested_units_by_partner
from ledger.journal.models import Account, AccountMonthTotal, EngagementMonthTotal, Entry, Period, Posting
from ledger.journal.periods import get_books, parse_period
from ledger.journal.service import EntrySpec, post_entries
from ledger.practices.models import Engagement, Ownership, Partner, Practice
from ledger.revenue.models import PolicyVersion

OVERHEAD_PREFIX = "Expenses:Overhead:"


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
    """The partners active on ``last_day`` (joined by then, not retired before it: a retiree
    shares their effective period's pool) with their pool weight: vested units on ``last_day``, or
    1 each. Read from the partners' dates, not their status today, so a closed period replays as
    it closed (the impact preview, the explain view)."""
    active = session.scalars(
        select(Partner.code).where(Partner.joined_on <= last_day,
                                   or_(Partner.retired_on.is_(None), Partner.retired_on >= last_day))
        .order_by(Partner.code)).all()
    if pool_basis == "equal":
        return [(code, Decimal(1)) for code in active]
    units = vested_units_by_partner(session, last_day)  # every partner's grants in a few queries
    return [(code, Decimal(units[code])) for code in active]


def gather(session: Session, pid: str) -> PeriodFacts:
    """The period's facts from the ledger: engagement revenue and direct costs, overhead, owners,
    policy and pool weights. Close entries are excluded (they empty these same accounts)."""
    pid, start, end = parse_period(session, pid)
    revenue_ids = set(session.scalars(select(Account.id).where(Account.name.like("Income:Practice:%"))))
    cost_ids = set(session.scalars(select(Account.id).where(Account.name.like("Expenses:Direct:%"))))
    # Each engagement's revenue and direct costs in the period, from the totals the posting service
    # keeps per engagement, account and month (``EngagementMonthTotal``): a few rows per engagement
    # rather than every invoice and cost posting, read with the engagement's ref, practice and
    # originator as raw integer hundredths on the connection (the ORM's row machinery would cost
    # more than the query) and summed here — no GROUP BY, and no IN list of engagement ids, which
    # SQLite caps at 32,766 parameters. Close entries never tag revenue or costs with an engagement,
    # so they are not in these totals.
    first_month, last_month = f"{start:%Y-%m}", f"{end:%Y-%m}"
    total = EngagementMonthTotal
    currency = get_books(session).currency
    rows = session.connection().execute(
        select(total.engagement_id, Engagement.ref, Practice.code, Partner.code, total.account_id,
               type_coerce(total.balance, BigInteger))
        .join(Engagement, Engagement.id == total.engagement_id)
        .join(Practice, Practice.id == Engagement.practice_id)
        .join(Partner, Partner.id == Engagement.originator_id)
        .where(total.month >= first_month, total.month <= last_month,
               total.account_id.in_(sorted(revenue_ids | cost_ids)))
    ).all()  # one fetchall, not a fetch per row
    money: dict[tuple[int, str, str, str], list[int]] = {}
    for eng_id, ref, practice, originator, account_id, stored in rows:
        sums = money.get((eng_id, ref, practice, originator))
        if sums is None:
            sums = money[(eng_id, ref, practice, originator)] = [0, 0]
        if account_id in revenue_ids:
            sums[0] -= stored
        else:
            sums[1] += stored
    engagements = [EngagementFacts(eng_id, ref, practice, originator, stored_to_minor(invoiced, currency),
                                   stored_to_minor(costs, currency), currency)
                   for (eng_id, ref, practice, originator), (invoiced, costs) in sorted(money.items())
                   if invoiced or costs]
    return replace(gather_context(session, pid), engagements=engagements)


def gather_context(session: Session, pid: str, inputs: ClosedPeriodInputs | None = None) -> PeriodFacts:
    """The period's facts but its engagements (``engagements`` empty): policy, owners, overhead,
    unattributed net, pool members and retirees — what ``allocate_totals`` takes with the nets.
    A closed period's overhead and unattributed amounts may come from ``inputs``
    (``closed_period_inputs``) rather than from a sum of the period's postings."""
    pid, start, end = parse_period(session, pid)
    currency = get_books(session).currency
    if inputs is None:
        overhead, unattributed = _overhead_and_unattributed(session, start, end, currency)
    else:
        overhead, unattributed = inputs.overhead, inputs.unattributed
    policy = policy_for(session, pid)
    retired = frozenset(session.scalars(select(Partner.code).where(Partner.retired_on < start)))
    return PeriodFacts(
        period=pid, policy=policy, engagements=(), owners=owners_in_force(session, pid),
        overhead=overhead, pool_members=pool_members(session, policy.pool_basis, end), currency=currency,
        unattributed=unattributed, retired=retired,
    )


@dataclass(frozen=True)
class ClosedPeriodInputs:
    """What a replay of a closed period needs beyond its context: each engagement's net margin
    ``(practice, originator, minor units)``, and the overhead and unattributed amounts the close
    emptied, each ``[(account, amount)]`` (debit positive) as ``gather_context`` gives them."""

    nets: list[tuple[str, str, int]]
    overhead: list[tuple[str, Decimal]]
    unattributed: list[tuple[str, Decimal]]


def closed_period_inputs(session: Session, pids: list[str]) -> dict[str, ClosedPeriodInputs]:
    """``ClosedPeriodInputs`` of each of the closed periods ``pids``, in two queries whatever their
    number, neither of which reads a posting of the period's work:

    - the engagement month totals of the revenue and direct-cost accounts over all the periods
      (twelve twenty-thousand-engagement months are about 320,000 short rows) give each
      engagement's net and what engagements put on each of those accounts;
    - the close's own postings on ``Income:`` and ``Expenses:`` accounts (a few dozen a period):
      the close empties every such account, so what it moved is minus the period's total there.
      Overhead is what it moved on ``Expenses:Overhead:`` accounts; unattributed is, on any other
      account, that total less what engagements account for — the same figures
      ``_overhead_and_unattributed`` sums from the period's postings (a test holds them equal).

    Close entries never tag revenue or costs with an engagement, so they are not in the totals."""
    if not pids:
        return {}
    books = get_books(session)
    kind, currency = books.period_kind, books.currency
    first, last = P.bounds(min(pids), kind)[0], P.bounds(max(pids), kind)[1]
    wanted = set(pids)
    scale = 10 ** (MAX_PLACES - places(currency))
    conn = session.connection()
    names = {account_id: name for account_id, name in conn.execute(
        select(Account.id, Account.name).where(or_(Account.name.like("Income:%"), Account.name.like("Expenses:%"))))}
    work = {account_id for account_id, name in names.items()
            if name.startswith("Income:Practice:") or name.startswith("Expenses:Direct:")}
    who = {eng: (practice, originator) for eng, practice, originator in conn.execute(
        select(Engagement.id, Practice.code, Partner.code)
        .join(Practice, Practice.id == Engagement.practice_id).join(Partner, Partner.id == Engagement.originator_id))}
    total = EngagementMonthTotal
    months = (total.month >= f"{first:%Y-%m}", total.month <= f"{last:%Y-%m}", total.commodity == currency,
              total.account_id.in_(sorted(work)))
    period_of: dict[str, str | None] = {}  # month → the wanted period it falls in

    def period(month: str) -> str | None:
        if month not in period_of:
            pid = P.period_id(dt.date.fromisoformat(f"{month}-01"), kind)
            period_of[month] = pid if pid in wanted else None
        return period_of[month]

    # Each engagement's net margin and what engagements put on each account, from the month totals
    # as stored (one row per engagement, account and month; summed here, which costs less than the
    # database's GROUP BY over the same rows). Revenue is a credit (negative), direct costs a debit:
    # the net margin is minus their sum.
    nets: dict[str, dict[int, int]] = {pid: defaultdict(int) for pid in pids}
    tagged: dict[str, dict[int, int]] = {pid: defaultdict(int) for pid in pids}
    # On the driver's own cursor: plain tuples, without a result row object for each of them.
    query = select(total.month, total.engagement_id, total.account_id, type_coerce(total.balance, BigInteger)).where(*months)
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    cursor = conn.connection.driver_connection.cursor()
    try:
        if compiled.positiontup is not None:  # SQLite's qmark style
            cursor.execute(str(compiled), [compiled.params[name] for name in compiled.positiontup])
        else:
            cursor.execute(str(compiled), compiled.params)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    current, net_of, tagged_of = None, {}, {}
    for month, eng, account_id, stored in rows:  # the hot loop: locals, one lookup per new month
        if month != current:
            current, pid = month, period(month)
            if pid is None:
                continue
            net_of, tagged_of = nets[pid], tagged[pid]
        elif pid is None:
            continue
        net_of[eng] -= stored
        tagged_of[account_id] += stored
    moved: dict[str, dict[int, int]] = {pid: defaultdict(int) for pid in pids}
    for pid, account_id, stored in conn.execute(
            select(Entry.source_ref, Posting.account_id, cast(func.sum(Posting.amount), BigInteger))
            .join(Posting, Posting.entry_id == Entry.id)
            # A close's entries are dated its period's last day: the date index finds them.
            .where(Entry.date.in_(sorted({P.bounds(pid, kind)[1] for pid in pids})),
                   Entry.source_type == "close", Entry.source_ref.in_(sorted(wanted)), Posting.commodity == currency,
                   Posting.account_id.in_(sorted(names)))
            .group_by(Entry.source_ref, Posting.account_id)):
        moved[pid][account_id] += stored

    def minor_of(stored: int) -> int:
        minor, extra = divmod(stored, scale)
        if extra:
            raise MoneyError(f"a stored amount ({stored}) has more places than {currency} allows")
        return minor

    out: dict[str, ClosedPeriodInputs] = {}
    for pid in pids:
        overhead, unattributed = [], []
        for account_id in sorted(set(moved[pid]) | set(tagged[pid]), key=names.__getitem__):
            name, period_total = names[account_id], -moved[pid].get(account_id, 0)
            if name.startswith(OVERHEAD_PREFIX):
                if period_total:
                    overhead.append((name, from_minor(minor_of(period_total), currency)))
            elif untagged := period_total - tagged[pid].get(account_id, 0):
                unattributed.append((name, from_minor(minor_of(untagged), currency)))
        if any(stored % scale for stored in nets[pid].values()):
            raise MoneyError(f"a stored amount in {pid} has more places than {currency} allows")
        out[pid] = ClosedPeriodInputs(
            nets=[(*who[eng], stored // scale) for eng, stored in nets[pid].items() if stored],
            overhead=overhead, unattributed=unattributed)
    return out


def _overhead_and_unattributed(session: Session, start: dt.date, end: dt.date, currency: str,
                               ) -> tuple[list[tuple[str, Decimal]], list[tuple[str, Decimal]]]:
    """``(overhead, unattributed)`` of the dates ``[start, end]``, each ``[(account, amount)]``
    (debit positive), close entries excluded. Overhead is every posting on an
    ``Expenses:Overhead:`` account, whoever booked it; what else lands on an ``Income:`` or
    ``Expenses:`` account without naming an engagement is unattributed (CONTRACT §7).

    Whole calendar months (every period is) are read from the journal's account-month totals — a
    few rows per account and month, kept per cause and per whether the posting names an
    engagement; any other range sums its postings."""
    if start.day == 1 and (end + dt.timedelta(days=1)).day == 1:
        total = AccountMonthTotal
        by_account = session.execute(
            select(Account.name, ~total.tagged, func.sum(total.balance))
            .join(Account, Account.id == total.account_id)
            .where(total.month >= f"{start:%Y-%m}", total.month <= f"{end:%Y-%m}", total.source_type != "close",
                   total.commodity == currency,
                   or_(Account.name.like("Income:%"), Account.name.like("Expenses:%")))
            .group_by(Account.name, total.tagged).order_by(Account.name)
        ).all()
    else:
        by_account = session.execute(
            select(Account.name, Posting.engagement_id.is_(None), func.sum(Posting.amount))
            .join(Entry, Entry.id == Posting.entry_id)
            .join(Account, Account.id == Posting.account_id)
            .where(Entry.date >= start, Entry.date <= end, Entry.source_type != "close",
                   Posting.commodity == currency,
                   or_(Account.name.like("Income:%"), Account.name.like("Expenses:%")))
            .group_by(Account.name, Posting.engagement_id.is_(None)).order_by(Account.name)
        ).all()
    overhead: dict[str, Decimal] = defaultdict(Decimal)
    unattributed = []
    for name, untagged, amount in by_account:
        if name.startswith(OVERHEAD_PREFIX):
            overhead[name] += amount
        elif untagged and amount:
            unattributed.append((name, amount))
    return [(name, amount) for name, amount in overhead.items() if amount], unattributed


def unattributed_in(session: Session, start: dt.date, end: dt.date, currency: str) -> Decimal:
    """The unattributed net of the dates ``[start, end]``: income less costs that named no
    engagement and were not overhead (what joined the pools of those periods)."""
    return -sum((total for _, total in _overhead_and_unattributed(session, start, end, currency)[1]), Decimal(0))


def pool_notes(session: Session, first: str, last: str) -> list[str]:
    """What a statement or a preview says about how the closed periods ``first``..``last`` split
    their pools, when it is not what their policy said (CONTRACT §7: nobody held vested units)."""
    rows = session.execute(select(Period.id, Period.pool_basis, PolicyVersion.pool_basis)
                           .outerjoin(PolicyVersion, PolicyVersion.version == Period.policy_version)
                           .where(Period.id >= first, Period.id <= last, Period.status == "closed")
                           .order_by(Period.id)).all()
    return [f"{pid}: nobody held vested units on the period's last day, so the pool was split equally "
            f"among the active partners (the policy says {policy})"
            for pid, basis, policy in rows if basis is not None and basis != policy]


def preview(session: Session, pid: str) -> Allocation:
    return allocate(gather(session, pid))


def _practice_entry(pid: str, end: dt.date, practice: str, eas: list, version: int,
                    currency: str) -> EntrySpec | None:
    """One practice's close entry: its revenue and direct costs emptied (Dr revenue, Cr costs, in
    total), each partner's capital credited once per kind (``origination``, ``practice``) with the
    sum of their shares, the pool parts credited to ``Equity:Pool`` — and the capital postings
    broken down by engagement in the entry's posting detail, one line per engagement, partner and
    kind, so every statement line still names its engagement and this entry."""
    invoiced = costs = pool = 0
    totals: dict[tuple[str, str], int] = defaultdict(int)
    detail: list[tuple[str, str, int, str, int]] = []
    capital = _capital_names()
    for ea in eas:
        f = ea.facts
        eng = f.engagement_id
        invoiced += f.invoiced_cents
        costs += f.costs_cents
        pool += ea.pool_cents
        orig = ea.origination
        if orig.cents:
            totals[(orig.partner, "origination")] -= orig.cents
            detail.append((capital(orig.partner), currency, -orig.cents, "origination", eng))
        for s in ea.practice:
            if s.cents:
                totals[(s.partner, "practice")] -= s.cents
                detail.append((capital(s.partner), currency, -s.cents, "practice", eng))
    def amount(minor: int) -> Decimal:
        return from_minor(minor, currency)

    legs = [Leg(chart.revenue(practice), amount(invoiced), currency),
            Leg(chart.direct_costs(practice), amount(-costs), currency)]
    legs += [Leg(capital(partner), amount(minor), currency, kind=kind)
             for (partner, kind), minor in sorted(totals.items(), key=lambda kv: (_KIND_ORDER[kv[0][1]], kv[0][0]))]
    legs.append(Leg(chart.POOL, amount(-pool), currency))
    legs = [leg for leg in legs if leg.amount != 0]
    if not legs:
        return None
    memo = (f"Close {pid}: practice {practice}, {len(eas)} engagement(s), net margin "
            f"{fmt(amount(invoiced - costs), currency)} (invoiced {fmt(amount(invoiced), currency)}, costs "
            f"{fmt(amount(costs), currency)}) under policy v{version}; capital shares by engagement in the entry's detail")
    return EntrySpec(end, memo, legs, "close", pid, version, detail=detail)


_KIND_ORDER = {"origination": 0, "practice": 1}


def _capital_names():
    memo: dict[str, str] = {}

    def capital(code: str) -> str:
        name = memo.get(code)
        if name is None:
            name = memo[code] = chart.capital(code)
        return name

    return capital


def post_allocation(session: Session, pid: str,
                    done: Callable[[], None] = lambda: None) -> tuple[PeriodFacts, Allocation]:
    """Gather ``pid``'s facts, allocate them (the pure ``allocate``) and post the allocation:
    one entry per practice with margin and one for the pool (see the module docstring). The caller
    (the close) holds the chain's lock, so the facts cannot change underneath. ``done()`` is called
    after each of the three steps (gather, allocate, post)."""
    pid, start, end = parse_period(session, pid)
    facts = gather(session, pid)
    done()
    allocation = allocate(facts)
    done()
    version = facts.policy.version
    by_practice: dict[str, list] = defaultdict(list)
    for ea in allocation.engagements:
        by_practice[ea.facts.practice].append(ea)
    currency = get_books(session).currency
    specs = [s for practice, eas in sorted(by_practice.items())
             if (s := _practice_entry(pid, end, practice, eas, version, currency))]
    # The pool entry empties Equity:Pool, the overhead and the unattributed accounts for the period,
    # and credits each member's share: every Income: and Expenses: account ends the period at zero.
    pool_legs = [Leg(chart.POOL, allocation.pool_gross, currency)]
    pool_legs += [Leg(account, -amount, currency) for account, amount in facts.overhead]
    pool_legs += [Leg(account, -amount, currency) for account, amount in facts.unattributed]
    pool_legs += [Leg(chart.capital(s.partner), -s.amount, currency, kind="pool") for s in allocation.pool_shares]
    pool_legs = [leg for leg in pool_legs if leg.amount != 0]
    if pool_legs:
        basis = allocation.pool_basis_applied
        if basis != facts.policy.pool_basis:
            basis += f" (nobody held vested units; the policy says {facts.policy.pool_basis})"
        memo = (f"Close {pid}: common pool {fmt(allocation.pool_gross, currency)}"
                + (f" plus unattributed {fmt(allocation.unattributed, currency)}" if allocation.unattributed else "")
                + f" less overhead {fmt(allocation.overhead, currency)} = {fmt(allocation.pool_net, currency)}, "
                f"by {basis} under policy v{version}")
        specs.append(EntrySpec(end, memo, pool_legs, "close", pid, version))
    post_entries(session, specs)  # one lock, one account lookup, one bulk write of every line
    done()
    return facts, allocation
