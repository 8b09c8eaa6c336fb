"""The classes of defect issue 15 found, made impossible rather than fixed one by one: each test
here walks the whole code or the whole schema set, so a new route, field or redirect that forgets
the rule fails it."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import marshmallow as ma
import pytest
from flask_wtf import FlaskForm
from marshmallow import fields, validate
from wtforms import Form as BaseForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.fields import FieldList, FormField
from wtforms.fields.core import UnboundField

from ledger import schema
from ledger.governance.payloads import SCHEMAS
from ledger.partnership.charter import CharterSchema
from ledger.web import auth as web_auth
from ledger.web import booking_forms, proposal_forms
from ledger.web import books as web_books
from ledger.web import forms as web_forms
from ledger.web.forms import FullMatch, MoneyField, TextRule

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "ledger" / "web"


def _is_call_to(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Call) and (
        (isinstance(node.func, ast.Name) and node.func.id == name)
        or (isinstance(node.func, ast.Attribute) and node.func.attr == name))


def unsafe_redirects(source: str, filename: str) -> list[str]:
    """``redirect(x)`` calls whose target is neither ``url_for(...)`` nor ``safe_next(...) or url_for(...)``."""
    out = []
    for node in ast.walk(ast.parse(source, filename)):
        if not _is_call_to(node, "redirect") or not node.args:
            continue
        target = node.args[0]
        if _is_call_to(target, "url_for"):
            continue
        if (isinstance(target, ast.BoolOp) and isinstance(target.op, ast.Or) and _is_call_to(target.values[0], "safe_next")
                and all(_is_call_to(v, "url_for") for v in target.values[1:])):
            continue
        out.append(f"{filename}:{node.lineno}: redirect({ast.unparse(target)})")
    return out


def test_every_web_redirect_goes_to_our_own_route_or_through_safe_next():
    found = [bad for path in sorted(WEB.glob("*.py")) for bad in unsafe_redirects(path.read_text(), path.name)]
    assert found == []


def test_the_redirect_scan_catches_a_target_from_the_request():
    assert unsafe_redirects('redirect(request.args.get("next") or url_for("home"))', "x.py") == [
        "x.py:1: redirect(request.args.get('next') or url_for('home'))"]
    assert unsafe_redirects('redirect(safe_next(request.args.get("next")) or url_for("home"))', "x.py") == []


# --- the OpenAPI document says every bound the server checks --------------------------------------

UNBOUNDED_QUANTIFIER = re.compile(r"(?<!\\)[*+]|\{\d+,\}")


def unbounded_inputs(doc: dict) -> list[str]:
    """Every input of the document (path, query and header parameters, request bodies, at any
    depth) that the document leaves open: a string without an enum, a date format or a pattern
    (and, for a pattern with ``*`` or ``+``, a ``maxLength``); an integer without a minimum and a
    maximum; an array without ``maxItems``. The proposal's ``payload`` is the one free object: each
    kind's payload schema checks it (``ledger/governance/payloads.py``, walked below)."""
    schemas = doc["components"]["schemas"]
    out: list[str] = []

    def resolve(schema: dict) -> dict:
        while "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
        return schema

    def walk(schema: dict, where: str) -> None:
        schema = resolve(schema)
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            for name, sub in schema.get("properties", {}).items():
                if where.endswith("/api/v1/proposals body") and name == "payload":
                    continue
                walk(sub, f"{where}.{name}")
            if isinstance(schema.get("additionalProperties"), dict):
                walk(schema["additionalProperties"], f"{where}{{}}")
        elif kind == "array":
            if "maxItems" not in schema:
                out.append(f"{where}: an array without maxItems")
            walk(schema.get("items", {}), f"{where}[]")
        elif kind == "string":
            pattern = schema.get("pattern")
            if "enum" in schema or schema.get("format") in ("date", "date-time"):
                return
            if pattern is None:
                out.append(f"{where}: a string without a pattern")
            elif not (pattern.startswith("^") and pattern.endswith("$")):
                out.append(f"{where}: a pattern that is not anchored")
            elif UNBOUNDED_QUANTIFIER.search(pattern) and "maxLength" not in schema:
                out.append(f"{where}: a string without maxLength")
        elif kind == "integer":
            if "minimum" not in schema or "maximum" not in schema:
                out.append(f"{where}: an integer without both bounds")
        elif kind != "boolean":
            out.append(f"{where}: an input of no known type {schema}")

    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                for parameter in operation:
                    walk(parameter.get("schema", {}), f"{path} {parameter['in']}:{parameter['name']}")
                continue
            for parameter in operation.get("parameters", []):
                walk(parameter.get("schema", {}), f"{method.upper()} {path} {parameter['in']}:{parameter['name']}")
            body = operation.get("requestBody")
            if body:
                walk(body["content"]["application/json"]["schema"], f"{method.upper()} {path} body")
    return out


def test_the_document_bounds_every_input(shared):
    doc = shared.get("/openapi.json", role=None).get_json()
    assert unbounded_inputs(doc) == []


def test_the_bounds_walk_catches_an_open_field():
    doc = {"components": {"schemas": {"In": {"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 10}, "n": {"type": "integer", "minimum": 1},
        "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"}}}}}},
        "paths": {"/x": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/c/In"}}}}}}}}
    assert unbounded_inputs(doc) == [
        "POST /x body.name: a string without a pattern", "POST /x body.n: an integer without both bounds",
        "POST /x body.tags: an array without maxItems", "POST /x body.tags[]: a string without maxLength"]


# --- every marshmallow input field is one of the bounded kinds -----------------------------------

BOUNDED_FIELDS = (schema.Text, schema.Code, schema.Ref, schema.AccountName, schema.PeriodId, schema.Money,
                  schema.Date, schema.TomlDate, schema.Timestamp, schema.Percent, schema.Threshold, schema.Int,
                  schema.Email, fields.Boolean)


def open_fields(schema_class: type[ma.Schema], where: str = "") -> list[str]:
    """Fields of ``schema_class`` (nested ones too) that are none of ``BOUNDED_FIELDS`` nor a
    string limited by ``OneOf`` or ``schema.Pattern``, nor a decimal or list with both bounds."""
    out = []
    for name, field in schema_class().fields.items():
        out += _open(field, f"{where}{schema_class.__name__}.{name}")
    return out


def _open(field: fields.Field, where: str) -> list[str]:
    def limited(f, *kinds):
        return any(isinstance(v, kinds) for v in f.validators)

    if isinstance(field, BOUNDED_FIELDS):
        return []
    if isinstance(field, fields.Nested):
        return open_fields(type(field.schema), f"{where} → ")
    if isinstance(field, fields.List):
        if not any(isinstance(v, validate.Length) and v.max is not None for v in field.validators):
            return [f"{where}: a list without a maximum length"]
        return _open(field.inner, f"{where}[]")
    if where == "ProposalIn.payload":
        return []  # checked by its kind's schema (SCHEMAS, walked too)
    if isinstance(field, fields.Dict):
        return _open(field.key_field, f"{where}{{key}}") + _open(field.value_field, f"{where}{{value}}")
    if isinstance(field, fields.String) and limited(field, validate.OneOf, schema.Pattern):
        return []
    if isinstance(field, fields.Decimal) and any(isinstance(v, validate.Range) and v.max is not None
                                                 for v in field.validators):
        return []
    return [f"{where}: {type(field).__name__} without bounds"]


def input_schemas(app) -> list[type[ma.Schema]]:
    """Every schema the API loads (its ``@bp.arguments``), each proposal kind's payload and the charter."""
    found = set()
    for view in app.view_functions.values():
        for args in getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", []):
            found.add(type(args["schema"]) if isinstance(args["schema"], ma.Schema) else args["schema"])
    return sorted(found | set(SCHEMAS.values()) | {CharterSchema}, key=lambda s: s.__name__)


def test_every_input_field_is_bounded(shared):
    schemas = input_schemas(shared.client.application)
    assert len(schemas) >= 20, schemas
    assert [f for s in schemas for f in open_fields(s)] == []


def test_the_field_walk_catches_an_open_field():
    class Loose(ma.Schema):
        name = fields.String()
        count = fields.Integer()
        fine = schema.Text()

    assert open_fields(Loose) == ["Loose.name: String without bounds", "Loose.count: Integer without bounds"]


# --- every web form's text field takes the one text rule -------------------------------------------

EXEMPT_TEXT_FIELDS = (MoneyField, PasswordField, HiddenField)  # parsed by their own class; never stored; keys


def form_classes() -> list[type]:
    found = set()
    for module in (web_auth, web_books, web_forms, booking_forms, proposal_forms):
        found |= {v for v in vars(module).values() if isinstance(v, type) and issubclass(v, BaseForm)
                  and v.__module__.startswith("ledger.web")}
    return sorted(found, key=lambda c: c.__qualname__)


def unchecked_text_fields(form_class: type) -> list[str]:
    out = []
    for name in dir(form_class):
        unbound = getattr(form_class, name)
        if not isinstance(unbound, UnboundField):
            continue
        cls = unbound.field_class
        if cls in (FieldList, FormField):
            inner = unbound.args[0] if unbound.args else None
            inner_class = getattr(inner, "args", [None])[0] if cls is FieldList else inner
            if isinstance(inner_class, type):
                out += [f"{form_class.__qualname__}.{name}.{f}" for f in unchecked_text_fields(inner_class)]
            continue
        if not issubclass(cls, StringField) or issubclass(cls, EXEMPT_TEXT_FIELDS):
            continue
        validators = unbound.kwargs.get("validators") or (unbound.args[1] if len(unbound.args) > 1 else [])
        if not any(isinstance(v, (TextRule, FullMatch)) for v in validators or []):
            out.append(f"{form_class.__qualname__}.{name}")
    return out


def test_every_web_text_field_takes_the_text_rule_or_a_whole_pattern():
    classes = form_classes()
    assert len(classes) >= 15, classes
    assert [f for c in classes for f in unchecked_text_fields(c)] == []


def test_the_form_walk_catches_an_unchecked_field():
    class Loose(FlaskForm):
        name = StringField("Name")
        fine = web_forms.TextField("Fine")

    assert unchecked_text_fields(Loose) == ["test_the_form_walk_catches_an_unchecked_field.<locals>.Loose.name"]


# --- bandit, as `make lint` runs it -------------------------------------------------------------------

BANDIT = Path(sys.executable).parent / "bandit"


@pytest.mark.skipif(not BANDIT.exists(), reason="bandit is not installed (pip install -e '.[dev]')")
def test_bandit_finds_no_medium_or_high_issue_and_every_nosec_says_why():
    result = subprocess.run([str(BANDIT), "-q", "-r", "ledger", "-ll", "-f", "json"], cwd=ROOT,
                            capture_output=True, text=True)
    report = json.loads(result.stdout)
    assert report["results"] == [], report["results"]
    assert result.returncode == 0
    for path in (ROOT / "ledger").rglob("*.py"):
        lines = path.read_text().splitlines()
        for n, line in enumerate(lines):
            if "# nosec" in line:
                context = "\n".join(lines[max(0, n - 6):n + 1])
                assert re.search(r"# nosec B\d{3}", line) and "Bandit B" in context, f"{path}:{n + 1}: say why"
