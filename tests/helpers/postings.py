"""Engagements and postings written straight to the journal (``post_entry``, no booking service):
the worked January of ``tests/test_close.py`` is built from these (the ``posted_january`` fixture).
And the next entry's number, claimed as a writer claims it, for tests that write rows straight into
the tables (``next_entry``, ``claimed``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa

from ledger.core import chart
from ledger.core.entries import Leg
from ledger.journal.models import Entry
from ledger.journal.service import claim_numbers, open_account, post_entry
from ledger.practices.models import Client, Engagement, Partner, Practice

D = Decimal


def next_entry(s) -> int:
    """The number the next entry written gets."""
    return (s.scalar(sa.select(sa.func.max(Entry.id))) or 0) + 1


def claimed(s, count: int = 1) -> int:
    """The next entry's number, with the chain head moved over ``count`` entries from it, as a
    writer moves it before it writes their postings (PostgreSQL; SQLite needs no claim)."""
    first = next_entry(s)
    claim_numbers(s, first - 1, count)
    return first


def engagement(s, ref, practice, originator, client="acme"):
    c = s.scalar(sa.select(Client).where(Client.code == client))
    if c is None:
        c = Client(code=client, name=client.title())
        s.add(c)
        s.flush()
        open_account(s, chart.receivable(client), ["USD"])
    e = Engagement(ref=ref, client_id=c.id, title=ref,
                   practice_id=s.scalar(sa.select(Practice.id).where(Practice.code == practice)),
                   originator_id=s.scalar(sa.select(Partner.id).where(Partner.code == originator)),
                   opened_on=dt.date(2026, 1, 2))
    s.add(e)
    s.flush()
    return e


def invoice(s, e, amount, day):
    post_entry(s, date=day, memo=f"invoice {e.ref}", source_type="invoice", source_ref=e.ref, legs=[
        Leg(chart.receivable(e.client.code), D(amount), "USD", engagement_id=e.id),
        Leg(chart.revenue(e.practice.code), -D(amount), "USD", engagement_id=e.id)])


def cost(s, e, amount, day):
    post_entry(s, date=day, memo=f"cost {e.ref}", source_type="cost", source_ref=e.ref, legs=[
        Leg(chart.direct_costs(e.practice.code), D(amount), "USD", engagement_id=e.id),
        Leg(chart.CASH, -D(amount), "USD")])


def overhead(s, amount, day, category="rent"):
    name = chart.overhead(category)
    if s.scalar(sa.select(sa.func.count()).select_from(sa.table("account", sa.column("name")))
                .where(sa.column("name") == name)) == 0:
        open_account(s, name, ["USD"])
    post_entry(s, date=day, memo="overhead", source_type="overhead", source_ref=category,
               legs=[Leg(name, D(amount), "USD"), Leg(chart.CASH, -D(amount), "USD")])


def draw(s, partner, amount, day):
    post_entry(s, date=day, memo="draw", source_type="draw", source_ref=partner, legs=[
        Leg(chart.capital(partner), D(amount), "USD", kind="draw"), Leg(chart.CASH, -D(amount), "USD")])
