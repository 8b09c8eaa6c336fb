"""Practice Ledger: a cooperative IT partnership run on a double-entry ledger.

The app factory wires the layers together and is the only module that imports the delivery
packages (``api``, ``web``, ``cli``): configuration, the database, the JSON API, the web app and
the ``ledger`` command. ``main`` is the console script.
"""

from __future__ import annotations

from flask import Flask
from flask.cli import FlaskGroup

from ledger import api, cli, web
from ledger.runtime import config, database


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True, template_folder="../templates")
    config.load(app, test_config)
    database.init_app(app)
    api.init_app(app)
    web.init_app(app)
    cli.register(app)
    return app


def main() -> None:
    """The ``ledger`` console script: a Flask CLI group over ``create_app``."""
    group = FlaskGroup(create_app=create_app, help="Practice Ledger: run a cooperative IT partnership.")
    group.main(prog_name="ledger")
