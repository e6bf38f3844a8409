"""The join form of the waitlist pages. It only parses input; the rules (dates inside the
booking window, times of day, the doctor's consultation types) live in `service.join`."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from flask_wtf import FlaskForm
from wtforms import DateField, RadioField, SelectField, SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired
from wtforms.widgets import CheckboxInput, ListWidget

from portal.doctors.models import Doctor
from portal.family.models import Dependent
from portal.waitlist.models import DayPart
from portal.waitlist.service import EntryInput

DEFAULT_DAYS = 7  # the form starts with the next week
PART_HINTS = {DayPart.MORNING: "before 12:00", DayPart.AFTERNOON: "12:00 to 17:00",
              DayPart.EVENING: "from 17:00"}
EITHER = ""  # consultation type: either; for whom: the account holder


class CheckboxesField(SelectMultipleField):
    """Several choices as checkboxes (the template renders them in a fieldset)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class JoinForm(FlaskForm):
    """Join a doctor's waitlist: which dates, times of day and kind of consultation, and for
    whom. Choices depend on the doctor and the patient's family: build it with `for_doctor`."""

    date_from = DateField("From", validators=[InputRequired("Choose the first date.")])
    date_to = DateField("To", validators=[InputRequired("Choose the last date.")])
    # The service names a wrong part of the day; the form does not second-guess it.
    day_parts = CheckboxesField("Preferred times of day", validate_choice=False,
                                choices=[SelectChoice(p.value, p.label) for p in DayPart])
    consultation_type = RadioField("Consultation", validate_choice=False, default=EITHER)
    for_whom = SelectField("Who is it for?", default=EITHER)

    @classmethod
    def for_doctor(cls, doctor: Doctor, members: list[Dependent], today: date) -> JoinForm:
        """The form for `doctor`, with the patient's family as choices and, until submitted,
        the next DEFAULT_DAYS days (inside the doctor's booking window) as the dates."""
        last = today + timedelta(days=doctor.booking_window_days - 1)
        form = cls(data={"date_from": today,
                         "date_to": min(today + timedelta(days=DEFAULT_DAYS - 1), last)})
        form.consultation_type.choices = [SelectChoice(EITHER, "Either"), *(
            SelectChoice(kind.value, kind.label) for kind in doctor.consultation_types)]
        form.for_whom.choices = [SelectChoice(EITHER, "Myself"), *(
            SelectChoice(str(m.id), m.name) for m in members)]
        # The browser's date pickers keep to the window; the service checks it regardless.
        bounds = {"min": today.isoformat(), "max": last.isoformat()}
        form.date_from.render_kw = dict(bounds)
        form.date_to.render_kw = dict(bounds)
        form.date_to.description = (f"Up to {last.day} {last:%B %Y}: {doctor.name} takes "
                                    f"bookings {doctor.booking_window_days} days ahead.")
        return form

    def entry_input(self, doctor: Doctor) -> EntryInput:
        """The form's values as the service takes them."""
        kind = self.consultation_type.data or None
        whom = self.for_whom.data or None
        return EntryInput(doctor_id=doctor.id, date_from=self.date_from.data,
                          date_to=self.date_to.data, day_parts=tuple(self.day_parts.data or ()),
                          consultation_type=kind,
                          for_dependent_id=uuid.UUID(whom) if whom else None)
