"""What every web form shares: field types that read like the API's, and ``save``.

Fields check only the shape of what a person typed (an amount with at most two decimals in ASCII
digits, a code matched whole, a date, text by the one text rule of ``core.text`` that the API's
``schema.Text`` applies too); every rule of the partnership is the service's, which ``save`` calls. ``save`` runs the
service in the request's session, commits when it succeeds, and otherwise rolls back and puts each
of the service's errors beside the field it names (``"amount"``, ``"payload.owners.ben"``,
``"postings[1].account"``), or at the top of the form when no field matches. The form keeps what
was typed, so the page re-renders it with the errors, and nothing was written.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import current_app, flash
from flask_wtf import FlaskForm
from sqlalchemy.exc import DataError, IntegrityError
from wtforms import DateField, DateTimeLocalField, IntegerField, SelectChoice, StringField, TextAreaField
from wtforms.fields import FieldList, FormField
from wtforms.validators import InputRequired, NumberRange, Optional, StopValidation, ValidationError

from ledger.core.codes import CODE_RE, REF_RE
from ledger.core.errors import LedgerError
from ledger.core.money import MAX_AMOUNT
from ledger.core.text import fits, text_problem
from ledger.runtime.database import get_session
from ledger.schema import EARLIEST, LATEST

#: ASCII digits only; the currency's own places are the service's check (``journal.service.check_amount``).
AMOUNT_RE = r"(-?)([0-9]{1,12})(?:\.([0-9]{1,4}))?"


def options(pairs: Iterable[tuple[str, str]]) -> list[SelectChoice]:
    """``[(value, label), …]`` as the choices of a select, radio or checkbox field."""
    return [SelectChoice(value, label) for value, label in pairs]


class MoneyField(StringField):
    """An amount as a person types it: ``1200``, ``1,200.50`` (the currency's places are checked by the service). ``data`` is a
    ``Decimal`` (or ``None`` when left empty); the typed text is kept for re-rendering."""

    def __init__(self, label=None, validators=None, *, positive: bool = True, **kwargs):
        self.positive = positive
        kwargs.setdefault("render_kw", {}).update({"inputmode": "decimal", "autocomplete": "off"})
        super().__init__(label, validators, **kwargs)

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        text = valuelist[0].strip().replace(",", "").replace(" ", "")
        self.data = None
        if not text:
            return
        if not fits(AMOUNT_RE, text):
            raise ValueError("an amount such as 1200.00")
        amount = Decimal(text)
        if abs(amount) >= MAX_AMOUNT:
            raise ValueError("must be less than 1,000,000,000,000")
        if self.positive and amount <= 0:
            raise ValueError("must be more than 0")
        self.data = amount

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return format(self.data, "f") if isinstance(self.data, Decimal) else ""


class TextRule:
    """The one text rule (``core.text.text_problem``) as a form validator: bounded, no control
    characters (a NUL typed as ``%00`` included), not blank; ``multiline`` admits line breaks."""

    def __init__(self, max_length: int = 200, multiline: bool = False):
        self.max_length, self.multiline = max_length, multiline
        self.field_flags = {"maxlength": max_length}

    def __call__(self, form, field) -> None:
        problem = text_problem(field.data if field.data is not None else "", max_length=self.max_length,
                               multiline=self.multiline)
        if problem is not None:
            raise StopValidation(problem)


class FullMatch:
    """A pattern the whole input must match, with ASCII classes (``core.text.fits``): what
    WTForms' ``Regexp`` does, less the trailing newline ``$`` lets through."""

    def __init__(self, pattern: str, message: str):
        self.pattern, self.message = pattern, message

    def __call__(self, form, field) -> None:
        if not fits(self.pattern, field.data or ""):
            raise ValidationError(self.message)


def text_validators(max_length: int = 200, required: bool = True, multiline: bool = False) -> list:
    return [InputRequired() if required else Optional(), TextRule(max_length, multiline)]


def code_validators() -> list:
    return [InputRequired(), FullMatch(CODE_RE, "2 to 32 of a-z, 0-9 and -")]


def CodeField(label: str, **kwargs) -> StringField:  # noqa: N802 - a field factory reads like a field
    return StringField(label, code_validators(), render_kw={"autocapitalize": "none", "spellcheck": "false",
                                                           "autocomplete": "off"}, **kwargs)


def RefField(label: str, **kwargs) -> StringField:  # noqa: N802
    return StringField(label, [InputRequired(), FullMatch(REF_RE, "1-64 of A-Z, a-z, 0-9, '.', '_' and '-'")],
                       render_kw={"autocapitalize": "none", "spellcheck": "false", "autocomplete": "off"},
                       **kwargs)


def TextField(label: str, max_length: int = 200, required: bool = True, **kwargs) -> StringField:  # noqa: N802
    return StringField(label, text_validators(max_length, required), **kwargs)


def MemoField(label: str = "Memo", **kwargs) -> StringField:  # noqa: N802
    return StringField(label, text_validators(500, required=False), filters=[lambda s: s.strip() if s else s],
                       description="optional", **kwargs)


def LongTextField(label: str, max_length: int = 5000, **kwargs) -> TextAreaField:  # noqa: N802
    return TextAreaField(label, text_validators(max_length, multiline=True), **kwargs)


class AsciiDateField(DateField):
    """``YYYY-MM-DD`` in ASCII digits between ``schema.EARLIEST`` and ``LATEST`` (``strptime`` alone
    would read ``٢٠٢٦-٠١-٠١`` and year 1)."""

    def process_formdata(self, valuelist):
        if valuelist and valuelist[0] and not fits(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", valuelist[0].strip()):
            self.data = None
            raise ValueError(self.gettext("Not a valid date value."))
        super().process_formdata(valuelist)
        if isinstance(self.data, dt.date) and not EARLIEST <= self.data <= LATEST:
            self.data = None
            raise ValueError(f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}")


class AsciiDateTimeField(DateTimeLocalField):
    """A local date and time ``YYYY-MM-DDTHH:MM`` in ASCII digits, in ``schema.EARLIEST``..``LATEST``."""

    def process_formdata(self, valuelist):
        if valuelist and valuelist[0] and not fits(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2})?",
                                                   valuelist[0].strip()):
            self.data = None
            raise ValueError(self.gettext("Not a valid datetime value."))
        super().process_formdata(valuelist)
        if isinstance(self.data, dt.datetime) and not EARLIEST <= self.data.date() <= LATEST:
            self.data = None
            raise ValueError(f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}")


class AsciiIntegerField(IntegerField):
    """A whole number in ASCII digits (``int()`` alone would read ``"١٠"`` as 10)."""

    def process_formdata(self, valuelist):
        if valuelist and valuelist[0] and not fits(r"-?[0-9]{1,20}", valuelist[0].strip()):
            self.data = None
            raise ValueError(self.gettext("Not a valid integer value."))
        super().process_formdata(valuelist)


def IntField(label: str, minimum: int, maximum: int, required: bool = True, **kwargs) -> AsciiIntegerField:  # noqa: N802
    """A whole number between ``minimum`` and ``maximum`` (required unless said otherwise)."""
    return AsciiIntegerField(label, [InputRequired() if required else Optional(), NumberRange(min=minimum, max=maximum)],
                             **kwargs)


def DayField(label: str = "Date", required: bool = True, **kwargs) -> AsciiDateField:  # noqa: N802
    return AsciiDateField(label, [InputRequired() if required else Optional()], format="%Y-%m-%d", **kwargs)


# --- putting a service's errors on the form ------------------------------------------------------

_INDEXED = re.compile(r"^(\w+)\[(\d+)\](?:\.(\w+))?$")


def _field_for(form, key: str, aliases: Mapping[str, str]):
    """The form field a service's error key names, or ``None``."""
    key = aliases.get(key, key)
    key = key.removeprefix("payload.")
    key = aliases.get(key, key)
    match = _INDEXED.match(key)
    if match:
        name, index, sub = match.group(1), int(match.group(2)), match.group(3)
        field = form._fields.get(name)
        if isinstance(field, FieldList) and index < len(field.entries):
            entry = field.entries[index]
            if isinstance(entry, FormField) and sub and sub in entry.form._fields:
                return entry.form._fields[sub]
            return entry
        return field
    head, _, rest = key.partition(".")
    field = form._fields.get(head)
    if isinstance(field, FieldList) and rest:
        # A row named by its key (``owners.ben``, ``successors.voice``): the row whose hidden
        # field holds that key, and its first visible field.
        ident = rest.split(".")[0]
        for entry in field.entries:
            if isinstance(entry, FormField) and any(f.type == "HiddenField" and f.data == ident for f in entry.form):
                visible = [f for f in entry.form if f.type != "HiddenField"]
                return visible[0] if visible else entry
        return field
    candidates = [key, key.replace(".", "_")]
    parts = key.split(".")
    candidates += ["_".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]
    for name in candidates:
        if name in form._fields and name != "csrf_token":
            return form._fields[name]
    return None


def add_errors(form, exc: LedgerError, aliases: Mapping[str, str] | None = None) -> None:
    """Each of ``exc.errors`` beside its field; the detail at the top of the form when a message
    names no field of this form, or when there is no message at all."""
    aliases = aliases or {}
    placed = False
    for key, messages in exc.errors.items():
        field = _field_for(form, key, aliases)
        if field is None:
            # Not one of this form's fields: the detail says it in a sentence.
            if exc.detail not in form.form_errors:
                form.form_errors.append(exc.detail)
            continue
        if isinstance(field, FieldList):
            # A FieldList's own errors are its rows'; a message about the whole list goes here.
            field.list_errors = [*getattr(field, "list_errors", []), *messages]
        else:
            field.errors = [*field.errors, *messages]
        placed = True
    if not placed and not form.form_errors:
        form.form_errors.append(exc.detail)


@dataclass(frozen=True)
class Saved:
    """What ``save`` returns: whether it committed, and the service's answer."""

    ok: bool
    value: Any = None

    def __bool__(self) -> bool:
        return self.ok


def save(form: FlaskForm, action: Callable[[Any], Any], aliases: Mapping[str, str] | None = None,
         success: str | None = None) -> Saved:
    """Run ``action(session)``, commit, flash ``success``; on a ``LedgerError`` roll back and put
    its errors on ``form``. Nothing is written unless the whole action succeeded."""
    session = get_session()
    try:
        value = action(session)
        session.commit()
    except LedgerError as exc:
        session.rollback()
        add_errors(form, exc, aliases)
        return Saved(False)
    except IntegrityError:
        # Another request wrote the same thing (a code, an account) between our check and commit.
        session.rollback()
        form.form_errors.append("Someone else changed the same data at the same moment; nothing was "
                                "written. Please send the form again.")
        return Saved(False)
    except DataError as exc:
        session.rollback()
        current_app.logger.warning("unvalidated form input reached the database: %s",
                                   str(exc.orig).splitlines()[0])
        form.form_errors.append("A value is outside what the ledger can store; nothing was written.")
        return Saved(False)
    if success:
        flash(success, "success")
    return Saved(True, value)


def _field_has_errors(field) -> bool:
    if getattr(field, "list_errors", None):
        return True
    if isinstance(field, FieldList):
        return any(_field_has_errors(entry) for entry in field.entries)
    if isinstance(field, FormField):
        return any(_field_has_errors(f) for f in field.form)
    return bool(field.errors)


def has_errors(form) -> bool:
    """Whether the form or any of its fields (rows of a list included) carries an error."""
    return bool(form.form_errors) or any(_field_has_errors(f) for f in form)


def invalid_status(form) -> int:
    """The status a page re-rendered after a refused submission answers with."""
    return 422 if has_errors(form) else 200
