"""The database's own refusal of an entry whose postings do not balance, whoever writes it.

The services never send such an entry (``journal.service`` checks first); these tests write rows
straight into the tables, as a bug or a hand at the database would, and the database must refuse
them: fewer than two postings, or a commodity whose postings do not sum to zero — including an
entry whose commodities sum to zero together but not each alone, and a bad entry among good ones
in one statement. On SQLite a per-row trigger refuses; on PostgreSQL the entries' statement
trigger (``ledger_entries_sealed``), which names the least bad entry.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from helpers.engine import ENGINE
from helpers.postings import claimed, next_entry
from sqlalchemy.exc import IntegrityError

from ledger.core import chart
from ledger.journal.models import Entry, Posting

USD, EUR = "USD", "EUR"


def _account(s, name: str) -> int:
    return s.execute(sa.text("SELECT id FROM account WHERE name = :n"), {"n": name}).scalar_one()


def _write(s, entries: list[list[tuple[str, int]]]) -> int:
    """Each entry's postings (commodity, amount; on cash, then Ana's capital, in turn) in one
    statement, then the entries in one statement, after moving the chain head over them (as a
    writer does on PostgreSQL); the first entry's id."""
    first = claimed(s, len(entries))
    accounts = [_account(s, chart.CASH), _account(s, chart.capital("ana"))]
    rows = [f"({first + n}, {accounts[i % 2]}, '{commodity}', {amount})"
            for n, legs in enumerate(entries) for i, (commodity, amount) in enumerate(legs)]
    if rows:
        s.execute(sa.text(f"INSERT INTO posting (entry_id, account_id, commodity, amount) VALUES {', '.join(rows)}"))
    values = ", ".join(f"({first + n}, '2026-01-02', 'x', 'manual', '', 'p', 'h{first + n}', :now)"
                       for n in range(len(entries)))
    s.execute(sa.text("INSERT INTO entry (id, date, memo, source_type, source_ref, prev_hash, hash, created_at) "
                      f"VALUES {values}"), {"now": dt.datetime(2026, 1, 2, tzinfo=dt.UTC)})
    s.flush()
    return first


def _counts(s) -> tuple[int, int]:
    return (s.scalar(sa.select(sa.func.count()).select_from(Entry)),
            s.scalar(sa.select(sa.func.count()).select_from(Posting)))


BALANCED = [(USD, 100), (USD, -100)]


@pytest.mark.parametrize("bad,why", [
    ([(USD, 100), (USD, -99)], "one commodity, off by a cent"),
    ([(USD, 100), (EUR, -100)], "two commodities that sum to zero together, neither alone"),
    ([(USD, 100), (EUR, 5), (USD, -100), (EUR, -4)], "two commodities, one balanced"),
    ([(USD, 0)], "a single posting"),
    ([], "no posting"),
])
@pytest.mark.parametrize("place", ["alone", "among balanced entries"])
def test_an_entry_whose_postings_do_not_balance_is_refused_and_nothing_is_written(s, bad, why, place):
    before = _counts(s)
    entries = [bad] if place == "alone" else [BALANCED, [(USD, 7), (EUR, 3), (EUR, -3), (USD, -7)], bad, BALANCED]
    with pytest.raises(IntegrityError, match="unbalanced entry") as caught:
        first = next_entry(s)
        _write(s, entries)
        s.commit()
    s.rollback()
    if ENGINE == "postgresql":  # the statement's trigger names the bad entry
        assert f"unbalanced entry {first + entries.index(bad)}:" in str(caught.value)
    assert _counts(s) == before, why


@pytest.mark.parametrize("legs", [
    BALANCED,
    [(USD, 100), (EUR, 250), (USD, -100), (EUR, -250)],
    [(USD, 100), (USD, -60), (USD, -40)],
    [(EUR, 0), (EUR, 0)],
])
def test_balanced_entries_of_one_or_several_commodities_are_written(s, legs):
    before = _counts(s)
    first = _write(s, [legs, BALANCED, legs])
    s.commit()
    assert _counts(s) == (before[0] + 3, before[1] + 2 * len(legs) + 2)
    assert s.scalar(sa.select(sa.func.count()).select_from(Posting).where(Posting.entry_id == first)) == len(legs)
