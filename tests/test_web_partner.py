"""A partner's pages: dashboard, statements (and downloads), vesting, partners, practices,
engagements, the entries a statement links to; and who may open them."""

from __future__ import annotations

import csv
import io
import re

import pytest
from helpers.web import text

from ledger.governance.service import open_proposal
from ledger.practices.service import get_partner, get_partnership
from ledger.runtime.database import get_session


def test_the_dashboard_shows_capital_the_provisional_share_units_and_votes(worked_january, as_user):
    page = text(as_user("ana").get("/"))
    assert "Capital balance" in page
    # January is open: ana's provisional share is the worked example's 3,999.99 + 935.19
    assert "4,935.18" in page and "2026-01, provisional" in page
    assert "3,999.99" in page and "935.19" in page
    assert "500 vested" in page and "none scheduled" in page
    assert "Nothing waits for your vote" in page


def test_the_dashboard_lists_proposals_awaiting_my_vote(web, as_user):
    with web.app_context():
        s = get_session()
        import datetime as dt

        open_proposal(s, get_partner(s, "ben"), "resolution", "Adopt a dress code", {"text": "Ties on Fridays."},
                      dt.datetime.now(dt.UTC) + dt.timedelta(days=3))
        s.commit()
    page = text(as_user("ana").get("/"))
    assert "Adopt a dress code" in page and "0 of 3 voted" in page


def test_after_the_close_the_dashboard_shows_capital_and_recent_statements(closed_january, as_user):
    page = text(as_user("ben").get("/"))
    assert "1,452.78" in page  # ben's closing capital in the worked example
    assert "2026-02, provisional" in page
    assert "2026-01" in page


def test_the_statements_page_lists_closed_periods_with_a_chart(closed_january, as_user):
    response = as_user("ana").get("/partners/ana/statements")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-chart="capital"' in html and 'id="capital-data"' in html
    assert "/assets/vendor/chart.umd.js" in html
    assert '"closing": [4935.18]' in html.replace("\n", "")
    page = text(response)
    assert "4,935.18" in page and "2026 year to date" in page


def test_a_statement_links_every_line_to_its_engagement_and_entry(closed_january, as_user):
    response = as_user("ben").get("/partners/ben/statements/2026-01")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    page = text(response)
    for figure in ("666.67", "518.52", "467.59", "−200.00", "1,652.78", "1,452.78"):
        assert figure in page, figure
    lines = re.findall(r'<td>\s*<span class="kind kind-(\w+)">', html)
    assert sorted(lines) == ["draw", "origination", "pool", "practice"]
    assert 'href="/engagements/e1"' in html and 'href="/engagements/e2"' in html
    entry_links = re.findall(r'href="/ledger/entries/(\d+)"', html)
    assert len(entry_links) == 4


def test_the_year_to_date_statement(closed_january, as_user):
    page = text(as_user("chen").get("/partners/chen/statements/2026"))
    assert "813.27" in page and "Share statement 2026 year to date" in page
    assert "Periods 2026-01 to 2026-01" in page


def test_statement_downloads(closed_january, as_user):
    client = as_user("ben")
    pdf = client.get("/partners/ben/statements/2026-01/pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    assert 'filename="statement-ben-2026-01.pdf"' in pdf.headers["Content-Disposition"]
    assert pdf.headers["Cache-Control"] == "no-store"
    got = client.get("/partners/ben/statements/2026-01/csv")
    assert got.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(got.get_data(as_text=True))))
    assert rows[0] == ["kind", "amount", "engagement", "practice", "entry"]
    assert ["closing", "1452.78", "", "", ""] in rows


def test_an_open_periods_statement_is_a_page_not_an_error(worked_january, as_user):
    response = as_user("ana").get("/partners/ana/statements/2026-01")
    assert response.status_code == 409
    assert "not closed yet" in text(response)


NOT_FOUND = ["/partners/ana/statements/2026-13", "/partners/ana/statements/nonsense", "/partners/nobody/statements",
             "/partners/nobody/vesting", "/partners/ana/statements/1999-01", "/partners/ana/statements/2026-01/xls"]
OTHERS = ["/partners/ben/statements", "/partners/ben/statements/2026-01", "/partners/ben/statements/2026-01/pdf",
          "/partners/ben/statements/2026-01/csv", "/partners/ben/vesting"]


@pytest.mark.parametrize("path", NOT_FOUND)
def test_unknown_things_are_a_404_page(closed_january, as_user, path):
    response = as_user("ana").get(path)
    assert response.status_code == 404, path
    assert response.mimetype == "text/html", path


@pytest.mark.parametrize("path", OTHERS)
def test_another_partners_statement_or_vesting_is_a_403_page(closed_january, as_user, path):
    response = as_user("ana").get(path)
    assert response.status_code == 403, path
    assert response.mimetype == "text/html"
    assert "You may not open this page" in text(response)


def test_open_books_let_every_partner_read_every_statement(closed_january, as_user):
    with closed_january.app_context():
        s = get_session()
        get_partnership(s).open_books = True
        s.commit()
    client = as_user("ana")
    assert client.get("/partners/ben/statements/2026-01").status_code == 200
    assert client.get("/partners/ben/vesting").status_code == 403  # vesting stays private


@pytest.mark.parametrize("code", ["ana", "ben", "chen"])
def test_the_treasurer_reads_every_statement(closed_january, treasurer, code):
    assert treasurer.get(f"/partners/{code}/statements/2026-01").status_code == 200
    assert treasurer.get(f"/partners/{code}/vesting").status_code == 200


def test_the_vesting_page_for_a_founder(web, ana):
    page = text(ana.get("/partners/ana/vesting"))
    assert "Granted 500" in page and "Vested 500" in page and "all at once (founder)" in page


def test_the_vesting_page_for_a_grant_shows_the_timeline_and_table(web, as_user):
    import datetime as dt

    from ledger.equity.models import Grant

    with web.app_context():
        s = get_session()
        ben = get_partner(s, "ben")
        s.add(Grant(partner_id=ben.id, units=480, start=dt.date(2026, 1, 1), cliff_months=12, months=48, every=1,
                    kind="grant"))
        s.commit()
    response = as_user("ben").get("/partners/ben/vesting")
    html = response.get_data(as_text=True)
    assert 'data-chart="vesting"' in html and 'id="vesting-data"' in html
    page = text(response)
    assert "12 months (1 Jan 2027)" in page and "every 1 month over 48" in page
    assert "Cliff on 1 Jan 2027" in page
    assert "1 Jan 2030" in page  # the last tranche


def test_partners_and_practices(closed_january, ana):
    page = text(ana.get("/partners"))
    assert "Ana" in page and "Ben" in page and "Chen" in page
    assert "Microsoft 365 100%" in page and "Phone Systems 70%" in page
    page = text(ana.get("/practices"))
    assert "Microsoft 365" in page and "Phone Systems" in page and "70%" in page and "30%" in page
    assert "6,666.66" in page  # e1's net margin to date


def test_engagements_are_readable_by_partners(closed_january, ana):
    page = text(ana.get("/engagements"))
    assert "e1" in page and "M365 rollout" in page and "33.33%" in page
    page = text(ana.get("/engagements?practice=voice"))
    assert "e2" in page and "M365 rollout" not in page
    response = ana.get("/engagements/e1")
    assert response.status_code == 200
    page = text(response)
    assert "9,999.99" in page and "6,666.66" in page and "Record invoice" not in page
    assert ana.get("/engagements/nope").status_code == 404


def test_a_partner_opens_the_entries_of_their_own_statement_only(closed_january, as_user):
    client = as_user("ana")
    html = client.get("/partners/ana/statements/2026-01").get_data(as_text=True)
    entry = re.findall(r'href="/ledger/entries/(\d+)"', html)[0]
    page = client.get(f"/ledger/entries/{entry}")
    assert page.status_code == 200 and "Equity:Capital:Ana" in text(page)
    assert "Reverse this entry" not in text(page)
    assert client.get("/ledger/entries/1").status_code == 403  # the rent, nobody's capital
    assert client.get("/ledger/entries/999999").status_code == 404
