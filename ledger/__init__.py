"""Practice Ledger: a cooperative IT partnership run on a double-entry ledger.

The app factory wires the layers together and is the only module that imports the delivery
packages (``api``, ``web``, ``cli``): configuration, the database, the JSON API, the web app and
the ``ledger`` command. ``main`` is the console script; the API and the web app are imported only
when an app with routes is built.
"""

from __future__ import annotations

from flask import Flask

from ledger import cli, models  # noqa: F401  (models: every mapper known before the first query)
from ledger.runtime import config, database


def create_app(test_config: dict | None = None, *, routes: bool = True) -> Flask:
    """The app: configuration and the database, and with ``routes`` (the default) the JSON API,
    the web app and the ``ledger`` commands. Without them it is what a command runs in (``main``);
    every model is imported either way, so the mappers are complete whatever a command imports."""
    app = Flask(__name__, instance_relative_config=True, template_folder="../templates")
    config.load(app, test_config)
    database.init_app(app)
    if routes:
        from ledger import api, web

        api.init_app(app)
        web.init_app(app)
        cli.register(app)
    return app


def main() -> None:
    """The ``ledger`` console script: Flask's CLI group over ``create_app``, each of our commands
    run in the app without routes (``cli.LedgerGroup``)."""
    group = cli.LedgerGroup(create_app=create_app, command_app=lambda: create_app(routes=False),
                            help="Practice Ledger: run a cooperative IT partnership.")
    group.main(prog_name="ledger")
