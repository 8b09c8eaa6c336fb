"""Reading the partnership and its people; creating clients, firms and engagements."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.errors import Conflict, NotFound
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
