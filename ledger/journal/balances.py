"""Balances read from the journal: the maintained ones (O(accounts)), as of any date (the last
closed period's snapshot plus the postings since), and the snapshot a close records."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import BigInteger, cast, func, insert, or_, select, type_coerce
from sqlalchemy.orm import Session

from ledger.core.money import quantize
from ledger.journal.models import Account, AccountBalance, BalanceSnapshot, Entry, Period, Posting
from ledger.journal.periods import get_books


def balances(
    session: Session, as_of: dt.date | None = None, account_names: Sequence[str] | None = None
) -> dict[tuple[str, str], Decimal]:
    """``{(account, commodity): balance}`` over the entries dated on or before ``as_of``.

    Without ``as_of``: the maintained balances (O(accounts)). With it: the snapshot of the last
    period closed by then, plus the postings dated after it up to ``as_of``.
    """
    if as_of is None:
        q = select(Account.name, AccountBalance.commodity, AccountBalance.balance).join(
            Account, Account.id == AccountBalance.account_id)
        if account_names is not None:
            q = q.where(Account.name.in_(account_names))
        return {(name, c): b for name, c, b in session.execute(q)}
    snap = session.execute(
        select(Period.id, Period.ends_on).where(Period.status == "closed", Period.ends_on <= as_of)
        .order_by(Period.ends_on.desc()).limit(1)).first()
    out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    if snap is not None:
        q = select(Account.name, BalanceSnapshot.commodity, BalanceSnapshot.balance).join(
            Account, Account.id == BalanceSnapshot.account_id).where(BalanceSnapshot.period_id == snap.id)
        if account_names is not None:
            q = q.where(Account.name.in_(account_names))
        for name, c, b in session.execute(q):
            out[(name, c)] += b
    q = (
        select(Account.name, Posting.commodity, func.sum(Posting.amount))
        .join(Account, Account.id == Posting.account_id)
        .join(Entry, Entry.id == Posting.entry_id)
        .where(Entry.date <= as_of)
        .group_by(Account.name, Posting.commodity)
    )
    if snap is not None:
        q = q.where(Entry.date > snap.ends_on)
    if account_names is not None:
        q = q.where(Account.name.in_(account_names))
    for name, commodity, total in session.execute(q):
        out[(name, commodity)] += total
    return dict(out)


def snapshot_balances(session: Session, period_id: str, ends_on: dt.date) -> None:
    """Record every account's balance at the end of ``period_id`` (called by the close): the
    maintained balances less whatever is dated after ``ends_on`` (postings already made in later,
    still open periods — usually none), so the snapshot costs O(accounts), not O(period)."""
    later = session.execute(
        select(Posting.account_id, Posting.commodity, func.sum(Posting.amount))
        .join(Entry, Entry.id == Posting.entry_id).where(Entry.date > ends_on)
        .group_by(Posting.account_id, Posting.commodity))
    rows = {(a, c): b for a, c, b in session.execute(
        select(AccountBalance.account_id, AccountBalance.commodity, AccountBalance.balance))}
    for a, c, amount in later:
        rows[(a, c)] = rows.get((a, c), Decimal(0)) - amount
    if rows:
        session.execute(insert(BalanceSnapshot.__table__), [
            {"period_id": period_id, "account_id": a, "commodity": c, "balance": b}
            for (a, c), b in sorted(rows.items())])


def stored_balance_as_of(account_id, commodity, as_of):
    """``balances``' rule as of a date for one account and commodity, as one SQL expression to
    embed in a larger query: the stored total (integer ten-thousandths) of the last snapshot of a
    period closed by ``as_of``, plus the postings dated after that period up to ``as_of``. The
    arguments are SQL expressions (bind parameters, columns, scalar subqueries)."""
    snapshot = (select(Period.id).where(Period.status == "closed", Period.ends_on <= as_of)
                .order_by(Period.ends_on.desc()).limit(1))
    snapshot_end = snapshot.with_only_columns(Period.ends_on).scalar_subquery()
    stored = cast(func.coalesce(func.sum(type_coerce(BalanceSnapshot.balance, BigInteger)), 0), BigInteger)
    in_snapshot = select(stored).where(
        BalanceSnapshot.period_id == snapshot.scalar_subquery(), BalanceSnapshot.account_id == account_id,
        BalanceSnapshot.commodity == commodity).scalar_subquery()
    posted = cast(func.coalesce(func.sum(type_coerce(Posting.amount, BigInteger)), 0), BigInteger)
    since = select(posted).join(Entry, Entry.id == Posting.entry_id).where(
        Posting.account_id == account_id, Posting.commodity == commodity, Entry.date <= as_of,
        or_(snapshot_end.is_(None), Entry.date > snapshot_end)).scalar_subquery()
    return in_snapshot + since


def balance(session: Session, account: str, commodity: str | None = None, as_of: dt.date | None = None) -> Decimal:
    """One account's balance in ``commodity`` (the books' currency unless given), at its places."""
    commodity = commodity or get_books(session).currency
    return quantize(balances(session, as_of, [account]).get((account, commodity), Decimal(0)), commodity)


def trial_balance(session: Session, as_of: dt.date | None = None) -> list[tuple[str, str, Decimal]]:
    """Every account and commodity with its balance; the balances of a commodity sum to zero."""
    rows = balances(session, as_of)
    return [(a, c, rows[(a, c)]) for a, c in sorted(rows)]
