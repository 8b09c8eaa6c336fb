"""Equity: a partner's grants, and the dated events that reshaped their vesting (CONTRACT §5, §7).

``GET /partners/{code}/grants``: the partner's grants with their terms, the pauses that shape them
and their accelerations (self or treasurer). What they add up to — granted, vested, unvested, the
schedule and the next vesting date — is ``GET /partners/{code}/vesting`` (``periods.py``), which
reads the same terms.

No role changes vesting directly: a pause, a resumption or an acceleration changes who votes and
with what weight, so it is an ``amend_vesting`` proposal (``POST /proposals``), applied when it
passes by the equity service's rules (``ledger/equity/events.py``).
"""

from __future__ import annotations

from marshmallow import Schema, fields

from ledger.api.auth import require_self_or
from ledger.api.openapi import blueprint
from ledger.api.transaction import requires
from ledger.equity import events
from ledger.practices.service import get_partner
from ledger.runtime.database import get_session
from ledger.schema import Date, Timestamp

bp = blueprint("equity", __name__, "Grants, leave-of-absence pauses and accelerations")

MAX_UNITS = 10**12
#: Dates of vesting events: ``schema.Date``'s bounds (the service refuses more than 200 years from today).
EventDate = Date


# --- schemas -----------------------------------------------------------------------------------


class PauseOut(Schema):
    id = fields.Integer(required=True)
    partner = fields.String(required=True)
    start = fields.Date(required=True)
    end = fields.Date(required=True, allow_none=True)
    reason = fields.String(required=True)
    recorded_at = Timestamp(required=True)
    ended_at = Timestamp(required=True, allow_none=True)


class AccelerationOut(Schema):
    id = fields.Integer(required=True)
    partner = fields.String(required=True)
    grant = fields.Integer(required=True)
    date = fields.Date(required=True)
    quantity = fields.Integer(required=True)
    reason = fields.String(required=True)
    recorded_at = Timestamp(required=True)


class GrantOut(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"enum": ["founder", "grant"]})
    units = fields.Integer(required=True)
    start = fields.Date(required=True)
    cliff_months = fields.Integer(required=True)
    months = fields.Integer(required=True, metadata={"description": "0 for founder's units, vested on start"})
    every = fields.Integer(required=True, metadata={"description": "cadence in months: 1 monthly, 3 quarterly"})
    pauses = fields.List(fields.Nested(PauseOut), required=True)
    accelerations = fields.List(fields.Nested(AccelerationOut), required=True)


# --- routes ------------------------------------------------------------------------------------


@bp.route("/partners/<code:code>/grants", methods=["GET"])
@requires("any")
@bp.response(200, GrantOut(many=True))
def partner_grants(code):
    """The partner's grants with their terms, pauses and accelerations. Self or treasurer."""
    session = get_session()
    get_partner(session, code)
    require_self_or(code, "treasurer")
    return events.grants_detail(session, code)
