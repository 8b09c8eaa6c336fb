"""The web app's defences: CSRF on every form, security headers, a limit on failed sign-ins.

- **CSRF**: Flask-WTF's ``CSRFProtect`` checks the token of every POST before a web view runs
  (``WTF_CSRF_ENABLED``; tests turn it off except where they test it). Paths under ``/api/v1`` are
  left alone: the API authenticates each request with a bearer token, which a browser never sends
  on its own, so it needs no CSRF token.
- **Headers** on every response: a Content-Security-Policy that allows scripts, styles, images and
  connections from this origin only (no inline script, no CDN: Chart.js is vendored), no framing
  (``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``), ``nosniff``, a same-origin referrer,
  and ``Cache-Control: no-store`` on pages and downloads (they carry partners' money). HSTS when
  the session cookie is marked secure (the app is served over HTTPS).
- **Failed sign-ins** are counted in the database by ``ledger.auth.throttle`` (shared by every
  worker), per email *and* client address, and per address: after ``LOGIN_ATTEMPTS`` (5) failures
  of one email from one address, or ``LOGIN_ADDRESS_ATTEMPTS`` (20) from one address, further
  attempts are refused (429, ``Retry-After``) without checking the password, for
  ``LOGIN_DELAY_SECONDS`` (30), doubling with each further failure up to
  ``LOGIN_MAX_DELAY_SECONDS`` (3600); counts are forgotten after ``LOGIN_FORGET_SECONDS`` (a day).
  Guesses from elsewhere never lock a partner out of their own address. The address is the
  proxy's unless ``TRUSTED_PROXIES`` says how many proxies to look through.
- **Redirects** to a place the request names (``?next=`` after sign-in) go through ``safe_next``
  only: a path on this site, never another host.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from flask import Flask, current_app, request
from flask_wtf.csrf import CSRFProtect

from ledger.auth.throttle import Policy
from ledger.runtime.http import is_api_request, security_headers

csrf = CSRFProtect()



#: POSTs whose credential is a signed token in their URL, not a session: the unsubscribe link of a
#: mail (RFC 8058's one-click POST comes from a mail client, with no form token). It only turns
#: email off (``ledger/web/notifications.py``).
CSRF_EXEMPT = frozenset({"notify.unsubscribe"})


def init_app(app: Flask) -> None:
    # CSRFProtect's own hook would check every POST, the API's too: check ours instead.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)

    @app.before_request
    def _check_csrf():
        if current_app.config.get("WTF_CSRF_ENABLED", True) and not is_api_request() \
                and request.endpoint not in CSRF_EXEMPT:
            csrf.protect()

    @app.after_request
    def _headers(response):
        for name, value in security_headers(current_app.config):
            response.headers.setdefault(name, value)
        if request.endpoint != "assets.static" and not is_api_request():
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def sign_in_policy() -> Policy:
    """The failed sign-in policy (``auth.throttle.Policy``) from the app's configuration."""
    config = current_app.config
    return Policy(attempts=int(config["LOGIN_ATTEMPTS"]), address_attempts=int(config["LOGIN_ADDRESS_ATTEMPTS"]),
                  delay=int(config["LOGIN_DELAY_SECONDS"]), max_delay=int(config["LOGIN_MAX_DELAY_SECONDS"]),
                  forget_after=int(config["LOGIN_FORGET_SECONDS"]))


def client_address() -> str:
    """The client's address (the proxy's, unless ``TRUSTED_PROXIES`` says how many to look through)."""
    return request.remote_addr or "unknown"


#: What a redirect target taken from a request may be made of: a path (with its query and fragment)
#: in visible ASCII as RFC 3986 writes it. No control character, space or backslash (browsers drop
#: tabs and newlines and read ``\\`` as ``/``, so ``/<TAB>/evil.example`` is ``//evil.example``).
_PATH_ONLY = re.compile(r"/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@/%?#]*")
MAX_NEXT_LENGTH = 2000


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this site (``/statements?year=2026``), else ``None``.

    The one check for every redirect whose target comes from the request. It accepts only a path
    (no scheme, no host: ``//elsewhere``, ``https://…``, ``javascript:`` are refused) made of the
    characters above, and checks once more that the URL a browser would resolve it to is on this
    request's host. The caller falls back to a page of its own choosing.
    """
    if not isinstance(target, str) or len(target) > MAX_NEXT_LENGTH or not _PATH_ONLY.fullmatch(target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return None
    here = urlsplit(request.host_url)
    there = urlsplit(urljoin(request.host_url, target))
    if (there.scheme, there.netloc) != (here.scheme, here.netloc):
        return None
    return target
