"""Reading the partnership and its people; creating clients, firms and engagements."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core import chart
from ledger.core.errors import Conflict, NotFound
from ledger.journal.service import open_account
from ledger.practices.models import Partner, Partnership, Practice


def get_partnership(session: Session) -> Partnership:
    """The founded partnership; ``Conflict`` when the database has not been founded yet."""
    p = session.scalar(select(Partnership).limit(1))
    if p is None:
        raise Conflict("the partnership is not founded yet: run `ledger init CHARTER.toml`")
    return p


def get_partner(session: Session, code: str) -> Partner:
    partner = session.scalar(select(Partner).where(Partner.code == code))
    if partner is None:
        raise NotFound(f"no partner {code!r}", {"partner": [f"unknown partner {code!r}"]})
    return partner


def get_practice(session: Session, code: str) -> Practice:
    practice = session.scalar(select(Practice).where(Practice.code == code))
    if practice is None:
        raise NotFound(f"no practice {code!r}", {"practice": [f"unknown practice {code!r}"]})
    return practice


def open_partner_accounts(session: Session, code: str, currency: str, on: dt.date) -> None:
    """A partner's accounts: capital (in the currency), unvested and vested units."""
    open_account(session, chart.capital(code), [currency], on)
    open_account(session, chart.units_unvested(code), ["UNITS"], on)
    open_account(session, chart.units_vested(code), ["UNITS"], on)


def open_practice_accounts(session: Session, code: str, currency: str, on: dt.date) -> None:
    """A practice's accounts: its revenue and its direct costs."""
    open_account(session, chart.revenue(code), [currency], on)
    open_account(session, chart.direct_costs(code), [currency], on)


def list_partners(session: Session) -> list[Partner]:
    return list(session.scalars(select(Partner).order_by(Partner.code)))


def owners_now(practice: Practice) -> dict[str, Decimal]:
    """The practice's ownership in force (rows with no end period), by partner code."""
    return {o.partner.code: o.share for o in sorted(practice.ownerships, key=lambda o: o.partner.code)
            if o.to_period is None}


def list_practices(session: Session) -> list[Practice]:
    return list(session.scalars(select(Practice).order_by(Practice.code)))


def active_partners(session: Session) -> list[Partner]:
    return list(session.scalars(select(Partner).where(Partner.status == "active").order_by(Partner.code)))
