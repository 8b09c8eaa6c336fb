"""``statement()`` pinned byte for byte: the demo's year (allocation lines from the closes' posting
detail, draws, goodwill, a retiree's buyout and installments, several periods at once) and a
November with what no close writes — a manual adjustment on a capital account, an allocation-kind
posting that names an engagement outside any close, and income no engagement owns. The API, the
web page, the CSV and the PDF all render this dict, so a change to how it is read must leave its
JSON (key order included) exactly as it was; ``tests/golden/demo_statements.json`` holds it."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from ledger.core import chart
from ledger.core.entries import Leg
from ledger.journal.service import post_entry
from ledger.practices.models import Engagement
from ledger.read.statements import statement
from ledger.runtime.database import get_session

GOLDEN = Path(__file__).parent / "golden" / "demo_statements.json"
CASES = [(code, "2026-01", "2026-10") for code in ("ana", "ben", "chen", "dana", "eve")] + [
    ("ana", "2026-10", "2026-11"), ("ben", "2026-11", "2026-11"), ("chen", "2026-09", "2026-11"),
    ("chen", "2026-10", None), ("eve", "2026-03", None), ("dana", "2026-02", "2026-04")]


def _november(s) -> None:
    """What no close writes, in the open November: an adjustment, an engagement's origination
    posted by hand, and untagged income."""
    ref, engagement_id = s.execute(sa.select(Engagement.ref, Engagement.id).order_by(Engagement.id).limit(1)).one()
    day = dt.date(2026, 11, 10)
    post_entry(s, date=day, memo="correction", source_type="manual", legs=[
        Leg(chart.capital("ana"), Decimal("-12.34"), "USD"), Leg(chart.CASH, Decimal("12.34"), "USD")])
    post_entry(s, date=day, memo="late origination", source_type="manual", source_ref=ref, legs=[
        Leg(chart.capital("ben"), Decimal("-5.00"), "USD", kind="origination", engagement_id=engagement_id),
        Leg(chart.CASH, Decimal("5.00"), "USD")])
    post_entry(s, date=day + dt.timedelta(days=1), memo="interest", source_type="manual", legs=[
        Leg(chart.CASH, Decimal("7.01"), "USD"), Leg(chart.revenue("msft"), Decimal("-7.01"), "USD")])
    s.commit()


def _pinned(s) -> str:
    return "\n".join(json.dumps(statement(s, code, first, last), ensure_ascii=False) for code, first, last in CASES) + "\n"


def test_the_demo_statements_read_exactly_as_pinned(make_app, fresh_db_url):
    app = make_app(fresh_db_url)
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        s = get_session()
        _november(s)
        got = _pinned(s)
    assert got == GOLDEN.read_text(encoding="utf-8")
