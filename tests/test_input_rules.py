"""No input breaks the server, and every surface refuses alike (issue 15, items 4, 5 and 10).

- One text rule (``core.text.text_problem``) for every string field: API bodies, proposal
  payloads, the charter, web forms, the importer. A NUL (PostgreSQL cannot store it), a lone
  surrogate (no engine can encode it), any control character, a blank required text: a 422 naming
  the field, never a 500 and never stored.
- Codes are matched whole: ``"acme\\n"`` is not ``acme``.
- Amounts, percentages, dates and counts are ASCII digits (CONTRACT §7: ``"１０"`` is a 422).
- Integers are bounded: a grant of ``10**30`` units or a ``10**9``-month cliff would open and then
  fail every close after it, so the vote refuses it when it opens.

Refusals are checked on the module's shared API (``shared``): nothing refused writes anything.
"""

from __future__ import annotations

import datetime as dt

import pytest
from charters import WORKED_CHARTER
from helpers.api import assert_problem
from helpers.web import count_rows, field_error

from ledger.core.errors import ValidationError
from ledger.core.text import fits, text_problem
from ledger.governance.models import Proposal
from ledger.partnership.charter import load_charter
from ledger.practices.models import Client

LATER = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).replace(microsecond=0).isoformat()

BAD_TEXT = [
    ("a\u0000b", "a NUL"),
    ("\ud800", "a lone high surrogate"),
    ("end \udfff", "a lone low surrogate"),
    ("bell\u0007", "a BEL"),
    ("\u001b[31mred", "an ANSI escape"),
    ("del\u007f", "a DEL"),
    ("c1\u0085", "a C1 control"),
    ("two\nlines", "a line break"),
    ("trailing newline\n", "a trailing newline"),
    ("tab\there", "a tab"),
    ("   ", "blank"),
    ("", "empty"),
]


# --- the rule itself -------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "why"), BAD_TEXT, ids=[why for _, why in BAD_TEXT])
def test_the_text_rule_refuses(value, why):
    assert text_problem(value) is not None, why


@pytest.mark.parametrize("value", ["Acme Dental", "Zoë & Søn — naïve café", "日本語の名前", "emoji 🙂", "x" * 200])
def test_the_text_rule_takes_real_names(value):
    assert text_problem(value) is None


def test_multiline_text_takes_line_breaks_but_no_other_control():
    assert text_problem("first\nsecond\r\n\tthird", multiline=True) is None
    assert text_problem("a\u0000b", multiline=True) is not None
    assert text_problem("\ud800", multiline=True) is not None


def test_bounds_and_optional_text():
    assert text_problem("x" * 201) == "at most 200 characters"
    assert text_problem("", min_length=0) is None
    assert text_problem(None) == "must be text"


@pytest.mark.parametrize(("pattern", "text", "fits_"), [
    (r"^[a-z0-9-]{2,32}$", "acme", True),
    (r"^[a-z0-9-]{2,32}$", "acme\n", False),  # re.match with $ would take it
    (r"^[0-9]{4}$", "٢٠٢٦", False),  # \d would take it
    (r"^\d{4}$", "٢٠٢٦", False),  # fits reads \d as ASCII
    (r"^\d{4}$", "2026", True),
])
def test_codes_are_matched_whole_in_ascii(pattern, text, fits_):
    assert fits(pattern, text) is fits_


# --- the API ---------------------------------------------------------------------------------------

INVOICE = {"amount": "10.00", "date": "2026-02-01"}
#: (path, a good body, the text field, the role that may send it)
TEXT_FIELDS = [
    ("/clients", {"code": "zeta", "name": "Zeta"}, "name", "treasurer"),
    ("/firms", {"code": "zfirm", "name": "Z Firm"}, "name", "treasurer"),
    ("/engagements", {"ref": "ENG-9", "client": "acme", "practice": "msft", "originator": "ana",
                      "title": "T", "opened_on": "2026-02-01"}, "title", "treasurer"),
    ("/engagements/ENG-1/invoices", {**INVOICE, "memo": "m"}, "memo", "treasurer"),
    ("/engagements/ENG-1/costs", {**INVOICE, "kind": "expense", "memo": "m"}, "memo", "treasurer"),
    ("/overhead", {**INVOICE, "category": "rent", "memo": "m"}, "memo", "treasurer"),
    ("/ledger/entries", {"date": "2026-02-01", "memo": "m", "postings": [
        {"account": "Assets:Cash", "amount": "1.00"}, {"account": "Equity:Capital:Ana", "amount": "-1.00"}]},
     "memo", "treasurer"),
    ("/ledger/entries/1/reverse", {"memo": "m"}, "memo", "treasurer"),
    ("/proposals", {"kind": "resolution", "title": "T", "payload": {"text": "x"}, "closes_at": LATER},
     "title", "partner"),
]
#: Optional texts may be empty (or blank); they refuse the rest of BAD_TEXT.
OPTIONAL = {("/engagements/ENG-1/invoices", "memo"), ("/engagements/ENG-1/costs", "memo"), ("/overhead", "memo"),
            ("/ledger/entries/1/reverse", "memo")}


def state(api) -> tuple:
    return (api.trial_balance(), api.entry_count(), api.ok("GET", "/clients"), api.ok("GET", "/firms"),
            api.ok("GET", "/engagements"), len(api.ok("GET", "/proposals")), api.ok("GET", "/partners/ana/grants"))


TEXT_CASES = [(path, body, field, role, value, why) for path, body, field, role in TEXT_FIELDS for value, why in BAD_TEXT
              if value.strip() or (path, field) not in OPTIONAL]


@pytest.mark.parametrize(("path", "body", "field", "role", "value", "why"), TEXT_CASES,
                         ids=[f"{p} {f} {why}" for p, _, f, _, _, why in TEXT_CASES])
def test_every_api_text_field_refuses_what_the_text_rule_refuses(shared, path, body, field, role, value, why):
    before = state(shared)
    assert_problem(shared.post(path, {**body, field: value}, role=role), 422, field)
    assert state(shared) == before


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/clients", {"code": "acme2\n", "name": "A"}, "code"),
    ("/clients", {"code": "ACME", "name": "A"}, "code"),
    ("/payments", {"client": "acme\n", "amount": "1.00", "date": "2026-02-01"}, "client"),
    ("/engagements", {"ref": "ENG-9\n", "client": "acme", "practice": "msft", "originator": "ana", "title": "T",
                      "opened_on": "2026-02-01"}, "ref"),
    ("/ledger/accounts", {"name": "Assets:Cash2\n", "commodities": ["USD"]}, "name"),
    ("/ledger/accounts", {"name": "Assets:Cash2", "commodities": ["USD\n"]}, "commodities[0]"),
    ("/ledger/entries", {"date": "2026-02-01", "memo": "m", "postings": [
        {"account": "Assets:Cash", "amount": "1.00"}]}, "postings"),
])
def test_codes_are_matched_whole_and_entries_need_two_postings(shared, path, body, field):
    before = state(shared)
    assert_problem(shared.post(path, body), 422, field)
    assert state(shared) == before


def _proposal(kind_: str, payload: dict, **extra) -> dict:
    return {"kind": kind_, "title": "A vote", "payload": payload, "closes_at": LATER, **extra}


GRANT = {"units": 1000, "start": "2026-02-01", "cliff_months": 12, "months": 48, "every": 1}
ADMIT = {"code": "dee", "name": "Dee", "email": "dee@example.com", "grant": GRANT}


@pytest.mark.parametrize(("body", "field"), [
    (_proposal("admit_partner", {**ADMIT, "grant": {**GRANT, "units": 10**30}}), "payload.grant.units"),
    (_proposal("admit_partner", {**ADMIT, "grant": {**GRANT, "units": 10**9 + 1}}), "payload.grant.units"),
    (_proposal("admit_partner", {**ADMIT, "grant": {**GRANT, "cliff_months": 10**9}}), "payload.grant.cliff_months"),
    (_proposal("admit_partner", {**ADMIT, "grant": {**GRANT, "months": 1201, "cliff_months": 0}}),
     "payload.grant.months"),
    (_proposal("admit_partner", {**ADMIT, "grant": {**GRANT, "every": 49}}), "payload.grant.every"),
    (_proposal("admit_partner", {**ADMIT, "grant": {**GRANT, "units": "1000"}}), "payload.grant.units"),
    (_proposal("admit_partner", {**ADMIT, "grant": {**GRANT, "units": True}}), "payload.grant.units"),
    (_proposal("admit_partner", {**ADMIT, "grant": {**GRANT, "start": "0001-01-01"}}), "payload.grant.start"),
    (_proposal("admit_partner", {**ADMIT, "grant": {**GRANT, "start": "٢٠٢٦-٠٢-٠١"}}), "payload.grant.start"),
    (_proposal("admit_partner", {**ADMIT, "name": "Dee\u0000"}), "payload.name"),
    (_proposal("admit_partner", {**ADMIT, "name": "\ud800"}), "payload.name"),
    (_proposal("admit_partner", {**ADMIT, "email": "dee\u0000@example.com"}), "payload.email"),
    (_proposal("admit_partner", {**ADMIT, "code": "dee\n"}), "payload.code"),
    (_proposal("add_practice", {"code": "cloud", "name": "\ud800", "owners": {"ana": "100%"}}), "payload.name"),
    (_proposal("add_practice", {"code": "cloud", "name": "Cloud", "owners": {"ana": "１００%"}}), "payload.owners"),
    (_proposal("add_practice", {"code": "cloud", "name": "Cloud", "owners": {"ana\n": "100%"}}), "payload.owners"),
    (_proposal("resolution", {"text": "a\u0000b"}), "payload.text"),
    (_proposal("resolution", {"text": "\udfff"}), "payload.text"),
    (_proposal("change_policy", {"origination": "10%", "practice": "٥٠%", "pool_basis": "equal",
                                 "effective_period": "2026-02"}), "payload.practice"),
    (_proposal("change_policy", {"origination": "10%", "practice": "50%", "pool_basis": "equal",
                                 "effective_period": "0000-01\n"}), "payload.effective_period"),
    (_proposal("change_governance", {"kind": "resolution", "weighting": "member", "quorum": "50%",
                                     "threshold": "٢/٣", "of": "cast"}), "payload.threshold"),
    (_proposal("resolution", {"text": "x"}, kind="no_such_kind"), "kind"),
    (_proposal("resolution", {"text": "x"}, closes_at="9999-12-31T23:59:59-14:00"), "closes_at"),
    (_proposal("resolution", {"text": "x"}, closes_at="2026-06-01T00:00:00"), "closes_at"),
])
def test_a_proposal_refuses_out_of_bound_and_broken_payloads_when_it_opens(shared, body, field):
    before = state(shared)
    problem = assert_problem(shared.post("/proposals", body, role="partner"), 422)
    assert any(key == field or key.startswith(field + ".") for key in problem["errors"]), problem
    assert state(shared) == before


def test_a_resolution_may_run_over_several_lines(shared):
    created = shared.post("/proposals", _proposal("resolution", {"text": "Whereas…\n\nResolved: a retreat."}),
                          role="partner")
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["payload"]["text"].count("\n") == 2


# --- the charter -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new", "path"), [
    ('name = "Ana"', 'name = "Ana\\u0000"', "partners[0].name"),
    ('name = "Ana"', 'name = "   "', "partners[0].name"),
    ('code = "ana"', 'code = "ana\\n"', "partners[0].code"),
    ("units = 500", "units = 1000000000000000000", "partners[0].units"),
])
def test_the_charter_takes_the_same_rules(old, new, path):
    assert old in WORKED_CHARTER, old
    with pytest.raises(ValidationError) as refused:
        load_charter(WORKED_CHARTER.replace(old, new, 1))
    assert path in refused.value.errors, refused.value.errors


# --- the web app -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "field"), [
    ({"code": "zeta", "name": "Ze\u0000ta"}, "name"),
    ({"code": "zeta", "name": "\u001b[2J"}, "name"),
    ({"code": "zeta", "name": "   "}, "name"),
    ({"code": "zeta\n", "name": "Zeta"}, "code"),
])
def test_web_text_and_code_fields_take_the_same_rules(web, treasurer, data, field):
    response = treasurer.post("/clients", data=data)
    assert response.status_code == 422
    assert field_error(response, field)
    assert count_rows(web, Client) == 0


@pytest.mark.parametrize("amount", ["１０", "١٢٣.٤٥", "12.٥"])
def test_a_web_amount_in_other_digits_is_refused(worked_january, treasurer, amount):
    response = treasurer.post("/invoices/new", data={"engagement": "e2", "amount": amount, "date": "2026-01-25"})
    assert response.status_code == 422
    assert "an amount such as" in field_error(response, "amount")


@pytest.mark.parametrize(("change", "field"), [
    ({"grant_units": "١٠٠٠"}, "grant_units"),
    ({"grant_units": "10000000000"}, "grant_units"),
    ({"grant_cliff_months": "1000000000"}, "grant_cliff_months"),
    ({"grant_start": "٢٠٢٦-٠٢-٠١"}, "grant_start"),
    ({"name": "Dee\u0000"}, "name"),
    ({"email": "dee\u0000@example.com"}, "email"),
    ({"closes_at": "٢٠٣٠-01-01T00:00"}, "closes_at"),
])
def test_web_proposal_fields_take_the_same_bounds(web, ana, change, field):
    data = {"title": "Admit Dee", "closes_at": "2031-01-01T00:00", "code": "dee", "name": "Dee",
            "email": "dee@example.com", "grant_units": "1000", "grant_start": "2026-02-01",
            "grant_cliff_months": "12", "grant_months": "48", "grant_every": "1", **change}
    response = ana.post("/proposals/new/admit_partner", data=data)
    assert response.status_code == 422
    assert field_error(response, field)
    assert count_rows(web, Proposal) == 0


@pytest.mark.parametrize("url", [
    "/ledger/entries?account=Assets:Cash%00", "/ledger/entries?account=%ED%A0%80", "/ledger/entries?account=Assets:Cash%0A",
    "/ledger/entries?before=%00", "/ledger/entries?before=%D9%A1", "/ledger/entries?from=%00&to=2026-13-01",
    "/ledger/trial-balance?as_of=%00", "/engagements?practice=%00", "/proposals/?status=%00",
    "/invoices/new?engagement=%00", "/draws/new?partner=%00", "/payments/new?client=%00",
    "/costs/new?engagement=%00&date=%00", "/login?next=%00",
])
def test_no_query_string_breaks_a_web_page(web, treasurer, url):
    """Query strings reach a web page's reads unchecked by any form: a NUL (which PostgreSQL cannot
    even compare) or a broken UTF-8 sequence is a refusal or ignored, never a 500."""
    response = treasurer.get(url)
    assert response.status_code in (200, 302, 404, 422), (url, response.status_code)
