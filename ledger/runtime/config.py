"""Configuration from the environment: ``DATABASE_URL``, ``SECRET_KEY``, ``SESSION_COOKIE_SECURE``,
``TRUSTED_PROXIES``, and for mail and calendar links ``SMTP_URL``, ``MAIL_FROM``, ``BASE_URL``;
tests pass a dict."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


def _secret_key(instance: Path) -> str:
    """``SECRET_KEY`` from the environment, else one generated once and kept in the instance
    folder, so every worker and restart signs sessions alike."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def load(app: Flask, test_config: dict | None) -> None:
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance / 'ledger.db'}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        # psycopg 3 is the driver; accept the plain scheme people paste from elsewhere.
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    app.config.from_mapping(
        DATABASE_URL=url,
        SECRET_KEY=None,
        MAX_CONTENT_LENGTH=1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=os.environ.get("SESSION_COOKIE_SECURE", "0") == "1",
        REMEMBER_COOKIE_HTTPONLY=True,
        WTF_CSRF_TIME_LIMIT=None,
        LOGIN_ATTEMPTS=5,
        LOGIN_ADDRESS_ATTEMPTS=20,
        LOGIN_DELAY_SECONDS=30,
        LOGIN_MAX_DELAY_SECONDS=3600,
        LOGIN_FORGET_SECONDS=86400,
        TRUSTED_PROXIES=int(os.environ.get("TRUSTED_PROXIES", "0") or 0),
        # ``POST /api/v1/ledger/entries``' plain request answered without Flask (``api.direct``).
        API_DIRECT_ENTRIES=os.environ.get("API_DIRECT_ENTRIES", "1") != "0",
        # The dedicated appender's socket (PostgreSQL; ``ledger appender``): grouped entries go through it.
        APPENDER_SOCKET=os.environ.get("LEDGER_APPENDER_SOCKET") or None,
        # Telling partners (CONTRACT §9): unset SMTP_URL, messages wait in the outbox.
        SMTP_URL=os.environ.get("SMTP_URL") or None,
        MAIL_FROM=os.environ.get("MAIL_FROM") or "Practice Ledger <ledger@localhost>",
        BASE_URL=os.environ.get("BASE_URL") or None,
        API_TITLE="Practice Ledger API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
    )
    if test_config:
        app.config.update(test_config)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _secret_key(instance)
    if app.config["TRUSTED_PROXIES"]:
        # Behind N reverse proxies the client's address is the N-th from the right of
        # X-Forwarded-For; the sign-in limit counts by it. Never set this without a proxy that
        # overwrites the header, or anyone could choose their own address.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["TRUSTED_PROXIES"], x_proto=app.config["TRUSTED_PROXIES"])
