"""The income statement (CONTRACT §10): read from the maintained account-month totals, its figures
equal what was booked, and its totals reconcile with the trial balance's movements over any range
of periods, closed, open or both — a hypothesis property on random months, on both engines."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import sqlalchemy as sa
from helpers.postings import engagement
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.core.economics import Figures, nsa_status, ratio
from ledger.core.entries import Leg
from ledger.core.errors import ValidationError
from ledger.journal.balances import balances
from ledger.journal.models import AccountMonthTotal
from ledger.journal.service import open_account, post_manual, reverse_entry
from ledger.journal.verify import verify
from ledger.partnership.close import close_period
from ledger.practices.bookings import record_cost, record_invoice, record_overhead
from ledger.read.income import firm, firms, income_statement, practice_months

D = Decimal
MONTHS = ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05"]
PRACTICES = ["msft", "voice"]


# --- the pure rules ------------------------------------------------------------------------------


def test_ratios_round_half_even_to_four_places_and_are_none_without_a_divisor():
    assert ratio(D("1"), D("3")) == "0.3333"
    assert ratio(D("0.00005"), D("1")) == "0.0000" and ratio(D("0.00015"), D("1")) == "0.0002"
    assert ratio(D("5"), D("0")) is None
    f = Figures(D("1000.00"), D("400.00"), D("150.00"))
    assert (f.margin, f.margin_pct, f.subcontract_share) == (D("600.00"), "0.6000", "0.3750")
    assert Figures().margin_pct is None and Figures().subcontract_share is None


def test_nsa_status_flags_sixty_days_ahead_and_expires_after_the_last_day():
    signed, last = dt.date(2025, 6, 1), dt.date(2026, 6, 30)
    assert nsa_status(signed, last, dt.date(2026, 5, 1)) == "expires_soon"  # 60 days left
    assert nsa_status(signed, last, dt.date(2026, 4, 30)) == "in_force"  # 61 days left
    assert nsa_status(signed, last, dt.date(2026, 6, 30)) == "expires_soon"
    assert nsa_status(signed, last, dt.date(2026, 7, 1)) == "expired"
    assert nsa_status(None, None, dt.date(2026, 7, 1)) == "expired"


# --- the service on a ledger ------------------------------------------------------------------------


def _day(month: str, day: int) -> dt.date:
    return dt.date.fromisoformat(f"{month}-{day:02d}")


def _movements(s, start: dt.date, end: dt.date) -> dict[tuple[str, str], Decimal]:
    """The trial balance's movement per account over ``[start, end]`` (every entry, closes included)."""
    after, before = balances(s, end), balances(s, start - dt.timedelta(days=1))
    return {k: after.get(k, D(0)) - before.get(k, D(0)) for k in set(after) | set(before)}


@st.composite
def bookings(draw):
    out = []
    for n in range(draw(st.integers(1, 14))):
        what = draw(st.sampled_from(["invoice", "subcontract", "expense", "overhead", "manual_income", "manual_cost"]))
        month = draw(st.sampled_from(MONTHS))
        out.append((what, n % 3, month, draw(st.integers(1, 28)), D(draw(st.integers(1, 10**7))) / 100))
    reversals = draw(st.lists(st.integers(0, len(out) - 1), unique=True, max_size=3))
    return out, reversals


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_statement_equals_what_was_booked_and_the_trial_balance_movements_for_any_range(s, data):
    booked, reversals = data.draw(bookings())
    closes = data.draw(st.integers(0, 3))
    first = data.draw(st.sampled_from(MONTHS))
    last = data.draw(st.sampled_from([m for m in MONTHS if m >= first]))
    savepoint = s.begin_nested()
    try:
        engs = [engagement(s, f"h{i}", PRACTICES[i % 2], "ben") for i in range(3)]
        open_account(s, "Income:Other", ["USD"])
        open_account(s, "Expenses:Misc", ["USD"])
        # The model: what each month's bookings should show, per practice and in the pool.
        model: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        entries = []
        for what, i, month, day, amount in booked:
            on, eng, practice = _day(month, day), engs[i], PRACTICES[i % 2]
            m = model[month]
            if what == "invoice":
                entry = record_invoice(s, eng.ref, amount, on).entry
                m[f"revenue:{practice}"] += amount
            elif what in ("subcontract", "expense"):
                entry = record_cost(s, eng.ref, amount, on, what, "bayside" if what == "subcontract" else None)[0].entry
                m[f"direct:{practice}"] += amount
                m[f"sub:{practice}"] += amount if what == "subcontract" else 0
            elif what == "overhead":
                entry = record_overhead(s, "rent", amount, on)[0].entry
                m["overhead"] += amount
            else:
                sign = -1 if what == "manual_income" else 1
                account = "Income:Other" if sign < 0 else "Expenses:Misc"
                entry = post_manual(s, on, what, [Leg(account, sign * amount, "USD"), Leg("Assets:Cash", -sign * amount, "USD")])
                m["unattributed"] -= sign * amount
            entries.append((entry.id, month))
        for n in reversals:
            entry_id, month = entries[n]
            reverse_entry(s, entry_id)  # dated as the original
            what, i, _, _, amount = booked[n]
            practice, m = PRACTICES[i % 2], model[month]
            key = {"invoice": [f"revenue:{practice}"], "subcontract": [f"direct:{practice}", f"sub:{practice}"],
                   "expense": [f"direct:{practice}"], "overhead": ["overhead"]}.get(what, [])
            for k in key:
                m[k] -= amount
            if what.startswith("manual"):
                m["unattributed"] += (-1 if what == "manual_income" else 1) * amount
        for pid in MONTHS[:closes]:
            close_period(s, pid)
        span = [m for m in MONTHS if first <= m <= last]
        for by in ("practice", "period"):
            report = income_statement(s, first, last, by)
            t = report.totals
            want = {k: sum((model[m][f"{k}:{p}"] for m in span for p in PRACTICES), D(0))
                    for k in ("revenue", "direct", "sub")}
            assert (t.revenue, t.direct_costs, t.subcontract) == (want["revenue"], want["direct"], want["sub"])
            assert report.overhead == sum((model[m]["overhead"] for m in span), D(0))
            assert report.unattributed == sum((model[m]["unattributed"] for m in span), D(0))
            assert sum((r.figures for r in report.rows), Figures()) == t
            # The trial balance over the range: every Income: and Expenses: account moved by what
            # the closes in it allocated less the range's net income.
            start, end = dt.date.fromisoformat(f"{first}-01"), _day(last, 1).replace(day=28) + dt.timedelta(days=4)
            end = end - dt.timedelta(days=end.day)
            moved = sum((v for (a, c), v in _movements(s, start, end).items()
                         if c == "USD" and a.split(":")[0] in ("Income", "Expenses")), D(0))
            assert moved == report.allocated - report.net_income
            closed = [m for m in span if m in MONTHS[:closes]]
            if len(closed) == len(span):
                assert report.allocated == report.net_income and report.provisional == []
            else:
                assert report.provisional == [m for m in span if m not in closed]
            if by == "period":
                for row in report.rows:
                    assert row.figures.revenue == sum((model[row.key][f"revenue:{p}"] for p in PRACTICES), D(0))
                    assert row.provisional == (row.key not in MONTHS[:closes])
            else:
                for row in report.rows:
                    assert row.figures.subcontract == sum((model[m][f"sub:{row.key}"] for m in span), D(0))
        assert verify(s).ok
    finally:
        savepoint.rollback()
        s.expunge_all()  # the rows of the rolled-back example are gone; so are their objects


def test_by_firm_counts_the_engagements_a_firm_worked_and_what_it_was_paid(s):
    e1, e2, e3 = (engagement(s, ref, practice, "ben") for ref, practice in
                  (("f1", "voice"), ("f2", "voice"), ("f3", "msft")))
    record_invoice(s, "f1", D("1000.00"), dt.date(2026, 2, 3))
    record_cost(s, "f1", D("300.00"), dt.date(2026, 2, 4), "subcontract", "bayside")
    record_cost(s, "f1", D("50.00"), dt.date(2026, 2, 5), "expense")
    record_invoice(s, "f2", D("400.00"), dt.date(2026, 2, 6))
    cost = record_cost(s, "f2", D("100.00"), dt.date(2026, 2, 7), "subcontract", "bayside")[0]
    reverse_entry(s, cost.entry.id)
    record_invoice(s, "f3", D("900.00"), dt.date(2026, 2, 8))
    s.commit()
    report = income_statement(s, "2026-02", "2026-02", "firm")
    (row,) = report.rows
    # f2's only subcontract was reversed: it still counts as worked, paid nothing on balance.
    assert (row.key, row.figures.revenue, row.figures.direct_costs, row.figures.subcontract) == \
        ("bayside", D("1400.00"), D("350.00"), D("300.00"))
    assert report.totals == Figures(D("2300.00"), D("350.00"), D("300.00"))
    view, work = firm(s, "bayside")
    assert [(w.ref, w.paid, w.figures.margin) for w in work] == [("f1", D("300.00"), D("650.00")),
                                                                 ("f2", D("0.00"), D("400.00"))]
    assert view.nsa_status == "in_force" and view.missing == []
    months = practice_months(s, "voice", "2026-01", "2026-03")
    assert [(m, f.revenue, f.subcontract_share) for m, f in months] == [
        ("2026-01", D(0), None), ("2026-02", D("1400.00"), "0.8571"), ("2026-03", D(0), None)]


def test_a_range_that_ends_before_it_starts_is_refused(s):
    try:
        income_statement(s, "2026-03", "2026-01")
    except ValidationError as exc:
        assert "from" in exc.errors
    else:  # pragma: no cover
        raise AssertionError("accepted")


def test_the_migration_backfill_equals_what_the_service_keeps(s, posted_january):
    kept = sorted(tuple(r) for r in s.execute(sa.select(AccountMonthTotal.__table__)))
    s.execute(sa.delete(AccountMonthTotal))
    pg = s.get_bind().dialect.name == "postgresql"
    month = "to_char(entry.date, 'YYYY-MM')" if pg else "substr(entry.date, 1, 7)"
    tagged = "(posting.engagement_id IS NOT NULL)"
    s.execute(sa.text(  # the migration's own statement
        "INSERT INTO account_month_total (month, account_id, commodity, source_type, kind, tagged, balance) "
        f"SELECT {month}, posting.account_id, posting.commodity, entry.source_type, coalesce(posting.kind, ''), "
        f"{tagged}, sum(posting.amount) FROM posting JOIN entry ON entry.id = posting.entry_id "
        f"GROUP BY {month}, posting.account_id, posting.commodity, entry.source_type, coalesce(posting.kind, ''), {tagged}"))
    assert sorted(tuple(r) for r in s.execute(sa.select(AccountMonthTotal.__table__))) == kept
    s.rollback()


def test_verify_finds_a_month_total_altered_behind_the_service(s, posted_january):
    s.execute(sa.text("UPDATE account_month_total SET balance = balance + 100 WHERE balance < 0"))
    s.commit()
    assert any(p.startswith("month total of ") for p in verify(s).problems)


def test_firms_list_their_nsa_status_on_the_sessions_clock(s):
    assert [(f.code, f.nsa_status) for f in firms(s)] == [("bayside", nsa_status(
        dt.date(2025, 6, 1), dt.date(2027, 6, 1), s.info["clock"].today() if "clock" in s.info else dt.date.today()))]


def test_an_import_is_in_the_totals_as_unattributed_income(s):
    import json

    from ledger.journal.importer import import_lines

    open_account(s, "Income:Interest", ["USD"])
    lines = [json.dumps({"key": f"i{n}", "date": f"2026-0{n}-10", "memo": "interest", "postings": [
        {"account": "Assets:Cash", "amount": "12.50", "commodity": "USD"},
        {"account": "Income:Interest", "amount": "-12.50", "commodity": "USD"}]}) for n in (1, 2, 3)]
    import_lines(s, lines, "USD", commit=False)
    s.commit()
    report = income_statement(s, "2026-02", "2026-03", "period")
    assert report.unattributed == D("25.00") and report.net_income == D("25.00")
    assert verify(s).ok


def test_a_quarterly_partnership_reads_its_quarters(app, runner, tmp_path):
    from charters import WORKED_CHARTER

    from ledger.runtime.database import get_session

    charter = tmp_path / "quarterly.toml"
    charter.write_text(WORKED_CHARTER.replace('period = "month"', 'period = "quarter"'))
    assert runner.invoke(args=["init", str(charter)]).exit_code == 0
    with app.app_context():
        s = get_session()
        engagement(s, "q1", "voice", "ben")
        record_invoice(s, "q1", D("100.00"), dt.date(2026, 1, 10))
        record_invoice(s, "q1", D("50.00"), dt.date(2026, 3, 31))
        record_cost(s, "q1", D("30.00"), dt.date(2026, 4, 1), "subcontract", "bayside")
        s.commit()
        report = income_statement(s, None, "2026-Q2", "period")
        assert (report.first, report.last) == ("2026-Q1", "2026-Q2")
        assert [(r.key, r.figures.revenue, r.figures.subcontract, r.provisional) for r in report.rows] == [
            ("2026-Q1", D("150.00"), D(0), True), ("2026-Q2", D(0), D("30.00"), True)]
