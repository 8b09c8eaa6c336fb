"""The treasurer's books: periods and the close with its preview; the ledger browser (entries with
pagination, one entry and its reversal, manual entries, accounts, trial balance, verify)."""

from __future__ import annotations

import re

import pytest
from helpers.web import count_entries, field_error, text

from ledger.journal.models import Period
from ledger.read import entries as queries
from ledger.runtime.database import get_session


def postings(*rows) -> dict:
    """The posting rows as a browser sends them: all six, the unused ones blank."""
    data = {}
    for i in range(6):
        account, amount, commodity = rows[i] if i < len(rows) and rows[i] else ("", "", "USD")
        data.update({f"postings-{i}-account": account, f"postings-{i}-amount": amount,
                     f"postings-{i}-commodity": commodity})
    return data


def _period_status(app, pid):
    with app.app_context():
        row = get_session().get(Period, pid)
        return row.status if row else None


def test_the_periods_page_offers_the_oldest_open_period(worked_january, treasurer):
    page = text(treasurer.get("/periods"))
    assert "Preview and close 2026-01" in page and "open" in page


def test_the_close_preview_shows_what_the_close_will_post(worked_january, treasurer):
    response = treasurer.get("/periods/2026-01/close")
    assert response.status_code == 200
    page = text(response)
    for figure in ("7,901.23", "2,370.37", "500.00", "1,870.37",  # net, pool gross, overhead, pool to share
                   "4,935.18", "1,652.78", "813.27",               # each partner's total
                   "666.67", "3,999.99", "123.46", "518.52", "222.22"):
        assert figure in page, figure
    assert "Close 2026-01 and post these allocations" in page
    assert _period_status(worked_january, "2026-01") == "open"  # a preview posts nothing


def test_closing_the_period_posts_it_and_locks_it(worked_january, treasurer):
    before = count_entries(worked_january)
    response = treasurer.post("/periods/2026-01/close")
    assert response.status_code == 302 and response.headers["Location"] == "/periods"
    assert "Period 2026-01 is closed." in text(treasurer.get("/periods"))
    assert _period_status(worked_january, "2026-01") == "closed"
    assert count_entries(worked_january) > before
    again = treasurer.get("/periods/2026-01/close")
    assert again.status_code == 302  # already closed: back to the list, with a note
    assert "already closed" in text(treasurer.get("/periods"))


def test_a_later_period_is_previewed_but_not_closed_out_of_order(worked_january, treasurer):
    page = treasurer.get("/periods/2026-03/close")
    assert page.status_code == 200 and "This is a preview only" in text(page)
    refused = treasurer.post("/periods/2026-03/close")
    assert refused.status_code == 422
    assert "not the oldest open period" in text(refused)
    assert _period_status(worked_january, "2026-03") in (None, "open")


@pytest.mark.parametrize("pid", ["2026-13", "junk", "2025-12"])
def test_a_malformed_period_is_a_404_page(worked_january, treasurer, pid):
    response = treasurer.get(f"/periods/{pid}/close")
    assert response.status_code == 404 and response.mimetype == "text/html"


# --- entries ------------------------------------------------------------------------------------------


def test_entries_are_listed_newest_first_and_filtered(worked_january, treasurer):
    response = treasurer.get("/ledger/entries")
    ids = [int(i) for i in re.findall(r'href="/ledger/entries/(\d+)">#', response.get_data(as_text=True))]
    assert ids == sorted(ids, reverse=True) and len(ids) == count_entries(worked_january)
    page = text(treasurer.get("/ledger/entries?account=Expenses:Overhead:Rent"))
    assert "Overhead: rent" in page and "Invoice" not in page
    page = text(treasurer.get("/ledger/entries?from=2026-01-11&to=2026-01-19"))
    assert "M365" not in page and "Phone system" in page


def test_entries_page_by_keyset(worked_january, treasurer, monkeypatch):
    monkeypatch.setattr(queries, "PAGE_SIZE", 2)
    first = treasurer.get("/ledger/entries").get_data(as_text=True)
    ids = re.findall(r'href="/ledger/entries/(\d+)">#', first)
    assert len(ids) == 2
    older = re.search(r'href="(/ledger/entries\?before=\d+)"', first).group(1)
    assert older.endswith(f"before={ids[-1]}")
    second = treasurer.get(older).get_data(as_text=True)
    more = re.findall(r'href="/ledger/entries/(\d+)">#', second)
    assert more and int(more[0]) < int(ids[-1])
    assert "« Newest" in second
    seen, url = [], "/ledger/entries"
    while url:
        html = treasurer.get(url).get_data(as_text=True)
        seen += re.findall(r'href="/ledger/entries/(\d+)">#', html)
        match = re.search(r'href="(/ledger/entries\?before=\d+)"', html)
        url = match.group(1) if match else None
    assert len(seen) == len(set(seen)) == count_entries(worked_january)


def test_an_entry_page_and_its_reversal(worked_january, treasurer):
    html = treasurer.get("/ledger/entries?account=Expenses:Overhead:Rent").get_data(as_text=True)
    entry = re.findall(r'href="/ledger/entries/(\d+)">#', html)[0]
    page = text(treasurer.get(f"/ledger/entries/{entry}"))
    assert "Expenses:Overhead:Rent" in page and "500.00" in page and "Reverse this entry" in page
    before = count_entries(worked_january)
    response = treasurer.post(f"/ledger/entries/{entry}/reverse", data={"date": "", "memo": ""})
    assert response.status_code == 302
    assert count_entries(worked_january) == before + 1
    page = text(treasurer.get(response.headers["Location"]))
    assert f"reversed by #{int(before) + 1}" in page.lower() or f"Reverses #{entry}" in page
    again = treasurer.post(f"/ledger/entries/{entry}/reverse", data={"date": "", "memo": ""})
    assert again.status_code == 422 and "already reversed" in text(again)
    assert count_entries(worked_january) == before + 1


def test_a_reversal_into_a_closed_period_is_refused_beside_the_date(closed_january, treasurer):
    html = treasurer.get("/ledger/entries?account=Expenses:Overhead:Rent").get_data(as_text=True)
    entry = re.findall(r'href="/ledger/entries/(\d+)">#', html)[-1]
    before = count_entries(closed_january)
    response = treasurer.post(f"/ledger/entries/{entry}/reverse", data={"date": "", "memo": ""})
    assert response.status_code == 422
    assert "closed" in text(response)
    response = treasurer.post(f"/ledger/entries/{entry}/reverse", data={"date": "2026-01-15", "memo": "x"})
    assert "period 2026-01 is closed" in field_error(response, "date")
    assert count_entries(closed_january) == before


def test_a_close_entry_offers_no_reversal(closed_january, treasurer):
    html = treasurer.get("/ledger/entries").get_data(as_text=True)
    close_entry = re.search(r'href="/ledger/entries/(\d+)">#\d+</a></td>\s*<td class="nowrap">31 Jan 2026</td>\s*'
                            r'<td>Close 2026-01', html).group(1)
    assert "Reverse this entry" not in text(treasurer.get(f"/ledger/entries/{close_entry}"))
    refused = treasurer.post(f"/ledger/entries/{close_entry}/reverse", data={})
    assert refused.status_code == 422 and "cannot be reversed" in text(refused)


def test_post_a_manual_entry(worked_january, treasurer):
    form = treasurer.get("/ledger/entries/new").get_data(as_text=True)
    assert form.count('name="postings-') >= 18  # six rows of account, amount, commodity
    before = count_entries(worked_january)
    response = treasurer.post("/ledger/entries/new", data={
        "date": "2026-01-31", "memo": "Bank interest",
        **postings(("Assets:Cash", "12.34", "USD"), None, None, ("Expenses:Overhead:Rent", "-12.34", "USD"))})
    assert response.status_code == 302, text(response)
    assert count_entries(worked_january) == before + 1
    assert "Bank interest" in text(treasurer.get(response.headers["Location"]))


def test_an_unbalanced_manual_entry_is_refused_and_keeps_its_rows(worked_january, treasurer):
    before = count_entries(worked_january)
    response = treasurer.post("/ledger/entries/new", data={
        "date": "2026-01-31", "memo": "Oops",
        **postings(("Assets:Cash", "12.34", "USD"), None, ("Expenses:Overhead:Rent", "-12.00", "USD"))})
    assert response.status_code == 422
    assert "does not balance" in text(response)
    html = response.get_data(as_text=True)
    assert 'value="12.34"' in html and 'value="-12.00"' in html and 'value="Oops"' in html
    assert count_entries(worked_january) == before


@pytest.mark.parametrize("rows, where, message", [
    ([None, ("Assets:Cash", "", "USD"), ("Assets:Cash", "-1", "USD")], "postings-1-amount", "an amount is needed"),
    ([None, ("", "5", "USD"), ("Assets:Cash", "-5", "USD")], "postings-1-account", "choose an account"),
    ([("Assets:Cash", "1", "USD"), None, None, None, ("Equity:Units:Authorized", "-1", "USD")],
     "postings-4-commodity", "does not hold USD"),
    ([("Assets:Cash", "1.999", "USD")], "postings-0-amount", "two decimals"),
    ([("Assets:Nowhere", "1", "USD"), ("Assets:Cash", "-1", "USD")], "postings-0-account", "is not open"),
])
def test_a_bad_posting_row_is_marked_on_its_row(worked_january, treasurer, rows, where, message):
    before = count_entries(worked_january)
    response = treasurer.post("/ledger/entries/new", data={"date": "2026-01-31", "memo": "x", **postings(*rows)})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    cell = re.search(rf'id="{where}".*?</div>', html, flags=re.S).group(0)
    assert message in cell, cell
    assert count_entries(worked_january) == before


def test_accounts_trial_balance_and_verify(closed_january, treasurer):
    page = text(treasurer.get("/ledger/accounts"))
    assert "Equity:Capital:Ana" in page and "−4,935.18" in page
    page = text(treasurer.get("/ledger/trial-balance"))
    assert "Assets:Cash" in page and "Total USD" in page
    assert "Assets:Receivable:Acme USD 11,234.56" in page
    early = text(treasurer.get("/ledger/trial-balance?as_of=2026-01-05"))
    assert "As of 5 Jan 2026" in early and "Receivable" not in early
    page = text(treasurer.get("/ledger/verify"))
    assert "Every check holds" in page


def test_a_close_entry_page_lists_its_detail_by_engagement(closed_january, treasurer):
    html = treasurer.get("/ledger/entries").get_data(as_text=True)
    close_entry = re.search(r'href="/ledger/entries/(\d+)">#\d+</a></td>\s*<td class="nowrap">31 Jan 2026</td>\s*'
                            r'<td>Close 2026-01: practice voice', html).group(1)
    page = text(treasurer.get(f"/ledger/entries/{close_entry}"))
    assert "Detail by engagement (3 lines, hashed with the entry)" in page
    # e2 (voice, originated by chen): origination 123.46, practice 518.52 / 222.22
    for line in ("Equity:Capital:Chen origination e2 voice 123.46", "Equity:Capital:Ben practice e2 voice 518.52",
                 "Equity:Capital:Chen practice e2 voice 222.22"):
        assert line in page
