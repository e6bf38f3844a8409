"""Forms of the privacy pages. They only parse input; the rules are in `consents.py`."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import AnyOf

# The buttons of the consents section: save the news-and-offers choice, or accept the
# current version of the terms or of the privacy notice.
ACTIONS = ("marketing", "accept-TERMS", "accept-PRIVACY")


class ConsentForm(FlaskForm):
    marketing = BooleanField("Send me news and offers",
                             description="Occasional announcements from the clinic: new "
                                         "services, camps, opening hours. Never about your "
                                         "health.")
    action = StringField(validators=[AnyOf(ACTIONS, "Choose what to change.")])
