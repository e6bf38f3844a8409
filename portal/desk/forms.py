"""Forms of the front-desk pages. They only parse input; the rules live in `service.py`."""

from __future__ import annotations

import uuid

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, SelectField, StringField, TelField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from portal.payments.models import OfflineMethod


def _uuid(message: str):
    def check(form, field) -> None:
        try:
            uuid.UUID(str(field.data or ""))
        except ValueError:
            raise ValidationError(message) from None

    return check


class _PersonFields(FlaskForm):
    """Someone at the counter or on the phone: the service checks and normalises each field."""

    name = StringField("Full name", validators=[DataRequired("Enter the person's name."),
                                                Length(max=120)],
                       render_kw={"autocomplete": "off"})
    phone = TelField("Mobile number", validators=[DataRequired("Enter a mobile number."),
                                                  Length(max=20)],
                     description="International format, e.g. +919876543210. They get an SMS "
                                 "to set up their account.",
                     render_kw={"autocomplete": "off", "placeholder": "+919876543210"})
    email = EmailField("Email (optional)", validators=[Optional(), Length(max=254)],
                       render_kw={"autocomplete": "off"})


class BookForPatientForm(FlaskForm):
    """Book a slot for a patient found by the search."""

    slot_id = HiddenField(validators=[InputRequired("Choose a time."),
                                      _uuid("Choose a time on the day board.")])
    patient_id = HiddenField(validators=[InputRequired("Choose the patient."),
                                         _uuid("Choose the patient from the search.")])
    for_dependent_id = SelectField("Whom is the visit for?", choices=[], validate_choice=False,
                                   validators=[Optional()])
    reason = TextAreaField("Reason for the visit (optional)",
                           validators=[Optional(), Length(max=1000)],
                           description="The doctor reads it before the consultation.")
    idempotency_key = HiddenField(validators=[Optional(), Length(max=100)])


class BookForNewPersonForm(_PersonFields):
    """Book a slot for someone without an account: they get one, and an invitation."""

    slot_id = HiddenField(validators=[InputRequired("Choose a time."),
                                      _uuid("Choose a time on the day board.")])
    reason = TextAreaField("Reason for the visit (optional)",
                           validators=[Optional(), Length(max=1000)])


class WalkInForm(_PersonFields):
    doctor_id = SelectField("Doctor", choices=[], validate_choice=False,
                            validators=[InputRequired("Choose the doctor."),
                                        _uuid("Choose a doctor on duty today.")])


class OfflinePaymentForm(FlaskForm):
    """Money taken at the counter."""

    method = SelectField("How did they pay?",
                         choices=[SelectChoice(m.value, m.label) for m in OfflineMethod],
                         default=OfflineMethod.CASH.value)
    reference = StringField("Receipt or transaction number",
                            validators=[InputRequired("Enter the number of the counter's "
                                                      "receipt."), Length(max=60)],
                            description="The number on the cash receipt, the UPI reference or "
                                        "the card slip.",
                            render_kw={"autocomplete": "off"})


class PaymentLinkForm(FlaskForm):
    """Send the patient a payment link (a POST with the CSRF token, nothing else)."""


class StaffInviteForm(FlaskForm):
    """An admin invites a receptionist: they get an email with a link to set a password."""

    name = StringField("Full name", validators=[DataRequired(), Length(max=120)],
                       render_kw={"autocomplete": "off"})
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)],
                       render_kw={"autocomplete": "off"})
