"""Engagement month totals: kept with the postings, netted by reversals, backfilled by their
migration, and recomputed by ``verify`` — the close reads its engagement margins from them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from helpers.postings import cost, draw, engagement, invoice

from ledger.core import chart
from ledger.journal.models import EngagementMonthTotal, Entry
from ledger.journal.service import reverse_entry
from ledger.journal.verify import verify
from ledger.revenue.close import gather

D = Decimal


def totals(s):
    rows = s.execute(sa.select(EngagementMonthTotal.month, EngagementMonthTotal.engagement_id,
                               EngagementMonthTotal.balance).order_by(EngagementMonthTotal.month,
                                                                      EngagementMonthTotal.account_id))
    return [tuple(r) for r in rows]


def test_totals_follow_invoices_costs_and_reversals_month_by_month(s):
    e = engagement(s, "e1", "msft", "ben")
    invoice(s, e, "1000.00", dt.date(2026, 1, 10))
    invoice(s, e, "250.50", dt.date(2026, 1, 20))
    cost(s, e, "100.00", dt.date(2026, 2, 2))
    s.commit()
    receivable, revenue, costs = (s.scalar(sa.select(sa.literal_column("id")).select_from(sa.table("account"))
                                           .where(sa.literal_column("name") == name))
                                  for name in (chart.receivable("acme"), chart.revenue("msft"), chart.direct_costs("msft")))
    kept = {(m, a): b for m, a, _e, _c, b in s.execute(sa.select(
        EngagementMonthTotal.month, EngagementMonthTotal.account_id, EngagementMonthTotal.engagement_id,
        EngagementMonthTotal.commodity, EngagementMonthTotal.balance))}
    assert kept == {("2026-01", receivable): D("1250.50"), ("2026-01", revenue): D("-1250.50"),
                    ("2026-02", costs): D("100.00")}
    last_invoice = s.scalar(sa.select(Entry.id).where(Entry.source_type == "invoice").order_by(Entry.id.desc()))
    reverse_entry(s, last_invoice, date=dt.date(2026, 2, 5))
    s.commit()
    facts = {f.ref: (f.invoiced, f.costs) for f in gather(s, "2026-02").engagements}
    assert facts == {"e1": (D("-250.50"), D("100.00"))}  # February: the reversal and the cost
    assert {f.ref: f.invoiced for f in gather(s, "2026-01").engagements} == {"e1": D("1250.50")}
    assert verify(s).ok


def test_verify_finds_a_total_altered_behind_the_service(s):
    e = engagement(s, "e1", "msft", "ben")
    invoice(s, e, "1000.00", dt.date(2026, 1, 10))
    s.commit()
    s.execute(sa.text("UPDATE engagement_month_total SET balance = balance + 100 WHERE balance < 0"))  # a cent: 100 ten-thousandths
    s.commit()
    problems = verify(s).problems
    assert any(p.startswith(f"engagement total of {chart.revenue('msft')} for engagement id {e.id} in 2026-01 "
                            "is -999.99 USD but its postings sum to -1000.00") for p in problems), problems


def test_the_migration_backfills_totals_from_existing_postings(s, runner):
    e = engagement(s, "e1", "msft", "ben")
    invoice(s, e, "1000.00", dt.date(2026, 1, 10))
    cost(s, e, "40.00", dt.date(2026, 3, 1))
    draw(s, "ana", "10.00", dt.date(2026, 1, 11))  # no engagement: not in the totals
    s.commit()
    before = totals(s)
    assert len(before) == 3  # receivable and revenue in January, the cost in March
    s.close()
    assert runner.invoke(args=["db", "downgrade", "0006"]).exit_code == 0
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    assert totals(s) == before
    assert verify(s).ok
