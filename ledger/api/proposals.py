"""Proposals and votes (CONTRACT §5): open, list, show, vote, close, cancel."""

from __future__ import annotations

from flask import g
from marshmallow import RAISE, Schema, fields, validate

from ledger.api.auth import viewer
from ledger.api.openapi import INT_ID, blueprint
from ledger.api.transaction import requires
from ledger.core.codes import PROPOSAL_KINDS
from ledger.core.errors import Forbidden
from ledger.governance import service as gov
from ledger.read import proposals as reads
from ledger.runtime.database import get_session
from ledger.schema import Text, Timestamp

bp = blueprint("proposals", __name__, "Proposals, votes and their effects")


class ProposalIn(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(PROPOSAL_KINDS))
    title = Text(required=True, max_length=200)
    payload = fields.Dict(required=True, metadata={"description": "the kind's payload (see docs/api.md)"})
    closes_at = Timestamp(required=True, metadata={"description": "an RFC 3339 time with an offset"})


class VoteIn(Schema):
    choice = fields.String(required=True, validate=validate.OneOf(gov.CHOICES))


class ListQuery(Schema):
    status = fields.String(validate=validate.OneOf(["open", "passed", "failed", "canceled"]))


class ElectorOut(Schema):
    partner = fields.String(required=True)
    weight = fields.Integer(required=True)


class TallyOut(Schema):
    yes = fields.String(required=True)
    no = fields.String(required=True)
    abstain = fields.String(required=True)
    eligible = fields.String(required=True)
    voted = fields.String(required=True)
    quorum_met = fields.Boolean(required=True)


class RuleOut(Schema):
    weighting = fields.String(required=True)
    quorum = fields.String(required=True)
    threshold = fields.String(required=True)
    of = fields.String(required=True)


class ProposalOut(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    title = fields.String(required=True)
    payload = fields.Dict(required=True)
    status = fields.String(required=True, metadata={"enum": ["open", "passed", "failed", "canceled"]})
    proposer = fields.String(required=True)
    opened_at = Timestamp(required=True)
    closes_at = Timestamp(required=True)
    closed_at = Timestamp(allow_none=True)
    executed_at = Timestamp(allow_none=True)
    reason = fields.String(allow_none=True)
    effect = fields.String(allow_none=True)
    rule = fields.Nested(RuleOut, required=True)
    electorate = fields.List(fields.Nested(ElectorOut), required=True)
    eligible_weight = fields.Integer(required=True)
    voted = fields.List(fields.String(), required=True)
    tally = fields.Nested(TallyOut, allow_none=True)
    votes = fields.Dict(keys=fields.String(), values=fields.String())


def _me():
    partner = g.user.partner
    if partner is None:
        raise Forbidden("only a partner may do this")
    return partner


@bp.route("/proposals", methods=["POST"])
@requires("partner")
@bp.arguments(ProposalIn)
@bp.response(201, ProposalOut)
def open_proposal(data):
    """Open a proposal (any active partner); its rule, electorate and weights are frozen now."""
    session = get_session()
    p = gov.open_proposal(session, _me(), data["kind"], data["title"], data["payload"], data["closes_at"])
    return reads.describe(session, p)


@bp.route("/proposals", methods=["GET"])
@requires("any")
@bp.arguments(ListQuery, location="query", unknown=RAISE)
@bp.response(200, ProposalOut(many=True))
def list_proposals(query):
    """Proposals, oldest first; ``?status=open`` for what awaits a vote."""
    session = get_session()
    return [reads.describe(session, p) for p in reads.proposals(session, query.get("status"))]


@bp.route(f"/proposals/<{INT_ID}:proposal_id>", methods=["GET"])
@requires("any")
@bp.response(200, ProposalOut)
def show_proposal(proposal_id):
    """One proposal: frozen electorate, who has voted (how, only after close), the tally."""
    return reads.show(get_session(), proposal_id)


@bp.route(f"/proposals/<{INT_ID}:proposal_id>/votes", methods=["POST"])
@requires("partner")
@bp.arguments(VoteIn)
@bp.response(201, ProposalOut)
def vote(data, proposal_id):
    """Vote yes, no or abstain; a later vote replaces the earlier. 403 outside the electorate,
    409 once voting is over."""
    session = get_session()
    return reads.describe(session, gov.cast_vote(session, proposal_id, _me(), data["choice"]))


@bp.route(f"/proposals/<{INT_ID}:proposal_id>/close", methods=["POST"])
@requires("partner", "treasurer")
@bp.response(200, ProposalOut)
def close(proposal_id):
    """Tally and, when passed, apply the effect in the same transaction. Allowed at ``closes_at``,
    or earlier once every elector has voted (else 409); closing a closed proposal returns it."""
    session = get_session()
    return reads.describe(session, gov.close_proposal(session, proposal_id, viewer()))


@bp.route(f"/proposals/<{INT_ID}:proposal_id>/cancel", methods=["POST"])
@requires("partner")
@bp.response(200, ProposalOut)
def cancel(proposal_id):
    """The proposer withdraws it, before any vote is cast."""
    session = get_session()
    return reads.describe(session, gov.cancel_proposal(session, proposal_id, _me()))
