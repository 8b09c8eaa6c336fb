"""The treasurer's books: periods and their close (with the preview of what it will post), and the
ledger browser — entries (paginated, filtered), one entry with its reversal, manual entries, the
chart of accounts, the trial balance and ``verify``.

A partner may open an entry that moves their capital (the read model decides, and shows them the
other partners' lines aggregated); everything else here is the treasurer's (or an admin's).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import FieldList, FormField, SelectField, StringField
from wtforms import Form as PlainForm
from wtforms.validators import Optional

from ledger.core.entries import Leg
from ledger.core.errors import LedgerError
from ledger.core.money import ZERO
from ledger.core.text import fits
from ledger.db import clock_of
from ledger.journal.balances import trial_balance
from ledger.journal.periods import get_books, get_period, list_periods, oldest_open
from ledger.journal.service import COMMODITY_UNITS, post_manual, reverse_entry
from ledger.partnership.close import close_period
from ledger.partnership.integrity import full_verify
from ledger.practices.service import list_partners
from ledger.read import entries as reads
from ledger.revenue.close import preview
from ledger.runtime.database import get_session
from ledger.web.access import treasurer_required, viewer
from ledger.web.errors import web_blueprint
from ledger.web.forms import DayField, MoneyField, invalid_status, options, save, text_validators
from ledger.web.proposal_forms import ActionForm

bp = web_blueprint("books", __name__)

ENTRY_ID = "<int(min=1, max=9223372036854775807):entry_id>"
POSTING_ROWS = 6


# --- periods -----------------------------------------------------------------------------------


@bp.route("/periods")
@treasurer_required
def periods():
    session = get_session()
    rows = list_periods(session)
    return render_template("books/periods.html", rows=list(reversed(rows)), next_id=oldest_open(session))


@bp.route("/periods/<period_id>/close", methods=["GET", "POST"])
@treasurer_required
def close(period_id):
    session = get_session()
    if get_period(session, period_id).status == "closed":  # a 404 page for a malformed id
        flash(f"Period {period_id} is already closed; its statements are ready.", "info")
        return redirect(url_for("books.periods"))
    form = ActionForm()
    if form.validate_on_submit():
        saved = save(form, lambda s: close_period(s, period_id), success=f"Period {period_id} is closed.")
        if saved:
            return redirect(url_for("books.periods"))
    allocation, error = None, None
    try:
        allocation = preview(session, period_id)
    except LedgerError as exc:
        error = exc.detail
    names = {p.code: p.name for p in list_partners(session)}
    return render_template("books/close.html", period_id=period_id, allocation=allocation, error=error, form=form,
                           names=names, is_next=period_id == oldest_open(session)), invalid_status(form)


# --- entries -----------------------------------------------------------------------------------


def _date_arg(name: str) -> dt.date | None:
    value = request.args.get(name) or ""
    try:
        return dt.date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        return None


@bp.route("/ledger/entries")
@treasurer_required
def entries():
    session = get_session()
    account = request.args.get("account") or None
    before = request.args.get("before")
    if before is not None:
        if not fits(r"[0-9]{1,19}", before) or not 1 <= int(before) <= 2**63 - 1:
            abort(404)
        before = int(before)
    start, end = _date_arg("from"), _date_arg("to")
    page = reads.entry_list(session, viewer(), before=before, account=account or None, start=start, end=end,
                            newest_first=True, limit=reads.PAGE_SIZE)
    args = {k: v for k, v in (("account", account), ("from", start), ("to", end)) if v}
    return render_template("books/entries.html", page=page, account=account, start=start, end=end,
                           args=args, first_page=before is None, accounts=reads.accounts(session))


class ReverseForm(FlaskForm):
    date = DayField("Reversal date", required=False)
    memo = StringField("Memo", text_validators(500, required=False), description="optional")


def _entry_page(entry_id: int, form: ReverseForm):
    entry = reads.entry_view(get_session(), entry_id, viewer())
    return render_template("books/entry.html", entry=entry, form=form), invalid_status(form)


@bp.route(f"/ledger/entries/{ENTRY_ID}")
@login_required
def entry(entry_id):
    return _entry_page(entry_id, ReverseForm(formdata=None))


@bp.route(f"/ledger/entries/{ENTRY_ID}/reverse", methods=["POST"])
@treasurer_required
def reverse(entry_id):
    form = ReverseForm()
    if form.validate_on_submit():
        saved = save(form, lambda s: reverse_entry(s, entry_id, form.date.data, form.memo.data or None))
        if saved:
            flash(f"Entry #{entry_id} is reversed by entry #{saved.value.id}.", "success")
            return redirect(url_for("books.entry", entry_id=saved.value.id))
    return _entry_page(entry_id, form)


class PostingRow(PlainForm):
    account = SelectField("Account", validate_choice=False)
    amount = MoneyField("Amount", [Optional()], positive=False, description="debit positive, credit negative")
    commodity = SelectField("Commodity", validate_choice=False)


class ManualEntryForm(FlaskForm):
    date = DayField()
    memo = StringField("Memo", text_validators(500))
    postings = FieldList(FormField(PostingRow), min_entries=POSTING_ROWS, max_entries=40)


@bp.route("/ledger/entries/new", methods=["GET", "POST"])
@treasurer_required
def new_entry():
    session = get_session()
    form = ManualEntryForm()
    currency = get_books(session).currency
    names = [a.name for a in reads.accounts(session)]
    for row in form.postings.entries:
        row.form.account.choices = options([("", "—")] + [(n, n) for n in names])
        row.form.commodity.choices = options([(currency, currency), (COMMODITY_UNITS, COMMODITY_UNITS)])
    if request.method == "GET" and form.date.data is None:
        form.date.data = clock_of(session).today()
    if form.validate_on_submit():
        legs, aliases = [], {}
        for i, row in enumerate(form.postings.entries):
            f = row.form
            if not f.account.data and f.amount.data is None:
                continue  # an empty row
            if not f.account.data:
                f.account.errors = [*f.account.errors, "choose an account"]
                continue
            if f.amount.data is None:
                f.amount.errors = [*f.amount.errors, "an amount is needed"]
                continue
            for sub in ("account", "amount", "commodity"):
                aliases[f"postings[{len(legs)}].{sub}"] = f"postings[{i}].{sub}"
            legs.append(Leg(f.account.data, f.amount.data, f.commodity.data or currency))
        if not any(f.errors for row in form.postings.entries for f in row.form):
            saved = save(form, lambda s: post_manual(s, form.date.data, form.memo.data, legs), aliases=aliases)
            if saved:
                flash(f"Entry #{saved.value.id} posted.", "success")
                return redirect(url_for("books.entry", entry_id=saved.value.id))
    return render_template("books/new_entry.html", form=form, currency=currency), invalid_status(form)


# --- accounts, trial balance, verify -----------------------------------------------------------


@bp.route("/ledger/accounts")
@treasurer_required
def accounts():
    session = get_session()
    rows = defaultdict(dict)
    for account, commodity, amount in trial_balance(session):
        rows[account][commodity] = amount
    return render_template("books/accounts.html", accounts=reads.accounts(session), balances=rows)


@bp.route("/ledger/trial-balance")
@treasurer_required
def trial_balance_page():
    session = get_session()
    as_of = _date_arg("as_of")
    rows = trial_balance(session, as_of)
    totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: {"debit": ZERO, "credit": ZERO})
    for _account, commodity, amount in rows:
        totals[commodity]["debit" if amount > 0 else "credit"] += amount
    return render_template("books/trial_balance.html", rows=rows, totals=dict(totals), as_of=as_of)


@bp.route("/ledger/verify")
@treasurer_required
def verify():
    report = full_verify(get_session())
    return render_template("books/verify.html", report=report)

