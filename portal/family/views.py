"""Family pages: the people a patient books for (children, parents, a spouse).

Endpoints (blueprint `family`, under /account/family), for patients only:
  index    GET, POST /                      the list and the "Add a family member" form
  edit     GET, POST /<dependent_id>/edit   one member's details
  remove   POST      /<dependent_id>/remove refused while they have upcoming appointments

Another patient's family member is 404 (the service's `get_own`), so ids cannot be probed.
Every form is a plain form: a POST redirects with a message, or shows the errors with 422.
The template helpers here (`age_label`, `holder_relation`) are also used by the booking and
payment pages, which say whom a visit is for.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from portal.clock import utcnow
from portal.exceptions import Conflict, ValidationFailed
from portal.family import service
from portal.family.forms import DependentForm
from portal.family.models import Dependent, Relation, Sex
from portal.security import patient_required
from portal.web import apply_errors

bp = Blueprint("family", __name__, url_prefix="/account/family")

# Who the account holder is to a dependent of each relation ("booked by Pat, her parent").
HOLDER_IS = {Relation.CHILD: "parent", Relation.PARENT: "child", Relation.SPOUSE: "spouse",
             Relation.SIBLING: "sibling", Relation.GRANDPARENT: "grandchild"}
POSSESSIVE = {Sex.FEMALE: "her", Sex.MALE: "his"}


# --- template helpers ----------------------------------------------------------------------------


@bp.app_template_global()
def age_label(dependent: Dependent, on: date | datetime | None = None) -> str:
    """'6 years', '1 year', '8 months' or 'under a month', on `on` (default: today)."""
    day = on or utcnow()
    if isinstance(day, datetime):
        day = day.date()
    years = dependent.age_on(day)
    if years >= 1:
        return f"{years} year{'' if years == 1 else 's'}"
    born = dependent.date_of_birth
    months = (day.year - born.year) * 12 + day.month - born.month - (day.day < born.day)
    if months >= 1:
        return f"{months} month{'' if months == 1 else 's'}"
    return "under a month"


@bp.app_template_global()
def holder_relation(dependent: Dependent) -> str:
    """What the account holder is to the dependent, as words after their name: 'her parent'
    (empty when the relation says nothing useful)."""
    role = HOLDER_IS.get(dependent.relation)
    return f"{POSSESSIVE.get(dependent.sex, 'their')} {role}" if role else ""


def _today() -> date:
    """Today in the patient's own zone (ages turn over at their midnight)."""
    return utcnow().astimezone(ZoneInfo(current_user.timezone)).date()


def _data(form: DependentForm) -> service.DependentData:
    return service.DependentData(name=form.name.data, relation=form.relation.data,
                                 date_of_birth=form.date_of_birth.data, sex=form.sex.data)


# --- pages ---------------------------------------------------------------------------------------


@bp.route("", methods=["GET", "POST"])
@patient_required
def index():
    """The family members (name, relation, age, date of birth) and the form that adds one."""
    form = DependentForm()
    if form.validate_on_submit():
        try:
            added = service.add_dependent(current_user, _data(form))
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            flash(f"{added.name} is added to your family. You can now book for them.",
                  "success")
            return redirect(url_for(".index"), 303)
    status = 422 if form.is_submitted() and form.errors else 200
    return render_template("family/index.html", form=form, today=_today(),
                           members=service.dependents_of(current_user)), status


@bp.route("/<uuid:dependent_id>/edit", methods=["GET", "POST"])
@patient_required
def edit(dependent_id: uuid.UUID):
    """One family member's details; saving goes back to the list."""
    dependent = service.get_own(current_user, dependent_id)
    form = DependentForm(obj=dependent)
    if not form.is_submitted():
        form.relation.data = dependent.relation.value
        form.sex.data = dependent.sex.value
    if form.validate_on_submit():
        try:
            saved = service.update_dependent(current_user, dependent.id, _data(form))
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            flash(f"{saved.name}'s details are saved.", "success")
            return redirect(url_for(".index"), 303)
    status = 422 if form.is_submitted() and form.errors else 200
    return render_template("family/edit.html", form=form, dependent=dependent,
                           today=_today()), status


@bp.post("/<uuid:dependent_id>/remove")
@patient_required
def remove(dependent_id: uuid.UUID):
    """Remove a family member; refused, with the reason, while they have upcoming
    appointments (their past visits stay in your history)."""
    dependent = service.get_own(current_user, dependent_id)
    name = dependent.name
    try:
        service.remove_dependent(current_user, dependent.id)
    except Conflict as exc:
        flash(exc.message, "error")
    else:
        flash(f"{name} is removed from your family.", "success")
    return redirect(url_for(".index"), 303)
