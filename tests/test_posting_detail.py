"""Posting detail: a posting broken down by engagement, sealed by its entry, immutable, hashed.

The journal keeps one capital posting per partner and kind in a close entry; the detail lines say
which engagement each cent came from. These tests hold the service and the database (raw SQL,
around the ORM) to the rules, on both engines.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from ledger.core import chart
from ledger.core.entries import GENESIS_HASH, Leg, canonical_entry, chain_hash, detail_digest
from ledger.core.errors import ValidationError
from ledger.journal.models import Entry, PostingDetail
from ledger.journal.service import EntrySpec, post_entries
from ledger.journal.verify import verify

JAN = dt.date(2026, 1, 15)
D = Decimal
ANA = chart.capital("ana")
BEN = chart.capital("ben")


def legs():
    return [Leg(chart.CASH, D("100.00"), "USD"), Leg(ANA, D("-70.00"), "USD", kind="practice"),
            Leg(BEN, D("-30.00"), "USD", kind="origination")]


def post(s, detail, legs_=None):
    return post_entries(s, [EntrySpec(JAN, "broken down", legs_ or legs(), "manual", detail=detail)])[0]


GOOD = [(ANA, "USD", -4000, "practice", 11), (ANA, "USD", -3000, "practice", 12),
        (BEN, "USD", -3000, "origination", 11)]


def count(s, table):
    return s.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_detail_is_written_with_its_entry_and_hashed_into_the_chain(s):
    entry_id = post(s, GOOD)
    s.commit()
    rows = s.execute(sa.select(PostingDetail.line_no, PostingDetail.kind, PostingDetail.engagement_id,
                               PostingDetail.amount).where(PostingDetail.entry_id == entry_id)
                     .order_by(PostingDetail.line_no)).all()
    assert rows == [(1, "practice", 11, D("-40.00")), (2, "practice", 12, D("-30.00")),
                    (3, "origination", 11, D("-30.00"))]
    e = s.get(Entry, entry_id)
    canonical = canonical_entry(
        id=e.id, date=e.date, memo=e.memo, source_type=e.source_type, source_ref=e.source_ref,
        policy_version=None, reverses_id=None,
        postings=[(p.account.name, p.commodity, p.amount, p.kind, p.engagement_id) for p in e.postings],
        detail=detail_digest(GOOD))
    assert e.hash == chain_hash(e.prev_hash, canonical)
    assert e.prev_hash != GENESIS_HASH  # the charter's opening entry came first
    assert verify(s).ok


def test_an_entry_without_detail_hashes_as_before(s):
    plain = canonical_entry(id=1, date=JAN, memo="m", source_type="manual", source_ref="", policy_version=None,
                            reverses_id=None, postings=[("Assets:Cash", "USD", D("1.00"), None, None)])
    assert "detail" not in plain
    with_detail = canonical_entry(id=1, date=JAN, memo="m", source_type="manual", source_ref="",
                                  policy_version=None, reverses_id=None,
                                  postings=[("Assets:Cash", "USD", D("1.00"), None, None)], detail="ab")
    assert with_detail != plain and '"detail":"ab"' in with_detail


@pytest.mark.parametrize("detail, message", [
    ([(ANA, "USD", -4000, "practice", 11), (ANA, "USD", -2999, "practice", 12),
      (BEN, "USD", -3000, "origination", 11)], "does not sum"),
    ([(ANA, "USD", -7000, "origination", 11), (BEN, "USD", -3000, "origination", 11)], "does not sum"),
    ([(chart.capital("nobody"), "USD", -7000, "practice", 11)], "not open"),
    ([(ANA, "USD", D("-70.00"), "practice", 11)], "malformed"),
    ([(ANA, "USD", -7000, "Practice!", 11)], "malformed"),
])
def test_detail_that_does_not_agree_with_its_postings_is_refused_and_writes_nothing(s, detail, message):
    before = (count(s, "entry"), count(s, "posting"), count(s, "posting_detail"))
    with pytest.raises(ValidationError) as exc:
        post(s, detail)
    assert message in str(exc.value) + str(exc.value.errors)
    assert "detail" in exc.value.errors
    assert (count(s, "entry"), count(s, "posting"), count(s, "posting_detail")) == before


def test_detail_lines_summing_to_zero_need_no_posting(s):
    """A partner credited on one engagement and charged the same on another nets to nothing: the
    journal needs no zero posting, the detail still shows both."""
    detail = GOOD + [(BEN, "USD", -500, "practice", 11), (BEN, "USD", 500, "practice", 12)]
    entry_id = post(s, detail)
    s.commit()
    assert count(s, "posting_detail") == 5
    assert s.scalar(sa.select(sa.func.count()).select_from(PostingDetail)
                    .where(PostingDetail.entry_id == entry_id, PostingDetail.kind == "practice")) == 4
    assert verify(s).ok


# --- The database refuses what the service never does (raw SQL around the ORM) ---

def _raw(s, sql, **params):
    s.execute(sa.text(sql), params)
    s.flush()


def _ana_id(s):
    return s.execute(sa.text("SELECT id FROM account WHERE name = :n"), {"n": ANA}).scalar_one()


def test_database_refuses_detail_added_to_an_entry_already_written(s):
    entry_id = post(s, GOOD)
    s.commit()
    with pytest.raises((IntegrityError, DBAPIError)):
        _raw(s, "INSERT INTO posting_detail (entry_id, line_no, account_id, date, commodity, kind, engagement_id, "
                "amount) VALUES (:e, 9, :a, '2026-01-15', 'USD', 'practice', 13, 0)", e=entry_id, a=_ana_id(s))
        s.commit()
    s.rollback()


@pytest.mark.parametrize("sql", ["UPDATE posting_detail SET amount = amount - 1", "DELETE FROM posting_detail"])
def test_database_refuses_changing_or_deleting_detail(s, sql):
    post(s, GOOD)
    s.commit()
    with pytest.raises((IntegrityError, DBAPIError)):
        _raw(s, sql)
        s.commit()
    s.rollback()
    assert count(s, "posting_detail") == 3


@pytest.mark.parametrize("amount, when", [(-99, "2026-01-02"), (-100, "2026-01-03")],
                         ids=["does not sum", "another date"])
def test_database_refuses_an_entry_whose_detail_does_not_agree_with_it(s, amount, when):
    cash = s.execute(sa.text("SELECT id FROM account WHERE name = 'Assets:Cash'")).scalar_one()
    ana = _ana_id(s)
    now = dt.datetime.now(dt.UTC)
    with pytest.raises((IntegrityError, DBAPIError)):
        _raw(s, "INSERT INTO posting (entry_id, account_id, commodity, amount) VALUES (800, :a, 'USD', 100)", a=cash)
        _raw(s, "INSERT INTO posting (entry_id, account_id, commodity, amount, kind) "
                "VALUES (800, :a, 'USD', -100, 'practice')", a=ana)
        _raw(s, "INSERT INTO posting_detail (entry_id, line_no, account_id, date, commodity, kind, engagement_id, "
                "amount) VALUES (800, 1, :a, :d, 'USD', 'practice', 1, :amount)", a=ana, amount=amount, d=when)
        _raw(s, "INSERT INTO entry (id, date, memo, source_type, source_ref, prev_hash, hash, created_at) "
                "VALUES (800, '2026-01-02', 'x', 'manual', '', 'p', 'h', :now)", now=now)
        s.commit()
    s.rollback()


def test_verify_finds_detail_altered_behind_the_database(s, runner):
    entry_id = post(s, GOOD)
    s.commit()
    engine = s.get_bind()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE posting_detail DISABLE TRIGGER posting_detail_no_update_delete")
            conn.exec_driver_sql("UPDATE posting_detail SET engagement_id = 99 WHERE line_no = 1")
            conn.exec_driver_sql("UPDATE posting_detail SET amount = amount - 100 WHERE line_no = 2")  # a cent
            conn.exec_driver_sql("ALTER TABLE posting_detail ENABLE TRIGGER posting_detail_no_update_delete")
        else:
            conn.exec_driver_sql("DROP TRIGGER posting_detail_no_update")
            conn.exec_driver_sql("UPDATE posting_detail SET engagement_id = 99 WHERE line_no = 1")
            conn.exec_driver_sql("UPDATE posting_detail SET amount = amount - 100 WHERE line_no = 2")  # a cent
    s.expire_all()
    report = verify(s)
    assert f"entry {entry_id}: hash mismatch: its stored content was altered after it was written" in report.problems
    assert any(p.startswith(f"entry {entry_id}: the practice detail of {ANA} sums to -70.01") for p in report.problems)
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1


def test_a_reversal_mirrors_the_detail_line_by_line(s):
    from ledger.journal.service import reverse_entry

    entry_id = post(s, GOOD)
    reversal = reverse_entry(s, entry_id)
    s.commit()
    lines = s.execute(sa.select(PostingDetail.kind, PostingDetail.engagement_id, PostingDetail.amount)
                      .where(PostingDetail.entry_id == reversal.id).order_by(PostingDetail.line_no)).all()
    assert lines == [("practice", 11, D("40.00")), ("practice", 12, D("30.00")), ("origination", 11, D("30.00"))]
    assert verify(s).ok
