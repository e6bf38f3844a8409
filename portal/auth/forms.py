"""Account forms. Field rules live in portal.validation and the service, not here."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField, TelField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length

from portal.auth.service import TERMS_NEEDED
from portal.validation import available_timezones

COMMON_ZONES = ["Asia/Kolkata", "Asia/Dubai", "Asia/Singapore", "Europe/London",
                "America/New_York", "America/Los_Angeles", "Australia/Sydney"]


def timezone_choices() -> list[tuple[str, str]]:
    rest = sorted(available_timezones() - set(COMMON_ZONES))
    return [(zone, zone.replace("_", " ")) for zone in COMMON_ZONES + rest]


class RegistrationForm(FlaskForm):
    name = StringField("Full name", validators=[DataRequired(), Length(max=120)],
                       render_kw={"autocomplete": "name"})
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)],
                       render_kw={"autocomplete": "email"})
    phone = TelField("Mobile number", validators=[DataRequired(), Length(max=20)],
                     description="International format, e.g. +919876543210",
                     render_kw={"autocomplete": "tel", "placeholder": "+919876543210"})
    timezone = SelectField("Time zone", choices=timezone_choices, default="Asia/Kolkata",
                           validate_choice=False)
    password = PasswordField("Password", validators=[DataRequired(), Length(max=128)],
                             description="At least 8 characters; not a common password.",
                             render_kw={"autocomplete": "new-password"})
    # The service checks it too (for the API); here it shows beside the form's other errors.
    # The template writes the label, with links to the two texts.
    accept_terms = BooleanField("I accept the terms of service and the privacy notice",
                                validators=[DataRequired(TERMS_NEEDED)])
    marketing = BooleanField("Send me news and offers",
                             description="Occasional announcements from the clinic. You can "
                                         "stop them at any time on your privacy page.")


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)],
                       render_kw={"autocomplete": "username"})
    password = PasswordField("Password", validators=[DataRequired(), Length(max=128)],
                             render_kw={"autocomplete": "current-password"})
    remember = BooleanField("Keep me logged in on this device")


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)],
                       render_kw={"autocomplete": "email"})


class ResetPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(max=128)],
                             description="At least 8 characters; not a common password.",
                             render_kw={"autocomplete": "new-password"})
    confirm = PasswordField("Repeat the new password",
                            validators=[DataRequired(),
                                        EqualTo("password", "The passwords differ.")],
                            render_kw={"autocomplete": "new-password"})


class ChangePasswordForm(ResetPasswordForm):
    current_password = PasswordField("Current password", validators=[DataRequired()],
                                     render_kw={"autocomplete": "current-password"})


class LogoutForm(FlaskForm):
    """Logout is a POST with a CSRF token, so another site cannot log people out."""


LANGUAGE_CHOICES = [SelectChoice("en", "English", {"lang": "en"}),
                    SelectChoice("hi", "हिन्दी", {"lang": "hi"})]


class ProfileForm(FlaskForm):
    """Name, phone, time zone and language; the service checks them as at registration."""

    name = StringField("Full name", validators=[DataRequired(), Length(max=120)],
                       render_kw={"autocomplete": "name"})
    phone = TelField("Mobile number", validators=[DataRequired(), Length(max=20)],
                     description="International format, e.g. +919876543210",
                     render_kw={"autocomplete": "tel", "placeholder": "+919876543210"})
    timezone = SelectField("Time zone", choices=timezone_choices, validate_choice=False,
                           description="Times of appointments are shown in this zone.")
    language = SelectField("Preferred language", choices=LANGUAGE_CHOICES,
                           validate_choice=False)


class EmailChangeForm(FlaskForm):
    """A new address, confirmed by a link sent to it; the current password proves it is you.
    Rendered with prefix="email_change" beside the profile form, so ids do not collide."""

    email = EmailField("New email address", validators=[DataRequired(), Length(max=254)],
                       render_kw={"autocomplete": "email"})
    password = PasswordField("Current password", validators=[DataRequired(), Length(max=128)],
                             render_kw={"autocomplete": "current-password"})


class ConfirmEmailForm(FlaskForm):
    """The button on the emailed link's page: only the POST changes the address."""


class ClaimForm(ResetPasswordForm):
    """Set the first password of an account the clinic made; `email` is asked only when the
    clinic had no address for the person (the view drops it otherwise)."""

    email = EmailField("Your email address", validators=[DataRequired(), Length(max=254)],
                       description="For receipts and reminders, and to log in.",
                       render_kw={"autocomplete": "email"})


class CodeForm(FlaskForm):
    """The second step of logging in: a code from the authenticator app or a recovery code."""

    code = StringField("Code", validators=[DataRequired(), Length(max=32)],
                       description="The 6-digit code your authenticator app shows now, or one "
                                   "of your recovery codes.",
                       render_kw={"autocomplete": "one-time-code", "autocapitalize": "none",
                                  "spellcheck": "false"})


class EnableTwoFactorForm(FlaskForm):
    """Setting up: the first code the app shows proves it holds the secret."""

    code = StringField("Code from the app", validators=[DataRequired(), Length(max=32)],
                       description="The 6-digit code the app shows after adding the account.",
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})


class DisableTwoFactorForm(FlaskForm):
    """Turning it off needs the password and a code (or a recovery code)."""

    password = PasswordField("Password", validators=[DataRequired(), Length(max=128)],
                             render_kw={"autocomplete": "current-password"})
    code = StringField("Code", validators=[DataRequired(), Length(max=32)],
                       description="A code from your authenticator app, or a recovery code.",
                       render_kw={"autocomplete": "one-time-code", "autocapitalize": "none",
                                  "spellcheck": "false"})
