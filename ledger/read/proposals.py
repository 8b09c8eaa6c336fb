"""Proposals as the API and the web show them: the frozen electorate, who has voted (how, only
once the proposal is closed), the tally, and what the viewer may do with it — each answer taken
from the governance service's own rules, so the surfaces cannot disagree."""

from __future__ import annotations

import json
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.access import Viewer
from ledger.core.clock import rfc3339
from ledger.core.money import format_percent
from ledger.db import clock_of
from ledger.governance.models import Delegation, Proposal
from ledger.governance.service import (
    delegations_in_force,
    electorate_of,
    get_proposal,
    latest_votes,
    may_close,
)
from ledger.practices.models import Partner


def proposals(session: Session, status: str | None = None) -> list[Proposal]:
    q = select(Proposal).order_by(Proposal.id)
    if status:
        q = q.where(Proposal.status == status)
    return list(session.scalars(q))


def describe(session: Session, proposal: Proposal) -> dict:
    """The proposal as the API shows it: frozen electorate, who has voted (how, only after close)."""
    electorate = electorate_of(session, proposal)
    votes = latest_votes(session, proposal)
    out = {
        "id": proposal.id, "kind": proposal.kind, "title": proposal.title, "payload": json.loads(proposal.payload),
        "status": proposal.status, "proposer": proposal.proposer.code,
        "opened_at": rfc3339(proposal.opened_at), "closes_at": rfc3339(proposal.closes_at),
        "closed_at": rfc3339(proposal.closed_at),
        "executed_at": rfc3339(proposal.executed_at),
        "reason": proposal.reason, "effect": proposal.effect,
        "rule": {"weighting": proposal.weighting, "quorum": format_percent(proposal.quorum),
                 "threshold": proposal.threshold, "of": proposal.of},
        "electorate": [{"partner": code, "weight": w} for code, w in electorate.items()],
        "eligible_weight": sum(electorate.values()),
        "voted": sorted(votes),
        "tally": None,
    }
    if proposal.result:
        r = json.loads(proposal.result)
        out["tally"] = {k: r[k] for k in ("yes", "no", "abstain", "eligible", "voted", "quorum_met")}
        # Direct and delegated weight apart (CONTRACT §8); a tally from before delegations had none.
        delegated = r.get("delegated_weight", {"yes": "0", "no": "0", "abstain": "0"})
        out["tally"]["delegated"] = delegated
        out["tally"]["direct"] = {c: str(Fraction(r[c]) - Fraction(delegated[c])) for c in ("yes", "no", "abstain")}
        out["votes"] = r["votes"]
        out["delegations"] = [{"from": who, **d} for who, d in sorted(r.get("delegated", {}).items())]
    else:
        # While open: the delegations in force now (whether they count is decided at the close).
        out["delegations"] = [{"from": who, "to": to} for who, to in
                              sorted(delegations_in_force(session, proposal, clock_of(session).now()).items())]
    return out


def show(session: Session, proposal_id: int) -> dict:
    """One proposal by id (``NotFound`` when there is none), as ``describe`` gives it."""
    return describe(session, get_proposal(session, proposal_id))


def _scope(session: Session, partner: Partner, proposal_id: int) -> str:
    specific = session.scalar(select(Delegation.id).where(
        Delegation.delegator_id == partner.id, Delegation.proposal_id == proposal_id, Delegation.revoked_at.is_(None)))
    return "proposal" if specific else "standing"


def for_viewer(session: Session, proposal_id: int, viewer: Viewer) -> dict:
    """``show``, plus ``you``: what ``viewer`` may do with it, by the governance service's rules
    (a retired partner votes on nothing; only electors vote, while the proposal is open; only the
    proposer cancels, before any vote; the treasurer or an active partner closes)."""
    out = show(session, proposal_id)
    partner = session.scalar(select(Partner).where(Partner.code == viewer.partner)) if viewer.partner else None
    active = partner is not None and partner.status == "active"
    electors = {e["partner"] for e in out["electorate"]}
    is_open = out["status"] == "open"
    delegated_to = next((d["to"] for d in out["delegations"] if partner and d["from"] == partner.code), None)
    out["you"] = {
        "can_vote": active and is_open and partner.code in electors,
        #: whom the viewer's vote goes to unless they vote themselves (their own vote always wins)
        "delegated_to": delegated_to,
        "delegated_by": [d["from"] for d in out["delegations"] if partner and d["to"] == partner.code],
        #: "proposal" when the viewer delegated this very proposal (revoked here), "standing" when
        #: their standing delegation applies (revoked from the dashboard), else None
        "delegation_scope": _scope(session, partner, proposal_id) if delegated_to and is_open else None,
        "have_voted": partner is not None and partner.code in out["voted"],
        "is_proposer": partner is not None and partner.code == out["proposer"],
        "can_close": is_open and may_close(viewer, partner),
    }
    return out
