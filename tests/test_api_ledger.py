"""The ledger endpoints on both engines: manual entries and reversals, the paginated entries list,
the chart of accounts, the trial balance as of a date, and verify."""

from __future__ import annotations

import pytest
from helpers.api import assert_problem

CASH_TO_CAPITAL = {"date": "2026-01-10", "memo": "Ana puts in cash", "postings": [
    {"account": "Assets:Cash", "amount": "1000.00", "commodity": "USD"},
    {"account": "Equity:Capital:Ana", "amount": "-1000.00", "commodity": "USD"},
]}


def balances(api, **query):
    path = "/ledger/trial-balance" + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    return {(r["account"], r["commodity"]): r["balance"] for r in api.ok("GET", path)}


def test_a_manual_entry_is_written_as_given(api):
    body = api.ok("POST", "/ledger/entries", CASH_TO_CAPITAL, status=201)
    assert body["id"] == 2  # the charter's units are entry 1
    assert {k: body[k] for k in ("date", "memo", "source_type", "source_ref", "reverses")} == {
        "date": "2026-01-10", "memo": "Ana puts in cash", "source_type": "manual", "source_ref": "", "reverses": None}
    assert body["postings"] == [
        {"account": "Assets:Cash", "amount": "1000.00", "commodity": "USD", "kind": None, "engagement": None},
        {"account": "Equity:Capital:Ana", "amount": "-1000.00", "commodity": "USD", "kind": None, "engagement": None},
    ]
    assert len(body["hash"]) == 64 and body["prev_hash"] != body["hash"]
    assert api.ok("GET", "/ledger/entries/2") == body


def test_the_commodity_defaults_to_the_currency(api):
    body = {"date": "2026-01-10", "memo": "m", "postings": [{"account": "Assets:Cash", "amount": "5"},
                                                             {"account": "Equity:Capital:Ben", "amount": "-5"}]}
    assert [p["commodity"] for p in api.ok("POST", "/ledger/entries", body)["postings"]] == ["USD", "USD"]


@pytest.mark.parametrize("postings", [
    [("Assets:Cash", "5", None), ("Equity:Capital:Ben", "-5", None)],
    [("Assets:Cash", "0.10", "USD"), ("Assets:Cash", "0.20", "USD"), ("Equity:Capital:Ana", "-0.30", "USD")],
    [("Equity:Units:Vested:Ana", "3", "UNITS"), ("Equity:Units:Authorized", "-3", "UNITS")],
])
def test_a_posted_entry_is_answered_as_it_reads_back(api, postings):
    """The POST answers from what it posted (nothing read back): exactly what a GET reads."""
    body = api.ok("POST", "/ledger/entries", {"date": "2026-01-10", "memo": "as read", "postings": [
        {"account": a, "amount": amt, **({"commodity": c} if c else {})} for a, amt, c in postings]}, status=201)
    assert api.ok("GET", f"/ledger/entries/{body['id']}") == body


@pytest.mark.parametrize(("postings", "field"), [
    ([("Assets:Cash", "10.00"), ("Equity:Capital:Ana", "-9.99")], "postings"),
    ([("Assets:Cash", "10.00")], "postings"),
    ([("Assets:Cash", "10.00"), ("Equity:Capital:Nobody", "-10.00")], "postings[1].account"),
    ([("Assets:Cash", "10.00"), ("not an account", "-10.00")], "postings[1].account"),
    ([("Assets:Cash", 10), ("Equity:Capital:Ana", "-10")], "postings[0].amount"),
    ([("Assets:Cash", "10.001"), ("Equity:Capital:Ana", "-10.001")], "postings[0].amount"),
    ([("Assets:Cash", "1e3"), ("Equity:Capital:Ana", "-1e3")], "postings[0].amount"),
])
def test_a_manual_entry_that_does_not_add_up_is_refused(shared, postings, field):
    before = balances(shared)
    body = {"date": "2026-01-10", "memo": "bad", "postings": [
        {"account": a, "amount": amt, "commodity": "USD"} for a, amt in postings]}
    assert_problem(shared.post("/ledger/entries", body), 422, field)
    assert balances(shared) == before


def test_a_balance_past_what_the_ledger_can_store_is_refused_with_the_field(api):
    """Every posting is under the API's bound, but the tenth such entry would take the cash
    account's balance past what a BIGINT of ten-thousandths holds: 422 naming ``postings``, nothing
    written (the ledger as it was, the balance still exact)."""
    big = "999999999999.99"
    body = {"date": "2026-01-10", "memo": "a great deal", "postings": [
        *[{"account": "Assets:Cash", "amount": big, "commodity": "USD"}] * 100,
        *[{"account": "Equity:Capital:Ana", "amount": f"-{big}", "commodity": "USD"}] * 100]}
    for _ in range(9):
        api.ok("POST", "/ledger/entries", body, status=201)
    before = balances(api)
    assert before[("Assets:Cash", "USD")] == "899999999999991.00"
    problem = assert_problem(api.post("/ledger/entries", body), 422, "postings")
    assert "beyond what the ledger can store" in problem["errors"]["postings"][0]
    assert balances(api) == before
    assert api.ok("GET", "/ledger/verify")["ok"] is True


def test_units_take_no_decimals_and_an_account_only_its_commodities(shared):
    body = {"date": "2026-01-10", "memo": "m", "postings": [
        {"account": "Equity:Units:Vested:Ana", "amount": "1.5", "commodity": "UNITS"},
        {"account": "Equity:Units:Authorized", "amount": "-1.5", "commodity": "UNITS"}]}
    assert_problem(shared.post("/ledger/entries", body), 422, "postings[0].amount")
    body = {"date": "2026-01-10", "memo": "m", "postings": [
        {"account": "Assets:Cash", "amount": "1", "commodity": "UNITS"},
        {"account": "Equity:Units:Authorized", "amount": "-1", "commodity": "UNITS"}]}
    assert_problem(shared.post("/ledger/entries", body), 422, "postings[0].commodity")


def test_a_reversal_mirrors_the_entry_once(api):
    original = api.ok("POST", "/ledger/entries", CASH_TO_CAPITAL)
    reversal = api.ok("POST", f"/ledger/entries/{original['id']}/reverse", status=201)
    assert reversal["reverses"] == original["id"]
    assert (reversal["date"], reversal["source_type"], reversal["source_ref"]) == ("2026-01-10", "reversal", "2")
    assert [(p["account"], p["amount"]) for p in reversal["postings"]] == [
        ("Assets:Cash", "-1000.00"), ("Equity:Capital:Ana", "1000.00")]
    assert balances(api)[("Assets:Cash", "USD")] == "0.00"
    assert_problem(api.post(f"/ledger/entries/{original['id']}/reverse"), 409, "id")
    assert_problem(api.post(f"/ledger/entries/{reversal['id']}/reverse"), 422, "id")
    assert_problem(api.post("/ledger/entries/999/reverse"), 404)


def test_a_reversal_may_take_its_own_date_and_memo(api):
    original = api.ok("POST", "/ledger/entries", CASH_TO_CAPITAL)
    reversal = api.ok("POST", f"/ledger/entries/{original['id']}/reverse",
                      {"date": "2026-02-01", "memo": "Typo in January"})
    assert (reversal["date"], reversal["memo"]) == ("2026-02-01", "Typo in January")
    assert balances(api, as_of="2026-01-31")[("Assets:Cash", "USD")] == "1000.00"
    assert balances(api, as_of="2026-02-01")[("Assets:Cash", "USD")] == "0.00"


def test_entries_are_listed_a_page_at_a_time(api):
    for day in range(10, 17):
        api.ok("POST", "/ledger/entries", {**CASH_TO_CAPITAL, "date": f"2026-01-{day}"})
    seen, cursor = [], None
    while True:
        page = api.ok("GET", "/ledger/entries?limit=3" + (f"&cursor={cursor}" if cursor else ""))
        assert set(page) == {"items", "next_cursor"}
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(1, 9))  # the charter's entry and the seven
    assert all(len(e["postings"]) >= 2 for e in api.ok("GET", "/ledger/entries")["items"])


def test_entries_filter_by_account_and_dates(api):
    api.ok("POST", "/ledger/entries", CASH_TO_CAPITAL)
    api.ok("POST", "/ledger/entries", {**CASH_TO_CAPITAL, "date": "2026-02-10"})
    by_account = api.ok("GET", "/ledger/entries?account=Assets:Cash")["items"]
    assert [e["id"] for e in by_account] == [2, 3]
    assert [e["id"] for e in api.ok("GET", "/ledger/entries?from=2026-02-01")["items"]] == [3]
    assert [e["id"] for e in api.ok("GET", "/ledger/entries?to=2026-01-31")["items"]] == [1, 2]
    assert [e["id"] for e in api.ok("GET", "/ledger/entries?account=Equity:Units:Vested:Ana")["items"]] == [1]


@pytest.mark.parametrize(("query", "field"), [
    ("cursor=bm9wZQ", "cursor"),
    ("cursor=!!!", "cursor"),
    ("cursor=eyJhZnRlciI6ICJ4In0", "cursor"),   # {"after": "x"}
    ("limit=0", "limit"),
    ("limit=100000", "limit"),
    ("from=2026-13-01", "from"),
    ("to=yesterday", "to"),
    ("account=Assets:Nowhere", "account"),
    ("account=lowercase", "account"),
])
def test_a_bad_entries_query_is_refused(shared, query, field):
    assert_problem(shared.get(f"/ledger/entries?{query}"), 422, field)


def test_accounts_are_listed_and_opened(api):
    names = [a["name"] for a in api.ok("GET", "/ledger/accounts")]
    assert names == sorted(names) and "Assets:Cash" in names and "Income:Practice:Voice" in names
    body = api.ok("POST", "/ledger/accounts", {"name": "Assets:Bank:Savings", "commodities": ["USD"]}, status=201)
    assert body == {"name": "Assets:Bank:Savings", "commodities": ["USD"]}
    assert body in api.ok("GET", "/ledger/accounts")
    assert_problem(api.post("/ledger/accounts", {"name": "Assets:Bank:Savings", "commodities": ["USD"]}), 409, "name")
    assert_problem(api.post("/ledger/accounts", {"name": "Bank", "commodities": ["USD"]}), 422, "name")
    assert_problem(api.post("/ledger/accounts", {"name": "Assets:Euro", "commodities": ["EUR"]}), 422, "commodities")
    assert_problem(api.post("/ledger/accounts", {"name": "Assets:None", "commodities": []}), 422, "commodities")


def test_the_trial_balance_is_strings_that_sum_to_zero(api):
    api.ok("POST", "/ledger/entries", CASH_TO_CAPITAL)
    rows = api.trial_balance()
    assert {"account": "Assets:Cash", "commodity": "USD", "balance": "1000.00"} in rows
    assert {"account": "Equity:Units:Vested:Ana", "commodity": "UNITS", "balance": "-500"} in rows
    from decimal import Decimal

    for commodity in ("USD", "UNITS"):
        assert sum(Decimal(r["balance"]) for r in rows if r["commodity"] == commodity) == 0
    assert ("Assets:Cash", "USD") not in balances(api, as_of="2026-01-09")
    assert_problem(api.get("/ledger/trial-balance?as_of=2026-1-9"), 422, "as_of")


def test_verify_reports_the_chain(api):
    api.ok("POST", "/ledger/entries", CASH_TO_CAPITAL)
    body = api.ok("GET", "/ledger/verify")
    assert body == {"ok": True, "entries": 2, "head": api.ok("GET", "/ledger/entries/2")["hash"]}
