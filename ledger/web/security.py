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
- **Failed sign-ins** (``SignInLimiter``): after ``LOGIN_ATTEMPTS`` failures for one email within
  ``LOGIN_LOCKOUT_SECONDS``, or four times as many from one client address, further attempts are
  refused without checking the password until the oldest failure leaves the window. The counts
  live in the process's memory (no table is needed, nothing is written): with several gunicorn
  workers each keeps its own, so the effective limit is at most the number of workers times the
  setting, and a restart forgets them. A successful sign-in clears the email's count.
- **Redirects** to a place the request names (``?next=`` after sign-in) go through ``safe_next``
  only: a path on this site, never another host.
"""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from urllib.parse import urljoin, urlsplit

from flask import Flask, current_app, request
from flask_wtf.csrf import CSRFProtect

from ledger.runtime.http import is_api_request

csrf = CSRFProtect()

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def init_app(app: Flask) -> None:
    # CSRFProtect's own hook would check every POST, the API's too: check ours instead.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)
    app.extensions["ledger.sign_in_limiter"] = SignInLimiter(
        attempts=int(app.config.get("LOGIN_ATTEMPTS", 5)),
        window=float(app.config.get("LOGIN_LOCKOUT_SECONDS", 300)),
    )

    @app.before_request
    def _check_csrf():
        if current_app.config.get("WTF_CSRF_ENABLED", True) and not is_api_request():
            csrf.protect()

    @app.after_request
    def _headers(response):
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if current_app.config.get("SESSION_COOKIE_SECURE"):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.endpoint != "assets.static" and not is_api_request():
            response.headers.setdefault("Cache-Control", "no-store")
        return response


class SignInLimiter:
    """Failed sign-ins per key in a sliding window (see the module docstring). Thread-safe."""

    def __init__(self, attempts: int, window: float, clock: Callable[[], float] = time.monotonic):
        self.attempts = attempts
        self.window = window
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _limit(self, key: tuple[str, str]) -> int:
        return self.attempts * 4 if key[0] == "address" else self.attempts

    def _prune(self, key: tuple[str, str], now: float) -> deque[float]:
        failures = self._failures[key]
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    def retry_after(self, keys: Iterable[tuple[str, str]]) -> int:
        """Seconds until another attempt is allowed for every key (0: allowed now)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                failures = self._prune(key, now)
                if len(failures) >= self._limit(key):
                    wait = max(wait, failures[-self._limit(key)] + self.window - now)
        return int(wait) + 1 if wait > 0 else 0

    def failed(self, keys: Iterable[tuple[str, str]]) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                self._failures[key].append(now)

    def succeeded(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._failures.pop(key, None)


def sign_in_keys(email: str) -> list[tuple[str, str]]:
    """The counters a sign-in attempt for ``email`` from this request touches."""
    return [("email", email.strip().lower()), ("address", request.remote_addr or "unknown")]


def limiter() -> SignInLimiter:
    return current_app.extensions["ledger.sign_in_limiter"]


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
