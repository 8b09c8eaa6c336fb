"""Each proposal kind's payload schema (marshmallow), checked when the proposal opens.

These check the payload's own shape with ``ledger.schema``'s fields (the one text rule, codes
matched whole, bounded integers and dates); whether its effect can still apply (a code already
taken, a period already closed) is checked again at execution, where a failure fails the proposal.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate, validates_schema
from marshmallow import ValidationError as MmError

from ledger.core.codes import PROPOSAL_KINDS, VESTING_ACTIONS
from ledger.core.money import format_percent
from ledger.schema import Code, Email, GrantSchema, Int, Percent, PeriodId, Text, Threshold, TomlDate

#: The most owners a practice, or successors a retirement, may name.
MAX_ENTRIES = 100
#: The longest minimum voting time a rule may set: a year.
MAX_OPEN_HOURS = 24 * 366


class Strict(Schema):
    class Meta:
        unknown = RAISE


class IsoDate(TomlDate):
    """A JSON date string ``YYYY-MM-DD``."""


class GrantPayload(GrantSchema):
    start = IsoDate(required=True)


class AddPractice(Strict):
    code = Code(required=True)
    name = Text(required=True, max_length=200)
    owners = fields.Dict(keys=Code(), values=Percent(), required=True,
                         validate=validate.Length(min=1, max=MAX_ENTRIES))

    @validates_schema
    def _sum(self, data, **kwargs):
        owners = data.get("owners") or {}
        if owners and sum(owners.values()) != 1:
            raise MmError(f"ownership must sum to exactly 100% (it sums to {format_percent(sum(owners.values()))})", "owners")
        if any(v <= 0 for v in owners.values()):
            raise MmError("every owner's share must be more than 0%", "owners")


class AdmitPartner(Strict):
    code = Code(required=True)
    name = Text(required=True, max_length=200)
    email = Email(required=True)
    grant = fields.Nested(GrantPayload, required=True)


class ChangePolicy(Strict):
    origination = Percent(required=True)
    practice = Percent(required=True)
    pool_basis = fields.String(required=True, validate=validate.OneOf(["vested_units", "equal"]))
    effective_period = PeriodId(required=True)

    @validates_schema
    def _sum(self, data, **kwargs):
        if "origination" in data and "practice" in data and data["origination"] + data["practice"] > 1:
            raise MmError("origination and practice together exceed 100%", "practice")


class RetirePartner(Strict):
    partner = Code(required=True)
    effective_period = PeriodId(required=True)
    successors = fields.Dict(keys=Code(), values=Code(), load_default=dict, validate=validate.Length(max=MAX_ENTRIES))


class AmendVesting(Strict):
    """A pause, a resumption or an acceleration of a partner's vesting: it changes who votes and
    with what weight, so it is the partnership's decision (CONTRACT §7)."""

    partner = Code(required=True)
    action = fields.String(required=True, validate=validate.OneOf(VESTING_ACTIONS))
    date = IsoDate(required=True)
    units = Int(minimum=1, maximum=10**9)
    reason = Text(required=True, max_length=500)

    @validates_schema
    def _units(self, data, **kwargs):
        if data.get("action") == "accelerate" and "units" not in data:
            raise MmError("an acceleration says how many units vest on its date", "units")
        if data.get("action") in ("pause", "resume") and "units" in data:
            raise MmError("only an acceleration takes units", "units")


class Resolution(Strict):
    text = Text(required=True, max_length=5000, multiline=True)


class ChangeGovernance(Strict):
    kind = fields.String(required=True, validate=validate.OneOf(PROPOSAL_KINDS))
    weighting = fields.String(required=True, validate=validate.OneOf(["member", "units"]))
    quorum = Percent(required=True)
    threshold = Threshold(required=True)
    of = fields.String(required=True, validate=validate.OneOf(["cast", "eligible"]))
    min_open_hours = Int(minimum=0, maximum=MAX_OPEN_HOURS)


SCHEMAS: dict[str, type[Schema]] = {
    "add_practice": AddPractice, "admit_partner": AdmitPartner, "change_policy": ChangePolicy,
    "retire_partner": RetirePartner, "amend_vesting": AmendVesting, "resolution": Resolution,
    "change_governance": ChangeGovernance,
}
