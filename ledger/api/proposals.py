"""Proposals and votes (CONTRACT §5): open, list, show, vote, close, cancel; delegated votes (§8)."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from ledger.api.auth import current_partner, viewer
from ledger.api.openapi import INT_ID, blueprint
from ledger.api.transaction import requires
from ledger.core.codes import PROPOSAL_KINDS
from ledger.core.errors import Forbidden
from ledger.governance import service as gov
from ledger.read import impact, provenance
from ledger.read import proposals as reads
from ledger.read.impact import MAX_PERIODS
from ledger.runtime.database import get_session
from ledger.schema import Code, Int, Text, Timestamp

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


class ChoicesOut(Schema):
    yes = fields.String(required=True)
    no = fields.String(required=True)
    abstain = fields.String(required=True)


class TallyOut(Schema):
    yes = fields.String(required=True)
    no = fields.String(required=True)
    abstain = fields.String(required=True)
    eligible = fields.String(required=True)
    voted = fields.String(required=True)
    quorum_met = fields.Boolean(required=True)
    direct = fields.Nested(ChoicesOut, required=True, metadata={"description": "weight of votes cast in person"})
    delegated = fields.Nested(ChoicesOut, required=True, metadata={"description": "weight carried by delegations"})


class DelegationInTallyOut(Schema):
    to = fields.String(required=True)
    choice = fields.String()
    weight = fields.String()

    class Meta:
        include = {"from": fields.String(required=True)}


class DelegateIn(Schema):
    to = Code(required=True, metadata={"description": "the active partner who votes for you"})


class DelegationOut(Schema):
    id = fields.Integer(required=True)
    to = fields.String(required=True)
    proposal = fields.Integer(required=True, allow_none=True, metadata={"description": "null: standing"})
    created_at = Timestamp(required=True)
    revoked_at = Timestamp(required=True, allow_none=True)

    class Meta:
        include = {"from": fields.String(required=True)}


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
    delegations = fields.List(fields.Nested(DelegationInTallyOut), metadata={
        "description": "open: the delegations in force; closed: those that carried a vote"})


def _me():
    partner = current_partner(get_session())
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


# --- delegated votes (CONTRACT §8) ----------------------------------------------------------------


def _delegation(row) -> dict:
    return {"id": row.id, "from": row.delegator.code, "to": row.delegate.code, "proposal": row.proposal_id,
            "created_at": row.created_at, "revoked_at": row.revoked_at}


@bp.route(f"/proposals/<{INT_ID}:proposal_id>/delegation", methods=["POST"])
@requires("partner")
@bp.arguments(DelegateIn)
@bp.response(201, DelegationOut)
def delegate_for_proposal(data, proposal_id):
    """Delegate your vote on this proposal to another active partner (one hop; your own vote
    still wins). Replaces a delegation of yours for it."""
    return _delegation(gov.delegate_vote(get_session(), _me(), data["to"], proposal_id))


@bp.route(f"/proposals/<{INT_ID}:proposal_id>/delegation", methods=["DELETE"])
@requires("partner")
@bp.response(200, DelegationOut)
def revoke_for_proposal(proposal_id):
    """Revoke your delegation for this proposal (404 when none is in force); kept in the history."""
    return _delegation(gov.revoke_delegation(get_session(), _me(), proposal_id))


@bp.route("/delegations", methods=["POST"])
@requires("partner")
@bp.arguments(DelegateIn)
@bp.response(201, DelegationOut)
def delegate_standing(data):
    """A standing delegation: every proposal, until revoked (a per-proposal one wins over it)."""
    return _delegation(gov.delegate_vote(get_session(), _me(), data["to"], None))


@bp.route("/delegations", methods=["DELETE"])
@requires("partner")
@bp.response(200, DelegationOut)
def revoke_standing():
    """Revoke your standing delegation (404 when none is in force); kept in the history."""
    return _delegation(gov.revoke_delegation(get_session(), _me(), None))


@bp.route("/delegations", methods=["GET"])
@requires("partner")
@bp.response(200, DelegationOut(many=True))
def my_delegations():
    """Every delegation you made or received, newest first, revoked ones included."""
    return [_delegation(row) for row in gov.delegation_history(get_session(), _me())]


# --- what a vote would change, and why a figure is what it is (CONTRACT §8) -------------------------


class ImpactQuery(Schema):
    periods = Int(query=True, minimum=1, maximum=MAX_PERIODS, load_default=4,
                  metadata={"description": "how many of the last closed periods to replay"})


class ImpactRowOut(Schema):
    code = fields.String(required=True)
    actual = fields.String(required=True)
    proposed = fields.String(required=True)
    delta = fields.String(required=True)


class ImpactTotalsOut(Schema):
    actual = fields.String(required=True)
    proposed = fields.String(required=True)
    delta = fields.String(required=True)


class ImpactOut(Schema):
    proposal = fields.Integer(required=True)
    periods = fields.List(fields.String(), required=True)
    currency = fields.String(required=True)
    policy = fields.Dict(required=True)
    partners = fields.List(fields.Nested(ImpactRowOut), required=True)
    totals = fields.Nested(ImpactTotalsOut, required=True)


class PolicyOut(Schema):
    version = fields.Integer(required=True)
    origination = fields.String(required=True)
    practice = fields.String(required=True)
    pool = fields.String(required=True)
    pool_basis = fields.String(required=True)
    effective_period = fields.String(required=True)
    proposal = fields.Integer(required=True, allow_none=True, metadata={
        "description": "the passed change_policy that made it; null for the charter's"})


@bp.route(f"/proposals/<{INT_ID}:proposal_id>/impact", methods=["GET"])
@requires("any")
@bp.arguments(ImpactQuery, location="query", unknown=RAISE)
@bp.response(200, ImpactOut)
def proposal_impact(query, proposal_id):
    """A change_policy's impact: the last N closed periods replayed under its policy, nothing
    posted; per partner what was allocated, what would have been, and the difference (with closed
    books a partner reads their own row and the totals). 409 for another kind of proposal."""
    return impact.impact(get_session(), viewer(), proposal_id, query["periods"])


@bp.route("/policies", methods=["GET"])
@requires("any")
@bp.response(200, PolicyOut(many=True))
def list_policies():
    """Every sharing policy version, oldest first, with the proposal that made it."""
    return provenance.policies(get_session())
