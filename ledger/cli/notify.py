"""``ledger notify send [--loop]`` and ``ledger notify remind``: the worker side of CONTRACT §9.

``send`` delivers every due message of the outbox once and exits (``--limit`` stops after that
many); ``send --loop`` is a worker: each turn it queues the reminders due (``remind``) and sends,
then sleeps ``--interval`` seconds, until SIGTERM or SIGINT, finishing the message in hand. With
``SMTP_URL`` unset nothing is sent and nothing fails: the messages wait.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import time
import uuid

import click
from flask import current_app
from flask.cli import with_appcontext

from ledger.cli.common import Group, fail, transactional
from ledger.governance.reminders import remind
from ledger.notify.sender import LEASE, Sender, SmtpSettings, send_due, waiting

DEFAULT_BASE_URL = "http://127.0.0.1:8000"


@click.group("notify", cls=Group, help="Deliver notifications by email and queue reminders.")
def notify_group():
    pass


def _sender(lease: float) -> Sender | None:
    config = current_app.config
    if not config.get("SMTP_URL"):
        return None
    try:
        smtp = SmtpSettings.from_url(config["SMTP_URL"])
    except ValueError as exc:
        fail(str(exc))
    return Sender(smtp=smtp, mail_from=config["MAIL_FROM"], base_url=config.get("BASE_URL") or DEFAULT_BASE_URL,
                  secret=config["SECRET_KEY"], name=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
                  lease=dt.timedelta(seconds=lease))


def _remind(make) -> int:
    with make() as session:
        made = remind(session)
        session.commit()
        return made


@notify_group.command("remind", help="Queue the reminders due now: votes closing within 24 hours you have not cast; "
                           "outside firms' NSAs expiring within 60 days or lapsed (to treasurers).")
@transactional
def remind_command(session):
    click.echo(f"{remind(session)} reminder(s) queued")


@notify_group.command("send", help="Send the outbox's due messages over SMTP_URL (--loop: keep doing so, with reminders).")
@click.option("--loop", is_flag=True, help="Run as a worker until SIGTERM: remind, send, sleep, again.")
@click.option("--interval", type=click.FloatRange(0.05, 3600), default=30.0, show_default=True,
              help="Seconds between turns of --loop.")
@click.option("--limit", type=click.IntRange(1, 10**7), default=None, help="Stop after this many messages.")
@click.option("--lease", type=click.FloatRange(0, 86400), default=LEASE.total_seconds(), show_default=True,
              help="Seconds after which a message claimed by a sender that died is claimed again.")
@with_appcontext
def send_command(loop, interval, limit, lease):
    make = current_app.extensions["ledger.sessionmaker"]
    sender = _sender(lease)
    if not loop:
        if sender is None:
            with make() as session:
                click.echo(f"SMTP_URL is not set: {waiting(session)} message(s) wait in the outbox")
            return
        outcome = send_due(make, sender, limit)
        click.echo(f"sent {outcome.sent}, to retry {outcome.retried}, failed {outcome.failed}")
        return
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(True))
    click.echo(f"notify worker {sender.name if sender else '(SMTP_URL unset: reminders only)'} every {interval}s")
    while not stopping:
        made = _remind(make)
        if sender is not None:
            outcome = send_due(make, sender, limit)
            if made or outcome.sent or outcome.retried or outcome.failed:
                click.echo(f"reminders {made}, sent {outcome.sent}, to retry {outcome.retried}, failed {outcome.failed}")
        deadline = time.monotonic() + interval
        while not stopping and time.monotonic() < deadline:
            time.sleep(min(0.2, interval))
