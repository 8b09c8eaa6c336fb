"""What a close tells partners (CONTRACT §9), in the close's own transaction: each active partner
that their statement for the period is ready; each partner whose units vested in it, how many of
theirs; each retiree paid a buyout installment, that installment. Each message carries only the
recipient's own figures.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.core import chart
from ledger.core.money import fmt
from ledger.journal.models import Account, Entry, Posting
from ledger.notify.outbox import notify, users_of
from ledger.practices.models import Partner
from ledger.practices.service import get_partnership
from ledger.succession.models import Retirement


def tell_closed(session: Session, pid: str, start: dt.date, end: dt.date, vested: list[Entry]) -> None:
    partners = {p.code: p for p in session.scalars(select(Partner).order_by(Partner.code))}
    for partner in partners.values():
        if partner.status == "active":
            notify(session, users_of(session, [partner.id]), "statement_ready",
                   f"Your statement for {pid} is ready", f"/partners/{partner.code}/statements/{pid}",
                   {"period": pid}, key=f"statement_ready:{pid}")
    for entry in vested:
        partner = partners[entry.source_ref]
        units = max(int(p.amount) for p in entry.postings)
        notify(session, users_of(session, [partner.id]), "units_vested",
               f"{units} of your units vested on {entry.date.isoformat()}", f"/partners/{partner.code}/vesting",
               {"units": units, "date": entry.date.isoformat()}, key=f"units_vested:{entry.id}")
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
