"""Proposals: the list, one proposal (frozen electorate, who has voted, the tally once closed), the
vote, close and cancel buttons, and a form per kind to open one. ``ledger.governance.service``
decides everything: who may vote, when a proposal may close, whether it passed."""

from __future__ import annotations

from decimal import Decimal

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ledger.governance import service as gov
from ledger.practices.service import get_partnership
from ledger.read import impact
from ledger.read import proposals as reads
from ledger.runtime.database import get_session
from ledger.web.access import me, partner_required, viewer
from ledger.web.errors import web_blueprint
from ledger.web.forms import invalid_status, save
from ledger.web.proposal_forms import FORMS, ActionForm, DelegateForm, VoteForm

bp = web_blueprint("governance", __name__, url_prefix="/proposals")

PROPOSAL_ID = "<int(min=1, max=2147483647):proposal_id>"
STATUSES = ("open", "passed", "failed", "canceled")


@bp.route("/")
@login_required
def index():
    session = get_session()
    status = request.args.get("status") or None
    if status not in (None, *STATUSES):
        abort(404)
    rows = [reads.describe(session, p) for p in reversed(reads.proposals(session, status))]
    return render_template("proposals/index.html", rows=rows, status=status, statuses=STATUSES)


def _flash_error(exc) -> None:
    flash(exc.detail, "error")


@bp.route(f"/{PROPOSAL_ID}", methods=["GET"])
@login_required
def show(proposal_id):
    # How each elector voted is shown once the proposal closes (``read.proposals.describe``); until
    # then a partner sees only that they have voted, and may vote again to change it.
    session = get_session()
    proposal = reads.for_viewer(session, proposal_id, viewer())
    you = proposal["you"]
    # A change of policy shows what it would have done to the last closed periods before anyone votes.
    effect = impact.impact(session, viewer(), proposal_id, periods=4) if proposal["kind"] == "change_policy" else None
    delegate_form = DelegateForm().fill(session, current_user.partner.code) if current_user.partner else None
    return render_template("proposals/show.html", p=proposal, vote_form=VoteForm(), action_form=ActionForm(),
                           can_vote=you["can_vote"], have_voted=you["have_voted"], is_proposer=you["is_proposer"],
                           can_close=you["can_close"], you=you, effect=effect, delegate_form=delegate_form,
                           effect_series=_series(effect))


def _series(effect: dict | None) -> dict | None:
    """The impact table as a chart's coordinates (floats for drawing only, never for money)."""
    if not effect or not effect["partners"]:
        return None
    rows = effect["partners"]
    return {"labels": [r["code"] for r in rows], "actual": [float(Decimal(r["actual"])) for r in rows],
            "proposed": [float(Decimal(r["proposed"])) for r in rows]}


@bp.route(f"/{PROPOSAL_ID}/vote", methods=["POST"])
@partner_required
def vote(proposal_id):
    gov.get_proposal(get_session(), proposal_id)  # an unknown proposal is a 404 page
    form = VoteForm()
    if not form.validate_on_submit():
        flash("Choose yes, no or abstain.", "error")
        return redirect(url_for("governance.show", proposal_id=proposal_id))
    saved = save(form, lambda s: gov.cast_vote(s, proposal_id, me(), form.choice.data),
                 success=f"Your vote ({form.choice.data}) is recorded.")
    if not saved:
        flash(" ".join(form.form_errors + [m for f in form for m in f.errors]), "error")
    return redirect(url_for("governance.show", proposal_id=proposal_id))


@bp.route(f"/{PROPOSAL_ID}/close", methods=["POST"])
@login_required
def close(proposal_id):
    gov.get_proposal(get_session(), proposal_id)
    form = ActionForm()
    if form.validate_on_submit():
        saved = save(form, lambda s: gov.close_proposal(s, proposal_id, viewer()))
        if saved:
            flash(f"The proposal is closed: it {saved.value.status}"
                  + (f" ({saved.value.reason})." if saved.value.reason else "."),
                  "success" if saved.value.status == "passed" else "info")
        else:
            flash(" ".join(form.form_errors), "error")
    return redirect(url_for("governance.show", proposal_id=proposal_id))


@bp.route(f"/{PROPOSAL_ID}/cancel", methods=["POST"])
@partner_required
def cancel(proposal_id):
    gov.get_proposal(get_session(), proposal_id)
    form = ActionForm()
    if form.validate_on_submit():
        saved = save(form, lambda s: gov.cancel_proposal(s, proposal_id, me()), success="The proposal is canceled.")
        if not saved:
            flash(" ".join(form.form_errors), "error")
    return redirect(url_for("governance.show", proposal_id=proposal_id))


@bp.route("/new")
@partner_required
def choose_kind():
    return render_template("proposals/choose.html", kinds=list(FORMS))


@bp.route("/new/<kind>", methods=["GET", "POST"])
@partner_required
def new(kind):
    if kind not in FORMS:
        abort(404)
    session = get_session()
    get_partnership(session)
    form = FORMS[kind]()
    form.fill(session)
    if form.validate_on_submit():
        saved = save(form, lambda s: gov.open_proposal(s, me(), kind, form.title.data, form.payload(),
                                                       form.closes_at_utc()),
                     aliases=form.ALIASES, success="The proposal is open for votes.")
        if saved:
            return redirect(url_for("governance.show", proposal_id=saved.value.id))
    return render_template("proposals/new.html", form=form, kind=kind), invalid_status(form)


# --- delegated votes -----------------------------------------------------------------------------


@bp.route(f"/{PROPOSAL_ID}/delegate", methods=["POST"])
@partner_required
def delegate(proposal_id):
    """Delegate my vote on this proposal (the service decides who may, and to whom)."""
    gov.get_proposal(get_session(), proposal_id)
    form = DelegateForm().fill(get_session(), me().code)
    if form.validate_on_submit():
        saved = save(form, lambda s: gov.delegate_vote(s, me(), form.to.data, proposal_id),
                     success=f"Your vote on this proposal is delegated to {form.to.data}.")
        if not saved:
            flash(" ".join(form.form_errors + [m for f in form for m in f.errors]), "error")
    return redirect(url_for("governance.show", proposal_id=proposal_id))


@bp.route(f"/{PROPOSAL_ID}/delegate/revoke", methods=["POST"])
@partner_required
def revoke_delegation(proposal_id):
    gov.get_proposal(get_session(), proposal_id)
    form = ActionForm()
    if form.validate_on_submit():
        saved = save(form, lambda s: gov.revoke_delegation(s, me(), proposal_id),
                     success="Your delegation for this proposal is revoked.")
        if not saved:
            flash(" ".join(form.form_errors), "error")
    return redirect(url_for("governance.show", proposal_id=proposal_id))


@bp.route("/delegation", methods=["POST"])
@partner_required
def delegate_standing():
    """A standing delegation, for every proposal until revoked (one for a proposal wins over it)."""
    form = DelegateForm().fill(get_session(), me().code)
    if form.validate_on_submit():
        saved = save(form, lambda s: gov.delegate_vote(s, me(), form.to.data, None),
                     success=f"Your vote is delegated to {form.to.data} until you revoke it.")
        if not saved:
            flash(" ".join(form.form_errors + [m for f in form for m in f.errors]), "error")
    return redirect(url_for("partner.home"))


@bp.route("/delegation/revoke", methods=["POST"])
@partner_required
def revoke_standing():
    form = ActionForm()
    if form.validate_on_submit():
        saved = save(form, lambda s: gov.revoke_delegation(s, me(), None), success="Your standing delegation is revoked.")
        if not saved:
            flash(" ".join(form.form_errors), "error")
    return redirect(url_for("partner.home"))
