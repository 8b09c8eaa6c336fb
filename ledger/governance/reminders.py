""""Closing in 24 hours and you have not voted": the reminder a scheduled run makes.

``remind`` looks at the proposals still open whose vote closes within ``WITHIN`` of the session's
clock, and tells each elector who has not voted (their own vote; a delegate's vote for them does not
count, so they still hear that it is their call). Each reminder is told once per proposal and user
(the notification's dedupe key), so the worker may run it every minute. Run by
``ledger notify remind`` and by each turn of ``ledger notify send --loop``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.clock import rfc3339
from ledger.db import clock_of
from ledger.governance.models import Elector, Proposal
from ledger.governance.service import latest_votes, proposal_link
from ledger.notify.outbox import notify, users_of
from ledger.practices.models import Partner

WITHIN = dt.timedelta(hours=24)


def remind(session: Session) -> int:
    """Queue the reminders due now; returns how many notifications were made."""
    now = clock_of(session).now()
    made = 0
    for proposal in session.scalars(select(Proposal).where(
            Proposal.status == "open", Proposal.closes_at > now, Proposal.closes_at <= now + WITHIN)
            .order_by(Proposal.id)):
        voted = set(latest_votes(session, proposal))
        waiting = [pid for pid, code in session.execute(
            select(Elector.partner_id, Partner.code).join(Partner, Partner.id == Elector.partner_id)
            .where(Elector.proposal_id == proposal.id)) if code not in voted]
        made += len(notify(session, users_of(session, waiting), "vote_reminder",
                           f"Closing within 24 hours, and you have not voted: {proposal.title}",
                           proposal_link(proposal), {"title": proposal.title, "closes_at": rfc3339(proposal.closes_at)},
                           key=f"vote_reminder:{proposal.id}"))
    return made
