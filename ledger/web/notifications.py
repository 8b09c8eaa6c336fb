"""Notifications in the web app: the list (and the dashboard's panel, with the unread count in the
header), the settings page (which kinds email you; your calendar feed's URL and its rotation), the
calendar feed itself and the unsubscribe page. The rules are ``ledger.notify``'s.

The feed (``/calendar/<token>.ics``) and the unsubscribe page (``/unsubscribe/<token>``) need no
sign-in: their signed token is the credential. The unsubscribe POST is exempt from CSRF (a mail
client's RFC 8058 one-click POST carries no form token); it can only turn email off.
"""

from __future__ import annotations

from flask import Flask, Response, abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField

from ledger.notify import feeds, outbox
from ledger.read.calendar import calendar_for
from ledger.runtime.database import get_session
from ledger.web.errors import web_blueprint
from ledger.web.forms import save
from ledger.web.proposal_forms import ActionForm

bp = web_blueprint("notify", __name__)


def _base_url() -> str:
    return (current_app.config.get("BASE_URL") or request.host_url).rstrip("/")


def preferences_form(values: dict[str, bool] | None = None) -> FlaskForm:
    """A form with a checkbox per kind of notification, ticked as ``values`` say."""

    class PreferencesForm(FlaskForm):
        pass

    for kind, (label, _) in outbox.KINDS.items():
        setattr(PreferencesForm, kind, BooleanField(label))
    if values is None:
        return PreferencesForm()
    return PreferencesForm(formdata=None, data=values)


def panel() -> dict:
    """The signed-in user's latest notifications and unread count, for the dashboard."""
    session = get_session()
    notes = outbox.recent(session, current_user.user, 5)
    return {"unread": outbox.unread_count(session, current_user.user), "notes": notes,
            "emailed": outbox.emailed(session, [n.id for n in notes]), "form": ActionForm()}


def unread() -> int:
    if not current_user.is_authenticated:
        return 0
    return outbox.unread_count(get_session(), current_user.user)


@bp.route("/notifications")
@login_required
def index():
    session = get_session()
    notes = outbox.recent(session, current_user.user, 200)
    return render_template("notifications/index.html", items=notes, unread=outbox.unread_count(session, current_user.user),
                           emailed=outbox.emailed(session, [n.id for n in notes]), form=ActionForm())


@bp.route("/notifications/read", methods=["POST"])
@login_required
def mark_read():
    form = ActionForm()
    if form.validate_on_submit():
        save(form, lambda s: outbox.mark_read(s, current_user.user), success="Marked read.")
    return redirect(url_for("notify.index"))


@bp.route("/settings/notifications", methods=["GET", "POST"])
@login_required
def settings():
    session = get_session()
    if request.method == "POST":
        form = preferences_form()
        if form.validate_on_submit():
            changes = {kind: bool(form[kind].data) for kind in outbox.KINDS}
            if save(form, lambda s: outbox.set_preferences(s, current_user.user, changes),
                    success="Your notification settings are saved."):
                return redirect(url_for("notify.settings"))
    else:
        form = preferences_form(outbox.preferences(session, current_user.user))
    token = feeds.feed_token(session, current_app.config["SECRET_KEY"], current_user.user)
    return render_template("notifications/settings.html", form=form, kinds=outbox.KINDS,
                           feed_url=_base_url() + feeds.FEED_PATH.format(token=token), action_form=ActionForm())


@bp.route("/settings/calendar/rotate", methods=["POST"])
@login_required
def rotate_calendar():
    form = ActionForm()
    if form.validate_on_submit():
        save(form, lambda s: feeds.rotate_feed(s, current_app.config["SECRET_KEY"], current_user.user),
             success="Your calendar has a new address; the old one no longer works.")
    return redirect(url_for("notify.settings"))


@bp.route("/calendar/<string(maxlength=400):token>.ics")
def feed(token):
    session = get_session()
    user = feeds.feed_user(session, current_app.config["SECRET_KEY"], token)
    if user is None:
        abort(404)
    return Response(calendar_for(session, user, _base_url()), mimetype="text/calendar",
                    headers={"Content-Disposition": 'inline; filename="practice-ledger.ics"'})


@bp.route("/unsubscribe/<string(maxlength=400):token>", methods=["GET", "POST"])
def unsubscribe(token):
    found = feeds.read_unsubscribe_token(current_app.config["SECRET_KEY"], token)
    if found is None:
        abort(404)
    user_id, kind = found
    label = "every email" if kind == "all" else outbox.KINDS[kind][0].lower()
    if request.method == "GET":  # a GET writes nothing: the page asks for the click
        return render_template("notifications/unsubscribe.html", label=label, done=False)
    session = get_session()
    if outbox.unsubscribe(session, user_id, kind) is None:
        abort(404)
    session.commit()
    return render_template("notifications/unsubscribe.html", label=label, done=True)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals.update(notification_panel=panel, unread_notifications=unread)
