"""Proposals on the web: the list, one proposal, a form per kind (payload fields, not JSON), votes,
closing and the tally, withdrawing."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from helpers.web import field_error, text

from ledger.governance.models import Proposal, Vote
from ledger.governance.service import open_proposal
from ledger.practices.models import Practice
from ledger.practices.service import get_partner
from ledger.runtime.database import get_session

CLOSES = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")


def _count(app, model) -> int:
    from sqlalchemy import func, select

    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(model))


def _proposal(app, proposal_id) -> tuple[dict, dict]:
    """``({kind, status}, payload)`` of a stored proposal."""
    with app.app_context():
        p = get_session().get(Proposal, proposal_id)
        return {"kind": p.kind, "status": p.status}, json.loads(p.payload)


@pytest.fixture
def resolution(web):
    """An open resolution proposed by ben; ana, ben and chen may vote."""
    with web.app_context():
        s = get_session()
        p = open_proposal(s, get_partner(s, "ben"), "resolution", "Adopt a dress code", {"text": "Ties on Fridays."},
                          dt.datetime.now(dt.UTC) + dt.timedelta(days=3))
        s.commit()
        return p.id


def test_the_kind_chooser_offers_every_kind(web, ana):
    page = text(ana.get("/proposals/new"))
    for label in ("Add a practice", "Admit a partner", "Change the sharing policy", "Retire a partner",
                  "Resolution", "Change a voting rule"):
        assert label in page


@pytest.mark.parametrize("kind, fields", [
    ("add_practice", ["code", "name", "owners-0-share", "owners-1-share", "owners-2-share"]),
    ("admit_partner", ["code", "name", "email", "grant_units", "grant_start", "grant_cliff_months", "grant_months",
                       "grant_every"]),
    ("change_policy", ["origination", "practice", "pool_basis", "effective_period"]),
    ("retire_partner", ["partner", "effective_period", "successors-0-partner", "successors-1-partner"]),
    ("resolution", ["text"]),
    ("change_governance", ["rule_kind", "weighting", "quorum", "threshold", "of"]),
])
def test_each_kind_has_a_form_with_its_payload_fields(web, ana, kind, fields):
    html = ana.get(f"/proposals/new/{kind}").get_data(as_text=True)
    for name in ["title", "closes_at", *fields]:
        assert f'name="{name}"' in html, name
    assert "payload" not in re.findall(r'name="([^"]+)"', html)


def test_an_unknown_kind_is_a_404_and_the_treasurer_cannot_propose(web, ana, treasurer):
    assert ana.get("/proposals/new/make_me_king").status_code == 404
    assert treasurer.get("/proposals/new/resolution").status_code == 403
    assert treasurer.post("/proposals/new/resolution", data={"title": "x", "text": "y"}).status_code == 403


def test_propose_a_practice_with_its_owners(web, ana):
    response = ana.post("/proposals/new/add_practice", data={
        "title": "Add a cloud practice", "closes_at": CLOSES, "code": "cloud", "name": "Cloud & Infrastructure",
        "owners-0-partner": "ana", "owners-0-share": "40", "owners-1-partner": "ben", "owners-1-share": "60%",
        "owners-2-partner": "chen", "owners-2-share": ""})
    assert response.status_code == 302
    proposal_id = int(response.headers["Location"].rsplit("/", 1)[1])
    p, payload = _proposal(web, proposal_id)
    assert p == {"kind": "add_practice", "status": "open"}
    assert payload == {"code": "cloud", "name": "Cloud & Infrastructure", "owners": {"ana": "40%", "ben": "60%"}}
    page = text(ana.get(response.headers["Location"]))
    assert "Add a cloud practice" in page and "ana 40%" in page and "ben 60%" in page
    assert "The proposal is open for votes." in page


def test_ownership_that_does_not_add_up_is_shown_beside_the_owners(web, ana):
    response = ana.post("/proposals/new/add_practice", data={
        "title": "Add cloud", "closes_at": CLOSES, "code": "cloud", "name": "Cloud",
        "owners-0-partner": "ana", "owners-0-share": "40", "owners-1-partner": "ben", "owners-1-share": "50",
        "owners-2-partner": "chen", "owners-2-share": ""})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'id="field-owners".*must sum to exactly 100%', html, flags=re.S)
    assert 'value="40"' in html and 'value="50"' in html and 'value="Add cloud"' in html
    assert _count(web, Proposal) == 0


@pytest.mark.parametrize("change, field, message", [
    ({"code": "msft"}, "code", "already exists"),
    ({"code": "Not A Code"}, "code", "2 to 32 of a-z"),
    ({"title": ""}, "title", "This field is required"),
    ({"closes_at": "2020-01-01T00:00"}, "closes_at", "must be in the future"),
    ({"closes_at": "tomorrow"}, "closes_at", "Not a valid datetime"),
    ({"owners-0-share": "eighty"}, "owners-0-share", "a percentage such as"),
])
def test_a_refused_proposal_keeps_the_form_and_opens_nothing(web, ana, change, field, message):
    data = {"title": "Add cloud", "closes_at": CLOSES, "code": "cloud", "name": "Cloud",
            "owners-0-partner": "ana", "owners-0-share": "100", "owners-1-partner": "ben", "owners-1-share": "",
            "owners-2-partner": "chen", "owners-2-share": "", **change}
    response = ana.post("/proposals/new/add_practice", data=data)
    assert response.status_code == 422
    if field.startswith("owners-"):
        html = response.get_data(as_text=True)
        assert re.search(rf'id="{field}".*?{message}', html, flags=re.S)
    else:
        assert message in field_error(response, field), text(response)
    assert _count(web, Proposal) == 0


def test_propose_to_admit_a_partner(web, ana):
    response = ana.post("/proposals/new/admit_partner", data={
        "title": "Admit Dana", "closes_at": CLOSES, "code": "dana", "name": "Dana Reyes", "email": "dana@example.com",
        "grant_units": "4800", "grant_start": "2026-02-01", "grant_cliff_months": "12", "grant_months": "48",
        "grant_every": "1"})
    assert response.status_code == 302, text(response)
    _, payload = _proposal(web, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert payload["grant"] == {"units": 4800, "start": "2026-02-01", "cliff_months": 12, "months": 48, "every": 1}


def test_an_email_already_in_use_is_refused_beside_the_email(web, ana):
    response = ana.post("/proposals/new/admit_partner", data={
        "title": "Admit Ben again", "closes_at": CLOSES, "code": "ben2", "name": "Ben", "email": "ben@example.com",
        "grant_units": "10", "grant_start": "2026-02-01", "grant_cliff_months": "0", "grant_months": "12",
        "grant_every": "1"})
    assert response.status_code == 422
    assert "already in use" in field_error(response, "email")


def test_propose_a_policy_change_and_a_retirement(web, ana):
    response = ana.post("/proposals/new/change_policy", data={
        "title": "More for origination", "closes_at": CLOSES, "origination": "15", "practice": "55%",
        "pool_basis": "equal", "effective_period": "2026-03"})
    assert response.status_code == 302, text(response)
    _, payload = _proposal(web, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert payload == {"origination": "15%", "practice": "55%", "pool_basis": "equal", "effective_period": "2026-03"}

    form = ana.get("/proposals/new/retire_partner").get_data(as_text=True)
    assert "Microsoft 365" in form and "Phone Systems" in form
    response = ana.post("/proposals/new/retire_partner", data={
        "title": "Chen retires", "closes_at": CLOSES, "partner": "chen", "effective_period": "2026-02",
        "successors-0-practice": "msft", "successors-0-partner": "",
        "successors-1-practice": "voice", "successors-1-partner": "ben"})
    assert response.status_code == 302, text(response)
    _, payload = _proposal(web, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert payload == {"partner": "chen", "effective_period": "2026-02", "successors": {"voice": "ben"}}
    page = text(ana.get(response.headers["Location"]))
    assert "voice → ben" in page and "chen" not in page.split("Electorate")[1].split("Vote")[0]


def test_a_missing_successor_is_shown_beside_its_practice(web, ana):
    # ana owns msft alone, so it needs a successor (voice is co-owned and may pass to its other owner).
    response = ana.post("/proposals/new/retire_partner", data={
        "title": "Ana retires", "closes_at": CLOSES, "partner": "ana", "effective_period": "2026-02",
        "successors-0-practice": "msft", "successors-0-partner": "",
        "successors-1-practice": "voice", "successors-1-partner": ""})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'id="successors-0-partner".*?practice msft needs a successor', html, flags=re.S)
    assert _count(web, Proposal) == 0


def test_propose_a_resolution_and_a_voting_rule(web, ana):
    response = ana.post("/proposals/new/resolution", data={"title": "Dress code", "closes_at": CLOSES,
                                                           "text": "Ties on Fridays.\nNot on Mondays."})
    assert response.status_code == 302
    response = ana.post("/proposals/new/change_governance", data={
        "title": "Two thirds to add a practice", "closes_at": CLOSES, "rule_kind": "add_practice",
        "weighting": "units", "quorum": "60", "threshold": "2/3", "of": "cast"})
    assert response.status_code == 302, text(response)
    _, payload = _proposal(web, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert payload == {"kind": "add_practice", "weighting": "units", "quorum": "60%", "threshold": "2/3", "of": "cast"}


# --- voting and closing ----------------------------------------------------------------------------


def test_the_list_and_the_detail_show_the_frozen_electorate(web, resolution, ana):
    page = text(ana.get("/proposals/"))
    assert "Adopt a dress code" in page and "0 of 3 voted" in page
    assert "Adopt a dress code" in text(ana.get("/proposals/?status=open"))
    assert "Adopt a dress code" not in text(ana.get("/proposals/?status=passed"))
    assert ana.get("/proposals/?status=bogus").status_code == 404
    page = text(ana.get(f"/proposals/{resolution}"))
    assert "Electorate" in page and "weight 3" in page and "Ties on Fridays." in page
    assert "Cast my vote" in page and "Close and tally" in page


def test_vote_change_the_vote_and_close_once_everyone_has_voted(web, resolution, as_user):
    ana, ben, chen = as_user("ana"), as_user("ben"), as_user("chen")
    assert ana.post(f"/proposals/{resolution}/vote", data={"choice": "no"}).status_code == 302
    page = text(ana.get(f"/proposals/{resolution}"))
    assert "Your vote (no) is recorded." in page and "Change my vote" in page
    ana.post(f"/proposals/{resolution}/vote", data={"choice": "yes"})
    early = ben.post(f"/proposals/{resolution}/close")
    assert early.status_code == 302
    assert "eligible voter(s) have not voted" in text(ben.get(f"/proposals/{resolution}"))
    ben.post(f"/proposals/{resolution}/vote", data={"choice": "yes"})
    chen.post(f"/proposals/{resolution}/vote", data={"choice": "abstain"})
    assert _count(web, Vote) == 4
    chen.post(f"/proposals/{resolution}/close")
    page = text(chen.get(f"/proposals/{resolution}"))
    assert "The proposal is closed: it passed." in page
    assert "Passed" in page and "Yes 2" in page and "No 0" in page and "Abstain 1" in page
    assert re.search(r"ana 1 yes .*ben 1 yes .*chen 1 abstain", page)
    late = ana.post(f"/proposals/{resolution}/vote", data={"choice": "no"})
    assert late.status_code == 302
    assert "voting is over" in text(ana.get(f"/proposals/{resolution}"))
    assert _count(web, Vote) == 4


def test_a_passed_practice_proposal_adds_the_practice(web, as_user):
    ana = as_user("ana")
    location = ana.post("/proposals/new/add_practice", data={
        "title": "Add cloud", "closes_at": CLOSES, "code": "cloud", "name": "Cloud",
        "owners-0-partner": "ana", "owners-0-share": "100", "owners-1-partner": "ben", "owners-1-share": "",
        "owners-2-partner": "chen", "owners-2-share": ""}).headers["Location"]
    for who in ("ana", "ben", "chen"):
        as_user(who).post(f"{location}/vote", data={"choice": "yes"})
    ana.post(f"{location}/close")
    assert "practice:cloud" in text(ana.get(location))
    assert _count(web, Practice) == 3
    assert "Cloud" in text(ana.get("/practices"))


def test_the_treasurer_may_close_but_not_vote(web, resolution, treasurer):
    assert treasurer.post(f"/proposals/{resolution}/vote", data={"choice": "yes"}).status_code == 403
    page = text(treasurer.get(f"/proposals/{resolution}"))
    assert "Only partners in the electorate vote." in page and "Close and tally" in page


def test_a_partner_outside_the_electorate_cannot_vote(web, as_user):
    with web.app_context():
        s = get_session()
        p = open_proposal(s, get_partner(s, "ana"), "retire_partner", "Chen retires",
                          {"partner": "chen", "effective_period": "2026-02", "successors": {"voice": "ben"}},
                          dt.datetime.now(dt.UTC) + dt.timedelta(days=3))
        s.commit()
        proposal_id = p.id
    chen = as_user("chen")
    assert "You are not in this proposal's electorate." in text(chen.get(f"/proposals/{proposal_id}"))
    chen.post(f"/proposals/{proposal_id}/vote", data={"choice": "no"})
    assert "not in this proposal's electorate" in text(chen.get(f"/proposals/{proposal_id}"))
    assert _count(web, Vote) == 0


def test_an_empty_vote_is_refused(web, resolution, ana):
    ana.post(f"/proposals/{resolution}/vote", data={})
    assert "Choose yes, no or abstain." in text(ana.get(f"/proposals/{resolution}"))
    assert _count(web, Vote) == 0


def test_the_proposer_withdraws_before_any_vote(web, resolution, as_user):
    ana, ben = as_user("ana"), as_user("ben")
    assert "Withdraw" in text(ben.get(f"/proposals/{resolution}"))
    assert "Withdraw" not in text(ana.get(f"/proposals/{resolution}"))
    ana.post(f"/proposals/{resolution}/cancel")
    assert "only the proposer may cancel" in text(ana.get(f"/proposals/{resolution}"))
    ben.post(f"/proposals/{resolution}/cancel")
    page = text(ben.get(f"/proposals/{resolution}"))
    assert "The proposal is canceled." in page and "Canceled" in page


@pytest.mark.parametrize("path", ["/proposals/999", "/proposals/0", "/proposals/abc"])
def test_an_unknown_proposal_is_a_404_page(web, ana, path):
    assert ana.get(path).status_code == 404


@pytest.mark.parametrize("action", ["vote", "close", "cancel"])
def test_an_action_on_an_unknown_proposal_is_a_404_page(web, ana, action):
    response = ana.post(f"/proposals/999/{action}", data={"choice": "yes"})
    assert response.status_code == 404 and "no proposal 999" in text(response)
