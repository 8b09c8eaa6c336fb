"""The ``ledger`` command's groups, one module per subject; ``register`` adds them all to the app
(the app factory calls it). Each command is thin: it parses its arguments, calls services in one
transaction (``common.transactional``) and prints what happened."""

from __future__ import annotations

from flask import Flask

from ledger.cli.accounts import token_group, user_group
from ledger.cli.db import db_group
from ledger.cli.equity import export_ocf_command
from ledger.cli.journal import export_command, import_command, verify_command
from ledger.cli.notify import notify_group
from ledger.cli.partnership import close_command, demo_command, init_command, statement_command

COMMANDS = (db_group, init_command, user_group, token_group, verify_command, export_command, import_command,
            close_command, statement_command, demo_command, export_ocf_command, notify_group)


def register(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)
