"""Jinja filters and globals: how amounts, units, dates and times read on a page.

Formatting only — no figure is computed here, and amounts are written by the money module
(``core.money.display``): thousands separators, the commodity's places, a true minus sign. Amounts
arrive as ``Decimal`` or as the services' exact strings (``"-1500.00"``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from flask import Flask
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy.exc import SQLAlchemyError

from ledger.core.errors import LedgerError
from ledger.core.money import display, format_percent
from ledger.journal.periods import get_books
from ledger.practices.service import get_partnership
from ledger.runtime.database import get_session

KIND_LABELS = {
    "origination": "Origination", "practice": "Practice share", "pool": "Common pool", "draw": "Draw",
    "buyout": "Buyout", "goodwill": "Goodwill", "adjustment": "Adjustment",
}

PROPOSAL_KINDS = {
    "add_practice": "Add a practice",
    "admit_partner": "Admit a partner",
    "change_policy": "Change the sharing policy",
    "retire_partner": "Retire a partner",
    "amend_vesting": "Pause, resume or accelerate vesting",
    "resolution": "Resolution",
    "change_governance": "Change a voting rule",
}


def _decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _currency() -> str:
    try:
        return get_books(get_session()).currency
    except (LedgerError, SQLAlchemyError):
        return "USD"


def money(value, commodity: str | None = None) -> str:
    """``Decimal("-1234.5")`` → ``−1,234.50``: ``core.money.display`` at the commodity's places
    (the partnership's currency unless given; ``"UNITS"`` for units)."""
    return display(_decimal(value), commodity or _currency())


def money_cell(value, commodity: str | None = None) -> Markup:
    """An amount in a ``<span>`` marked negative when it is below zero (red in the stylesheet)."""
    amount = _decimal(value)
    css = "num neg" if amount is not None and amount < 0 else "num"
    # Bandit B704 silenced: the class is one of two literals and the only other text is escaped here.
    return Markup(f'<span class="{css}">{escape(money(value, commodity))}</span>')  # nosec B704


def units(value) -> str:
    return "—" if value is None else f"{int(value):,}"


def day(value) -> str:
    """A date as ``31 Jan 2026``."""
    if value is None:
        return "—"
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            return value
    return f"{value.day} {value:%b %Y}"


def when(value) -> str:
    """A time as ``31 Jan 2026, 14:05 UTC``."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    return f"{value.day} {value:%b %Y, %H:%M} UTC"


def percent(value) -> str:
    amount = _decimal(value)
    return "—" if amount is None else format_percent(amount)


def _partnership_name() -> str:
    # The layout must render even on an error page about the database itself.
    try:
        return get_partnership(get_session()).name
    except (LedgerError, SQLAlchemyError):
        return "Practice Ledger"


def init_app(app: Flask) -> None:
    app.add_template_filter(money)
    app.add_template_filter(money_cell)
    app.add_template_filter(units)
    app.add_template_filter(day)
    app.add_template_filter(when)
    app.add_template_filter(percent)
    app.add_template_global(KIND_LABELS, "KIND_LABELS")
    app.add_template_global(PROPOSAL_KINDS, "PROPOSAL_KINDS")

    @app.context_processor
    def _layout():
        # Only pages that render the layout pay for the lookup.
        return {"partnership_name": _partnership_name, "me": current_user}
