"""Share statements: what a partner's capital did in a period (or a range of periods), and why.

A statement is read from the ledger alone — the postings on the partner's capital account, with a
close's postings broken down by engagement from their entry's posting detail — so it always agrees
with it: ``opening`` is the capital balance the day before the range starts, each line is one
posting or one detail line (its ``kind``, engagement, practice and entry), and
``closing = opening + Σ lines`` to the cent. Amounts are signed effects on the partner's capital
(capital is a credit balance, so a line's amount is the posting's amount negated; a draw is
negative). ``allocated`` sums the origination, practice and pool lines; ``draws`` is the draws as
a positive sum.
"""

from __future__ import annotations

import datetime as dt
import heapq
from decimal import Decimal

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from .. import chart
from ..errors import Conflict, NotFound
from ..journal.models import Account, Entry, Posting, PostingDetail
from ..journal.service import balance
from ..money import ZERO, fmt
from ..practices.models import Engagement, Practice
from ..practices.service import get_partner, get_partnership
from . import periods as P
from .close import parse_period
from .models import Period

ALLOCATION_KINDS = ("origination", "practice", "pool")


def may_read_statement(session: Session, role: str, own_partner: str | None, partner_code: str) -> bool:
    """Who may read a partner's statement: the partner, the treasurer (and admins), and — when the
    charter has open books — every partner. The API and the web app both ask this."""
    if role in ("treasurer", "admin") or (own_partner is not None and own_partner == partner_code):
        return True
    return role == "partner" and own_partner is not None and get_partnership(session).open_books


def resolve_range(session: Session, period: str | None, start: str | None = None,
                  end: str | None = None) -> tuple[str, str]:
    """``period=2026-01`` → that period; ``period=2026`` → the year's periods (year to date);
    ``from``/``to`` → that range. Every period in it must be closed."""
    ps = get_partnership(session)
    if period and period.isdigit() and len(period) == 4:
        first = P.period_id(dt.date(int(period), 1, 1), ps.period_kind)
        last = P.period_id(dt.date(int(period), 12, 31), ps.period_kind)
        closed = session.scalar(select(Period.id).where(Period.status == "closed").order_by(Period.id.desc()).limit(1))
        if closed is None or closed < first:
            raise Conflict(f"no period of {period} is closed yet", {"period": ["nothing closed yet"]})
        return max(first, P.period_id(ps.starts_on, ps.period_kind)), min(last, closed)
    if period:
        first = last = period
    elif start and end:
        first, last = start, end
    else:
        raise NotFound("give ?period=ID, ?period=YYYY or ?from=ID&to=ID", {"period": ["required"]})
    for pid, field in ((first, "from" if start else "period"), (last, "to" if end else "period")):
        parse_period(session, pid)
        row = session.get(Period, pid)
        if row is None or row.status != "closed":
            raise Conflict(f"period {pid} is not closed yet: its statement exists once it closes "
                           f"(see the period's preview for the provisional figures)", {field: ["period is open"]})
    if last < first:
        raise NotFound("the range ends before it starts", {"to": ["before from"]})
    return first, last


def statement(session: Session, partner_code: str, first: str, last: str | None = None) -> dict:
    from ..equity.service import unvested_units, vested_units

    last = last or first
    partner = get_partner(session, partner_code)
    ps = get_partnership(session)
    start = P.bounds(first, ps.period_kind)[0]
    end = P.bounds(last, ps.period_kind)[1]
    capital = chart.capital(partner.code)
    opening = -balance(session, capital, ps.currency, as_of=start - dt.timedelta(days=1))
    account_id = session.scalar(select(Account.id).where(Account.name == capital))
    in_range = and_(Entry.date >= start, Entry.date <= end)
    # A close's capital postings are broken down by engagement in the entry's posting detail: the
    # statement lists the detail lines in their place, and every other posting as it is.
    detail = session.execute(
        select(PostingDetail.amount, PostingDetail.kind, PostingDetail.entry_id, Engagement.ref, Practice.code,
               PostingDetail.date)
        .outerjoin(Engagement, Engagement.id == PostingDetail.engagement_id)
        .outerjoin(Practice, Practice.id == Engagement.practice_id)
        .where(PostingDetail.account_id == account_id, PostingDetail.date >= start, PostingDetail.date <= end)
        .order_by(PostingDetail.entry_id, PostingDetail.line_no)
    ).all()
    broken_down = {(row[2], row[1]) for row in detail}
    postings = [row for row in session.execute(
        select(Posting.amount, Posting.kind, Posting.entry_id, Engagement.ref, Practice.code, Entry.date)
        .join(Entry, Entry.id == Posting.entry_id)
        .outerjoin(Engagement, Engagement.id == Posting.engagement_id)
        .outerjoin(Practice, Practice.id == Engagement.practice_id)
        .where(Posting.account_id == account_id, in_range)
        .order_by(Posting.entry_id, Posting.id)
    ) if (row[2], row[1]) not in broken_down]
    # Both lists are in entry order; an entry's detail lines come before its other postings.
    rows = heapq.merge(detail, postings, key=lambda row: row[2])
    lines = []
    allocated = draws = total = ZERO
    for amount, kind, entry_id, ref, practice, date in rows:
        effect = -amount
        kind = kind or "adjustment"
        line = {"kind": kind, "amount": fmt(effect), "entry": entry_id, "date": date.isoformat()}
        if ref:
            line["engagement"] = ref
            line["practice"] = practice
        lines.append(line)
        total += effect
        if kind in ALLOCATION_KINDS:
            allocated += effect
        elif kind == "draw":
            draws += -effect
    result = {
        "partner": partner.code,
        "name": partner.name,
        "partnership": ps.name,
        "currency": ps.currency,
        "period": first if first == last else f"{first}..{last}",
        "from": first,
        "to": last,
        "opening": fmt(opening),
        "lines": lines,
        "allocated": fmt(allocated),
        "draws": fmt(draws),
        "closing": fmt(opening + total),
        "units": {"vested": vested_units(session, partner, end), "unvested": unvested_units(session, partner, end)},
    }
    from ..succession.service import installments_in

    paid = installments_in(session, partner.code, start, end)
    if paid or partner.status == "retired":
        result["installments"] = paid
    return result


def capital_balance(session: Session, partner_code: str, as_of: dt.date | None = None) -> Decimal:
    ps = get_partnership(session)
    return -balance(session, chart.capital(partner_code), ps.currency, as_of=as_of)
