""""Closing in 24 hours and you have not voted", and "an outside firm's NSA expires": the
reminders a scheduled run makes.

``remind`` queues every reminder due on the session's clock, each told once (the notification's
dedupe key), so the worker may run it every minute. Run by ``ledger notify remind`` and by each
turn of ``ledger notify send --loop``.

- ``vote_reminders``: the proposals still open whose vote closes within ``WITHIN`` of now; each
  elector who has not voted (their own vote; a delegate's vote for them does not count, so they
  still hear that it is their call) is told once per proposal.
- ``nsa_reminders``: each outside firm whose non-solicitation agreement ends within 60 days, or
  ended within the last 60 (``core.economics.nsa_notice``, the NSA watch's own rule), and every
  active treasurer is told once per firm, expiry date and notice: an agreement renewed to a new
  date that later nears its end again is told again. The message names the firm and the date and
  links to the firm's page; no amount.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.auth.models import User
from ledger.core.clock import rfc3339
from ledger.core.economics import NSA_WARNING_DAYS, nsa_notice
from ledger.db import clock_of
from ledger.governance.models import Elector, Proposal
from ledger.governance.service import latest_votes, proposal_link
from ledger.notify.outbox import Message, notify, notify_each, users_of
from ledger.practices.models import Firm, Partner

WITHIN = dt.timedelta(hours=24)


def remind(session: Session) -> int:
    """Queue the reminders due now; returns how many notifications were made."""
    return vote_reminders(session) + nsa_reminders(session)


def vote_reminders(session: Session) -> int:
    """Tell each elector who has not voted on a proposal closing within 24 hours, once."""
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


def nsa_reminders(session: Session) -> int:
    """Tell every active treasurer, once per firm and expiry date, of each outside firm's NSA that
    ends within 60 days (``expiring``) or ended within the last 60 (``lapsed``)."""
    today = clock_of(session).today()
    lo, hi = today - dt.timedelta(days=NSA_WARNING_DAYS), today + dt.timedelta(days=NSA_WARNING_DAYS)
    due = [(firm, notice) for firm in session.scalars(
        select(Firm).where(Firm.nsa_expires_on >= lo, Firm.nsa_expires_on <= hi).order_by(Firm.code))
        if (notice := nsa_notice(firm.nsa_signed_on, firm.nsa_expires_on, today))]
    if not due:
        return 0
    treasurers = list(session.scalars(select(User).where(User.role == "treasurer", User.active.is_(True))
                                      .order_by(User.id)))
    messages = []
    for firm, notice in due:
        ends = firm.nsa_expires_on.isoformat()
        subject = (f"The NSA with {firm.name} expires on {ends}" if notice == "expiring"
                   else f"The NSA with {firm.name} has lapsed: its last day was {ends}")
        facts = {"firm": firm.code, "name": firm.name, "expires_on": ends, "notice": notice}
        key = f"nsa_{notice}:{firm.id}:{ends}"
        messages += [Message(user, subject, f"/firms/{firm.code}", facts, key) for user in treasurers]
    return len(notify_each(session, "nsa_expiring", messages))
