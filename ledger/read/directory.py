"""The partnership's directory as the API and the web show it: partners with their vested units
today, practices with their owners in force, and a partner's own vesting and buyout (the partner's
and the treasurer's to read: ``core.access.may_read_own``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from ledger.core.access import Viewer, may_read_own
from ledger.core.errors import Forbidden
from ledger.db import clock_of
from ledger.equity.service import vested_units_by_partner, vesting_summary
from ledger.practices.models import Partner, Practice
from ledger.practices.service import get_partner, get_practice, list_partners, list_practices, owners_now
from ledger.succession.service import buyout_schedule


@dataclass(frozen=True, slots=True)
class PartnerView:
    code: str
    name: str
    email: str
    status: str
    joined_on: dt.date
    retired_on: dt.date | None
    #: Vested units on the server's current UTC date (as governance counts them).
    vested_units: int


@dataclass(frozen=True, slots=True)
class PracticeView:
    code: str
    name: str
    created_on: dt.date
    #: The owners in force, by partner code: their shares as fractions (``Decimal("0.7")``).
    owners: dict[str, Decimal]


def _partner(p: Partner, vested: dict[str, int]) -> PartnerView:
    return PartnerView(p.code, p.name, p.email, p.status, p.joined_on, p.retired_on, vested.get(p.code, 0))


def partners(session: Session) -> list[PartnerView]:
    """Every partner, active and retired, by code."""
    vested = vested_units_by_partner(session, clock_of(session).today())
    return [_partner(p, vested) for p in list_partners(session)]


def partner(session: Session, code: str) -> PartnerView:
    p = get_partner(session, code)
    return _partner(p, vested_units_by_partner(session, clock_of(session).today()))


def _practice(p: Practice) -> PracticeView:
    return PracticeView(p.code, p.name, p.created_on, owners_now(p))


def practices(session: Session) -> list[PracticeView]:
    """Every practice with its owners in force, by code."""
    return [_practice(p) for p in list_practices(session)]


def practice(session: Session, code: str) -> PracticeView:
    return _practice(get_practice(session, code))


def _own(session: Session, viewer: Viewer, code: str, what: str) -> Partner:
    partner = get_partner(session, code)
    if not may_read_own(viewer, partner.code):
        raise Forbidden(f"only {code} or the treasurer may read {what}", {"partner": ["not yours to read"]})
    return partner


def vesting(session: Session, viewer: Viewer, code: str, as_of: dt.date | None = None) -> dict:
    """A partner's vesting as of a date (default: today), for the partner or the treasurer."""
    partner = _own(session, viewer, code, "this vesting")
    return vesting_summary(session, partner.code, as_of or clock_of(session).today())


def buyout(session: Session, viewer: Viewer, code: str) -> dict:
    """A retiring or retired partner's buyout, for the partner or the treasurer."""
    partner = _own(session, viewer, code, "this buyout")
    return buyout_schedule(session, partner.code)
