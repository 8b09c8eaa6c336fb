"""A form per proposal kind, its payload as fields (never raw JSON).

Each form's ``payload()`` turns the fields into the kind's payload exactly as the API takes it
(``ledger/governance/payloads.py``); the governance service checks it, and its errors
(``payload.grant.units``, ``payload.owners.ben``…) come back beside these fields through
``forms.save`` and each form's ``ALIASES``. Choices (partners, practices, periods) are filled
per request by ``fill(session)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from flask_wtf import FlaskForm
from wtforms import (
    FieldList,
    FormField,
    HiddenField,
    RadioField,
    SelectField,
)
from wtforms import Form as PlainForm
from wtforms.fields import EmailField, StringField
from wtforms.validators import InputRequired, Optional

from ledger.auth.service import EMAIL_RE
from ledger.core.codes import PROPOSAL_KINDS
from ledger.core.tally import THRESHOLD_PATTERN
from ledger.db import clock_of
from ledger.journal.periods import open_period_ids
from ledger.practices.service import active_partners, list_practices
from ledger.runtime.database import get_session
from ledger.schema import EMAIL_MAX, MAX_GRANT_MONTHS, MAX_GRANT_UNITS
from ledger.web.forms import (
    AsciiDateTimeField,
    CodeField,
    DayField,
    FullMatch,
    IntField,
    LongTextField,
    TextField,
    TextRule,
    options,
)

PERCENT_RE = r"^[0-9]{1,3}(\.[0-9]{1,6})?%?$"
PERCENT_MSG = "a percentage such as 60 or 62.5"


def _percent(text: str | None) -> str | None:
    """``"60"`` or ``"60%"`` → ``"60%"`` (the payload's form); blank → ``None``."""
    text = (text or "").strip()
    if not text:
        return None
    return text if text.endswith("%") else f"{text}%"


def default_closes_at() -> dt.datetime:
    """A week from now on the services' clock (the form's default, in UTC to the minute)."""
    now = clock_of(get_session()).now().replace(second=0, microsecond=0, tzinfo=None)
    return now + dt.timedelta(days=7)


class ProposalForm(FlaskForm):
    """What every proposal has: a title and when voting closes (UTC)."""

    KIND = ""
    ALIASES: dict[str, str] = {}

    title = TextField("Title")
    closes_at = AsciiDateTimeField("Voting closes (UTC)", [InputRequired()], format="%Y-%m-%dT%H:%M",
                                   default=default_closes_at)

    def fill(self, session) -> None:
        """Fill the choices from the database (override)."""

    #: Each kind's form defines ``payload() -> dict``: its fields as the kind's JSON payload.
    payload: Callable[[], dict]

    def closes_at_utc(self) -> dt.datetime:
        return self.closes_at.data.replace(tzinfo=dt.UTC)


class OwnerShare(PlainForm):
    partner = HiddenField()
    share = StringField("Share", [Optional(), FullMatch(PERCENT_RE, PERCENT_MSG)],
                        render_kw={"inputmode": "decimal", "placeholder": "0"})


class AddPracticeForm(ProposalForm):
    KIND = "add_practice"
    code = CodeField("Practice code", description="a-z, 0-9 and -, e.g. cloud")
    name = TextField("Practice name")
    owners = FieldList(FormField(OwnerShare), label="Ownership (leave blank for partners who do not own it)")
    ALIASES = {"payload.owners": "owners"}

    def fill(self, session) -> None:
        partners = active_partners(session)
        typed = {row.form.partner.data: row.form.share.data for row in self.owners.entries}
        self.names = {p.code: p.name for p in partners}
        while self.owners.entries:
            self.owners.pop_entry()
        for p in partners:
            self.owners.append_entry({"partner": p.code, "share": typed.get(p.code) or ""})

    def payload(self) -> dict:
        owners = {row.form.partner.data: _percent(row.form.share.data) for row in self.owners.entries
                  if _percent(row.form.share.data)}
        return {"code": self.code.data, "name": self.name.data, "owners": owners}


class AdmitPartnerForm(ProposalForm):
    KIND = "admit_partner"
    code = CodeField("Partner code", description="their id everywhere, e.g. eve")
    name = TextField("Full name")
    email = EmailField("Email", [InputRequired(), TextRule(EMAIL_MAX), FullMatch(EMAIL_RE, "an email address")])
    grant_units = IntField("Units granted", 1, MAX_GRANT_UNITS)
    grant_start = DayField("Vesting starts")
    grant_cliff_months = IntField("Cliff (months)", 0, MAX_GRANT_MONTHS, default=12)
    grant_months = IntField("Vesting period (months)", 1, MAX_GRANT_MONTHS, default=48)
    grant_every = IntField("Vests every (months)", 1, MAX_GRANT_MONTHS, default=1)
    ALIASES = {"payload.grant": "grant_units"}

    def payload(self) -> dict:
        return {"code": self.code.data, "name": self.name.data, "email": self.email.data, "grant": {
            "units": self.grant_units.data, "start": self.grant_start.data.isoformat(),
            "cliff_months": self.grant_cliff_months.data, "months": self.grant_months.data,
            "every": self.grant_every.data}}


class ChangePolicyForm(ProposalForm):
    KIND = "change_policy"
    origination = StringField("Origination share", [InputRequired(), FullMatch(PERCENT_RE, PERCENT_MSG)],
                              description="% of each engagement's net margin to its originator")
    practice = StringField("Practice share", [InputRequired(), FullMatch(PERCENT_RE, PERCENT_MSG)],
                           description="% to the practice's owners; the rest goes to the common pool")
    pool_basis = SelectField("Pool split", choices=options([("vested_units", "by vested units"), ("equal", "equally")]))
    effective_period = SelectField("From period")

    def fill(self, session) -> None:
        self.effective_period.choices = open_period_ids(session)

    def payload(self) -> dict:
        return {"origination": _percent(self.origination.data), "practice": _percent(self.practice.data),
                "pool_basis": self.pool_basis.data, "effective_period": self.effective_period.data}


class RetirePartnerForm(ProposalForm):
    KIND = "retire_partner"
    partner = SelectField("Partner retiring")
    effective_period = SelectField("At the close of")
    successors = FieldList(FormField(type("Successor", (PlainForm,), {
        "practice": HiddenField(), "partner": SelectField("Successor", validate_choice=False)})),
        label="Successor for each practice the partner owns")
    ALIASES = {"payload.successors": "successors", "payload.partner": "partner"}

    def fill(self, session) -> None:
        partners = active_partners(session)
        self.partner.choices = options((p.code, f"{p.name} ({p.code})") for p in partners)
        self.effective_period.choices = open_period_ids(session)
        practices = list_practices(session)
        self.practice_names = {p.code: p.name for p in practices}
        typed = {row.form.practice.data: row.form.partner.data for row in self.successors.entries}
        while self.successors.entries:
            self.successors.pop_entry()
        for practice in practices:
            self.successors.append_entry({"practice": practice.code, "partner": typed.get(practice.code) or ""})
        for row in self.successors.entries:
            row.form.partner.choices = options([("", "— not needed —")] + [(p.code, p.name) for p in partners])

    def payload(self) -> dict:
        successors = {row.form.practice.data: row.form.partner.data for row in self.successors.entries
                      if row.form.partner.data}
        return {"partner": self.partner.data, "effective_period": self.effective_period.data,
                "successors": successors}


class AmendVestingForm(ProposalForm):
    KIND = "amend_vesting"
    partner = SelectField("Partner")
    action = SelectField("Change", choices=options([("pause", "pause vesting from the date"),
                                                    ("resume", "resume vesting from the date"),
                                                    ("accelerate", "vest units at once on the date")]))
    date = DayField("Date")
    units = IntField("Units", 1, MAX_GRANT_UNITS, required=False, description="for an acceleration only")
    reason = TextField("Reason", max_length=500)

    def fill(self, session) -> None:
        self.partner.choices = options((p.code, f"{p.name} ({p.code})") for p in active_partners(session))

    def payload(self) -> dict:
        out = {"partner": self.partner.data, "action": self.action.data, "date": self.date.data.isoformat(),
               "reason": self.reason.data}
        if self.units.data is not None:
            out["units"] = self.units.data
        return out


class ResolutionForm(ProposalForm):
    KIND = "resolution"
    text = LongTextField("Resolution text")

    def payload(self) -> dict:
        return {"text": self.text.data}


class ChangeGovernanceForm(ProposalForm):
    KIND = "change_governance"
    rule_kind = SelectField("For proposals that", choices=options((k, k.replace("_", " ")) for k in PROPOSAL_KINDS))
    weighting = SelectField("Votes weigh", choices=options([("member", "one per partner"), ("units", "by vested units")]))
    quorum = StringField("Quorum", [InputRequired(), FullMatch(PERCENT_RE, PERCENT_MSG)], default="50",
                         description="% of the eligible weight that must vote")
    threshold = StringField("Threshold", [InputRequired(), FullMatch(THRESHOLD_PATTERN, "majority, or a fraction such as 2/3")],
                            default="majority",
                            description="majority, or a fraction such as 2/3")
    of = SelectField("Threshold of", choices=options([("cast", "votes cast (yes + no)"), ("eligible", "all eligible weight")]))
    ALIASES = {"payload.kind": "rule_kind"}

    def payload(self) -> dict:
        return {"kind": self.rule_kind.data, "weighting": self.weighting.data, "quorum": _percent(self.quorum.data),
                "threshold": self.threshold.data.strip(), "of": self.of.data}


FORMS: dict[str, type[ProposalForm]] = {f.KIND: f for f in (
    AddPracticeForm, AdmitPartnerForm, ChangePolicyForm, RetirePartnerForm, AmendVestingForm, ResolutionForm,
    ChangeGovernanceForm)}


class VoteForm(FlaskForm):
    choice = RadioField("Your vote", [InputRequired()], choices=options([("yes", "Yes"), ("no", "No"), ("abstain", "Abstain")]))


class DelegateForm(FlaskForm):
    """Whom a partner's vote goes to when they do not vote themselves."""

    to = SelectField("Delegate my vote to", validate_choice=False)

    def fill(self, session, me_code: str) -> DelegateForm:
        self.to.choices = options((p.code, p.name) for p in active_partners(session) if p.code != me_code)
        return self


class ActionForm(FlaskForm):
    """A button that POSTs (close, cancel): only the CSRF token."""
