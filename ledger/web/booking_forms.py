"""The treasurer's booking forms. Fields mirror the API's bodies (``ledger/api/bookings.py``);
choices (clients, practices, partners, engagements, eligible firms) are filled per request."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, SelectMultipleField
from wtforms.validators import InputRequired
from wtforms.widgets import CheckboxInput, ListWidget

from ledger.core.vetting import VETTING_CRITERIA
from ledger.web.forms import CodeField, DayField, MemoField, MoneyField, RefField, TextField, options


class ClientForm(FlaskForm):
    code = CodeField("Client code", description="a-z, 0-9 and -, e.g. acme")
    name = TextField("Client name")


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class FirmForm(FlaskForm):
    code = CodeField("Firm code")
    name = TextField("Firm name")
    vetted = MultiCheckboxField("Vetting criteria met",
                                choices=options((c, c.replace("_", " ").capitalize()) for c in VETTING_CRITERIA))
    nsa_signed_on = DayField("Non-solicitation agreement signed", required=False)
    nsa_expires_on = DayField("Non-solicitation agreement expires", required=False)


class EngagementForm(FlaskForm):
    ref = RefField("Reference", description="your unique id, e.g. ENG-2026-014")
    client = SelectField("Client", [InputRequired()])
    practice = SelectField("Practice", [InputRequired()])
    originator = SelectField("Originated by", [InputRequired()])
    title = TextField("Title")
    opened_on = DayField("Opened on")


class InvoiceForm(FlaskForm):
    engagement = SelectField("Engagement", [InputRequired()])
    amount = MoneyField("Amount", [InputRequired()])
    date = DayField()
    memo = MemoField()


class CostForm(FlaskForm):
    engagement = SelectField("Engagement", [InputRequired()])
    kind = RadioField("Kind", [InputRequired()], default="expense",
                      choices=options([("expense", "Expense"), ("subcontract", "Subcontract to an outside firm")]))
    # Only firms eligible on the cost's date are offered; the service checks again on the date sent.
    firm = SelectField("Firm", validate_choice=False, description="only firms fully vetted, with a "
                       "non-solicitation agreement in force on the date, are offered")
    amount = MoneyField("Amount", [InputRequired()])
    date = DayField()
    memo = MemoField()


class PaymentForm(FlaskForm):
    client = SelectField("Client", [InputRequired()])
    amount = MoneyField("Amount", [InputRequired()])
    date = DayField()


class OverheadForm(FlaskForm):
    category = CodeField("Category", description="e.g. rent, software, insurance")
    amount = MoneyField("Amount", [InputRequired()])
    date = DayField()
    memo = MemoField()


class DrawForm(FlaskForm):
    partner = SelectField("Partner", [InputRequired()])
    amount = MoneyField("Amount", [InputRequired()])
    date = DayField()
