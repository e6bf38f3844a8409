"""Forms of the queue pages. They only parse input; the rules live in `service.py`."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from portal.queue.service import MAX_DELAY_MINUTES


class RunningLateForm(FlaskForm):
    """The doctor is running late: everyone still waiting or booked later today is told."""

    minutes = IntegerField("Running late by (minutes)",
                           validators=[InputRequired("Give the delay in minutes."),
                                       NumberRange(0, MAX_DELAY_MINUTES)],
                           description="0 says the doctor is back on time.",
                           render_kw={"min": 0, "max": MAX_DELAY_MINUTES, "step": 5,
                                      "inputmode": "numeric"})
    note = StringField("Note for the patients (optional)",
                       validators=[Optional(), Length(max=200)],
                       render_kw={"placeholder": "e.g. an emergency in the ward"})
