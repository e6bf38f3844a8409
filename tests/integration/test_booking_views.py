"""The booking pages: hold, confirm, My appointments, cancel, reschedule, the doctor's list,
the calendar file, fragments for HTMX, and who may open each page."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from flask import current_app, render_template
from flask_login import login_user
from icalendar import Calendar

from portal.appointments import service
from portal.appointments.models import Appointment
from portal.appointments.picker import PickerSlot
from portal.availability import service as availability
from portal.doctors.models import ConsultationType
from portal.extensions import db
from tests.factories import MONDAY_MORNING, book
from tests.integration.support import page_text, reload

HTMX = {"HX-Request": "true"}


@pytest.fixture
def world(factory, frozen_clock):
    """A doctor (free in-person, ₹500 video) with 8 days of slots, two patients, another
    doctor and an admin. The clock stands at Monday 06:00 IST."""
    frozen_clock.freeze(MONDAY_MORNING)
    doctor = factory.create_doctor(fee_video_paise=50_000, fee_in_person_paise=0)
    return {
        "doctor": doctor, "other_doctor": factory.create_doctor(hours=()),
        "patient": factory.create_patient(name="Meera Shah"),
        "other_patient": factory.create_patient(), "admin": factory.create_admin(),
        "in_person": factory.free_slots(doctor, "IN_PERSON"),
        "video": factory.free_slots(doctor, "VIDEO"),
    }


def reserve_form(client, slot, key: str | None = None, headers=None):
    return client.post_form("/appointments/reserve", {
        "slot_id": str(slot.id), "idempotency_key": key or str(uuid.uuid4()),
        "doctor_id": str(slot.doctor_id), "day": "2026-12-07"}, headers=headers)


def appointment_id_from(response) -> uuid.UUID:
    match = re.search(r"/appointments/([0-9a-f-]{36})$", response.headers["Location"])
    assert match, response.headers.get("Location")
    return uuid.UUID(match.group(1))


def is_fragment(response) -> bool:
    return "<html" not in response.get_data(as_text=True)


# --- holding a slot ------------------------------------------------------------------------------


def test_reserving_from_the_picker_opens_the_hold_page_with_its_countdown(client, world):
    client.login(world["patient"].email)
    slot = world["in_person"][0]
    response = reserve_form(client, slot)
    assert response.status_code == 303
    appointment_id = appointment_id_from(response)
    page = client.get(f"/appointments/{appointment_id}")
    text = page_text(page)
    assert page.status_code == 200
    assert 'data-seconds="300"' in text
    assert "5:00" in text
    assert "until\n      <strong>06:05</strong> (Asia/Kolkata)" in text
    assert "Mon 07 December 2026" not in text  # the date reads as a date, below
    assert "Monday 07 December 2026" in text
    assert "09:00–09:30" in text
    assert "Confirm booking" in text
    assert db.session.get(Appointment, appointment_id).status == "RESERVED"


def test_a_double_submit_of_the_same_form_returns_the_same_hold(client, world):
    client.login(world["patient"].email)
    slot, key = world["in_person"][0], str(uuid.uuid4())
    first = appointment_id_from(reserve_form(client, slot, key))
    again = appointment_id_from(reserve_form(client, slot, key))
    assert first == again
    assert db.session.query(Appointment).count() == 1


def test_a_form_restored_from_history_after_its_hold_ended_holds_afresh(client, world):
    client.login(world["patient"].email)
    slot, key = world["in_person"][0], str(uuid.uuid4())
    first = appointment_id_from(reserve_form(client, slot, key))
    service.cancel_by_patient(world["patient"], first)
    again = appointment_id_from(reserve_form(client, slot, key))
    assert again != first
    assert db.session.get(Appointment, again).status == "RESERVED"


def test_a_taken_slot_sends_the_patient_back_to_the_doctor_page_with_the_reason(
        client, world):
    slot = world["in_person"][0]
    service.reserve(world["other_patient"], slot.id)
    client.login(world["patient"].email)
    response = reserve_form(client, slot)
    assert response.status_code == 303
    assert response.headers["Location"] == (
        f"/doctors/{world['doctor'].id}?day=2026-12-07")
    page = page_text(client.get(response.headers["Location"]))
    assert "Someone is holding this time right now" in page


def test_htmx_gets_the_reason_in_place_of_the_slot(client, world):
    slot = world["in_person"][0]
    service.reserve(world["other_patient"], slot.id)
    client.login(world["patient"].email)
    response = reserve_form(client, slot, headers=HTMX)
    assert response.status_code == 409
    assert is_fragment(response)
    assert 'class="slot-error" role="alert"' in page_text(response)
    assert "Someone is holding this time right now" in page_text(response)


def test_htmx_success_redirects_the_whole_page_to_the_hold(client, world):
    client.login(world["patient"].email)
    response = reserve_form(client, world["in_person"][0], headers=HTMX)
    assert response.status_code == 200
    assert re.fullmatch(r"/appointments/[0-9a-f-]{36}", response.headers["HX-Redirect"])


def test_a_third_hold_is_refused_with_a_way_to_see_the_others(client, world):
    client.login(world["patient"].email)
    for slot in world["in_person"][:2]:
        reserve_form(client, slot)
    response = reserve_form(client, world["in_person"][2], headers=HTMX)
    assert response.status_code == 409
    assert "You are already holding 2 slots" in page_text(response)
    assert 'href="/appointments/"' in page_text(response)


def test_a_past_slot_is_refused(client, world, frozen_clock):
    slot = world["in_person"][0]
    client.login(world["patient"].email)
    frozen_clock.freeze(slot.start_at + timedelta(minutes=1))
    response = reserve_form(client, slot)
    assert response.status_code == 303
    assert "already passed" in page_text(client.get(response.headers["Location"]))


def render_slot_action(user, slot, doctor) -> str:
    """The picker's include for one slot, as `user` (None: a visitor) would get it."""

    kind = ConsultationType(slot.consultation_type)
    local = slot.start_at.astimezone(ZoneInfo("Asia/Kolkata"))
    with current_app.test_request_context(f"/doctors/{doctor.id}"):
        if user is not None:
            login_user(user)
        return render_template("appointments/_slot_action.html", doctor=doctor,
                               slot=PickerSlot(slot.id, local, kind, doctor.fee_for(kind)))


def test_the_slot_action_is_a_form_for_patients_with_a_fresh_key_each_time(world):
    slot = world["video"][0]
    first = render_slot_action(world["patient"], slot, world["doctor"])
    second = render_slot_action(world["patient"], slot, world["doctor"])
    assert 'action="/appointments/reserve"' in first
    assert f'name="slot_id" value="{slot.id}"' in first
    keys = [re.search(r'name="idempotency_key" value="([^"]+)"', html).group(1)
            for html in (first, second)]
    assert keys[0] != keys[1]
    assert all(uuid.UUID(key) for key in keys)
    assert "17:00" in first
    assert "₹500" in first


def test_the_slot_action_asks_visitors_to_log_in_and_come_back_to_the_day(world):
    html = unescape(render_slot_action(None, world["in_person"][0], world["doctor"]))
    assert "Log in to book" in html
    assert f'href="/account/login?next=/doctors/{world["doctor"].id}?day%3D2026-12-07"' in html
    assert "<form" not in html


def test_the_slot_action_is_not_a_control_for_doctors(world):
    html = render_slot_action(world["doctor"].user, world["in_person"][0], world["doctor"])
    assert "<form" not in html
    assert "<a " not in html
    assert "09:00" in html


# --- the hold page: confirming, paying, expiring -----------------------------------------------


def test_a_free_consultation_is_confirmed_from_the_hold_page(client, world):
    client.login(world["patient"].email)
    appointment_id = appointment_id_from(reserve_form(client, world["in_person"][8]))
    response = client.post_form(f"/appointments/{appointment_id}/confirm")
    assert response.status_code == 303
    page = page_text(client.get(response.headers["Location"]))
    assert "Your booking is confirmed." in page
    assert "Add to calendar (.ics)" in page
    assert "Cancel appointment" in page
    assert "Reschedule" in page
    assert re.search(r"<strong>Held</strong> by you", page)
    assert re.search(r"<strong>Confirmed</strong> by you", page)
    assert db.session.get(Appointment, appointment_id).status == "CONFIRMED"


def test_a_paid_consultation_offers_payment_and_cannot_be_confirmed_without_it(client, world):
    client.login(world["patient"].email)
    appointment_id = appointment_id_from(reserve_form(client, world["video"][0]))
    page = page_text(client.get(f"/appointments/{appointment_id}"))
    assert f'action="/payments/start/{appointment_id}"' in page
    assert "Pay ₹500 securely" in page
    assert "Confirm booking" not in page
    assert "Release this hold" in page
    response = client.post_form(f"/appointments/{appointment_id}/confirm")
    assert "confirmed once the payment is made" in page_text(
        client.get(response.headers["Location"]))
    assert db.session.get(Appointment, appointment_id).status == "RESERVED"


def test_the_status_fragment_counts_from_the_server_clock_then_reloads_at_expiry(
        client, world, frozen_clock):
    client.login(world["patient"].email)
    appointment_id = appointment_id_from(reserve_form(client, world["in_person"][0]))
    frozen_clock.advance(timedelta(minutes=3, seconds=30))
    fragment = client.get(f"/appointments/{appointment_id}/status", headers=HTMX)
    assert is_fragment(fragment)
    assert 'data-seconds="90"' in page_text(fragment)
    assert 'hx-trigger="every 15s, hold-ended"' in page_text(fragment)
    frozen_clock.advance(timedelta(minutes=2))
    expired = client.get(f"/appointments/{appointment_id}/status", headers=HTMX)
    assert expired.headers["HX-Refresh"] == "true"
    page = page_text(client.get(f"/appointments/{appointment_id}"))
    assert "Your hold has expired." in page
    assert f'href="/doctors/{world["doctor"].id}"' in page
    assert "Confirm booking" not in page


def test_releasing_a_hold_frees_the_slot(client, world):
    client.login(world["patient"].email)
    appointment_id = appointment_id_from(reserve_form(client, world["in_person"][0]))
    response = client.post_form(f"/appointments/{appointment_id}/cancel")
    assert response.headers["Location"] == f"/appointments/{appointment_id}"
    assert "The hold is released" in page_text(client.get(response.headers["Location"]))
    assert world["in_person"][0].id in {s.id for s in availability.free_slots(
        world["doctor"], MONDAY_MORNING, MONDAY_MORNING + timedelta(days=1))}


# --- the calendar file -------------------------------------------------------------------------


def test_the_ics_file_is_a_valid_event_in_utc(client, world):
    slot = world["video"][0]
    appointment = book(world["patient"], slot, confirm=True)
    client.login(world["patient"].email)
    response = client.get(f"/appointments/{appointment.id}.ics")
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    assert re.search(r'attachment; filename="appointment-\d{8}-\d{4}\.ics"',
                     response.headers["Content-Disposition"])
    event = Calendar.from_ical(response.data).walk("VEVENT")[0]
    assert event.decoded("dtstart") == slot.start_at
    assert event.decoded("dtstart").utcoffset() == timedelta(0)
    assert event.decoded("dtend") == slot.end_at
    assert str(event["uid"]) == f"{appointment.id}@localhost"
    assert str(event["summary"]) == f"Consultation with {world['doctor'].name}"
    # The calendar names the appointment page (where "Join" appears), never the room itself.
    assert str(event["location"]).startswith("Video consultation: http")
    assert f"/appointments/{appointment.id}" in str(event["location"])
    assert reload(appointment).video_room_url not in response.get_data(as_text=True)
    assert str(event["status"]) == "CONFIRMED"
    assert b"DTSTART:" in response.data
    assert b"Z\r\n" in response.data


# --- My appointments -----------------------------------------------------------------------------


def test_my_appointments_lists_upcoming_then_past(client, world, frozen_clock):
    first, second = world["in_person"][:2]
    book(world["patient"], first, confirm=True)
    book(world["patient"], second, confirm=True)
    client.login(world["patient"].email)
    upcoming = page_text(client.get("/appointments/"))
    assert upcoming.index("Mon 07 Dec 2026, 09:00") < upcoming.index("Mon 07 Dec 2026, 09:30")
    assert "Times in <strong>Asia/Kolkata</strong>" in upcoming
    assert "Confirmed" in upcoming
    assert "In person" in upcoming
    assert world["doctor"].name in upcoming
    assert 'aria-current="page" class="is-current">Upcoming' in upcoming
    frozen_clock.freeze(first.end_at + timedelta(minutes=1))
    past = page_text(client.get("/appointments/?scope=past"))
    assert "Mon 07 Dec 2026, 09:00" in past
    assert "09:30" not in past
    still = page_text(client.get("/appointments/?scope=upcoming"))
    assert "Mon 07 Dec 2026, 09:30" in still
    assert "Mon 07 Dec 2026, 09:00" not in still


def test_my_appointments_is_paginated_and_htmx_swaps_only_the_list(client, world):
    for slot in world["in_person"][:12]:
        book(world["patient"], slot, confirm=True)
    client.login(world["patient"].email)
    first = page_text(client.get("/appointments/"))
    assert first.count('class="appt-item"') == 10
    assert "Page 1 of 2" in first
    assert 'rel="next"' in first
    second = client.get("/appointments/?scope=upcoming&page=2", headers=HTMX)
    assert is_fragment(second)
    assert page_text(second).count('class="appt-item"') == 2
    assert "Page 2 of 2" in page_text(second)


def test_my_appointments_empty_states_point_to_the_directory(client, world):
    client.login(world["patient"].email)
    upcoming = page_text(client.get("/appointments/"))
    assert "No upcoming appointments." in upcoming
    assert 'href="/doctors/" role="button">Find a doctor' in upcoming
    past = page_text(client.get("/appointments/?scope=past", headers=HTMX))
    assert "No past appointments yet." in past


def test_a_held_appointment_is_listed_with_its_deadline(client, world):
    client.login(world["patient"].email)
    reserve_form(client, world["in_person"][0])
    page = page_text(client.get("/appointments/"))
    assert "Held" in page
    assert "until 06:05" in page


# --- cancelling ----------------------------------------------------------------------------------


def test_cancelling_shows_the_refund_quote_first_then_cancels(client, world):
    # Mon 17:00 IST, 11 h ahead
    appointment = book(world["patient"], world["video"][0], confirm=True)
    client.login(world["patient"].email)
    quote = page_text(client.get(f"/appointments/{appointment.id}/cancel"))
    assert '<strong class="refund-amount">₹250</strong>' in quote
    assert "(50% of the fee)" in quote
    assert "Cancelling at least 2 hours before the start refunds 50% of the fee." in quote
    assert "before Mon 07 Dec, 15:00 (Asia/Kolkata)" in quote
    assert reload(appointment).status == "CONFIRMED"  # looking changes nothing
    response = client.post_form(f"/appointments/{appointment.id}/cancel",
                                {"reason": "Feeling better"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/appointments/{appointment.id}"
    page = page_text(client.get(response.headers["Location"]))
    assert "Your appointment is cancelled. ₹250 will be refunded" in page
    assert "“Feeling better”" in page
    appointment = reload(appointment)
    assert (appointment.status, appointment.refund_paise) == ("CANCELLED", 25_000)


def test_a_started_appointment_cannot_be_cancelled_by_the_patient(client, world,
                                                                  frozen_clock):
    appointment = book(world["patient"], world["in_person"][0], confirm=True)
    frozen_clock.freeze(appointment.start_at + timedelta(minutes=5))
    client.login(world["patient"].email)
    page = page_text(client.get(f"/appointments/{appointment.id}/cancel"))
    assert "already started" in page
    assert "<form method=\"post\" novalidate>" not in page
    response = client.post_form(f"/appointments/{appointment.id}/cancel")
    assert response.status_code == 409
    assert reload(appointment).status == "CONFIRMED"


# --- rescheduling --------------------------------------------------------------------------------


def test_rescheduling_offers_free_times_of_the_same_kind_and_moves_the_booking(client, world):
    old, new = world["in_person"][6], world["in_person"][13]  # Tuesday 09:00, Wednesday 09:30
    appointment = book(world["patient"], old, confirm=True)
    client.login(world["patient"].email)
    picker = page_text(client.get(f"/appointments/{appointment.id}/reschedule"))
    assert "<legend>Monday 7 December</legend>" in picker
    assert "<legend>Tuesday 8 December</legend>" in picker
    assert f'value="{new.id}"' in picker
    assert f'value="{world["video"][0].id}"' not in picker  # another kind of consultation
    assert f'value="{old.id}"' not in picker  # its own, booked, time
    response = client.post_form(f"/appointments/{appointment.id}/reschedule",
                                {"slot_id": str(new.id)})
    assert response.headers["Location"] == f"/appointments/{appointment.id}"
    page = page_text(client.get(response.headers["Location"]))
    assert "Moved to Wed 09 Dec 2026, 09:30 (Asia/Kolkata)." in page
    assert "<strong>Rescheduled</strong> by you: from Tue 08 Dec 2026, 09:00" in page
    assert reload(appointment).start_at == new.start_at


def test_reschedule_in_a_dialog_for_htmx_and_errors_shown_in_it(client, world):
    appointment = book(world["patient"], world["in_person"][6], confirm=True)
    taken = world["in_person"][7]
    service.reserve(world["other_patient"], taken.id)
    client.login(world["patient"].email)
    dialog = client.get(f"/appointments/{appointment.id}/reschedule", headers=HTMX)
    assert is_fragment(dialog)
    assert page_text(dialog).lstrip().startswith("<dialog")
    response = client.post_form(f"/appointments/{appointment.id}/reschedule",
                                {"slot_id": str(taken.id)}, headers=HTMX)
    assert response.status_code == 409
    assert 'id="reschedule-panel"' in page_text(response)
    assert "holding this time" in page_text(response)
    assert reload(appointment).start_at == world["in_person"][6].start_at
    moved = client.post_form(f"/appointments/{appointment.id}/reschedule",
                             {"slot_id": str(world["in_person"][8].id)}, headers=HTMX)
    assert moved.headers["HX-Redirect"] == f"/appointments/{appointment.id}"


def test_rescheduling_close_to_the_start_is_refused_with_the_reason(client, world):
    appointment = book(world["patient"], world["in_person"][0],  # 3 hours ahead
                       confirm=True)
    client.login(world["patient"].email)
    assert "Reschedule</a>" not in page_text(client.get(f"/appointments/{appointment.id}"))
    page = page_text(client.get(f"/appointments/{appointment.id}/reschedule"))
    assert "can be moved up to 4 hours before they start" in page
    response = client.post_form(f"/appointments/{appointment.id}/reschedule",
                                {"slot_id": str(world["in_person"][5].id)})
    assert response.status_code == 409
    assert reload(appointment).start_at == world["in_person"][0].start_at


# --- the doctor's list ---------------------------------------------------------------------------


def test_the_doctor_sees_today_and_upcoming_with_patient_details_and_reason(client, world):
    today = book(world["patient"], world["in_person"][0], reason="Chest pain on stairs",
                 confirm=True)
    later = book(world["other_patient"], world["in_person"][8], confirm=True)  # Tuesday
    client.login(world["doctor"].user.email)
    page = page_text(client.get("/appointments/practice"))
    assert "Times in <strong>Asia/Kolkata</strong>" in page
    today_part, upcoming_part = page.split('id="upcoming-heading"')
    assert "Meera Shah" in today_part
    assert world["patient"].phone in today_part
    assert "Chest pain on stairs" in today_part
    assert "09:00–09:30" in today_part
    assert world["other_patient"].name in upcoming_part
    assert "Tue 08 Dec" in upcoming_part
    assert f'id="appt-{today.id}"' in today_part
    assert f'id="appt-{later.id}"' in upcoming_part
    # Not started yet: the outcome buttons are there but disabled.
    assert re.search(r'disabled title="From 09:00">Mark completed', today_part)


def test_the_dashboard_links_to_the_appointments(client, world):
    client.login(world["doctor"].user.email)
    assert 'href="/appointments/practice"' in page_text(client.get("/dashboard"))


def test_the_doctor_marks_completed_and_no_show_once_started(client, world, frozen_clock):
    first = book(world["patient"], world["in_person"][0], confirm=True)
    second = book(world["other_patient"], world["in_person"][1], confirm=True)
    client.login(world["doctor"].user.email)
    early = client.post_form(f"/appointments/{first.id}/complete",
                             {"return_to": "practice"})
    assert "has not started yet" in page_text(client.get(early.headers["Location"]))
    frozen_clock.freeze(second.start_at + timedelta(minutes=5))
    done = client.post_form(f"/appointments/{first.id}/complete", {"return_to": "practice"})
    assert done.headers["Location"] == "/appointments/practice"
    row = client.post_form(f"/appointments/{second.id}/no-show", {"return_to": "practice"},
                           headers=HTMX)
    assert is_fragment(row)
    assert page_text(row).lstrip().startswith(f'<tr id="appt-{second.id}"')
    assert "No-show" in page_text(row)
    assert (reload(first).status, reload(second).status) == ("COMPLETED", "NO_SHOW")


def test_the_doctor_cancels_with_a_reason_and_the_patient_gets_everything_back(
        client, world):
    appointment = book(world["patient"], world["video"][0], confirm=True)
    client.login(world["doctor"].user.email)
    page = page_text(client.get(f"/appointments/{appointment.id}/cancel"))
    assert "₹500" in page
    assert "refunds the patient in full" in page
    missing = client.post_form(f"/appointments/{appointment.id}/cancel",
                               {"reason": "", "return_to": "practice"}, headers=HTMX)
    assert missing.status_code == 422
    assert "Tell the patient why" in page_text(missing)
    assert reload(appointment).status == "CONFIRMED"
    response = client.post_form(f"/appointments/{appointment.id}/cancel",
                                {"reason": "Called away to surgery", "return_to": "practice"})
    assert response.headers["Location"] == "/appointments/practice"
    assert "The patient is refunded ₹500 in full" in page_text(
        client.get(response.headers["Location"]))
    appointment = reload(appointment)
    assert (appointment.status, appointment.refund_paise) == ("CANCELLED", 50_000)
    assert appointment.cancel_reason == "Called away to surgery"
    hold = service.reserve(world["other_patient"], world["in_person"][3].id)
    row = client.post_form(f"/appointments/{hold.id}/cancel",
                           {"reason": "Clinic closed", "return_to": "practice"}, headers=HTMX)
    assert page_text(row).lstrip().startswith(f'<tr id="appt-{hold.id}"')
    assert "Cancelled" in page_text(row)
    assert "Appointment cancelled" not in page_text(client.get("/appointments/practice"))


def test_the_practice_pager_swaps_only_the_upcoming_list(client, world):
    for slot in world["in_person"][6:12]:
        book(world["patient"], slot, confirm=True)
    client.login(world["doctor"].user.email)
    fragment = client.get("/appointments/practice?page=1", headers=HTMX)
    assert is_fragment(fragment)
    assert page_text(fragment).count('<tr id="appt-') == 6
    assert "Today," not in page_text(fragment)


# --- who may open what ---------------------------------------------------------------------------


def _appointment_pages(appointment_id) -> list[tuple[str, str]]:
    base = f"/appointments/{appointment_id}"
    return [("GET", base), ("GET", f"{base}.ics"), ("GET", f"{base}/status"),
            ("GET", f"{base}/cancel"), ("POST", f"{base}/cancel"),
            ("GET", f"{base}/reschedule"), ("POST", f"{base}/reschedule"),
            ("POST", f"{base}/confirm")]


def _open(client, method, url):
    if method == "GET":
        return client.get(url)
    return client.post_form(url, {"reason": "x"})


def test_a_visitor_is_sent_to_log_in_everywhere(client, world):
    appointment = book(world["patient"], world["in_person"][0], confirm=True)
    pages = [*_appointment_pages(appointment.id), ("GET", "/appointments/"),
             ("GET", "/appointments/practice"), ("POST", "/appointments/reserve"),
             ("POST", f"/appointments/{appointment.id}/complete")]
    for method, url in pages:
        response = _open(client, method, url)
        assert response.status_code == 302, (method, url)
        assert response.headers["Location"].startswith("/account/login?next="), (method, url)


def test_another_patient_gets_404_on_every_appointment_page(client, world):
    appointment = book(world["patient"], world["in_person"][0], confirm=True)
    client.login(world["other_patient"].email)
    for method, url in _appointment_pages(appointment.id):
        assert _open(client, method, url).status_code == 404, (method, url)
    assert reload(appointment).status == "CONFIRMED"


def test_another_doctor_gets_404(client, world):
    appointment = book(world["patient"], world["in_person"][0], confirm=True)
    client.login(world["other_doctor"].user.email)
    for method, url in [*_appointment_pages(appointment.id),
                        ("POST", f"/appointments/{appointment.id}/complete"),
                        ("POST", f"/appointments/{appointment.id}/no-show")]:
        assert _open(client, method, url).status_code == 404, (method, url)
    assert "Meera Shah" not in page_text(client.get("/appointments/practice"))


def test_the_doctor_and_an_admin_see_the_appointment_but_cannot_confirm_for_the_patient(
        client, world, new_client):
    appointment_id = service.reserve(world["patient"], world["in_person"][0].id).id
    client.login(world["doctor"].user.email)
    page = page_text(client.get(f"/appointments/{appointment_id}"))
    assert "Meera Shah" in page
    assert "Held by the patient until 06:05" in page
    assert "Confirm booking" not in page
    assert client.post_form(f"/appointments/{appointment_id}/confirm").status_code == 404
    admin = new_client()
    admin.login(world["admin"].email)
    assert admin.get(f"/appointments/{appointment_id}").status_code == 200


def test_patients_and_admins_are_refused_the_doctor_list(client, world, new_client):
    client.login(world["patient"].email)
    assert client.get("/appointments/practice").status_code == 403
    appointment = book(world["patient"], world["in_person"][0], confirm=True)
    assert client.post_form(f"/appointments/{appointment.id}/complete").status_code == 403
    admin = new_client()
    admin.login(world["admin"].email)
    assert admin.get("/appointments/practice").status_code == 403
    assert admin.get("/appointments/").status_code == 403


def test_a_doctor_opening_my_appointments_is_sent_to_their_list(client, world):
    client.login(world["doctor"].user.email)
    response = client.get("/appointments/")
    assert response.headers["Location"] == "/appointments/practice"


def test_only_patients_reserve(client, world):
    client.login(world["doctor"].user.email)
    assert reserve_form(client, world["in_person"][0]).status_code == 403


def test_the_patient_gives_a_reason_for_the_visit_that_the_doctor_then_reads(client, world):
    client.login(world["patient"].email)
    appointment_id = appointment_id_from(reserve_form(client, world["in_person"][0]))
    page = client.get(f"/appointments/{appointment_id}").get_data(as_text=True)
    assert "Reason for the visit (optional)" in page

    saved = client.post_form(f"/appointments/{appointment_id}/reason",
                             {"reason": "Fever for three days"})
    assert saved.status_code == 302
    assert db.session.get(Appointment, appointment_id).reason_for_visit == "Fever for three days"
    too_long = client.post_form(f"/appointments/{appointment_id}/reason", {"reason": "x" * 1001},
                                follow_redirects=True)
    assert "1000 characters" in too_long.get_data(as_text=True)

    doctor = client.application.test_client()
    doctor.login(world["doctor"].user.email)
    assert "Fever for three days" in doctor.get("/appointments/practice").get_data(as_text=True)

    stranger = client.application.test_client()
    stranger.login(world["other_patient"].email)
    assert stranger.post_form(f"/appointments/{appointment_id}/reason",
                              {"reason": "hijack"}).status_code == 404
