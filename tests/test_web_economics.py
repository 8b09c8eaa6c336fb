"""The web's practice economics (CONTRACT §10): the income statement page and its downloads, a
practice's and a firm's pages, the NSA watch — on the worked January (e1 msft 9,999.99 invoiced,
3,333.33 subcontracted to Bayside; e2 voice 1,234.57; rent 500.00), closed."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

from helpers.web import text

from ledger.core.vetting import VETTING_CRITERIA
from ledger.practices.engagements import create_firm
from ledger.runtime.database import get_session


def test_the_income_statement_page_and_its_downloads(closed_january, ana):
    page = text(ana.get("/reports/income?from=2026-01&to=2026-02"))
    assert "11,234.56" in page and "7,901.23" in page and "7,401.23" in page
    assert "Provisional: 2026-02 is still open" in page
    by_period = text(ana.get("/reports/income?from=2026-01&to=2026-02&by=period"))
    assert "2026-01 closed" in by_period and "2026-02 provisional" in by_period
    response = ana.get("/reports/income/csv?from=2026-01&to=2026-01&by=firm")
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="income-2026-01-2026-01-by-firm.csv"'
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[1] == ["bayside", "9999.99", "3333.33", "3333.33", "6666.66", "0.6667", "1.0000", ""]
    pdf = ana.get("/reports/income/pdf?from=2026-01&to=2026-01")
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF") and len(pdf.data) > 1500


def test_bad_ranges_are_error_pages_not_tracebacks(closed_january, ana):
    assert ana.get("/reports/income?from=2026-13").status_code == 404
    assert ana.get("/reports/income?from=2026-03&to=2026-01").status_code == 422
    assert ana.get("/reports/income?by=colour").status_code == 422
    assert ana.get("/practices/nope").status_code == 404 and ana.get("/firms/nope").status_code == 404


def test_a_practice_page_charts_its_months(closed_january, ana):
    response = ana.get("/practices/msft?from=2026-01&to=2026-03")
    html = response.get_data(as_text=True)
    data = json.loads(re.search(r'<script type="application/json" id="economics-data">(.*?)</script>', html, re.S)[1])
    assert data == {"labels": ["2026-01", "2026-02", "2026-03"], "revenue": [9999.99, 0.0, 0.0],
                    "margin": [6666.66, 0.0, 0.0], "subcontract_share": [100.0, None, None]}


def test_a_firm_page_shows_its_work_and_the_nsa_watch_flags_it(closed_january, ana, treasurer):
    page = text(ana.get("/firms/bayside"))
    assert "e1" in page and "3,333.33" in page and "6,666.66" in page and "in force" in page.lower()
    with closed_january.app_context():
        s = get_session()
        today = dt.datetime.now(dt.UTC).date()
        create_firm(s, "shortwave", "Shortwave Links", list(VETTING_CRITERIA), dt.date(2025, 1, 1),
                    today + dt.timedelta(days=20))
        s.commit()
    home = text(treasurer.get("/"))
    assert "Shortwave Links" in home and "in 20 days" in home
    assert "expires soon" in text(treasurer.get("/firms"))
    assert "Shortwave Links" not in text(ana.get("/"))  # the treasurer's watch
