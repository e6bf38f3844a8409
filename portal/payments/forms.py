"""Forms of the payment pages. They only parse input; the rules live in `service.py`."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal, InvalidOperation

from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from portal.payments.models import RefundSource, RefundStatus
from portal.payments.reports import CHANNEL_LABELS, STATUS_LABELS

REFUND_STATUS_LABELS = {RefundStatus.PENDING: "Processing", RefundStatus.PROCESSED: "Refunded",
                        RefundStatus.FAILED: "Failed"}
REFUND_SOURCE_LABELS = {RefundSource.CANCELLATION: "Cancellation", RefundSource.ADMIN: "Manual",
                        RefundSource.SLOT_LOST: "Slot lost"}


def paise_from_rupees(text: str | None) -> int | None:
    """'500', '500.5' or '1,250.00' rupees as paise; None unless positive, 2 decimals at most."""
    try:
        value = Decimal((text or "").replace(",", "").replace("₹", "").strip())
        # quantize raises InvalidOperation too, for a huge value such as 1e309.
        if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.01")):
            return None
    except InvalidOperation:
        return None
    return int(value * 100)


def _rupees(form, field) -> None:
    if paise_from_rupees(field.data) is None:
        raise ValidationError("Enter an amount in rupees, e.g. 250 or 250.50.")


def _uuid(form, field) -> None:
    try:
        uuid.UUID(str(field.data or ""))
    except ValueError:
        raise ValidationError("The form is incomplete; start the refund again.") from None


# Filter dates outside these would overflow the conversion to UTC (year 1 or 9999) or chart
# thousands of empty months; no payment is that old or that far ahead.
FIRST_FILTER_DAY, LAST_FILTER_DAY = date(2000, 1, 1), date(2099, 12, 31)


def _filter_day(form, field) -> None:
    if field.data and not FIRST_FILTER_DAY <= field.data <= LAST_FILTER_DAY:
        raise ValidationError(f"Choose a date from {FIRST_FILTER_DAY.year} to "
                              f"{LAST_FILTER_DAY.year}.")


class PaymentFilterForm(FlaskForm):
    """The dashboard's filters, read from the query string (a GET form: no CSRF token)."""

    class Meta:
        csrf = False

    start = DateField("From", name="from", validators=[Optional(), _filter_day])
    end = DateField("To", name="to", validators=[Optional(), _filter_day])
    status = SelectField("Status", default="", validators=[Optional()], choices=[
        SelectChoice("", "Any status"),
        *(SelectChoice(s.value, label) for s, label in STATUS_LABELS.items())])
    doctor = SelectField("Doctor", default="", validators=[Optional()])
    method = SelectField("Method", default="", validators=[Optional()])
    channel = SelectField("Channel", default="", validators=[Optional()], choices=[
        SelectChoice("", "Any channel"),
        *(SelectChoice(c.value, label) for c, label in CHANNEL_LABELS.items())])

    def validate_end(self, field) -> None:
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError("The end date is before the start date.")


class RefundFilterForm(FlaskForm):
    class Meta:
        csrf = False

    status = SelectField("Status", default="", validators=[Optional()], choices=[
        SelectChoice("", "Any status"),
        *(SelectChoice(s.value, label) for s, label in REFUND_STATUS_LABELS.items())])
    source = SelectField("Why", default="", validators=[Optional()], choices=[
        SelectChoice("", "Any reason"),
        *(SelectChoice(s.value, label) for s, label in REFUND_SOURCE_LABELS.items())])


class RefundForm(FlaskForm):
    """The detail page's refund form: a GET to the confirmation page (nothing happens yet)."""

    class Meta:
        csrf = False

    amount = StringField("Amount to refund (₹)", validators=[DataRequired("Enter an amount."),
                                                            _rupees])
    reason = TextAreaField("Reason", validators=[
        DataRequired("Give a reason: the patient and the records see it."), Length(max=500)])

    @property
    def paise(self) -> int | None:
        return paise_from_rupees(self.amount.data)


class RefundConfirmForm(RefundForm):
    """The confirmation page's POST. `idempotency_key` is rendered into the page, so posting
    the same confirmation twice refunds once."""

    class Meta:
        csrf = True

    amount = HiddenField(validators=[DataRequired(), _rupees])
    reason = HiddenField(validators=[DataRequired(), Length(max=500)])
    idempotency_key = HiddenField(validators=[DataRequired(), _uuid])



class LinkedAccountForm(FlaskForm):
    """A doctor's Razorpay Route linked account: who they are and where settlements go. Only
    parses; `portal.payments.accounts.validate` holds the rules (IFSC, 9-18 digit account
    number, E.164 phone). The account number is never rendered back."""

    legal_name = StringField("Legal name", validators=[DataRequired("Give the legal name."),
                                                       Length(max=200)],
                             description="As on the doctor's PAN and bank account.")
    contact_name = StringField("Contact name", validators=[DataRequired("Give a contact name."),
                                                           Length(max=120)])
    email = StringField("Email", validators=[DataRequired("Give an email address."),
                                             Length(max=254)],
                        description="Razorpay writes to this address about settlements. It "
                                    "cannot be changed once the linked account exists.")
    phone = StringField("Phone", validators=[DataRequired("Give a phone number."),
                                             Length(max=20)],
                        description="International format, e.g. +919876543210.")
    street = StringField("Street address", validators=[DataRequired("Give the street address."),
                                                       Length(max=100)])
    city = StringField("City", validators=[DataRequired("Give the city."), Length(max=100)])
    state = StringField("State", validators=[DataRequired("Give the state."), Length(max=32)],
                        description="e.g. KARNATAKA")
    postal_code = StringField("PIN code", validators=[DataRequired("Give the PIN code."),
                                                      Length(max=6)])
    beneficiary_name = StringField("Account holder", validators=[
        DataRequired("Give the account holder's name."), Length(max=120)],
        description="As the bank has it.")
    account_number = StringField("Bank account number", validators=[
        DataRequired("Give the bank account number."), Length(max=30)],
        description="9 to 18 digits. Sent to Razorpay only; the portal keeps the last 4.")
    ifsc = StringField("IFSC", validators=[DataRequired("Give the IFSC."), Length(max=20)],
                       description="11 characters, e.g. HDFC0000317.")
