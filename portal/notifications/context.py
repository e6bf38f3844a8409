"""What messages are filled with: absolute links, the variables about an appointment, and the
sample data the template editor previews with.

Its own module because reminders and event reactions both describe an appointment, and the
template editor validates against the same variable names.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app

from portal.appointments.models import Appointment
from portal.auth.models import User
from portal.doctors.models import ConsultationType

# How a time is written in a message, in the recipient's own zone.
TIME_FORMAT = "%a %d %b %Y, %H:%M"


def public_url(path: str) -> str:
    """An absolute link for messages, from PUBLIC_URL (never from a request's Host header)."""
    return current_app.config["PUBLIC_URL"].rstrip("/") + path


def local_time(moment: datetime, recipient: User) -> str:
    """`moment` (an aware datetime) as the recipient reads it, in their zone."""
    return moment.astimezone(ZoneInfo(recipient.timezone)).strftime(TIME_FORMAT)


def appointment_context(appointment: Appointment, recipient: User) -> dict[str, Any]:
    """Template variables about an appointment, with times in the recipient's zone."""
    zone = ZoneInfo(recipient.timezone)
    doctor = appointment.doctor
    return {
        "patient_name": appointment.patient.name,
        "doctor_name": doctor.name,
        "specialty": doctor.specialty,
        "start": appointment.start_at.astimezone(zone).strftime(TIME_FORMAT),
        "timezone": recipient.timezone,
        "consultation_label": ConsultationType(appointment.consultation_type).label.lower(),
        # The video call is joined from the appointment page (a token, near the time); no
        # message carries the room itself. `video_link` stays for templates that name it.
        "is_video": appointment.consultation_type == "VIDEO",
        "video_link": public_url(f"/appointments/{appointment.id}")
        if appointment.consultation_type == "VIDEO" else "",
        "visit_reason": appointment.reason_for_visit,
        "hold_until": appointment.reserved_until.astimezone(zone).strftime("%H:%M")
        if appointment.reserved_until else "",
        "appointment_url": public_url(f"/appointments/{appointment.id}"),
        "doctor_url": public_url(f"/doctors/{doctor.id}"),
        "practice_url": public_url("/appointments/practice"),
    }


def sample_context() -> dict[str, Any]:
    """Realistic sample data for the template editor's preview."""
    return {"clinic_name": current_app.config["CLINIC_NAME"], "patient_name": "Pat Kumar",
            "doctor_name": "Dr. Asha Mehta", "specialty": "General Medicine",
            "start": "Mon 07 Dec 2026, 09:00", "old_start": "Fri 04 Dec 2026, 17:30",
            "timezone": "Asia/Kolkata", "consultation_label": "video",
            "video_link": "https://clinic.example.com/appointments/7d1c",
            "is_video": True, "amount": "₹500",
            "tax": "₹76.27", "refund_amount": "₹250", "reason": "Doctor unavailable",
            "visit_reason": "Cough for a week", "hold_until": "09:05",
            "when": "in 1 hour", "gateway_payment_id": "pay_29QQoUBi66xm2f",
            "appointment_url": public_url("/appointments/"),
            "doctor_url": public_url("/doctors/"), "receipt_url": public_url("/payments/"),
            "practice_url": public_url("/appointments/practice"), "error": "Card declined",
            "title": "Clinic closed on Friday", "message": "The clinic is closed on Friday.",
            "link_url": "https://rzp.io/i/nxrHnLJ", "link_expires": "Mon 07 Dec, 09:16"}
