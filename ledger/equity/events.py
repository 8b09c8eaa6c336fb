"""Recording the dated events that reshape a vesting schedule: pauses and accelerations.

A schedule changes by *adding* an event, never by editing a grant or an earlier event:

- ``add_pause``: a partner's leave of absence from ``start`` (to ``end``, or open while the end is
  unknown). It stops the vesting clock of every grant of theirs that vests over time.
- ``end_pause``: records the end of an open pause, once.
- ``add_acceleration``: ``quantity`` units of one grant vest on ``date``, taken from its next
  tranches.

What may not be added (``ValidationError``, 422, naming the field; nothing written):
a pause of a partner who holds only founder's units (``partner``: nothing to pause), a date before
the grant starts, a pause ending before it starts, a pause that overlaps another (``start`` or
``end``), an acceleration larger than what is unvested on its date (``quantity``), a date after the
last day of a scheduled retirement, and an acceleration of a partner with several vesting grants
that does not say which (``grant``).

What may no longer be changed (``Conflict``, 409): anything that would change what vested on a day
of a closed period, whose vesting is already posted. A pause's ``start`` and an acceleration's
``date`` must fall after the last closed period; a pause's ``end`` may be its last day or later
(ending a pause changes vesting only from the day after ``end``). Nor may a retired partner's
schedule change, nor an ended pause be ended again.

Every candidate is checked by building the grant's whole new terms through the pure
``vesting.GrantTerms`` (which validates them) before anything is added, so the rules of
``vesting.py`` are enforced in one place; the checks above come first only to name the request's
own field. Each write first takes the period close's lock (the chain head row), so a close cannot
slip between the check and the commit. Services receive the session and never commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core import vesting as V
from ledger.core.errors import Conflict, NotFound, ValidationError
from ledger.db import clock_of
from ledger.equity.models import Grant, VestingAcceleration, VestingPause
from ledger.equity.service import acceleration_of, acceleration_rows, pause_of, pause_rows, terms_for
from ledger.journal.periods import closed_through
from ledger.journal.service import lock_chain
from ledger.practices.models import Partner
from ledger.practices.service import get_partner

#: How far a date may lie from today (either way) — bounds the schedule's arithmetic.
MAX_YEARS = 200


def _refuse(field: str, message: str) -> ValidationError:
    return ValidationError(f"{field}: {message}", {field: [message]})


def _check_open(session: Session, field: str, day: dt.date, *, may_be_last_closed_day: bool = False) -> None:
    """Refuse a change that would alter vesting on a day of a closed period."""
    through = closed_through(session)
    if through is None or day > through or (may_be_last_closed_day and day == through):
        return
    raise Conflict(f"{field} {day.isoformat()} falls in a closed period: vesting through "
                   f"{through.isoformat()} is already posted to the ledger",
                   {field: [f"in a closed period (closed through {through.isoformat()})"]})


def _check_in_range(session: Session, field: str, day: dt.date) -> None:
    today = clock_of(session).today()
    if abs(day.year - today.year) > MAX_YEARS:
        raise _refuse(field, f"must be within {MAX_YEARS} years of today")


def _active(session: Session, code: str) -> Partner:
    partner = get_partner(session, code)
    if partner.status == "retired" or partner.retired_on is not None:
        raise Conflict(f"{code} has retired: their units were forfeited or redeemed, and their schedule is final",
                       {"partner": ["retired"]})
    return partner


def _check_before_leaving(session: Session, partner: Partner, field: str, day: dt.date) -> None:
    last = partner.leaves_on
    if last is not None and day > last:
        raise _refuse(field, f"after {partner.code}'s last day ({last.isoformat()}, a scheduled retirement)")


def _grants(session: Session, partner: Partner) -> list[Grant]:
    return list(session.scalars(select(Grant).where(Grant.partner_id == partner.id).order_by(Grant.id)))


def _validate(partner: Partner, grants: Sequence[Grant], pauses: Sequence[V.Pause],
              accelerations: dict[int, list[V.Acceleration]], name: Callable[[str], str]) -> None:
    """Build every grant's new terms (``vesting.GrantTerms`` validates them) and its schedule;
    a refusal names the request's field through ``name(error key)``."""
    for g in grants:
        try:
            terms = terms_for(g, pauses, accelerations.get(g.id, []))
            V.schedule(terms)
        except ValidationError as exc:
            fields: dict[str, list[str]] = {}
            for key, messages in exc.errors.items():
                fields.setdefault(name(key), []).extend(messages)
            detail = "; ".join(f"{k}: {m}" for k, ms in fields.items() for m in ms)
            raise ValidationError(f"grant {g.id} of {partner.code} would not be valid: {detail}", fields) from None
        except (OverflowError, ValueError) as exc:  # a date so far out the calendar ends first
            raise ValidationError(f"the schedule would run past the calendar: {exc}",
                                  {name(""): ["too far from the grant's dates"]}) from None


# --- pauses ------------------------------------------------------------------------------------


def add_pause(session: Session, partner_code: str, start: dt.date, end: dt.date | None = None,
              reason: str = "") -> VestingPause:
    """Record a leave of absence of the partner from ``start`` (to ``end``, or open); see the
    module docstring for what is refused."""
    lock_chain(session)  # so a close cannot run between the "still open?" check and the commit
    partner = _active(session, partner_code)
    _check_in_range(session, "start", start)
    if end is not None:
        _check_in_range(session, "end", end)
        if end < start:
            raise _refuse("end", f"before the pause starts ({start.isoformat()})")
    grants = _grants(session, partner)
    vesting = [g for g in grants if g.vests_over_time]
    if not vesting:
        raise _refuse("partner", f"{partner.code} holds founder's units, vested in full on "
                                 f"{min(g.start for g in grants).isoformat() if grants else 'the start'}: "
                                 "there is nothing to pause")
    first = min(g.start for g in vesting)
    if start < first:
        raise _refuse("start", f"before {partner.code}'s grant starts ({first.isoformat()})")
    _check_before_leaving(session, partner, "start", start)
    _check_open(session, "start", start)
    existing = pause_rows(session, partner)
    for row in existing:
        if row.starts_on <= start and (row.ends_on is None or start <= row.ends_on):
            until = row.ends_on.isoformat() if row.ends_on else "still open"
            raise _refuse("start", f"falls in pause {row.id} ({row.starts_on.isoformat()} to {until}); "
                                   "a partner is on one leave at a time")
        if start < row.starts_on and (end is None or end >= row.starts_on):
            raise _refuse("end", f"runs into pause {row.id}, which starts on {row.starts_on.isoformat()}; "
                                 "a partner is on one leave at a time")
    pauses = [pause_of(r) for r in existing] + [V.Pause(start, end)]
    accelerations = {k: [acceleration_of(a) for a in v] for k, v in acceleration_rows(session, [g.id for g in grants]).items()}
    _validate(partner, vesting, pauses, accelerations,
              lambda key: "end" if key.endswith(".end") else "start")
    now = clock_of(session).now()
    row = VestingPause(partner_id=partner.id, starts_on=start, ends_on=end, reason=reason or "",
                       recorded_at=now, ended_at=now if end is not None else None)
    session.add(row)
    session.flush()
    return row


def get_pause(session: Session, partner_code: str, pause_id: int) -> VestingPause:
    partner = get_partner(session, partner_code)
    row = session.get(VestingPause, pause_id)
    if row is None or row.partner_id != partner.id:
        raise NotFound(f"{partner_code} has no pause {pause_id}", {"pause": [f"unknown pause {pause_id}"]})
    return row


def open_pause(session: Session, partner_code: str) -> VestingPause:
    """The partner's pause that has not ended; ``ValidationError`` on ``partner`` when there is none."""
    partner = get_partner(session, partner_code)
    row = next((r for r in pause_rows(session, partner) if r.ends_on is None), None)
    if row is None:
        raise _refuse("partner", f"{partner_code} has no pause to resume from")
    return row


def end_pause(session: Session, partner_code: str, pause_id: int, end: dt.date) -> VestingPause:
    """Record the last day of an open pause; vesting time runs again from the day after."""
    lock_chain(session)  # so a close cannot run between the "still open?" check and the commit
    row = get_pause(session, partner_code, pause_id)
    partner = _active(session, partner_code)
    if row.ends_on is not None:
        raise Conflict(f"pause {pause_id} already ended on {row.ends_on.isoformat()}",
                       {"end": [f"already ended on {row.ends_on.isoformat()}"]})
    _check_in_range(session, "end", end)
    if end < row.starts_on:
        raise _refuse("end", f"before the pause starts ({row.starts_on.isoformat()})")
    _check_open(session, "end", end, may_be_last_closed_day=True)
    pauses = [V.Pause(r.starts_on, end) if r.id == row.id else pause_of(r) for r in pause_rows(session, partner)]
    grants = _grants(session, partner)
    accelerations = {k: [acceleration_of(a) for a in v] for k, v in acceleration_rows(session, [g.id for g in grants]).items()}
    _validate(partner, [g for g in grants if g.vests_over_time], pauses, accelerations, lambda key: "end")
    row.ends_on = end
    row.ended_at = clock_of(session).now()
    session.flush()
    return row


# --- accelerations -----------------------------------------------------------------------------


def _grant_to_accelerate(session: Session, partner: Partner, grant_id: int | None) -> Grant:
    grants = _grants(session, partner)
    if grant_id is not None:
        for g in grants:
            if g.id == grant_id:
                return g
        raise _refuse("grant", f"{partner.code} has no grant {grant_id}")
    vesting = [g for g in grants if g.vests_over_time]
    if len(vesting) == 1:
        return vesting[0]
    if len(vesting) > 1:
        raise _refuse("grant", f"{partner.code} has {len(vesting)} vesting grants "
                               f"({', '.join(str(g.id) for g in vesting)}): say which")
    if not grants:
        raise _refuse("partner", f"{partner.code} holds no units")
    # Founder's units only: they are all vested, so the quantity check below refuses it.
    return grants[0]


def add_acceleration(session: Session, partner_code: str, date: dt.date, quantity: int, reason: str,
                     grant_id: int | None = None) -> VestingAcceleration:
    """Record that ``quantity`` units of the partner's grant (``grant_id``, or their one vesting
    grant) vest on ``date``; see the module docstring for what is refused."""
    lock_chain(session)  # so a close cannot run between the "still open?" check and the commit
    partner = _active(session, partner_code)
    grant = _grant_to_accelerate(session, partner, grant_id)
    _check_in_range(session, "date", date)
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
        raise _refuse("quantity", "must be a whole number of units greater than 0")
    if not isinstance(reason, str) or not reason.strip():
        raise _refuse("reason", "give the reason for the acceleration")
    if date < grant.start:
        raise _refuse("date", f"before the grant starts ({grant.start.isoformat()})")
    _check_before_leaving(session, partner, "date", date)
    _check_open(session, "date", date)
    pauses = [pause_of(r) for r in pause_rows(session, partner)]
    accelerations = [acceleration_of(a) for a in acceleration_rows(session, [grant.id])[grant.id]]
    before = terms_for(grant, pauses, accelerations)
    unvested = grant.units - V.vested(before, date)
    if quantity > unvested:
        raise _refuse("quantity", f"{quantity} is more than the {unvested} units of grant {grant.id} "
                                  f"unvested on {date.isoformat()}")

    def name(key: str) -> str:
        # The new acceleration is fine on its date; an error names a later one it would starve.
        return {"date": "date", "reason": "reason", "": "date"}.get(key.rsplit(".", 1)[-1], "quantity")

    _validate(partner, [grant], pauses, {grant.id: [*accelerations, V.Acceleration(date, quantity, reason)]},
              name)
    row = VestingAcceleration(grant_id=grant.id, date=date, quantity=quantity, reason=reason.strip(),
                              recorded_at=clock_of(session).now())
    session.add(row)
    session.flush()
    return row


# --- reading -----------------------------------------------------------------------------------


def grants_detail(session: Session, partner_code: str) -> list[dict]:
    """The partner's grants, oldest first, each with its terms, the pauses that shape it and its
    accelerations (plain values: dates as ``datetime.date``)."""
    partner = get_partner(session, partner_code)
    grants = _grants(session, partner)
    pauses = pause_rows(session, partner)
    accelerations = acceleration_rows(session, [g.id for g in grants])
    out = []
    for g in grants:
        out.append({
            "id": g.id, "kind": g.kind, "units": g.units, "start": g.start, "cliff_months": g.cliff_months,
            "months": g.months, "every": g.every,
            "pauses": [pause_out(p) for p in pauses
                       if g.vests_over_time and (p.ends_on is None or p.ends_on >= g.start)],
            "accelerations": [acceleration_out(a) for a in accelerations[g.id]],
        })
    return out


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    """A stored time in UTC: SQLite gives it back naive (it was written in UTC), PostgreSQL in the
    session's zone."""
    if moment is None:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def pause_out(row: VestingPause) -> dict:
    return {"id": row.id, "partner": row.partner.code, "start": row.starts_on, "end": row.ends_on,
            "reason": row.reason, "recorded_at": _utc(row.recorded_at), "ended_at": _utc(row.ended_at)}


def acceleration_out(row: VestingAcceleration) -> dict:
    return {"id": row.id, "partner": row.grant.partner.code, "grant": row.grant_id, "date": row.date,
            "quantity": row.quantity, "reason": row.reason, "recorded_at": _utc(row.recorded_at)}
