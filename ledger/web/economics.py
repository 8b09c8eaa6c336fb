"""Practice economics (CONTRACT §10): the partnership's income statement over a range of periods
(with CSV and PDF downloads in the statements' style), a practice's months in a chart (revenue,
margin, subcontract share), and an outside firm's work, pay, margin, vetting and NSA.

Every signed-in user may read these: they are partnership-wide figures, no partner's capital. The
figures are ``ledger.read.income``'s; the downloads ``ledger.read.render``'s.
"""

from __future__ import annotations

from flask import Response, render_template, request
from flask_login import login_required

from ledger.core.errors import ValidationError
from ledger.practices.service import get_practice
from ledger.read.income import GROUPINGS, firm, income_statement, practice_months
from ledger.read.render import income_file
from ledger.runtime.database import get_session
from ledger.web.errors import web_blueprint

bp = web_blueprint("economics", __name__)


def _statement():
    by = request.args.get("by", "practice")
    if by not in GROUPINGS:
        raise ValidationError(f"by must be one of {', '.join(GROUPINGS)}", {"by": ["unknown grouping"]})
    return income_statement(get_session(), request.args.get("from") or None, request.args.get("to") or None, by)


@bp.route("/reports/income")
@login_required
def income():
    return render_template("economics/income.html", st=_statement(), groupings=GROUPINGS)


@bp.route("/reports/income/csv")
@login_required
def income_download_csv():
    return _download("csv")


@bp.route("/reports/income/pdf")
@login_required
def income_download_pdf():
    return _download("pdf")


def _download(fmt: str) -> Response:
    body, mimetype, filename = income_file(_statement(), fmt)
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.route("/practices/<code:practice_code>")
@login_required
def practice(practice_code):
    session = get_session()
    p = get_practice(session, practice_code)
    months = practice_months(session, practice_code, request.args.get("from") or None, request.args.get("to") or None)
    chart = {"labels": [m for m, _ in months],
             "revenue": [float(f.revenue) for _, f in months],
             "margin": [float(f.margin) for _, f in months],
             "subcontract_share": [None if f.subcontract_share is None else float(f.subcontract_share) * 100
                                   for _, f in months]}
    total = None
    for _, f in months:
        total = f if total is None else total + f
    return render_template("economics/practice.html", practice=p, months=months, chart=chart, total=total)


@bp.route("/firms/<code:firm_code>")
@login_required
def firm_page(firm_code):
    view, work = firm(get_session(), firm_code)
    total = None
    for w in work:
        total = w.figures if total is None else total + w.figures
    return render_template("economics/firm.html", firm=view, work=work, total=total)
