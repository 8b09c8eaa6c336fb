"""What a passed proposal does, applied inside the close's transaction.

``check_can_apply`` runs when a proposal opens (a failure is a 422) and again, through
``apply_effect``, when it passes: whatever changed in between (a practice code taken, a period
closed) fails the proposal with the reason and applies nothing (``EffectFailed``).

An effect applies from its execution to every period still open: a practice added or a partner
admitted owns/joins from the oldest open period, so it may be used in postings dated in any open
period and counts in its close.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.auth.models import User
from ledger.core import chart
from ledger.core import periods as P
from ledger.core.entries import Leg
from ledger.core.errors import LedgerError, ValidationError
from ledger.db import clock_of
from ledger.equity import events
from ledger.equity.models import Grant
from ledger.governance.models import GovernanceRule, Proposal
from ledger.journal.periods import oldest_open
from ledger.journal.service import post_entry
from ledger.practices.models import Ownership, Partner, Practice
from ledger.practices.service import get_partnership, open_partner_accounts, open_practice_accounts
from ledger.revenue.models import PolicyVersion
from ledger.succession.service import may_hold, schedule_retirement, successor_problems


class EffectFailed(Exception):
    """The passed proposal's effect can no longer apply; the message says why."""


def _problems(session: Session, kind: str, data: dict) -> dict[str, list[str]]:
    """Reasons the effect cannot apply now, by payload field."""
    errors: dict[str, list[str]] = {}

    def add(field, msg):
        errors.setdefault(f"payload.{field}", []).append(msg)

    active = {p.code: p for p in session.scalars(select(Partner).where(Partner.status == "active"))}
    if kind == "add_practice":
        if session.scalar(select(Practice.id).where(Practice.code == data["code"])):
            add("code", f"practice {data['code']!r} already exists")
        for code in data["owners"]:
            if not may_hold(active.get(code)):
                add(f"owners.{code}", f"{code!r} is not an active partner who may own a practice (not retiring)")
    elif kind == "admit_partner":
        if session.scalar(select(Partner.id).where(Partner.code == data["code"])):
            add("code", f"partner {data['code']!r} already exists")
        email = data["email"].lower()
        if session.scalar(select(User.id).where(User.email == email)) or \
                session.scalar(select(Partner.id).where(Partner.email == email)):
            add("email", f"{email} is already in use")
    elif kind in ("change_policy", "retire_partner"):
        ps = get_partnership(session)
        pid = data["effective_period"]
        if not P.is_period_id(pid, ps.period_kind):
            add("effective_period", f"{pid!r} is not a period id")
        elif pid < oldest_open(session):
            add("effective_period", f"period {pid} is already closed")
        if kind == "retire_partner":
            for field, msg in successor_problems(session, data, active):
                add(field, msg)
    elif kind == "amend_vesting":
        if data["partner"] not in active:
            add("partner", f"{data['partner']!r} is not an active partner")
    return errors


def check_can_apply(session: Session, kind: str, data: dict) -> None:
    """Refuse (422) a proposal whose effect could not apply now. A vesting amendment is tried on
    the partner's schedule and rolled back: the equity service's own rules decide."""
    errors = _problems(session, kind, data)
    if not errors and kind == "amend_vesting":
        trial = session.begin_nested()
        try:
            _amend(session, data)
        except LedgerError as exc:
            errors = {f"payload.{_AMEND_FIELDS.get(k, k)}": v for k, v in exc.errors.items()} or \
                {"payload": [exc.detail]}
        finally:
            trial.rollback()
    if errors:
        raise ValidationError("the proposal cannot apply: " + "; ".join(
            f"{k}: {v[0]}" for k, v in errors.items()), errors)


def apply_effect(session: Session, proposal: Proposal, data: dict) -> str:
    errors = _problems(session, proposal.kind, data)
    if errors:
        raise EffectFailed("; ".join(f"{k.removeprefix('payload.')}: {v[0]}" for k, v in errors.items()))
    return APPLY[proposal.kind](session, proposal, data)


def _add_practice(session: Session, proposal: Proposal, data: dict) -> str:
    ps = get_partnership(session)
    first = oldest_open(session)
    practice = Practice(code=data["code"], name=data["name"], created_on=P.bounds(first, ps.period_kind)[0])
    session.add(practice)
    session.flush()
    partners = {p.code: p for p in session.scalars(select(Partner))}
    for code, share in sorted(data["owners"].items()):
        session.add(Ownership(practice_id=practice.id, partner_id=partners[code].id, share=share,
                              from_period=first, to_period=None))
    open_practice_accounts(session, practice.code, ps.currency, practice.created_on)
    session.flush()
    return f"practice:{practice.code}"


def _admit_partner(session: Session, proposal: Proposal, data: dict) -> str:
    ps = get_partnership(session)
    g = data["grant"]
    first_open_day = P.bounds(oldest_open(session), ps.period_kind)[0]
    partner = Partner(code=data["code"], name=data["name"], email=data["email"].lower(), status="active",
                      joined_on=max(g["start"], first_open_day))
    session.add(partner)
    session.flush()
    session.add(User(email=partner.email, role="partner", partner_id=partner.id, active=True,
                     created_at=clock_of(session).now()))
    session.add(Grant(partner_id=partner.id, units=g["units"], start=g["start"], cliff_months=g["cliff_months"],
                      months=g["months"], every=g["every"], kind="grant"))
    open_partner_accounts(session, partner.code, ps.currency, min(first_open_day, g["start"]))
    entry = post_entry(
        session, date=max(g["start"], first_open_day),
        memo=f"Units granted to {partner.name} (proposal {proposal.id}: {proposal.title})",
        legs=[Leg(chart.UNITS_AUTHORIZED, Decimal(g["units"]), "UNITS"),
              Leg(chart.units_unvested(partner.code), Decimal(-g["units"]), "UNITS")],
        source_type="proposal", source_ref=str(proposal.id),
    )
    return f"partner:{partner.code};entry:{entry.id}"


def _change_policy(session: Session, proposal: Proposal, data: dict) -> str:
    version = (session.scalar(select(func.max(PolicyVersion.version))) or 0) + 1
    session.add(PolicyVersion(version=version, origination=data["origination"], practice=data["practice"],
                              pool_basis=data["pool_basis"], effective_period=data["effective_period"],
                              proposal_id=proposal.id, created_at=clock_of(session).now()))
    session.flush()
    return f"policy:{version}"


def _retire_partner(session: Session, proposal: Proposal, data: dict) -> str:
    return schedule_retirement(session, proposal, data)


#: The equity service's field names, as the amend_vesting payload names them.
_AMEND_FIELDS = {"start": "date", "end": "date", "quantity": "units"}


def _amend(session: Session, data: dict) -> str:
    code, day = data["partner"], data["date"]
    if data["action"] == "pause":
        return f"pause:{events.add_pause(session, code, day, None, data['reason']).id}"
    if data["action"] == "resume":
        row = events.open_pause(session, code)
        return f"pause:{events.end_pause(session, code, row.id, day - dt.timedelta(days=1)).id}"
    return f"acceleration:{events.add_acceleration(session, code, day, data['units'], data['reason']).id}"


def _amend_vesting(session: Session, proposal: Proposal, data: dict) -> str:
    """Pause (from ``date``), resume (vesting runs again from ``date``: the pause's last day is the
    day before) or accelerate (``units`` vest on ``date``) a partner's vesting, by the equity
    service's rules; what they refuse now fails the proposal with the reason."""
    try:
        return _amend(session, data)
    except LedgerError as exc:
        raise EffectFailed(exc.detail) from exc


def _resolution(session: Session, proposal: Proposal, data: dict) -> str:
    return f"resolution:{proposal.id}"


def _change_governance(session: Session, proposal: Proposal, data: dict) -> str:
    rule = session.get(GovernanceRule, data["kind"])
    rule.weighting, rule.quorum, rule.threshold, rule.of = (
        data["weighting"], data["quorum"], data["threshold"], data["of"])
    if "min_open_hours" in data:
        rule.min_open_hours = data["min_open_hours"]
    session.flush()
    return f"governance:{data['kind']}"


APPLY = {
    "add_practice": _add_practice, "admit_partner": _admit_partner, "change_policy": _change_policy,
    "retire_partner": _retire_partner, "amend_vesting": _amend_vesting, "resolution": _resolution,
    "change_governance": _change_governance,
}
