"""A user's iCalendar feed (RFC 5545, written with the ``icalendar`` library): the dates that need
them, as a calendar client shows them.

- **vote deadlines**: each proposal the user's partner may vote on (the frozen electorate), a
  timed event at ``closes_at`` (a treasurer or an admin sees every proposal's);
- **vesting**: the cliff and each vesting date of the partner's own grants (units: their own);
- **period ends**: every period from the first through a year of open ones, all-day;
- **buyout installments**: a retiree's own, on the last day of the period each falls in.

UIDs are stable (``vote-12@…``), so a client refreshing the feed updates events instead of
doubling them. The feed writes nothing.
"""

from __future__ import annotations

import datetime as dt

from icalendar import Calendar, Event
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.auth.models import User
from ledger.core import periods as P
from ledger.core.clock import as_utc
from ledger.core.errors import NotFound
from ledger.core.vesting import add_months, schedule
from ledger.db import clock_of
from ledger.equity.service import grants_with_terms
from ledger.governance.models import Elector, Proposal
from ledger.journal.periods import get_books, list_periods, open_period_ids
from ledger.succession.service import buyout_schedule

DOMAIN = "practice-ledger"


def _event(uid: str, summary: str, start, stamp: dt.datetime, description: str = "", url: str = "") -> Event:
    event = Event()
    event.add("uid", f"{uid}@{DOMAIN}")
    event.add("dtstamp", stamp)
    event.add("summary", summary)
    if isinstance(start, dt.datetime):
        event.add("dtstart", start)
        event.add("dtend", start)
    else:  # an all-day event: DTEND is the next day (RFC 5545 §3.6.1)
        event.add("dtstart", start)
        event.add("dtend", start + dt.timedelta(days=1))
    if description:
        event.add("description", description)
    if url:
        event.add("url", url)
    return event


def calendar_for(session: Session, user: User, base_url: str = "") -> bytes:
    """The user's feed as ``text/calendar`` bytes."""
    stamp = clock_of(session).now().astimezone(dt.UTC).replace(microsecond=0)
    base = base_url.rstrip("/")
    cal = Calendar()
    cal.add("prodid", "-//Practice Ledger//Notifications//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", "Practice Ledger")
    partner = user.partner

    proposals = select(Proposal).order_by(Proposal.id)
    if partner is not None:
        proposals = proposals.join(Elector, Elector.proposal_id == Proposal.id).where(Elector.partner_id == partner.id)
    for proposal in session.scalars(proposals):
        if proposal.status == "canceled":
            continue
        cal.add_component(_event(f"vote-{proposal.id}", f"Vote closes: {proposal.title}",
                                 as_utc(proposal.closes_at).replace(microsecond=0), stamp,
                                 f"Proposal {proposal.id} ({proposal.kind}), {proposal.status}.",
                                 f"{base}/proposals/{proposal.id}"))

    if partner is not None:
        for grant, terms in grants_with_terms(session, partner):
            cliff = add_months(grant.start, grant.cliff_months) if grant.cliff_months else None
            for event in schedule(terms):
                label = "Cliff" if event.date == cliff else "Vesting"
                cal.add_component(_event(f"vest-{grant.id}-{event.date.isoformat()}",
                                         f"{label}: {event.units} units vest", event.date, stamp,
                                         f"Grant {grant.id}: {event.cumulative} of {grant.units} units vested.",
                                         f"{base}/partners/{partner.code}/vesting"))
            if cliff and cliff not in {e.date for e in schedule(terms)}:
                cal.add_component(_event(f"cliff-{grant.id}", "Cliff of your grant", cliff, stamp,
                                         f"Grant {grant.id}.", f"{base}/partners/{partner.code}/vesting"))

    kind = get_books(session).period_kind
    ends = {p.id: p.ends_on for p in list_periods(session)}
    for pid in open_period_ids(session):
        ends.setdefault(pid, P.bounds(pid, kind)[1])
    for pid, end in sorted(ends.items()):
        cal.add_component(_event(f"period-{pid}", f"Period {pid} ends", end, stamp))

    if partner is not None:
        try:
            buyout = buyout_schedule(session, partner.code)
        except NotFound:
            buyout = {"installments": []}
        for item in buyout["installments"]:
            end = P.bounds(item["period"], kind)[1]
            cal.add_component(_event(f"installment-{partner.code}-{item['number']}",
                                     f"Buyout installment {item['number']}: {item['amount']} ({item['status']})",
                                     end, stamp, url=f"{base}/partners/{partner.code}/vesting"))
    return cal.to_ical()
