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
from decimal import Decimal
from operator import itemgetter

from sqlalchemy import BigInteger, and_, select, type_coerce, union
from sqlalchemy.orm import Session

from ledger.core import chart
from ledger.core import periods as P
from ledger.core.access import Viewer, may_read_statement
from ledger.core.errors import Conflict, Forbidden, NotFound
from ledger.core.money import fmt, fmt_minor, format_percent, to_minor
from ledger.core.text import fits
from ledger.db import minor_to_stored
from ledger.equity.service import units_on
from ledger.governance.models import Proposal
from ledger.journal.balances import balance
from ledger.journal.models import Account, Entry, Period, Posting, PostingDetail
from ledger.journal.periods import parse_period, parse_year
from ledger.practices.models import Engagement, Partner, Practice
from ledger.practices.service import get_partner, get_partnership
from ledger.revenue.close import pool_notes, unattributed_in
from ledger.revenue.models import PolicyVersion
from ledger.succession.service import installments_in

ALLOCATION_KINDS = ("origination", "practice", "pool")


def check_access(session: Session, viewer: Viewer, partner_code: str) -> Partner:
    """The partner whose statement ``viewer`` asks for: ``NotFound`` for an unknown code,
    ``Forbidden`` unless ``core.access.may_read_statement`` allows it. The API, the web app and
    their downloads all read statements through here."""
    partner = get_partner(session, partner_code)
    if not may_read_statement(viewer, partner.code, get_partnership(session).open_books):
        raise Forbidden(f"only {partner_code} or the treasurer may read this statement (the books are not open)",
                        {"partner": ["not yours to read"]})
    return partner


def read_statement(session: Session, viewer: Viewer, partner_code: str, period: str | None = None,
                   start: str | None = None, end: str | None = None) -> dict:
    """``statement`` for ``viewer``: access first (``check_access``), then the range
    (``resolve_range``), then the figures."""
    check_access(session, viewer, partner_code)
    first, last = resolve_range(session, period, start, end)
    return statement(session, partner_code, first, last)


def resolve_range(session: Session, period: str | None, start: str | None = None,
                  end: str | None = None) -> tuple[str, str]:
    """``period=2026-01`` → that period; ``period=2026`` → the year's periods (year to date);
    ``from``/``to`` → that range. Every id must name a period of the partnership's years
    (``NotFound`` otherwise: ``0000``, ``0000-01``, a year before ``starts_on``), checked before
    anything else; then every period in the range must be closed (``Conflict``)."""
    if isinstance(period, str) and fits(r"[0-9]{4}", period):
        first, last = parse_year(session, period)
        closed = session.scalar(select(Period.id).where(Period.status == "closed").order_by(Period.id.desc()).limit(1))
        if closed is None or closed < first:
            raise Conflict(f"no period of {period} is closed yet", {"period": ["nothing closed yet"]})
        return first, min(last, closed)
    if period:
        first = last = period
    elif start and end:
        first, last = start, end
    else:
        raise NotFound("give ?period=ID, ?period=YYYY or ?from=ID&to=ID", {"period": ["required"]})
    for pid in (first, last):
        parse_period(session, pid)
    for pid, field in ((first, "from" if start else "period"), (last, "to" if end else "period")):
        row = session.get(Period, pid)
        if row is None or row.status != "closed":
            raise Conflict(f"period {pid} is not closed yet: its statement exists once it closes "
                           f"(see the period's preview for the provisional figures)", {field: ["period is open"]})
    if last < first:
        raise NotFound("the range ends before it starts", {"to": ["before from"]})
    return first, last


def statement(session: Session, partner_code: str, first: str, last: str | None = None) -> dict:
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
    # statement lists the detail lines in their place, and every other posting as it is. Amounts
    # come as the stored integers, turned into the currency's minor units, and the detail without
    # joins — a busy partner has a line per engagement share, thousands a period — with refs and
    # practices resolved once each.
    conn = session.connection()
    detail = conn.execute(
        select(PostingDetail.entry_id, PostingDetail.kind, type_coerce(PostingDetail.amount, BigInteger),
               PostingDetail.engagement_id, PostingDetail.date)
        .where(PostingDetail.account_id == account_id, PostingDetail.date >= start, PostingDetail.date <= end)
        .order_by(PostingDetail.entry_id, PostingDetail.line_no)
    ).all()
    broken_down = {(row[0], row[1]) for row in detail}
    postings = [row for row in conn.execute(
        select(Posting.entry_id, Posting.kind, type_coerce(Posting.amount, BigInteger), Posting.engagement_id,
               Entry.date)
        .join(Entry, Entry.id == Posting.entry_id)
        .where(Posting.account_id == account_id, in_range)
        .order_by(Posting.entry_id, Posting.id)
    ) if (row[0], row[1]) not in broken_down]
    engagements = _engagements(conn, [
        select(PostingDetail.engagement_id).where(PostingDetail.account_id == account_id, PostingDetail.date >= start,
                                                  PostingDetail.date <= end),
        select(Posting.engagement_id).join(Entry, Entry.id == Posting.entry_id)
        .where(Posting.account_id == account_id, in_range, Posting.engagement_id.is_not(None))])
    # Both lists are in entry order; a stable sort of the two runs (linear for sorted runs) keeps
    # an entry's detail lines before its other postings.
    rows = sorted(detail + postings, key=itemgetter(0))
    lines = []
    append = lines.append
    days: dict[dt.date, str] = {}
    allocated = draws = total = 0
    currency = ps.currency
    per_minor = minor_to_stored(1, currency)
    for entry_id, kind, stored, engagement_id, date in rows:
        effect = -(stored // per_minor)  # exact: no amount has more places than its currency
        kind = kind or "adjustment"
        day = days.get(date) or days.setdefault(date, date.isoformat())
        if engagement_id is None:
            append({"kind": kind, "amount": fmt_minor(effect, currency), "entry": entry_id, "date": day})
        else:
            ref, practice = engagements[engagement_id]
            append({"kind": kind, "amount": fmt_minor(effect, currency), "entry": entry_id, "date": day,
                    "engagement": ref, "practice": practice})
        total += effect
        if kind in ALLOCATION_KINDS:
            allocated += effect
        elif kind == "draw":
            draws -= effect
    policies = _provenance(conn, lines)
    opening_minor = to_minor(opening, currency)
    result = {
        "partner": partner.code,
        "name": partner.name,
        "partnership": ps.name,
        "currency": ps.currency,
        "period": first if first == last else f"{first}..{last}",
        "from": first,
        "to": last,
        "opening": fmt(opening, currency),
        "lines": lines,
        "allocated": fmt_minor(allocated, currency),
        "draws": fmt_minor(draws, currency),
        "closing": fmt_minor(opening_minor + total, currency),
        "unattributed": fmt(unattributed_in(session, start, end, currency), currency),
        "notes": pool_notes(session, first, last),
        #: the policy versions the allocation lines were closed under, each with the vote behind it
        "policies": policies,
        "units": units_on(session, partner, end),  # vested and unvested, one read of the grants
    }
    paid = installments_in(session, partner.code, start, end)
    if paid or partner.status == "retired":
        result["installments"] = paid
    return result


def _provenance(conn, lines: list[dict]) -> list[dict]:
    """Give each origination, practice and pool line the policy version its close applied and the
    proposal that made that version (``None`` for the charter's), and return those versions (the
    statement's footnotes): one query for the few close entries a statement names (CONTRACT §8)."""
    ids = {line["entry"] for line in lines if line["kind"] in ALLOCATION_KINDS}
    if not ids:
        return []
    rows = conn.execute(
        select(Entry.id, PolicyVersion.version, PolicyVersion.origination, PolicyVersion.practice,
               PolicyVersion.pool_basis, PolicyVersion.effective_period, PolicyVersion.proposal_id, Proposal.title)
        .join(PolicyVersion, PolicyVersion.version == Entry.policy_version)
        .outerjoin(Proposal, Proposal.id == PolicyVersion.proposal_id)
        .where(Entry.id.in_(sorted(ids)))).all()
    made_by = {row.id: (row.version, row.proposal_id) for row in rows}
    for line in lines:
        if line["kind"] in ALLOCATION_KINDS and line["entry"] in made_by:
            line["policy_version"], line["proposal"] = made_by[line["entry"]]
    versions = {row.version: row for row in rows}
    return [{"version": v, "origination": format_percent(r.origination), "practice": format_percent(r.practice),
             "pool": format_percent(1 - r.origination - r.practice), "pool_basis": r.pool_basis,
             "effective_period": r.effective_period, "proposal": r.proposal_id, "proposal_title": r.title}
            for v, r in sorted(versions.items())]


def _engagements(conn, sources: list) -> dict[int, tuple[str, str]]:
    """``{engagement id: (ref, practice code)}`` for the engagements the ``sources`` (selects of
    engagement ids) name, in one query — no IN list of ids, however many lines a statement has."""
    ids = union(*sources).subquery()
    return {i: (ref, practice) for i, ref, practice in conn.execute(
        select(Engagement.id, Engagement.ref, Practice.code).join(Practice, Practice.id == Engagement.practice_id)
        .where(Engagement.id.in_(select(ids.c[0])))).all()}


def capital_balance(session: Session, partner_code: str, as_of: dt.date | None = None) -> Decimal:
    return -balance(session, chart.capital(partner_code), as_of=as_of)
