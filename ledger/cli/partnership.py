"""``ledger init``, ``ledger close``, ``ledger statement`` and ``ledger demo``."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import click
from alembic import command
from flask import current_app
from flask.cli import with_appcontext

from ledger.cli.common import Command, alembic_config, fail, transactional
from ledger.partnership import demo
from ledger.partnership.charter import load_charter
from ledger.partnership.close import CLOSE_STEPS, close_period
from ledger.partnership.founding import found
from ledger.read.statements import resolve_range, statement


@click.command("init", cls=Command, help="Found the partnership from CHARTER (TOML) into an empty, migrated database.")
@click.argument("charter", type=click.Path(dir_okay=False))
@transactional
def init_command(session, charter):
    path = Path(charter)
    if not path.exists():
        fail(f"no charter at {charter}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:  # (a file that cannot be read: the command's boundary says so)
        fail(f"{charter} is not UTF-8 text (byte 0x{exc.object[exc.start]:02X} at offset {exc.start})")
    data = load_charter(text)
    ps = found(session, data)
    click.echo(f"founded {ps.name}: {len(data['partners'])} partners, {len(data['practices'])} practices")


@click.command("close", cls=Command, help="Close PERIOD (the oldest open one): allocate, post, lock.")
@click.argument("period")
@transactional
def close_command(session, period):
    with click.progressbar(length=len(CLOSE_STEPS), label=f"closing {period}", show_pos=True,
                           item_show_func=lambda step: step) as bar:
        def progress(done, total):
            bar.update(done - bar.pos, CLOSE_STEPS[done - 1])

        closed = close_period(session, period, progress)
    click.echo(f"closed {closed.id} under policy v{closed.policy_version}")


@click.command("statement", cls=Command, help="Print PARTNER's share statement for PERIOD as JSON.")
@click.argument("partner")
@click.argument("period")
@transactional
def statement_command(session, partner, period):
    first, last = resolve_range(session, period)
    click.echo(json.dumps(statement(session, partner, first, last), indent=2))


@click.command("demo", cls=Command, help="Found a demo partnership with a year of activity (a fresh SQLite file unless DATABASE_URL says otherwise).")
@with_appcontext
def demo_command():
    url = current_app.config["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        # A fresh SQLite file: an existing one is kept aside, never silently destroyed.
        path = url.removeprefix("sqlite:///")
        if os.path.exists(path):
            current_app.extensions["ledger.engine"].dispose()
            aside = f"{path}.{dt.datetime.now():%Y%m%d-%H%M%S}.bak"  # a file name, not a business time
            os.replace(path, aside)
            click.echo(f"kept the previous database aside as {aside}")
        for suffix in ("-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    command.upgrade(alembic_config(), "head")
    _build_demo()


@transactional
def _build_demo(session):
    logins = demo.build(session)
    keys = demo.tokens(session, ["treasurer@example.com", "ana@example.com"])
    click.echo("Demo partnership founded: Harbor IT Partners, January to October 2026 closed.")
    click.echo(f"Sign in at /login with any of these (password {demo.PASSWORD!r}):")
    for email, role in logins.items():
        click.echo(f"  {email:28s} {role}")
    click.echo("API tokens:")
    for email, token in keys.items():
        click.echo(f"  {email:28s} {token}")
