"""End to end in a real browser: Playwright driving Debian's chromium against the app served by
gunicorn on a free loopback port, over a database this module prepares (migrated, the worked
example's charter founded, January booked and closed, passwords set, a proposal two partners have
voted on).

- a partner signs in, opens a statement and downloads its PDF;
- a partner votes and sees the proposal close;
- the treasurer records an invoice and closes a period;
- a partner explains a statement line to its engagement, split and policy;
- a partner votes on a change of policy with its impact preview in front of them.

Screenshots of the main pages (desktop and phone widths) go to ``artifacts/screenshots/``. The
pages must load without a console error, which also proves the Content-Security-Policy lets the
vendored Chart.js draw. Without chromium these tests fail when ``CI`` is set and skip otherwise.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from charters import WORKED_CHARTER
from helpers.engine import ENGINE, create_pg_database, drop_pg_database, migrate

pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    ENGINE == "postgresql", reason="the browser drives the pages the web tests drive on both engines: it runs once, in the SQLite run")]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "browser-password"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def playwright_browser():
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# --- the database and the server -----------------------------------------------------------------


def _database_url(tmp: Path) -> tuple[str, str | None]:
    """A database of the module's own: a SQLite file, or a PostgreSQL database to drop after."""
    if ENGINE != "postgresql":
        return f"sqlite:///{tmp / 'browser.db'}", None
    name = f"pl_browser_{uuid.uuid4().hex[:10]}"
    return create_pg_database(name), name


def _prepare(url: str, tmp: Path) -> int:
    """Migrate, found, book and close January, set passwords, open a resolution two partners have
    voted on and a change of policy nobody has; returns the resolution's id."""
    from helpers.web import book_worked_january

    from ledger import create_app
    from ledger.auth.service import add_user, get_user, set_password
    from ledger.governance.service import cast_vote, open_proposal
    from ledger.partnership.close import close_period
    from ledger.practices.service import get_partner
    from ledger.runtime.database import get_session

    migrate(url)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "browser-tests"})
    runner = app.test_cli_runner()
    charter = tmp / "charter.toml"
    charter.write_text(WORKED_CHARTER)
    result = runner.invoke(args=["init", str(charter)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        s = get_session()
        for email in ("ana@example.com", "ben@example.com", "chen@example.com"):
            set_password(s, get_user(s, email), PASSWORD)
        add_user(s, "tre@example.com", "treasurer", password=PASSWORD)
        book_worked_january(s)
        close_period(s, "2026-01")
        proposal = open_proposal(s, get_partner(s, "ben"), "resolution", "Keep the books open to all partners",
                                 {"text": "Every partner may read every statement."}, dt.datetime.now(dt.UTC) + dt.timedelta(days=5))
        for code in ("ben", "chen"):
            cast_vote(s, proposal.id, get_partner(s, code), "yes")
        open_proposal(s, get_partner(s, "chen"), "change_policy", "Fifteen percent for origination", {
            "origination": "15%", "practice": "55%", "pool_basis": "vested_units", "effective_period": "2026-03"},
            dt.datetime.now(dt.UTC) + dt.timedelta(days=5))
        s.commit()
        proposal_id = proposal.id
    app.extensions["ledger.engine"].dispose()
    return proposal_id


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(base: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(base + "/api/v1/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer within 20 s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def site(playwright_browser, tmp_path_factory):
    """The app served by gunicorn: ``{"base": URL, "proposal": id}``."""
    tmp = tmp_path_factory.mktemp("browser")
    url, pg_name = _database_url(tmp)
    try:
        proposal_id = _prepare(url, tmp)
        port = _free_port()
        log = tmp / "gunicorn.log"
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "browser-tests"}
        with open(log, "w") as out:
            server = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4",
                 "--log-level", "warning", "ledger:create_app()"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(base, server, log)
            yield {"base": base, "proposal": proposal_id}
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
    finally:
        if pg_name:
            drop_pg_database(pg_name)


# --- pages ---------------------------------------------------------------------------------------


class Visit:
    """A browser context signed in as one user, collecting console errors and taking screenshots."""

    def __init__(self, browser, base: str, viewport: dict):
        self.base = base
        self.context = browser.new_context(viewport=viewport, accept_downloads=True)
        self.context.set_default_timeout(10_000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        # A refused form (422) or a 403 page is a document the test asks for; a script, stylesheet
        # or image that fails to load, a script error or a CSP violation is a failure.
        self.page.on("console", lambda m: self.errors.append(m.text)
                     if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
        self.page.on("response", lambda r: self.errors.append(f"{r.status} {r.url}")
                     if r.status >= 400 and r.request.resource_type != "document" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def sign_in(self, email: str) -> None:
        self.page.goto(self.base + "/login")
        self.page.fill("input[name=email]", email)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(self.base + "/")

    def submit(self, button: str) -> None:
        """Press a form's button and wait for the page the server answers with: a locator read
        right after a bare ``click()`` may still see the page that held the form."""
        with self.page.expect_navigation():
            self.page.get_by_role("button", name=button).click()

    def follow(self, link) -> None:
        """Click a link (a locator) and wait for the page it leads to, as :meth:`submit`."""
        with self.page.expect_navigation():
            link.click()

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()
        assert not self.errors, self.errors


@pytest.fixture
def visit(playwright_browser, site):
    opened = []

    def make(email: str, viewport: dict = DESKTOP) -> Visit:
        v = Visit(playwright_browser, site["base"], viewport)
        v.sign_in(email)
        opened.append(v)
        return v

    yield make
    for v in opened:
        v.close()


def test_a_partner_opens_a_statement_and_downloads_its_pdf(visit, tmp_path):
    v = visit("ben@example.com")
    page = v.page
    assert page.get_by_test_id("capital").inner_text() == "1,452.78"
    v.shot("partner-dashboard")
    page.get_by_role("link", name="Statements", exact=True).first.click()
    page.wait_for_selector("canvas[data-chart=capital][data-drawn=true]")
    v.shot("partner-statements")
    v.follow(page.get_by_role("link", name="2026-01").first)
    assert page.get_by_test_id("closing").inner_text() == "1,452.78"
    assert page.get_by_role("link", name="e1").count() == 1  # lines link to their engagement
    assert page.get_by_role("link", name="e2").count() == 1
    v.shot("partner-statement")
    with page.expect_download() as download:
        page.get_by_test_id("download-pdf").click()
    pdf = tmp_path / download.value.suggested_filename
    download.value.save_as(pdf)
    assert pdf.name == "statement-ben-2026-01.pdf"
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 1000
    page.goto(v.base + "/partners/ben/vesting")
    v.shot("partner-vesting")
    page.goto(v.base + "/partners/ana/statements/2026-01")  # another partner's: a 403 page
    assert "You may not open this page" in page.content()


def test_a_partner_votes_and_sees_the_proposal_close(visit, site):
    v = visit("ana@example.com")
    page = v.page
    assert "Keep the books open to all partners" in page.inner_text("main")  # awaiting her vote
    v.follow(page.get_by_role("link", name="Keep the books open to all partners"))
    v.shot("proposal-open")
    page.check("input[name=choice][value=yes]")
    v.submit("Cast my vote")
    assert "Your vote (yes) is recorded." in page.inner_text("main")
    v.submit("Close and tally")
    outcome = page.get_by_test_id("outcome")
    assert "Passed" in outcome.inner_text()
    assert "3 / 3" in outcome.inner_text()
    v.shot("proposal-passed")


def test_the_treasurer_records_an_invoice_and_closes_a_period(visit):
    v = visit("tre@example.com")
    page = v.page
    v.shot("treasurer-overview")
    page.goto(v.base + "/invoices/new?engagement=e2")
    page.fill("input[name=amount]", "2,500.00")
    page.fill("input[name=date]", "2026-02-10")
    page.fill("input[name=memo]", "Handsets and licences")
    page.fill("input[name=amount]", "2,500.001")  # a typo first: refused beside the field
    v.submit("Save")
    assert "at most two decimals" in page.inner_text("#field-amount")
    assert page.input_value("input[name=memo]") == "Handsets and licences"
    v.shot("treasurer-invoice-refused")
    page.fill("input[name=amount]", "2,500.00")
    v.submit("Save")
    page.wait_for_url(v.base + "/engagements/e2")
    assert "Invoice of 2500.00 recorded" in page.inner_text("main")
    page.goto(v.base + "/periods")
    v.shot("treasurer-periods")
    v.follow(page.get_by_role("link", name="Preview and close 2026-02").first)
    assert "2,500.00" in page.inner_text("main")
    v.shot("treasurer-close-preview")
    page.get_by_test_id("close-period").click()
    page.wait_for_url(v.base + "/periods")
    assert "Period 2026-02 is closed." in page.inner_text("main")
    page.goto(v.base + "/ledger/verify")
    assert "Every check holds" in page.get_by_test_id("verify").inner_text()
    page.goto(v.base + "/ledger/entries")
    v.shot("treasurer-entries")


def test_a_partner_explains_a_statement_line(visit):
    v = visit("ben@example.com")
    page = v.page
    page.goto(v.base + "/partners/ben/statements/2026-01")
    origination = page.locator("tr", has=page.get_by_text("Origination", exact=True))
    assert "v1 · charter" in origination.inner_text()
    v.follow(origination.get_by_test_id("explain"))
    main = page.inner_text("main")
    assert "Why 666.67 of origination on e1" in main
    assert "Net margin (invoiced 9,999.99 − costs 3,333.33)" in main
    assert "origination 10%, practice 60%, pool 30%" in main
    assert "The charter's own policy" in main
    v.shot("partner-explain-line")


def test_a_partner_votes_on_a_change_of_policy_with_its_impact_in_front_of_them(visit):
    v = visit("ana@example.com")
    page = v.page
    page.get_by_role("link", name="Fifteen percent for origination").click()
    page.wait_for_selector("canvas[data-chart=impact][data-drawn=true]")
    impact = page.get_by_test_id("impact")
    assert "closed period" in impact.inner_text()
    # January (and February, once the treasurer's test has closed it) replayed at 15% origination,
    # 55% practice: ana owns msft alone and loses 5% of e1's 6,666.66 margin; the pool's 30% does
    # not move, and February's work is chen's and ben's. With closed books she sees her own row.
    assert page.get_by_test_id("delta-ana").inner_text() == "\u2212333.33"
    assert page.get_by_test_id("delta-ben").count() == 0
    assert impact.locator("tfoot").inner_text().split()[-1] == "0.00"
    box_impact = impact.bounding_box()
    box_vote = page.get_by_role("button", name="Cast my vote").bounding_box()
    assert box_impact["y"] < box_vote["y"]  # the preview comes before the vote
    v.shot("proposal-impact")
    page.check("input[name=choice][value=yes]")
    v.submit("Cast my vote")
    assert "Your vote (yes) is recorded." in page.inner_text("main")


@pytest.mark.parametrize(("path", "name"), [("/", "phone-dashboard"),
                                           ("/partners/ben/statements/2026-01", "phone-statement"),
                                           ("/proposals/", "phone-proposals")])
def test_pages_fit_a_phone(visit, path, name):
    v = visit("ben@example.com", PHONE)
    page = v.page
    page.goto(v.base + path)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], (path, width)  # no sideways scrolling of the page itself
    v.shot(name)


def test_practice_economics_the_income_statement_a_practice_and_a_firm(visit, tmp_path):
    """CONTRACT §10: the treasurer adds a firm whose NSA ends in 30 days and sees it flagged; the
    income statement, a practice's monthly chart and a firm's page, with the PDF download."""
    v = visit("tre@example.com")
    page = v.page
    page.goto(v.base + "/firms")
    ends = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    page.fill("input[name=code]", "shortwave")
    page.fill("input[name=name]", "Shortwave Radio Links")
    for box in page.locator("input[name=vetted]").all():
        box.check()
    page.fill("input[name=nsa_signed_on]", "2025-01-01")
    page.fill("input[name=nsa_expires_on]", ends)
    v.submit("Add firm")
    from playwright.sync_api import expect  # imported here: without playwright the module skips

    expect(page.get_by_test_id("nsa-expires-soon")).to_have_count(1)  # retried until the page has it
    v.shot("treasurer-firms-nsa-watch")
    page.goto(v.base + "/")
    assert "Shortwave Radio Links" in page.get_by_test_id("nsa-watch").inner_text()
    page.get_by_role("link", name="Economics").click()
    page.goto(v.base + "/reports/income?from=2026-01&to=2026-01")
    # January as closed: e1 (msft) invoiced 9,999.99 with 3,333.33 subcontracted to Bayside, e2
    # (voice) 1,234.57; rent 500.00.
    assert page.get_by_test_id("revenue").inner_text() == "11,234.56"
    assert page.get_by_test_id("margin").inner_text() == "7,901.23"
    assert page.get_by_test_id("net-income").inner_text() == "7,401.23"
    msft = page.get_by_test_id("income-rows").locator("tr", has=page.get_by_role("link", name="Microsoft 365"))
    assert "100%" in msft.inner_text()
    v.shot("economics-income-statement")
    with page.expect_download() as download:
        page.get_by_test_id("download-pdf").click()
    pdf = tmp_path / download.value.suggested_filename
    download.value.save_as(pdf)
    assert pdf.name == "income-2026-01-2026-01-by-practice.pdf" and pdf.read_bytes().startswith(b"%PDF")
    page.get_by_role("link", name="Microsoft 365").click()
    page.wait_for_selector("canvas[data-chart=economics][data-drawn=true]")
    assert page.get_by_test_id("subcontract-share").inner_text() == "100%"
    v.shot("economics-practice")
    page.goto(v.base + "/firms/bayside")
    assert page.get_by_test_id("firm-paid").inner_text() == "3,333.33"
    assert "in force" in page.get_by_test_id("nsa-status").inner_text().lower()
    assert "e1" in page.get_by_test_id("firm-work").inner_text()
    v.shot("economics-firm")
def test_a_partner_turns_an_email_off_and_the_next_proposal_reaches_them_in_the_app_only(visit):
    v = visit("chen@example.com")
    page = v.page
    panel = page.get_by_test_id("notification-panel")
    assert "unread" in panel.inner_text().lower()  # the proposals opened and periods closed before
    assert "emailed" in panel.inner_text()
    v.follow(page.get_by_role("link", name="Email and calendar settings"))
    assert ".ics" in page.get_by_test_id("feed-url").input_value()
    page.get_by_test_id("pref-proposal_opened").uncheck()
    v.submit("Save")
    assert "Your notification settings are saved." in page.inner_text("main")
    assert not page.get_by_test_id("pref-proposal_opened").is_checked()
    assert page.get_by_test_id("pref-proposal_decided").is_checked()
    v.shot("notification-settings")
    b = visit("ben@example.com")
    b.page.goto(b.base + "/proposals/new/resolution")
    b.page.fill("input[name=title]", "Switch the office to fibre")
    b.page.fill("textarea[name=text]", "Faster lines for every practice.")
    b.submit("Open for votes")
    assert "Switch the office to fibre" in b.page.inner_text("main")
    page.goto(v.base + "/")
    item = page.get_by_test_id("notification-panel").locator("li", has_text="Switch the office to fibre")
    assert "in the app only" in item.inner_text()  # the effect: no email for chen this time
    v.shot("notification-dashboard")
