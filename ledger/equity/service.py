"""The equity service: partners' units read from the grants, and kept in step with the ledger.

- ``vested_units`` is the one answer to "how many vested units does this partner hold on this
  date": pool weights, voting weights, statements and the API all call it (or
  ``vested_units_by_partner`` for everyone at once). It applies the vesting formula
  (``vesting.py``) to the partner's grants, so it never waits for a close to post anything.
- Each grant's terms carry the dated events that reshape its schedule (``terms_for``): the
  partner's leave-of-absence pauses and the grant's accelerations, as stored by ``events.py``. So
  the summary, the ledger postings, the verify check and the OCF export all see them alike.
- ``post_vesting_events`` writes what vested in a date range to the ledger, one ``UNITS`` entry per
  partner per vesting date (Dr ``Equity:Units:Unvested:<P>``, Cr ``Equity:Units:Vested:<P>``). It
  posts only the difference between the formula and what the ``Vested`` account already holds, so
  running it twice, or over overlapping ranges, posts nothing twice. The period close calls it.
- ``post_retirement_units`` closes a retiring partner's units books: pending vesting up to the last
  day, then one entry forfeiting the unvested units and redeeming the vested ones back to
  ``Equity:Units:Authorized``.
- ``check_units_agree`` is the ``ledger verify`` check: for every date up to the end of the last
  closed period, the ledger's units balances equal the formula's.

Retirement, in dates: a partner's ``retired_on`` is their last day (the last day of the retirement's
effective period). Tranches dated that day still vest, and ``vested_units`` on that day still counts
their units, because the close allocates the period before it retires the partner. From the next
day they hold nothing: the unvested rest is forfeited and the vested units are redeemed. The ledger
records both in the retirement entry dated ``retired_on`` itself (the last thing that day), so
``check_units_agree`` expects zero balances from that date on.

Services receive the session and never commit.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core import chart
from ledger.core import vesting as V
from ledger.core.entries import Leg
from ledger.equity.models import Grant, VestingAcceleration, VestingPause
from ledger.journal.models import Account, Entry, Posting
from ledger.journal.periods import closed_through, first_open_day
from ledger.journal.service import COMMODITY_UNITS, post_entry
from ledger.practices.models import Partner
from ledger.practices.service import get_partner

SOURCE_VESTING = "vesting"
SOURCE_RETIREMENT = "retirement"


# --- reading grants ----------------------------------------------------------------------------


def _partner(session: Session, partner: str | Partner) -> Partner:
    return partner if isinstance(partner, Partner) else get_partner(session, partner)


def terms_for(grant: Grant, pauses: Iterable[V.Pause] = (), accelerations: Iterable[V.Acceleration] = (),
              leave_on: dt.date | None = None) -> V.GrantTerms:
    """A grant's vesting terms with its partner's pauses and its own accelerations.

    A pause is the partner's, so it stops every grant of theirs that vests over time: a founder's
    units get none, and a grant that started during a pause is paused from its own start (days of
    leave before a grant began do not delay it). Accelerations dated after ``leave_on`` never
    happen (the partner left first) and are left out."""
    spans = []
    if grant.months > 0:
        for p in pauses:
            if p.end is not None and p.end < grant.start:
                continue
            spans.append(V.Pause(max(p.start, grant.start), p.end))
    kept = [a for a in accelerations if leave_on is None or a.date <= leave_on]
    return V.GrantTerms(units=grant.units, start=grant.start, cliff_months=grant.cliff_months,
                        months=grant.months, every=grant.every, pauses=tuple(sorted(spans, key=lambda p: p.start)),
                        accelerations=tuple(kept), leave_on=leave_on)


def pause_of(row: VestingPause) -> V.Pause:
    return V.Pause(row.starts_on, row.ends_on)


def acceleration_of(row: VestingAcceleration) -> V.Acceleration:
    return V.Acceleration(row.date, row.quantity, row.reason)


def pause_rows(session: Session, partner: Partner) -> list[VestingPause]:
    """The partner's pauses, by start."""
    return list(session.scalars(select(VestingPause).where(VestingPause.partner_id == partner.id)
                                .order_by(VestingPause.starts_on, VestingPause.id)))


def acceleration_rows(session: Session, grant_ids: Iterable[int] | None = None) -> dict[int, list[VestingAcceleration]]:
    """``{grant id: [acceleration, …]}`` by date (every grant's when ``grant_ids`` is None)."""
    q = select(VestingAcceleration).order_by(VestingAcceleration.date, VestingAcceleration.id)
    if grant_ids is not None:
        q = q.where(VestingAcceleration.grant_id.in_(list(grant_ids)))
    out: dict[int, list[VestingAcceleration]] = defaultdict(list)
    for row in session.scalars(q):
        out[row.grant_id].append(row)
    return out


def grants_with_terms(session: Session, partner: Partner,
                      leave_on: dt.date | None = None) -> list[tuple[Grant, V.GrantTerms]]:
    """The partner's ``Grant`` rows, oldest first, each with its terms: the partner's pauses, the
    grant's accelerations, and ``leave_on`` (the partner's ``retired_on`` unless given)."""
    grants = list(session.scalars(select(Grant).where(Grant.partner_id == partner.id).order_by(Grant.id)))
    if not grants:
        return []
    leave = leave_on if leave_on is not None else partner.retired_on
    # A pause stops only grants that vest over time (``terms_for``): a founder's units never read them.
    pauses = [pause_of(r) for r in pause_rows(session, partner)] if any(g.months > 0 for g in grants) else []
    accelerations = acceleration_rows(session, [g.id for g in grants])
    return [(g, terms_for(g, pauses, [acceleration_of(a) for a in accelerations[g.id]], leave)) for g in grants]


def _terms_by_partner(session: Session, partners: Iterable[Partner] | None = None,
                      ) -> dict[int, list[tuple[Grant, V.GrantTerms]]]:
    """``{partner id: grants_with_terms(session, partner)}`` for ``partners`` (every partner when
    None), read in a fixed number of queries (grants, pauses, accelerations, and the partners when
    not given) whatever the number of partners. Each grant's ``leave_on`` is its partner's
    ``retired_on``, as in ``grants_with_terms``; a partner without a grant maps to ``[]``."""
    if partners is None:
        partners = session.scalars(select(Partner))
    by_id = {p.id: p for p in partners}
    grants: dict[int, list[Grant]] = {pid: [] for pid in by_id}
    for g in session.scalars(select(Grant).order_by(Grant.id)):
        if g.partner_id in grants:
            grants[g.partner_id].append(g)
    pauses: dict[int, list[V.Pause]] = defaultdict(list)
    for row in session.scalars(select(VestingPause).order_by(VestingPause.starts_on, VestingPause.id)):
        pauses[row.partner_id].append(pause_of(row))
    accelerations = acceleration_rows(session)
    return {pid: [(g, terms_for(g, pauses[pid], [acceleration_of(a) for a in accelerations[g.id]],
                                by_id[pid].retired_on)) for g in gs]
            for pid, gs in grants.items()}


def grant_terms(session: Session, partner: str | Partner) -> list[V.GrantTerms]:
    """The partner's grants as vesting terms (pauses and accelerations included), oldest first; a
    retired partner's ``retired_on`` is every grant's ``leave_on``."""
    return [t for _, t in grants_with_terms(session, _partner(session, partner))]


def _held_vested(partner: Partner, terms: Iterable[V.GrantTerms], as_of: dt.date) -> int:
    if partner.retired_on is not None and as_of > partner.retired_on:
        return 0  # redeemed at retirement
    return sum(V.vested(t, as_of) for t in terms)


def vested_units(session: Session, partner: str | Partner, as_of: dt.date) -> int:
    """Vested units the partner holds on ``as_of`` (tranches dated that day included); 0 after a
    retirement's last day. The one function pool weights and voting weights use."""
    p = _partner(session, partner)
    return _held_vested(p, grant_terms(session, p), as_of)


def vested_units_by_partner(session: Session, as_of: dt.date) -> dict[str, int]:
    """``{partner code: vested_units(...)}`` for every partner (0 for one without a grant), read in
    four queries whatever the number of partners: the pool weights of the close."""
    partners = list(session.scalars(select(Partner).order_by(Partner.code)))
    terms = _terms_by_partner(session, partners)
    return {p.code: _held_vested(p, (t for _, t in terms[p.id]), as_of) for p in partners}


def units_on(session: Session, partner: str | Partner, as_of: dt.date) -> dict[str, int]:
    """``{"vested": …, "unvested": …}`` on ``as_of`` — ``vested_units`` and ``unvested_units`` from
    one read of the partner's grants (a statement shows both)."""
    p = _partner(session, partner)
    terms = grant_terms(session, p)
    return {"vested": _held_vested(p, terms, as_of), "unvested": sum(V.unvested(t, as_of) for t in terms)}


def unvested_units(session: Session, partner: str | Partner, as_of: dt.date) -> int:
    """Units granted to the partner and not yet vested on ``as_of`` (0 once forfeited)."""
    return sum(V.unvested(t, as_of) for t in grant_terms(session, partner))


def vesting_summary(session: Session, partner_code: str, as_of: dt.date) -> dict:
    """The body of ``GET /partners/{code}/vesting?as_of=``: ``granted``, ``vested``, ``unvested``
    (ints), the full ``schedule`` (``[{date, units, cumulative}]``, ISO dates, every grant merged),
    ``next_vesting_date`` (ISO or None), and for a retired partner what was ``forfeited`` and
    ``redeemed`` (0 otherwise)."""
    p = _partner(session, partner_code)
    terms = grant_terms(session, p)
    granted = sum(t.units for t in terms)
    vested = _held_vested(p, terms, as_of)
    retired = p.retired_on is not None and as_of > p.retired_on
    forfeited = sum(V.forfeited(t, as_of) for t in terms)
    redeemed = sum(V.vested(t, as_of) for t in terms) if retired else 0
    events = V.merge_schedules([V.schedule(t) for t in terms])
    upcoming = next((e.date for e in events if e.date > as_of), None)
    return {
        "granted": granted,
        "vested": vested,
        "unvested": granted - vested - forfeited - redeemed,
        "forfeited": forfeited,
        "redeemed": redeemed,
        "schedule": [{"date": e.date.isoformat(), "units": e.units, "cumulative": e.cumulative} for e in events],
        "next_vesting_date": upcoming.isoformat() if upcoming else None,
    }


# --- the ledger side ---------------------------------------------------------------------------


_IN_CHUNK = 500  # account names per IN list, well under SQLite's limit on bound parameters


def _units_history(session: Session, accounts: list[str], through: dt.date | None = None) -> dict[str, list[tuple[dt.date, Decimal]]]:
    """``{account: [(date, amount), …]}`` of the ``UNITS`` postings on ``accounts``, by date (one
    query per 500 accounts)."""
    names = list(dict.fromkeys(accounts))
    out: dict[str, list[tuple[dt.date, Decimal]]] = defaultdict(list)
    for i in range(0, len(names), _IN_CHUNK):
        q = (select(Account.name, Entry.date, Posting.amount)
             .join(Account, Account.id == Posting.account_id)
             .join(Entry, Entry.id == Posting.entry_id)
             .where(Account.name.in_(names[i:i + _IN_CHUNK]), Posting.commodity == COMMODITY_UNITS)
             .order_by(Entry.date, Entry.id))
        if through is not None:
            q = q.where(Entry.date <= through)
        for name, date, amount in session.execute(q):
            out[name].append((date, amount))
    return out


def _held_on(history: list[tuple[dt.date, Decimal]], d: dt.date) -> int:
    """Units an equity account holds on ``d``: its credit balance, as a positive int."""
    return int(-sum((amount for date, amount in history if date <= d), Decimal(0)))


def _retired_in_ledger(session: Session, code: str) -> bool:
    """Whether the partner's units were retired: a ``retirement`` entry on their units accounts
    (the succession posts its money entries under the same source, so the accounts decide)."""
    accounts = [chart.units_unvested(code), chart.units_vested(code)]
    q = (select(Entry.id).join(Posting, Posting.entry_id == Entry.id).join(Account, Account.id == Posting.account_id)
         .where(Entry.source_type == SOURCE_RETIREMENT, Entry.source_ref == code, Account.name.in_(accounts))
         .limit(1))
    return session.scalar(q) is not None


def _retired_codes(session: Session) -> set[str]:
    """The codes of every partner whose units were retired (``_retired_in_ledger`` for all of them),
    in one query: the ``retirement`` entries' units accounts, matched to their ``source_ref``."""
    q = (select(Entry.source_ref, Account.name).distinct()
         .join(Posting, Posting.entry_id == Entry.id).join(Account, Account.id == Posting.account_id)
         .where(Entry.source_type == SOURCE_RETIREMENT, Account.name.startswith("Equity:Units:")))
    return {code for code, name in session.execute(q)
            if code is not None and name in (chart.units_unvested(code), chart.units_vested(code))}


def _post_partner_vesting(session: Session, partner: Partner, grants: list[tuple[Grant, V.GrantTerms]],
                          start: dt.date, end: dt.date,
                          history: list[tuple[dt.date, Decimal]] | None = None) -> list[Entry]:
    """Post the partner's vesting in ``[start, end]``. ``history`` is their ``Vested`` account's
    (``_units_history``), read here when not given; it is extended with what is posted."""
    dates = {e.date for g, t in grants if g.kind == "grant" for e in V.schedule(t) if start <= e.date <= end}
    # Catch-up: tranches dated before the range that never reached the ledger (a grant admitted
    # with a start in a period already closed) vest on the range's first day the partner is in.
    first_day = max(start, partner.joined_on)
    if first_day <= end:
        dates.add(first_day)
    if not dates:
        return []
    vested_account = chart.units_vested(partner.code)
    if history is None:
        history = _units_history(session, [vested_account]).get(vested_account, [])
    granted = sum(t.units for _, t in grants)
    posted = []
    for t in sorted(dates):
        # Post no more than keeps the ledger at or below the formula on every later date it
        # already has an entry for, so a range run out of order never vests a unit twice.
        checkpoints = [t] + sorted({d for d, _ in history if d > t})
        k = min(sum(V.vested(terms, s) for _, terms in grants) - _held_on(history, s) for s in checkpoints)
        if k <= 0:
            continue
        cumulative = sum(V.vested(terms, t) for _, terms in grants)
        entry = post_entry(
            session, date=t, source_type=SOURCE_VESTING, source_ref=partner.code,
            memo=f"Vesting: {k} units of {partner.code}'s grant vest ({cumulative} of {granted} vested)",
            legs=[Leg(chart.units_unvested(partner.code), Decimal(k), COMMODITY_UNITS),
                  Leg(vested_account, Decimal(-k), COMMODITY_UNITS)],
        )
        history.append((t, Decimal(-k)))
        posted.append(entry)
    return posted


def post_vesting_events(session: Session, start: dt.date, end: dt.date) -> list[Entry]:
    """Post the units that vest on dates in ``[start, end]``: one ``UNITS`` entry per partner per
    vesting date, dated that day, ``source_type`` ``"vesting"``, ``source_ref`` the partner's code.
    Posts only what the ``Vested`` account does not hold yet (re-running posts nothing); a partner
    whose units were retired is skipped. Returns the entries posted, by partner code then date."""
    # A fixed number of reads whatever the number of partners: the partners, their grants with
    # terms, the retired codes, and the Vested accounts' histories; then only the postings.
    partners = list(session.scalars(select(Partner).order_by(Partner.code)))
    terms = _terms_by_partner(session, partners)
    vesting = [p for p in partners if any(g.kind == "grant" for g, _ in terms[p.id])]
    if not vesting:
        return []
    retired = _retired_codes(session)
    vesting = [p for p in vesting if p.code not in retired]
    history = _units_history(session, [chart.units_vested(p.code) for p in vesting])
    posted: list[Entry] = []
    for partner in vesting:
        # Each partner's postings touch their own accounts only, so the histories read above
        # stay right for the partners after them.
        posted.extend(_post_partner_vesting(session, partner, terms[partner.id], start, end,
                                            history=history.get(chart.units_vested(partner.code), [])))
    return posted


def post_retirement_units(session: Session, partner_code: str, on: dt.date) -> list[Entry]:
    """Close a retiring partner's units on their last day ``on``: post the tranches still due up to
    ``on``, then one ``"retirement"`` entry dated ``on`` that forfeits the unvested units (Dr
    ``Unvested``) and redeems the vested ones (Dr ``Vested``) back to ``Equity:Units:Authorized``.
    Sets ``retired_on`` when it is not set (the succession sets the partner's status). Runs once:
    a second call posts nothing. Returns the entries posted."""
    partner = get_partner(session, partner_code)
    if _retired_in_ledger(session, partner.code):
        return []
    if partner.retired_on is None:
        partner.retired_on = on
    grants = grants_with_terms(session, partner, leave_on=on)
    posted = _post_partner_vesting(session, partner, grants, first_open_day(session), on)
    accounts = [chart.units_unvested(partner.code), chart.units_vested(partner.code)]
    history = _units_history(session, accounts)
    unvested, vested = (_held_on(history.get(a, []), on) for a in accounts)
    if unvested or vested:
        posted.append(post_entry(
            session, date=on, source_type=SOURCE_RETIREMENT, source_ref=partner.code,
            memo=f"Retirement of {partner.code}: {unvested} unvested units forfeited, {vested} vested units redeemed",
            legs=[Leg(accounts[0], Decimal(unvested), COMMODITY_UNITS),
                  Leg(accounts[1], Decimal(vested), COMMODITY_UNITS),
                  Leg(chart.UNITS_AUTHORIZED, Decimal(-(unvested + vested)), COMMODITY_UNITS)],
        ))
    return posted


def check_units_agree(session: Session, as_of: dt.date | None = None) -> list[str]:
    """Where the ledger's units and the vesting formula disagree, one line per partner and account
    (the first date it happens), on every date from the partner's joining to the end of the last
    closed period (or ``as_of``, if earlier). Open periods are not checked: their vesting is posted
    by their close. A ``ledger verify`` check (``verify(session, extra_checks=[check_units_agree])``)."""
    cutoff = closed_through(session)
    if cutoff is None:
        return []
    if as_of is not None:
        cutoff = min(cutoff, as_of)
    partners = list(session.scalars(select(Partner).order_by(Partner.code)))
    names = {p.code: (chart.units_vested(p.code), chart.units_unvested(p.code)) for p in partners}
    history = _units_history(session, [n for pair in names.values() for n in pair], through=cutoff)
    terms_by_partner = _terms_by_partner(session, partners)
    problems: list[str] = []
    for p in partners:
        if p.joined_on > cutoff:
            continue
        terms = [t for _, t in terms_by_partner[p.id]]
        vested_name, unvested_name = names[p.code]
        dates = {cutoff} | {e.date for t in terms for e in V.schedule(t)} | {
            d for name in names[p.code] for d, _ in history.get(name, [])}
        for label, name in (("vested", vested_name), ("unvested", unvested_name)):
            for d in sorted(x for x in dates if p.joined_on <= x <= cutoff):
                if p.retired_on is not None and d >= p.retired_on:
                    expected = 0
                elif label == "vested":
                    expected = sum(V.vested(t, d) for t in terms)
                else:
                    expected = sum(V.unvested(t, d) for t in terms)
                held = _held_on(history.get(name, []), d)
                if held != expected:
                    problems.append(f"units of {p.code} on {d.isoformat()}: {name} holds {held} {label}, "
                                    f"the vesting schedule says {expected}")
                    break
    return problems
