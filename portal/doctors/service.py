"""Doctor profiles: the directory search, and creating and deactivating doctor accounts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select

from portal.auth.models import Role, User
from portal.auth.service import Registration, add_user, build_user, find_user_by_email
from portal.doctors.models import Doctor
from portal.exceptions import NotFound, ValidationFailed
from portal.extensions import db
from portal.pagination import Page, paginate
from portal.transactions import write
from portal.validation import check_timezone

MAX_FEE_PAISE = 10_000_000  # ₹1,00,000: anything above is a typo, not a fee


@dataclass(frozen=True)
class DoctorProfile:
    specialty: str
    timezone: str
    fee_video_paise: int | None = None
    fee_in_person_paise: int | None = None
    qualifications: str = ""
    languages: str = "English"
    bio: str = ""
    slot_minutes: int = 30
    extra: dict = field(default_factory=dict)


def search_doctors(specialty: str | None = None, query: str | None = None, page: int = 1,
                   per_page: int = 12, include_inactive: bool = False) -> Page[Doctor]:
    """Active doctors, optionally of one specialty and matching a name or specialty search."""
    stmt = select(Doctor).join(Doctor.user)
    if not include_inactive:
        stmt = stmt.where(Doctor.active.is_(True), User.active.is_(True))
    if specialty:
        stmt = stmt.where(func.lower(Doctor.specialty) == specialty.strip().lower())
    if query and query.strip():
        # Escape LIKE wildcards so a search for "50%" means the characters, not a pattern.
        term = query.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{term}%"
        stmt = stmt.where(or_(func.lower(User.name).like(pattern, escape="\\"),
                              func.lower(Doctor.specialty).like(pattern, escape="\\")))
    stmt = stmt.order_by(User.name, Doctor.id)
    return paginate(stmt, page, per_page)


def specialties() -> list[str]:
    """The specialties of active doctors, for the directory filter."""
    stmt = (select(Doctor.specialty).join(Doctor.user)
            .where(Doctor.active.is_(True), User.active.is_(True))
            .distinct().order_by(Doctor.specialty))
    return list(db.session.scalars(stmt))


def get_doctor(doctor_id: uuid.UUID, include_inactive: bool = False) -> Doctor:
    doctor = db.session.get(Doctor, doctor_id)
    if doctor is None or (not include_inactive and not (doctor.active and doctor.user.active)):
        raise NotFound("No such doctor.")
    return doctor


def doctor_for_user(user: User) -> Doctor | None:
    return db.session.scalar(select(Doctor).where(Doctor.user_id == user.id))


def doctor_to_manage(user: User, doctor_id: uuid.UUID | None) -> Doctor:
    """The doctor whose schedule and appointments `user` may manage: their own, or any
    doctor for an admin (who must name one).

    A doctor naming another doctor gets NotFound, like a missing one, so ids cannot be probed.
    """
    if user.role == Role.ADMIN:
        if doctor_id is None:
            raise ValidationFailed({"doctor_id": "Name the doctor whose schedule to change."})
        return get_doctor(doctor_id, include_inactive=True)
    own = doctor_for_user(user) if user.role == Role.DOCTOR else None
    if own is None or (doctor_id is not None and doctor_id != own.id):
        raise NotFound("No such doctor.")
    return own


def validate_profile(profile: DoctorProfile) -> DoctorProfile:
    errors: dict[str, str] = {}
    if not profile.specialty.strip():
        errors["specialty"] = "Enter the specialty."
    elif len(profile.specialty) > 80:
        errors["specialty"] = "Use at most 80 characters."
    try:
        check_timezone(profile.timezone)
    except ValueError as exc:
        errors["timezone"] = str(exc)
    for name in ("fee_video_paise", "fee_in_person_paise"):
        fee = getattr(profile, name)
        if fee is not None and not 0 <= fee <= MAX_FEE_PAISE:
            errors[name] = f"A fee must be between 0 and {MAX_FEE_PAISE} paise."
    if profile.fee_video_paise is None and profile.fee_in_person_paise is None:
        errors["fee_video_paise"] = "Offer at least one consultation type by giving its fee."
    if not 5 <= profile.slot_minutes <= 240:
        errors["slot_minutes"] = "A slot lasts between 5 and 240 minutes."
    for name, limit in (("qualifications", 200), ("languages", 200), ("bio", 5000)):
        if len(getattr(profile, name)) > limit:
            errors[name] = f"Use at most {limit} characters."
    if errors:
        raise ValidationFailed(errors)
    return profile


def create_doctor(account: Registration, profile: DoctorProfile) -> Doctor:
    """Create a doctor's user account and profile in one transaction."""
    errors: dict[str, str] = {}
    try:
        validate_profile(profile)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    try:
        user = build_user(account, Role.DOCTOR)
    except ValidationFailed as exc:
        errors = {**exc.errors, **errors}
    if errors:
        raise ValidationFailed(errors)
    doctor = Doctor(
        user=user,
        specialty=profile.specialty.strip(),
        qualifications=profile.qualifications.strip(),
        languages=profile.languages.strip() or "English",
        bio=profile.bio.strip(),
        fee_video_paise=profile.fee_video_paise,
        fee_in_person_paise=profile.fee_in_person_paise,
        timezone=profile.timezone,
        slot_minutes=profile.slot_minutes,
    )
    with write():
        add_user(user)
        db.session.add(doctor)
    return doctor


def set_doctor_active(doctor: Doctor, active: bool) -> Doctor:
    """Deactivating hides the doctor from the directory and stops their logins."""
    with write():
        doctor.active = active
        doctor.user.active = active
        if not active:
            doctor.user.session_version += 1
    return doctor


def doctor_by_email(email: str) -> Doctor:
    user = find_user_by_email(email)
    doctor = doctor_for_user(user) if user else None
    if doctor is None:
        raise NotFound(f"No doctor with the email {email}.", "email")
    return doctor
