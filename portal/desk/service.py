"""Front-desk rules: finding patients, booking for them, new people at the counter, inviting
staff, and the day board's data. Booking goes through the same services as online booking,
so the same policy, hold and double-booking rules apply.

A person the desk registers (on the phone, or walking in) gets an account without a password
and an invitation (SMS, and email when there is an address) to claim it; until they give one,
the account's email is a placeholder under PLACEHOLDER_DOMAIN that nothing is ever sent to.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select

from portal.appointments import service as appointments
from portal.appointments.models import Appointment, AppointmentStatus
from portal.auth import service as auth
from portal.auth.models import User
from portal.availability.models import AvailableSlot, BlockedSlot
from portal.clock import utcnow
from portal.doctors.models import Doctor
from portal.events import APPOINTMENT_EVENTS, record_event
from portal.exceptions import NotFound, ValidationFailed
from portal.extensions import db
from portal.pagination import Page, paginate
from portal.privacy import access
from portal.privacy.models import AccessKind
from portal.queue import service as queue
from portal.queue.models import QueueToken
from portal.roles import Role
from portal.transactions import write
from portal.validation import normalise_email, normalise_phone

DESK_ROLES = (Role.STAFF, Role.ADMIN)
PLACEHOLDER_DOMAIN = "unclaimed.invalid"  # RFC 2606: can never be a real mailbox
MIN_SEARCH = 3


def is_placeholder_email(email: str) -> bool:
    return email.endswith("@" + PLACEHOLDER_DOMAIN)


def _desk_only(user: User) -> None:
    if user.role not in DESK_ROLES:
        raise NotFound("Not found.")


# --- finding patients ------------------------------------------------------------------------


def search_patients(user: User, q: str, page: int = 1, per_page: int = 20) -> Page[User]:
    """Patients whose name, phone or email contains `q` (at least 3 characters)."""
    _desk_only(user)
    term = (q or "").strip()
    if len(term) < MIN_SEARCH:
        raise ValidationFailed({"q": f"Type at least {MIN_SEARCH} characters of a name, phone "
                                     "number or email."})
    if len(term) > 100:
        raise ValidationFailed({"q": "Use at most 100 characters."})
    escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    digits = "".join(ch for ch in term if ch.isdigit())
    matches = [func.lower(User.name).like(pattern, escape="\\"),
               func.lower(User.email).like(pattern, escape="\\")]
    if len(digits) >= MIN_SEARCH:
        matches.append(User.phone.like(f"%{digits}%"))
    stmt = (select(User).where(User.role == Role.PATIENT, User.active.is_(True), or_(*matches))
            .order_by(User.name, User.id))
    found = paginate(stmt, page, per_page)
    access.note_many(user, ((p.id, AccessKind.PROFILE, p.id) for p in found.items))
    return found


def get_patient(user: User, patient_id: uuid.UUID) -> User:
    _desk_only(user)
    patient = db.session.get(User, patient_id)
    if patient is None or patient.role != Role.PATIENT or not patient.active:
        raise NotFound("No such patient.", "patient_id")
    access.note(user, patient.id, AccessKind.PROFILE, patient.id)
    return patient


# --- new people at the counter ---------------------------------------------------------------


@dataclass(frozen=True)
class NewPerson:
    name: str
    phone: str
    email: str = ""
    timezone: str = "Asia/Kolkata"


def register_person(user: User, person: NewPerson) -> User:
    """An account without a password for someone the desk registers, with an invitation to
    claim it (the ACCOUNT_INVITED event: SMS, and email when given). A phone number that
    already has an account returns that account instead."""
    _desk_only(user)
    errors: dict[str, str] = {}
    name = person.name.strip()
    if not name or len(name) > 120:
        errors["name"] = "Enter the person's name (at most 120 characters)."
    phone = email = ""
    try:
        phone = normalise_phone(person.phone)
    except ValueError as exc:
        errors["phone"] = str(exc)
    if person.email.strip():
        try:
            email = normalise_email(person.email)
        except ValueError as exc:
            errors["email"] = str(exc)
    if errors:
        raise ValidationFailed(errors)
    existing = db.session.scalar(select(User).where(User.phone == phone,
                                                    User.role == Role.PATIENT))
    if existing is not None:
        return existing
    if email and auth.find_user_by_email(email) is not None:
        raise ValidationFailed({"email": "Someone already has an account with this email; "
                                         "search for them instead."})
    patient = User(name=name, phone=phone, timezone=person.timezone, role=Role.PATIENT,
                   email=email or f"{uuid.uuid4().hex}@{PLACEHOLDER_DOMAIN}",
                   # No password: argon2 cannot verify this, so nobody can log in until the
                   # invitation sets one.
                   password_hash=f"!unclaimed-{secrets.token_hex(16)}")
    with write():
        auth.add_user(patient)
        record_event(APPOINTMENT_EVENTS, "ACCOUNT_INVITED", patient.id, {
            "user_id": str(patient.id), "invited_by": str(user.id)})
    return patient


def invite_staff(admin: User, name: str, email: str) -> User:
    """An admin invites a receptionist: a staff account without a password, and an email
    with a link to set one."""
    if admin.role != Role.ADMIN:
        raise NotFound("Not found.")
    errors: dict[str, str] = {}
    name = name.strip()
    if not name or len(name) > 120:
        errors["name"] = "Enter their name (at most 120 characters)."
    clean = ""
    try:
        clean = normalise_email(email)
    except ValueError as exc:
        errors["email"] = str(exc)
    if clean and auth.find_user_by_email(clean) is not None:
        errors["email"] = auth.EMAIL_TAKEN
    if errors:
        raise ValidationFailed(errors)
    staff = User(name=name, email=clean, role=Role.STAFF, timezone=admin.timezone,
                 password_hash=f"!unclaimed-{secrets.token_hex(16)}")
    with write():
        auth.add_user(staff)
        record_event(APPOINTMENT_EVENTS, "ACCOUNT_INVITED", staff.id, {
            "user_id": str(staff.id), "invited_by": str(admin.id)})
    return staff


def list_staff(admin: User, page: int = 1, per_page: int = 50) -> Page[User]:
    """The clinic's receptionists (staff accounts), by name: for the admin's staff page."""
    if admin.role != Role.ADMIN:
        raise NotFound("Not found.")
    return paginate(select(User).where(User.role == Role.STAFF).order_by(User.name, User.id),
                    page, per_page)


def is_claimed(user: User) -> bool:
    """Whether the person has set a password (an invited account has none until then)."""
    return not user.password_hash.startswith("!unclaimed")


# --- booking for a patient -------------------------------------------------------------------


def book_for(user: User, patient: User, slot_id: uuid.UUID, *, reason: str = "",
             for_dependent_id: uuid.UUID | None = None,
             idempotency_key: str | None = None) -> Appointment:
    """Hold a slot for a patient, as the desk: the same rules as the patient's own booking
    (the hold, its limit, the notice period, the database's double-booking guard)."""
    _desk_only(user)
    return appointments.reserve(patient, slot_id, reason=reason, actor=user,
                                for_dependent_id=for_dependent_id,
                                idempotency_key=idempotency_key)


def slot_for_booking(user: User, slot_id: uuid.UUID) -> tuple[AvailableSlot, Doctor]:
    """A slot the desk is about to book (any doctor's) and its doctor, for the booking page's
    summary; whether it is still free is the booking's business."""
    _desk_only(user)
    slot = db.session.get(AvailableSlot, slot_id)
    if slot is None:
        raise NotFound("No such slot.", "slot_id")
    return slot, db.session.get(Doctor, slot.doctor_id)


def walk_in(user: User, doctor_id: uuid.UUID, person: NewPerson,
            now: datetime | None = None) -> QueueToken:
    """Someone at the counter without a booking joins the doctor's queue today."""
    patient = register_person(user, person)
    return queue.add_walk_in(user, doctor_id, person.name, patient, now)


# --- the day board ---------------------------------------------------------------------------


@dataclass
class BoardEntry:
    """One line of a doctor's day: a slot (free, held, booked…), a block, or a walk-in.
    `token` is the walk-in's, or the queue token of a checked-in appointment."""

    start: datetime  # in the doctor's zone
    end: datetime | None
    state: str  # free, held, booked, arrived, with-doctor, done, no-show, blocked, walk-in
    label: str
    appointment: Appointment | None = None
    token: QueueToken | None = None
    slot_id: uuid.UUID | None = None  # a slot's entry: what "Book" books


@dataclass
class BoardColumn:
    doctor: Doctor
    entries: list[BoardEntry] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


STATE_OF = {AppointmentStatus.RESERVED: "held", AppointmentStatus.CONFIRMED: "booked",
            AppointmentStatus.ARRIVED: "arrived",
            AppointmentStatus.IN_CONSULTATION: "with-doctor",
            AppointmentStatus.COMPLETED: "done", AppointmentStatus.NO_SHOW: "no-show"}
LABELS = {"free": "Free", "held": "Held", "booked": "Booked", "arrived": "Checked in",
          "with-doctor": "With the doctor", "done": "Done", "no-show": "No-show",
          "blocked": "Blocked", "walk-in": "Walk-in"}


def day_board(user: User, day: date, tz: str, now: datetime | None = None
              ) -> list[BoardColumn]:
    """Every doctor on duty on `day` (in zone `tz`): their slots, appointments, blocks and
    walk-ins, in time order."""
    _desk_only(user)
    now = now or utcnow()
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = start + timedelta(days=1)
    slots = list(db.session.scalars(select(AvailableSlot).where(
        AvailableSlot.start_at >= start, AvailableSlot.start_at < end)
        .order_by(AvailableSlot.start_at)))
    booked = list(db.session.scalars(select(Appointment).where(
        Appointment.start_at >= start, Appointment.start_at < end,
        Appointment.status.in_(list(STATE_OF)))))
    blocks = list(db.session.scalars(select(BlockedSlot).where(
        BlockedSlot.start_at < end, BlockedSlot.end_at > start)))
    walk_ins = list(db.session.scalars(select(QueueToken).where(
        QueueToken.day == day, QueueToken.appointment_id.is_(None))))
    # The token of each checked-in appointment, for the board's "Token 7".
    token_of = {t.appointment_id: t for t in db.session.scalars(select(QueueToken).where(
        QueueToken.appointment_id.in_([a.id for a in booked])))} if booked else {}
    doctor_ids = {s.doctor_id for s in slots} | {a.doctor_id for a in booked} | \
        {t.doctor_id for t in walk_ins}
    doctors = list(db.session.scalars(select(Doctor).where(Doctor.id.in_(doctor_ids))
                                      .join(Doctor.user).order_by(User.name))) \
        if doctor_ids else []
    by_slot = {a.slot_id: a for a in booked}
    columns = []
    for doctor in doctors:
        column = BoardColumn(doctor)
        for slot in (s for s in slots if s.doctor_id == doctor.id):
            appointment = by_slot.get(slot.id)
            if appointment is not None and not (
                    appointment.status == AppointmentStatus.RESERVED
                    and appointment.reserved_until <= now):
                state = STATE_OF[appointment.status]
            else:
                state = "free" if slot.is_free(now) else "held"
                appointment = None
            column.entries.append(BoardEntry(
                slot.start_at.astimezone(zone), slot.end_at.astimezone(zone), state,
                LABELS[state], appointment,
                token_of.get(appointment.id) if appointment is not None else None, slot.id))
        for block in (b for b in blocks if b.doctor_id == doctor.id):
            column.entries.append(BoardEntry(max(block.start_at, start).astimezone(zone),
                                             min(block.end_at, end).astimezone(zone), "blocked",
                                             block.reason or LABELS["blocked"]))
        for token in (t for t in walk_ins if t.doctor_id == doctor.id):
            column.entries.append(BoardEntry(token.arrived_at.astimezone(zone), None,
                                             "walk-in", f"Token {token.number}", token=token))
        column.entries.sort(key=lambda e: e.start)
        access.note_many(user, ((e.appointment.patient_id, AccessKind.APPOINTMENT,
                                 e.appointment.id) for e in column.entries if e.appointment))
        for entry in column.entries:
            column.counts[entry.state] = column.counts.get(entry.state, 0) + 1
        columns.append(column)
    return columns


def doctor_day(user: User, doctor_id: uuid.UUID, day: date, tz: str,
               now: datetime | None = None) -> BoardColumn:
    """One doctor's column of the day board (empty when they are not on duty that day), for
    the printed day list."""
    _desk_only(user)
    column = next((c for c in day_board(user, day, tz, now) if c.doctor.id == doctor_id), None)
    if column is None:
        doctor = db.session.get(Doctor, doctor_id)
        if doctor is None:
            raise NotFound("No such doctor.")
        column = BoardColumn(doctor)
    return column
