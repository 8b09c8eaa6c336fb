"""The partnership's income statement (CONTRACT §10): any signed-in user, partnership-wide figures
only (no partner's capital lines), as JSON or CSV. The figures are ``ledger.read.income``'s."""

from __future__ import annotations

from flask import Response
from marshmallow import RAISE, Schema, fields, validate

from ledger.api.openapi import blueprint
from ledger.api.transaction import requires
from ledger.read.income import GROUPINGS, income_statement
from ledger.read.render import income_file, income_json
from ledger.runtime.database import get_session
from ledger.schema import PeriodId

bp = blueprint("reports", __name__, "The income statement")


class IncomeQuery(Schema):
    start = PeriodId(data_key="from", metadata={"description": "the first period (default: the first of to's year)"})
    end = PeriodId(data_key="to", metadata={"description": "the last period (default: the oldest open one)"})
    by = fields.String(load_default="practice", validate=validate.OneOf(GROUPINGS))
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


class FiguresOut(Schema):
    key = fields.String(required=True)
    name = fields.String()
    revenue = fields.String(required=True)
    direct_costs = fields.String(required=True)
    subcontract = fields.String(required=True)
    margin = fields.String(required=True)
    margin_pct = fields.String(required=True, allow_none=True, metadata={"example": "0.4250"})
    subcontract_share = fields.String(required=True, allow_none=True, metadata={"example": "0.3750"})
    provisional = fields.Boolean(metadata={"description": "by period: the period is still open"})


class TotalsOut(FiguresOut):
    key = fields.String()
    overhead = fields.String(required=True)
    unattributed = fields.String(required=True)
    net_income = fields.String(required=True, metadata={"description": "margin − overhead + unattributed"})
    allocated = fields.String(required=True, metadata={"description": "what the range's closes allocated"})


class PeriodStatusOut(Schema):
    id = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": ["open", "closed"]})


class IncomeOut(Schema):
    rows = fields.List(fields.Nested(FiguresOut), required=True)
    totals = fields.Nested(TotalsOut, required=True)
    by = fields.String(required=True)
    currency = fields.String(required=True)
    periods = fields.List(fields.Nested(PeriodStatusOut), required=True)
    provisional = fields.List(fields.String(), required=True,
                              metadata={"description": "the range's open periods: their figures may change"})

    class Meta:
        include = {"from": fields.String(required=True), "to": fields.String(required=True)}


@bp.route("/reports/income", methods=["GET"])
@requires("any")
@bp.arguments(IncomeQuery, location="query", unknown=RAISE)
@bp.response(200, IncomeOut)
@bp.doc(responses={"200": {"description": "the income statement: JSON, or CSV with ?format=csv", "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/IncomeOut"}},
    "text/csv": {"schema": {"type": "string"}}}}})
def income(query):
    """The income statement over ``from``..``to`` (closed or open periods; open ones are
    provisional), rows by practice, firm or period; totals equal the ledger's movements."""
    st = income_statement(get_session(), query.get("start"), query.get("end"), query["by"])
    if query["format"] == "csv":
        body, mimetype, filename = income_file(st, "csv")
        return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    return income_json(st)
