"""Sign-in at ``/login`` (fields ``email``, ``password`` and the CSRF token, as the contract fixes)
and sign-out. Passwords are checked with ``ledger.auth.service.check_password`` (argon2id); an
unknown email costs the same hash check, so the answer's timing does not tell which emails exist.
Failed attempts are counted in the database by ``ledger.auth.throttle`` (per email and client
address, with growing delays); a locked attempt is a 429 and its password is not checked."""

from __future__ import annotations

from types import SimpleNamespace

from argon2 import PasswordHasher
from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import EmailField, PasswordField
from wtforms.validators import InputRequired, Length

from ledger.auth import throttle
from ledger.auth.models import User
from ledger.auth.service import check_password, end_sessions
from ledger.runtime.database import get_session
from ledger.web.access import WebUser
from ledger.web.errors import web_blueprint
from ledger.web.forms import TextRule
from ledger.web.security import client_address, safe_next, sign_in_policy

bp = web_blueprint("auth", __name__)

_dummy: SimpleNamespace | None = None


def _dummy_user() -> SimpleNamespace:
    """A stand-in with a real argon2 hash, checked when the email is unknown."""
    global _dummy
    if _dummy is None:
        _dummy = SimpleNamespace(password_hash=PasswordHasher().hash("not-a-real-password"), active=True)
    return _dummy


class LoginForm(FlaskForm):
    email = EmailField("Email", [InputRequired(), TextRule(254)],
                       render_kw={"autocomplete": "username", "autofocus": True, "autocapitalize": "none"})
    password = PasswordField("Password", [InputRequired(), Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})


class LogoutForm(FlaskForm):
    """Sign-out is a POST with a CSRF token, so another site cannot sign a partner out."""


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("partner.home"))
    form = LoginForm()
    status = 200
    headers = {}
    if form.validate_on_submit():
        db = get_session()
        email, address = form.email.data, client_address()
        wait = throttle.retry_after(db, email, address)
        if wait:
            form.form_errors.append(_try_again(wait))
            status, headers = 429, {"Retry-After": str(wait)}
        else:
            user = db.scalar(select(User).where(User.email == email.strip().lower()))
            if check_password(user or _dummy_user(), form.password.data) and user is not None:
                throttle.succeeded(db, email, address)
                db.commit()
                session.clear()  # a fresh session for the signed-in user
                login_user(WebUser(user))
                return redirect(safe_next(request.args.get("next")) or url_for("partner.home"))
            throttle.failed(db, email, address, sign_in_policy())
            db.commit()  # the count outlives this refused request
            form.form_errors.append("That email and password do not match an account.")
            status = 401
    elif form.is_submitted():
        status = 422
    return render_template("login.html", form=form), status, headers


def _try_again(seconds: int) -> str:
    if seconds < 90:
        return f"Too many failed sign-ins. Try again in {seconds} second{'s' if seconds != 1 else ''}."
    minutes = round(seconds / 60)
    return f"Too many failed sign-ins. Try again in about {minutes} minutes."


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    form = LogoutForm()
    if form.validate_on_submit():
        db = get_session()
        end_sessions(db, current_user.user)  # every session of this user ends, copied cookies too
        db.commit()
        logout_user()
        session.clear()
        flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
