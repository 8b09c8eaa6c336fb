"""Clients, outside firms, engagements and the money around them (CONTRACT §3).

Writes are the treasurer's (an admin may too); reads of clients, firms and engagements (with their
profitability) are open to any signed-in user, like the partners and practices. The ledger effect
of each booking is in ``ledger/practices/bookings.py``.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ledger.api.openapi import blueprint
from ledger.api.transaction import requires
from ledger.core import chart
from ledger.core.economics import nsa_status
from ledger.core.money import fmt
from ledger.core.vetting import VETTING_CRITERIA
from ledger.db import clock_of
from ledger.journal.periods import get_books
from ledger.practices import bookings
from ledger.practices import engagements as work
from ledger.runtime.database import get_session
from ledger.schema import Code, Date, Money, Ref, Text

bp = blueprint("bookings", __name__, "Clients, firms, engagements, invoices, costs, payments, overhead, draws")


# --- schemas -----------------------------------------------------------------------------------


class ClientIn(Schema):
    code = Code(required=True)
    name = Text(required=True)


class ClientOut(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    receivable_account = fields.String(required=True)


class FirmIn(Schema):
    code = Code(required=True)
    name = Text(required=True)
    vetted = fields.List(fields.String(validate=validate.OneOf(VETTING_CRITERIA)), load_default=list,
                         validate=validate.Length(max=len(VETTING_CRITERIA)),
                         metadata={"description": "the vetting criteria the firm meets"})
    nsa_signed_on = Date(load_default=None, allow_none=True, metadata={"description": "non-solicitation agreement"})
    nsa_expires_on = Date(load_default=None, allow_none=True)


class FirmOut(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    vetted = fields.List(fields.String(), required=True)
    nsa_signed_on = fields.Date(required=True, allow_none=True)
    nsa_expires_on = fields.Date(required=True, allow_none=True)
    fully_vetted = fields.Boolean(required=True, metadata={"description": "meets all six criteria"})
    nsa_status = fields.String(required=True, metadata={
        "enum": ["in_force", "expires_soon", "expired"],
        "description": "the NSA today: expires_soon when its last day is within 60 days; expired when none is in force"})


class EngagementIn(Schema):
    ref = Ref(required=True)
    client = Code(required=True)
    practice = Code(required=True)
    originator = Code(required=True)
    title = Text(required=True)
    opened_on = Date(required=True)


class ProfitabilityOut(Schema):
    invoiced = Money(required=True)
    costs = Money(required=True)
    net_margin = Money(required=True)
    subcontracted = Money(required=True)
    subcontracted_share = fields.String(
        required=True, allow_none=True,
        metadata={"description": "subcontracted / invoiced, as a percentage (null while nothing is invoiced)",
                  "example": "37.5%"})


class EngagementOut(Schema):
    ref = fields.String(required=True)
    client = fields.String(required=True)
    practice = fields.String(required=True)
    originator = fields.String(required=True)
    title = fields.String(required=True)
    opened_on = fields.Date(required=True)
    profitability = fields.Nested(ProfitabilityOut, required=True)


class InvoiceIn(Schema):
    amount = Money(required=True, positive=True)
    date = Date(required=True)
    memo = Text(max_length=500)


class BookingOut(Schema):
    """What every booking answers: the entry it wrote and the booking's own facts."""

    entry = fields.Integer(required=True, metadata={"description": "the ledger entry's id"})
    amount = Money(required=True)
    date = fields.Date(required=True)
    memo = fields.String(required=True)


class InvoiceOut(BookingOut):
    engagement = fields.String(required=True)


class CostIn(Schema):
    amount = Money(required=True, positive=True)
    date = Date(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["subcontract", "expense"]))
    firm = Code(allow_none=True)
    memo = Text(max_length=500)


class CostOut(BookingOut):
    engagement = fields.String(required=True)
    kind = fields.String(required=True)
    firm = fields.String(required=True, allow_none=True)


class PaymentIn(Schema):
    client = Code(required=True)
    amount = Money(required=True, positive=True)
    date = Date(required=True)


class PaymentOut(BookingOut):
    client = fields.String(required=True)
    outstanding = Money(required=True, metadata={"description": "what the client still owes, all dates"})


class OverheadIn(Schema):
    amount = Money(required=True, positive=True)
    date = Date(required=True)
    category = Code(required=True, metadata={"example": "rent"})
    memo = Text(max_length=500)


class OverheadOut(BookingOut):
    category = fields.String(required=True)
    account = fields.String(required=True)


class DrawIn(Schema):
    partner = Code(required=True)
    amount = Money(required=True, positive=True)
    date = Date(required=True)


class DrawOut(BookingOut):
    partner = fields.String(required=True)


# --- views -------------------------------------------------------------------------------------


def _money(amount) -> str:
    """An amount written with exactly the partnership currency's minor units (CONTRACT §7)."""
    return fmt(amount, get_books(get_session()).currency)


def _booked(booked, **extra) -> dict:
    return {"entry": booked.entry.id, "amount": _money(booked.amount), "date": booked.date, "memo": booked.memo,
            **extra}


def _engagement(engagement, figures) -> dict:
    return {"ref": engagement.ref, "client": engagement.client.code, "practice": engagement.practice.code,
            "originator": engagement.originator.code, "title": engagement.title,
            "opened_on": engagement.opened_on,
            "profitability": {"invoiced": _money(figures.invoiced), "costs": _money(figures.costs),
                              "net_margin": _money(figures.net_margin), "subcontracted": _money(figures.subcontracted),
                              "subcontracted_share": figures.subcontracted_share}}


def _firm(firm) -> dict:
    return {"code": firm.code, "name": firm.name, "vetted": firm.vetted_list, "nsa_signed_on": firm.nsa_signed_on,
            "nsa_expires_on": firm.nsa_expires_on, "fully_vetted": all(c in firm.vetted_list for c in VETTING_CRITERIA),
            "nsa_status": nsa_status(firm.nsa_signed_on, firm.nsa_expires_on, clock_of(get_session()).today())}


@bp.route("/clients", methods=["POST"])
@requires("treasurer")
@bp.arguments(ClientIn)
@bp.response(201, ClientOut)
def create_client(data):
    """A client; its receivable account is opened with it."""
    client = work.create_client(get_session(), data["code"], data["name"])
    return {"code": client.code, "name": client.name, "receivable_account": chart.receivable(client.code)}


@bp.route("/clients", methods=["GET"])
@requires("any")
@bp.response(200, ClientOut(many=True))
def list_clients():
    """Every client, by code."""
    return [{"code": c.code, "name": c.name, "receivable_account": chart.receivable(c.code)}
            for c in work.list_clients(get_session())]


@bp.route("/firms", methods=["POST"])
@requires("treasurer")
@bp.arguments(FirmIn)
@bp.response(201, FirmOut)
def create_firm(data):
    """An outside firm: the vetting criteria it meets and its non-solicitation agreement."""
    firm = work.create_firm(get_session(), data["code"], data["name"], data["vetted"],
                                data["nsa_signed_on"], data["nsa_expires_on"])
    return _firm(firm)


@bp.route("/firms", methods=["GET"])
@requires("any")
@bp.response(200, FirmOut(many=True))
def list_firms():
    """Every outside firm, by code."""
    return [_firm(f) for f in work.list_firms(get_session())]


@bp.route("/engagements", methods=["POST"])
@requires("treasurer")
@bp.arguments(EngagementIn)
@bp.response(201, EngagementOut)
def create_engagement(data):
    """An engagement of a practice for a client; its originator must be an active partner."""
    session = get_session()
    engagement = work.open_engagement(session, **data)
    return _engagement(engagement, work.engagement_profitability(session, [engagement.id])[engagement.id])


@bp.route("/engagements", methods=["GET"])
@requires("any")
@bp.response(200, EngagementOut(many=True))
def list_engagements():
    """Every engagement, by ref, with its profitability to date."""
    session = get_session()
    engagements = work.list_engagements(session)
    figures = work.engagement_profitability(session, [e.id for e in engagements])
    return [_engagement(e, figures[e.id]) for e in engagements]


@bp.route("/engagements/<ref:ref>", methods=["GET"])
@requires("any")
@bp.response(200, EngagementOut)
def show_engagement(ref):
    """One engagement with its profitability: invoiced, costs, net margin, subcontracted share."""
    session = get_session()
    engagement = work.get_engagement(session, ref)
    return _engagement(engagement, work.engagement_profitability(session, [engagement.id])[engagement.id])


@bp.route("/engagements/<ref:ref>/invoices", methods=["POST"])
@requires("treasurer")
@bp.arguments(InvoiceIn)
@bp.response(201, InvoiceOut)
def create_invoice(data, ref):
    """Revenue: Dr the client's receivable, Cr the practice's revenue."""
    booked = bookings.record_invoice(get_session(), ref, data["amount"], data["date"], data.get("memo"))
    return _booked(booked, engagement=ref)


@bp.route("/engagements/<ref:ref>/costs", methods=["POST"])
@requires("treasurer")
@bp.arguments(CostIn)
@bp.response(201, CostOut)
def create_cost(data, ref):
    """A direct cost: a subcontract to a vetted firm under an NSA on the date, or an expense."""
    booked, cost = bookings.record_cost(get_session(), ref, data["amount"], data["date"], data["kind"],
                                        data.get("firm"), data.get("memo"))
    return _booked(booked, engagement=ref, kind=cost.kind, firm=cost.firm.code if cost.firm else None)


@bp.route("/payments", methods=["POST"])
@requires("treasurer")
@bp.arguments(PaymentIn)
@bp.response(201, PaymentOut)
def create_payment(data):
    """Cash received from a client against its receivable (never more than it owes)."""
    booked, left = bookings.record_payment(get_session(), data["client"], data["amount"], data["date"])
    return _booked(booked, client=data["client"], outstanding=_money(left))


@bp.route("/overhead", methods=["POST"])
@requires("treasurer")
@bp.arguments(OverheadIn)
@bp.response(201, OverheadOut)
def create_overhead(data):
    """Shared overhead by category (its expense account is opened on first use)."""
    booked, account = bookings.record_overhead(get_session(), data["category"], data["amount"], data["date"],
                                               data.get("memo"))
    return _booked(booked, category=data["category"], account=account)


@bp.route("/draws", methods=["POST"])
@requires("treasurer")
@bp.arguments(DrawIn)
@bp.response(201, DrawOut)
def create_draw(data):
    """Cash paid out to a partner, charged to its capital account."""
    booked = bookings.record_draw(get_session(), data["partner"], data["amount"], data["date"])
    return _booked(booked, partner=data["partner"])
