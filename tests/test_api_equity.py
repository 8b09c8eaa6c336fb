"""Grants, pauses and accelerations through the HTTP API, and what they do to
``GET /partners/{code}/vesting``, to the period close and to ``verify``.

The partnership is the worked example plus two new entrants:
- dana: 4,800 units from 2026-01-01, a 12-month cliff, 48 months monthly (the README's example);
- eve: 1,200 units from 2026-01-01, a 3-month cliff, 12 months monthly (300 on 2026-04-01, then
  100 on the 1st of each month).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from charters import API_ENTRANTS, with_partners
from helpers.api import assert_problem

from ledger.auth.service import create_token, get_user
from ledger.equity.models import VestingAcceleration, VestingPause
from ledger.journal.models import Entry
from ledger.runtime.database import get_session


@pytest.fixture
def founded(app, runner, tmp_path):
    """Overrides conftest's: the worked example with dana and eve (``api`` and ``tokens`` use it)."""
    path = tmp_path / "charter.toml"
    path.write_text(with_partners(API_ENTRANTS))
    result = runner.invoke(args=["init", str(path)])
    assert result.exit_code == 0, result.output
    return app


@pytest.fixture
def as_dana(api, founded):
    """``api`` with a token for dana (role partner) under ``api.tokens["dana"]``."""
    with founded.app_context():
        s = get_session()
        api.tokens["dana"] = create_token(s, get_user(s, "dana@example.com"))
        s.commit()
    return api


def counts(app) -> tuple[int, int, int]:
    """Rows of pauses, accelerations and ledger entries: a refusal must leave all three alone."""
    with app.app_context():
        s = get_session()
        out = tuple(s.scalar(sa.select(sa.func.count()).select_from(t)) for t in (VestingPause, VestingAcceleration, Entry))
        s.rollback()
    return out


def vesting(api, code: str, as_of: str, role: str = "treasurer") -> dict:
    return api.ok("GET", f"/partners/{code}/vesting?as_of={as_of}", role=role)


def close_through(api, *periods: str) -> None:
    for pid in periods:
        api.ok("POST", f"/periods/{pid}/close", status=200)


# --- the worked dates, and reading grants ------------------------------------------------------


@pytest.mark.parametrize("as_of,vested,next_date", [
    ("2026-12-31", 0, "2027-01-01"),
    ("2027-01-01", 1200, "2027-02-01"),
    ("2027-02-01", 1300, "2027-03-01"),
    ("2030-01-01", 4800, None),
])
def test_the_readme_grant_through_the_api(api, as_of, vested, next_date):
    v = vesting(api, "dana", as_of)
    assert (v["granted"], v["vested"], v["unvested"]) == (4800, vested, 4800 - vested)
    assert v["next_vesting_date"] == next_date
    assert v["schedule"][0] == {"date": "2027-01-01", "units": 1200, "cumulative": 1200}
    assert v["schedule"][-1] == {"date": "2030-01-01", "units": 100, "cumulative": 4800}


def test_grants_list_terms_pauses_and_accelerations_to_self_or_treasurer(as_dana):
    api = as_dana
    pause = api.ok("POST", "/partners/dana/pauses", {"start": "2026-03-01", "end": "2026-03-10", "reason": "parental"},
                   status=201)
    acc = api.ok("POST", "/partners/dana/accelerations",
                 {"date": "2027-01-15", "quantity": 250, "reason": "Led the migration"}, status=201)
    grants = api.ok("GET", "/partners/dana/grants", role="dana")
    [grant] = grants
    assert {k: grant[k] for k in ("kind", "units", "start", "cliff_months", "months", "every")} == {
        "kind": "grant", "units": 4800, "start": "2026-01-01", "cliff_months": 12, "months": 48, "every": 1}
    assert grant["pauses"] == [pause]
    assert (pause["partner"], pause["start"], pause["end"], pause["reason"]) == ("dana", "2026-03-01", "2026-03-10",
                                                                                 "parental")
    assert grant["accelerations"] == [acc]
    assert (acc["grant"], acc["date"], acc["quantity"]) == (grant["id"], "2027-01-15", 250)
    assert api.ok("GET", "/partners/dana/grants", role="admin") == grants
    assert_problem(api.get("/partners/dana/grants", role="partner"), 403)  # ana is not dana
    assert_problem(api.get("/partners/zed/grants"), 404)
    [founder] = api.ok("GET", "/partners/ana/grants", role="partner")
    assert (founder["kind"], founder["units"], founder["months"], founder["pauses"]) == ("founder", 500, 0, [])


# --- pauses ------------------------------------------------------------------------------------


def test_a_pause_shifts_the_schedule_seen_through_the_api(as_dana):
    api = as_dana
    api.ok("POST", "/partners/dana/pauses", {"start": "2026-03-01", "end": "2026-03-10"}, status=201)
    v = vesting(api, "dana", "2027-01-10", role="dana")
    assert (v["vested"], v["next_vesting_date"]) == (0, "2027-01-11")
    assert [e["date"] for e in v["schedule"][:3]] == ["2027-01-11", "2027-02-11", "2027-03-11"]
    assert v["schedule"][-1] == {"date": "2030-01-11", "units": 100, "cumulative": 4800}
    assert vesting(api, "dana", "2027-01-11")["vested"] == 1200
    assert vesting(api, "dana", "2030-01-10")["vested"] == 4700


def test_an_open_pause_stops_vesting_until_it_is_ended(api):
    pause = api.ok("POST", "/partners/eve/pauses", {"start": "2026-05-15"}, status=201)
    assert (pause["end"], pause["ended_at"]) == (None, None)
    v = vesting(api, "eve", "2030-01-01")
    assert (v["vested"], v["unvested"], v["next_vesting_date"]) == (400, 800, None)
    ended = api.ok("POST", f"/partners/eve/pauses/{pause['id']}/end", {"end": "2026-05-24"}, status=200)
    assert (ended["id"], ended["end"]) == (pause["id"], "2026-05-24")
    assert ended["ended_at"] is not None
    # Ten days of leave: June's tranche falls on June 11, and so on to the last one.
    v = vesting(api, "eve", "2026-06-10")
    assert (v["vested"], v["next_vesting_date"]) == (400, "2026-06-11")
    assert v["schedule"][-1] == {"date": "2027-01-11", "units": 100, "cumulative": 1200}
    assert_problem(api.post(f"/partners/eve/pauses/{pause['id']}/end", {"end": "2026-06-30"}), 409, "end")
    assert_problem(api.post(f"/partners/dana/pauses/{pause['id']}/end", {"end": "2026-06-30"}), 404)
    assert_problem(api.post("/partners/eve/pauses/999/end", {"end": "2026-06-30"}), 404)


def test_a_close_after_a_pause_posts_the_shifted_vesting_and_verify_holds(api):
    api.ok("POST", "/partners/eve/pauses", {"start": "2026-02-01", "end": "2026-02-10"}, status=201)
    close_through(api, "2026-01", "2026-02", "2026-03")
    assert vesting(api, "eve", "2026-03-31")["vested"] == 0
    close_through(api, "2026-04", "2026-05")
    entries = api.ok("GET", "/ledger/entries?account=Equity:Units:Vested:Eve")["items"]
    assert [(e["date"], [p["amount"] for p in e["postings"] if p["account"] == "Equity:Units:Vested:Eve"])
            for e in entries] == [("2026-04-11", ["-300"]), ("2026-05-11", ["-100"])]
    balances = {(b["account"], b["commodity"]): b["balance"] for b in api.trial_balance()}
    assert balances[("Equity:Units:Vested:Eve", "UNITS")] == "-400"
    assert balances[("Equity:Units:Unvested:Eve", "UNITS")] == "-800"
    assert vesting(api, "eve", "2026-05-31")["vested"] == 400
    report = api.ok("GET", "/ledger/verify")
    assert report["ok"] is True, report


def test_an_acceleration_vests_at_once_and_is_taken_from_the_next_tranches(api):
    acc = api.ok("POST", "/partners/eve/accelerations",
                 {"date": "2026-04-15", "quantity": 150, "reason": "Signed the anchor client"}, status=201)
    assert (acc["partner"], acc["date"], acc["quantity"], acc["reason"]) == (
        "eve", "2026-04-15", 150, "Signed the anchor client")
    v = vesting(api, "eve", "2026-04-15")
    assert (v["vested"], v["unvested"], v["next_vesting_date"]) == (450, 750, "2026-06-01")
    assert v["schedule"][:4] == [
        {"date": "2026-04-01", "units": 300, "cumulative": 300},
        {"date": "2026-04-15", "units": 150, "cumulative": 450},
        {"date": "2026-06-01", "units": 50, "cumulative": 500},
        {"date": "2026-07-01", "units": 100, "cumulative": 600},
    ]
    assert v["schedule"][-1] == {"date": "2027-01-01", "units": 100, "cumulative": 1200}
    close_through(api, "2026-01", "2026-02", "2026-03", "2026-04")
    balances = {(b["account"], b["commodity"]): b["balance"] for b in api.trial_balance()}
    assert balances[("Equity:Units:Vested:Eve", "UNITS")] == "-450"
    assert api.ok("GET", "/ledger/verify")["ok"] is True


def test_a_repeated_request_with_its_idempotency_key_records_one_pause(api, founded):
    body = {"start": "2026-06-01", "end": "2026-06-30"}
    first = api.post("/partners/eve/pauses", body, key="leave-1")
    again = api.post("/partners/eve/pauses", body, key="leave-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.get_json() == first.get_json()
    assert counts(founded)[0] == 1
    assert_problem(api.post("/partners/eve/pauses", {**body, "end": "2026-06-29"}, key="leave-1"), 409)


# --- bad input: 422 or 409, naming the field, nothing written ----------------------------------

BAD = [
    # (path, body, status, field)
    ("/partners/eve/pauses", {"start": "2025-12-31"}, 422, "start"),                      # before the grant
    ("/partners/eve/pauses", {"start": "2026-03-10", "end": "2026-03-01"}, 422, "end"),   # ends before it starts
    ("/partners/eve/pauses", {"start": "2026-05-10", "end": "2026-05-20"}, 422, "start"),  # inside pause 1
    ("/partners/eve/pauses", {"start": "2026-04-20", "end": "2026-05-01"}, 422, "end"),    # runs into pause 1
    ("/partners/eve/pauses", {"start": "2026-04-20"}, 422, "end"),                         # open, runs into it
    ("/partners/ana/pauses", {"start": "2026-03-01"}, 422, "partner"),                     # founder's units
    ("/partners/eve/pauses", {"start": "2026-01-15"}, 409, "start"),                       # January is closed
    ("/partners/eve/pauses", {"start": "March"}, 422, "start"),
    ("/partners/eve/pauses", {"start": "9999-01-01"}, 422, "start"),
    ("/partners/eve/pauses", {}, 422, "start"),
    ("/partners/zed/pauses", {"start": "2026-03-01"}, 404, None),
    ("/partners/eve/accelerations", {"date": "2026-04-15", "quantity": 901, "reason": "r"}, 422, "quantity"),
    ("/partners/eve/accelerations", {"date": "2027-02-01", "quantity": 1, "reason": "r"}, 422, "quantity"),  # all vested
    ("/partners/eve/accelerations", {"date": "2025-12-01", "quantity": 10, "reason": "r"}, 422, "date"),
    ("/partners/eve/accelerations", {"date": "2026-01-31", "quantity": 10, "reason": "r"}, 409, "date"),
    ("/partners/eve/accelerations", {"date": "2026-04-15", "quantity": 0, "reason": "r"}, 422, "quantity"),
    ("/partners/eve/accelerations", {"date": "2026-04-15", "quantity": "10", "reason": "r"}, 422, "quantity"),
    ("/partners/eve/accelerations", {"date": "2026-04-15", "quantity": 10.5, "reason": "r"}, 422, "quantity"),
    ("/partners/eve/accelerations", {"date": "2026-04-15", "quantity": 10}, 422, "reason"),
    ("/partners/eve/accelerations", {"date": "2026-04-15", "quantity": 10, "reason": " "}, 422, "reason"),
    ("/partners/eve/accelerations", {"date": "2026-04-15", "quantity": 10, "reason": "r", "grant": 1}, 422, "grant"),
    ("/partners/ana/accelerations", {"date": "2026-04-15", "quantity": 10, "reason": "r"}, 422, "quantity"),
]


@pytest.mark.parametrize("path,body,status,field", BAD)
def test_bad_input_is_refused_naming_the_field_and_writes_nothing(api, founded, path, body, status, field):
    close_through(api, "2026-01")
    api.ok("POST", "/partners/eve/pauses", {"start": "2026-05-01", "end": "2026-05-31"}, status=201)
    before = counts(founded)
    assert_problem(api.post(path, body), status, field)
    assert counts(founded) == before


def test_an_acceleration_that_would_starve_a_later_one_is_refused(api, founded):
    # 900 is all that is unvested on 2026-04-15; 100 more earlier leaves too little for it.
    api.ok("POST", "/partners/eve/accelerations", {"date": "2026-04-15", "quantity": 900, "reason": "all"}, status=201)
    before = counts(founded)
    body = assert_problem(api.post("/partners/eve/accelerations",
                                   {"date": "2026-04-02", "quantity": 100, "reason": "more"}), 422, "quantity")
    assert "900" in " ".join(body["errors"]["quantity"])
    assert counts(founded) == before


def test_ending_a_pause_must_not_reach_back_into_a_closed_period(api, founded):
    pause = api.ok("POST", "/partners/eve/pauses", {"start": "2026-02-01"}, status=201)
    close_through(api, "2026-01", "2026-02", "2026-03")
    before = counts(founded)
    assert_problem(api.post(f"/partners/eve/pauses/{pause['id']}/end", {"end": "2026-03-30"}), 409, "end")
    assert_problem(api.post(f"/partners/eve/pauses/{pause['id']}/end", {"end": "2026-01-31"}), 422, "end")
    assert counts(founded) == before
    # The last closed day is fine: ending the pause changes vesting only from the day after.
    api.ok("POST", f"/partners/eve/pauses/{pause['id']}/end", {"end": "2026-03-31"}, status=200)
    v = vesting(api, "eve", "2026-06-30")  # 59 days of leave: April's cliff falls on May 30
    assert (v["vested"], v["next_vesting_date"]) == (400, "2026-07-30")
    assert [e["date"] for e in v["schedule"][:2]] == ["2026-05-30", "2026-06-29"]
    close_through(api, "2026-04", "2026-05", "2026-06", "2026-07")
    assert vesting(api, "eve", "2026-07-31")["vested"] == 500
    assert api.ok("GET", "/ledger/verify")["ok"] is True


@pytest.mark.parametrize("role", ["partner", "dana"])
def test_only_a_treasurer_or_admin_records_events(as_dana, role):
    api = as_dana
    assert_problem(api.post("/partners/dana/pauses", {"start": "2026-03-01"}, role=role), 403)
    assert_problem(api.post("/partners/dana/accelerations", {"date": "2026-03-01", "quantity": 1, "reason": "r"},
                            role=role), 403)
    assert api.post("/partners/dana/pauses", {"start": "2026-03-01"}, role="admin").status_code == 201


@pytest.mark.parametrize("path", ["/api/v1/partners/{code}/grants", "/api/v1/partners/{code}/pauses",
                                  "/api/v1/partners/{code}/pauses/{pause_id}/end",
                                  "/api/v1/partners/{code}/accelerations"])
def test_the_openapi_document_describes_the_equity_routes(api, path):
    doc = api.ok("GET", "/openapi.json", role=None)
    assert path in doc["paths"], path


def test_the_openapi_document_counts_an_acceleration_in_whole_units(api):
    doc = api.ok("GET", "/openapi.json", role=None)
    assert doc["components"]["schemas"]["AccelerationIn"]["properties"]["quantity"]["type"] == "integer"
