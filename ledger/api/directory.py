"""Who is in the partnership: health, partners and practices (reads for any signed-in user).

Every member may see who the partners are, their vested units and who owns which practice: the
partnership is a cooperative, and these figures decide votes and the pool.
"""

from __future__ import annotations

from marshmallow import Schema, fields

from ledger.api.openapi import blueprint
from ledger.api.transaction import public, requires
from ledger.core.money import format_percent
from ledger.read import directory
from ledger.runtime.database import get_session

bp = blueprint("directory", __name__, "Health, partners and practices")


class HealthOut(Schema):
    status = fields.String(required=True, metadata={"example": "ok"})


class PartnerOut(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    email = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": ["active", "retired"]})
    joined_on = fields.Date(required=True)
    retired_on = fields.Date(required=True, allow_none=True)
    vested_units = fields.Integer(required=True,
                                  metadata={"description": "units vested today (UTC), by the vesting schedule"})


class PracticeOut(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    created_on = fields.Date(required=True)
    owners = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                         metadata={"example": {"ben": "70%", "chen": "30%"}})


def _practice(practice: directory.PracticeView) -> dict:
    return {"code": practice.code, "name": practice.name, "created_on": practice.created_on,
            "owners": {code: format_percent(share) for code, share in practice.owners.items()}}


@bp.route("/health", methods=["GET"])
@public
@bp.response(200, HealthOut)
def health():
    """Liveness: no token needed."""
    return {"status": "ok"}


@bp.route("/partners", methods=["GET"])
@requires("any")
@bp.response(200, PartnerOut(many=True))
def list_partners():
    """Every partner, active and retired, by code."""
    return directory.partners(get_session())


@bp.route("/partners/<code:code>", methods=["GET"])
@requires("any")
@bp.response(200, PartnerOut)
def show_partner(code):
    """One partner."""
    return directory.partner(get_session(), code)


@bp.route("/practices", methods=["GET"])
@requires("any")
@bp.response(200, PracticeOut(many=True))
def list_practices():
    """Every practice with its owners in force, as percentages."""
    return [_practice(p) for p in directory.practices(get_session())]


@bp.route("/practices/<code:code>", methods=["GET"])
@requires("any")
@bp.response(200, PracticeOut)
def show_practice(code):
    """One practice with its owners in force."""
    return _practice(directory.practice(get_session(), code))
