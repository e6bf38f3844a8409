"""Builders for test data, going through the same services the portal uses.

Every builder takes keyword overrides and defaults the rest, so a test names only what it
depends on: `create_doctor(fee_in_person_paise=0)` is "a doctor whose in-person consultations
are free", with the usual weekly hours and slots. Tests get this module as the `factory`
fixture (it opens an app context); code that runs in a context of its own imports it.

Rows are made through the public service functions (`portal.auth.service`,
`portal.doctors.service`, `portal.availability.service`, `portal.appointments.service`,
`portal.payments.service`), so every rule those enforce holds for test data too; nothing here
inserts rows behind their back.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta

from portal.appointments import service as appointments
from portal.appointments.models import Appointment
from portal.auth import service as auth
from portal.auth.models import Role, User
from portal.availability import service as availability
from portal.availability.models import AvailableSlot
from portal.clock import utcnow
from portal.doctors import service as doctors
from portal.doctors.models import Doctor
from portal.extensions import db
from portal.notifications import preferences as notifications
from portal.notifications.models import NotificationType
from portal.payments import service as payments
from portal.payments.models import PaymentTransaction
from portal.privacy import consents
from portal.privacy.models import ConsentKind
from portal.transactions import write

PASSWORD = "correct-horse-9"

# Days of the week as the schedule stores them (date.weekday()).
MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY = range(7)
WEEKDAYS = (MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY)
EVERY_DAY = (*WEEKDAYS, SATURDAY, SUNDAY)

# The Mondays the suite freezes the clock on.
# Monday 7 December 2026, 06:00 in Asia/Kolkata (00:30 UTC): before the clinic opens at 09:00,
# more than the default two hours' notice ahead.
MONDAY_MORNING = datetime(2026, 12, 7, 0, 30, tzinfo=UTC)
# Monday 6 January 2025, and its first instant in UTC (05:30 in Asia/Kolkata): the calendar's.
JAN_6_2025 = date(2025, 1, 6)
JAN_6_2025_START = datetime(2025, 1, 6, 0, 0, tzinfo=UTC)

_numbers = itertools.count(1)


def _unique() -> int:
    return next(_numbers)


# --- people ------------------------------------------------------------------------------------


def create_user(role: Role = Role.PATIENT, *, name: str | None = None, email: str | None = None,
                timezone: str = "Asia/Kolkata", password: str = PASSWORD) -> User:
    """A user with `role`, committed; name and email are unique unless given, phone always."""
    n = _unique()
    return auth.create_user(auth.Registration(
        name=name or f"Test {role.value.title()} {n}",
        email=email or f"{role.value}{n}@example.com",
        phone=f"+9198{n:08d}", timezone=timezone, password=password), role)


def create_patient(*, sms: bool = True, marketing: bool = False, **overrides) -> User:
    """A patient (overrides as `create_user`); `sms=False` switches every SMS off, so nothing
    goes to the Twilio stand-in; `marketing=True` opts in to news and offers (announcements)."""
    patient = create_user(Role.PATIENT, **overrides)
    if marketing:
        consents.grant(patient, ConsentKind.MARKETING)
    if not sms:
        notifications.update_preferences(patient, channels_={
            "SMS": {kind.value: False for kind in NotificationType}})
    return patient


def create_admin(**overrides) -> User:
    """An admin (overrides as `create_user`)."""
    return create_user(Role.ADMIN, **overrides)


# --- doctors and their hours -------------------------------------------------------------------


def _clock_time(value: str | time) -> time:
    return value if isinstance(value, time) else time.fromisoformat(value)


def weekly_hours(start: str | time, end: str | time, kind: str = "IN_PERSON", *,
                 minutes: int = 30, buffer: int = 0,
                 days: Iterable[int] = WEEKDAYS) -> list[availability.RangeInput]:
    """The same hours on each of `days`: `weekly_hours("09:00", "12:00", "VIDEO")`.

    Join several with `+`; pass the result to `create_doctor(hours=...)` or to
    `availability.set_weekly_schedule`.
    """
    return [availability.RangeInput(day, _clock_time(start), _clock_time(end), kind, minutes,
                                     buffer) for day in days]


def clinic_hours(doctor: Doctor) -> list[availability.RangeInput]:
    """The usual week: in-person 09:00-12:00 and video 17:00-19:00, Monday to Friday, in the
    doctor's slot length, for the consultation types the doctor offers."""
    hours = []
    if doctor.fee_in_person_paise is not None:
        hours += weekly_hours("09:00", "12:00", "IN_PERSON", minutes=doctor.slot_minutes)
    if doctor.fee_video_paise is not None:
        hours += weekly_hours("17:00", "19:00", "VIDEO", minutes=doctor.slot_minutes)
    return hours


def create_doctor(*, name: str | None = None, email: str | None = None,
                  specialty: str = "Cardiology", timezone: str = "Asia/Kolkata",
                  fee_video_paise: int | None = 50_000, fee_in_person_paise: int | None = 80_000,
                  slot_minutes: int = 30,
                  hours: Sequence[availability.RangeInput] | None = None,
                  effective_from: date | None = None, booking_window_days: int = 8,
                  min_notice_minutes: int | None = None, password: str = PASSWORD) -> Doctor:
    """A doctor (user and profile) with weekly hours and their slots generated, committed.

    The consultation types offered are the ones with a fee: a fee of None leaves the type out.
    `hours` defaults to `clinic_hours` (set from `effective_from`, default the doctor's today);
    `hours=()` makes a doctor with no hours and no slots. The booking window is 8 days (a
    short one keeps tests fast) and the notice period the portal's default, unless given.
    """
    n = _unique()
    doctor = doctors.create_doctor(
        auth.Registration(name=name or f"Dr. Test {n}", email=email or f"doctor{n}@example.com",
                          phone=f"+9197{n:08d}", timezone=timezone, password=password),
        doctors.DoctorProfile(specialty=specialty, timezone=timezone,
                              fee_video_paise=fee_video_paise,
                              fee_in_person_paise=fee_in_person_paise, slot_minutes=slot_minutes))
    with write():
        doctor.booking_window_days = booking_window_days
        if min_notice_minutes is not None:
            doctor.min_notice_minutes = min_notice_minutes
    if hours is None:
        hours = clinic_hours(doctor)
    if hours:
        availability.set_weekly_schedule(
            doctor, hours, effective_from or availability.local_today(doctor))
    return doctor


def free_slots(doctor: Doctor, kind: str | None = None, *,
               days: int | None = None) -> list[AvailableSlot]:
    """The doctor's bookable slots from now for `days` (default: the booking window), in
    order; only those of consultation type `kind` when it is given."""
    now = utcnow()
    found = availability.free_slots(doctor, now,
                                    now + timedelta(days=days or doctor.booking_window_days))
    return [slot for slot in found if kind is None or slot.consultation_type == kind]


def first_free_slot(doctor: Doctor, kind: str | None = None) -> AvailableSlot:
    """The doctor's earliest bookable slot (of type `kind`, when given)."""
    found = free_slots(doctor, kind)
    assert found, f"{doctor.name} has no free {kind or ''} slot in the booking window"
    return found[0]


# --- appointments and payments -----------------------------------------------------------------


def book(patient: User, slot: AvailableSlot | None = None, *, doctor: Doctor | None = None,
         kind: str | None = None, reason: str = "", confirm: bool = False, paid: bool = False,
         razorpay=None) -> Appointment:
    """A hold on `slot` (default: `doctor`'s first free one, of type `kind` when given), made
    through the booking service.

    `confirm=True` confirms it as the patient's "Confirm booking" does for a free consultation;
    `paid=True` pays for it through the Razorpay sandbox (`razorpay`, the fixture), which
    confirms it as the payment step does.
    """
    if slot is None:
        if doctor is None:
            raise TypeError("book() needs a slot or a doctor")
        slot = first_free_slot(doctor, kind)
    appointment = appointments.reserve(patient, slot.id, reason=reason)
    if paid:
        if razorpay is None:
            raise TypeError("book(paid=True) needs the razorpay sandbox")
        pay(patient, appointment, razorpay)
        db.session.refresh(appointment)
        return appointment
    if confirm:
        return appointments.confirm(appointment.id, actor_id=patient.id)
    return appointment


def pay(patient: User, appointment: Appointment, razorpay) -> PaymentTransaction:
    """Initiate, pay in the sandbox and verify: a captured payment and a confirmed booking."""
    payment = payments.initiate(patient, appointment.id)
    fields = razorpay.pay(payment.gateway_order_id)
    return payments.verify_checkout(payment.id, fields["razorpay_payment_id"],
                                    fields["razorpay_signature"])
