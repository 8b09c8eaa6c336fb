"""``ledger demo``: a year of Harbor IT Partners, founded from nothing, every invariant holding."""

from __future__ import annotations

import sqlalchemy as sa

from ledger.journal.models import Period
from ledger.partnership.integrity import full_verify
from ledger.practices.models import Partner, Practice
from ledger.runtime.database import get_session
from ledger.succession.service import buyout_schedule


def test_the_demo_builds_a_year_and_prints_its_logins(make_app, fresh_db_url):
    app = make_app(fresh_db_url)
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "treasurer@example.com" in result.output and "demo-password" in result.output
    assert result.output.strip().splitlines()[-1].split()[-1].startswith("pl_")  # an API token
    with app.app_context():
        s = get_session()
        assert full_verify(s).ok
        assert s.scalar(sa.select(sa.func.count()).select_from(Period).where(Period.status == "closed")) == 10
        assert set(s.scalars(sa.select(Practice.code))) == {"msft", "voice", "books", "security", "cloud"}
        statuses = dict(s.execute(sa.select(Partner.code, Partner.status)).all())
        assert statuses["chen"] == "retired" and statuses["eve"] == "active"
        assert buyout_schedule(s, "chen")["installments"][0]["status"] == "paid"
