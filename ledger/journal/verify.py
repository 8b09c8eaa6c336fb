"""``verify``: recompute what the database claims and list every breach.

Checks, each independent of the others so one report lists all problems:
1. the hash chain: entry ids run 1..N, each ``prev_hash`` is the previous entry's hash, and each
   hash equals ``sha256(prev ‖ canonical entry)`` recomputed from the stored postings — an amount,
   account or memo altered behind the database's back breaks it;
2. the chain head row names the last entry;
3. every entry has two or more postings that balance per commodity;
4. every posting's commodity is one its account may hold;
5. every posting detail line belongs to an entry, is covered by its hash (``detail_digest``) and
   sums, per account, commodity and kind, to the entry's postings;
6. the immutability and balance triggers are installed.
Entries are streamed in id order, so memory stays flat however long the ledger is.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ledger.core.entries import GENESIS_HASH, canonical_entry, chain_hash, detail_digest
from ledger.core.money import MoneyError, fmt, to_minor
from ledger.journal.models import (
    Account,
    AccountBalance,
    AccountMonthTotal,
    BalanceSnapshot,
    ChainHead,
    EngagementMonthTotal,
    Entry,
    Period,
    Posting,
    PostingDetail,
)
from ledger.journal.stream import group_by_entry

SQLITE_TRIGGERS = {"entry_no_update", "entry_no_delete", "posting_no_update", "posting_no_delete",
                   "posting_entry_open", "entry_balanced", "posting_detail_no_update",
                   "posting_detail_no_delete", "posting_detail_entry_open", "entry_detail_agrees"}
#: PostgreSQL checks postings and entries once per statement (migration 0020), and with them the
#: postings' and entries' references (0029): an account or engagement a posting names is neither
#: deleted nor renumbered.
PG_TRIGGERS = {"entry_no_update_delete", "posting_no_update_delete", "posting_entry_open",
               "entry_sealed", "posting_detail_no_update_delete", "posting_detail_entry_open",
               "account_referenced", "engagement_referenced"}
#: And a transaction's postings have their entries at the commit: the chain head's key to the entry
#: it was moved over before them (0031).
PG_KEYS = {"fk_chain_head_entry_id_entry"}


@dataclass
class Report:
    entries: int = 0
    head: str = GENESIS_HASH
    problems: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _installed_triggers(session: Session) -> set[str]:
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"))
    else:
        rows = session.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
    return {r[0] for r in rows}


def _installed_keys(session: Session) -> set[str]:
    return set(session.execute(text("SELECT conname FROM pg_constraint WHERE contype = 'f'")).scalars())


def verify(session: Session, extra_checks=()) -> Report:
    report = Report()
    accounts = {a.id: a for a in session.scalars(select(Account))}
    names = {i: a.name for i, a in accounts.items()}
    postings_q = (
        select(Posting.entry_id, Posting.account_id, Posting.commodity, Posting.amount, Posting.kind,
               Posting.engagement_id)
        .order_by(Posting.entry_id, Posting.id)
    )
    entries_q = select(Entry.id, Entry.date, Entry.memo, Entry.source_type, Entry.source_ref,
                       Entry.policy_version, Entry.reverses_id, Entry.prev_hash, Entry.hash).order_by(Entry.id)
    detail_q = (select(PostingDetail.entry_id, PostingDetail.account_id, PostingDetail.commodity,
                       PostingDetail.amount, PostingDetail.kind, PostingDetail.engagement_id, PostingDetail.date)
                .order_by(PostingDetail.entry_id, PostingDetail.line_no))

    def orphan(stream: int, row) -> None:
        what = "posting" if stream == 0 else "posting detail"
        report.problems.append(f"{what} on entry {row.entry_id} has no entry")

    prev = GENESIS_HASH
    expected_id = 1
    for e, legs, lines in group_by_entry(session.execute(entries_q.execution_options(yield_per=2000)),
                                         session.execute(postings_q.execution_options(yield_per=5000)),
                                         session.execute(detail_q.execution_options(yield_per=20000)),
                                         orphan=orphan):
        report.entries += 1
        if e.id != expected_id:
            report.problems.append(f"entry ids jump from {expected_id - 1} to {e.id}: an entry is missing")
        expected_id = e.id + 1
        if e.prev_hash != prev:
            report.problems.append(f"entry {e.id}: prev_hash does not match entry {e.id - 1}'s hash")
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for p in legs:
            totals[p.commodity] += p.amount
            acc = accounts.get(p.account_id)
            if acc is None:
                report.problems.append(f"entry {e.id}: a posting names account id {p.account_id}, which does not exist")
            elif p.commodity not in acc.commodity_list:
                report.problems.append(f"entry {e.id}: {acc.name} may not hold {p.commodity}")
        if len(legs) < 2:
            report.problems.append(f"entry {e.id}: has {len(legs)} posting(s); an entry needs two or more")
        for commodity, total in sorted(totals.items()):
            if total != 0:
                report.problems.append(f"entry {e.id}: does not balance ({commodity} off by {total})")
        detail = None
        if lines:
            report.problems.extend(_detail_sums(e.id, legs, lines, accounts))
            if any(d.date != e.date for d in lines):
                report.problems.append(f"entry {e.id}: a detail line is dated otherwise than its entry")
        try:
            if lines:
                detail = detail_digest((names.get(d.account_id, "?"), d.commodity, to_minor(d.amount, d.commodity),
                                        d.kind, d.engagement_id) for d in lines)
            canonical = canonical_entry(
                id=e.id, date=e.date, memo=e.memo, source_type=e.source_type, source_ref=e.source_ref,
                policy_version=e.policy_version, reverses_id=e.reverses_id,
                postings=[(accounts[p.account_id].name if p.account_id in accounts else "?", p.commodity,
                           p.amount, p.kind, p.engagement_id) for p in legs],
                detail=detail,
            )
        except MoneyError as exc:
            # Only a row written around the posting service can hold such an amount: its entry can
            # no longer hash as it did.
            report.problems.append(f"entry {e.id}: a stored amount is not exact for its commodity ({exc}); "
                                   "hash mismatch: its stored content was altered after it was written")
            prev = e.hash
            continue
        digest = chain_hash(e.prev_hash, canonical)
        if digest != e.hash:
            report.problems.append(
                f"entry {e.id}: hash mismatch: its stored content was altered after it was written"
            )
        prev = e.hash
    report.head = prev
    report.checks.append("hash chain")
    head = session.get(ChainHead, 1)
    if head is None:
        report.problems.append("the chain head row is missing")
    elif head.seq != report.entries or head.hash != prev:
        report.problems.append(
            f"the chain head says entry {head.seq} but the ledger ends at entry {report.entries}"
        )
    postgres = session.get_bind().dialect.name == "postgresql"
    missing = (PG_TRIGGERS if postgres else SQLITE_TRIGGERS) - _installed_triggers(session)
    for name in sorted(missing):
        report.problems.append(f"the database guard trigger {name} is missing: rows could be altered")
    if postgres:
        for name in sorted(PG_KEYS - _installed_keys(session)):
            report.problems.append(f"the database key {name} is missing: a posting could be left without its entry")
    report.checks.append("guards")
    report.problems.extend(check_balances(session))
    report.problems.extend(check_engagement_totals(session))
    report.problems.extend(check_month_totals(session))
    report.checks.append("maintained balances")
    for check in extra_checks:
        report.problems.extend(check(session))
    return report


def _amount(value, commodity: str) -> str:
    """An amount for a breach message: at the commodity's places when it has no more, else as stored."""
    try:
        return fmt(Decimal(value), commodity)
    except MoneyError:
        return str(value)


def _detail_sums(entry_id: int, legs, lines, accounts) -> list[str]:
    """The entry's detail, per (account, commodity, kind), against its postings."""
    sums: dict[tuple[int, str, str], Decimal] = defaultdict(Decimal)
    for d in lines:
        sums[(d.account_id, d.commodity, d.kind)] += d.amount
    posted: dict[tuple[int, str, str | None], Decimal] = defaultdict(Decimal)
    for p in legs:
        posted[(p.account_id, p.commodity, p.kind)] += p.amount
    out = []
    for (account_id, commodity, kind), total in sorted(sums.items()):
        if posted.get((account_id, commodity, kind), Decimal(0)) != total:
            name = accounts[account_id].name if account_id in accounts else f"account id {account_id}"
            out.append(f"entry {entry_id}: the {kind} detail of {name} sums to {_amount(total, commodity)} {commodity}, "
                       f"not its postings' {_amount(posted.get((account_id, commodity, kind), Decimal(0)), commodity)}")
    return out


def check_engagement_totals(session: Session) -> list[str]:
    """The engagement month totals a close reads, recomputed from the engagement-tagged postings."""
    stored = {(m, a, e, c): b for m, a, e, c, b in session.execute(
        select(EngagementMonthTotal.month, EngagementMonthTotal.account_id, EngagementMonthTotal.engagement_id,
               EngagementMonthTotal.commodity, EngagementMonthTotal.balance))}
    computed: dict[tuple[str, int, int, str], Decimal] = defaultdict(Decimal)
    for day, a, e, c, total in session.execute(
            select(Entry.date, Posting.account_id, Posting.engagement_id, Posting.commodity, func.sum(Posting.amount))
            .join(Entry, Entry.id == Posting.entry_id).where(Posting.engagement_id.is_not(None))
            .group_by(Entry.date, Posting.account_id, Posting.engagement_id, Posting.commodity)):
        computed[(f"{day:%Y-%m}", a, e, c)] += total
    names = dict(session.execute(select(Account.id, Account.name)).all())
    return [f"engagement total of {names.get(a, a)} for engagement id {e} in {m} is {_amount(stored.get(key, 0), c)} {c} "
            f"but its postings sum to {_amount(computed.get(key, 0), c)}"
            for key in sorted(set(stored) | set(computed)) if stored.get(key, 0) != computed.get(key, 0)
            for m, a, e, c in [key]]


def check_month_totals(session: Session) -> list[str]:
    """The account month totals the income statement reads, recomputed from the postings."""
    t = AccountMonthTotal
    stored = {(m, a, c, s, k, g): b for m, a, c, s, k, g, b in session.execute(
        select(t.month, t.account_id, t.commodity, t.source_type, t.kind, t.tagged, t.balance))}
    computed: dict[tuple, Decimal] = defaultdict(Decimal)
    tagged = Posting.engagement_id.is_not(None)
    for day, a, c, s, k, g, total in session.execute(
            select(Entry.date, Posting.account_id, Posting.commodity, Entry.source_type, Posting.kind, tagged,
                   func.sum(Posting.amount)).join(Entry, Entry.id == Posting.entry_id)
            .group_by(Entry.date, Posting.account_id, Posting.commodity, Entry.source_type, Posting.kind, tagged)):
        computed[(f"{day:%Y-%m}", a, c, s, k or "", bool(g))] += total
    names = dict(session.execute(select(Account.id, Account.name)).all())
    return [f"month total of {names.get(a, a)} {c} in {m} ({s}, kind {k or 'none'}, "
            f"{'tagged' if g else 'untagged'}) is {_amount(stored.get(key, 0), c)} "
            f"but its postings sum to {_amount(computed.get(key, 0), c)}"
            for key in sorted(set(stored) | set(computed)) if stored.get(key, 0) != computed.get(key, 0)
            for m, a, c, s, k, g in [key]]


def check_balances(session: Session) -> list[str]:
    """The maintained balances and every closed period's snapshot, recomputed from the postings."""
    problems: list[str] = []
    names = dict(session.execute(select(Account.id, Account.name)).all())
    daily = session.execute(
        select(Entry.date, Posting.account_id, Posting.commodity, func.sum(Posting.amount))
        .join(Entry, Entry.id == Posting.entry_id)
        .group_by(Entry.date, Posting.account_id, Posting.commodity).order_by(Entry.date)
    ).all()
    stored = {(a, c): b for a, c, b in session.execute(
        select(AccountBalance.account_id, AccountBalance.commodity, AccountBalance.balance))}
    totals: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for _day, account, commodity, amount in daily:
        totals[(account, commodity)] += amount
    for key in sorted(set(totals) | set(stored)):
        if totals.get(key, 0) != stored.get(key, 0):
            problems.append(f"maintained balance of {names.get(key[0], key[0])} {key[1]} is "
                            f"{_amount(stored.get(key, 0), key[1])} but its postings sum to {_amount(totals.get(key, 0), key[1])}")
    closed = session.execute(select(Period.id, Period.ends_on).where(Period.status == "closed")
                             .order_by(Period.ends_on)).all()
    snapshots: dict[str, dict[tuple[int, str], Decimal]] = defaultdict(dict)
    for pid, account, commodity, balance in session.execute(
            select(BalanceSnapshot.period_id, BalanceSnapshot.account_id, BalanceSnapshot.commodity,
                   BalanceSnapshot.balance)):
        snapshots[pid][(account, commodity)] = balance
    running: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    i = 0
    for pid, ends_on in closed:
        while i < len(daily) and daily[i][0] <= ends_on:
            _day, account, commodity, amount = daily[i]
            running[(account, commodity)] += amount
            i += 1
        snap = snapshots.get(pid, {})
        for key in sorted(set(running) | set(snap)):
            if running.get(key, 0) != snap.get(key, 0):
                problems.append(f"snapshot of {names.get(key[0], key[0])} {key[1]} at the close of {pid} is "
                                f"{_amount(snap.get(key, 0), key[1])} but its postings sum to {_amount(running.get(key, 0), key[1])}")
    return problems
