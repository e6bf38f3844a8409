"""An appointment as an iCalendar event: the .ics download and the email invitation."""

from __future__ import annotations

from datetime import UTC

from flask import current_app
from icalendar import Calendar, Event

from portal.appointments.models import Appointment, AppointmentStatus
from portal.appointments.service import effective_status, history
from portal.clock import utcnow
from portal.doctors.models import ConsultationType
from portal.formatting import format_money

S = AppointmentStatus


def calendar_for(appointment: Appointment, page_url: str, domain: str) -> bytes:
    """A VCALENDAR with one VEVENT (times in UTC); the UID is stable per appointment and the
    SEQUENCE grows with each reschedule, so calendar apps update the event they have."""
    kind = ConsultationType(appointment.consultation_type)
    doctor = appointment.doctor
    calendar = Calendar()
    calendar.add("prodid", f"-//{current_app.config['CLINIC_NAME']}//Booking//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"{appointment.id}@{domain}")
    event.add("dtstamp", utcnow())
    event.add("dtstart", appointment.start_at.astimezone(UTC))
    event.add("dtend", appointment.end_at.astimezone(UTC))
    event.add("sequence", sum(1 for entry in history(appointment)
                              if entry.from_status == entry.to_status))
    event.add("summary", f"Consultation with {doctor.name}")
    # A video call is joined from the appointment page (with a token, near the time): the
    # calendar carries the page, never the room.
    event.add("location", f"Video consultation: {page_url}"
              if kind == ConsultationType.VIDEO else "In person")
    event.add("description", "\n".join(filter(None, [
        f"{kind.label} consultation with {doctor.name} ({doctor.specialty}).",
        f"Fee: {format_money(appointment.fee_paise, appointment.currency)}.",
        f"Reason for visit: {appointment.reason_for_visit}"
        if appointment.reason_for_visit else "",
        f"Details, cancelling and rescheduling: {page_url}",
    ])))
    event.add("url", page_url)
    event.add("status", {S.RESERVED: "TENTATIVE", S.EXPIRED: "CANCELLED",
                         S.CANCELLED: "CANCELLED"}.get(effective_status(appointment),
                                                       "CONFIRMED"))
    calendar.add_component(event)
    return calendar.to_ical()
