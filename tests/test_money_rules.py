"""CONTRACT §7's money rules, each on both engines: retirements (capital as of the effective
period, several at once settled as a set, a retiree's origination and practices), what may be
reversed, currencies and their minor units, a partnership nobody is vested in yet, and income and
costs that name no engagement. ``ledger verify`` holds after every scenario."""

from __future__ import annotations

import datetime as dt
import subprocess
from decimal import Decimal

import pytest
import sqlalchemy as sa
from charters import UNVESTED, WORKED_CHARTER, founder_partners, in_currency
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.core import chart
from ledger.core.entries import Leg
from ledger.core.errors import Conflict, ValidationError
from ledger.governance.service import cast_vote, close_proposal, electorate_of, open_proposal
from ledger.journal.balances import balance, trial_balance
from ledger.journal.export import to_beancount
from ledger.journal.models import Account, Entry, Posting
from ledger.journal.service import open_account, post_manual, reverse_entry
from ledger.partnership.close import close_period
from ledger.partnership.integrity import full_verify
from ledger.practices.bookings import record_cost, record_draw, record_invoice, record_overhead
from ledger.practices.engagements import create_client, open_engagement
from ledger.practices.models import Ownership, Practice
from ledger.practices.service import get_partner
from ledger.read.statements import statement
from ledger.revenue.close import _overhead_and_unattributed, closed_period_inputs, gather, preview
from ledger.runtime.database import get_session
from ledger.succession.service import buyout_schedule

D = Decimal
LATER = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def book(s, ref: str, practice: str, originator: str, invoiced: str, on: str, costs: str | None = None) -> None:
    if s.scalar(sa.select(sa.func.count()).select_from(Account).where(Account.name == chart.receivable("acme"))) == 0:
        create_client(s, "acme", "Acme")
    open_engagement(s, ref=ref, client="acme", practice=practice, originator=originator, title=ref,
                    opened_on=day("2026-01-02"))
    record_invoice(s, ref, D(invoiced), day(on))
    if costs:
        record_cost(s, ref, D(costs), day(on), "expense")


def vote_through(s, kind: str, payload: dict, proposer: str = "ana"):
    """Open a proposal, every elector votes yes, close it: the closed proposal."""
    prop = open_proposal(s, get_partner(s, proposer), kind, f"{kind} {payload}", payload, LATER)
    for code in electorate_of(s, prop):
        cast_vote(s, prop.id, get_partner(s, code), "yes")
    return close_proposal(s, prop.id)


def retire(s, who: str, period: str, successors: dict | None = None, proposer: str | None = None):
    proposer = proposer or next(c for c in ("ana", "ben", "chen") if c != who)
    result = vote_through(s, "retire_partner", {"partner": who, "effective_period": period,
                                                "successors": successors or {}}, proposer)
    assert result.status == "passed", result.reason
    return result


def verified(s) -> None:
    report = full_verify(s)
    assert report.ok, report.problems


def retirement_postings(s) -> list[tuple[str, str, Decimal, str | None]]:
    """Every posting the retirements wrote, as (account, commodity, amount, kind), in a stable order."""
    rows = s.execute(sa.select(Account.name, Posting.commodity, Posting.amount, Posting.kind)
                     .join(Posting, Posting.account_id == Account.id).join(Entry, Entry.id == Posting.entry_id)
                     .where(Entry.source_type == "retirement")).all()
    return sorted((name, c, amount, kind) for name, c, amount, kind in rows)


# --- retirement: the capital term and what may be dated after it ---------------------------------


def test_the_buyout_counts_capital_as_of_the_effective_periods_last_day(s):
    book(s, "e1", "msft", "ben", "1000.00", "2026-01-15")
    record_draw(s, "ben", D("100.00"), day("2026-02-05"))  # booked before the vote: dated after January
    retire(s, "ben", "2026-01")
    close_period(s, "2026-01")
    january = statement(s, "ben", "2026-01")
    # 175.00: ben's origination of e1 (100.00) and his pool share (75.00); not less February's draw.
    assert buyout_schedule(s, "ben")["capital"] == january["allocated"] == "175.00"
    assert january["closing"] == "0.00"  # the buyout line moved it all to the liability
    # At the period's end the capital has moved to the liability; February's draw stays on it.
    tb = {(a, c): b for a, c, b in trial_balance(s, day("2026-01-31"))}
    assert tb.get((chart.capital("ben"), "USD"), D(0)) == 0
    assert balance(s, chart.capital("ben")) == D("100.00")
    verified(s)


@pytest.mark.parametrize("posting", ["draw", "manual", "engagement"])
def test_after_the_vote_nothing_is_dated_after_the_effective_period_for_the_retiree(s, posting):
    retire(s, "ben", "2026-01")
    record_draw(s, "ben", D("10.00"), day("2026-01-20"))  # inside the effective period: still fine
    with pytest.raises(Conflict):
        if posting == "draw":
            record_draw(s, "ben", D("10.00"), day("2026-02-05"))
        elif posting == "manual":
            post_manual(s, day("2026-02-05"), "adjust", [Leg(chart.capital("ben"), D("-5.00"), "USD"),
                                                         Leg(chart.CASH, D("5.00"), "USD")])
        else:
            book(s, "e9", "msft", "ben", "10.00", "2026-01-20")


# --- several retirements in one period: a set, order-free -----------------------------------------


def two_retire(s, order: list[str]) -> list:
    book(s, "e1", "msft", "ben", "9999.99", "2026-01-10", costs="3333.33")
    book(s, "e2", "voice", "chen", "1234.57", "2026-01-20")
    for who in order:
        successors = {"msft": "chen"} if who == "ana" else {}
        retire(s, who, "2026-01", successors, proposer="chen")
    close_period(s, "2026-01")
    return retirement_postings(s)


def test_two_retirements_in_one_period_are_settled_as_a_set_whatever_the_order(s):
    savepoint = s.begin_nested()
    first = two_retire(s, ["ana", "ben"])
    ana_then_ben = {code: buyout_schedule(s, code)["total"] for code in ("ana", "ben")}
    savepoint.rollback()
    second = two_retire(s, ["ben", "ana"])
    assert second == first
    assert {code: buyout_schedule(s, code)["total"] for code in ("ana", "ben")} == ana_then_ben
    # Goodwill is charged to chen alone, who stays: one line per retiree.
    goodwill_lines = [p for p in second if p[3] == "goodwill"]
    assert {p[0] for p in goodwill_lines} == {chart.capital("chen")} and len(goodwill_lines) == 2
    verified(s)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_order_of_the_same_retirements_gives_the_same_postings(founded_many, data):
    s, codes = founded_many
    leaving = data.draw(st.lists(st.sampled_from(codes), min_size=1, max_size=len(codes) - 1, unique=True))
    originators = data.draw(st.lists(st.sampled_from(codes), min_size=1, max_size=4))
    amounts = data.draw(st.lists(st.integers(1, 10**7), min_size=len(originators), max_size=len(originators)))
    orders = [leaving, data.draw(st.permutations(leaving))]
    results = []
    for order in orders:
        savepoint = s.begin_nested()
        for n, (who, cents) in enumerate(zip(originators, amounts, strict=True)):
            book(s, f"e{n}", "pool-practice", who, str(D(cents) / 100), "2026-01-15")
        stayer = next(c for c in codes if c not in leaving)
        for who in order:
            retire(s, who, "2026-01", {"pool-practice": stayer} if who == codes[0] else {}, proposer=stayer)
        close_period(s, "2026-01")
        postings = retirement_postings(s)
        schedules = {code: buyout_schedule(s, code) for code in leaving}
        # goodwill lines sum to the goodwill; buyouts sum to the liabilities
        for code in leaving:
            liability = -balance(s, chart.buyout(code))
            assert liability == D(schedules[code]["total"])
            charged = sum((p[2] for p in postings if p[3] == "goodwill"), D(0))
        assert charged == sum((D(schedules[c]["goodwill"]) for c in leaving), D(0))
        assert all(p[0] not in {chart.capital(c) for c in leaving} for p in postings if p[3] == "goodwill")
        assert full_verify(s).ok
        results.append((postings, schedules))
        savepoint.rollback()
    assert results[0] == results[1]


@pytest.fixture
def founded_many(db_url, make_app, tmp_path):
    """Five founders owning one practice, ``f000`` alone (the first to retire names a successor)."""
    charter = WORKED_CHARTER.split("[[partners]]")[0] + founder_partners(5) + """
[[practices]]
code = "pool-practice"
name = "Shared"
owners = { f000 = "100%" }

[policy]
origination = "10%"
practice = "60%"
pool_basis = "vested_units"
"""
    path = tmp_path / "many.toml"
    path.write_text(charter)
    app = make_app(db_url)
    assert app.test_cli_runner().invoke(args=["init", str(path)]).exit_code == 0
    with app.app_context():
        yield get_session(), [f"f{i:03d}" for i in range(5)]


# --- a retiree's origination and practices ------------------------------------------------------


def test_a_retirees_origination_goes_to_the_pool_from_the_next_period(s):
    book(s, "e2", "voice", "chen", "1000.00", "2026-01-20")
    retire(s, "chen", "2026-01")
    close_period(s, "2026-01")
    record_invoice(s, "e2", D("1000.00"), day("2026-02-10"))
    february = preview(s, "2026-02")
    [e2] = february.engagements
    assert e2.origination.amount == 0 and e2.pool == D("400.00")  # 30% pool + the 10% origination
    assert "chen" not in february.by_partner
    close_period(s, "2026-02")
    assert [line for line in statement(s, "chen", "2026-02")["lines"] if line["kind"] != "buyout"] == []
    pool = {line["kind"] for line in statement(s, "ana", "2026-02")["lines"]}
    assert pool == {"pool"}
    verified(s)


def test_a_practice_the_retiree_owns_with_others_passes_pro_rata(s):
    # ben owns voice 70% with chen 30%, and half of cloud (added before his retirement passed).
    assert vote_through(s, "add_practice", {"code": "cloud", "name": "Cloud",
                                             "owners": {"ben": "50%", "ana": "25%", "chen": "25%"}}).status == "passed"
    retire(s, "ben", "2026-01")  # no successor named: nothing he owns lacks another owner
    close_period(s, "2026-01")
    owners = {(o.practice.code, o.partner.code): o.share for o in s.scalars(sa.select(Ownership))
              if o.to_period is None}
    assert owners == {("msft", "ana"): D("1"), ("voice", "chen"): D("1"),
                      ("cloud", "ana"): D("0.5"), ("cloud", "chen"): D("0.5")}
    verified(s)


def test_a_retiree_cannot_be_made_an_owner_or_a_successor(s):
    retire(s, "ben", "2026-02")
    with pytest.raises(ValidationError) as exc:
        open_proposal(s, get_partner(s, "ana"), "add_practice", "Cloud",
                      {"code": "cloud", "name": "Cloud", "owners": {"ben": "50%", "ana": "50%"}}, LATER)
    assert "payload.owners.ben" in exc.value.errors
    with pytest.raises(ValidationError) as exc:
        open_proposal(s, get_partner(s, "ana"), "retire_partner", "Chen",
                      {"partner": "chen", "effective_period": "2026-02", "successors": {"voice": "ben"}}, LATER)
    assert "payload.successors.voice" in exc.value.errors


def test_a_proposal_that_made_a_retiree_an_owner_meanwhile_fails_at_close(s):
    cloud = open_proposal(s, get_partner(s, "ana"), "add_practice", "Cloud",
                          {"code": "cloud", "name": "Cloud", "owners": {"ben": "50%", "ana": "50%"}}, LATER)
    retire(s, "ben", "2026-02")
    for code in electorate_of(s, cloud):
        cast_vote(s, cloud.id, get_partner(s, code), "yes")
    closed = close_proposal(s, cloud.id)
    assert closed.status == "failed" and "ben" in closed.reason
    assert s.scalar(sa.select(Practice).where(Practice.code == "cloud")) is None


def test_a_practice_nobody_would_hold_refuses_the_close_naming_it(s):
    retire(s, "ana", "2026-01", {"msft": "ben"}, proposer="ben")  # msft is ana's alone
    retire(s, "ben", "2026-01", proposer="chen")                  # ...and its successor leaves too
    with pytest.raises(Conflict, match="msft"):
        close_period(s, "2026-01")


# --- what may be reversed ------------------------------------------------------------------------


@pytest.fixture
def every_kind_of_entry(s):
    """A year's worth of what the product makes: founding units, a grant, vesting, closes, a
    retirement's units, buyout and goodwill entries, and an installment."""
    assert vote_through(s, "admit_partner", {"code": "dee", "name": "Dee", "email": "dee@example.com", "grant": {
        "units": 120, "start": "2026-01-01", "cliff_months": 0, "months": 12, "every": 1}}).status == "passed"
    book(s, "e1", "voice", "chen", "1000.00", "2026-01-15")
    retire(s, "chen", "2026-01")
    close_period(s, "2026-01")
    close_period(s, "2026-02")
    s.flush()
    return s


@pytest.mark.parametrize("source", ["charter", "proposal", "vesting", "close", "retirement", "installment"])
def test_an_entry_the_product_made_is_never_reversed(every_kind_of_entry, source):
    s = every_kind_of_entry
    ids = s.scalars(sa.select(Entry.id).where(Entry.source_type == source)).all()
    assert ids, f"the scenario made no {source} entry"
    for entry_id in ids:
        with pytest.raises(Conflict, match="made by the product"):
            reverse_entry(s, entry_id)
    verified(s)


# --- currencies ----------------------------------------------------------------------------------


@pytest.fixture
def in_yen(db_url, make_app, tmp_path):
    path = tmp_path / "jpy.toml"
    path.write_text(in_currency("JPY"))
    app = make_app(db_url)
    assert app.test_cli_runner().invoke(args=["init", str(path)]).exit_code == 0
    with app.app_context():
        yield get_session()


@pytest.fixture
def in_dinars(db_url, make_app, tmp_path):
    path = tmp_path / "bhd.toml"
    path.write_text(in_currency("BHD"))
    app = make_app(db_url)
    assert app.test_cli_runner().invoke(args=["init", str(path)]).exit_code == 0
    with app.app_context():
        yield get_session()


def test_a_yen_partnership_refuses_fractions_and_splits_whole_yen(in_yen):
    s = in_yen
    create_client(s, "acme", "Acme")
    open_engagement(s, ref="e1", client="acme", practice="voice", originator="chen", title="t",
                    opened_on=day("2026-01-02"))
    with pytest.raises(ValidationError) as exc:
        record_invoice(s, "e1", D("100.55"), day("2026-01-10"))
    assert exc.value.errors == {"amount": ["no decimals for JPY"]}
    record_invoice(s, "e1", D("10001"), day("2026-01-10"))
    a = preview(s, "2026-01")
    [e1] = a.engagements
    amounts = [e1.origination.amount, *(p.amount for p in e1.practice), *(p.amount for p in a.pool_shares)]
    assert all(x == x.to_integral_value() for x in amounts)
    assert sum(amounts) == D("10001")
    close_period(s, "2026-01")
    st = statement(s, "chen", "2026-01")
    assert st["currency"] == "JPY" and "." not in st["closing"] and all("." not in x["amount"] for x in st["lines"])
    verified(s)


def test_a_three_decimal_currency_keeps_its_fils(in_dinars):
    s = in_dinars
    create_client(s, "acme", "Acme")
    open_engagement(s, ref="e1", client="acme", practice="voice", originator="chen", title="t",
                    opened_on=day("2026-01-02"))
    with pytest.raises(ValidationError):
        record_invoice(s, "e1", D("1.2345"), day("2026-01-10"))
    record_invoice(s, "e1", D("1234.567"), day("2026-01-10"))
    a = preview(s, "2026-01")
    assert a.net_margin == D("1234.567")
    assert a.total_allocated == D("1234.567")
    close_period(s, "2026-01")
    st = statement(s, "chen", "2026-01")
    assert all(len(x["amount"].split(".")[1]) == 3 for x in st["lines"])
    verified(s)


@pytest.mark.parametrize("currency", ["JPY", "BHD"])
def test_exports_in_other_currencies_pass_bean_check(currency, db_url, make_app, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(in_currency(currency))
    app = make_app(db_url)
    assert app.test_cli_runner().invoke(args=["init", str(path)]).exit_code == 0
    with app.app_context():
        s = get_session()
        create_client(s, "acme", "Acme")
        open_engagement(s, ref="e1", client="acme", practice="voice", originator="chen", title="t",
                        opened_on=day("2026-01-02"))
        record_invoice(s, "e1", D("777" if currency == "JPY" else "777.777"), day("2026-01-10"))
        close_period(s, "2026-01")
        s.commit()
        out = tmp_path / "ledger.beancount"
        out.write_text("".join(to_beancount(s, title="t")))
    check = subprocess.run([str(Path_bin("bean-check")), str(out)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def Path_bin(name: str):  # noqa: N802 - the venv's own copy of a command, beside this Python
    import sys
    from pathlib import Path

    return Path(sys.executable).parent / name


@pytest.mark.parametrize("code", ["XAU", "ABC", "usd", "US"])
def test_a_charter_in_an_unknown_currency_is_refused(code, runner, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(in_currency(code))
    result = runner.invoke(args=["init", str(path)])
    assert result.exit_code != 0 and "partnership.currency" in result.output


# --- a partnership nobody is vested in yet -------------------------------------------------------


@pytest.fixture
def unvested(db_url, make_app, tmp_path):
    path = tmp_path / "unvested.toml"
    path.write_text(UNVESTED)
    app = make_app(db_url)
    assert app.test_cli_runner().invoke(args=["init", str(path)]).exit_code == 0
    with app.app_context():
        yield get_session()


def test_with_nobody_vested_the_pool_is_split_equally_and_everyone_votes(unvested):
    s = unvested
    create_client(s, "acme", "Acme")
    open_engagement(s, ref="e1", client="acme", practice="cloud", originator="gia", title="t",
                    opened_on=day("2026-01-02"))
    record_invoice(s, "e1", D("1000.00"), day("2026-01-10"))
    a = preview(s, "2026-01")
    assert a.pool_basis_applied == "equal"
    assert [(x.partner, x.amount) for x in a.pool_shares] == [("gia", D("150.00")), ("hal", D("150.00"))]
    close_period(s, "2026-01")
    assert statement(s, "gia", "2026-01")["notes"] and "split equally" in statement(s, "gia", "2026-01")["notes"][0]
    prop = open_proposal(s, get_partner(s, "gia"), "resolution", "R", {"text": "t"}, LATER)
    assert electorate_of(s, prop) == {"gia": 1, "hal": 1}
    verified(s)


# --- income and costs that name no engagement ----------------------------------------------------


def unattributed_month(s) -> None:
    book(s, "e1", "msft", "ben", "1000.00", "2026-01-10")
    record_overhead(s, "rent", D("100.00"), day("2026-01-05"))
    open_account(s, "Income:Consulting", ["USD"])
    open_account(s, "Expenses:Bankfees", ["USD"])
    post_manual(s, day("2026-01-12"), "advice", [Leg(chart.CASH, D("300.00"), "USD"),
                                                 Leg("Income:Consulting", D("-300.00"), "USD")])
    post_manual(s, day("2026-01-13"), "fees", [Leg("Expenses:Bankfees", D("50.00"), "USD"),
                                               Leg(chart.CASH, D("-50.00"), "USD")])
    # A posting on a practice's revenue account without an engagement is unattributed too.
    post_manual(s, day("2026-01-14"), "stray", [Leg(chart.CASH, D("20.00"), "USD"),
                                                Leg(chart.revenue("voice"), D("-20.00"), "USD")])


def period_sums(s, start: str, end: str) -> dict[str, Decimal]:
    rows = s.execute(sa.select(Account.name, sa.func.sum(Posting.amount)).join(Posting, Posting.account_id == Account.id)
                     .join(Entry, Entry.id == Posting.entry_id)
                     .where(Entry.date >= day(start), Entry.date <= day(end),
                            sa.or_(Account.name.like("Income:%"), Account.name.like("Expenses:%")))
                     .group_by(Account.name)).all()
    return dict(rows)


def test_unattributed_income_and_costs_join_the_pool_and_the_close_empties_them(s):
    unattributed_month(s)
    a = preview(s, "2026-01")
    assert a.unattributed == D("270.00")
    assert a.pool_net == D("300.00") + D("270.00") - D("100.00")  # the engagement's 30% + unattributed − overhead
    net_before = -sum(period_sums(s, "2026-01-01", "2026-01-31").values(), D(0))
    close_period(s, "2026-01")
    assert set(period_sums(s, "2026-01-01", "2026-01-31").values()) == {D(0)}
    st = statement(s, "ana", "2026-01")
    assert st["unattributed"] == "270.00"
    allocated = sum((D(statement(s, c, "2026-01")["allocated"]) for c in ("ana", "ben", "chen")), D(0))
    assert allocated == net_before == a.net_margin + a.unattributed - a.overhead
    verified(s)


cents = st.integers(min_value=-10**6, max_value=10**7)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(invoices=st.lists(st.integers(1, 10**7), max_size=4), costs=st.lists(st.integers(0, 10**6), max_size=4),
       overhead=st.integers(0, 10**6), income=cents, expense=st.integers(0, 10**6))
def test_after_any_close_income_and_expenses_are_zero_and_allocations_equal_the_net(s, invoices, costs, overhead,
                                                                                    income, expense):
    savepoint = s.begin_nested()
    try:
        create_client(s, "acme", "Acme")
        open_account(s, "Income:Other", ["USD"])
        open_account(s, "Expenses:Other", ["USD"])
        for n, cents_ in enumerate(invoices):
            open_engagement(s, ref=f"e{n}", client="acme", practice=("msft", "voice")[n % 2],
                            originator=("ana", "ben", "chen")[n % 3], title="t", opened_on=day("2026-01-02"))
            record_invoice(s, f"e{n}", D(cents_) / 100, day("2026-01-10"))
            if n < len(costs) and costs[n]:
                record_cost(s, f"e{n}", D(costs[n]) / 100, day("2026-01-11"), "expense")
        if overhead:
            record_overhead(s, "rent", D(overhead) / 100, day("2026-01-05"))
        if income:
            post_manual(s, day("2026-01-12"), "other", [Leg(chart.CASH, D(income) / 100, "USD"),
                                                        Leg("Income:Other", -D(income) / 100, "USD")])
        if expense:
            post_manual(s, day("2026-01-13"), "other", [Leg("Expenses:Other", D(expense) / 100, "USD"),
                                                        Leg(chart.CASH, -D(expense) / 100, "USD")])
        net = -sum(period_sums(s, "2026-01-01", "2026-01-31").values(), D(0))
        a = preview(s, "2026-01")
        assert a.net_margin + a.unattributed - a.overhead == net
        before = gather(s, "2026-01")
        # The month, read from the account-month totals, is what a sum of its postings gives (a
        # range that is not whole months sums the postings; the books start on 2026-01-01).
        assert _overhead_and_unattributed(s, day("2026-01-01"), day("2026-01-31"), "USD") == \
            _overhead_and_unattributed(s, day("2025-12-31"), day("2026-01-31"), "USD")
        close_period(s, "2026-01")
        # What an impact preview reads back for the closed month is what the close gathered.
        replay = closed_period_inputs(s, ["2026-01"])["2026-01"]
        assert (replay.overhead, replay.unattributed) == (before.overhead, before.unattributed)
        assert sorted(replay.nets) == sorted((e.practice, e.originator, e.invoiced_cents - e.costs_cents)
                                             for e in before.engagements if e.invoiced_cents != e.costs_cents)
        assert set(period_sums(s, "2026-01-01", "2026-01-31").values()) <= {D(0)}
        allocated = sum((D(statement(s, c, "2026-01")["allocated"]) for c in ("ana", "ben", "chen")), D(0))
        assert allocated == net
    finally:
        savepoint.rollback()


def test_three_retirements_in_one_period_charge_goodwill_only_to_those_who_stay(founded_many):
    s, codes = founded_many
    for n, who in enumerate(codes):
        book(s, f"e{n}", "pool-practice", who, f"{1000 + 137 * n}.00", "2026-01-15")
    leaving = ["f001", "f002", "f003"]
    for who in leaving:
        retire(s, who, "2026-01", proposer="f000")
    close_period(s, "2026-01")
    postings = retirement_postings(s)
    goodwill = [p for p in postings if p[3] == "goodwill"]
    assert {p[0] for p in goodwill} == {chart.capital("f000"), chart.capital("f004")}
    assert sum((p[2] for p in goodwill), D(0)) == sum((D(buyout_schedule(s, c)["goodwill"]) for c in leaving), D(0))
    for who in leaving:
        assert -balance(s, chart.buyout(who)) == D(buyout_schedule(s, who)["total"])
        assert get_partner(s, who).status == "retired"
    verified(s)


def test_the_api_refuses_fractions_of_a_yen(db_url, make_app, tmp_path):
    from ledger.auth.service import add_user, create_token

    path = tmp_path / "jpy.toml"
    path.write_text(in_currency("JPY"))
    app = make_app(db_url)
    assert app.test_cli_runner().invoke(args=["init", str(path)]).exit_code == 0
    with app.app_context():
        s = get_session()
        headers = {"Authorization": f"Bearer {create_token(s, add_user(s, 't@example.com', 'treasurer'))}"}
        create_client(s, "acme", "Acme")
        open_engagement(s, ref="e1", client="acme", practice="voice", originator="chen", title="t",
                        opened_on=day("2026-01-02"))
        s.commit()
    client = app.test_client()
    refused = client.post("/api/v1/engagements/e1/invoices", json={"amount": "100.55", "date": "2026-01-10"},
                          headers=headers)
    assert refused.status_code == 422 and refused.get_json()["errors"] == {"amount": ["no decimals for JPY"]}
    booked = client.post("/api/v1/engagements/e1/invoices", json={"amount": "220", "date": "2026-01-10"},
                         headers=headers)
    assert booked.status_code == 201 and booked.get_json()["amount"] == "220"


# --- the smaller rules of §7 ---------------------------------------------------------------------


@pytest.mark.parametrize(("hours", "opened"), [(23, False), (24, True), (24 * 366, True), (24 * 367, False)])
def test_a_proposal_stays_open_at_least_min_open_hours_and_at_most_a_year(s, hours, opened):
    closes = dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours, minutes=1 if hours == 24 else 0)
    if opened:
        assert open_proposal(s, get_partner(s, "ana"), "resolution", "R", {"text": "t"}, closes).status == "open"
    else:
        with pytest.raises(ValidationError) as exc:
            open_proposal(s, get_partner(s, "ana"), "resolution", "R", {"text": "t"}, closes)
        assert "closes_at" in exc.value.errors


def test_a_vote_may_change_a_kinds_minimum_voting_time_and_all_votes_close_it_early(s):
    assert vote_through(s, "change_governance", {"kind": "resolution", "weighting": "member", "quorum": "50%",
                                                  "threshold": "majority", "of": "cast", "min_open_hours": 72}
                        ).status == "passed"
    with pytest.raises(ValidationError):
        open_proposal(s, get_partner(s, "ana"), "resolution", "R", {"text": "t"}, LATER - dt.timedelta(days=1))
    prop = open_proposal(s, get_partner(s, "ana"), "resolution", "R", {"text": "t"},
                         dt.datetime.now(dt.UTC) + dt.timedelta(days=4))
    for code in electorate_of(s, prop):
        cast_vote(s, prop.id, get_partner(s, code), "yes")
    assert close_proposal(s, prop.id).status == "passed"  # every elector voted: it may close at once


def test_a_manual_posting_on_a_capital_account_is_an_adjustment_and_on_overhead_is_overhead(s):
    post_manual(s, day("2026-01-08"), "correction", [Leg(chart.capital("ana"), D("-12.34"), "USD"),
                                                     Leg(chart.CASH, D("12.34"), "USD")])
    open_account(s, chart.overhead("insurance"), ["USD"])
    post_manual(s, day("2026-01-09"), "insurance", [Leg(chart.overhead("insurance"), D("40.00"), "USD"),
                                                    Leg(chart.CASH, D("-40.00"), "USD")])
    assert preview(s, "2026-01").overhead == D("40.00")
    close_period(s, "2026-01")
    lines = statement(s, "ana", "2026-01")["lines"]
    assert {"kind": "adjustment", "amount": "12.34"}.items() <= lines[0].items()


def test_the_csv_pdf_and_preview_show_the_unattributed_figure(s, founded):
    from ledger.auth.service import add_user, create_token
    from ledger.read.render import statement_csv, statement_pdf

    unattributed_month(s)
    headers = {"Authorization": f"Bearer {create_token(s, add_user(s, 't@example.com', 'treasurer'))}"}
    s.commit()
    body = founded.test_client().get("/api/v1/periods/2026-01/preview", headers=headers).get_json()
    assert (body["unattributed"], body["pool_basis"]) == ("270.00", "vested_units")
    close_period(s, "2026-01")
    st = statement(s, "ana", "2026-01")
    assert statement_csv(st).splitlines()[-1] == "unattributed,270.00,,,"
    assert statement_pdf(st).startswith(b"%PDF")
