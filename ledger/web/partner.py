"""A partner's pages: the dashboard, statements (with CSV/PDF downloads and a chart over time),
vesting, and the directory of partners and practices. The treasurer's home is here too.

Every figure comes from a service or a read model: capital from ``read.statements.capital_balance``,
this period's provisional share from ``revenue.close.preview`` of the oldest open period, units
from ``read.directory``, statements from ``read.statements`` (rendered by ``read.render``), and
proposals from ``read.proposals``. Who may open what is ``core.access``'s rule.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask import Response, redirect, render_template, url_for
from flask_login import current_user, login_required

from ledger.core import chart
from ledger.core import periods as P
from ledger.core.access import may_read_statement, sees_capital_of
from ledger.core.errors import LedgerError
from ledger.core.money import ZERO
from ledger.core.vesting import add_months
from ledger.db import clock_of
from ledger.equity.service import grant_terms, vesting_summary
from ledger.governance.service import delegation_history
from ledger.journal.balances import balance, balances
from ledger.journal.periods import closed_periods, oldest_open
from ledger.practices.engagements import engagement_profitability, list_engagements
from ledger.practices.service import get_partner, get_partnership, list_partners, list_practices, owners_now
from ledger.read import directory, proposals, provenance
from ledger.read import entries as reads
from ledger.read.income import nsa_watch
from ledger.read.render import statement_file
from ledger.read.statements import ALLOCATION_KINDS, capital_balance, check_access, read_statement, statement
from ledger.revenue.close import preview
from ledger.runtime.database import get_session
from ledger.web.access import is_self, me, viewer
from ledger.web.errors import web_blueprint
from ledger.web.proposal_forms import ActionForm, DelegateForm

bp = web_blueprint("partner", __name__)


def today() -> dt.date:
    """The server's UTC date, from the clock the services use."""
    return clock_of(get_session()).today()


@bp.route("/")
@login_required
def home():
    if current_user.partner is not None:
        return dashboard()
    return treasurer_home()


def dashboard():
    session = get_session()
    partner = me()
    code = partner.code
    period = oldest_open(session)
    provisional, preview_error = None, None
    try:
        allocation = preview(session, period)
        kinds = allocation.by_partner.get(code, {})
        provisional = {"kinds": {k: kinds.get(k, ZERO) for k in ALLOCATION_KINDS},
                       "total": sum(kinds.values(), ZERO), "net_margin": allocation.net_margin,
                       "overhead": allocation.overhead}
    except LedgerError as exc:  # a practice with margin and no owners: say why there is no figure
        preview_error = exc.detail
    awaiting = []
    for proposal in proposals.proposals(session, "open"):
        d = proposals.describe(session, proposal)
        if code in {e["partner"] for e in d["electorate"]} and code not in d["voted"]:
            awaiting.append(d)
    closed = [p for p in closed_periods(session) if p.ends_on >= partner.joined_on]
    in_force = [d for d in delegation_history(session, partner) if d.revoked_at is None]
    return render_template(
        "partner/dashboard.html", partner=partner, capital=capital_balance(session, code),
        period=period, provisional=provisional, preview_error=preview_error,
        vesting=vesting_summary(session, code, today()), awaiting=awaiting,
        recent=list(reversed(closed[-3:])), today=today(),
        delegations_out=[d for d in in_force if d.delegator_id == partner.id],
        delegations_in=[d for d in in_force if d.delegate_id == partner.id],
        delegate_form=DelegateForm().fill(session, code), action_form=ActionForm(),
    )


def treasurer_home():
    session = get_session()
    ps = get_partnership(session)
    rows = balances(session)
    receivables = sum((v for (a, c), v in rows.items() if a.startswith("Assets:Receivable:") and c == ps.currency),
                      ZERO)
    period = oldest_open(session)
    open_proposals = [proposals.describe(session, p) for p in proposals.proposals(session, "open")]
    return render_template(
        "treasurer/home.html", cash=balance(session, chart.CASH, ps.currency), receivables=receivables,
        period=period, period_bounds=P.bounds(period, ps.period_kind),
        recent=reads.entry_list(session, viewer(), limit=8, newest_first=True).items, proposals=open_proposals,
        nsa_watch=nsa_watch(session),
    )


# --- statements --------------------------------------------------------------------------------


@bp.route("/statements")
@login_required
def my_statements():
    if current_user.partner is not None:
        return redirect(url_for("partner.statements", code=current_user.partner.code))
    return redirect(url_for("partner.partners"))


@bp.route("/partners/<code:code>/statements")
@login_required
def statements(code):
    session = get_session()
    partner = check_access(session, viewer(), code)
    rows, series = [], {"labels": [], "origination": [], "practice": [], "pool": [], "other": [],
                        "draws": [], "closing": []}
    for period in closed_periods(session):
        if period.ends_on < partner.joined_on:
            continue
        st = statement(session, code, period.id)
        by_kind = {k: ZERO for k in (*ALLOCATION_KINDS, "other")}
        for line in st["lines"]:
            if line["kind"] != "draw":
                by_kind[line["kind"] if line["kind"] in ALLOCATION_KINDS else "other"] += Decimal(line["amount"])
        rows.append({"period": period, "st": st, "other": by_kind["other"]})
        series["labels"].append(period.id)
        for k, v in by_kind.items():
            series[k].append(float(v))  # a chart's coordinates, never money arithmetic
        series["draws"].append(-float(Decimal(st["draws"])))
        series["closing"].append(float(Decimal(st["closing"])))
    years = sorted({r["period"].id[:4] for r in rows})
    return render_template("partner/statements.html", partner=partner, rows=list(reversed(rows)),
                           series=series, years=years, mine=is_self(code))


def _statement(code: str, period: str) -> dict:
    return read_statement(get_session(), viewer(), code, period)


@bp.route("/partners/<code:code>/statements/<period>")
@login_required
def statement_page(code, period):
    st = _statement(code, period)
    return render_template("partner/statement.html", st=st, period=period,
                           partner=get_partner(get_session(), code), mine=is_self(code))


@bp.route("/partners/<code:code>/statements/<period>/explain/<int(max=1000000):n>")
@login_required
def explain_line(code, period, n):
    """Why a statement line is what it is: its engagement, the split and weights, the policy
    version and the vote behind it (the read model decides who may see which weights)."""
    session = get_session()
    x = provenance.explain(session, viewer(), code, period, n)
    return render_template("partner/explain.html", x=x, partner=get_partner(session, code), period=period)


def _download(code: str, period: str, fmt: str) -> Response:
    body, mimetype, filename = statement_file(_statement(code, period), fmt)
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.route("/partners/<code:code>/statements/<period>/csv")
@login_required
def statement_download_csv(code, period):
    return _download(code, period, "csv")


@bp.route("/partners/<code:code>/statements/<period>/pdf")
@login_required
def statement_download_pdf(code, period):
    return _download(code, period, "pdf")


# --- vesting -----------------------------------------------------------------------------------


@bp.route("/vesting")
@login_required
def my_vesting():
    if current_user.partner is not None:
        return redirect(url_for("partner.vesting", code=current_user.partner.code))
    return redirect(url_for("partner.partners"))


@bp.route("/partners/<code:code>/vesting")
@login_required
def vesting(code):
    session = get_session()
    on = today()
    summary = directory.vesting(session, viewer(), code, on)
    partner = get_partner(session, code)
    grants = [{"terms": t, "cliff_on": add_months(t.start, t.cliff_months) if t.cliff_months else None,
               "ends_on": add_months(t.start, t.months) if t.months else t.start} for t in grant_terms(session, partner)]
    series = {"labels": [], "vested": [], "scheduled": [], "today": on.isoformat()}
    schedule = list(summary["schedule"])
    starts = [g["terms"].start.isoformat() for g in grants if g["terms"].months]
    if schedule and starts and min(starts) < schedule[0]["date"]:
        # Start the timeline at the grant's start, so the cliff shows as the flat stretch before it.
        schedule.insert(0, {"date": min(starts), "units": 0, "cumulative": 0})
    last_vested = None
    for event in schedule:
        series["labels"].append(event["date"])
        past = event["date"] <= on.isoformat()
        series["vested"].append(event["cumulative"] if past else None)
        # The scheduled line starts at the last vested point so the two lines join.
        series["scheduled"].append(event["cumulative"] if not past else None)
        if past:
            last_vested = len(series["labels"]) - 1
    if last_vested is not None and last_vested + 1 < len(series["labels"]):
        series["scheduled"][last_vested] = series["vested"][last_vested]
    return render_template("partner/vesting.html", partner=partner, summary=summary, grants=grants,
                           series=series, today=on, mine=is_self(code))


# --- the directory -----------------------------------------------------------------------------


@bp.route("/partners")
@login_required
def partners():
    session = get_session()
    practices = list_practices(session)
    owned: dict[str, list[tuple[str, Decimal]]] = {}
    for practice in practices:
        for code, share in owners_now(practice).items():
            owned.setdefault(code, []).append((practice, share))
    open_books = get_partnership(session).open_books
    me_ = viewer()
    people = [{"partner": p, "units": p.vested_units, "owns": owned.get(p.code, []),
               "statements": may_read_statement(me_, p.code, open_books),
               "vesting": sees_capital_of(me_, p.code, open_books=False)}
              for p in directory.partners(session)]
    return render_template("partner/partners.html", people=people)


@bp.route("/practices")
@login_required
def practices():
    session = get_session()
    rows = list_practices(session)
    engagements = list_engagements(session)
    figures = engagement_profitability(session, [e.id for e in engagements])
    totals: dict[str, dict[str, Decimal]] = {}
    for e in engagements:
        t = totals.setdefault(e.practice.code, {"count": 0, "invoiced": ZERO, "net": ZERO})
        t["count"] += 1
        t["invoiced"] += figures[e.id].invoiced
        t["net"] += figures[e.id].net_margin
    names = {p.code: p.name for p in list_partners(session)}
    return render_template("partner/practices.html", practices=[
        {"practice": p, "owners": owners_now(p), "totals": totals.get(p.code)} for p in rows],
        names=names)
