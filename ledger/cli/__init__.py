"""The ``ledger`` command's groups, one module per subject.

``COMMANDS`` names each command and where it lives; a module is imported only when its command
runs (or is listed). ``register`` adds them all to an app (the app factory calls it, so
``app.test_cli_runner()`` and ``flask --app ledger`` see them). ``LedgerGroup`` is the console
script: it finds its own commands without building an app, and builds the one a command runs in
without the routes (``create_app(routes=False)``): the JSON API and the web app are two thirds of
what starting the full app costs, and no command serves a request. Each command is thin: it
parses its arguments, calls services in one transaction (``common.transactional``) and prints
what happened."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import click
from flask import Flask
from flask.cli import FlaskGroup, ScriptInfo

#: Each command's name → (module, attribute).
COMMANDS: dict[str, tuple[str, str]] = {
    "db": ("ledger.cli.db", "db_group"),
    "init": ("ledger.cli.partnership", "init_command"),
    "user": ("ledger.cli.accounts", "user_group"),
    "token": ("ledger.cli.accounts", "token_group"),
    "verify": ("ledger.cli.journal", "verify_command"),
    "export": ("ledger.cli.journal", "export_command"),
    "import": ("ledger.cli.journal", "import_command"),
    "close": ("ledger.cli.partnership", "close_command"),
    "statement": ("ledger.cli.partnership", "statement_command"),
    "demo": ("ledger.cli.partnership", "demo_command"),
    "export-ocf": ("ledger.cli.equity", "export_ocf_command"),
    "notify": ("ledger.cli.notify", "notify_group"),
    "appender": ("ledger.cli.appender", "appender_command"),
}


def command(name: str) -> click.Command:
    """The command called ``name``, its module imported now."""
    module, attribute = COMMANDS[name]
    found = getattr(importlib.import_module(module), attribute)
    if found.name != name:
        raise RuntimeError(f"COMMANDS names {module}.{attribute} {name!r}, but it is {found.name!r}")
    return found


def register(app: Flask) -> None:
    for name in COMMANDS:
        app.cli.add_command(command(name))


class LedgerGroup(FlaskGroup):
    """Flask's CLI group (``run``, ``routes``, ``shell`` build the full app) with this package's
    commands, each run in an app built by ``command_app``."""

    def __init__(self, create_app: Callable[..., Flask], command_app: Callable[[], Flask], **kwargs):
        super().__init__(create_app=create_app, **kwargs)
        self.command_app = command_app

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        info = ctx.ensure_object(ScriptInfo)
        info.create_app = self.command_app
        return command(cmd_name)
