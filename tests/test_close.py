"""The period close and share statements on both engines, with the worked example to the cent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa
from helpers.postings import draw, engagement, invoice

from ledger.core import chart
from ledger.core.errors import Conflict, NotFound
from ledger.journal.balances import trial_balance
from ledger.journal.models import Period
from ledger.journal.verify import verify
from ledger.partnership.close import close_period
from ledger.read.statements import resolve_range, statement
from ledger.revenue.close import preview

D = Decimal
JAN31 = dt.date(2026, 1, 31)


def test_the_worked_example_closes_to_the_cent(posted_january):
    s = posted_january
    close_period(s, "2026-01")
    s.commit()
    figures = {}
    for code in ("ana", "ben", "chen"):
        st = statement(s, code, "2026-01")
        by_kind = {}
        for line in st["lines"]:
            by_kind[line["kind"]] = by_kind.get(line["kind"], D(0)) + D(line["amount"])
        figures[code] = (by_kind.get("origination"), by_kind.get("practice"), by_kind.get("pool"),
                         st["allocated"], st["draws"], st["closing"])
    assert figures == {
        "ana": (None, D("3999.99"), D("935.19"), "4935.18", "0.00", "4935.18"),
        "ben": (D("666.67"), D("518.52"), D("467.59"), "1652.78", "200.00", "1452.78"),
        "chen": (D("123.46"), D("222.22"), D("467.59"), "813.27", "0.00", "813.27"),
    }
    assert verify(s).ok


def test_statement_lines_name_their_entry_engagement_and_practice(posted_january):
    s = posted_january
    close_period(s, "2026-01")
    st = statement(s, "ben", "2026-01")
    assert st["opening"] == "0.00"
    kinds = [(line["kind"], line.get("engagement"), line.get("practice"), line["amount"]) for line in st["lines"]]
    assert ("draw", None, None, "-200.00") in kinds
    assert ("origination", "e1", "msft", "666.67") in kinds
    assert ("practice", "e2", "voice", "518.52") in kinds
    assert all(isinstance(line["entry"], int) for line in st["lines"])
    assert D(st["closing"]) == D(st["opening"]) + sum(D(line["amount"]) for line in st["lines"])


def test_close_empties_income_expenses_and_the_pool(posted_january):
    s = posted_january
    close_period(s, "2026-01")
    bal = {(a, c): v for a, c, v in trial_balance(s)}
    for name in (chart.revenue("msft"), chart.revenue("voice"), chart.direct_costs("msft"),
                 chart.overhead("rent"), chart.POOL):
        assert bal.get((name, "USD"), D(0)) == 0, name
    assert sum(v for (a, c), v in bal.items() if c == "USD") == 0


def test_preview_equals_the_close(posted_january):
    s = posted_january
    a = preview(s, "2026-01")
    assert a.total_allocated == D("7401.23")
    assert {p: sum(k.values()) for p, k in a.by_partner.items()} == {
        "ana": D("4935.18"), "ben": D("1652.78"), "chen": D("813.27")}
    s.rollback()
    assert s.get(Period, "2026-01").status == "open"


def test_periods_close_in_order_once(posted_january):
    s = posted_january
    with pytest.raises(Conflict):
        close_period(s, "2026-02")
    s.rollback()
    close_period(s, "2026-01")
    s.commit()
    with pytest.raises(Conflict):
        close_period(s, "2026-01")
    s.rollback()
    with pytest.raises(NotFound):
        close_period(s, "2026-13")
    s.rollback()
    with pytest.raises(NotFound):
        close_period(s, "January")


def test_a_closed_period_refuses_postings(posted_january):
    s = posted_january
    close_period(s, "2026-01")
    s.commit()
    with pytest.raises(Conflict):
        draw(s, "ana", "1.00", dt.date(2026, 1, 31))
    s.rollback()
    draw(s, "ana", "1.00", dt.date(2026, 2, 1))


def test_second_period_opens_with_the_first_closing(posted_january):
    s = posted_january
    close_period(s, "2026-01")
    draw(s, "ben", "52.78", dt.date(2026, 2, 3))
    close_period(s, "2026-02")
    s.commit()
    st = statement(s, "ben", "2026-02")
    assert (st["opening"], st["draws"], st["closing"]) == ("1452.78", "52.78", "1400.00")
    first, last = resolve_range(s, "2026")
    assert (first, last) == ("2026-01", "2026-02")
    ytd = statement(s, "ben", first, last)
    assert (ytd["opening"], ytd["allocated"], ytd["closing"]) == ("0.00", "1652.78", "1400.00")


def test_statement_of_an_open_period_is_a_conflict(posted_january):
    with pytest.raises(Conflict):
        resolve_range(posted_january, "2026-01")


def test_cli_close_and_statement(founded, posted_january):
    runner = founded.test_cli_runner()
    result = runner.invoke(args=["close", "2026-01"])
    assert result.exit_code == 0, result.output
    assert "closed 2026-01 under policy v1" in result.output
    result = runner.invoke(args=["close", "2026-01"])
    assert result.exit_code == 1 and "already closed" in result.output
    result = runner.invoke(args=["statement", "chen", "2026-01"])
    assert result.exit_code == 0 and '"closing": "813.27"' in result.output


def test_a_close_posts_one_capital_posting_per_partner_and_kind_broken_down_by_engagement(s):
    """Three engagements in one practice: the close entry credits each partner's capital once per
    kind, and its detail lists every engagement; statement lines name the engagement and that entry."""
    from ledger.journal.models import Entry, Posting, PostingDetail

    refs = [engagement(s, f"v{i}", "voice", "ben") for i in range(3)]
    for e, amount in zip(refs, ("1000.00", "200.01", "33.33"), strict=True):
        invoice(s, e, amount, dt.date(2026, 1, 10))
    s.commit()
    close_period(s, "2026-01")
    s.commit()
    entry = s.scalar(sa.select(Entry).where(Entry.source_type == "close", Entry.memo.like("%practice voice%")))
    capital = [(p.account.name, p.kind, p.engagement_id, p.amount) for p in entry.postings
               if p.account.name.startswith("Equity:Capital:")]
    # One split of each net by 10/60/30 — 200.01 → 20.00/120.01/60.00 (the leftover cent to the
    # largest remainder, practice's .6); 33.33 → 3.33/20.00/10.00 (two cents, to pool's .9 and
    # practice's .8) — then each practice part 70/30 between ben and chen: 120.01 → 84.01/36.00.
    assert capital == [
        (chart.capital("ben"), "origination", None, -(D("100.00") + D("20.00") + D("3.33"))),
        (chart.capital("ben"), "practice", None, -(D("420.00") + D("84.01") + D("14.00"))),
        (chart.capital("chen"), "practice", None, -(D("180.00") + D("36.00") + D("6.00"))),
    ]
    lines = s.execute(sa.select(PostingDetail.kind, PostingDetail.engagement_id, PostingDetail.amount)
                      .where(PostingDetail.entry_id == entry.id).order_by(PostingDetail.line_no)).all()
    assert len(lines) == 9  # 3 engagements × (origination + two owners)
    for name, kind, _, amount in capital:
        acc = s.scalar(sa.select(Posting.account_id).where(Posting.entry_id == entry.id, Posting.kind == kind)
                       .join(Posting.account).where(sa.literal_column("account.name") == name))
        assert s.scalar(sa.select(sa.func.sum(PostingDetail.amount)).where(
            PostingDetail.entry_id == entry.id, PostingDetail.account_id == acc, PostingDetail.kind == kind)) == amount
    st = statement(s, "chen", "2026-01")
    practice = [(line["engagement"], line["amount"], line["entry"]) for line in st["lines"] if line["kind"] == "practice"]
    assert practice == [("v0", "180.00", entry.id), ("v1", "36.00", entry.id), ("v2", "6.00", entry.id)]
    assert verify(s).ok


def test_the_close_snapshot_leaves_out_what_later_open_periods_already_hold(posted_january):
    """A draw already booked in February must not leak into January's closing snapshot."""
    from ledger.journal.balances import balance

    s = posted_january
    draw(s, "ben", "50.00", dt.date(2026, 2, 3))
    close_period(s, "2026-01")
    s.commit()
    assert balance(s, chart.capital("ben"), as_of=JAN31) == D("-1452.78")
    assert balance(s, chart.capital("ben"), as_of=dt.date(2026, 2, 28)) == D("-1402.78")
    assert balance(s, chart.capital("ben")) == D("-1402.78")
    assert verify(s).ok  # snapshots recomputed from the postings


def test_the_close_reports_progress_step_by_step(posted_january):
    from ledger.partnership.close import CLOSE_STEPS

    calls = []
    close_period(posted_january, "2026-01", progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, len(CLOSE_STEPS)) for i in range(1, len(CLOSE_STEPS) + 1)]
    assert CLOSE_STEPS[0] == "gather the period's facts" and CLOSE_STEPS[-1] == "snapshot balances"


@pytest.mark.parametrize("cents, text", [(0, "0.00"), (5, "0.05"), (-5, "-0.05"), (12345, "123.45"),
                                         (-100, "-1.00"), (10**15 + 7, "10000000000000.07")])
def test_statement_amounts_are_formatted_from_integer_cents(cents, text):
    from ledger.core.money import fmt, fmt_minor, from_minor

    assert fmt_minor(cents, "USD") == text == fmt(from_minor(cents, "USD"), "USD")
