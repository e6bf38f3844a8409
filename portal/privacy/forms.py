"""Forms of the privacy pages. They only parse input; the rules are in `consents.py`."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, PasswordField, StringField
from wtforms.validators import UUID, AnyOf, DataRequired, Length, Optional

# The buttons of the consents section: save the news-and-offers choice, or accept the
# current version of the terms or of the privacy notice.
ACTIONS = ("marketing", "accept-TERMS", "accept-PRIVACY")


class ConsentForm(FlaskForm):
    marketing = BooleanField("Send me news and offers",
                             description="Occasional announcements from the clinic: new "
                                         "services, camps, opening hours. Never about your "
                                         "health.")
    action = StringField(validators=[AnyOf(ACTIONS, "Choose what to change.")])


class EraseForm(FlaskForm):
    """Erasing the account: the password again, and a tick that the person understands."""

    password = PasswordField("Your password", validators=[DataRequired(), Length(max=128)],
                             render_kw={"autocomplete": "current-password"})
    understood = BooleanField("I understand: my future appointments are cancelled, my data is "
                              "removed and I cannot log in again.",
                              validators=[DataRequired("Tick to confirm.")])


class AccessLogFilterForm(FlaskForm):
    """The admin's search of the access log (a GET form: no CSRF)."""

    class Meta:
        csrf = False

    patient = StringField("Patient id", validators=[Optional(), UUID("Give a patient's id.")])
    user = StringField("Read by (user id)", validators=[Optional(), UUID("Give a user's id.")])
    since = DateField("From", validators=[Optional()])
    until = DateField("To (inclusive)", validators=[Optional()])
