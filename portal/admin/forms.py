"""Admin forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from portal.auth.forms import timezone_choices


class DoctorForm(FlaskForm):
    name = StringField("Full name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    phone = TelField("Mobile number", validators=[DataRequired(), Length(max=20)],
                     description="International format, e.g. +919876543210")
    password = PasswordField("Initial password", validators=[DataRequired(), Length(max=128)],
                             description="The doctor should change it after the first login.")
    specialty = StringField("Specialty", validators=[DataRequired(), Length(max=80)])
    qualifications = StringField("Qualifications", validators=[Optional(), Length(max=200)])
    languages = StringField("Languages", default="English", validators=[Length(max=200)],
                            description="Comma-separated, e.g. English, Hindi")
    bio = TextAreaField("Bio", validators=[Optional(), Length(max=5000)])
    timezone = SelectField("Time zone", choices=timezone_choices, default="Asia/Kolkata",
                           validate_choice=False)
    slot_minutes = IntegerField("Slot length (minutes)", default=30,
                                validators=[DataRequired(), NumberRange(5, 240)])
    fee_video = IntegerField("Video consultation fee (₹)", validators=[
        Optional(), NumberRange(0, 100_000)], description="Leave empty if not offered.")
    fee_in_person = IntegerField("In-person consultation fee (₹)", validators=[
        Optional(), NumberRange(0, 100_000)], description="Leave empty if not offered.")


class ActiveForm(FlaskForm):
    """Activate or deactivate a doctor (POST with CSRF)."""
