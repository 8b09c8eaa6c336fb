"""Marshmallow fields and schemas for every input the product takes (API bodies, the charter, proposal
payloads), strict on the way in.

- ``Money``: a JSON *string* with at most the currency's minor units (``"12000.00"``, ``"5"``). A JSON
  number is refused (it may already have lost the cents it claims to carry), so are more decimals,
  exponents and anything that is not a plain decimal. ``positive=True`` also refuses zero and below.
  Dumps a ``Decimal`` with exactly its places.
- ``Date``: ISO ``YYYY-MM-DD`` only (Python's ``fromisoformat`` alone would take ``20260101`` and
  ``2026-W01-1``).
- ``Code``: a partner/practice/client/firm/category code, ``[a-z0-9-]{2,32}``.
- ``Text``: a bounded, single-line human text. Control characters and lone surrogates are refused
  here because PostgreSQL cannot store a NUL and neither engine can encode a lone surrogate: left
  to the database they would be a 500.
- ``AccountName``: a Beancount-style account name, checked by the journal's own rule.

Each field's pattern and bounds appear in the OpenAPI document, so a generated client (and
schemathesis) knows the shape before it sends anything.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from marshmallow import RAISE, Schema, fields, validate, validates_schema
from marshmallow import ValidationError as MmError

from ledger.core.codes import CODE_RE, NO_CONTROL_RE, REF_RE
from ledger.core.entries import ACCOUNT_RE
from ledger.core.money import MAX_PLACES, MoneyError, parse_percent
from ledger.core.tally import parse_threshold

#: Largest magnitude an amount may have: a trillion, well inside the BIGINT of ten-thousandths.
MAX_AMOUNT = Decimal(10) ** 12
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Money(fields.String):
    """A decimal amount given as a string; see the module docstring."""

    default_error_messages = {
        "not_string": 'give money as a JSON string such as "12.50", not a number',
        "invalid": 'not a decimal amount such as "12.50"',
        "places": "at most {places} decimal places",
        "too_large": "must be less than 1000000000000 in magnitude",
        "positive": "must be greater than 0",
    }

    def __init__(self, *, positive: bool = False, places: int = MAX_PLACES, **kwargs):
        self.positive = positive
        self.places = places
        sign = "" if positive else "-?"
        metadata = {
            "pattern": rf"^{sign}\d{{1,12}}(\.\d{{1,{places}}})?$",
            "example": "1200.00",
            "description": "an amount as a string"
            + (", greater than 0" if positive else ", signed (debit positive)"),
            **kwargs.pop("metadata", {}),
        }
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> Decimal:
        if not isinstance(value, str):
            raise self.make_error("not_string")
        match = re.fullmatch(r"(-?)(\d+)(?:\.(\d+))?", value)
        if match is None:
            raise self.make_error("invalid")
        if match.group(3) is not None and len(match.group(3)) > self.places:
            raise self.make_error("places", places=self.places)
        amount = Decimal(value)
        if abs(amount) >= MAX_AMOUNT:
            raise self.make_error("too_large")
        if self.positive and amount <= 0:
            raise self.make_error("positive")
        return amount

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None or isinstance(value, str):
            return value
        # An amount goes out with exactly its currency's places, which only the view knows.
        raise TypeError(f"{attr}: format the amount with its currency (core.money.fmt) before it goes out")


class Date(fields.Date):
    """An ISO date ``YYYY-MM-DD``, nothing looser."""

    default_error_messages = {"invalid": "not a date like 2026-01-31"}

    def _deserialize(self, value, attr, data, **kwargs) -> dt.date:
        if not isinstance(value, str) or not DATE_RE.match(value):
            raise self.make_error("invalid")
        try:
            return dt.date.fromisoformat(value)
        except ValueError as exc:
            raise self.make_error("invalid") from exc


class Text(fields.String):
    """Bounded single-line text: no control characters, no lone surrogates."""

    default_error_messages = {"encoding": "contains characters that are not valid Unicode text"}

    def __init__(self, *, max_length: int = 200, min_length: int = 1, **kwargs):
        validators = [
            validate.Length(min=min_length, max=max_length),
            validate.Regexp(NO_CONTROL_RE, error="must not contain control characters"),
        ]
        super().__init__(validate=validators, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise self.make_error("encoding") from exc
        return text


class Code(fields.String):
    """A code such as ``ana`` or ``voice``: ``[a-z0-9-]{2,32}``."""

    def __init__(self, **kwargs):
        super().__init__(validate=validate.Regexp(CODE_RE, error="a code of 2-32 characters a-z, 0-9 and -"),
                         metadata={"example": "voice", **kwargs.pop("metadata", {})}, **kwargs)


class Ref(fields.String):
    """An engagement reference chosen by the caller: letters, digits, ``.``, ``_``, ``-``; ≤ 64."""

    def __init__(self, **kwargs):
        super().__init__(validate=validate.Regexp(REF_RE, error="1-64 characters A-Z, a-z, 0-9, '.', '_' and '-'"),
                         metadata={"example": "ENG-2026-001", **kwargs.pop("metadata", {})}, **kwargs)


class AccountName(fields.String):
    """A Beancount-style account name (``Assets:Cash``), at most 200 characters."""

    def __init__(self, **kwargs):
        super().__init__(
            validate=[validate.Length(max=200),
                      validate.Regexp(ACCOUNT_RE, error="not an account name like 'Assets:Cash'")],
            metadata={"example": "Assets:Cash", **kwargs.pop("metadata", {})}, **kwargs)


# --- the charter's and the proposals' own kinds of value ----------------------------------------


class TomlDate(fields.Field):
    """A TOML date (``2026-01-01`` unquoted) or an ISO date string."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, dt.datetime):
            raise self.make_error("invalid")
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise self.make_error("invalid")

    default_error_messages = {"invalid": "not a date like 2026-01-01"}


class Percent(fields.Field):
    """A percentage string such as ``"70%"``, loaded as the fraction ``Decimal("0.7")``."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return parse_percent(value)
        except MoneyError as exc:
            raise MmError(str(exc)) from exc


class Threshold(fields.Field):
    """``"majority"`` or a fraction ``"n/d"`` with 0 < n/d ≤ 1."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            parse_threshold(value)
        except ValueError as exc:
            raise MmError(str(exc)) from exc
        return value


class Strict(Schema):
    class Meta:
        unknown = RAISE


class GrantSchema(Strict):
    units = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    start = TomlDate(required=True)
    cliff_months = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    months = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    every = fields.Integer(load_default=1, strict=True, validate=validate.Range(min=1))

    @validates_schema
    def _cliff(self, data, **kwargs):
        if "cliff_months" in data and "months" in data and data["cliff_months"] > data["months"]:
            raise MmError("the cliff is longer than the grant", "cliff_months")
        if "every" in data and "months" in data and data["every"] > data["months"]:
            raise MmError("vesting cadence is longer than the grant", "every")


def flatten_errors(errors, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested error dict → ``{"practices[1].owners": [...]}``."""
    out: dict[str, list[str]] = {}
    if isinstance(errors, list):
        out[prefix or "charter"] = [str(e) for e in errors]
        return out
    for key, value in errors.items():
        if key == "_schema":
            path = prefix or "charter"
        elif isinstance(key, int):
            path = f"{prefix}[{key}]"
        elif prefix:
            path = f"{prefix}.{key}"
        else:
            path = str(key)
        if key in ("key", "value") and prefix:
            # A dict field's key/value error belongs to the entry itself: owners.ana, not owners.ana.value
            path = prefix
        if isinstance(value, dict):
            for k, v in flatten_errors(value, path).items():
                out.setdefault(k, []).extend(v)
        else:
            out.setdefault(path, []).extend(str(v) for v in value)
    return out
