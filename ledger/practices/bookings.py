"""Booking the partnership's work: clients, outside firms, engagements, and the money around them.

Each writing function validates everything it can before it writes, then posts through
``ledger.journal.service.post_entry`` (the only writer of entries, which refuses a date in a closed
period with ``Conflict`` and one before the partnership's start with ``ValidationError``).

| booking | entry (``source_type`` / ``source_ref``) | debit | credit |
|---|---|---|---|
| invoice | ``invoice`` / engagement ref | ``receivable(client)`` | ``revenue(practice)`` (both tagged with the engagement) |
| cost | ``cost`` / engagement ref | ``direct_costs(practice)`` (tagged) | ``Assets:Cash`` |
| payment | ``payment`` / client | ``Assets:Cash`` | ``receivable(client)`` |
| overhead | ``overhead`` / category | ``overhead(category)`` (opened on first use) | ``Assets:Cash`` |
| draw | ``draw`` / partner | ``capital(partner)`` (kind ``draw``) | ``Assets:Cash`` |
| manual | ``manual`` / — | as given | as given |

Errors name the request field at fault: a code in a body that names nothing is a
``ValidationError`` on that field (the resource asked for exists; the body is wrong); an
engagement ref in the path that names nothing is ``NotFound``. Services never commit.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from ledger.core import chart
from ledger.core.entries import Leg
from ledger.core.errors import Conflict, NotFound, ValidationError
from ledger.core.money import ZERO
from ledger.core.vetting import VETTING_CRITERIA, Profitability, profitability, subcontract_refusals
from ledger.journal.models import Account, Entry, Posting, PostingDetail
from ledger.journal.periods import guard_open
from ledger.journal.service import balance, ensure_account, open_account, post_entry, reverse_entry
from ledger.practices.models import Client, Cost, Engagement, Firm, Partner, Practice
from ledger.practices.service import get_partnership

#: How far past today a business date may be posted: every period up to it is created on posting.
MAX_FUTURE = dt.timedelta(days=3660)


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def check_posting_date(session: Session, day: dt.date, field: str = "date") -> dt.date:
    """Refuse a date a booking may not carry, before anything else is checked: more than ten years
    ahead (a typo, and posting it would create every period up to it), before the partnership
    starts, or in a closed period (``Conflict``). ``post_entry`` checks the last two again under
    the chain's lock."""
    if day > _today() + MAX_FUTURE:
        raise ValidationError(f"{day.isoformat()} is more than ten years ahead",
                              {field: ["more than ten years ahead"]})
    guard_open(session, day, field)
    return day


def _by_code(session: Session, model, code: str, field: str, what: str):
    row = session.scalar(select(model).where(model.code == code))
    if row is None:
        raise ValidationError(f"no {what} {code!r}", {field: [f"unknown {what} {code!r}"]})
    return row


# --- partners and practices (reads) --------------------------------------------------------------


def vested_units(session: Session, partner_code: str, as_of: dt.date | None = None) -> int:
    """Units vested to a partner on ``as_of`` (default: today, UTC, as governance counts them), by
    the vesting module's schedule — the one place the API reads them from."""
    from ledger.equity.service import vested_units as vested

    return vested(session, partner_code, as_of or _today())


def vested_units_by_partner(session: Session, as_of: dt.date | None = None) -> dict[str, int]:
    """``{partner code: vested units}`` for every partner on ``as_of`` (default: today, UTC)."""
    from ledger.equity.service import vested_units_by_partner as vested

    return vested(session, as_of or _today())


def list_partners(session: Session) -> list[Partner]:
    return list(session.scalars(select(Partner).order_by(Partner.code)))


def owners_now(practice: Practice) -> dict[str, Decimal]:
    """The practice's ownership in force (rows with no end period), by partner code."""
    return {o.partner.code: o.share for o in sorted(practice.ownerships, key=lambda o: o.partner.code)
            if o.to_period is None}


def list_practices(session: Session) -> list[Practice]:
    return list(session.scalars(select(Practice).order_by(Practice.code)))


# --- clients, firms, engagements ----------------------------------------------------------------


def create_client(session: Session, code: str, name: str) -> Client:
    """A client, with its receivable account opened."""
    if session.scalar(select(Client.id).where(Client.code == code)) is not None:
        raise Conflict(f"client {code!r} already exists", {"code": ["already exists"]})
    account = chart.receivable(code)
    if session.scalar(select(Account.id).where(Account.name == account)) is not None:
        raise Conflict(f"the account {account} is already open", {"code": [f"{account} is already open"]})
    client = Client(code=code, name=name)
    session.add(client)
    open_account(session, account, [get_partnership(session).currency])
    session.flush()
    return client


def list_clients(session: Session) -> list[Client]:
    return list(session.scalars(select(Client).order_by(Client.code)))


def create_firm(session: Session, code: str, name: str, vetted: Sequence[str],
                nsa_signed_on: dt.date | None, nsa_expires_on: dt.date | None) -> Firm:
    errors: dict[str, list[str]] = {}
    for i, criterion in enumerate(vetted):
        if criterion not in VETTING_CRITERIA:
            errors[f"vetted[{i}]"] = [f"one of {', '.join(VETTING_CRITERIA)}"]
        elif criterion in vetted[:i]:
            errors[f"vetted[{i}]"] = [f"{criterion} is listed twice"]
    if (nsa_signed_on is None) != (nsa_expires_on is None):
        errors["nsa_expires_on"] = ["give both nsa_signed_on and nsa_expires_on, or neither"]
    elif nsa_signed_on and nsa_expires_on and nsa_expires_on < nsa_signed_on:
        errors["nsa_expires_on"] = ["the agreement expires before it is signed"]
    if errors:
        raise ValidationError("the firm is refused: " + "; ".join(f"{k}: {v[0]}" for k, v in errors.items()), errors)
    if session.scalar(select(Firm.id).where(Firm.code == code)) is not None:
        raise Conflict(f"firm {code!r} already exists", {"code": ["already exists"]})
    firm = Firm(code=code, name=name, vetted=",".join(c for c in VETTING_CRITERIA if c in vetted),
                nsa_signed_on=nsa_signed_on, nsa_expires_on=nsa_expires_on)
    session.add(firm)
    session.flush()
    return firm


def list_firms(session: Session) -> list[Firm]:
    return list(session.scalars(select(Firm).order_by(Firm.code)))


def open_engagement(session: Session, *, ref: str, client: str, practice: str, originator: str,
                    title: str, opened_on: dt.date) -> Engagement:
    """An engagement of a practice for a client, originated by an active partner."""
    errors: dict[str, list[str]] = {}
    found = {}
    for field, model, code, what in (("client", Client, client, "client"), ("practice", Practice, practice, "practice"),
                                     ("originator", Partner, originator, "partner")):
        try:
            found[field] = _by_code(session, model, code, field, what)
        except ValidationError as exc:
            errors.update(exc.errors)
    partner = found.get("originator")
    if partner is not None and partner.status != "active":
        errors["originator"] = [f"{originator} is {partner.status} and cannot originate an engagement"]
    if errors:
        raise ValidationError("the engagement is refused: " + "; ".join(f"{k}: {v[0]}" for k, v in errors.items()),
                              errors)
    if session.scalar(select(Engagement.id).where(Engagement.ref == ref)) is not None:
        raise Conflict(f"engagement {ref!r} already exists", {"ref": ["already exists"]})
    engagement = Engagement(ref=ref, client_id=found["client"].id, practice_id=found["practice"].id,
                            originator_id=partner.id, title=title, opened_on=opened_on)
    session.add(engagement)
    session.flush()
    return engagement


def get_engagement(session: Session, ref: str) -> Engagement:
    engagement = session.scalar(select(Engagement).where(Engagement.ref == ref))
    if engagement is None:
        raise NotFound(f"no engagement {ref!r}", {"ref": [f"unknown engagement {ref!r}"]})
    return engagement


def list_engagements(session: Session) -> list[Engagement]:
    return list(session.scalars(select(Engagement).order_by(Engagement.ref)))


def engagement_profitability(session: Session, engagement_ids: Iterable[int]) -> dict[int, Profitability]:
    """Each engagement's profitability to date (see ``rules.profitability``): its invoices and
    direct costs, as the period's close counts them (``Income:Practice:*`` and
    ``Expenses:Direct:*`` postings tagged with the engagement, close entries excluded), reversals
    included; the subcontracted part is what entries booked as subcontract costs (or their
    reversals) put on the direct costs."""
    ids = list(engagement_ids)
    if not ids:
        return {}
    original = aliased(Entry)
    booked = func.coalesce(original.id, Entry.id)
    rows = session.execute(
        select(Posting.engagement_id, Account.name, Cost.kind, func.sum(Posting.amount))
        .join(Entry, Entry.id == Posting.entry_id)
        .join(Account, Account.id == Posting.account_id)
        .outerjoin(original, original.id == Entry.reverses_id)
        .outerjoin(Cost, Cost.entry_id == booked)
        .where(Posting.engagement_id.in_(ids), Entry.source_type != "close",
               or_(Account.name.like("Income:Practice:%"), Account.name.like("Expenses:Direct:%")))
        .group_by(Posting.engagement_id, Account.name, Cost.kind)
    )
    sums: dict[int, dict[str, Decimal]] = defaultdict(lambda: {"invoiced": ZERO, "costs": ZERO, "sub": ZERO})
    for eng_id, account, kind, total in rows:
        if account.startswith("Income:"):
            sums[eng_id]["invoiced"] -= total
        else:
            sums[eng_id]["costs"] += total
            if kind == "subcontract":
                sums[eng_id]["sub"] += total
    return {i: profitability(sums[i]["invoiced"], sums[i]["costs"], sums[i]["sub"]) for i in ids}


# --- money in and out --------------------------------------------------------------------------


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
    check_posting_date(session, date)
    currency = get_partnership(session).currency
    memo = memo or f"Invoice: {engagement.title}"
    receivable = ensure_account(session, chart.receivable(engagement.client.code), [currency],
                                get_partnership(session).starts_on).name
    entry = post_entry(session, date=date, memo=memo, source_type="invoice", source_ref=ref, legs=[
        Leg(receivable, amount, currency, engagement_id=engagement.id),
        Leg(chart.revenue(engagement.practice.code), -amount, currency, engagement_id=engagement.id),
    ], field="amount")
    return Booked(entry, amount, date, memo)


def record_cost(session: Session, ref: str, amount: Decimal, date: dt.date, kind: str,
                firm: str | None = None, memo: str | None = None) -> tuple[Booked, Cost]:
    """A direct cost: Dr the practice's direct costs (tagged), Cr cash. A ``subcontract`` goes to a
    firm fully vetted with an NSA in force on ``date``; an ``expense`` names no firm."""
    engagement = get_engagement(session, ref)
    check_posting_date(session, date)
    firm_row = None
    if kind == "subcontract":
        if not firm:
            raise ValidationError("a subcontract cost names the firm it is paid to", {"firm": ["required for a subcontract"]})
        firm_row = _by_code(session, Firm, firm, "firm", "firm")
        refusals = subcontract_refusals(firm_row.vetted_list, firm_row.nsa_signed_on, firm_row.nsa_expires_on, date)
        if refusals:
            raise ValidationError(f"{firm} may not be subcontracted on {date.isoformat()}: {'; '.join(refusals)}",
                                  {"firm": refusals})
    elif kind == "expense":
        if firm:
            raise ValidationError("an expense names no firm (use kind subcontract)", {"firm": ["not allowed for an expense"]})
    else:
        raise ValidationError(f"kind {kind!r} is not a cost kind", {"kind": ["subcontract or expense"]})
    currency = get_partnership(session).currency
    memo = memo or (f"Subcontract to {firm_row.name}: {engagement.title}" if firm_row else f"Expense: {engagement.title}")
    entry = post_entry(session, date=date, memo=memo, source_type="cost", source_ref=ref, legs=[
        Leg(chart.direct_costs(engagement.practice.code), amount, currency, engagement_id=engagement.id),
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
    client_row = _by_code(session, Client, client, "client", "client")
    check_posting_date(session, date)
    owed = outstanding(session, client_row.code, date)
    if amount > owed:
        raise ValidationError(f"{client} owes {owed} on {date.isoformat()}; a payment of {amount} is more than that",
                              {"amount": [f"more than the {owed} outstanding"]})
    currency = get_partnership(session).currency
    memo = f"Payment from {client_row.name}"
    entry = post_entry(session, date=date, memo=memo, source_type="payment", source_ref=client_row.code, legs=[
        Leg(chart.CASH, amount, currency), Leg(chart.receivable(client_row.code), -amount, currency),
    ], field="amount")
    return Booked(entry, amount, date, memo), balance(session, chart.receivable(client_row.code), currency)


def record_overhead(session: Session, category: str, amount: Decimal, date: dt.date,
                    memo: str | None = None) -> tuple[Booked, str]:
    """Shared overhead: Dr ``Expenses:Overhead:<Category>`` (opened on first use), Cr cash."""
    check_posting_date(session, date)
    ps = get_partnership(session)
    account = ensure_account(session, chart.overhead(category), [ps.currency], ps.starts_on).name
    memo = memo or f"Overhead: {category}"
    entry = post_entry(session, date=date, memo=memo, source_type="overhead", source_ref=category, legs=[
        Leg(account, amount, ps.currency), Leg(chart.CASH, -amount, ps.currency),
    ], field="amount")
    return Booked(entry, amount, date, memo), account


def record_draw(session: Session, partner: str, amount: Decimal, date: dt.date) -> Booked:
    """Cash paid out to a partner: Dr its capital account (a ``draw`` line), Cr cash."""
    partner_row = _by_code(session, Partner, partner, "partner", "partner")
    check_posting_date(session, date)
    currency = get_partnership(session).currency
    memo = f"Draw: {partner_row.name}"
    entry = post_entry(session, date=date, memo=memo, source_type="draw", source_ref=partner_row.code, legs=[
        Leg(chart.capital(partner_row.code), amount, currency, kind="draw"), Leg(chart.CASH, -amount, currency),
    ], field="amount")
    return Booked(entry, amount, date, memo)


def post_manual(session: Session, date: dt.date, memo: str, legs: Sequence[Leg]) -> Entry:
    """A journal entry as the treasurer wrote it (errors name ``postings[i].…``)."""
    check_posting_date(session, date)
    return post_entry(session, date=date, memo=memo, legs=legs, source_type="manual")


def reverse(session: Session, entry_id: int, date: dt.date | None = None, memo: str | None = None) -> Entry:
    """The mirror image of an entry (see ``reverse_entry``); a close is never reversed: it is
    undone by nothing, periods stay closed."""
    if date is not None:
        check_posting_date(session, date)
    original = session.get(Entry, entry_id)
    if original is not None and original.source_type == "close":
        raise Conflict(f"entry {entry_id} is a period's close and cannot be reversed", {"id": ["is a close"]})
    return reverse_entry(session, entry_id, date, memo)


def entry_detail(session: Session, entry_id: int) -> list[dict]:
    """An entry's posting detail, line by line: ``{account, amount, commodity, kind, engagement,
    practice}`` (a close's capital postings broken down by engagement), in line order."""
    rows = session.execute(
        select(Account.name, PostingDetail.amount, PostingDetail.commodity, PostingDetail.kind,
               Engagement.ref, Practice.code)
        .join(Account, Account.id == PostingDetail.account_id)
        .outerjoin(Engagement, Engagement.id == PostingDetail.engagement_id)
        .outerjoin(Practice, Practice.id == Engagement.practice_id)
        .where(PostingDetail.entry_id == entry_id).order_by(PostingDetail.line_no))
    return [{"account": name, "amount": amount, "commodity": commodity, "kind": kind, "engagement": ref,
             "practice": practice} for name, amount, commodity, kind, ref, practice in rows]


def engagement_refs(session: Session, ids: Iterable[int]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(session.execute(select(Engagement.id, Engagement.ref).where(Engagement.id.in_(ids))).all())

