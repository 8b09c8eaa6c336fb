"""``ledger demo``: a year in the life of a partnership like the ones this product serves.

Harbor IT Partners (examples/charter.toml) through 2026: Microsoft 365, phone systems and Sage/Intuit
practices from the charter; a security practice and, mid-year, a cloud practice added by vote; a new
entrant admitted with a vesting grant; a rush of remediation work subcontracted to a vetted outside
firm in spring, and the cloud practice subcontracting 40% of each engagement to a firm whose
non-solicitation agreement ends 45 days after the demo is built (so its NSA is flagged); overhead, client payments and draws every month; a policy change from July; and
Chen's retirement at the close of September, his practices passing to successors. Every month up to
October is closed, so statements, vesting and the buyout schedule all have history.

The year runs on a simulated clock (``core.clock.FixedClock`` in ``session.info``, the clock every
service reads): each proposal opens, collects its votes over a few days and closes on its own dates
in 2026, and each month closes on the first working morning after it. Back on the real clock, the
demo leaves what a partner meets on a Monday: a change of policy open with its impact to preview
(proposed by Dana, who has no vested units yet and so no vote), a new practice awaiting Ana's vote,
and Eve's standing delegation of her vote to Ben.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import Session

from ledger.auth.service import add_user, create_token, get_user, set_password
from ledger.core.clock import FixedClock
from ledger.core.vetting import VETTING_CRITERIA
from ledger.db import clock_of
from ledger.governance.reminders import remind
from ledger.governance.service import cast_vote, close_proposal, delegate_vote, electorate_of, open_proposal
from ledger.partnership.charter import load_charter
from ledger.partnership.close import close_period
from ledger.partnership.founding import found
from ledger.practices import bookings as B
from ledger.practices.engagements import create_client, create_firm, open_engagement
from ledger.practices.service import get_partner

CHARTER = Path(__file__).resolve().parents[2] / "examples" / "charter.toml"
PASSWORD = "demo-password"
CLIENTS = [("acme", "Acme Dental Group"), ("harbor-law", "Harbor Law LLP"), ("bluefin", "Bluefin Logistics"),
           ("maple", "Maple Street Clinic"), ("quay", "Quay Accounting")]


def _at(session: Session, day: dt.date, hour: int = 9) -> None:
    """Set the simulated clock every service reads to ``hour``:00 UTC on ``day``."""
    session.info["clock"] = FixedClock(dt.datetime.combine(day, dt.time(hour), dt.UTC))


def _vote_through(session: Session, proposer: str, kind: str, title: str, payload: dict) -> None:
    """Open a proposal now, let each elector vote on a following day, and close it when all have."""
    now = clock_of(session).now()
    prop = open_proposal(session, get_partner(session, proposer), kind, title, payload, now + dt.timedelta(days=7))
    for i, code in enumerate(electorate_of(session, prop)):
        session.info["clock"] = FixedClock(now + dt.timedelta(days=1 + i // 2, hours=2 * i))
        cast_vote(session, prop.id, get_partner(session, code), "yes")
    result = close_proposal(session, prop.id)
    if result.status != "passed":  # the demo's own data: a failure here is a bug in it
        raise RuntimeError(f"demo proposal {title!r} failed: {result.reason}")
    session.info["clock"] = FixedClock(now)


def _open_now(session: Session) -> None:
    """Back on the real clock: what is open when the demo is served (CONTRACT §8's previews)."""
    session.info.pop("clock", None)
    closes = clock_of(session).now() + dt.timedelta(days=10)
    policy = open_proposal(session, get_partner(session, "dana"), "change_policy", "Twenty percent for origination", {
        "origination": "20%", "practice": "50%", "pool_basis": "vested_units", "effective_period": "2026-11"}, closes)
    cast_vote(session, policy.id, get_partner(session, "ben"), "yes")
    practice = open_proposal(session, get_partner(session, "ben"), "add_practice", "Add a managed backup practice", {
        "code": "backup", "name": "Managed Backup", "owners": {"ben": "50%", "eve": "50%"}}, closes)
    cast_vote(session, practice.id, get_partner(session, "ben"), "yes")
    delegate_vote(session, get_partner(session, "eve"), "ben")  # standing, until Eve revokes it
    remind(session)  # what a worker would queue today: the treasurer hears of Tidewater's NSA


def build(session: Session) -> dict[str, str]:
    """Found and fill the demo partnership; returns ``{email: role}`` of the demo logins."""
    rng = random.Random(2026)
    served_on = clock_of(session).today()  # the real clock's day, when the demo will be served
    _at(session, dt.date(2026, 1, 2))
    found(session, load_charter(CHARTER.read_text(encoding="utf-8")))
    for code, name in CLIENTS:
        create_client(session, code, name)
    # The cloud practice's subcontractor: its non-solicitation agreement ends 45 days after the day
    # the demo is built, so the treasurer's home and the firms page flag it (NSA watch).
    create_firm(session, "tidewater", "Tidewater Cloud Services", list(VETTING_CRITERIA), dt.date(2025, 9, 1),
                served_on + dt.timedelta(days=45))
    add_user(session, "treasurer@example.com", "treasurer", password=PASSWORD)
    add_user(session, "admin@example.com", "admin", password=PASSWORD)
    _vote_through(session, "ana", "add_practice", "Add a security practice",
                  {"code": "security", "name": "Security & Compliance", "owners": {"ben": "50%", "dana": "50%"}})
    practices = {"msft": ["ana"], "voice": ["ben", "chen"], "books": ["chen", "ana"], "security": ["ben"]}
    n = 0
    for month in range(1, 11):
        first = dt.date(2026, month, 1)
        _at(session, first + dt.timedelta(days=1))
        if month == 3:
            _vote_through(session, "ben", "admit_partner", "Admit Eve Santos", {
                "code": "eve", "name": "Eve Santos", "email": "eve@example.com",
                "grant": {"units": 2400, "start": "2026-03-01", "cliff_months": 6, "months": 36, "every": 1}})
        if month == 6:
            _vote_through(session, "ana", "add_practice", "Add a cloud practice",
                          {"code": "cloud", "name": "Cloud & Infrastructure", "owners": {"ana": "40%", "ben": "60%"}})
            practices["cloud"] = ["ana", "ben"]
            _vote_through(session, "chen", "change_policy", "Reward origination more from July", {
                "origination": "15%", "practice": "55%", "pool_basis": "vested_units", "effective_period": "2026-07"})
        if month == 8:
            _vote_through(session, "ana", "retire_partner", "Chen retires at the end of September", {
                "partner": "chen", "effective_period": "2026-09", "successors": {"voice": "ben", "books": "ana"}})
        for practice, originators in practices.items():
            for _ in range(2 if practice != "security" or month in (4, 5) else 1):
                n += 1
                ref = f"{practice}-{n:03d}"
                client = CLIENTS[n % len(CLIENTS)][0]
                # chen originates nothing once his retirement has passed its vote (August)
                originator = rng.choice([o for o in originators if not (o == "chen" and month >= 8)] or ["ana"])
                open_engagement(session, ref=ref, client=client, practice=practice, originator=originator,
                                  title=f"{practice.title()} work for {client}", opened_on=first)
                amount = Decimal(rng.randrange(150_000, 1_200_000)) / 100
                B.record_invoice(session, ref, amount, first + dt.timedelta(days=rng.randrange(5, 25)))
                if practice == "security" and month in (4, 5):  # the remediation rush: subcontracted
                    B.record_cost(session, ref, (amount * Decimal("0.55")).quantize(Decimal("0.01")),
                                  first + dt.timedelta(days=20), "subcontract", firm="bayside")
                elif rng.random() < 0.4:
                    B.record_cost(session, ref, Decimal(rng.randrange(10_000, 80_000)) / 100,
                                  first + dt.timedelta(days=15), "expense")
                if practice == "cloud":  # the model's promise: 30-50% subcontracted, a fixed margin kept
                    B.record_cost(session, ref, (amount * Decimal("0.40")).quantize(Decimal("0.01")),
                                  first + dt.timedelta(days=18), "subcontract", firm="tidewater")
                B.record_payment(session, client, amount, first + dt.timedelta(days=26))
        B.record_overhead(session, "rent", Decimal("2400.00"), first + dt.timedelta(days=2))
        B.record_overhead(session, "software", Decimal(rng.randrange(40_000, 90_000)) / 100, first + dt.timedelta(days=9))
        for partner in ("ana", "ben", "chen") if month <= 9 else ("ana", "ben"):
            B.record_draw(session, partner, Decimal("1500.00"), first + dt.timedelta(days=27))
        _at(session, dt.date(2026 + month // 12, month % 12 + 1, 2), hour=8)  # the close: the next morning's work
        close_period(session, f"2026-{month:02d}")
    _open_now(session)
    logins = {"treasurer@example.com": "treasurer", "admin@example.com": "admin"}
    for code in ("ana", "ben", "chen", "dana", "eve"):
        user = get_user(session, f"{code}@example.com")
        set_password(session, user, PASSWORD)
        logins[user.email] = "partner"
    return logins


def tokens(session: Session, emails) -> dict[str, str]:
    return {email: create_token(session, get_user(session, email)) for email in emails}
