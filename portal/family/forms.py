"""Forms of the family pages. They only parse input; the rules live in `service.py`."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length

from portal.family.models import Relation, Sex


def _choices(enum, prompt: str) -> list[SelectChoice]:
    return [SelectChoice("", prompt), *(SelectChoice(member.value, member.label)
                                       for member in enum)]


class DependentForm(FlaskForm):
    """A family member's details: adding one, or changing them on their own page."""

    name = StringField("Name", validators=[DataRequired("Enter their name."), Length(max=120)],
                       render_kw={"autocomplete": "off"})
    relation = SelectField("Relation to you", choices=_choices(Relation, "Choose…"),
                           validate_choice=False,
                           validators=[InputRequired("Choose how they are related to you.")],
                           description="They are your child, spouse, parent, …")
    date_of_birth = DateField("Date of birth",
                              validators=[InputRequired("Enter their date of birth.")])
    sex = SelectField("Sex", choices=_choices(Sex, "Choose…"), validate_choice=False,
                      validators=[InputRequired("Choose female, male or other.")])
