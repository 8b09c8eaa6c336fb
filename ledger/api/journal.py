"""The ledger itself: manual entries and reversals, the entries list, the chart of accounts, the
trial balance and ``verify`` — all the treasurer's (an admin may too).

``GET /ledger/entries`` pages by entry id (the chain's order, which never changes once written):
``next_cursor`` is an opaque token for the page after the last entry shown, ``null`` on the last
page. A cursor names a position, not a snapshot, so entries written meanwhile appear on later pages.
"""

from __future__ import annotations

import base64
import binascii
import json

from flask import g, jsonify
from marshmallow import RAISE, Schema, fields, validate

from ledger.api.auth import viewer
from ledger.api.openapi import BIG_ID, blueprint
from ledger.api.transaction import requires
from ledger.core.entries import COMMODITY_PATTERN, Leg
from ledger.core.errors import ValidationError
from ledger.core.money import fmt
from ledger.journal import balances
from ledger.journal import service as journal
from ledger.journal.models import Account
from ledger.journal.periods import books_currency
from ledger.partnership.integrity import full_verify as verify
from ledger.read import entries as reads
from ledger.runtime.database import get_session
from ledger.schema import AccountName, Date, Int, Money, Pattern, Text

bp = blueprint("ledger", __name__, "Journal entries, accounts, trial balance, verify")

MAX_ID = 2**63 - 1
#: What ``encode_cursor`` writes: unpadded URL-safe base64.
CURSOR_RE = r"^[A-Za-z0-9_-]{1,200}$"
ENTRY_ID = f"<{BIG_ID}:entry_id>"


# --- schemas -----------------------------------------------------------------------------------


class PostingIn(Schema):
    account = AccountName(required=True)
    amount = Money(required=True)
    commodity = fields.String(validate=Pattern(COMMODITY_PATTERN, error="a commodity such as USD or UNITS"),
                              load_default=None, metadata={"description": "defaults to the partnership's currency"})


class EntryIn(Schema):
    date = Date(required=True)
    memo = Text(required=True, max_length=500)
    postings = fields.List(fields.Nested(PostingIn), required=True, validate=validate.Length(min=2, max=200))


class ReverseIn(Schema):
    date = Date(metadata={"description": "the reversal's date; default: the original's"})
    memo = Text(max_length=500)


class PostingOut(Schema):
    account = fields.String(required=True)
    amount = fields.String(required=True, metadata={"description": "signed, debit positive"})
    commodity = fields.String(required=True)
    kind = fields.String(required=True, allow_none=True)
    engagement = fields.String(required=True, allow_none=True)


class DetailOut(Schema):
    account = fields.String(required=True)
    amount = fields.String(required=True, metadata={"description": "signed, debit positive"})
    commodity = fields.String(required=True)
    kind = fields.String(required=True)
    engagement = fields.String(required=True, allow_none=True)
    practice = fields.String(required=True, allow_none=True)


class EntryOut(Schema):
    id = fields.Integer(required=True)
    date = fields.Date(required=True)
    memo = fields.String(required=True)
    source_type = fields.String(required=True)
    source_ref = fields.String(required=True)
    reverses = fields.Integer(required=True, allow_none=True)
    hash = fields.String(required=True)
    prev_hash = fields.String(required=True)
    postings = fields.List(fields.Nested(PostingOut), required=True)
    detail = fields.List(fields.Nested(DetailOut), metadata={
        "description": "the entry's posting detail (one-entry responses only, not the list): a close's capital "
                       "postings broken down by engagement; the lines sum to the postings per account, "
                       "commodity and kind"})


class EntriesQuery(Schema):
    account = AccountName(metadata={"description": "only entries with a posting on this account"})
    from_ = Date(data_key="from", metadata={"description": "dated on or after"})
    to = Date(metadata={"description": "dated on or before"})
    cursor = fields.String(validate=Pattern(CURSOR_RE, error="not a cursor this API gave"))
    limit = Int(load_default=100, minimum=1, maximum=500, query=True)


class EntriesPage(Schema):
    items = fields.List(fields.Nested(EntryOut), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class AccountIn(Schema):
    name = AccountName(required=True)
    commodities = fields.List(fields.String(validate=Pattern(COMMODITY_PATTERN, error="a commodity such as USD")),
                              required=True, validate=validate.Length(min=1, max=4))


class AccountOut(Schema):
    name = fields.String(required=True)
    commodities = fields.List(fields.String(), required=True)


class AsOfQuery(Schema):
    as_of = Date(metadata={"description": "balances of entries dated on or before; default: all"})


class BalanceOut(Schema):
    account = fields.String(required=True)
    commodity = fields.String(required=True)
    balance = fields.String(required=True, metadata={"example": "-12000.00"})


class VerifyOut(Schema):
    ok = fields.Boolean(required=True)
    entries = fields.Integer(required=True)
    head = fields.String(required=True, metadata={"description": "the last entry's hash"})
    problems = fields.List(fields.String(), metadata={"description": "each breach found; only when not ok"})


# --- helpers -----------------------------------------------------------------------------------


def encode_cursor(after_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The entry id a cursor continues after; a ``ValidationError`` on ``cursor`` for anything this
    API did not hand out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        after = json.loads(raw.decode("utf-8"))["after"]
    except (binascii.Error, ValueError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise ValidationError("the cursor is not one this API gave", {"cursor": ["not a valid cursor"]}) from exc
    if type(after) is not int or not 0 <= after <= MAX_ID:
        raise ValidationError("the cursor is not one this API gave", {"cursor": ["not a valid cursor"]})
    return after


def _posting(p: reads.PostingLine) -> dict:
    return {"account": p.account, "amount": fmt(p.amount, p.commodity), "commodity": p.commodity, "kind": p.kind,
            "engagement": p.engagement}


def _detail(d: reads.DetailLine) -> dict:
    return {"account": d.account, "amount": fmt(d.amount, d.commodity), "commodity": d.commodity, "kind": d.kind,
            "engagement": d.engagement, "practice": d.practice}


def entry_out(view: reads.EntryView, with_detail: bool = True) -> dict:
    """An entry as the API gives it; one-entry responses carry its posting detail (``[]`` for most
    entries; a close's capital postings broken down by engagement), the list does not."""
    out = {"id": view.id, "date": view.date, "memo": view.memo, "source_type": view.source_type,
           "source_ref": view.source_ref, "reverses": view.reverses, "hash": view.hash, "prev_hash": view.prev_hash,
           "postings": [_posting(p) for p in view.postings]}
    if with_detail:
        out["detail"] = [_detail(d) for d in view.detail]
    return out


def _entry(entry_id: int) -> dict:
    return entry_out(reads.entry_view(get_session(), entry_id, viewer()))


def _account_out(account: Account) -> dict:
    return {"name": account.name, "commodities": account.commodity_list}


# --- views -------------------------------------------------------------------------------------


def _entry_answer(entry_id: int) -> str:
    """``create_entry``'s body for the entry it wrote, rebuilt from the entry: a replay of its
    ``Idempotency-Key``, whose record names the entry (``idempotency.Claim.with_entry``)."""
    return jsonify(EntryOut().dump(_entry(entry_id))).get_data(as_text=True)


@bp.route("/ledger/entries", methods=["POST"])
@requires("treasurer", answer=_entry_answer)
@bp.arguments(EntryIn)
@bp.response(201, EntryOut)
def create_entry(data):
    """A manual journal entry: postings balance per commodity, on open accounts, in an open period."""
    session = get_session()
    currency = books_currency(session)
    legs = [Leg(p["account"], p["amount"], p["commodity"] or currency) for p in data["postings"]]
    # The hot path of an API client. Committed with the append, with the key's record, in one
    # round trip on PostgreSQL: the chain's lock is released by the server alone, never waiting on
    # this worker. Answered from what was posted: the entry is not read back.
    claim = g.get("idempotency")
    entry = journal.post_manual(session, data["date"], data["memo"], legs, commit=True,
                                also=None if claim is None else claim.with_entry(201))
    return entry_out(reads.posted_view(entry, legs))


@bp.route(f"/ledger/entries/{ENTRY_ID}/reverse", methods=["POST"])
@requires("treasurer")
@bp.arguments(ReverseIn, required=False)
@bp.response(201, EntryOut)
def reverse_entry(data, entry_id):
    """A new entry that reverses the given one (at most once; a reversal is not reversed)."""
    return _entry(journal.reverse_entry(get_session(), entry_id, data.get("date"), data.get("memo")).id)


@bp.route(f"/ledger/entries/{ENTRY_ID}", methods=["GET"])
@requires("treasurer")
@bp.response(200, EntryOut)
def show_entry(entry_id):
    """One entry with its postings and, for a close, their detail by engagement."""
    return _entry(entry_id)


@bp.route("/ledger/entries", methods=["GET"])
@requires("treasurer")
@bp.arguments(EntriesQuery, location="query", unknown=RAISE)
@bp.response(200, EntriesPage)
def list_entries(query):
    """Entries with their postings in chain order, filtered, a page at a time."""
    after = decode_cursor(query["cursor"]) if "cursor" in query else None
    page = reads.entry_list(get_session(), viewer(), after=after, account=query.get("account"),
                            start=query.get("from_"), end=query.get("to"), limit=query["limit"])
    return {"items": [entry_out(v, with_detail=False) for v in page.items],
            "next_cursor": encode_cursor(page.items[-1].id) if page.more else None}


@bp.route("/ledger/accounts", methods=["GET"])
@requires("treasurer")
@bp.response(200, AccountOut(many=True))
def list_accounts():
    """The chart of accounts, by name."""
    return [_account_out(a) for a in reads.accounts(get_session())]


@bp.route("/ledger/accounts", methods=["POST"])
@requires("treasurer")
@bp.arguments(AccountIn)
@bp.response(201, AccountOut)
def create_account(data):
    """Opens an account for the given commodities."""
    return _account_out(journal.open_account(get_session(), data["name"], data["commodities"]))


@bp.route("/ledger/trial-balance", methods=["GET"])
@requires("treasurer")
@bp.arguments(AsOfQuery, location="query", unknown=RAISE)
@bp.response(200, BalanceOut(many=True))
def trial_balance(query):
    """Every account and commodity with its balance (debit positive); each commodity sums to zero."""
    rows = balances.trial_balance(get_session(), query.get("as_of"))
    return [{"account": a, "commodity": c, "balance": fmt(b, c)} for a, c, b in rows]


@bp.route("/ledger/verify", methods=["GET"])
@requires("treasurer")
@bp.response(200, VerifyOut)
def verify_ledger():
    """Recomputes the hash chain and the balances: ok only when every invariant holds."""
    report = verify(get_session())
    out = {"ok": report.ok, "entries": report.entries, "head": report.head}
    return out if report.ok else {**out, "problems": report.problems}
