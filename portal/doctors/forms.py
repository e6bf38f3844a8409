"""Forms of the doctors' pages. They only parse input; the rules live in the services."""

from __future__ import annotations

from decimal import Decimal

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DecimalField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, StopValidation

from portal.auth.forms import timezone_choices
from portal.doctors.service import MAX_FEE_PAISE
from portal.formatting import format_money

# --- the doctor's profile page -------------------------------------------------------------------


def _fee(form, field) -> None:
    """An amount in rupees: finite, not negative, within the service's limit, whole paise.
    (In this order: Decimal arithmetic on NaN, infinity or 1e400 raises.)"""
    amount = field.data
    if amount is None:
        return
    if not amount.is_finite():
        raise StopValidation("Enter an amount in rupees, e.g. 500.")
    if amount < 0:
        raise StopValidation("A fee cannot be negative.")
    if amount * 100 > MAX_FEE_PAISE:
        raise StopValidation(f"A fee can be at most {format_money(MAX_FEE_PAISE)}.")
    if amount * 100 != (amount * 100).to_integral_value():
        raise StopValidation("Use at most two decimal places (paise).")


def rupees(paise: int | None) -> Decimal | None:
    return None if paise is None else Decimal(paise) / 100


def to_paise(amount: Decimal | None) -> int | None:
    return None if amount is None else int(amount * 100)


class DoctorProfileForm(FlaskForm):
    """Everything `portal.doctors.profile.ProfileChanges` holds; fees in rupees here."""

    name = StringField("Name", validators=[DataRequired("Enter the name."), Length(max=120)],
                       description="As patients see it, e.g. Dr. Asha Rao.")
    specialty = StringField("Specialty",
                            validators=[DataRequired("Enter the specialty."), Length(max=80)])
    qualifications = StringField("Qualifications", validators=[Optional(), Length(max=200)],
                                 description="e.g. MBBS, MD (Paediatrics)")
    bio = TextAreaField("About", validators=[Optional(), Length(max=5000)],
                        description="Shown on the public page.", render_kw={"rows": 5})
    languages = StringField("Languages", validators=[Optional(), Length(max=200)],
                            description="Separated by commas, e.g. English, Hindi")
    offers_video = BooleanField("Offer video consultations")
    fee_video = DecimalField("Video consultation fee (₹)", places=2,
                             validators=[Optional(), _fee],
                             description="0 for free consultations.",
                             render_kw={"inputmode": "decimal"})
    offers_in_person = BooleanField("Offer in-person consultations")
    fee_in_person = DecimalField("In-person consultation fee (₹)", places=2,
                                 validators=[Optional(), _fee],
                                 description="0 for free consultations.",
                                 render_kw={"inputmode": "decimal"})
    slot_minutes = IntegerField("Length of a consultation (minutes)",
                                validators=[InputRequired("Enter the length in minutes.")],
                                description="The default for new weekly hours.")
    buffer_minutes = IntegerField("Rest between consultations (minutes)",
                                  validators=[InputRequired("Enter the rest in minutes.")],
                                  description="The default for new weekly hours.")
    booking_window_days = IntegerField("Patients can book up to (days ahead)",
                                       validators=[InputRequired("Enter a number of days.")])
    min_notice_minutes = IntegerField("Minimum notice (minutes)",
                                      validators=[InputRequired("Enter the notice in minutes.")],
                                      description="How long before a consultation patients "
                                                  "can still book it.")
    timezone = SelectField("Time zone", choices=timezone_choices, validate_choice=False,
                           description="Your weekly hours are local times in this zone. "
                                       "Changing it keeps booked appointments at their instant "
                                       "and moves your free times.")
