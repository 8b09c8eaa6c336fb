"""The treasurer's bookings — clients, outside firms, engagements, invoices, costs, payments,
overhead, draws — and the engagement pages every signed-in user may read (as in the API).

Each form posts to ``ledger.practices.bookings`` through ``forms.save``: success commits and
redirects; a refusal re-renders the form with the typed values and the errors beside the fields.
"""

from __future__ import annotations

import datetime as dt

from flask import flash, redirect, render_template, request, url_for
from flask_login import login_required

from ledger.core import chart
from ledger.core.economics import nsa_status
from ledger.core.vetting import VETTING_CRITERIA, subcontract_refusals
from ledger.db import clock_of
from ledger.journal.balances import balances
from ledger.practices import bookings as B
from ledger.practices.engagements import (
    create_client,
    create_firm,
    engagement_profitability,
    get_engagement,
    list_clients,
    list_engagements,
    list_firms,
    open_engagement,
)
from ledger.practices.service import active_partners, get_partnership, list_partners, list_practices
from ledger.read import entries as reads
from ledger.runtime.database import get_session
from ledger.web.access import treasurer_required, viewer
from ledger.web.booking_forms import (
    ClientForm,
    CostForm,
    DrawForm,
    EngagementForm,
    FirmForm,
    InvoiceForm,
    OverheadForm,
    PaymentForm,
)
from ledger.web.errors import web_blueprint
from ledger.web.forms import invalid_status, options, save

bp = web_blueprint("bookkeeping", __name__)


def today() -> dt.date:
    """The server's UTC date, from the clock the services use (the forms' default date)."""
    return clock_of(get_session()).today()


def _engagement_choices(session):
    return options((e.ref, f"{e.ref} — {e.title} ({e.client.code})") for e in list_engagements(session))


# --- clients and firms -----------------------------------------------------------------------------


@bp.route("/clients", methods=["GET", "POST"])
@treasurer_required
def clients():
    session = get_session()
    form = ClientForm()
    if form.validate_on_submit():
        if save(form, lambda s: create_client(s, form.code.data, form.name.data),
                success=f"Client {form.code.data} added."):
            return redirect(url_for("bookkeeping.clients"))
    ps = get_partnership(session)
    owed = balances(session)
    rows = [{"client": c, "account": chart.receivable(c.code), "owes": owed.get((chart.receivable(c.code), ps.currency))}
            for c in list_clients(session)]
    return render_template("treasurer/clients.html", form=form, rows=rows), invalid_status(form)


@bp.route("/firms", methods=["GET", "POST"])
@treasurer_required
def firms():
    session = get_session()
    form = FirmForm()
    if form.validate_on_submit():
        if save(form, lambda s: create_firm(s, form.code.data, form.name.data, form.vetted.data,
                                               form.nsa_signed_on.data, form.nsa_expires_on.data),
                aliases={f"vetted[{i}]": "vetted" for i in range(len(VETTING_CRITERIA))},
                success=f"Firm {form.code.data} added."):
            return redirect(url_for("bookkeeping.firms"))
    on = today()
    rows = [{"firm": f, "refusals": subcontract_refusals(f.vetted_list, f.nsa_signed_on, f.nsa_expires_on, on),
             "nsa": nsa_status(f.nsa_signed_on, f.nsa_expires_on, on)} for f in list_firms(session)]
    return render_template("treasurer/firms.html", form=form, rows=rows, today=on), invalid_status(form)


# --- engagements -------------------------------------------------------------------------------


@bp.route("/engagements")
@login_required
def engagements():
    session = get_session()
    practice = request.args.get("practice") or None
    rows = [e for e in list_engagements(session) if practice is None or e.practice.code == practice]
    figures = engagement_profitability(session, [e.id for e in rows])
    return render_template("engagements/index.html", rows=[(e, figures[e.id]) for e in rows],
                           practice=practice, practices=list_practices(session))


@bp.route("/engagements/<ref:ref>")
@login_required
def engagement(ref):
    session = get_session()
    e = get_engagement(session, ref)
    figures = engagement_profitability(session, [e.id])[e.id]
    page = reads.entry_list(session, viewer(), engagement_id=e.id, limit=200, newest_first=True)
    return render_template("engagements/show.html", e=e, figures=figures, entries=page.items)


@bp.route("/engagements/new", methods=["GET", "POST"])
@treasurer_required
def new_engagement():
    session = get_session()
    form = EngagementForm()
    form.client.choices = options((c.code, f"{c.name} ({c.code})") for c in list_clients(session))
    form.practice.choices = options((p.code, f"{p.name} ({p.code})") for p in list_practices(session))
    form.originator.choices = options((p.code, p.name) for p in active_partners(session))
    if request.method == "GET" and form.opened_on.data is None:
        form.opened_on.data = today()
    if form.validate_on_submit():
        saved = save(form, lambda s: open_engagement(
            s, ref=form.ref.data, client=form.client.data, practice=form.practice.data,
            originator=form.originator.data, title=form.title.data, opened_on=form.opened_on.data),
            success=f"Engagement {form.ref.data} opened.")
        if saved:
            return redirect(url_for("bookkeeping.engagement", ref=saved.value.ref))
    return render_template("treasurer/form.html", form=form, title="New engagement",
                           intro="An engagement of a practice for a client, originated by an active partner."), \
        invalid_status(form)


# --- money in and out ----------------------------------------------------------------------------


def _default_date(form) -> None:
    if request.method == "GET" and form.date.data is None:
        form.date.data = today()


@bp.route("/invoices/new", methods=["GET", "POST"])
@treasurer_required
def new_invoice():
    session = get_session()
    form = InvoiceForm(engagement=request.args.get("engagement"))
    form.engagement.choices = _engagement_choices(session)
    _default_date(form)
    if form.validate_on_submit():
        saved = save(form, lambda s: B.record_invoice(s, form.engagement.data, form.amount.data, form.date.data,
                                                      form.memo.data or None),
                     aliases={"ref": "engagement"})
        if saved:
            return _booked(saved.value.entry.id, f"Invoice of {saved.value.amount} recorded",
                           "bookkeeping.engagement", ref=form.engagement.data)
    return render_template("treasurer/form.html", form=form, title="Record an invoice",
                           intro="Revenue: the client's receivable is debited, the practice's revenue credited."), \
        invalid_status(form)


@bp.route("/costs/new", methods=["GET", "POST"])
@treasurer_required
def new_cost():
    session = get_session()
    form = CostForm(engagement=request.args.get("engagement"))
    form.engagement.choices = _engagement_choices(session)
    _default_date(form)
    on = form.date.data if isinstance(form.date.data, dt.date) else today()
    offered, refused = [], []
    for firm in list_firms(session):
        reasons = subcontract_refusals(firm.vetted_list, firm.nsa_signed_on, firm.nsa_expires_on, on)
        (refused if reasons else offered).append((firm, reasons))
    form.firm.choices = options([("", "— none (an expense) —")] + [(f.code, f"{f.name} ({f.code})") for f, _ in offered])
    if form.validate_on_submit():
        saved = save(form, lambda s: B.record_cost(s, form.engagement.data, form.amount.data, form.date.data,
                                                   form.kind.data, form.firm.data or None, form.memo.data or None),
                     aliases={"ref": "engagement"})
        if saved:
            booked, _cost = saved.value
            return _booked(booked.entry.id, f"Cost of {booked.amount} recorded",
                           "bookkeeping.engagement", ref=form.engagement.data)
    return render_template("treasurer/form.html", form=form, title="Record a direct cost", refused_firms=refused,
                           firms_on=on, intro="A direct cost of an engagement: an expense, or work subcontracted "
                                              "to a vetted outside firm."), invalid_status(form)


@bp.route("/payments/new", methods=["GET", "POST"])
@treasurer_required
def new_payment():
    session = get_session()
    form = PaymentForm(client=request.args.get("client"))
    form.client.choices = options((c.code, f"{c.name} ({c.code})") for c in list_clients(session))
    _default_date(form)
    if form.validate_on_submit():
        saved = save(form, lambda s: B.record_payment(s, form.client.data, form.amount.data, form.date.data))
        if saved:
            booked, left = saved.value
            return _booked(booked.entry.id, f"Payment of {booked.amount} recorded; the client still owes {left}",
                           "bookkeeping.clients")
    return render_template("treasurer/form.html", form=form, title="Record a client payment",
                           intro="Cash received against what the client owes (never more than that)."), \
        invalid_status(form)


@bp.route("/overhead/new", methods=["GET", "POST"])
@treasurer_required
def new_overhead():
    form = OverheadForm()
    _default_date(form)
    if form.validate_on_submit():
        saved = save(form, lambda s: B.record_overhead(s, form.category.data, form.amount.data, form.date.data,
                                                       form.memo.data or None))
        if saved:
            booked, account = saved.value
            return _booked(booked.entry.id, f"Overhead of {booked.amount} recorded on {account}")
    return render_template("treasurer/form.html", form=form, title="Record shared overhead",
                           intro="Overhead is taken from the common pool when the period closes."), \
        invalid_status(form)


@bp.route("/draws/new", methods=["GET", "POST"])
@treasurer_required
def new_draw():
    session = get_session()
    form = DrawForm(partner=request.args.get("partner"))
    form.partner.choices = options((p.code, p.name) for p in list_partners(session))
    _default_date(form)
    if form.validate_on_submit():
        saved = save(form, lambda s: B.record_draw(s, form.partner.data, form.amount.data, form.date.data))
        if saved:
            return _booked(saved.value.entry.id, f"Draw of {saved.value.amount} to {form.partner.data} recorded")
    return render_template("treasurer/form.html", form=form, title="Record a draw",
                           intro="Cash paid out to a partner, charged to their capital account."), \
        invalid_status(form)


def _booked(entry_id: int, message: str, endpoint: str | None = None, **values):
    """Flash what was booked and go to ``endpoint`` (one of ours), or to the entry it wrote."""
    flash(f"{message} (entry #{entry_id}).", "success")
    if endpoint is None:
        return redirect(url_for("books.entry", entry_id=entry_id))
    return redirect(url_for(endpoint, **values))
