"""Proposals: open, vote, close (tally + execution in one transaction), cancel.

State machine: ``open`` → ``passed`` (effect applied, ``executed_at`` set) | ``failed`` (``reason``)
| ``canceled`` (by the proposer, before any vote). Proposals run on the server's clock (UTC);
eligibility and unit weights use vested units on the server's current date, frozen at opening.
Execution happens inside ``close_proposal``'s transaction and only from ``open``, so a retry after a
crash finds the proposal still open (nothing was committed) or already closed (nothing to do): an
effect is never applied twice.
"""

from __future__ import annotations

import datetime as dt
import json
from fractions import Fraction

from marshmallow import ValidationError as MmError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.core.access import Viewer
from ledger.core.clock import as_utc, rfc3339
from ledger.core.errors import Conflict, Forbidden, NotFound, ValidationError
from ledger.core.tally import Rule, tally_with_delegations
from ledger.core.text import text_problem
from ledger.db import clock_of
from ledger.equity.service import vested_units
from ledger.governance.effects import EffectFailed, apply_effect, check_can_apply
from ledger.governance.models import Delegation, Elector, GovernanceRule, Proposal, Vote
from ledger.governance.payloads import SCHEMAS
from ledger.notify.outbox import notify, users_of
from ledger.practices.models import Partner
from ledger.schema import flatten_errors

CHOICES = ("yes", "no", "abstain")


_aware = as_utc  # SQLite hands back naive datetimes for timezone-aware columns: they were stored in UTC


def load_payload(kind: str, payload) -> dict:
    if kind not in SCHEMAS:
        raise ValidationError(f"unknown proposal kind {kind!r}", {"kind": [f"one of {', '.join(SCHEMAS)}"]})
    if not isinstance(payload, dict):
        raise ValidationError("payload must be an object", {"payload": ["must be an object"]})
    try:
        return SCHEMAS[kind]().load(payload)
    except MmError as exc:
        errors = flatten_errors(exc.messages, "payload")
        raise ValidationError("the payload does not fit its kind: " + "; ".join(
            f"{k}: {v[0]}" for k, v in errors.items()), errors) from exc


def get_proposal(session: Session, proposal_id: int) -> Proposal:
    proposal = session.get(Proposal, proposal_id)
    if proposal is None:
        raise NotFound(f"no proposal {proposal_id}")
    return proposal


def electorate_now(session: Session, weighting: str, today: dt.date, exclude: set[str]) -> list[tuple[Partner, int]]:
    """Active partners with vested units > 0 today, and their weight (1, or vested units). When
    nobody holds vested units yet, every active partner is eligible with weight 1 (CONTRACT §7):
    a partnership of unvested entrants can still decide. ``exclude``: the partner a proposal is
    about (a retiree, a partner whose vesting is amended), who never votes on it."""
    active = [p for p in session.scalars(select(Partner).where(Partner.status == "active").order_by(Partner.code))
              if p.code not in exclude]
    units = {p.code: vested_units(session, p, today) for p in active}
    vested = [(p, units[p.code] if weighting == "units" else 1) for p in active if units[p.code] > 0]
    return vested or [(p, 1) for p in active]


#: The latest a proposal may close: a year and a day after it opens.
MAX_OPEN = dt.timedelta(days=366)
#: The kinds of proposal about one partner, who is not eligible to vote on them.
ABOUT_A_PARTNER = ("retire_partner", "amend_vesting")


def _closing_problems(closes_at, now: dt.datetime, min_open_hours: int) -> list[str]:
    if not isinstance(closes_at, dt.datetime) or closes_at.tzinfo is None:
        return ["an ISO 8601 time with an offset is required"]
    try:
        closes_at = closes_at.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        return ["not a time the calendar can hold"]
    earliest = now + dt.timedelta(hours=min_open_hours)
    if closes_at <= now:
        return ["must be in the future"]
    if closes_at < earliest:
        return [f"must leave at least {min_open_hours} hour(s) to vote: no earlier than "
                f"{rfc3339(earliest.replace(microsecond=0))}"]
    if closes_at > now + MAX_OPEN:
        return [f"must close within {MAX_OPEN.days} days of opening"]
    return []


def open_proposal(session: Session, proposer: Partner, kind: str, title: str, payload, closes_at: dt.datetime) -> Proposal:
    now = clock_of(session).now()
    if proposer.status != "active":
        raise Forbidden("only an active partner may propose")
    errors: dict[str, list[str]] = {}
    problem = text_problem(title, max_length=200)  # the one text rule, whatever surface called
    if problem:
        errors["title"] = [problem]
    rule_row = session.get(GovernanceRule, kind) if kind in SCHEMAS else None
    closing = _closing_problems(closes_at, now, rule_row.min_open_hours if rule_row else 0)
    if closing:
        errors["closes_at"] = closing
    if errors:
        raise ValidationError("; ".join(f"{k}: {v[0]}" for k, v in errors.items()), errors)
    data = load_payload(kind, payload)
    check_can_apply(session, kind, data)  # 422 now for what is already impossible
    recused = {data["partner"]} if kind in ABOUT_A_PARTNER else set()
    electorate = electorate_now(session, rule_row.weighting, now.date(), recused)
    if not electorate:
        raise ValidationError("nobody is eligible to vote on this proposal", {"kind": ["no eligible voters"]})
    proposal = Proposal(
        kind=kind, title=title.strip(), payload=json.dumps(payload, sort_keys=True), proposer_id=proposer.id,
        status="open", opened_at=now, closes_at=closes_at.astimezone(dt.UTC), weighting=rule_row.weighting,
        quorum=rule_row.quorum, threshold=rule_row.threshold, of=rule_row.of,
    )
    session.add(proposal)
    session.flush()
    session.add_all(Elector(proposal_id=proposal.id, partner_id=p.id, weight=w) for p, w in electorate)
    session.flush()
    # In this transaction: a proposal rolled back tells nobody (CONTRACT §9).
    notify(session, users_of(session, [p.id for p, _ in electorate]), "proposal_opened",
           f"Proposal open for your vote: {proposal.title}", proposal_link(proposal),
           {"title": proposal.title, "kind": kind, "proposer": proposer.name,
            "closes_at": rfc3339(proposal.closes_at)}, key=f"proposal_opened:{proposal.id}")
    return proposal


def proposal_link(proposal: Proposal) -> str:
    return f"/proposals/{proposal.id}"


def _tell_decided(session: Session, proposal: Proposal) -> Proposal:
    """Tell the proposal's electorate how it ended, in the closing transaction."""
    electors = session.scalars(select(Elector.partner_id).where(Elector.proposal_id == proposal.id)).all()
    notify(session, users_of(session, electors), "proposal_decided",
           f"Proposal {proposal.status}: {proposal.title}", proposal_link(proposal),
           {"title": proposal.title, "status": proposal.status, "reason": proposal.reason},
           key=f"proposal_decided:{proposal.id}")
    return proposal


def latest_votes(session: Session, proposal: Proposal) -> dict[str, str]:
    """``{partner code: choice}``: each voter's last vote."""
    rows = session.execute(
        select(Partner.code, Vote.choice).join(Partner, Partner.id == Vote.partner_id)
        .where(Vote.proposal_id == proposal.id).order_by(Vote.id)
    )
    return dict(rows.all())


def electorate_of(session: Session, proposal: Proposal) -> dict[str, int]:
    """``{partner code: weight}``: the electorate frozen when the proposal opened."""
    rows = session.execute(
        select(Partner.code, Elector.weight).join(Partner, Partner.id == Elector.partner_id)
        .where(Elector.proposal_id == proposal.id).order_by(Partner.code)
    )
    return dict(rows.all())


def cast_vote(session: Session, proposal_id: int, voter: Partner, choice: str) -> Proposal:
    """Record ``voter``'s choice; a later vote replaces the earlier. A retired partner votes on
    nothing (403, CONTRACT §7), nor does anyone outside the frozen electorate; once voting is over
    it is a 409. Every surface votes through here."""
    now = clock_of(session).now()
    if voter.status != "active":
        raise Forbidden(f"{voter.code} is {voter.status}: a retired partner votes on nothing", {"voter": ["retired"]})
    if choice not in CHOICES:
        raise ValidationError("choice must be yes, no or abstain", {"choice": ["one of yes, no, abstain"]})
    proposal = get_proposal(session, proposal_id)
    if proposal.status != "open":
        raise Conflict(f"proposal {proposal.id} is {proposal.status}: voting is over", {"status": [proposal.status]})
    if now >= _aware(proposal.closes_at):
        raise Conflict(f"proposal {proposal.id} closed for votes at {_aware(proposal.closes_at).isoformat()}",
                       {"closes_at": ["voting time is over"]})
    if voter.code not in electorate_of(session, proposal):
        raise Forbidden(f"{voter.code} is not in this proposal's electorate", {"voter": ["not eligible"]})
    session.add(Vote(proposal_id=proposal.id, partner_id=voter.id, choice=choice, cast_at=now))
    session.flush()
    return proposal


def cancel_proposal(session: Session, proposal_id: int, by: Partner) -> Proposal:
    proposal = get_proposal(session, proposal_id)
    if proposal.proposer_id != by.id:
        raise Forbidden("only the proposer may cancel a proposal")
    if proposal.status != "open":
        raise Conflict(f"proposal {proposal.id} is {proposal.status}", {"status": [proposal.status]})
    if session.scalar(select(func.count()).select_from(Vote).where(Vote.proposal_id == proposal.id)):
        raise Conflict("votes have been cast: the proposal can no longer be canceled", {"status": ["has votes"]})
    proposal.status = "canceled"
    proposal.closed_at = clock_of(session).now()
    session.flush()
    return proposal


def may_close(viewer: Viewer, partner: Partner | None) -> bool:
    """Who may close a proposal: the treasurer, or an active partner (``partner`` is the viewer's)."""
    return viewer.is_treasurer or (partner is not None and partner.status == "active")


def close_proposal(session: Session, proposal_id: int, by: Viewer | None = None) -> Proposal:
    """Tally and, when passed, execute — in the caller's transaction. Closing a closed proposal
    returns it unchanged. ``by`` is who asks (the treasurer or an active partner; None for the
    product itself, such as the demo's story)."""
    now = clock_of(session).now()
    if by is not None:
        partner = session.scalar(select(Partner).where(Partner.code == by.partner)) if by.partner else None
        if not may_close(by, partner):
            raise Forbidden("only the treasurer or an active partner may close a proposal", {"proposal": ["not yours"]})
    proposal = get_proposal(session, proposal_id)
    # Lock the proposal row so two closers cannot both execute it (no-op on SQLite, which
    # serialises writers anyway).
    session.execute(select(Proposal.id).where(Proposal.id == proposal.id).with_for_update())
    session.refresh(proposal)
    if proposal.status != "open":
        return proposal
    electorate = electorate_of(session, proposal)
    votes = latest_votes(session, proposal)
    if now < _aware(proposal.closes_at) and set(electorate) - set(votes):
        raise Conflict(f"proposal {proposal.id} closes at {_aware(proposal.closes_at).isoformat()}; "
                       f"{len(set(electorate) - set(votes))} eligible voter(s) have not voted",
                       {"closes_at": ["not yet"]})
    rule = Rule(proposal.weighting, Fraction(proposal.quorum), proposal.threshold, proposal.of)
    t, delegated = tally_with_delegations(rule, electorate, votes, delegations_in_force(session, proposal, now))
    weight_of = {c: sum((Fraction(electorate[w]) for w, (_, ch) in delegated.items() if ch == c), Fraction(0))
                 for c in CHOICES}
    result = json.dumps({
        "yes": str(t.yes), "no": str(t.no), "abstain": str(t.abstain), "eligible": str(t.eligible),
        "voted": str(t.voted), "quorum_met": t.quorum_met, "votes": votes,
        "delegated": {who: {"to": to, "choice": choice, "weight": str(electorate[who])}
                      for who, (to, choice) in delegated.items()},
        "delegated_weight": {c: str(w) for c, w in weight_of.items()},
    }, sort_keys=True)
    proposal.result = result
    proposal.closed_at = now
    if not t.passed:
        proposal.status = "failed"
        proposal.reason = {"no_votes": "no yes or no votes were cast", "quorum": "quorum not met",
                           "tie": "tie", "threshold": "threshold not met"}[t.reason]
        session.flush()
        return _tell_decided(session, proposal)
    data = load_payload(proposal.kind, json.loads(proposal.payload))
    savepoint = session.begin_nested()
    try:
        proposal.effect = apply_effect(session, proposal, data)
        savepoint.commit()
    except EffectFailed as exc:
        savepoint.rollback()
        session.refresh(proposal)  # the rollback expired it: set the outcome again
        proposal.result = result
        proposal.closed_at = now
        proposal.status = "failed"
        proposal.reason = f"the effect can no longer apply: {exc}"
        session.flush()
        return _tell_decided(session, proposal)
    proposal.status = "passed"
    proposal.executed_at = now
    session.flush()
    return _tell_decided(session, proposal)


# --- delegated votes (CONTRACT §8) ----------------------------------------------------------------


def _in_force(at: dt.datetime):
    return (Delegation.created_at <= at) & (Delegation.revoked_at.is_(None) | (Delegation.revoked_at > at))


def delegations_in_force(session: Session, proposal: Proposal, at: dt.datetime) -> dict[str, str]:
    """``{delegator code: delegate code}`` in force for ``proposal`` at ``at``: a delegation for
    this proposal wins over a standing one."""
    rows = session.scalars(select(Delegation).where(
        _in_force(at), (Delegation.proposal_id == proposal.id) | Delegation.proposal_id.is_(None))
        .order_by(Delegation.id))
    standing, specific = {}, {}
    for row in rows:
        (specific if row.proposal_id is not None else standing)[row.delegator.code] = row.delegate.code
    return {**standing, **specific}


def _current(session: Session, delegator: Partner, proposal_id: int | None) -> Delegation | None:
    scope = Delegation.proposal_id.is_(None) if proposal_id is None else Delegation.proposal_id == proposal_id
    return session.scalar(select(Delegation).where(Delegation.delegator_id == delegator.id, scope,
                                                   Delegation.revoked_at.is_(None)))


def delegate_vote(session: Session, delegator: Partner, to: str, proposal_id: int | None = None) -> Delegation:
    """Delegate ``delegator``'s vote to the active partner ``to``: for one open proposal, or
    standing (``proposal_id`` None). A delegation of the same scope in force is replaced (and kept
    in the history as revoked). Whether it counts is decided at the close (``core.tally``)."""
    now = clock_of(session).now()
    if delegator.status != "active":
        raise Forbidden(f"{delegator.code} is {delegator.status}: a retired partner votes on nothing",
                        {"delegator": ["retired"]})
    delegate = session.scalar(select(Partner).where(Partner.code == to))
    if delegate is None or delegate.status != "active":
        raise ValidationError(f"{to!r} is not an active partner", {"to": ["not an active partner"]})
    if delegate.id == delegator.id:
        raise ValidationError("a partner cannot delegate to themselves", {"to": ["yourself"]})
    if proposal_id is not None:
        proposal = get_proposal(session, proposal_id)
        if proposal.status != "open":
            raise Conflict(f"proposal {proposal.id} is {proposal.status}: voting is over", {"status": [proposal.status]})
    previous = _current(session, delegator, proposal_id)
    if previous is not None:
        previous.revoked_at = now
    row = Delegation(delegator_id=delegator.id, delegate_id=delegate.id, proposal_id=proposal_id, created_at=now)
    session.add(row)
    session.flush()
    return row


def revoke_delegation(session: Session, delegator: Partner, proposal_id: int | None = None) -> Delegation:
    """End the delegator's delegation of that scope (the history keeps it); 404 when none is in force."""
    if proposal_id is not None:
        get_proposal(session, proposal_id)
    row = _current(session, delegator, proposal_id)
    if row is None:
        raise NotFound("no delegation of yours is in force here", {"delegation": ["none in force"]})
    row.revoked_at = clock_of(session).now()
    session.flush()
    return row


def delegation_history(session: Session, partner: Partner) -> list[Delegation]:
    """Every delegation the partner made or received, newest first, revoked ones included."""
    return list(session.scalars(select(Delegation).where(
        (Delegation.delegator_id == partner.id) | (Delegation.delegate_id == partner.id))
        .order_by(Delegation.id.desc())))
