"""The double-entry core on both engines: posting, guards in the database, reversal, chain, verify."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from ledger.core import chart
from ledger.core.entries import Leg
from ledger.core.errors import Conflict, NotFound, ValidationError
from ledger.journal.balances import balance, trial_balance
from ledger.journal.models import Entry
from ledger.journal.service import open_account, post_entry, reverse_entry
from ledger.journal.verify import verify

JAN = dt.date(2026, 1, 15)


def cash_to_capital(s, amount="100.00", day=JAN, **kw):
    return post_entry(s, date=day, memo="test", source_type="manual",
                      legs=[Leg(chart.CASH, Decimal(amount), "USD"), Leg(chart.capital("ana"), -Decimal(amount), "USD")], **kw)


def test_a_balanced_entry_is_written_and_chained(s):
    e1 = cash_to_capital(s)
    e2 = cash_to_capital(s, "2.50")
    s.commit()
    assert e2.id == e1.id + 1 and e2.prev_hash == e1.hash
    assert balance(s, chart.CASH) == Decimal("102.50")
    assert balance(s, chart.capital("ana")) == Decimal("-102.50")
    assert verify(s).ok


def test_as_of_balances_ignore_later_entries(s):
    cash_to_capital(s, "10.00", dt.date(2026, 1, 5))
    cash_to_capital(s, "20.00", dt.date(2026, 2, 5))
    s.commit()
    assert balance(s, chart.CASH, as_of=dt.date(2026, 1, 31)) == Decimal("10.00")
    assert balance(s, chart.CASH, as_of=dt.date(2026, 2, 28)) == Decimal("30.00")


def test_trial_balance_sums_to_zero_per_commodity(s):
    cash_to_capital(s, "99.99")
    s.commit()
    totals = {}
    for _account, commodity, amount in trial_balance(s):
        totals[commodity] = totals.get(commodity, 0) + amount
    assert totals == {"USD": 0, "UNITS": 0}


@pytest.mark.parametrize("legs,field", [
    ([Leg(chart.CASH, Decimal("1.00"), "USD"), Leg(chart.capital("ana"), Decimal("-0.99"), "USD")], "postings"),
    ([Leg(chart.CASH, Decimal("1.00"), "USD")], "postings"),
    ([Leg("Assets:Nowhere", Decimal("1.00"), "USD"), Leg(chart.CASH, Decimal("-1.00"), "USD")], "postings[0].account"),
    ([Leg(chart.CASH, Decimal("1.001"), "USD"), Leg(chart.capital("ana"), Decimal("-1.001"), "USD")], "postings[0].amount"),
    ([Leg(chart.CASH, Decimal("1"), "UNITS"), Leg(chart.capital("ana"), Decimal("-1"), "UNITS")], "postings[0].commodity"),
    # CONTRACT §7: an entry whose postings are all zero moves nothing and is refused.
    ([Leg(chart.CASH, Decimal("0.00"), "USD"), Leg(chart.capital("ana"), Decimal("0"), "USD")], "postings"),
    ([Leg(chart.CASH, Decimal("0"), "USD"), Leg(chart.capital("ana"), Decimal("-0.00"), "USD"), Leg(chart.capital("ben"), Decimal("0"), "USD")],
     "postings"),
    # An amount whose stored integer (ten-thousandths) does not fit a BIGINT is refused by the field,
    # never left to overflow in the database (a close's pool may pass the inputs' trillion; this may not).
    ([Leg(chart.CASH, Decimal("922337203685478.00"), "USD"),
      Leg(chart.capital("ana"), Decimal("-922337203685478.00"), "USD")], "postings[0].amount"),
    ([Leg(chart.CASH, Decimal("1E+20"), "USD"), Leg(chart.capital("ana"), Decimal("-1E+20"), "USD")], "postings[0].amount"),
])
def test_bad_entries_are_refused_and_write_nothing(s, legs, field):
    with pytest.raises(ValidationError) as exc:
        post_entry(s, date=JAN, memo="bad", source_type="manual", legs=legs)
    assert field in exc.value.errors
    s.rollback()
    assert s.scalar(sa.select(sa.func.count()).select_from(Entry)) == 1  # the founders' units only


def test_a_date_before_the_partnership_is_refused(s):
    with pytest.raises(ValidationError) as exc:
        cash_to_capital(s, day=dt.date(2025, 12, 31))
    assert "date" in exc.value.errors


def test_reversal_mirrors_the_entry_once(s):
    e = cash_to_capital(s, "40.00")
    r = reverse_entry(s, e.id)
    s.commit()
    assert r.reverses_id == e.id
    assert balance(s, chart.CASH) == Decimal("0.00")
    with pytest.raises(Conflict):
        reverse_entry(s, e.id)
    with pytest.raises(ValidationError):
        reverse_entry(s, r.id)
    with pytest.raises(NotFound):
        reverse_entry(s, 9999)


def test_open_account_checks_name_and_commodity(s):
    with pytest.raises(ValidationError):
        open_account(s, "Assets:cash", ["USD"])
    with pytest.raises(ValidationError):
        open_account(s, "Stuff:Cash", ["USD"])
    with pytest.raises(ValidationError):
        open_account(s, "Assets:Bank", ["EUR"])
    with pytest.raises(Conflict):
        open_account(s, chart.CASH, ["USD"])
    assert open_account(s, "Assets:Bank:Savings-2", ["USD"]).name == "Assets:Bank:Savings-2"


# --- The database itself refuses what the service would never do (bypassing the ORM) ---

def _raw(s, sql, **params):
    s.execute(sa.text(sql), params)
    s.flush()


def test_database_refuses_updating_a_posting(s):
    cash_to_capital(s)
    s.commit()
    with pytest.raises((IntegrityError, DBAPIError)):
        _raw(s, "UPDATE posting SET amount = amount + 1")
        s.commit()
    s.rollback()


def test_database_refuses_deleting_an_entry(s):
    cash_to_capital(s)
    s.commit()
    with pytest.raises((IntegrityError, DBAPIError)):
        _raw(s, "DELETE FROM entry")
        s.commit()
    s.rollback()


def test_database_refuses_a_posting_added_to_a_written_entry(s):
    e = cash_to_capital(s)
    s.commit()
    acc = s.execute(sa.text("SELECT id FROM account WHERE name = 'Assets:Cash'")).scalar_one()
    with pytest.raises((IntegrityError, DBAPIError)):
        _raw(s, "INSERT INTO posting (entry_id, account_id, commodity, amount) VALUES (:e, :a, 'USD', 0)", e=e.id, a=acc)
        s.commit()
    s.rollback()


def test_database_refuses_orphan_postings_at_commit(s):
    acc = s.execute(sa.text("SELECT id FROM account WHERE name = 'Assets:Cash'")).scalar_one()
    with pytest.raises((IntegrityError, DBAPIError)):
        _raw(s, "INSERT INTO posting (entry_id, account_id, commodity, amount) VALUES (777, :a, 'USD', 0)", a=acc)
        s.commit()
    s.rollback()


def test_an_entry_cannot_be_reversed_twice_even_bypassing_the_service(s):
    e = cash_to_capital(s)
    r = reverse_entry(s, e.id)
    s.commit()
    acc = s.execute(sa.text("SELECT id FROM account WHERE name = 'Assets:Cash'")).scalar_one()
    now = dt.datetime.now(dt.UTC)
    with pytest.raises((IntegrityError, DBAPIError)):
        for amount in (100, -100):
            _raw(s, "INSERT INTO posting (entry_id, account_id, commodity, amount) VALUES (900, :a, 'USD', :x)",
                 a=acc, x=amount)
        _raw(s, "INSERT INTO entry (id, date, memo, source_type, source_ref, reverses_id, prev_hash, hash, "
                "created_at) VALUES (900, '2026-01-02', 'x', 'reversal', '', :e, 'p', 'h2', :now)",
             e=e.id, now=now)
        s.commit()
    s.rollback()
    assert s.scalar(sa.select(sa.func.count()).select_from(Entry).where(Entry.reverses_id == e.id)) == 1
    assert r.reverses_id == e.id


# A maintained balance is a BIGINT sum (ten-thousandths): each posting fits, but enough of them
# on one account could pass 2**63 - 1 (922,337,203,685,477.5807). The sum is refused like the
# posting, with the field at fault and nothing written: never an overflow error, and never (as
# SQLite's ``+`` would do) a balance turned into an approximate REAL.
HALF = Decimal("500000000000000.00")


@pytest.mark.parametrize("before,legs", [
    # one entry whose two cash legs together pass the bound (the sum made in Python)
    ([], [Leg(chart.CASH, HALF, "USD"), Leg(chart.CASH, HALF, "USD"),
          Leg(chart.capital("ana"), -HALF, "USD"), Leg(chart.capital("ben"), -HALF, "USD")]),
    # a balance near the bound, then an entry that takes it past (the sum made by the database)
    ([Decimal("900000000000000.00")],
     [Leg(chart.CASH, HALF, "USD"), Leg(chart.capital("ben"), -HALF, "USD")]),
])
def test_a_balance_past_what_the_ledger_can_store_is_refused_and_writes_nothing(s, before, legs):
    for amount in before:
        cash_to_capital(s, str(amount))
    s.commit()
    entries = s.scalar(sa.select(sa.func.count()).select_from(Entry))
    held = balance(s, chart.CASH)
    with pytest.raises(ValidationError) as exc:
        post_entry(s, date=JAN, memo="too much", source_type="manual", legs=legs)
    assert "beyond what the ledger can store" in exc.value.errors["postings"][0]
    s.rollback()
    assert s.scalar(sa.select(sa.func.count()).select_from(Entry)) == entries
    assert balance(s, chart.CASH) == held
    assert {type(b) for (_a, _c, b) in trial_balance(s)} == {Decimal}
    assert verify(s).ok
