"""The charter: a TOML file that founds the partnership (CONTRACT §2).

``load_charter(text)`` parses and validates it whole — marshmallow for the shape of each table,
then the rules across tables (ownership sums to 100%, owners are partners, codes unique) — and
raises one ``ValidationError`` whose ``errors`` name every problem by its TOML path
(``practices[1].owners``). Nothing is written until the whole charter is known good.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal

from marshmallow import RAISE, fields, validate, validates_schema
from marshmallow import ValidationError as MmError

from ledger.core.codes import PROPOSAL_KINDS
from ledger.core.errors import ValidationError
from ledger.core.money import MoneyError, format_percent, is_currency, parse_percent
from ledger.core.vetting import VETTING_CRITERIA
from ledger.schema import (
    MAX_GRANT_UNITS,
    Code,
    Email,
    GrantSchema,
    Int,
    Pattern,
    Percent,
    Strict,
    Text,
    Threshold,
    TomlDate,
    flatten_errors,
)

#: The most partners, practices or firms a charter may list.
MAX_ROWS = 1000
DEFAULT_RULE = {"weighting": "member", "quorum": Decimal("0.5"), "threshold": "majority", "of": "cast",
                "min_open_hours": 24}


def _currency(code: str) -> None:
    """An ISO 4217 code with minor units (``core.money.is_currency``); anything else refuses the charter."""
    if not is_currency(code):
        raise MmError(f"{code!r} is not an ISO 4217 currency with minor units, such as USD, JPY or BHD")


class PartnershipSchema(Strict):
    name = Text(required=True, max_length=200)
    currency = fields.String(required=True, validate=[Pattern(r"^[A-Z]{3}$", error="a 3-letter ISO code like USD"),
                                                      _currency])
    period = fields.String(required=True, validate=validate.OneOf(["month", "quarter"]))
    starts_on = TomlDate(required=True)
    open_books = fields.Boolean(load_default=False, truthy={True}, falsy={False})


class PartnerSchema(Strict):
    code = Code(required=True)
    name = Text(required=True, max_length=200)
    email = Email(required=True)
    units = Int(minimum=1, maximum=MAX_GRANT_UNITS)
    grant = fields.Nested(GrantSchema)

    @validates_schema
    def _units_or_grant(self, data, **kwargs):
        if ("units" in data) == ("grant" in data):
            raise MmError("give either units (founder) or a grant, not both or neither", "units")


class PracticeSchema(Strict):
    code = Code(required=True)
    name = Text(required=True, max_length=200)
    owners = fields.Dict(keys=Code(), values=Percent(), required=True)


class PolicySchema(Strict):
    origination = Percent(required=True)
    practice = Percent(required=True)
    pool_basis = fields.String(required=True, validate=validate.OneOf(["vested_units", "equal"]))

    @validates_schema
    def _sum(self, data, **kwargs):
        if "origination" in data and "practice" in data and data["origination"] + data["practice"] > 1:
            raise MmError("origination and practice together exceed 100%", "practice")


class RuleSchema(Strict):
    weighting = fields.String(required=True, validate=validate.OneOf(["member", "units"]))
    quorum = Percent(required=True)
    threshold = Threshold(required=True)
    of = fields.String(required=True, validate=validate.OneOf(["cast", "eligible"]))
    min_open_hours = Int(load_default=24, minimum=0, maximum=24 * 366)


class SuccessionSchema(Strict):
    goodwill_multiple = fields.Decimal(required=True, as_string=False, allow_nan=False, places=None,
                                       validate=validate.Range(min=0, max=100))
    lookback_periods = Int(required=True, minimum=1, maximum=120)
    installments = Int(required=True, minimum=1, maximum=120)


class FirmSchema(Strict):
    code = Code(required=True)
    name = Text(required=True, max_length=200)
    vetted = fields.List(fields.String(validate=validate.OneOf(VETTING_CRITERIA)), load_default=list,
                         validate=validate.Length(max=len(VETTING_CRITERIA)))
    nsa_signed_on = TomlDate(load_default=None)
    nsa_expires_on = TomlDate(load_default=None)

    @validates_schema
    def _nsa(self, data, **kwargs):
        s, e = data.get("nsa_signed_on"), data.get("nsa_expires_on")
        if (s is None) != (e is None):
            raise MmError("give both nsa_signed_on and nsa_expires_on, or neither", "nsa_expires_on")
        if s and e and e <= s:
            raise MmError("the agreement expires before it is signed", "nsa_expires_on")


class CharterSchema(Strict):
    partnership = fields.Nested(PartnershipSchema, required=True)
    partners = fields.List(fields.Nested(PartnerSchema), required=True, validate=validate.Length(min=1, max=MAX_ROWS))
    practices = fields.List(fields.Nested(PracticeSchema), load_default=list, validate=validate.Length(max=MAX_ROWS))
    policy = fields.Nested(PolicySchema, required=True)
    governance = fields.Dict(keys=fields.String(validate=validate.OneOf(PROPOSAL_KINDS)),
                             values=fields.Nested(RuleSchema), load_default=dict)
    succession = fields.Nested(SuccessionSchema, load_default=lambda: {
        "goodwill_multiple": Decimal("1.0"), "lookback_periods": 4, "installments": 4})
    firms = fields.List(fields.Nested(FirmSchema), load_default=list, validate=validate.Length(max=MAX_ROWS))

    class Meta:
        unknown = RAISE


def _cross_checks(raw: dict) -> dict[str, list[str]]:
    """Rules across tables, run on the raw TOML so they are reported together with the shape
    errors; values that failed their own field are skipped here (already reported)."""
    errors: dict[str, list[str]] = {}

    def add(path, msg):
        errors.setdefault(path, []).append(msg)

    def items(table):
        value = raw.get(table, [])
        return [x if isinstance(x, dict) else {} for x in value] if isinstance(value, list) else []

    def dupes(table, key, norm=lambda v: v):
        seen: dict = {}
        for i, item in enumerate(items(table)):
            value = item.get(key)
            if not isinstance(value, str):
                continue
            if norm(value) in seen:
                add(f"{table}[{i}].{key}", f"duplicate {key} {value!r} (also {table}[{seen[norm(value)]}])")
            else:
                seen[norm(value)] = i

    dupes("partners", "code")
    dupes("partners", "email", str.lower)
    dupes("practices", "code")
    dupes("firms", "code")
    codes = {p.get("code") for p in items("partners")}
    for i, practice in enumerate(items("practices")):
        owners = practice.get("owners")
        if not isinstance(owners, dict):
            continue
        if not owners:
            add(f"practices[{i}].owners", "a practice needs at least one owner")
            continue
        total, exact = Decimal(0), True
        for code, share in owners.items():
            if code not in codes:
                add(f"practices[{i}].owners.{code}", f"unknown partner {code!r}")
            try:
                value = parse_percent(share)
            except MoneyError:
                exact = False
                continue
            if value <= 0:
                add(f"practices[{i}].owners.{code}", "an owner's share must be more than 0%")
            total += value
        if exact and total != 1:
            add(f"practices[{i}].owners", f"ownership must sum to exactly 100% (it sums to {format_percent(total)})")
    return errors


def load_charter(text: str) -> dict:
    """Parse and validate a charter; return plain values or raise with every problem listed."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"the charter is not valid TOML: {exc}", {"charter": [str(exc)]}) from exc
    errors = _cross_checks(raw)
    try:
        charter = CharterSchema().load(raw)
    except MmError as exc:
        for path, msgs in flatten_errors(exc.messages).items():
            errors.setdefault(path, []).extend(msgs)
    if errors:
        raise ValidationError(_summary(errors), errors)
    charter["governance"] = {kind: charter["governance"].get(kind, DEFAULT_RULE) for kind in PROPOSAL_KINDS}
    return charter


def _summary(errors: dict[str, list[str]]) -> str:
    lines = [f"{path}: {msg}" for path, msgs in sorted(errors.items()) for msg in msgs]
    return "the charter is refused:\n  " + "\n  ".join(lines)

