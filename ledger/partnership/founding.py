"""Founding the partnership from a validated charter: one transaction, all or nothing.

Writes the partnership, partners (and a ``partner`` user each), grants, practices and their
ownership from the first period, policy version 1, the governance rules, outside firms, the chart of
accounts, and the founders' units as a ``UNITS`` entry dated ``starts_on``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.auth.models import User
from ledger.core import chart
from ledger.core import periods as P
from ledger.core.entries import Leg
from ledger.core.errors import Conflict
from ledger.db import clock_of
from ledger.equity.models import Grant
from ledger.governance.models import GovernanceRule
from ledger.journal.periods import configure_books
from ledger.journal.service import open_account, post_entry
from ledger.practices.models import Firm, Ownership, Partner, Partnership, Practice
from ledger.practices.service import open_partner_accounts, open_practice_accounts
from ledger.revenue.models import PolicyVersion


def found(session: Session, charter: dict) -> Partnership:
    if session.scalar(select(Partnership.id).limit(1)) is not None:
        raise Conflict("the partnership is already founded; `ledger init` runs once, on an empty database")
    now = clock_of(session).now()
    ps_data = charter["partnership"]
    start: dt.date = ps_data["starts_on"]
    kind = ps_data["period"]
    first = P.period_id(start, kind)
    succession = charter["succession"]
    books = configure_books(session, currency=ps_data["currency"], period_kind=kind, starts_on=start)
    ps = Partnership(
        books_id=books.id, name=ps_data["name"], open_books=ps_data["open_books"], goodwill_multiple=Decimal(succession["goodwill_multiple"]),
        lookback_periods=succession["lookback_periods"], installments=succession["installments"],
        founded_at=now,
    )
    session.add(ps)
    session.flush()
    currency = books.currency
    open_account(session, chart.CASH, [currency], start)
    open_account(session, chart.POOL, [currency], start)
    open_account(session, chart.UNITS_AUTHORIZED, ["UNITS"], start)

    partners: dict[str, Partner] = {}
    founder_legs: list[Leg] = []
    grant_legs: list[Leg] = []
    for p in charter["partners"]:
        partner = Partner(code=p["code"], name=p["name"], email=p["email"].lower(), status="active",
                          joined_on=start)
        session.add(partner)
        session.flush()
        partners[p["code"]] = partner
        session.add(User(email=partner.email, role="partner", partner_id=partner.id, active=True,
                         created_at=now))
        open_partner_accounts(session, p["code"], currency, start)
        if "units" in p:
            session.add(Grant(partner_id=partner.id, units=p["units"], start=start, cliff_months=0,
                              months=0, every=1, kind="founder"))
            founder_legs.append(Leg(chart.units_vested(p["code"]), Decimal(-p["units"]), "UNITS"))
        else:
            g = p["grant"]
            session.add(Grant(partner_id=partner.id, units=g["units"], start=g["start"],
                              cliff_months=g["cliff_months"], months=g["months"], every=g["every"],
                              kind="grant"))
            grant_legs.append(Leg(chart.units_unvested(p["code"]), Decimal(-g["units"]), "UNITS"))

    for pr in charter["practices"]:
        practice = Practice(code=pr["code"], name=pr["name"], created_on=start)
        session.add(practice)
        session.flush()
        for code, share in sorted(pr["owners"].items()):
            session.add(Ownership(practice_id=practice.id, partner_id=partners[code].id, share=share,
                                  from_period=first, to_period=None))
        open_practice_accounts(session, pr["code"], currency, start)

    pol = charter["policy"]
    session.add(PolicyVersion(version=1, origination=pol["origination"], practice=pol["practice"],
                              pool_basis=pol["pool_basis"], effective_period=first, created_at=now))
    for kind_name, rule in charter["governance"].items():
        session.add(GovernanceRule(kind=kind_name, weighting=rule["weighting"], quorum=rule["quorum"],
                                   threshold=rule["threshold"], of=rule["of"],
                                   min_open_hours=rule.get("min_open_hours", 24)))
    for f in charter["firms"]:
        session.add(Firm(code=f["code"], name=f["name"], vetted=",".join(f["vetted"]),
                         nsa_signed_on=f["nsa_signed_on"], nsa_expires_on=f["nsa_expires_on"]))
    session.flush()

    for memo, legs in (("Founders' units, vested on the partnership's start", founder_legs),
                       ("Units granted to new entrants (unvested)", grant_legs)):
        if legs:
            total = -sum((leg.amount for leg in legs), Decimal(0))
            post_entry(session, date=start, memo=memo, source_type="charter", source_ref="",
                       legs=[Leg(chart.UNITS_AUTHORIZED, total, "UNITS"), *legs])
    return ps

