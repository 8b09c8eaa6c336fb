"""Periods, their preview and close; share statements (JSON, CSV, PDF), vesting and buyouts."""

from __future__ import annotations

from flask import Response
from marshmallow import RAISE, Schema, fields, validate

from ledger.api.auth import viewer
from ledger.api.openapi import blueprint
from ledger.api.transaction import requires
from ledger.core.errors import Conflict, ValidationError
from ledger.core.money import fmt
from ledger.journal import periods
from ledger.journal.periods import PeriodView
from ledger.partnership.close import close_period
from ledger.read import directory, provenance
from ledger.read.render import DOWNLOADS, statement_file
from ledger.read.statements import read_statement
from ledger.revenue.close import preview
from ledger.runtime.database import get_session
from ledger.schema import Date, Int, PeriodId, Timestamp

bp = blueprint("periods", __name__, "Periods, the close, statements, vesting and buyouts")


class PeriodOut(Schema):
    id = fields.String(required=True, metadata={"example": "2026-01"})
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    status = fields.String(required=True, metadata={"enum": ["open", "closed"]})
    closed_at = Timestamp(allow_none=True)
    policy_version = fields.Integer(allow_none=True)


class ShareOut(Schema):
    partner = fields.String(required=True)
    amount = fields.String(required=True)


class EngagementShareOut(Schema):
    engagement = fields.String(required=True)
    practice = fields.String(required=True)
    net_margin = fields.String(required=True)
    origination = fields.Nested(ShareOut, required=True)
    practice_shares = fields.List(fields.Nested(ShareOut), required=True)
    pool = fields.String(required=True)


class PreviewOut(Schema):
    period = fields.String(required=True)
    policy_version = fields.Integer(required=True)
    net_margin = fields.String(required=True)
    overhead = fields.String(required=True)
    unattributed = fields.String(required=True, metadata={
        "description": "income less costs of the period naming no engagement and not overhead; it joins the pool"})
    pool_net = fields.String(required=True)
    pool_basis = fields.String(required=True, metadata={
        "description": "how the pool is split: the policy's basis, or equal when nobody holds vested units"})
    engagements = fields.List(fields.Nested(EngagementShareOut), required=True)
    pool_shares = fields.List(fields.Nested(ShareOut), required=True)
    partners = fields.Dict(keys=fields.String(), values=fields.Dict(), required=True)


class LineOut(Schema):
    kind = fields.String(required=True)
    amount = fields.String(required=True)
    engagement = fields.String()
    practice = fields.String()
    entry = fields.Integer(required=True)
    date = fields.String()
    policy_version = fields.Integer(metadata={"description": "origination, practice and pool lines: the policy "
                                                             "version their close applied"})
    proposal = fields.Integer(allow_none=True, metadata={"description": "the passed change_policy that made that "
                                                                        "version (null: the charter's)"})


class InstallmentOut(Schema):
    date = fields.String(required=True)
    amount = fields.String(required=True)
    entry = fields.Integer(required=True)


class UnitsOut(Schema):
    vested = fields.Integer(required=True)
    unvested = fields.Integer(required=True)


class StatementPolicyOut(Schema):
    version = fields.Integer(required=True)
    origination = fields.String(required=True)
    practice = fields.String(required=True)
    pool = fields.String(required=True)
    pool_basis = fields.String(required=True)
    effective_period = fields.String(required=True)
    proposal = fields.Integer(allow_none=True, required=True)
    proposal_title = fields.String(allow_none=True, required=True)


class StatementOut(Schema):
    partner = fields.String(required=True)
    name = fields.String()
    partnership = fields.String()
    currency = fields.String()
    period = fields.String(required=True)
    opening = fields.String(required=True)
    lines = fields.List(fields.Nested(LineOut), required=True)
    allocated = fields.String(required=True)
    draws = fields.String(required=True)
    closing = fields.String(required=True)
    unattributed = fields.String(metadata={"description": "the periods' unattributed net (their total, "
                                                           "shared through the pool lines)"})
    notes = fields.List(fields.String(), metadata={"description": "how a period's pool was split when not by "
                                                                  "its policy's basis"})
    policies = fields.List(fields.Nested(StatementPolicyOut), metadata={
        "description": "the policy versions the allocation lines were closed under, with the vote behind each"})
    units = fields.Nested(UnitsOut, required=True)
    installments = fields.List(fields.Nested(InstallmentOut))

    class Meta:
        include = {"from": fields.String(), "to": fields.String()}


class ExplainOut(Schema):
    partner = fields.String(required=True)
    period = fields.String(required=True)
    line_number = fields.Integer(required=True)
    line = fields.Nested(LineOut, required=True)
    entry = fields.Dict(required=True)
    engagement = fields.Dict(allow_none=True, required=True, metadata={
        "description": "origination and practice lines: the engagement, its invoiced, costs and net_margin totals "
                       "and the invoice_entries and cost_entries that made them"})
    split = fields.Dict(allow_none=True, required=True, metadata={"description": "the split step, its weights and amounts"})
    policy = fields.Dict(allow_none=True, required=True)
    proposal = fields.Dict(allow_none=True, required=True, metadata={"description": "the vote, with its tally"})
    capital_account = fields.String()
    note = fields.String()


class StatementQuery(Schema):
    period = PeriodId(year=True, metadata={"description": "a closed period, or a year to date"})
    start = PeriodId(data_key="from", metadata={"description": "the first period of a range (with to)"})
    end = PeriodId(data_key="to", metadata={"description": "the last period of a range (with from)"})
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv", "pdf"]))


class ExplainQuery(Schema):
    period = PeriodId(required=True, metadata={"description": "a closed period"})
    line = Int(required=True, query=True, minimum=0, maximum=1_000_000,
               metadata={"description": "the line's index in the statement's lines, from 0"})


class VestingQuery(Schema):
    as_of = Date(metadata={"description": "default: today (UTC)"})


class ScheduleOut(Schema):
    date = fields.String(required=True)
    units = fields.Integer(required=True)
    cumulative = fields.Integer(required=True)


class VestingOut(Schema):
    granted = fields.Integer(required=True)
    vested = fields.Integer(required=True)
    unvested = fields.Integer(required=True)
    schedule = fields.List(fields.Nested(ScheduleOut), required=True)
    next_vesting_date = fields.String(allow_none=True)


class BuyoutInstallmentOut(Schema):
    number = fields.Integer(required=True)
    period = fields.String(required=True)
    amount = fields.String(required=True)
    status = fields.String(required=True)
    entry = fields.Integer(allow_none=True)


class BuyoutOut(Schema):
    partner = fields.String(required=True)
    status = fields.String(required=True)
    effective_period = fields.String(required=True)
    capital = fields.String(allow_none=True)
    goodwill = fields.String(allow_none=True)
    total = fields.String(allow_none=True)
    installments = fields.List(fields.Nested(BuyoutInstallmentOut), required=True)


def _period(p: PeriodView) -> dict:
    return {"id": p.id, "starts_on": p.starts_on, "ends_on": p.ends_on, "status": p.status,
            "closed_at": p.closed_at, "policy_version": p.policy_version}


@bp.route("/periods", methods=["GET"])
@requires("any")
@bp.response(200, PeriodOut(many=True))
def list_periods():
    """Every period from the partnership's start to the oldest open one, with its status."""
    return [_period(p) for p in periods.list_periods(get_session())]


@bp.route("/periods/<period:period_id>/close", methods=["POST"])
@requires("treasurer")
@bp.response(200, PeriodOut)
def close(period_id):
    """Close the oldest open period: allocate, post, lock. 409 for any other well-formed id."""
    return _period(periods.get_period(get_session(), close_period(get_session(), period_id).id))


@bp.route("/periods/<period:period_id>/preview", methods=["GET"])
@requires("treasurer")
@bp.response(200, PreviewOut)
def preview_period(period_id):
    """The allocation the close would post, computed without posting anything."""
    session = get_session()
    if periods.get_period(session, period_id).status == "closed":
        raise Conflict(f"period {period_id} is closed: read its statements instead", {"period": ["closed"]})
    a = preview(session, period_id)
    c = a.currency

    def money(amount):
        return fmt(amount, c)

    return {
        "period": a.period, "policy_version": a.policy.version, "net_margin": money(a.net_margin),
        "overhead": money(a.overhead), "unattributed": money(a.unattributed), "pool_net": money(a.pool_net),
        "pool_basis": a.pool_basis_applied,
        "engagements": [{"engagement": e.facts.ref, "practice": e.facts.practice, "net_margin": money(e.facts.net),
                         "origination": {"partner": e.origination.partner, "amount": money(e.origination.amount)},
                         "practice_shares": [{"partner": s.partner, "amount": money(s.amount)} for s in e.practice],
                         "pool": money(e.pool)} for e in a.engagements],
        "pool_shares": [{"partner": s.partner, "amount": money(s.amount)} for s in a.pool_shares],
        "partners": {p: {k: money(v) for k, v in kinds.items()} for p, kinds in a.by_partner.items()},
    }


@bp.route("/partners/<code:code>/statement", methods=["GET"])
@requires("any")
@bp.arguments(StatementQuery, location="query", unknown=RAISE)
@bp.response(200, StatementOut)
@bp.doc(responses={"200": {"description": "the statement: JSON, or CSV or PDF with ?format=", "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/StatementOut"}},
    "text/csv": {"schema": {"type": "string"}},
    "application/pdf": {"schema": {"type": "string", "format": "binary"}}}}})
def partner_statement(query, code):
    """A partner's share statement for a closed period (``period=2026-01``), a year to date
    (``period=2026``) or a range (``from``/``to``); ``format=csv`` or ``pdf`` too. Self or
    treasurer; every partner when the charter has open books."""
    fmt_ = query.get("format", "json")
    if fmt_ not in ("json", "csv", "pdf"):
        raise ValidationError("format must be json, csv or pdf", {"format": ["one of json, csv, pdf"]})
    st = read_statement(get_session(), viewer(), code, query.get("period"), query.get("start"), query.get("end"))
    if fmt_ in DOWNLOADS:
        body, mimetype, filename = statement_file(st, fmt_)
        return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    return st


@bp.route("/partners/<code:code>/vesting", methods=["GET"])
@requires("any")
@bp.arguments(VestingQuery, location="query", unknown=RAISE)
@bp.response(200, VestingOut)
def partner_vesting(query, code):
    """Granted, vested and unvested units as of a date (default today), the full schedule and the
    next vesting date. Self or treasurer."""
    return directory.vesting(get_session(), viewer(), code, query.get("as_of"))


@bp.route("/partners/<code:code>/buyout", methods=["GET"])
@requires("any")
@bp.response(200, BuyoutOut)
def partner_buyout(code):
    """A retiring or retired partner's buyout: capital, goodwill, total, installments. Self or treasurer."""
    return directory.buyout(get_session(), viewer(), code)


@bp.route("/partners/<code:code>/statement/explain", methods=["GET"])
@requires("any")
@bp.arguments(ExplainQuery, location="query", unknown=RAISE)
@bp.response(200, ExplainOut)
def explain_line(query, code):
    """Why one statement line is what it is (CONTRACT §8): the engagement's invoices and costs, the
    split step and its weights, the policy version and the vote that made it. Whoever may read the
    statement may read this; other partners' weights only with open books."""
    return provenance.explain(get_session(), viewer(), code, query["period"], query["line"])
