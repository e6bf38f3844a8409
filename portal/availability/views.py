"""The doctor's schedule pages: the week calendar, weekly hours, days off and custom hours.

Every page is for the doctor themself, or for an admin who names the doctor with
`?doctor=<uuid>`; a doctor naming another doctor's slot, block or override gets 404 (ids
cannot be probed). Each HTMX interaction is also a plain link or form: a GET returns the full
page or, for HTMX, only the fragment it swaps (`render_page`); a POST from HTMX returns the
updated fragment, and without JavaScript redirects back with a flashed message.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user

from portal.auth.models import Role
from portal.availability import service
from portal.availability.calendar import STATE_LABELS, build_week, long_date, monday, slot_item
from portal.availability.forms import (
    DAY_KEYS,
    CustomHoursForm,
    DaysOffForm,
    WeeklyHoursForm,
    prepare_range,
    range_defaults,
)
from portal.availability.models import (
    AvailabilityOverride,
    OverrideKind,
)
from portal.availability.slots import WEEKDAY_NAMES, ScheduleError, get_zone
from portal.clock import utcnow
from portal.doctors.models import ConsultationType, Doctor
from portal.doctors.service import doctor_to_manage
from portal.exceptions import DomainError, NotFound, ValidationFailed
from portal.security import roles_required
from portal.waitlist import service as waitlist
from portal.web import apply_errors, render_page

bp = Blueprint("availability", __name__, url_prefix="/practice")

# Doctors manage their own schedule; admins may open any doctor's with ?doctor=<uuid>.
schedule_keeper = roles_required(Role.DOCTOR, Role.ADMIN)

CONFLICTS_KEY = "availability_conflicts"
MAX_CONFLICTS_SHOWN = 20  # slot ids kept in the session cookie
CUSTOM_FIELDS = {"start": "start", "ranges.start": "start", "ranges.end": "end",
                 "ranges.slot_minutes": "slot_minutes", "ranges.buffer_minutes": "buffer_minutes",
                 "ranges.consultation_type": "consultation_type",
                 "consultation_type": "consultation_type", "start_date": "start_date",
                 "end_date": "start_date", "reason": "reason"}


# --- whose schedule ----------------------------------------------------------------------------


def _doctor_in_scope() -> Doctor:
    """The logged-in doctor, or for an admin the doctor named by ?doctor=<uuid>.

    An admin without ?doctor= is sent to the doctors list (aborts with a redirect); a
    malformed id, or a doctor naming someone else, gets 404.
    """
    raw = request.args.get("doctor")
    doctor_id = _parse_uuid(raw) if raw else None
    if raw and doctor_id is None:
        raise NotFound("No such doctor.")
    if current_user.role == Role.ADMIN and doctor_id is None:
        flash("Choose a doctor to see their calendar and hours.", "info")
        abort(redirect(url_for("admin.doctors_list")))
    return doctor_to_manage(current_user, doctor_id)


def _scope(doctor: Doctor) -> dict[str, str]:
    """Query arguments that keep an admin on the same doctor's pages."""
    return {"doctor": str(doctor.id)} if current_user.role == Role.ADMIN else {}


def _parse_uuid(raw: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw or "")
    except ValueError:
        return None


def _parse_date(raw: str | None) -> date | None:
    try:
        value = date.fromisoformat(raw or "")
    except ValueError:
        return None
    # Far-off dates are typos or probes, and would overflow the week arithmetic.
    return value if date(1970, 1, 1) <= value <= date(9000, 1, 1) else None


# --- the week calendar -------------------------------------------------------------------------


def _render_grid(doctor: Doctor, week_start: date, selected: date | None,
                 notice: str | None = None, error: bool = False, status: int = 200):
    week = build_week(doctor, week_start, selected, utcnow())
    # Patients waiting for each day from today on (past days wait for nothing).
    first = max(week.start, week.today)
    waiting = waitlist.waiting_by_day(doctor, first, week.end) if first <= week.end else {}
    return render_page("availability/calendar.html", block="grid", doctor=doctor, week=week,
                       scope=_scope(doctor), notice=notice, notice_error=error,
                       waiting=waiting), status


@bp.get("/calendar")
@schedule_keeper
def calendar():
    """The week grid (?week=any date of the week, ?day= the day shown on a phone)."""
    doctor = _doctor_in_scope()
    today = service.local_today(doctor)
    week_start = monday(_parse_date(request.args.get("week")) or today)
    return _render_grid(doctor, week_start, _parse_date(request.args.get("day")))


def _after_calendar_change(doctor: Doctor, when: datetime, message: str,
                           error_status: int | None = None):
    """HTMX: the updated grid with the message; otherwise flash it and go back to the week."""
    zone = get_zone(doctor.timezone)
    local_day = when.astimezone(zone).date()
    week_start = monday(_parse_date(request.form.get("week")) or local_day)
    selected = _parse_date(request.form.get("day")) or local_day
    if getattr(request, "htmx", False):
        return _render_grid(doctor, week_start, selected, message, error_status is not None,
                            error_status or 200)
    flash(message, "error" if error_status else "success")
    return redirect(url_for(".calendar", week=week_start.isoformat(), day=selected.isoformat(),
                            **_scope(doctor)))


@bp.post("/slots/<uuid:slot_id>/block")
@schedule_keeper
def block_slot(slot_id: uuid.UUID):
    """Block a free slot's time; refused (409) when a patient holds or booked it meanwhile."""
    slot, doctor = service.get_slot(current_user, slot_id)
    zone = get_zone(doctor.timezone)
    start, end = slot.start_at, slot.end_at
    when = f"{long_date(start.astimezone(zone).date())}, {start.astimezone(zone):%H:%M}"
    try:
        service.block_interval(doctor, start, end, request.form.get("reason", "").strip())
    except DomainError as exc:
        return _after_calendar_change(doctor, start, f"Could not block {when}: {exc.message}",
                                      exc.status)
    return _after_calendar_change(
        doctor, start, f"Blocked {when}. Select it again to unblock it.")


@bp.post("/blocks/<uuid:block_id>/unblock")
@schedule_keeper
def unblock(block_id: uuid.UUID):
    """Remove a block; the free slots of the schedule come back."""
    block, doctor = service.get_block(current_user, block_id)
    zone = get_zone(doctor.timezone)
    start = block.start_at
    service.unblock(doctor, block_id)
    return _after_calendar_change(
        doctor, start, f"Unblocked {long_date(start.astimezone(zone).date())}, "
                       f"{start.astimezone(zone):%H:%M}.")


@bp.get("/slots/<uuid:slot_id>")
@schedule_keeper
def slot_detail(slot_id: uuid.UUID):
    """One slot's details: the calendar's side panel for HTMX, a page of its own otherwise."""
    slot, doctor = service.get_slot(current_user, slot_id)
    item = slot_item(slot, get_zone(doctor.timezone), utcnow())
    return render_page("availability/slot.html", block="panel", doctor=doctor, slot=slot,
                       item=item, week_start=monday(item.start.date()),
                       scope=_scope(doctor))


# --- weekly hours ------------------------------------------------------------------------------


def _fill_from_schedule(form: WeeklyHoursForm, rows, doctor: Doctor) -> None:
    for row in sorted(rows, key=lambda r: (r.weekday, r.start_time)):
        getattr(form, DAY_KEYS[row.weekday]).append_entry({
            "start": row.start_time, "end": row.end_time,
            "consultation_type": row.consultation_type, "slot_minutes": row.slot_minutes,
            "buffer_minutes": row.buffer_minutes})


def _ranges_from(form: WeeklyHoursForm):
    """The form's rows as service inputs, and for each input index the row it came from."""
    ranges: list[service.RangeInput] = []
    rows = []
    for weekday, _, entries in form.days():
        for entry in entries:
            data = entry.form
            ranges.append(service.RangeInput(
                weekday, data.start.data, data.end.data, data.consultation_type.data,
                data.slot_minutes.data, data.buffer_minutes.data or 0))
            rows.append(entry.form)
    return ranges, rows


def _schedule_error_on(form: WeeklyHoursForm, exc: ScheduleError, rows, doctor: Doctor) -> None:
    """Put a ScheduleError on the field at fault: a range's field, the date, or the top."""
    if exc.index is not None and exc.index < len(rows):
        target = getattr(rows[exc.index], exc.field, None)
        if target is not None and hasattr(target, "errors"):
            target.errors = [*target.errors, exc.message]
            return
    if exc.field == "effective_from":
        form.effective_from.errors = [*form.effective_from.errors, exc.message]
        return
    if exc.field == "consultation_type":
        # Not tied to one range by the service: mark every row using a type not offered.
        offered = {kind.value for kind in doctor.consultation_types}
        marked = False
        for row in rows:
            if row.consultation_type.data not in offered:
                row.consultation_type.errors = [*row.consultation_type.errors, exc.message]
                marked = True
        if marked:
            return
    form.form_errors.append(exc.message)


def _hours_page(form: WeeklyHoursForm, doctor: Doctor, status: int = 200,
                focus: str | None = None):
    now = utcnow()
    schedule = service.get_schedule(doctor, now)
    return render_template(
        "availability/hours.html", form=form, doctor=doctor, schedule=schedule,
        current=_by_weekday(schedule.weekly), upcoming=_upcoming_by_date(schedule.upcoming),
        conflicts=_pop_conflicts(doctor), scope=_scope(doctor), focus=focus,
        weekday_names=WEEKDAY_NAMES), status


def _by_weekday(rows) -> list[tuple[str, list]]:
    days: list[tuple[str, list]] = [(name, []) for name in WEEKDAY_NAMES]
    for row in rows:
        days[row.weekday][1].append(row)
    return days


def _upcoming_by_date(rows) -> list[tuple[date, list[tuple[str, list]]]]:
    starts = sorted({row.effective_from for row in rows})
    return [(start, _by_weekday([r for r in rows if r.effective_from == start]))
            for start in starts]


@bp.route("/hours", methods=["GET", "POST"])
@schedule_keeper
def weekly_hours():
    """Set the weekly hours from a date on; "Add a range" and "Remove" re-render the form.

    With HTMX, "Add a range" returns one more row and "Remove" an empty body (the row goes).
    Saving flashes a summary and lists booked slots now outside the hours; errors are shown
    on the field at fault, with status 422.
    """
    doctor = _doctor_in_scope()
    if request.method == "GET":
        form = WeeklyHoursForm(formdata=None, effective_from=service.local_today(doctor))
        _fill_from_schedule(form, service.get_schedule(doctor).weekly, doctor)
        return _hours_page(form.for_doctor(doctor), doctor)

    form = WeeklyHoursForm().for_doctor(doctor)
    htmx = getattr(request, "htmx", False)
    if "add_range" in request.form:
        day_key = request.form["add_range"]
        if day_key not in DAY_KEYS:
            abort(400)
        rows = getattr(form, day_key)
        if rows.max_entries and len(rows.entries) >= rows.max_entries:
            message = f"A day can have at most {rows.max_entries} ranges."
            if htmx:
                return render_template("errors/_error.html", status=422, title="Too many ranges",
                                       message=message), 422, {"HX-Retarget": "#messages",
                                                               "HX-Reswap": "innerHTML"}
            form.form_errors.append(message)
            return _hours_page(form, doctor, 422)
        rows.append_entry(range_defaults(doctor))
        new = rows.entries[-1]
        prepare_range(new.form, doctor)
        if htmx:
            return render_template("availability/_range_row.html", row=new,
                                   day_name=WEEKDAY_NAMES[DAY_KEYS.index(day_key)],
                                   number=len(rows.entries), focus=new.form.start.id,
                                   scope=_scope(doctor))
        return _hours_page(form, doctor, focus=new.form.start.id)
    if "remove_range" in request.form:
        name = request.form["remove_range"]
        for _, _, rows in form.days():
            rows.entries = [entry for entry in rows.entries if entry.name != name]
        if htmx:
            return ""
        return _hours_page(form, doctor)

    if form.validate():
        ranges, rows = _ranges_from(form)
        try:
            report = service.set_weekly_schedule(doctor, ranges, form.effective_from.data)
        except ScheduleError as exc:
            _schedule_error_on(form, exc, rows, doctor)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            start = form.effective_from.data
            flash(f"Weekly hours saved, in force from {long_date(start)}: {report.created} "
                  f"slot{'' if report.created == 1 else 's'} added, {report.removed} removed.",
                  "success")
            _remember_conflicts(doctor, report)
            return redirect(url_for(".weekly_hours", **_scope(doctor)))
    return _hours_page(form, doctor, 422)


# --- booked slots a change left outside the schedule --------------------------------------------


def _remember_conflicts(doctor: Doctor, report: service.RegenerationReport) -> None:
    """Keep the slots a change left outside the hours for the page shown after the redirect."""
    if report.conflicts:
        session[CONFLICTS_KEY] = {
            "doctor": str(doctor.id), "total": len(report.conflicts),
            "slots": [str(s.id) for s in report.conflicts[:MAX_CONFLICTS_SHOWN]]}


def _pop_conflicts(doctor: Doctor) -> dict | None:
    saved = session.get(CONFLICTS_KEY)
    if not saved or saved.get("doctor") != str(doctor.id):
        return None
    session.pop(CONFLICTS_KEY)
    slots = service.occupied_slots(
        doctor, [slot_id for slot_id in map(_parse_uuid, saved["slots"]) if slot_id])
    zone = get_zone(doctor.timezone)
    return {"total": saved["total"], "slots": [
        {"id": s.id, "status": STATE_LABELS[s.status.lower()],
         "when": f"{long_date(s.start_at.astimezone(zone).date())}, "
                 f"{s.start_at.astimezone(zone):%H:%M}–{s.end_at.astimezone(zone):%H:%M}",
         "type": ConsultationType(s.consultation_type).label} for s in slots]}


# --- overrides: days off and custom hours ----------------------------------------------------


def _override_rows(doctor: Doctor) -> list[AvailabilityOverride]:
    return service.get_schedule(doctor).overrides


def _override_error_on(form, exc: ScheduleError, mapping: dict[str, str] | None = None) -> None:
    name = (mapping or {}).get(exc.field, exc.field)
    target = getattr(form, name, None)
    if target is not None and hasattr(target, "errors") and name != "kind":
        target.errors = [*target.errors, exc.message]
    else:
        form.form_errors.append(exc.message)


@bp.route("/overrides", methods=["GET", "POST"])
@schedule_keeper
def overrides():
    """Upcoming days off and custom hours, and the two forms that add them."""
    doctor = _doctor_in_scope()
    today = service.local_today(doctor)
    submitted = None
    if request.method == "POST":
        submitted = {"OFF": "off", "CUSTOM": "custom"}.get(
            request.form.get("off-kind") or request.form.get("custom-kind") or "")
        if submitted is None:
            abort(400)
    off_form = DaysOffForm(prefix="off", formdata=request.form if submitted == "off" else None,
                           start_date=today)
    custom_form = CustomHoursForm(
        prefix="custom", formdata=request.form if submitted == "custom" else None,
        start_date=today, slot_minutes=doctor.slot_minutes, buffer_minutes=0,
    ).for_doctor(doctor)

    if submitted == "off" and off_form.validate():
        first = off_form.start_date.data
        last = off_form.end_date.data or first
        try:
            service.add_override(doctor, service.OverrideInput(
                start_date=first, end_date=last, kind=OverrideKind.OFF.value,
                reason=off_form.reason.data or ""))
        except ScheduleError as exc:
            _override_error_on(off_form, exc)
        else:
            span = long_date(first) if last == first else \
                f"{long_date(first)} to {long_date(last)}"
            flash(f"Days off added: {span}.", "success")
            return redirect(url_for(".overrides", **_scope(doctor)))
    elif submitted == "custom" and custom_form.validate():
        data = custom_form
        try:
            report = service.add_override(doctor, service.OverrideInput(
                start_date=data.start_date.data, end_date=data.start_date.data,
                kind=OverrideKind.CUSTOM.value, reason=data.reason.data or "",
                start=data.start.data, end=data.end.data,
                consultation_type=data.consultation_type.data,
                slot_minutes=data.slot_minutes.data,
                buffer_minutes=data.buffer_minutes.data or 0))[1]
        except ScheduleError as exc:
            _override_error_on(custom_form, exc, CUSTOM_FIELDS)
        else:
            flash(f"Custom hours added for {long_date(data.start_date.data)}: "
                  f"{data.start.data:%H:%M}–{data.end.data:%H:%M}.", "success")
            _remember_conflicts(doctor, report)
            return redirect(url_for(".overrides", **_scope(doctor)))

    status = 422 if submitted else 200
    return render_template(
        "availability/overrides.html", doctor=doctor, off_form=off_form,
        custom_form=custom_form, overrides=_override_rows(doctor),
        conflicts=_pop_conflicts(doctor), scope=_scope(doctor), long_date=long_date), status


@bp.post("/overrides/<uuid:override_id>/delete")
@schedule_keeper
def delete_override(override_id: uuid.UUID):
    """Remove a day off or custom hours; the weekly hours apply again on those dates."""
    _, doctor = service.get_override(current_user, override_id)
    service.remove_override(doctor, override_id)
    message = "Removed. Your weekly hours apply on those dates again."
    if getattr(request, "htmx", False):
        return render_page("availability/overrides.html", block="override_list", doctor=doctor,
                           overrides=_override_rows(doctor), scope=_scope(doctor),
                           long_date=long_date, notice=message)
    flash(message, "success")
    return redirect(url_for(".overrides", **_scope(doctor)))
