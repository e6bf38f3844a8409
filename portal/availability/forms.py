"""Forms for the doctor's schedule pages: weekly hours and overrides.

The forms only parse input; the rules (overlaps, slot lengths that divide a range, dates in the
past) live in `slots.py` and `service.py`, and the views put their `ScheduleError`s on the
field at fault. Choices that depend on the doctor (consultation types, slot length) are set
with `for_doctor` after the form is built.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TimeField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from portal.availability.slots import MAX_SLOT_MINUTES, MIN_SLOT_MINUTES, WEEKDAY_NAMES
from portal.doctors.models import Doctor

# Field names of the seven per-day lists on WeeklyHoursForm, Monday first (date.weekday()).
DAY_KEYS: tuple[str, ...] = tuple(name.lower() for name in WEEKDAY_NAMES)


def consultation_choices(doctor: Doctor) -> list[tuple[str, str]]:
    return [(kind.value, kind.label) for kind in doctor.consultation_types]


class RangeForm(Form):
    """One working range of a weekday (a row of the weekly hours form; no CSRF of its own)."""

    start = TimeField("Start", validators=[InputRequired("Enter a start time.")])
    end = TimeField("End", validators=[InputRequired("Enter an end time.")])
    consultation_type = SelectField("Consultation", choices=[])
    slot_minutes = IntegerField("Slot (minutes)", validators=[
        InputRequired("Enter a slot length."),
        NumberRange(MIN_SLOT_MINUTES, MAX_SLOT_MINUTES)])
    buffer_minutes = IntegerField("Break after (minutes)", default=0, validators=[
        Optional(), NumberRange(0, 240)])


def range_defaults(doctor: Doctor) -> dict:
    """The values of a new, empty range row."""
    choices = consultation_choices(doctor)
    return {"start": None, "end": None, "consultation_type": choices[0][0] if choices else None,
            "slot_minutes": doctor.slot_minutes, "buffer_minutes": 0}


class WeeklyHoursForm(FlaskForm):
    """Weekly hours: zero or more ranges per weekday, in force from a date."""

    effective_from = DateField("Effective from", validators=[InputRequired("Choose a date.")],
                               description="Days before this date keep their current hours.")
    monday = FieldList(FormField(RangeForm), min_entries=0, max_entries=12)
    tuesday = FieldList(FormField(RangeForm), min_entries=0, max_entries=12)
    wednesday = FieldList(FormField(RangeForm), min_entries=0, max_entries=12)
    thursday = FieldList(FormField(RangeForm), min_entries=0, max_entries=12)
    friday = FieldList(FormField(RangeForm), min_entries=0, max_entries=12)
    saturday = FieldList(FormField(RangeForm), min_entries=0, max_entries=12)
    sunday = FieldList(FormField(RangeForm), min_entries=0, max_entries=12)

    def days(self) -> list[tuple[int, str, FieldList]]:
        """(weekday, name, list of range rows) for Monday to Sunday."""
        return [(i, WEEKDAY_NAMES[i], getattr(self, key)) for i, key in enumerate(DAY_KEYS)]

    def for_doctor(self, doctor: Doctor) -> WeeklyHoursForm:
        for _, _, rows in self.days():
            for row in rows:
                prepare_range(row.form, doctor)
        return self


def prepare_range(row: RangeForm, doctor: Doctor) -> RangeForm:
    row.consultation_type.choices = consultation_choices(doctor)
    return row


class DaysOffForm(FlaskForm):
    """A day or a range of days off (holiday, vacation, conference)."""

    kind = HiddenField(default="OFF")  # tells the two forms of the page apart
    start_date = DateField("First day", validators=[InputRequired("Choose the first day.")])
    end_date = DateField("Last day", validators=[Optional()],
                         description="Leave empty for a single day.")
    reason = StringField("Reason", validators=[Optional(), Length(max=200)],
                         description="Only you and the clinic see this, e.g. Conference.")


class CustomHoursForm(FlaskForm):
    """Hours that replace the weekly ones on one date."""

    kind = HiddenField(default="CUSTOM")
    start_date = DateField("Date", validators=[InputRequired("Choose the date.")])
    start = TimeField("Start", validators=[InputRequired("Enter a start time.")])
    end = TimeField("End", validators=[InputRequired("Enter an end time.")])
    consultation_type = SelectField("Consultation", choices=[])
    slot_minutes = IntegerField("Slot (minutes)", validators=[
        InputRequired("Enter a slot length."),
        NumberRange(MIN_SLOT_MINUTES, MAX_SLOT_MINUTES)])
    buffer_minutes = IntegerField("Break after (minutes)", default=0, validators=[
        Optional(), NumberRange(0, 240)])
    reason = StringField("Reason", validators=[Optional(), Length(max=200)])

    def for_doctor(self, doctor: Doctor) -> CustomHoursForm:
        self.consultation_type.choices = consultation_choices(doctor)
        return self
