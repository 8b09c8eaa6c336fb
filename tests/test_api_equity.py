"""Grants, and the vesting amendments a vote makes (pauses, resumptions, accelerations), through
the HTTP API, and what they do to ``GET /partners/{code}/vesting``, to the period close and to
``verify``. No role changes vesting directly (CONTRACT §7): an ``amend_vesting`` proposal does,
once it passes; the partner concerned does not vote on it.

The partnership is the worked example plus two new entrants:
- dana: 4,800 units from 2026-01-01, a 12-month cliff, 48 months monthly (the domain docs' example);
- eve: 1,200 units from 2026-01-01, a 3-month cliff, 12 months monthly (300 on 2026-04-01, then
  100 on the 1st of each month).
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from charters import API_ENTRANTS, with_partners
from helpers.api import assert_problem

from ledger.auth.service import create_token, get_user
from ledger.equity.models import VestingAcceleration, VestingPause
from ledger.governance.models import Proposal
from ledger.journal.models import Entry
from ledger.runtime.database import get_session

ELECTORS = ("partner", "ben", "chen")  # ana (the ``partner`` token), ben and chen hold vested units


@pytest.fixture
def founded(app, runner, tmp_path):
    """Overrides conftest's: the worked example with dana and eve (``api`` and ``tokens`` use it)."""
    path = tmp_path / "charter.toml"
    path.write_text(with_partners(API_ENTRANTS))
    result = runner.invoke(args=["init", str(path)])
    assert result.exit_code == 0, result.output
    return app


@pytest.fixture
def api(api, founded):
    """``api`` with tokens for ben, chen and dana too (``api.tokens[code]``)."""
    with founded.app_context():
        s = get_session()
        for code in ("ben", "chen", "dana", "eve"):
            api.tokens[code] = create_token(s, get_user(s, f"{code}@example.com"))
        s.commit()
    return api


as_dana = api  # the tests that read as dana say so


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


def closes_at() -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()


def proposal(partner: str, action: str, date: str, units: int | None = None, reason: str = "the partnership agreed",
             **extra) -> dict:
    payload = {"partner": partner, "action": action, "date": date, "reason": reason, **extra}
    if units is not None:
        payload["units"] = units
    return {"kind": "amend_vesting", "title": f"{action} {partner}", "payload": payload, "closes_at": closes_at()}


def amend(api, partner: str, action: str, date: str, units: int | None = None, reason: str = "the partnership agreed"):
    """Propose a vesting amendment, every elector votes yes, close it: the passed proposal."""
    opened = api.ok("POST", "/proposals", proposal(partner, action, date, units, reason), role="partner", status=201)
    for voter in [e["partner"] for e in opened["electorate"]]:
        api.ok("POST", f"/proposals/{opened['id']}/votes", {"choice": "yes"},
               role="partner" if voter == "ana" else voter, status=201)
    closed = api.ok("POST", f"/proposals/{opened['id']}/close", role="treasurer", status=200)
    assert closed["status"] == "passed", closed
    return closed


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
    amend(api, "dana", "pause", "2026-03-01", reason="parental")
    amend(api, "dana", "resume", "2026-03-11")
    amend(api, "dana", "accelerate", "2027-01-15", 250, reason="Led the migration")
    grants = api.ok("GET", "/partners/dana/grants", role="dana")
    [grant] = grants
    assert {k: grant[k] for k in ("kind", "units", "start", "cliff_months", "months", "every")} == {
        "kind": "grant", "units": 4800, "start": "2026-01-01", "cliff_months": 12, "months": 48, "every": 1}
    [pause] = grant["pauses"]
    assert (pause["partner"], pause["start"], pause["end"], pause["reason"]) == ("dana", "2026-03-01", "2026-03-10",
                                                                                 "parental")
    [acc] = grant["accelerations"]
    assert (acc["grant"], acc["date"], acc["quantity"], acc["reason"]) == (grant["id"], "2027-01-15", 250,
                                                                           "Led the migration")
    assert api.ok("GET", "/partners/dana/grants", role="admin") == grants
    assert_problem(api.get("/partners/dana/grants", role="partner"), 403)  # ana is not dana
    assert_problem(api.get("/partners/zed/grants"), 404)
    [founder] = api.ok("GET", "/partners/ana/grants", role="partner")
    assert (founder["kind"], founder["units"], founder["months"], founder["pauses"]) == ("founder", 500, 0, [])


# --- pauses ------------------------------------------------------------------------------------


def test_a_pause_shifts_the_schedule_seen_through_the_api(as_dana):
    api = as_dana
    amend(api, "dana", "pause", "2026-03-01")
    amend(api, "dana", "resume", "2026-03-11")
    v = vesting(api, "dana", "2027-01-10", role="dana")
    assert (v["vested"], v["next_vesting_date"]) == (0, "2027-01-11")
    assert [e["date"] for e in v["schedule"][:3]] == ["2027-01-11", "2027-02-11", "2027-03-11"]
    assert v["schedule"][-1] == {"date": "2030-01-11", "units": 100, "cumulative": 4800}
    assert vesting(api, "dana", "2027-01-11")["vested"] == 1200
    assert vesting(api, "dana", "2030-01-10")["vested"] == 4700


def test_an_open_pause_stops_vesting_until_it_is_resumed(api):
    amend(api, "eve", "pause", "2026-05-15")
    [pause] = api.ok("GET", "/partners/eve/grants")[0]["pauses"]
    assert (pause["end"], pause["ended_at"]) == (None, None)
    v = vesting(api, "eve", "2030-01-01")
    assert (v["vested"], v["unvested"], v["next_vesting_date"]) == (400, 800, None)
    amend(api, "eve", "resume", "2026-05-25")
    [ended] = api.ok("GET", "/partners/eve/grants")[0]["pauses"]
    assert (ended["id"], ended["end"]) == (pause["id"], "2026-05-24")
    assert ended["ended_at"] is not None
    # Ten days of leave: June's tranche falls on June 11, and so on to the last one.
    v = vesting(api, "eve", "2026-06-10")
    assert (v["vested"], v["next_vesting_date"]) == (400, "2026-06-11")
    assert v["schedule"][-1] == {"date": "2027-01-11", "units": 100, "cumulative": 1200}
    # Nothing left to resume: refused when proposed, naming the field.
    assert_problem(api.post("/proposals", proposal("eve", "resume", "2026-06-30"), role="partner"), 422,
                   "payload.partner")


def test_a_close_after_a_pause_posts_the_shifted_vesting_and_verify_holds(api):
    amend(api, "eve", "pause", "2026-02-01")
    amend(api, "eve", "resume", "2026-02-11")
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
    amend(api, "eve", "accelerate", "2026-04-15", 150, reason="Signed the anchor client")
    [acc] = api.ok("GET", "/partners/eve/grants")[0]["accelerations"]
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


def test_the_partner_concerned_does_not_vote_and_nothing_changes_until_it_passes(api, founded):
    # eve holds vested units today (her grant is nearly all vested), but not on her own amendment.
    opened = api.ok("POST", "/proposals", proposal("eve", "accelerate", "2026-04-15", 150), role="partner", status=201)
    assert "eve" not in [e["partner"] for e in opened["electorate"]]
    assert_problem(api.post(f"/proposals/{opened['id']}/votes", {"choice": "yes"}, role="eve"), 403)
    assert counts(founded)[:2] == (0, 0)  # open is not passed: the schedule is unchanged
    for voter in ("partner", "ben", "chen"):
        api.ok("POST", f"/proposals/{opened['id']}/votes", {"choice": "no"}, role=voter, status=201)
    assert api.ok("POST", f"/proposals/{opened['id']}/close", status=200)["status"] == "failed"
    assert counts(founded)[:2] == (0, 0)


# --- bad input: 422 when proposed, naming the field, nothing written --------------------------

BAD = [
    # (partner, action, date, units, extra payload, field)
    ("eve", "pause", "2025-12-31", None, {}, "payload.date"),                # before the grant
    ("eve", "pause", "2026-05-10", None, {}, "payload.date"),                # inside the pause of May
    ("ana", "pause", "2026-03-01", None, {}, "payload.partner"),             # founder's units
    ("eve", "pause", "2026-01-15", None, {}, "payload.date"),                # January is closed
    ("eve", "pause", "March", None, {}, "payload.date"),
    ("eve", "pause", "9999-01-01", None, {}, "payload.date"),
    ("zed", "pause", "2026-03-01", None, {}, "payload.partner"),
    ("eve", "pause", "2026-07-01", 10, {}, "payload.units"),                 # only an acceleration has units
    ("eve", "accelerate", "2026-04-15", 901, {}, "payload.units"),
    ("eve", "accelerate", "2027-02-01", 1, {}, "payload.units"),             # all vested by then
    ("eve", "accelerate", "2025-12-01", 10, {}, "payload.date"),
    ("eve", "accelerate", "2026-01-31", 10, {}, "payload.date"),             # January is closed
    ("eve", "accelerate", "2026-04-15", 0, {}, "payload.units"),
    ("eve", "accelerate", "2026-04-15", "10", {}, "payload.units"),
    ("eve", "accelerate", "2026-04-15", 10.5, {}, "payload.units"),
    ("eve", "accelerate", "2026-04-15", None, {}, "payload.units"),          # how many?
    ("eve", "accelerate", "2026-04-15", 10, {"reason": " "}, "payload.reason"),
    ("eve", "accelerate", "2026-04-15", 10, {"reason": ""}, "payload.reason"),
    ("ana", "accelerate", "2026-04-15", 10, {}, "payload.units"),            # founder's units: all vested
    ("eve", "stop", "2026-04-15", None, {}, "payload.action"),
]


@pytest.mark.parametrize("partner,action,date,units,extra,field", BAD)
def test_a_bad_amendment_is_refused_when_proposed_naming_the_field(api, founded, partner, action, date, units, extra,
                                                                   field):
    close_through(api, "2026-01")
    amend(api, "eve", "pause", "2026-05-01")
    amend(api, "eve", "resume", "2026-06-01")
    before = counts(founded), _proposals(founded)
    body = proposal(partner, action, date, reason=extra.get("reason", "r"))
    if units is not None:
        body["payload"]["units"] = units
    assert_problem(api.post("/proposals", body, role="partner"), 422, field)
    assert (counts(founded), _proposals(founded)) == before


def _proposals(app) -> int:
    with app.app_context():
        return get_session().scalar(sa.select(sa.func.count()).select_from(Proposal))


def test_an_acceleration_that_would_starve_a_later_one_is_refused(api, founded):
    # 900 is all that is unvested on 2026-04-15; 100 more earlier leaves too little for it.
    amend(api, "eve", "accelerate", "2026-04-15", 900, reason="all")
    before = counts(founded)
    body = assert_problem(api.post("/proposals", proposal("eve", "accelerate", "2026-04-02", 100, reason="more"),
                                   role="partner"), 422, "payload.units")
    assert "900" in " ".join(body["errors"]["payload.units"])
    assert counts(founded) == before


def test_an_amendment_that_became_impossible_fails_its_vote_with_the_reason(api, founded):
    opened = api.ok("POST", "/proposals", proposal("eve", "pause", "2026-02-10"), role="partner", status=201)
    close_through(api, "2026-01", "2026-02")  # the pause would now reach into a closed period
    for voter in ELECTORS:
        api.ok("POST", f"/proposals/{opened['id']}/votes", {"choice": "yes"}, role=voter, status=201)
    closed = api.ok("POST", f"/proposals/{opened['id']}/close", status=200)
    assert closed["status"] == "failed" and "closed period" in closed["reason"]
    assert counts(founded)[:2] == (0, 0)


def test_resuming_must_not_reach_back_into_a_closed_period(api, founded):
    amend(api, "eve", "pause", "2026-02-01")
    close_through(api, "2026-01", "2026-02", "2026-03")
    before = counts(founded)
    assert_problem(api.post("/proposals", proposal("eve", "resume", "2026-03-31"), role="partner"), 422, "payload.date")
    assert_problem(api.post("/proposals", proposal("eve", "resume", "2026-02-01"), role="partner"), 422, "payload.date")
    assert counts(founded) == before
    # Resuming the day after the last closed day is fine: vesting changes only from then.
    amend(api, "eve", "resume", "2026-04-01")
    v = vesting(api, "eve", "2026-06-30")  # 59 days of leave: April's cliff falls on May 30
    assert (v["vested"], v["next_vesting_date"]) == (400, "2026-07-30")
    assert [e["date"] for e in v["schedule"][:2]] == ["2026-05-30", "2026-06-29"]
    close_through(api, "2026-04", "2026-05", "2026-06", "2026-07")
    assert vesting(api, "eve", "2026-07-31")["vested"] == 500
    assert api.ok("GET", "/ledger/verify")["ok"] is True


@pytest.mark.parametrize("path", ["/partners/dana/pauses", "/partners/dana/pauses/1/end", "/partners/dana/accelerations"])
@pytest.mark.parametrize("role", ["treasurer", "admin", "partner"])
def test_no_role_changes_vesting_directly(api, founded, path, role):
    body = {"start": "2026-03-01", "end": "2026-03-01", "date": "2026-03-01", "quantity": 1, "reason": "r"}
    assert api.post(path, body, role=role).status_code in (404, 405)
    assert counts(founded)[:2] == (0, 0)


def test_the_openapi_document_describes_grants_and_the_amendment_kind(api):
    doc = api.ok("GET", "/openapi.json", role=None)
    assert "/api/v1/partners/{code}/grants" in doc["paths"]
    assert not [p for p in doc["paths"] if p.endswith(("/pauses", "/accelerations", "/end"))]
