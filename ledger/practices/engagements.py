"""The partnership's clients, outside firms and engagements: creating them, and what each
engagement earned.

Errors name the request field at fault: a code in a body that names nothing is a
``ValidationError`` on that field (the resource asked for exists; the body is wrong); an
engagement ref in the path that names nothing is ``NotFound``. Services never commit.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from ledger.core import chart
from ledger.core.errors import Conflict, NotFound, ValidationError
from ledger.core.money import ZERO
from ledger.core.vetting import VETTING_CRITERIA, Profitability, profitability
from ledger.journal.models import Account, Entry, Posting
from ledger.journal.periods import get_books
from ledger.journal.service import open_account
from ledger.practices.models import Client, Cost, Engagement, Firm, Partner, Practice


def by_code(session: Session, model, code: str, field: str, what: str):
    """The row of ``model`` with ``code``, or a ``ValidationError`` on ``field`` (a body naming nothing)."""
    row = session.scalar(select(model).where(model.code == code))
    if row is None:
        raise ValidationError(f"no {what} {code!r}", {field: [f"unknown {what} {code!r}"]})
    return row


def create_client(session: Session, code: str, name: str) -> Client:
    """A client, with its receivable account opened."""
    if session.scalar(select(Client.id).where(Client.code == code)) is not None:
        raise Conflict(f"client {code!r} already exists", {"code": ["already exists"]})
    account = chart.receivable(code)
    if session.scalar(select(Account.id).where(Account.name == account)) is not None:
        raise Conflict(f"the account {account} is already open", {"code": [f"{account} is already open"]})
    client = Client(code=code, name=name)
    session.add(client)
    open_account(session, account, [get_books(session).currency])
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
    """An engagement of a practice for a client, originated by an active partner. A partner whose
    retirement has passed its vote, or who has retired, originates nothing more (409, CONTRACT §7)."""
    errors: dict[str, list[str]] = {}
    found = {}
    for field, model, code, what in (("client", Client, client, "client"), ("practice", Practice, practice, "practice"),
                                     ("originator", Partner, originator, "partner")):
        try:
            found[field] = by_code(session, model, code, field, what)
        except ValidationError as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationError("the engagement is refused: " + "; ".join(f"{k}: {v[0]}" for k, v in errors.items()),
                              errors)
    partner = found["originator"]
    if partner.status != "active" or partner.leaves_on is not None:
        state = partner.status if partner.status != "active" else f"retiring on {partner.leaves_on.isoformat()}"
        raise Conflict(f"{originator} is {state} and originates no engagement",
                       {"originator": [f"{originator} is {state}"]})
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
