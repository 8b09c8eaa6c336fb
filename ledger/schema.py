"""Marshmallow fields and schemas for every input the product takes (API bodies and queries, the
charter, proposal payloads), strict on the way in, and the document's truth: each field's pattern,
length, bounds and format appear in the OpenAPI document, so a generated client (and schemathesis)
knows the shape before it sends anything, and what the document allows the server takes.

- ``Money``: a JSON *string* with at most the currency's minor units (``"12000.00"``, ``"5"``), in
  ASCII digits (``"١٢٣.٤٥"`` and ``"１０"`` are refused: CONTRACT §7). A JSON number is refused (it
  may already have lost the cents it claims to carry), so are more decimals, exponents and
  anything that is not a plain decimal. ``positive=True`` also refuses zero and below. Dumps a
  ``Decimal`` with exactly its places.
- ``Date``: ISO ``YYYY-MM-DD`` only (Python's ``fromisoformat`` alone would take ``20260101`` and
  ``2026-W01-1``), between ``EARLIEST`` and ``LATEST`` unless a field says tighter.
- ``Timestamp``: an RFC 3339 time *with* an offset on the way in (within the same years), and
  written in UTC with a ``Z`` on the way out (CONTRACT §7).
- ``Text``: the one text field (``core.text.text_problem``): bounded, not blank when required, no
  control characters, no lone surrogates (PostgreSQL cannot store a NUL and neither engine can
  encode a lone surrogate: left to the database they would be a 500). ``multiline=True`` admits
  line breaks.
- ``Code``, ``Ref``, ``AccountName``, ``PeriodId``: identifiers of a fixed shape, matched whole
  (``Pattern``: ``"acme\\n"`` is not ``acme``) with ASCII classes.
- ``Int``: an integer with both bounds always (a JSON integer in a body; ASCII digits in a query).
- ``Email``: an address of at most 254 characters.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from marshmallow import RAISE, Schema, fields, validate, validates_schema
from marshmallow import ValidationError as MmError

from ledger.core.clock import as_utc, rfc3339
from ledger.core.codes import CODE_RE, PERIOD_OR_YEAR_RE, PERIOD_RE, REF_RE
from ledger.core.entries import ACCOUNT_PATTERN
from ledger.core.money import MAX_AMOUNT, MAX_PLACES, MoneyError, parse_percent
from ledger.core.tally import THRESHOLD_PATTERN, parse_threshold
from ledger.core.text import (
    MULTI_LINE_PATTERN,
    SINGLE_LINE_OR_EMPTY_PATTERN,
    SINGLE_LINE_PATTERN,
    fits,
    text_problem,
)

#: The dates the product takes anywhere (a business date must also pass the period guard).
EARLIEST, LATEST = dt.date(1900, 1, 1), dt.date(2999, 12, 31)
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: ``EARLIEST``..``LATEST`` as the document's pattern for a date (the years 1900-2999).
DATE_PATTERN = r"^(19[0-9]{2}|2[0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
#: The largest id of an ``Integer`` primary key (PostgreSQL's ``integer``).
MAX_INT_ID = 2**31 - 1
#: Grants: the most units and months one may carry (a hundred years of months).
MAX_GRANT_UNITS = 10**9
MAX_GRANT_MONTHS = 1200
EMAIL_MAX = 254


class Pattern(validate.Regexp):
    """``validate.Regexp`` that matches the *whole* value with ASCII classes (``\\d`` is 0-9, and a
    trailing newline does not slip past ``$``); its pattern is the document's."""

    def __init__(self, pattern: str, error: str | None = None):
        super().__init__(pattern, flags=re.ASCII, error=error)

    def __call__(self, value):
        if not fits(self.regex.pattern, value):
            raise MmError(self._format_error(value))
        return value


class Money(fields.String):
    """A decimal amount given as a string; see the module docstring."""

    default_error_messages = {
        "not_string": 'give money as a JSON string such as "12.50", not a number',
        "invalid": 'not a decimal amount such as "12.50" (ASCII digits)',
        "places": "at most {places} decimal places",
        "too_large": "must be less than 1000000000000 in magnitude",
        "positive": "must be greater than 0",
    }

    def __init__(self, *, positive: bool = False, places: int = MAX_PLACES, **kwargs):
        self.positive = positive
        self.places = places
        # A positive amount is not all zeros: the lookahead says so in the document too.
        sign = "(?!0*(\\.0*)?$)" if positive else "-?"
        metadata = {
            "pattern": rf"^{sign}[0-9]{{1,12}}(\.[0-9]{{1,{places}}})?$",
            "maxLength": (0 if positive else 1) + 12 + (1 + places if places else 0),
            "example": "1200.00",
            "description": "an amount as a string"
            + (", greater than 0" if positive else ", signed (debit positive)"),
            **kwargs.pop("metadata", {}),
        }
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> Decimal:
        if not isinstance(value, str):
            raise self.make_error("not_string")
        match = re.fullmatch(r"(-?)([0-9]+)(?:\.([0-9]+))?", value)
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
    """An ISO date ``YYYY-MM-DD``, nothing looser, between ``earliest`` and ``latest``."""

    default_error_messages = {"invalid": "not a date like 2026-01-31"}

    def __init__(self, *, earliest: dt.date = EARLIEST, latest: dt.date = LATEST, **kwargs):
        validators = [validate.Range(min=earliest, max=latest, error="must be between {min} and {max}"),
                      *_as_list(kwargs.pop("validate", None))]
        metadata = {"pattern": DATE_PATTERN, **kwargs.pop("metadata", {})} if (earliest, latest) == (EARLIEST, LATEST) \
            else kwargs.pop("metadata", {})
        super().__init__(validate=validators, metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> dt.date:
        if not isinstance(value, str) or not DATE_RE.fullmatch(value):
            raise self.make_error("invalid")
        try:
            return dt.date.fromisoformat(value)
        except ValueError as exc:
            raise self.make_error("invalid") from exc


class Timestamp(fields.AwareDateTime):
    """In: an RFC 3339 time with an offset, dated (as written) in the years ``EARLIEST`` to
    ``LATEST``, so it is always a time in UTC too (``9999-12-31T23:59:59-14:00`` is past what a
    datetime can hold); the document's pattern says the same. Out: UTC with a ``Z``
    (``core.clock.rfc3339``), a naive stored time read as UTC."""

    default_error_messages = {"range": f"must be in the years {EARLIEST.year} to {LATEST.year}"}

    def __init__(self, **kwargs):
        metadata = {"pattern": r"^(19[0-9]{2}|2[0-9]{3})-", **kwargs.pop("metadata", {})}
        super().__init__(format="iso", metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> dt.datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        if not EARLIEST <= moment.date() <= LATEST:
            raise self.make_error("range")
        return moment

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if isinstance(value, str):
            return value
        return rfc3339(as_utc(value))


class Text(fields.String):
    """The one text field: see ``core.text.text_problem`` (bounded, not blank when required, no
    control characters, no lone surrogates); ``multiline`` admits tab and line breaks."""

    default_error_messages = {"text": "{problem}"}

    def __init__(self, *, max_length: int = 200, min_length: int = 1, multiline: bool = False, **kwargs):
        self.max_length, self.min_length, self.multiline = max_length, min_length, multiline
        pattern = (MULTI_LINE_PATTERN if multiline else
                   SINGLE_LINE_PATTERN if min_length >= 1 else SINGLE_LINE_OR_EMPTY_PATTERN)
        metadata = {"pattern": pattern, "minLength": min_length, "maxLength": max_length,
                    **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = text_problem(text, max_length=self.max_length, min_length=self.min_length,
                               multiline=self.multiline)
        if problem is not None:
            raise self.make_error("text", problem=problem)
        return text


class Code(fields.String):
    """A code such as ``ana`` or ``voice``: ``[a-z0-9-]{2,32}``."""

    def __init__(self, **kwargs):
        super().__init__(validate=Pattern(CODE_RE, error="a code of 2-32 characters a-z, 0-9 and -"),
                         metadata={"example": "voice", **kwargs.pop("metadata", {})}, **kwargs)


class Ref(fields.String):
    """An engagement reference chosen by the caller: letters, digits, ``.``, ``_``, ``-``; ≤ 64."""

    def __init__(self, **kwargs):
        super().__init__(validate=Pattern(REF_RE, error="1-64 characters A-Z, a-z, 0-9, '.', '_' and '-'"),
                         metadata={"example": "ENG-2026-001", **kwargs.pop("metadata", {})}, **kwargs)


class AccountName(fields.String):
    """A Beancount-style account name (``Assets:Cash``), at most 200 characters."""

    def __init__(self, **kwargs):
        super().__init__(
            validate=[validate.Length(max=200),
                      Pattern(ACCOUNT_PATTERN, error="not an account name like 'Assets:Cash'")],
            metadata={"example": "Assets:Cash", **kwargs.pop("metadata", {})}, **kwargs)


class PeriodId(fields.String):
    """A period id, ``2026-01`` (months) or ``2026-Q1`` (quarters); ``year=True`` also takes a year
    ``2026``. Whether the partnership has that period is the journal's to say (404 otherwise)."""

    def __init__(self, *, year: bool = False, **kwargs):
        pattern = PERIOD_OR_YEAR_RE if year else PERIOD_RE
        super().__init__(validate=Pattern(pattern, error="a period id such as 2026-01" + (" or a year" if year else "")),
                         metadata={"example": "2026-01", **kwargs.pop("metadata", {})}, **kwargs)


class Int(fields.Integer):
    """An integer between ``minimum`` and ``maximum`` (both required: every integer the product
    takes is bounded). In a JSON body only a JSON integer (``"5"``, ``5.0`` and ``true`` are
    refused); in a query string (``query=True``) only ASCII digits, with an optional minus."""

    def __init__(self, *, minimum: int, maximum: int, query: bool = False, **kwargs):
        self.query = query
        validators = [validate.Range(min=minimum, max=maximum), *_as_list(kwargs.pop("validate", None))]
        super().__init__(strict=not query, validate=validators, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        if self.query:
            if not isinstance(value, str) or not fits(r"-?[0-9]{1,20}", value):
                raise self.make_error("invalid", input=value)
            return int(value)
        return super()._deserialize(value, attr, data, **kwargs)


class Email(fields.Email):
    """An email address of at most 254 characters, with no control characters."""

    def __init__(self, **kwargs):
        super().__init__(validate=validate.Length(max=EMAIL_MAX),
                         metadata={"example": "eve@example.com", **kwargs.pop("metadata", {})}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = text_problem(text, max_length=EMAIL_MAX)
        if problem is not None:
            raise MmError(problem)
        return text


def _as_list(validators) -> list:
    if validators is None:
        return []
    return list(validators) if isinstance(validators, (list, tuple)) else [validators]


# --- the charter's and the proposals' own kinds of value ----------------------------------------


class TomlDate(fields.Field):
    """A TOML date (``2026-01-01`` unquoted) or an ISO date string, between ``EARLIEST`` and ``LATEST``."""

    default_error_messages = {"invalid": "not a date like 2026-01-01",
                              "range": f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}"}

    def __init__(self, **kwargs):
        super().__init__(metadata={"type": "string", "format": "date", **kwargs.pop("metadata", {})}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, dt.datetime):
            raise self.make_error("invalid")
        day = None
        if isinstance(value, dt.date):
            day = value
        elif isinstance(value, str) and DATE_RE.fullmatch(value):
            try:
                day = dt.date.fromisoformat(value)
            except ValueError:
                pass
        if day is None:
            raise self.make_error("invalid")
        if not EARLIEST <= day <= LATEST:
            raise self.make_error("range")
        return day


class Percent(fields.Field):
    """A percentage string such as ``"70%"`` (0 to 100, ASCII digits), loaded as the fraction
    ``Decimal("0.7")``."""

    def __init__(self, **kwargs):
        super().__init__(metadata={"type": "string", "pattern": r"^[0-9]{1,3}(\.[0-9]{1,6})?%$", "example": "70%",
                                   **kwargs.pop("metadata", {})}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return parse_percent(value)
        except MoneyError as exc:
            raise MmError(str(exc)) from exc


class Threshold(fields.Field):
    """``"majority"`` or a fraction ``"n/d"`` with 0 < n/d ≤ 1."""

    def __init__(self, **kwargs):
        super().__init__(metadata={"type": "string", "pattern": THRESHOLD_PATTERN, "example": "2/3",
                                   **kwargs.pop("metadata", {})}, **kwargs)

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
    """A grant's terms: realistic bounds, so a vote cannot admit a grant the close could not vest
    (``units = 10**30`` or a cliff of a billion months would fail every close after it)."""

    units = Int(required=True, minimum=1, maximum=MAX_GRANT_UNITS)
    start = TomlDate(required=True)
    cliff_months = Int(required=True, minimum=0, maximum=MAX_GRANT_MONTHS)
    months = Int(required=True, minimum=1, maximum=MAX_GRANT_MONTHS)
    every = Int(load_default=1, minimum=1, maximum=MAX_GRANT_MONTHS)

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
