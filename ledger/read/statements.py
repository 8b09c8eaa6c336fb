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
from functools import cache
from typing import NamedTuple

from sqlalchemy import (
    BigInteger,
    Date,
    bindparam,
    literal_column,
    select,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session

from ledger.core import chart
from ledger.core import periods as P
from ledger.core.access import Viewer, may_read_statement
from ledger.core.errors import Conflict, Forbidden, NotFound
from ledger.core.money import fmt, format_percent, minor_formatter
from ledger.core.text import fits
from ledger.db import minor_to_stored, stored_to_minor
from ledger.equity.service import units_on
from ledger.governance.models import Proposal
from ledger.journal.balances import balance, stored_balance_as_of
from ledger.journal.models import Account, Books, Entry, Period, Posting, PostingDetail
from ledger.journal.periods import parse_period, parse_year
from ledger.practices.models import Engagement, Partner, Partnership, Practice
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
    # A handful of round trips whatever the partner's activity: the header with the opening
    # balance, the lines, their policy versions, the unattributed net, the pool notes, the units
    # (and the installments, only when the partner has a buyout account).
    head = _header(session, partner_code, first, last)
    partner, currency, start, end = head.partner, head.currency, head.start, head.end
    text = minor_formatter(currency)
    per_minor = minor_to_stored(1, currency)
    conn = session.connection()
    lines = []
    append = lines.append
    days: dict[dt.date, str] = {}
    broken_down: set[tuple[int, str]] = set()
    allocations = []  # the origination, practice and pool lines, for their provenance
    allocated = draws = total = 0
    for part, entry_id, kind, stored, date, ref, practice in conn.execute(
            _lines_query(), {"account_id": head.account_id, "start": start, "end": end}).all():
        if part == 0:
            broken_down.add((entry_id, kind))
        elif (entry_id, kind) in broken_down:
            continue  # the close's posting, listed above as its detail lines
        effect = -(stored // per_minor)  # exact: no amount has more places than its currency
        kind = kind or "adjustment"
        day = days.get(date) or days.setdefault(date, date.isoformat())
        if ref is None:
            line = {"kind": kind, "amount": text(effect), "entry": entry_id, "date": day}
        else:
            line = {"kind": kind, "amount": text(effect), "entry": entry_id, "date": day,
                    "engagement": ref, "practice": practice}
        append(line)
        total += effect
        if kind in ALLOCATION_KINDS:
            allocated += effect
            allocations.append(line)
        elif kind == "draw":
            draws -= effect
    policies = _provenance(conn, allocations)
    result = {
        "partner": partner.code,
        "name": partner.name,
        "partnership": head.partnership,
        "currency": currency,
        "period": first if first == last else f"{first}..{last}",
        "from": first,
        "to": last,
        "opening": text(head.opening),
        "lines": lines,
        "allocated": text(allocated),
        "draws": text(draws),
        "closing": text(head.opening + total),
        "unattributed": fmt(unattributed_in(session, start, end, currency), currency),
        "notes": pool_notes(session, first, last),
        #: the policy versions the allocation lines were closed under, each with the vote behind it
        "policies": policies,
        "units": units_on(session, partner, end),  # vested and unvested, one read of the grants
    }
    # Installments are paid from the buyout account a retirement opens: none without one.
    paid = installments_in(session, partner.code, start, end) if head.has_buyout else []
    if paid or partner.status == "retired":
        result["installments"] = paid
    return result


class _Header(NamedTuple):
    """What a statement reads before its lines, in one query."""

    partner: Partner
    partnership: str
    currency: str
    start: dt.date  #: the first day of the range
    end: dt.date  #: the last day of the range
    account_id: int  #: the partner's capital account
    has_buyout: bool  #: whether the partner has a buyout account (a retirement opened it)
    opening: int  #: the signed capital the day before ``start``, in minor units


def _header(session: Session, partner_code: str, first: str, last: str) -> _Header:
    """The partner (``NotFound`` for an unknown code), the partnership's name and currency, the
    range's dates, the partner's capital account, whether they have a buyout account, and the
    opening balance — ``journal.balances.balance`` as of the day before the range: the last
    snapshot of a period closed by then plus the postings dated after it — in one query."""
    start, end = _dates(session, partner_code, first, last)
    row = session.execute(_header_query(), {
        "code": partner_code, "capital": chart.capital(partner_code), "buyout": chart.buyout(partner_code),
        "as_of": start - dt.timedelta(days=1)}).first()
    if row is None:
        get_partner(session, partner_code)  # NotFound for an unknown code
        get_partnership(session)  # Conflict before the founding
    partner, partnership, currency, kind, account, buyout, stored = row
    P.bounds(first, kind), P.bounds(last, kind)  # an id of the other kind raises, as it always has
    opening = -stored_to_minor(stored, currency)  # refuses what the currency cannot hold
    return _Header(partner, partnership, currency, start, end, account, buyout, opening)


def _dates(session: Session, partner_code: str, first: str, last: str) -> tuple[dt.date, dt.date]:
    """The first day of ``first`` and the last of ``last``. A period id says its own kind
    (``2026-01``, ``2026-Q1``), so the dates are known before anything is read; ``_header``
    checks them against the books' period kind. An id of neither kind raises ``ValueError`` as
    ``periods.bounds`` always has: after ``NotFound`` for an unknown partner, naming the books'
    kind."""
    try:
        return P.bounds(first, _kind_of(first))[0], P.bounds(last, _kind_of(last))[1]
    except ValueError:
        get_partner(session, partner_code)
        kind = get_partnership(session).period_kind
        return P.bounds(first, kind)[0], P.bounds(last, kind)[1]


def _kind_of(pid: str) -> str:
    return "quarter" if "Q" in pid else "month"


@cache
def _header_query():
    """``_header``'s query, built once: parameters ``code``, ``capital`` and ``buyout`` (the
    partner's code and account names) and ``as_of`` (the day before the range)."""
    account_id = select(Account.id).where(Account.name == bindparam("capital")).scalar_subquery()
    opening = stored_balance_as_of(account_id, Books.currency, bindparam("as_of", type_=Date))
    has_buyout = select(Account.id).where(Account.name == bindparam("buyout")).exists()
    return (select(Partner, Partnership.name, Books.currency, Books.period_kind, account_id, has_buyout,
                   opening)
            .select_from(Partner).join(Partnership, true()).join(Books, Books.id == Partnership.books_id)
            .where(Partner.code == bindparam("code")))


@cache
def _lines_query():
    """The partner's capital lines of the dates ``[start, end]`` (parameters ``account_id``,
    ``start``, ``end``) as ``(part, entry, kind, stored amount, date, engagement ref, practice
    code)``, in entry order and, within an entry, its posting detail lines (``part`` 0, by line)
    before its postings (``part`` 1, by posting).

    A close's capital postings are broken down by engagement in the entry's posting detail: the
    statement lists the detail lines in their place, and every other posting as it is — the
    caller drops a posting whose entry and kind its detail lines already gave. Amounts come as the
    stored integers (turned into minor units by the caller), refs and practices joined in."""
    account_id, start, end = bindparam("account_id"), bindparam("start", type_=Date), bindparam("end", type_=Date)
    detail = select(literal_column("0").label("part"), PostingDetail.entry_id.label("entry_id"),
                    PostingDetail.line_no.label("seq"), PostingDetail.kind.label("kind"),
                    type_coerce(PostingDetail.amount, BigInteger).label("amount"),
                    PostingDetail.engagement_id.label("engagement_id"), PostingDetail.date.label("date")
                    ).where(PostingDetail.account_id == account_id, PostingDetail.date >= start,
                            PostingDetail.date <= end)
    postings = select(literal_column("1"), Posting.entry_id, Posting.id, Posting.kind,
                      type_coerce(Posting.amount, BigInteger), Posting.engagement_id, Entry.date
                      ).join(Entry, Entry.id == Posting.entry_id).where(
                          Posting.account_id == account_id, Entry.date >= start, Entry.date <= end)
    rows = union_all(detail, postings).subquery()
    return (select(rows.c.part, rows.c.entry_id, rows.c.kind, rows.c.amount, rows.c.date, Engagement.ref,
                   Practice.code)
            .outerjoin(Engagement, Engagement.id == rows.c.engagement_id)
            .outerjoin(Practice, Practice.id == Engagement.practice_id)
            .order_by(rows.c.entry_id, rows.c.part, rows.c.seq))


def _provenance(conn, allocations: list[dict]) -> list[dict]:
    """Give each origination, practice and pool line (``allocations``) the policy version its
    close applied and the proposal that made that version (``None`` for the charter's), and return
    those versions (the statement's footnotes): one query for the few close entries a statement
    names (CONTRACT §8)."""
    if not allocations:
        return []
    rows = conn.execute(
        select(Entry.id, PolicyVersion.version, PolicyVersion.origination, PolicyVersion.practice,
               PolicyVersion.pool_basis, PolicyVersion.effective_period, PolicyVersion.proposal_id, Proposal.title)
        .join(PolicyVersion, PolicyVersion.version == Entry.policy_version)
        .outerjoin(Proposal, Proposal.id == PolicyVersion.proposal_id)
        .where(Entry.id.in_(sorted({line["entry"] for line in allocations})))).all()
    made_by = {row.id: (row.version, row.proposal_id) for row in rows}
    for line in allocations:
        if line["entry"] in made_by:
            line["policy_version"], line["proposal"] = made_by[line["entry"]]
    versions = {row.version: row for row in rows}
    return [{"version": v, "origination": format_percent(r.origination), "practice": format_percent(r.practice),
             "pool": format_percent(1 - r.origination - r.practice), "pool_basis": r.pool_basis,
             "effective_period": r.effective_period, "proposal": r.proposal_id, "proposal_title": r.title}
            for v, r in sorted(versions.items())]


def capital_balance(session: Session, partner_code: str, as_of: dt.date | None = None) -> Decimal:
    return -balance(session, chart.capital(partner_code), as_of=as_of)
