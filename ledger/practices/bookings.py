"""Booking the money around the partnership's work: invoices, costs, payments, overhead and draws.

Each writing function validates everything it can before it writes, then posts through
``ledger.journal.service.post_entry`` (the only writer of entries, which refuses a date in a closed
period with ``Conflict`` and one before the partnership's start with ``ValidationError``). Manual
entries and reversals are the journal's own (``journal.service.post_manual``, ``reverse_entry``).

| booking | entry (``source_type`` / ``source_ref``) | debit | credit |
|---|---|---|---|
| invoice | ``invoice`` / engagement ref | ``receivable(client)`` | ``revenue(practice)`` (both tagged with the engagement) |
| cost | ``cost`` / engagement ref | ``direct_costs(practice)`` (tagged; kind ``subcontract`` for one) | ``Assets:Cash`` |
| payment | ``payment`` / client | ``Assets:Cash`` | ``receivable(client)`` |
| overhead | ``overhead`` / category | ``overhead(category)`` (opened on first use) | ``Assets:Cash`` |
| draw | ``draw`` / partner | ``capital(partner)`` (kind ``draw``) | ``Assets:Cash`` |

Errors name the request field at fault: a code in a body that names nothing is a
``ValidationError`` on that field; an engagement ref in the path that names nothing is
``NotFound``. Services never commit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.core import chart
from ledger.core.entries import Leg
from ledger.core.errors import ValidationError
from ledger.core.money import ZERO, fmt
from ledger.core.vetting import subcontract_refusals
from ledger.journal.balances import balance
from ledger.journal.models import Account, Entry, Posting
from ledger.journal.periods import get_books, guard_dates
from ledger.journal.service import check_amount, ensure_account, post_entry
from ledger.practices.engagements import by_code, get_engagement
from ledger.practices.models import Client, Cost, Firm, Partner


@dataclass(frozen=True, slots=True)
class Booked:
    """What a booking wrote: the entry, and the facts the API answers with."""

    entry: Entry
    amount: Decimal
    date: dt.date
    memo: str


def record_invoice(session: Session, ref: str, amount: Decimal, date: dt.date, memo: str | None = None) -> Booked:
    """Revenue: Dr the client's receivable, Cr the practice's revenue, both tagged with the engagement."""
    engagement = get_engagement(session, ref)
    check_amount(session, amount)
    guard_dates(session, [date])
    books = get_books(session)
    currency = books.currency
    memo = memo or f"Invoice: {engagement.title}"
    receivable = ensure_account(session, chart.receivable(engagement.client.code), [currency], books.starts_on).name
    entry = post_entry(session, date=date, memo=memo, source_type="invoice", source_ref=ref, legs=[
        Leg(receivable, amount, currency, engagement_id=engagement.id),
        Leg(chart.revenue(engagement.practice.code), -amount, currency, engagement_id=engagement.id),
    ], field="amount")
    return Booked(entry, amount, date, memo)


def cost_kind(kind: str) -> str | None:
    """The posting kind of a direct cost's leg: ``subcontract`` for work paid to an outside firm,
    none for an expense."""
    return "subcontract" if kind == "subcontract" else None


def record_cost(session: Session, ref: str, amount: Decimal, date: dt.date, kind: str,
                firm: str | None = None, memo: str | None = None) -> tuple[Booked, Cost]:
    """A direct cost: Dr the practice's direct costs (tagged), Cr cash. A ``subcontract`` goes to a
    firm fully vetted with an NSA in force on ``date``; an ``expense`` names no firm."""
    engagement = get_engagement(session, ref)
    check_amount(session, amount)
    guard_dates(session, [date])
    firm_row = None
    if kind == "subcontract":
        if not firm:
            raise ValidationError("a subcontract cost names the firm it is paid to", {"firm": ["required for a subcontract"]})
        firm_row = by_code(session, Firm, firm, "firm", "firm")
        refusals = subcontract_refusals(firm_row.vetted_list, firm_row.nsa_signed_on, firm_row.nsa_expires_on, date)
        if refusals:
            raise ValidationError(f"{firm} may not be subcontracted on {date.isoformat()}: {'; '.join(refusals)}",
                                  {"firm": refusals})
    elif kind == "expense":
        if firm:
            raise ValidationError("an expense names no firm (use kind subcontract)", {"firm": ["not allowed for an expense"]})
    else:
        raise ValidationError(f"kind {kind!r} is not a cost kind", {"kind": ["subcontract or expense"]})
    currency = get_books(session).currency
    memo = memo or (f"Subcontract to {firm_row.name}: {engagement.title}" if firm_row else f"Expense: {engagement.title}")
    entry = post_entry(session, date=date, memo=memo, source_type="cost", source_ref=ref, legs=[
        # A subcontract's leg says so (posting kind ``subcontract``), so the journal's own month totals
        # tell subcontracting from other direct costs (the income statement, CONTRACT §10).
        Leg(chart.direct_costs(engagement.practice.code), amount, currency, kind=cost_kind(kind),
            engagement_id=engagement.id),
        Leg(chart.CASH, -amount, currency),
    ], field="amount")
    cost = Cost(engagement_id=engagement.id, entry_id=entry.id, kind=kind,
                firm_id=firm_row.id if firm_row else None, amount=amount, date=date)
    session.add(cost)
    session.flush()
    return Booked(entry, amount, date, memo), cost


def outstanding(session: Session, client: str, on: dt.date) -> Decimal:
    """What ``client`` may still pay on ``on`` without its receivable ever going negative: the
    lowest balance of the receivable from ``on`` onwards (a later-dated payment already counts)."""
    account = chart.receivable(client)
    rows = session.execute(
        select(Entry.date, func.sum(Posting.amount))
        .join(Entry, Entry.id == Posting.entry_id).join(Account, Account.id == Posting.account_id)
        .where(Account.name == account).group_by(Entry.date).order_by(Entry.date)
    ).all()
    at_on = sum((total for day, total in rows if day <= on), ZERO)
    lowest = running = at_on
    for day, total in rows:
        if day > on:
            running += total
            lowest = min(lowest, running)
    return max(lowest, ZERO)


def record_payment(session: Session, client: str, amount: Decimal, date: dt.date) -> tuple[Booked, Decimal]:
    """Cash received: Dr cash, Cr the client's receivable; never more than it owes. Returns the
    booking and what the client still owes after it."""
    client_row = by_code(session, Client, client, "client", "client")
    check_amount(session, amount)
    guard_dates(session, [date])
    owed = outstanding(session, client_row.code, date)
    if amount > owed:
        currency = get_books(session).currency
        raise ValidationError(f"{client} owes {fmt(owed, currency)} on {date.isoformat()}; a payment of "
                              f"{fmt(amount, currency)} is more than that",
                              {"amount": [f"more than the {fmt(owed, currency)} outstanding"]})
    currency = get_books(session).currency
    memo = f"Payment from {client_row.name}"
    entry = post_entry(session, date=date, memo=memo, source_type="payment", source_ref=client_row.code, legs=[
        Leg(chart.CASH, amount, currency), Leg(chart.receivable(client_row.code), -amount, currency),
    ], field="amount")
    return Booked(entry, amount, date, memo), balance(session, chart.receivable(client_row.code), currency)


def record_overhead(session: Session, category: str, amount: Decimal, date: dt.date,
                    memo: str | None = None) -> tuple[Booked, str]:
    """Shared overhead: Dr ``Expenses:Overhead:<Category>`` (opened on first use), Cr cash."""
    check_amount(session, amount)
    guard_dates(session, [date])
    ps = get_books(session)
    account = ensure_account(session, chart.overhead(category), [ps.currency], ps.starts_on).name
    memo = memo or f"Overhead: {category}"
    entry = post_entry(session, date=date, memo=memo, source_type="overhead", source_ref=category, legs=[
        Leg(account, amount, ps.currency), Leg(chart.CASH, -amount, ps.currency),
    ], field="amount")
    return Booked(entry, amount, date, memo), account


def record_draw(session: Session, partner: str, amount: Decimal, date: dt.date) -> Booked:
    """Cash paid out to a partner: Dr its capital account (a ``draw`` line), Cr cash."""
    partner_row = by_code(session, Partner, partner, "partner", "partner")
    check_amount(session, amount)
    guard_dates(session, [date])
    currency = get_books(session).currency
    memo = f"Draw: {partner_row.name}"
    entry = post_entry(session, date=date, memo=memo, source_type="draw", source_ref=partner_row.code, legs=[
        Leg(chart.capital(partner_row.code), amount, currency, kind="draw"), Leg(chart.CASH, -amount, currency),
    ], field="amount")
    return Booked(entry, amount, date, memo)


