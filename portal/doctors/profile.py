"""Editing a doctor's profile, by the doctor or an admin, and keeping their slots in step.

Profile text (name, specialty, qualifications, bio, languages) changes nothing else. Practice
settings do:
- a fee applies to holds made after the change: a hold or an appointment keeps the fee it
  was shown (`Appointment.fee_paise`, fixed when the slot was held);
- dropping a consultation type ends its weekly hours and custom hours from today and withdraws
  its free slots; held and booked ones stay and are reported for the doctor to act on;
- a new time zone keeps every held and booked appointment at its instant, regenerates the free
  slots from the weekly hours (local wall times) in the new zone, and reports the held and
  booked slots that now fall outside the hours;
- a new booking window or notice period regenerates the free slots.
All of it is one unit of work: the profile and its slots change together or not at all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update

from portal.auth.models import User
from portal.availability import service as availability
from portal.availability.models import (
    AvailabilityOverride,
    AvailableSlot,
    OverrideKind,
    WeeklyAvailability,
)
from portal.availability.slots import MAX_WINDOW_DAYS
from portal.clock import utcnow
from portal.doctors.models import ConsultationType, Doctor
from portal.doctors.service import MAX_FEE_PAISE, doctor_to_manage
from portal.exceptions import ValidationFailed
from portal.extensions import db
from portal.transactions import write
from portal.validation import check_timezone

MAX_NOTICE_MINUTES = availability.MAX_NOTICE_MINUTES


@dataclass(frozen=True)
class ProfileChanges:
    """What to change; a field left as None keeps its value. Fees: `offers_video=False`
    withdraws video consultations (and ignores `fee_video_paise`)."""

    name: str | None = None
    specialty: str | None = None
    qualifications: str | None = None
    bio: str | None = None
    languages: str | None = None
    offers_video: bool | None = None
    fee_video_paise: int | None = None
    offers_in_person: bool | None = None
    fee_in_person_paise: int | None = None
    slot_minutes: int | None = None
    buffer_minutes: int | None = None
    booking_window_days: int | None = None
    min_notice_minutes: int | None = None
    timezone: str | None = None

    def given(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}


@dataclass
class ProfileUpdate:
    """What a change did: the doctor, free slots withdrawn or added, and the held or booked
    slots that the new settings leave outside the hours (the doctor decides about those)."""

    doctor: Doctor
    changed: list[str] = field(default_factory=list)
    created: int = 0
    removed: int = 0
    dropped_types: list[ConsultationType] = field(default_factory=list)
    conflicts: list[AvailableSlot] = field(default_factory=list)


def validate(doctor: Doctor, changes: ProfileChanges) -> dict[str, object]:
    """The new values, checked all at once (every field at fault named), as column -> value."""
    errors: dict[str, str] = {}
    new: dict[str, object] = {}
    for name, limit, required in (("name", 120, True), ("specialty", 80, True),
                                  ("qualifications", 200, False), ("languages", 200, False),
                                  ("bio", 5000, False)):
        value = getattr(changes, name)
        if value is None:
            continue
        value = value.strip()
        if required and not value:
            errors[name] = f"Enter the {name}."
        elif len(value) > limit:
            errors[name] = f"Use at most {limit} characters."
        else:
            new[name] = value or ("English" if name == "languages" else "")
    for kind, offers, fee_name in (("video", changes.offers_video, "fee_video_paise"),
                                   ("in-person", changes.offers_in_person,
                                    "fee_in_person_paise")):
        fee = getattr(changes, fee_name)
        if offers is False:
            new[fee_name] = None
        elif fee is not None:
            if not 0 <= fee <= MAX_FEE_PAISE:
                errors[fee_name] = f"A fee must be between 0 and {MAX_FEE_PAISE} paise."
            else:
                new[fee_name] = fee
        elif offers and getattr(doctor, fee_name) is None:
            errors[fee_name] = f"Give the fee for {kind} consultations."
    video = new.get("fee_video_paise", doctor.fee_video_paise)
    in_person = new.get("fee_in_person_paise", doctor.fee_in_person_paise)
    if video is None and in_person is None and "fee_video_paise" not in errors:
        errors["fee_video_paise"] = "Offer at least one kind of consultation."
    checks = (("slot_minutes", 5, 240, "A slot lasts between 5 and 240 minutes."),
              ("buffer_minutes", 0, 120, "The rest between slots is 0 to 120 minutes."),
              ("booking_window_days", 1, MAX_WINDOW_DAYS,
               f"Patients can book between 1 and {MAX_WINDOW_DAYS} days ahead."),
              ("min_notice_minutes", 0, MAX_NOTICE_MINUTES,
               "The notice period must be between 0 minutes and 14 days."))
    for name, low, high, message in checks:
        value = getattr(changes, name)
        if value is None:
            continue
        if not low <= value <= high:
            errors[name] = message
        else:
            new[name] = value
    if changes.timezone is not None:
        try:
            check_timezone(changes.timezone)
        except ValueError as exc:
            errors["timezone"] = str(exc)
        else:
            new["timezone"] = changes.timezone
    if errors:
        raise ValidationFailed(errors)
    return new


def update_profile(user: User, doctor_id: uuid.UUID, changes: ProfileChanges,
                   now: datetime | None = None) -> ProfileUpdate:
    """Change a doctor's profile (the doctor themself, or an admin); see the module doc."""
    now = now or utcnow()
    doctor = doctor_to_manage(user, doctor_id)
    new = validate(doctor, changes)
    with write():
        doctor = db.session.scalar(select(Doctor).where(Doctor.id == doctor.id)
                                   .with_for_update(of=Doctor)
                                   .execution_options(populate_existing=True))
        changed = [name for name, value in new.items()
                   if (doctor.user.name if name == "name" else getattr(doctor, name)) != value]
        before = set(doctor.consultation_types)
        for name in changed:
            if name == "name":
                doctor.user.name = new[name]
            else:
                setattr(doctor, name, new[name])
        result = ProfileUpdate(doctor, changed)
        result.dropped_types = sorted(before - set(doctor.consultation_types))
        for kind in result.dropped_types:
            _end_hours_of(doctor, kind, now)
        if result.dropped_types or {"timezone", "booking_window_days",
                                    "min_notice_minutes"} & set(changed):
            report = availability.regenerate_doctor(doctor, now)
            result.created, result.removed = report.created, report.removed
            result.conflicts = report.conflicts
            if result.dropped_types:
                result.removed += _withdraw_free(doctor, result.dropped_types, now)
    return result


def _end_hours_of(doctor: Doctor, kind: ConsultationType, now: datetime) -> None:
    """Weekly and custom hours of a type no longer offered end before today."""
    today = availability.local_today(doctor, now)
    db.session.execute(delete(WeeklyAvailability).where(
        WeeklyAvailability.doctor_id == doctor.id,
        WeeklyAvailability.consultation_type == kind.value,
        WeeklyAvailability.effective_from >= today))
    db.session.execute(update(WeeklyAvailability).where(
        WeeklyAvailability.doctor_id == doctor.id,
        WeeklyAvailability.consultation_type == kind.value,
        or_(WeeklyAvailability.effective_to.is_(None),
            WeeklyAvailability.effective_to >= today))
        .values(effective_to=today - timedelta(days=1)))
    db.session.execute(delete(AvailabilityOverride).where(
        AvailabilityOverride.doctor_id == doctor.id,
        AvailabilityOverride.kind == OverrideKind.CUSTOM.value,
        AvailabilityOverride.consultation_type == kind.value,
        AvailabilityOverride.start_date >= today))


def _withdraw_free(doctor: Doctor, kinds: list[ConsultationType], now: datetime) -> int:
    """Open slots of a withdrawn type that regeneration kept (today's, inside the notice)."""
    return db.session.execute(delete(AvailableSlot).where(
        AvailableSlot.doctor_id == doctor.id,
        AvailableSlot.consultation_type.in_([k.value for k in kinds]),
        AvailableSlot.start_at > now, AvailableSlot.open_at(now))).rowcount or 0
