"""What a close tells partners (CONTRACT §9), in the close's own transaction: each active partner
that their statement for the period is ready; each partner whose units vested in it, how many of
theirs; each retiree paid a buyout installment, that installment. Each message carries only the
recipient's own figures.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.auth.models import User
from ledger.core import chart
from ledger.core.money import fmt
from ledger.journal.models import Account, Entry, Posting
from ledger.notify.outbox import Message, notify, notify_each, users_of
from ledger.practices.models import Partner
from ledger.practices.service import get_partnership
from ledger.succession.models import Retirement


def tell_closed(session: Session, pid: str, start: dt.date, end: dt.date, vested: list[Entry]) -> None:
    """A fixed number of queries for the statements and the vesting, whatever the number of
    partners (one per installment paid, of which a close has few)."""
    partners = {p.code: p for p in session.scalars(select(Partner).order_by(Partner.code))}
    users: dict[int, list[User]] = defaultdict(list)
    for user in users_of(session, [p.id for p in partners.values()]):
        users[user.partner_id].append(user)
    notify_each(session, "statement_ready", [
        Message(user, f"Your statement for {pid} is ready", f"/partners/{partner.code}/statements/{pid}",
                {"period": pid}, key=f"statement_ready:{pid}")
        for partner in partners.values() if partner.status == "active" for user in users[partner.id]])
    units = dict(session.execute(select(Posting.entry_id, func.max(Posting.amount))
                                 .where(Posting.entry_id.in_([e.id for e in vested])).group_by(Posting.entry_id)).all()) \
        if vested else {}
    notify_each(session, "units_vested", [
        Message(user, f"{int(units[entry.id])} of your units vested on {entry.date.isoformat()}",
                f"/partners/{entry.source_ref}/vesting", {"units": int(units[entry.id]), "date": entry.date.isoformat()},
                key=f"units_vested:{entry.id}")
        for entry in vested for user in users[partners[entry.source_ref].id]])
    _tell_installments(session, partners, start, end)


def _tell_installments(session: Session, partners: dict[str, Partner], start: dt.date, end: dt.date) -> None:
    currency = get_partnership(session).currency
    paid = session.scalars(select(Entry).where(Entry.source_type == "installment", Entry.date >= start,
                                               Entry.date <= end).order_by(Entry.id)).all()
    for entry in paid:
        partner = partners[entry.source_ref]
        amount = session.scalar(select(func.sum(Posting.amount)).join(Account, Account.id == Posting.account_id)
                                .where(Posting.entry_id == entry.id, Account.name == chart.buyout(partner.code)))
        number = session.scalar(select(func.count()).select_from(Entry).where(
            Entry.source_type == "installment", Entry.source_ref == partner.code, Entry.id <= entry.id))
        of = session.scalar(select(Retirement.installments).where(Retirement.partner_id == partner.id))
        notify(session, users_of(session, [partner.id]), "installment_paid",
               f"Buyout installment {number} of {of} paid", f"/partners/{partner.code}/vesting",
               {"number": number, "of": of, "amount": fmt(amount, currency), "currency": currency,
                "date": entry.date.isoformat()}, key=f"installment_paid:{entry.id}")
