"""Who is signed in, and what they may open.

- ``WebUser`` wraps the ``User`` row for Flask-Login. Its session id is ``"<id>:<session
  version>"``, checked against the user's row on every request: sign-out and a new password raise
  the version (``auth.service.end_sessions``), which signs the user out everywhere, a copied
  cookie included. An inactive user is signed out.
- Roles, as in the API: an ``admin`` may do whatever a ``treasurer`` may (``is_treasurer``); a
  ``partner`` user is linked to its partner. ``treasurer_required`` and ``partner_required`` answer
  a 403 page otherwise; pages about one partner call ``require_self_or_treasurer`` (statements
  also admit every partner when the charter has open books).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import Flask, abort
from flask_login import LoginManager, UserMixin, current_user, login_required

from ledger.auth.models import User
from ledger.core.access import Viewer
from ledger.core.text import fits
from ledger.practices.models import Partner
from ledger.runtime.database import get_session

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please sign in to open that page."
login_manager.login_message_category = "info"


class WebUser(UserMixin):
    """The signed-in user of this request."""

    def __init__(self, user: User):
        self.user = user

    def get_id(self) -> str:
        return f"{self.user.id}:{self.user.session_version}"

    @property
    def is_active(self) -> bool:
        return bool(self.user.active)

    @property
    def email(self) -> str:
        return self.user.email

    @property
    def role(self) -> str:
        return self.user.role

    @property
    def is_treasurer(self) -> bool:
        return self.user.role in ("treasurer", "admin")

    @property
    def partner(self) -> Partner | None:
        return self.user.partner if self.user.role == "partner" else None

    @property
    def display_name(self) -> str:
        return self.partner.name if self.partner is not None else self.user.email


@login_manager.user_loader
def load_user(session_id: str) -> WebUser | None:
    user_id, _, version = session_id.partition(":")
    if not fits(r"[0-9]{1,10}", user_id) or not fits(r"[0-9]{1,10}", version):
        return None
    user = get_session().get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return WebUser(user)


def init_app(app: Flask) -> None:
    login_manager.init_app(app)


def treasurer_required(view: Callable) -> Callable:
    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_user.is_treasurer:
            abort(403, "This page is the treasurer's.")
        return view(*args, **kwargs)

    return wrapper


def partner_required(view: Callable) -> Callable:
    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if current_user.partner is None:
            abort(403, "This page is for partners.")
        return view(*args, **kwargs)

    return wrapper


def me() -> Partner:
    """The signed-in partner (inside a ``partner_required`` view)."""
    return current_user.partner


def is_self(code: str) -> bool:
    return current_user.partner is not None and current_user.partner.code == code


def require_self_or_treasurer(code: str) -> None:
    if not (current_user.is_treasurer or is_self(code)):
        abort(403, f"Only {code} and the treasurer may open this page.")


def viewer() -> Viewer:
    """The signed-in user as the read and governance rules know them (``core.access.Viewer``)."""
    partner = current_user.partner
    return Viewer(current_user.role, partner.code if partner is not None else None)
