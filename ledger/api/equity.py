"""Equity: a partner's grants, and the dated events that reshape their vesting (CONTRACT §5).

- ``GET /partners/{code}/grants``: the partner's grants with their terms, the pauses that shape
  them and their accelerations (self or treasurer). What they add up to — granted, vested,
  unvested, the schedule and the next vesting date — is ``GET /partners/{code}/vesting``
  (``periods.py``), which reads the same terms.
- ``POST /partners/{code}/pauses`` ``{start, end?, reason?}``: a leave of absence (treasurer);
  ``POST /partners/{code}/pauses/{id}/end`` ``{end}`` ends an open one.
- ``POST /partners/{code}/accelerations`` ``{date, quantity, reason, grant?}`` (treasurer).

The rules (what is a 422, what a 409) are the service's: ``ledger/equity/events.py``.
"""

from __future__ import annotations

from marshmallow import Schema, fields

from ledger.api.auth import require_self_or
from ledger.api.openapi import INT_ID, blueprint
from ledger.api.transaction import requires
from ledger.equity import events
from ledger.practices.service import get_partner
from ledger.runtime.database import get_session
from ledger.schema import MAX_INT_ID, Date, Int, Text, Timestamp

bp = blueprint("equity", __name__, "Grants, leave-of-absence pauses and accelerations")

MAX_UNITS = 10**12
#: Dates of vesting events: ``schema.Date``'s bounds (the service refuses more than 200 years from today).
EventDate = Date


# --- schemas -----------------------------------------------------------------------------------


class PauseIn(Schema):
    start = EventDate(required=True, metadata={"description": "the first day of the leave"})
    end = EventDate(load_default=None, allow_none=True,
                    metadata={"description": "the last day of the leave; omit while it is not known"})
    reason = Text(load_default="", min_length=0)


class PauseEndIn(Schema):
    end = EventDate(required=True, metadata={"description": "the last day of the leave"})


class PauseOut(Schema):
    id = fields.Integer(required=True)
    partner = fields.String(required=True)
    start = fields.Date(required=True)
    end = fields.Date(required=True, allow_none=True)
    reason = fields.String(required=True)
    recorded_at = Timestamp(required=True)
    ended_at = Timestamp(required=True, allow_none=True)


class AccelerationIn(Schema):
    date = EventDate(required=True, metadata={"description": "the day the units vest"})
    quantity = Int(required=True, minimum=1, maximum=MAX_UNITS,
                   metadata={"description": "units that vest on date, taken from the next tranches"})
    reason = Text(required=True)
    grant = Int(load_default=None, allow_none=True, minimum=1, maximum=MAX_INT_ID,
                metadata={"description": "the grant's id; needed only when the partner has several"})


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


@bp.route("/partners/<code:code>/pauses", methods=["POST"])
@requires("treasurer")
@bp.arguments(PauseIn)
@bp.response(201, PauseOut)
def create_pause(data, code):
    """A leave of absence: vesting time stops from ``start`` to ``end`` (both included; open while
    ``end`` is not given), and every later tranche moves by the days paused. 422 for a partner
    with founder's units only, a start before the grant, an overlap with another pause; 409 for a
    start in a closed period or a retired partner."""
    row = events.add_pause(get_session(), code, data["start"], data["end"], data["reason"])
    return events.pause_out(row)


@bp.route(f"/partners/<code:code>/pauses/<{INT_ID}:pause_id>/end", methods=["POST"])
@requires("treasurer")
@bp.arguments(PauseEndIn)
@bp.response(200, PauseOut)
def end_pause(data, code, pause_id):
    """Record the last day of an open pause; vesting runs again from the day after. 409 when it
    already ended, or when ``end`` is before the last day of the last closed period."""
    row = events.end_pause(get_session(), code, pause_id, data["end"])
    return events.pause_out(row)


@bp.route("/partners/<code:code>/accelerations", methods=["POST"])
@requires("treasurer")
@bp.arguments(AccelerationIn)
@bp.response(201, AccelerationOut)
def create_acceleration(data, code):
    """``quantity`` units vest on ``date``, taken from the next tranches (the total and the final
    date do not change). 422 when more than is unvested that day; 409 for a date in a closed period."""
    row = events.add_acceleration(get_session(), code, data["date"], data["quantity"], data["reason"],
                                  data["grant"])
    return events.acceleration_out(row)
