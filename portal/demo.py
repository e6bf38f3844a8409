"""Demo data for the embedded default: an admin, a patient and doctors in two time zones; with the
Razorpay stand-in, every demo doctor has an activated Route linked account (fake bank details)."""

from __future__ import annotations

import logging
from datetime import time

from flask import current_app

from portal.auth.models import Role
from portal.auth.service import Registration, create_user, find_user_by_email
from portal.availability.service import RangeInput, local_today, set_weekly_schedule
from portal.doctors.service import DoctorProfile, create_doctor, doctor_by_email
from portal.exceptions import DomainError
from portal.notifications.templates import seed_default_templates
from portal.payments import accounts

log = logging.getLogger(__name__)

DEMO_PASSWORD = "demo-password"  # noqa: S105 - documented demo accounts

DOCTORS = [
    ("Dr. Asha Mehta", "doctor@example.com", "+919820000001", "General Medicine", "Asia/Kolkata",
     50_000, 70_000, "MBBS, MD (Internal Medicine)", "English, Hindi, Gujarati"),
    ("Dr. Rohan Iyer", "rohan.iyer@example.com", "+919820000002", "Cardiology", "Asia/Kolkata",
     120_000, 150_000, "MBBS, DM (Cardiology)", "English, Tamil"),
    ("Dr. Priya Nair", "priya.nair@example.com", "+919820000003", "Dermatology", "Asia/Kolkata",
     80_000, None, "MBBS, MD (Dermatology)", "English, Malayalam"),
    ("Dr. Sarah Collins", "sarah.collins@example.com", "+447911123456", "Psychiatry",
     "Europe/London", 150_000, None, "MBBS, MRCPsych", "English"),
    ("Dr. James Patel", "james.patel@example.com", "+12126661234", "Pediatrics",
     "America/New_York", 90_000, 110_000, "MD, FAAP", "English, Hindi"),
    ("Dr. Kavya Rao", "kavya.rao@example.com", "+919820000006", "Gynecology", "Asia/Kolkata",
     0, 60_000, "MBBS, MS (Obstetrics and Gynaecology)", "English, Kannada, Telugu"),
    ("Dr. Arjun Singh", "arjun.singh@example.com", "+919820000007", "Orthopedics",
     "Asia/Kolkata", None, 90_000, "MBBS, MS (Orthopaedics)", "English, Hindi, Punjabi"),
]


def seed() -> list[tuple[str, str]]:
    """Create whatever demo account is missing; return (role, email) of all of them."""

    seed_default_templates()
    created = [("admin", "admin@example.com"), ("patient", "patient@example.com")]
    people = [("Clinic Admin", "admin@example.com", "+919820000100", Role.ADMIN),
              ("Pat Kumar", "patient@example.com", "+919820000101", Role.PATIENT)]
    for name, email, phone, role in people:
        if find_user_by_email(email) is None:
            create_user(Registration(name, email, phone, "Asia/Kolkata", DEMO_PASSWORD), role)
    for name, email, phone, specialty, zone, video, in_person, quals, langs in DOCTORS:
        created.append(("doctor", email))
        if find_user_by_email(email) is not None:
            continue
        doctor = create_doctor(
            Registration(name, email, phone, zone, DEMO_PASSWORD),
            DoctorProfile(specialty=specialty, timezone=zone, fee_video_paise=video,
                          fee_in_person_paise=in_person, qualifications=quals, languages=langs,
                          bio=f"{name.split(' ', 1)[1]} practises {specialty.lower()} and "
                              "sees patients by video and in person."))
        _demo_hours(doctor)
    _demo_payouts()
    return created


def _demo_hours(doctor) -> None:
    """Mornings in person (or by video), evenings by video, Monday to Saturday."""

    kinds = [kind.value for kind in doctor.consultation_types]
    morning = "IN_PERSON" if "IN_PERSON" in kinds else kinds[0]
    evening = "VIDEO" if "VIDEO" in kinds else kinds[0]
    ranges = []
    for weekday in range(6):
        ranges.append(RangeInput(weekday, time(9, 0), time(13, 0), morning, doctor.slot_minutes))
        if weekday < 5:
            ranges.append(RangeInput(weekday, time(17, 0), time(20, 0), evening,
                                     doctor.slot_minutes))
    set_weekly_schedule(doctor, ranges, local_today(doctor))


def _demo_payouts() -> None:
    """Onboard every demo doctor with Razorpay Route in the stand-in (never with real keys), so
    their share of demo payments is transferred. Idempotent; a stand-in that does not answer
    leaves them to be onboarded from the admin's Doctors page."""
    config = current_app.config
    if not (config["RAZORPAY_SANDBOX"] and config["RAZORPAY_BASE_URL"]):
        return
    for number, (name, email, phone, *_rest) in enumerate(DOCTORS, start=1):
        doctor = doctor_by_email(email)
        if accounts.active_account_for(doctor.id) is not None:
            continue
        legal_name = name.removeprefix("Dr. ")
        try:
            accounts.onboard(doctor, accounts.AccountDetails(
                legal_name=legal_name, contact_name=legal_name, email=email, phone=phone,
                account_number=f"5010000000{number:04d}", ifsc="HDFC0000317",
                beneficiary_name=legal_name, street="12 Hill Road, Bandra West",
                city="Mumbai", state="MAHARASHTRA", postal_code="400050"))
        except DomainError as exc:
            log.warning("demo doctor %s not onboarded with Razorpay Route: %s", email,
                        exc.message)
