"""Forms of the booking pages. They only parse input; the rules live in `service.py`."""

from __future__ import annotations

import uuid

from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError


def _uuid(form, field) -> None:
    try:
        uuid.UUID(str(field.data or ""))
    except ValueError:
        raise ValidationError("Choose a time from the list.") from None


def _family_member(form, field) -> None:
    """Blank (the account holder) or a family member's id."""
    if field.data:
        try:
            uuid.UUID(str(field.data))
        except ValueError:
            raise ValidationError("No such family member.") from None


class ReserveForm(FlaskForm):
    """The picker's form for one slot. `idempotency_key` is rendered into the page, so a
    double submit of the same form returns the same hold; `doctor_id` and `day` only say
    where to send the patient back to when the slot cannot be held."""

    slot_id = HiddenField(validators=[InputRequired("Choose a time."), _uuid])
    idempotency_key = HiddenField(validators=[Optional(), Length(max=100)])
    doctor_id = HiddenField(validators=[Optional()])
    day = HiddenField(validators=[Optional(), Length(max=10)])
    # Whom the visit is for: blank for the account holder, else one of their family members
    # (they can also say it, or change it, on the hold page).
    for_dependent_id = HiddenField(validators=[Optional(), _family_member])


class PatientCancelForm(FlaskForm):
    reason = TextAreaField("Reason (optional)", validators=[Optional(), Length(max=500)],
                           description="Helps the clinic; the doctor sees it.")


class DoctorCancelForm(FlaskForm):
    reason = TextAreaField(
        "Reason for the patient",
        validators=[DataRequired("Tell the patient why the appointment is cancelled."),
                    Length(max=500)],
        description="The patient sees this. They are refunded in full.")
    return_to = HiddenField()


class RescheduleForm(FlaskForm):
    """A new time of the same doctor; choices are the free slots shown in the picker."""

    slot_id = RadioField("New time", choices=[], validate_choice=False,
                         validators=[InputRequired("Choose a new time."), _uuid])


class ReasonForm(FlaskForm):
    reason = TextAreaField("Reason for the visit (optional)",
                           validators=[Optional(), Length(max=1000)],
                           description="Symptoms or questions; only your doctor sees it.")


class VisitForForm(FlaskForm):
    """Whom the appointment is for: the account holder (blank) or one of their family.
    The view fills the choices with the holder and their family members."""

    for_dependent_id = SelectField("Who is this appointment for?", choices=[],
                                   validate_choice=False, validators=[_family_member])
