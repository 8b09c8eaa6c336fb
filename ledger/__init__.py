"""Practice Ledger: a cooperative IT partnership run on a double-entry ledger.

``create_app`` is the only thing here: configuration, database, blueprints, CLI.
"""

from __future__ import annotations

from flask import Flask


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True, template_folder="../templates")
    from ledger.runtime import config

    config.load(app, test_config)

    from ledger.runtime import database

    database.init_app(app)

    from ledger.api import init_app as init_api

    init_api(app)

    from ledger.web import init_app as init_web

    init_web(app)

    from ledger.cli import register

    register(app)
    return app
