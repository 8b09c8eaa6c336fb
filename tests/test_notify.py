"""Telling partners (CONTRACT §9) on both engines: the outbox written in the event's own
transaction, delivered to a real SMTP server (aiosmtpd) exactly once — across a sender killed
mid-batch and restarted, and two senders at once — with retries, failures, preferences and the
signed unsubscribe link.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from charters import EVE, WORKED_CHARTER, founder_partners, with_partners
from helpers.mailbox import SmtpServer

from ledger.auth.models import User
from ledger.auth.service import add_user
from ledger.core.clock import FixedClock
from ledger.governance.reminders import remind
from ledger.governance.service import cast_vote, close_proposal, electorate_of, open_proposal
from ledger.notify import outbox as ob
from ledger.notify.models import Notification, OutboxMessage
from ledger.notify.sender import Sender, SmtpSettings, backoff, send_due
from ledger.partnership.close import close_period
from ledger.practices.models import Firm
from ledger.practices.service import get_partner
from ledger.runtime.database import get_session

#: The tests' clock: an hour ago, so what it queues is due for a sender on the real clock (the CLI's).
START = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
BASE = "https://ledger.example"
EMAILS = {"ana": "ana@example.com", "ben": "ben@example.com", "chen": "chen@example.com"}
LEDGER = Path(sys.executable).parent / "ledger"


@pytest.fixture
def clock():
    return FixedClock(START)


@pytest.fixture
def charter_text():
    return WORKED_CHARTER


@pytest.fixture
def charter_file(tmp_path, charter_text):
    path = tmp_path / "charter.toml"
    path.write_text(charter_text)
    return path


@pytest.fixture
def app(db_url, make_app, clock):
    return make_app(db_url, CLOCK=clock, BASE_URL=BASE)


def sender(app, url: str, name: str = "t1", **kw) -> Sender:
    return Sender(SmtpSettings.from_url(url), "Practice Ledger <ledger@example.com>", BASE,
                  app.config["SECRET_KEY"], name, **kw)


def makes(app):
    return app.extensions["ledger.sessionmaker"]


def propose(s, clock, who="ana", title="Paint the office green", hours=72):
    return open_proposal(s, get_partner(s, who), "resolution", title, {"text": "Green is calm."},
                         clock.now() + dt.timedelta(hours=hours))


def rows(s):
    return s.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)
                     .execution_options(populate_existing=True)).all()


# --- the outbox is written with the event ------------------------------------------------------


def test_opening_a_proposal_queues_one_message_to_each_eligible_voter(s, clock):
    proposal = propose(s, clock)
    s.commit()
    queued = rows(s)
    assert sorted(m.to_address for m in queued) == sorted(EMAILS.values())
    assert all("Paint the office green" in m.notification.subject for m in queued)
    assert {m.status for m in queued} == {"pending"}
    assert {m.notification.link for m in queued} == {f"/proposals/{proposal.id}"}


def test_a_proposal_opened_and_rolled_back_sends_nothing(s, clock, app):
    propose(s, clock)
    s.flush()
    assert len(rows(s)) == 3  # written in the proposal's transaction...
    s.rollback()  # ...and gone with it
    assert rows(s) == [] and s.scalars(sa.select(Notification)).all() == []
    s.commit()
    with SmtpServer() as box:
        outcome = send_due(makes(app), sender(app, box.url))
    assert outcome.sent == 0 and box.messages == []


def test_closing_a_period_queues_a_statement_to_each_active_partner(posted_january):
    s = posted_january
    close_period(s, "2026-01")
    s.commit()
    ready = [m for m in rows(s) if m.notification.kind == "statement_ready"]
    assert sorted(m.to_address for m in ready) == sorted(EMAILS.values())
    assert {m.notification.link for m in ready} == {f"/partners/{c}/statements/2026-01" for c in EMAILS}


def test_a_close_rolled_back_tells_nobody(posted_january):
    s = posted_january
    close_period(s, "2026-01")
    s.rollback()
    assert rows(s) == []


# --- every event, through a real SMTP server -----------------------------------------------------


def _all_vote(s, proposal):
    for code in electorate_of(s, proposal):
        cast_vote(s, proposal.id, get_partner(s, code), "yes")
    assert close_proposal(s, proposal.id).status == "passed"


def _every_event(s, clock):
    """January closed (statements), a resolution reminded and decided, chen retired at February's
    close and paid an installment at March's; eve's units vest on Feb 28 and Mar 31; bayside's NSA
    ends within 60 days and the treasurer hears of it."""
    close_period(s, "2026-01")
    s.commit()
    resolution = propose(s, clock, hours=30)
    assert set(electorate_of(s, resolution)) == {"ana", "ben", "chen", "eve"}
    cast_vote(s, resolution.id, get_partner(s, "ben"), "yes")
    clock.advance(hours=7)  # 23 hours left: ana, chen and eve have not voted
    assert remind(s) == 3
    assert remind(s) == 0  # told once
    add_user(s, "treasurer@example.com", "treasurer")
    s.scalar(sa.select(Firm).where(Firm.code == "bayside")).nsa_expires_on = clock.today() + dt.timedelta(days=30)
    assert remind(s) == 1 and remind(s) == 0
    _all_vote(s, resolution)
    retire = open_proposal(s, get_partner(s, "ana"), "retire_partner", "Retire Chen",
                           {"partner": "chen", "effective_period": "2026-02", "successors": {"voice": "ben"}},
                           clock.now() + dt.timedelta(days=3))
    _all_vote(s, retire)
    close_period(s, "2026-02")
    close_period(s, "2026-03")
    s.commit()


@pytest.mark.parametrize("charter_text", [with_partners(EVE)])
def test_every_event_reaches_a_real_smtp_server_once(posted_january, clock, app):
    s = posted_january
    _every_event(s, clock)
    queued = rows(s)
    kinds = {m.notification.kind for m in queued}
    assert kinds == set(ob.KINDS)
    s.commit()
    with SmtpServer() as box:
        outcome = send_due(makes(app), sender(app, box.url))
    assert outcome.sent == len(queued) and outcome.failed == outcome.retried == 0
    assert len(box.messages) == len(queued)
    assert len({m["Message-ID"] for m in box.messages}) == len(queued)
    got = {(m["To"], m["X-Ledger-Kind"]) for m in box.messages}
    assert got == {(m.to_address, m.notification.kind) for m in queued}
    assert {m.status for m in rows(s)} == {"sent"}
    s.commit()  # SQLite: end the read, so the second sender below may write
    by_kind = {}
    for m in box.messages:
        by_kind.setdefault(m["X-Ledger-Kind"], []).append(m)
    # Only chen is paid an installment: 1219.91 in four, the first 304.98.
    [paid] = by_kind["installment_paid"]
    assert paid["To"] == EMAILS["chen"] and "Installment 1 of 4" in paid.get_body(("plain",)).get_content()
    assert "304.98 USD" in paid.get_body(("plain",)).get_content()
    assert sorted(m["To"] for m in by_kind["vote_reminder"]) == [EMAILS["ana"], EMAILS["chen"], "eve@example.com"]
    assert sorted((m["To"], m["Subject"]) for m in by_kind["units_vested"]) == [
        ("eve@example.com", "100 of your units vested on 2026-02-28"),
        ("eve@example.com", "100 of your units vested on 2026-03-31")]
    for m in box.messages:
        text = m.get_body(("plain",)).get_content()
        html = m.get_body(("html",)).get_content()
        assert f"{BASE}/" in text and f'href="{BASE}/' in html  # a link to the page concerned
        assert f"{BASE}/unsubscribe/" in text and m["List-Unsubscribe"].startswith(f"<{BASE}/unsubscribe/")
        # No amount of anyone in any message but a retiree's own installment.
        if m["X-Ledger-Kind"] != "installment_paid":
            assert not re.search(r"\d+\.\d\d", text), (m["Subject"], text)
    # Nothing is sent twice: a second run finds nothing due.
    with SmtpServer() as box2:
        assert send_due(makes(app), sender(app, box2.url)).sent == 0
    assert box2.messages == []


# --- exactly once: a sender killed mid-batch, two senders at once ------------------------------


def _queue(s, clock, proposals: int) -> int:
    for i in range(proposals):
        propose(s, clock, title=f"Resolution number {i}")
    s.commit()
    return 3 * proposals


def _cli_env(app, smtp_url):
    return {**os.environ, "DATABASE_URL": app.config["DATABASE_URL"], "SMTP_URL": smtp_url,
            "SECRET_KEY": app.config["SECRET_KEY"], "BASE_URL": BASE, "MAIL_FROM": "ledger@example.com"}


def test_a_sender_killed_mid_batch_and_restarted_sends_each_message_once(s, clock, app):
    total = _queue(s, clock, 3)
    s.close()
    with SmtpServer() as box:
        env = _cli_env(app, box.url)
        worker = subprocess.Popen([str(LEDGER), "notify", "send"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)

        def kill_on_the_fourth(_envelope):
            # The crash mid-send: the process dies while the server holds the 4th message's DATA,
            # before its 250 — so the server never accepts it.
            if len(box.messages) == 3:
                os.kill(worker.pid, signal.SIGKILL)
                return "451 the client went away"
            return None

        box.on_data = kill_on_the_fourth
        worker.wait(timeout=60)
        assert worker.returncode == -signal.SIGKILL
        assert len(box.messages) == 3
        with makes(app)() as check:
            states = sorted(m.status for m in rows(check))
        assert states == ["pending"] * (total - 4) + ["sending"] + ["sent"] * 3
        box.on_data = None
        # Restarted: the message the dead sender held is claimed again once its lease is over.
        result = subprocess.run([str(LEDGER), "notify", "send", "--lease", "0"], env=env, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert f"sent {total - 3}," in result.stdout
    assert len(box.messages) == total
    assert len({(m["To"], m["Subject"]) for m in box.messages}) == total
    with makes(app)() as check:
        assert {m.status for m in rows(check)} == {"sent"}


def test_a_claim_held_by_a_live_sender_is_not_taken_before_its_lease(s, clock, app):
    _queue(s, clock, 1)
    first = sender(app, "smtp://127.0.0.1:1", name="first")
    from ledger.notify.sender import claim
    with makes(app)() as one:
        held = claim(one, first.name, first.lease)
        one.commit()
    with makes(app)() as two:
        others = [claim(two, "second") for _ in range(3)]
        two.commit()
    assert held.id not in {m.id for m in others if m}
    clock.advance(minutes=6)
    with makes(app)() as three:
        assert claim(three, "third").id == held.id  # the lease is over: taken again
        three.commit()


def test_two_senders_in_parallel_send_each_message_once(s, clock, app):
    total = _queue(s, clock, 8)
    s.close()
    with SmtpServer() as box:
        outcomes = {}

        def run(name):
            outcomes[name] = send_due(makes(app), sender(app, box.url, name=name))

        threads = [threading.Thread(target=run, args=(n,)) for n in ("left", "right")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert sum(o.sent for o in outcomes.values()) == total
    assert len(box.messages) == total
    assert len({m["Message-ID"] for m in box.messages}) == total
    with makes(app)() as check:
        sent = rows(check)
        assert {m.status for m in sent} == {"sent"}
        assert {m.claimed_by for m in sent} <= {"left", "right"}


def test_two_sender_processes_on_postgresql_send_each_message_once(s, clock, app):
    if not app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("FOR UPDATE SKIP LOCKED is PostgreSQL's; SQLite has one writer")
    total = _queue(s, clock, 10)
    s.close()
    with SmtpServer() as box:
        env = _cli_env(app, box.url)
        procs = [subprocess.Popen([str(LEDGER), "notify", "send"], env=env, stdout=subprocess.PIPE, text=True)
                 for _ in range(2)]
        outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    counts = [int(re.search(r"sent (\d+),", o).group(1)) for o in outs]
    assert sum(counts) == total
    assert len(box.messages) == total
    assert len({m["Message-ID"] for m in box.messages}) == total


# --- retries, failures, settings ---------------------------------------------------------------


def test_a_temporary_refusal_is_retried_with_backoff_and_a_permanent_one_fails(s, clock, app):
    propose(s, clock)
    s.commit()
    s.close()
    with SmtpServer() as box:
        box.on_data = lambda env: "550 no such user" if env.rcpt_tos == [EMAILS["ben"]] else "451 try later"
        outcome = send_due(makes(app), sender(app, box.url))
        assert (outcome.sent, outcome.retried, outcome.failed) == (0, 2, 1)
        with makes(app)() as check:
            state = {m.to_address: m for m in rows(check)}
        assert state[EMAILS["ben"]].status == "failed" and "550" in state[EMAILS["ben"]].last_error
        ana = state[EMAILS["ana"]]
        assert ana.status == "pending" and "451" in ana.last_error and ana.attempts == 1
        assert ana.next_attempt_at.replace(tzinfo=dt.UTC) == START + backoff(1)
        box.on_data = None
        assert send_due(makes(app), sender(app, box.url)).sent == 0  # not due yet
        clock.advance(minutes=1)
        assert send_due(makes(app), sender(app, box.url)).sent == 2
    assert sorted(m["To"] for m in box.messages) == [EMAILS["ana"], EMAILS["chen"]]


def test_an_unreachable_server_is_recorded_and_retried(s, clock, app):
    propose(s, clock)
    s.commit()
    s.close()
    outcome = send_due(makes(app), sender(app, "smtp://127.0.0.1:1?timeout=2"))
    assert outcome.retried == 3
    with makes(app)() as check:
        assert all(m.status == "pending" and m.last_error for m in rows(check))


def test_after_the_last_attempt_a_message_fails_for_good(s, clock, app):
    from ledger.notify.sender import MAX_ATTEMPTS
    propose(s, clock)
    s.commit()
    s.close()
    for _ in range(MAX_ATTEMPTS):
        send_due(makes(app), sender(app, "smtp://127.0.0.1:1?timeout=2"))
        clock.advance(hours=7)
    with makes(app)() as check:
        assert {(m.status, m.attempts) for m in rows(check)} == {("failed", MAX_ATTEMPTS)}


def test_the_command_without_smtp_url_lets_messages_wait(s, clock, runner):
    propose(s, clock)
    s.commit()
    s.close()
    result = runner.invoke(args=["notify", "send"])
    assert result.exit_code == 0, result.output
    assert "SMTP_URL is not set: 3 message(s) wait" in result.output


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_auth_over_smtp(s, clock, app):
    from aiosmtpd.smtp import AuthResult

    def check(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=(auth_data.login, auth_data.password) in ((b"mailer", b"s3cret p"),
                                                                            ("mailer", "s3cret p")))

    propose(s, clock)
    s.commit()
    s.close()
    with SmtpServer(authenticator=check, auth_required=True, auth_require_tls=False) as box:
        anonymous = send_due(makes(app), sender(app, box.url))
        assert anonymous.sent == 0 and anonymous.failed == 3  # 530 authentication required: for good
        with makes(app)() as check_:
            assert all("530" in m.last_error for m in rows(check_))
            check_.execute(sa.update(OutboxMessage).values(status="pending", attempts=0))
            check_.commit()
        good = send_due(makes(app), sender(app, box.url.replace("smtp://", "smtp://mailer:s3cret%20p@")))
    assert good.sent == 3 and len(box.messages) == 3


def test_smtp_url_parsing():
    tls = SmtpSettings.from_url("smtps://u%40x:p%3Aw@mail.example.com?cafile=/ca.pem")
    assert (tls.host, tls.port, tls.tls, tls.username, tls.password, tls.cafile) == \
        ("mail.example.com", 465, True, "u@x", "p:w", "/ca.pem")
    plain = SmtpSettings.from_url("smtp://127.0.0.1:2525?starttls=1")
    assert (plain.port, plain.tls, plain.starttls, plain.username) == (2525, False, True, None)
    for bad in ("http://x", "smtp://", "mail.example.com"):
        with pytest.raises(ValueError):
            SmtpSettings.from_url(bad)


def test_a_preference_turned_off_queues_no_email_but_keeps_the_notification(s, clock):
    ana = s.scalar(sa.select(User).where(User.email == EMAILS["ana"]))
    assert ob.preferences(s, ana) == {k: True for k in ob.KINDS}
    ob.set_preferences(s, ana, {"proposal_opened": False})
    propose(s, clock, who="ben")
    s.commit()
    assert sorted(m.to_address for m in rows(s)) == [EMAILS["ben"], EMAILS["chen"]]
    assert [n.kind for n in ob.recent(s, ana)] == ["proposal_opened"]
    assert ob.unread_count(s, ana) == 1
    assert ob.mark_read(s, ana) == 1 and ob.unread_count(s, ana) == 0


@pytest.mark.parametrize(("changes", "field"), [({"nope": True}, "nope"), ({"units_vested": "yes"}, "units_vested"),
                                                 ({"units_vested": 1}, "units_vested")])
def test_bad_preferences_are_refused_by_field(s, changes, field):
    from ledger.core.errors import ValidationError
    ana = s.scalar(sa.select(User).where(User.email == EMAILS["ana"]))
    with pytest.raises(ValidationError) as exc:
        ob.set_preferences(s, ana, changes)
    assert field in exc.value.errors


def test_the_unsubscribe_link_works_without_signing_in(founded, clock, app):
    with app.app_context():
        s = get_session()
        propose(s, clock)
        s.commit()
    with SmtpServer() as box:
        send_due(makes(app), sender(app, box.url))
    mail = next(m for m in box.messages if m["To"] == EMAILS["ana"])
    link = re.search(rf"Stop these emails: {re.escape(BASE)}(\S+)", mail.get_body(("plain",)).get_content()).group(1)
    client = app.test_client()
    page = client.get(link)
    assert page.status_code == 200 and b"Unsubscribe" in page.data
    with makes(app)() as check:
        ana = check.scalar(sa.select(User).where(User.email == EMAILS["ana"]))
        assert ob.preferences(check, ana)["proposal_opened"] is True  # a GET writes nothing
    done = client.post(link)  # as a mail client's one-click POST: no session, no CSRF token
    assert done.status_code == 200 and b"no longer get an email" in done.data
    with makes(app)() as check:
        ana = check.scalar(sa.select(User).where(User.email == EMAILS["ana"]))
        assert ob.preferences(check, ana) == {**{k: True for k in ob.KINDS}, "proposal_opened": False}
    assert client.post(link[:-3] + "xyz").status_code == 404  # a forged token


def _certificate(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return cert, context


def test_tls_from_the_first_byte_and_starttls(s, clock, app, tmp_path):
    cert, context = _certificate(tmp_path)
    propose(s, clock)
    s.commit()
    s.close()
    with SmtpServer(ssl_context=context) as box:
        outcome = send_due(makes(app), sender(app, f"smtps://127.0.0.1:{box.port}?cafile={cert}"))
    assert outcome.sent == 3 and len(box.messages) == 3
    with makes(app)() as again:
        again.execute(sa.update(OutboxMessage).values(status="pending", attempts=0))
        again.commit()
    with SmtpServer(tls_context=context, require_starttls=True) as box:
        refused = send_due(makes(app), sender(app, box.url))  # no STARTTLS: the server refuses (530)
        assert refused.failed == 3 and box.messages == []
        with makes(app)() as again:
            again.execute(sa.update(OutboxMessage).values(status="pending", attempts=0))
            again.commit()
        outcome = send_due(makes(app), sender(app, f"{box.url}?starttls=1&cafile={cert}"))
    assert outcome.sent == 3 and len(box.messages) == 3


def test_the_worker_loop_sends_what_arrives_and_stops_on_sigterm(s, clock, app):
    propose(s, clock)
    s.commit()
    s.close()
    with SmtpServer() as box:
        worker = subprocess.Popen([str(LEDGER), "notify", "send", "--loop", "--interval", "0.2"],
                                  env=_cli_env(app, box.url), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 30
            while len(box.messages) < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert len(box.messages) == 3
            with app.app_context():
                later = get_session()
                propose(later, clock, who="ben", title="A second resolution")
                later.commit()
            deadline = time.monotonic() + 30
            while len(box.messages) < 6 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            worker.send_signal(signal.SIGTERM)
            output = worker.communicate(timeout=30)[0]
    assert worker.returncode == 0, output
    assert len(box.messages) == 6 and "notify worker" in output


@pytest.mark.parametrize("charter_text", [with_partners(founder_partners(20))])
def test_what_a_close_tells_costs_the_same_queries_for_3_or_23_partners(s):
    """``tell_closed``: a fixed number of statements however many partners (and messages) there are
    on PostgreSQL (the notifications' INSERT … RETURNING is batched)."""
    from ledger.partnership.tell import tell_closed
    from ledger.practices.models import Partner

    counts = []
    for pid, active in (("2026-01", {"ana", "ben", "chen"}), ("2026-02", None)):
        others = s.scalars(sa.select(Partner).where(Partner.code.not_in(["ana", "ben", "chen"]))).all()
        for p in others:  # first three active partners, then twenty-three
            p.status = "active" if active is None else "retired"
        s.flush()
        with _counting(s) as count:
            tell_closed(s, pid, dt.date(2026, 1, 1), dt.date(2026, 1, 31), [])
        counts.append(count[0])
    told = s.scalars(sa.select(Notification.link).where(Notification.kind == "statement_ready")).all()
    assert (sum(1 for t in told if "2026-01" in t), sum(1 for t in told if "2026-02" in t)) == (3, 23)
    if s.get_bind().dialect.name == "postgresql":
        assert counts[0] == counts[1], counts
    else:  # SQLite returns inserted ids in order only one row at a time: one INSERT per extra message
        assert counts[1] - counts[0] == 20, counts


@contextlib.contextmanager
def _counting(s):
    count = [0]

    def before(*_args, **_kwargs):
        count[0] += 1

    engine = s.get_bind()
    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield count
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


def test_a_title_is_text_in_the_html_body(s, clock, app):
    propose(s, clock, title="<b>Bold</b> & <script>x()</script>")
    s.commit()
    s.close()
    with SmtpServer() as box:
        send_due(makes(app), sender(app, box.url))
    html = box.messages[0].get_body(("html",)).get_content()
    assert "&lt;script&gt;x()&lt;/script&gt;" in html and "<script>" not in html
    assert "<b>Bold</b> & <script>x()</script>" in box.messages[0].get_body(("plain",)).get_content()


#: A title whose subject Python 3.11's own folder split between ``”`` and ``—`` (where a fold
#: falls moves with the length: ``ABOUT`` shifted by 0-23 characters hits it at 14, 22 and 23).
ABOUT = "Admit Zoë Müller as “partner” — the first admission this year, with units vesting monthly"


def test_a_long_subject_with_non_ascii_words_arrives_whole(s, clock, app):
    """A subject folded into RFC 2047 words reads back exactly, every space kept (Python's own
    folder dropped the one between ``”`` and ``—`` here), in words of at most 75 characters on
    lines of at most 78."""
    propose(s, clock, title="Urgent again: " + ABOUT)  # 14 characters before ABOUT
    s.commit()
    subject = s.scalar(sa.select(Notification.subject).order_by(Notification.id).limit(1))
    assert "” —" in subject
    s.close()
    with SmtpServer() as box:
        send_due(makes(app), sender(app, box.url))
    assert {m["Subject"] for m in box.messages} == {subject}
    head = box.raw[0].split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert max(len(line) for line in head) <= 78
    words = [w for line in head for w in line.split() if w.startswith(b"=?")]
    assert words and max(len(w) for w in words) <= 75


@pytest.mark.parametrize("shift", range(24))
def test_every_fold_of_a_non_ascii_subject_keeps_its_spaces(shift):
    from email import message_from_bytes
    from email import policy as email_policy

    from ledger.notify.messages import build

    subject = f"Proposal open for your vote: {'x' * shift}{ABOUT}"
    facts = json.dumps({"title": subject, "kind": "resolution", "proposer": "Ana", "closes_at": "2026-12-10T17:00:00Z"})
    note = Notification(kind="proposal_opened", subject=subject, link="/proposals/1", facts=facts, created_at=START)
    email = build(OutboxMessage(id=1, notification=note, to_address="ana@example.com"),
                  "Practice Ledger <ledger@example.com>", BASE, BASE + "/u", BASE + "/u-all")
    raw = email.as_bytes(policy=email_policy.SMTP)
    assert message_from_bytes(raw, policy=email_policy.default)["Subject"] == subject
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78


def test_a_malformed_smtp_url_is_a_message_and_exit_1(db_url, make_app):
    result = make_app(db_url, SMTP_URL="http://mail.example.com").test_cli_runner().invoke(args=["notify", "send"])
    assert result.exit_code == 1 and "SMTP_URL must look like smtp://" in result.output


def test_the_remind_command_queues_once(founded, clock, make_app, db_url):
    with founded.app_context():
        s = get_session()
        propose(s, clock, hours=30)
        s.commit()
    # The command runs in an app of its own whose clock is 7 hours later: 23 hours to go.
    runner = make_app(db_url, CLOCK=FixedClock(START + dt.timedelta(hours=7))).test_cli_runner()
    assert "3 reminder(s) queued" in runner.invoke(args=["notify", "remind"]).output
    assert "0 reminder(s) queued" in runner.invoke(args=["notify", "remind"]).output
