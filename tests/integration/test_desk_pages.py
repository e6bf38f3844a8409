"""The front desk's pages and the live queue (issue 12), through the HTML: the day board, finding
and booking for a patient, walk-ins, check-in, the doctor's queue, a patient's place, the
waiting room's screen, staff invitations, and who may open each page.

The clock stands at Monday 7 December 2026, 08:30 in Kolkata (the clinic's zone), where the
doctor sees patients 09:00-13:00 in person, free of charge.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from portal.appointments import service as appointments
from portal.appointments.models import Appointment, AppointmentStatus
from portal.auth import service as auth
from portal.auth.models import User
from portal.availability import service as availability
from portal.desk import service as desk
from portal.extensions import db
from portal.family import service as family
from portal.queue import service as queue
from portal.queue.models import QueueToken
from portal.roles import Role
from tests.factories import MONDAY_MORNING, PASSWORD
from tests.integration.support import field_error, page_text, reload, sync

HTMX = {"HX-Request": "true"}
OPENING = MONDAY_MORNING + timedelta(hours=2, minutes=30)  # 08:30 in Kolkata


@pytest.fixture
def clinic(factory, frozen_clock):
    """Dr. Meera Iyer with four patients booked 09:00-10:30 and slots until 13:00; another
    doctor without hours; Rita at the desk; an admin. Booked at 06:00, now 08:30."""
    frozen_clock.freeze(MONDAY_MORNING)
    doctor = factory.create_doctor(name="Dr. Meera Iyer", fee_in_person_paise=0,
                                   fee_video_paise=None,
                                   hours=factory.weekly_hours("09:00", "13:00", "IN_PERSON"))
    patients = [factory.create_patient(name=name) for name in (
        "Zubin Quietname", "Farah Hiddenname", "Gopal Booked", "Nila Absent")]
    slots = factory.free_slots(doctor, "IN_PERSON")
    booked = [factory.book(p, slots[i], confirm=True, reason=f"Reason {i}")
              for i, p in enumerate(patients)]
    frozen_clock.freeze(OPENING)
    return {"doctor": doctor, "other_doctor": factory.create_doctor(name="Dr. Rohan Shah",
                                                                    hours=()),
            "staff": factory.create_user(Role.STAFF, name="Rita Reception"),
            "admin": factory.create_admin(), "patients": patients, "booked": booked,
            "slots": slots, "stranger": factory.create_patient(name="Sam Stranger")}


def as_(client, user):
    client.login(user.email, PASSWORD)
    return client


def is_fragment(response) -> bool:
    return "<html" not in response.get_data(as_text=True)


def flash_text(response) -> str:
    return " ".join(re.findall(r'class="flash[^"]*"[^>]*>(.*?)</p>', page_text(response), re.S))


# --- the day board -------------------------------------------------------------------------------


def test_the_board_shows_every_state_in_words_and_htmx_gets_only_the_timeline(client, clinic):
    staff, doctor, booked, slots = clinic["staff"], clinic["doctor"], clinic["booked"], \
        clinic["slots"]
    for appointment in (booked[0], booked[1], booked[3]):
        queue.check_in(staff, appointment.id)
    queue.finish(staff, queue.call_next(staff, doctor.id).id)  # 09:00: done
    queue.call_next(staff, doctor.id)  # 09:30: with the doctor
    queue.mark_not_here(staff, db.session.scalar(select(QueueToken.id).where(
        QueueToken.appointment_id == booked[3].id)))  # 10:30: no-show
    appointments.reserve(clinic["stranger"], slots[4].id)  # 11:00: held
    availability.block_interval(doctor, slots[5].start_at, slots[5].end_at, "Staff meeting")
    queue.add_walk_in(staff, doctor.id, "Walter Walkin", None)

    as_(client, staff)
    page = client.get("/desk")
    assert page.status_code == 200
    text = page_text(page)
    board = text[text.index('id="board"'):]
    for words in ("Done", "With the doctor", "Booked", "No-show", "Held", "Blocked",
                  "Staff meeting", "Free", "Walk-in", "Token 4", "Walter Walkin",
                  "Gopal Booked", "Print day list", "Queue"):
        assert words in board, words
    assert board.count(">Check in<") == 1  # only the one still booked (10:00)
    assert f"/desk/book?slot={slots[6].id}" in board  # a free time has Book
    assert f"/appointments/{booked[2].id}" in board
    assert "Times in <strong>Asia/Kolkata</strong>" in text
    assert 'hx-trigger="every 10s, desk-changed from:body"' in text

    fragment = client.get("/desk?date=2026-12-07", headers=HTMX)
    assert fragment.status_code == 200
    assert is_fragment(fragment)
    assert page_text(fragment).lstrip().startswith('<section id="board"')
    assert "Gopal Booked" in page_text(fragment)
    assert "board-date" not in page_text(fragment)  # the date form is not polled


def test_the_board_pages_through_days_and_says_when_nobody_is_on_duty(client, clinic):
    as_(client, clinic["staff"])
    sunday = page_text(client.get("/desk?date=2026-12-06"))
    assert "No doctor is on duty on Sunday 06 December." in sunday
    assert "/desk?date=2026-12-05" in sunday
    assert "/desk?date=2026-12-07" in sunday
    junk = client.get("/desk?date=not-a-date")
    assert junk.status_code == 200
    assert "Dr. Meera Iyer" in page_text(junk)


def test_checking_in_from_the_board_gives_a_token_number(client, clinic):
    as_(client, clinic["staff"])
    appointment = clinic["booked"][2]
    response = client.post_form(f"/desk/appointments/{appointment.id}/check-in",
                                {"date": "2026-12-07"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/desk?date=2026-12-07")
    assert "Checked in Gopal Booked: token 1." in flash_text(client.get("/desk"))
    assert reload(appointment).status == AppointmentStatus.ARRIVED
    board = page_text(client.get("/desk"))
    assert "Token 1" in board
    assert "Checked in" in board

    htmx = client.post_form(f"/desk/appointments/{clinic['booked'][1].id}/check-in",
                            headers=HTMX)
    assert htmx.status_code == 200
    assert is_fragment(htmx)
    assert htmx.headers["HX-Trigger"] == "desk-changed"  # the board refreshes itself
    assert "Checked in Farah Hiddenname: token 2." in page_text(htmx)

    too_early = client.post_form(f"/desk/appointments/{clinic['booked'][0].id}/check-in")
    assert too_early.status_code == 303  # 09:00 is fine; check the refusal on another day
    tomorrow = appointments.reserve(clinic["stranger"], clinic["slots"][-1].id)
    refused = client.post_form(f"/desk/appointments/{tomorrow.id}/check-in", headers=HTMX)
    assert refused.status_code == 409
    assert refused.headers["HX-Retarget"] == "#messages"


def test_the_printed_day_list_has_times_names_phones_reasons_and_tokens(client, clinic):
    queue.check_in(clinic["staff"], clinic["booked"][0].id)
    as_(client, clinic["staff"])
    page = client.get(f"/desk/print/{clinic['doctor'].id}?date=2026-12-07")
    text = page_text(page)
    assert page.status_code == 200
    patient = clinic["patients"][0]
    row = text[text.index("09:00–09:30"):text.index("09:30–10:00")]
    for words in (patient.name, patient.phone, "Reason 0", ">1<", "Checked in"):
        assert words in row, words
    assert "@media print" not in text  # the print styles live in app.css
    empty = page_text(client.get(f"/desk/print/{clinic['other_doctor'].id}?date=2026-12-07"))
    assert "is not on duty on this day" in empty
    assert client.get(f"/desk/print/{uuid.uuid4()}").status_code == 404


# --- finding and booking -------------------------------------------------------------------------


def test_the_desk_finds_a_patient_by_phone_name_or_email(client, clinic):
    as_(client, clinic["staff"])
    patient = clinic["patients"][2]
    found = client.get(f"/desk/patients?q={patient.phone[-6:]}")
    assert found.status_code == 200
    assert "Gopal Booked" in page_text(found)
    assert "Zubin Quietname" not in page_text(found)
    assert f"/desk?patient={patient.id}" in page_text(found)  # book a time for them

    live = client.get("/desk/patients?q=gopal", headers=HTMX)
    assert is_fragment(live)
    assert "Gopal Booked" in page_text(live)
    assert page_text(live).lstrip().startswith('<section id="results"')
    short = client.get("/desk/patients?q=go")
    assert "Type at least 3 characters" in page_text(short)
    nobody = client.get("/desk/patients?q=nobody-here")
    assert "Nobody matches" in page_text(nobody)


def test_the_search_pages_with_the_shared_pager(client, clinic, factory):
    for n in range(22):
        factory.create_patient(name=f"Pager Person {n:02d}")
    as_(client, clinic["staff"])
    first = page_text(client.get("/desk/patients?q=pager"))
    assert "22 patients" in first
    assert "Page 1 of 2" in first
    second = page_text(client.get("/desk/patients?q=pager&page=2"))
    assert "Pager Person 21" in second
    assert "Pager Person 00" not in second


def test_booking_a_time_for_a_found_patient_lands_on_the_appointment(client, clinic):
    as_(client, clinic["staff"])
    patient, slot = clinic["patients"][0], clinic["slots"][6]
    board = page_text(client.get(f"/desk?patient={patient.id}"))
    assert "Booking for <strong>Zubin Quietname</strong>" in board
    assert f"/desk/book?slot={slot.id}&patient={patient.id}" in board

    page = client.get(f"/desk/book?slot={slot.id}&patient={patient.id}")
    assert page.status_code == 200
    assert "For Zubin Quietname" in page_text(page)
    assert "12:00" in page_text(page)
    response = client.post_form("/desk/book", {
        "p-slot_id": str(slot.id), "p-patient_id": str(patient.id), "p-reason": "Back pain",
        "p-idempotency_key": "desk-key-1"})
    assert response.status_code == 303
    appointment = db.session.scalar(select(Appointment).where(Appointment.slot_id == slot.id))
    assert response.headers["Location"].endswith(f"/appointments/{appointment.id}")
    assert (appointment.patient_id, appointment.reason_for_visit) == (patient.id, "Back pain")
    assert appointment.status == AppointmentStatus.RESERVED
    detail = client.get(response.headers["Location"])
    assert "Held Mon 07 Dec, 12:00 with Dr. Meera Iyer for Zubin Quietname." in flash_text(
        detail)
    assert f"/queue/appointment/{appointment.id}/place" in page_text(detail)

    # The same time again, for someone else: the database's guard, shown clearly.
    other = clinic["patients"][1]
    taken = client.post_form("/desk/book", {"p-slot_id": str(slot.id),
                                            "p-patient_id": str(other.id)})
    assert taken.status_code == 409
    assert "Someone is holding this time right now." in page_text(taken)
    assert "Choose another time" in page_text(taken)


def test_the_desk_books_for_a_family_member_of_the_account_holder(client, clinic):
    holder, slot = clinic["patients"][0], clinic["slots"][6]
    child = family.add_dependent(holder, family.DependentData(
        "Mira Quietname", "CHILD", date(2019, 5, 4), "FEMALE"))
    as_(client, clinic["staff"])
    page = page_text(client.get(f"/desk/book?slot={slot.id}&patient={holder.id}"))
    assert "Whom is the visit for?" in page
    assert "Mira Quietname (child)" in page
    junk = client.post_form("/desk/book", {"p-slot_id": str(slot.id),
                                           "p-patient_id": str(holder.id),
                                           "p-for_dependent_id": "not-an-id"})
    assert junk.status_code == 422
    response = client.post_form("/desk/book", {"p-slot_id": str(slot.id),
                                               "p-patient_id": str(holder.id),
                                               "p-for_dependent_id": str(child.id)})
    assert response.status_code == 303
    appointment = db.session.scalar(select(Appointment).where(Appointment.slot_id == slot.id))
    assert (appointment.patient_id, appointment.for_dependent_id) == (holder.id, child.id)
    assert "for Mira Quietname." in flash_text(client.get(response.headers["Location"]))


def test_the_booking_page_searches_in_place_and_books_for_a_new_person(client, clinic):
    as_(client, clinic["staff"])
    slot = clinic["slots"][7]
    search = client.get(f"/desk/book?slot={slot.id}&q=farah", headers=HTMX)
    assert is_fragment(search)
    assert "Farah Hiddenname" in page_text(search)
    assert f"/desk/book?slot={slot.id}&patient={clinic['patients'][1].id}" in page_text(
        search)

    bad = client.post_form("/desk/book", {"n-slot_id": str(slot.id), "n-name": "Sita New",
                                          "n-phone": "98111"})
    assert bad.status_code == 422
    assert field_error(bad, "n-phone")
    response = client.post_form("/desk/book", {"n-slot_id": str(slot.id), "n-name": "Sita New",
                                               "n-phone": "+919811100002"})
    assert response.status_code == 303
    sync()
    person = db.session.scalar(select(User).where(User.phone == "+919811100002"))
    assert person.name == "Sita New"
    assert desk.is_placeholder_email(person.email)
    assert not desk.is_claimed(person)
    appointment = db.session.scalar(select(Appointment).where(Appointment.slot_id == slot.id))
    assert appointment.patient_id == person.id

    no_slot = client.get("/desk/book")
    assert "Choose a free time on the" in page_text(no_slot)
    assert client.get(f"/desk/book?slot={uuid.uuid4()}").status_code == 404


# --- payments at the desk ------------------------------------------------------------------------


@pytest.fixture
def paid_doctor(factory, clinic):
    """Dr. Kavya Rao: in person for ₹800, 09:00-13:00."""
    return factory.create_doctor(name="Dr. Kavya Rao", fee_in_person_paise=80_000,
                                 fee_video_paise=None,
                                 hours=factory.weekly_hours("09:00", "13:00", "IN_PERSON"))


def test_the_desk_takes_cash_for_a_held_booking_and_it_is_confirmed(client, clinic, factory,
                                                                      paid_doctor):
    staff = clinic["staff"]
    slots = factory.free_slots(paid_doctor)
    held = desk.book_for(staff, clinic["stranger"], slots[2].id)
    as_(client, staff)
    board = page_text(client.get("/desk"))
    assert f"/desk/appointments/{held.id}/payment" in board  # "Pay at desk" on the held time
    panel = page_text(client.get(f"/queue/appointment/{held.id}/place", headers=HTMX))
    assert "Pay at desk" in panel
    assert "send a payment link" in panel

    url = f"/desk/appointments/{held.id}/payment"
    page = page_text(client.get(url))
    assert "₹800" in page
    assert "Cash" in page
    assert "Card machine" in page
    assert "Send a payment link" in page
    missing = client.post_form(url, {"method": "cash", "reference": ""})
    assert missing.status_code == 422
    assert field_error(missing, "reference") == "Enter the number of the counter's receipt."
    response = client.post_form(url, {"method": "cash", "reference": "R-1001"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/appointments/{held.id}")
    assert ("₹800 paid in cash (receipt no. R-1001). The booking is confirmed."
            in flash_text(client.get(response.headers["Location"])))
    assert reload(held).status == AppointmentStatus.CONFIRMED
    assert "Already paid</strong> at the desk (receipt no. R-1001) on 07 Dec 2026, 08:30." in (
        page_text(client.get(url)))
    again = client.post_form(url, {"method": "cash", "reference": "R-1002"})
    assert again.status_code == 409
    assert "This appointment is already paid (at the desk)." in page_text(again)

    # A receipt number is recorded once.
    other = desk.book_for(staff, clinic["patients"][0], slots[3].id)
    used = client.post_form(f"/desk/appointments/{other.id}/payment",
                            {"method": "upi", "reference": "R-1001"})
    assert used.status_code == 409
    assert "already recorded" in field_error(used, "reference")


def test_the_desk_sends_a_payment_link_and_the_time_waits_for_it(client, clinic, factory,
                                                                 paid_doctor, razorpay):
    held = desk.book_for(clinic["staff"], clinic["stranger"], factory.free_slots(paid_doctor)[2].id)
    as_(client, clinic["staff"])
    response = client.post_form(f"/desk/appointments/{held.id}/payment-link")
    assert response.status_code == 303
    message = flash_text(client.get(response.headers["Location"]))
    assert message.startswith("Payment link sent by SMS and email: http")
    assert reload(held).reserved_until > OPENING + timedelta(minutes=10)
    page = page_text(client.get(f"/desk/appointments/{held.id}/payment"))
    assert "A payment link was sent" in page
    assert "Record the payment" in page  # cash instead is still possible

    free = desk.book_for(clinic["staff"], clinic["stranger"], clinic["slots"][7].id)
    refused = client.post_form(f"/desk/appointments/{free.id}/payment-link")
    assert refused.status_code == 303
    assert "free" in flash_text(client.get(refused.headers["Location"]))
    assert "This consultation is free" in page_text(
        client.get(f"/desk/appointments/{free.id}/payment"))


# --- walk-ins ------------------------------------------------------------------------------------


def test_a_walk_in_gets_a_token_for_a_doctor_on_duty(client, clinic):
    as_(client, clinic["staff"])
    form = page_text(client.get("/desk/walk-in"))
    assert "Dr. Meera Iyer" in form
    assert "Dr. Rohan Shah" not in form
    response = client.post_form("/desk/walk-in", {
        "doctor_id": str(clinic["doctor"].id), "name": "Ravi Walkin", "phone": "+919811100001"})
    assert response.status_code == 303
    assert "Token 1 for Dr. Meera Iyer: Ravi Walkin." in flash_text(
        client.get(response.headers["Location"]))
    sync()
    token = db.session.scalar(select(QueueToken).where(QueueToken.name == "Ravi Walkin"))
    assert token.kind == "WALK_IN"
    assert token.patient_id is not None

    missing = client.post_form("/desk/walk-in", {"doctor_id": "", "name": "", "phone": ""})
    assert missing.status_code == 422
    assert field_error(missing, "name")
    assert field_error(missing, "doctor_id")


# --- the doctor's queue --------------------------------------------------------------------------


def test_the_queue_page_calls_next_finishes_and_marks_not_here(client, clinic):
    staff, doctor, booked = clinic["staff"], clinic["doctor"], clinic["booked"]
    for appointment in booked[:3]:
        queue.check_in(staff, appointment.id)
    as_(client, doctor.user)
    url = f"/queue/{doctor.id}"
    page = page_text(client.get(url))
    assert "Nobody is with the doctor." in page
    assert "Zubin Quietname" in page
    assert "Next" in page
    assert "2nd" in page
    assert 'hx-trigger="every 5s, desk-changed from:body"' in page

    called = client.post_form(f"{url}/call-next")
    assert called.status_code == 303
    assert "Token 1 (Zubin Quietname) called in." in flash_text(client.get(url))
    now_serving = page_text(client.get(url, headers=HTMX))
    assert now_serving.lstrip().startswith('<section id="queue-live"')
    assert "Token 1" in now_serving
    assert "with the doctor since 08:30" in now_serving

    busy = client.post_form(f"{url}/call-next", headers=HTMX)
    assert busy.status_code == 409
    assert "Finish the current consultation" in page_text(busy)
    token = db.session.scalar(select(QueueToken).where(QueueToken.number == 1))
    finished = client.post_form(f"/queue/tokens/{token.id}/done", headers=HTMX)
    assert finished.status_code == 200
    assert finished.headers["HX-Trigger"] == "desk-changed"
    assert "Token 1 (Zubin Quietname) is done." in page_text(finished)
    assert reload(booked[0]).status == AppointmentStatus.COMPLETED

    third = db.session.scalar(select(QueueToken).where(QueueToken.number == 3))
    gone = client.post_form(f"/queue/tokens/{third.id}/not-here",
                            {"doctor_id": str(doctor.id)})
    assert gone.status_code == 303
    assert reload(booked[2]).status == AppointmentStatus.NO_SHOW
    again = client.post_form(f"/queue/tokens/{third.id}/not-here", {"doctor_id": str(doctor.id)})
    assert again.status_code == 303
    assert "is not waiting" in flash_text(client.get(url))


def test_running_late_tells_the_patients_and_shows_the_count(client, clinic):
    for appointment in clinic["booked"][:2]:
        queue.check_in(clinic["staff"], appointment.id)
    as_(client, clinic["staff"])
    url = f"/queue/{clinic['doctor'].id}"
    invalid = client.post_form(f"{url}/running-late", {"minutes": "900"})
    assert invalid.status_code == 422
    assert field_error(invalid, "minutes")
    response = client.post_form(f"{url}/running-late", {"minutes": "30", "note": "Emergency"})
    assert response.status_code == 303
    page = client.get(url)
    # Waiting: patients 0 and 1; booked later today: 2 and 3.
    assert "Told 4 patients that the doctor is running 30 minutes late." in flash_text(page)
    assert "Running late by 30 minutes" in page_text(page)


def test_the_doctors_queue_is_theirs_and_the_desks(client, clinic, new_client):
    url = f"/queue/{clinic['doctor'].id}"
    assert as_(client, clinic["other_doctor"].user).get(url).status_code == 404
    assert as_(new_client(), clinic["patients"][0]).get(url).status_code == 403
    assert as_(new_client(), clinic["admin"]).get(url).status_code == 200
    doctor = as_(new_client(), clinic["doctor"].user)
    mine = doctor.get("/queue")
    assert mine.status_code == 302
    assert mine.headers["Location"].endswith(url)
    staff = as_(new_client(), clinic["staff"])
    queues = page_text(staff.get("/queue"))
    assert "Dr. Meera Iyer" in queues
    assert f"/queue/{clinic['doctor'].id}/display" in queues


# --- the patient's place -------------------------------------------------------------------------


def test_the_patient_sees_their_place_update_until_the_visit_is_over(client, clinic,
                                                                     frozen_clock):
    staff, doctor, booked = clinic["staff"], clinic["doctor"], clinic["booked"]
    patient, appointment = clinic["patients"][1], booked[1]
    as_(client, patient)
    detail = page_text(client.get(f"/appointments/{appointment.id}"))
    place_url = f"/queue/appointment/{appointment.id}/place"
    assert f'hx-get="{place_url}" hx-trigger="load, every 10s' in detail
    assert "Your place in the queue" in detail

    before = client.get(place_url, headers=HTMX)
    assert before.status_code == 200
    assert "check in at the front desk" in page_text(before)
    queue.check_in(staff, booked[0].id)
    queue.check_in(staff, appointment.id)
    waiting = page_text(client.get(place_url, headers=HTMX))
    # Booked for 09:30, at 08:30: nobody is seen before their time.
    assert re.search(r"Your token is 2\.</span>\s*You are 2nd in line; about 1 hour\.",
                     waiting), waiting
    assert "Zubin Quietname" not in waiting  # nobody else's name

    queue.announce_delay(staff, doctor.id, 30)
    late = page_text(client.get(place_url, headers=HTMX))
    assert "running late by 30 minutes" in late
    frozen_clock.advance(timedelta(minutes=1))
    queue.call_next(doctor.user, doctor.id)
    nxt = page_text(client.get(place_url, headers=HTMX))
    assert re.search(r"You are next; (about \d+ minutes?|any moment now)\.", nxt), nxt
    assert "running late" not in nxt  # the delay ends when the doctor calls someone

    queue.finish(doctor.user, queue.view(doctor).current.id)
    token = queue.call_next(doctor.user, doctor.id)
    assert "You are with the doctor now." in page_text(client.get(place_url, headers=HTMX))
    queue.finish(doctor.user, token.id)
    over = client.get(place_url, headers=HTMX)
    assert over.status_code == 286  # htmx stops polling
    assert "Your visit is over" in page_text(over)

    full_page = client.get(place_url)  # without JavaScript: a page of its own
    assert full_page.status_code == 200
    assert "<html" in page_text(full_page)


def test_only_the_appointments_people_see_its_place(client, clinic, new_client):
    url = f"/queue/appointment/{clinic['booked'][1].id}/place"
    assert as_(client, clinic["stranger"]).get(url).status_code == 404
    assert as_(new_client(), clinic["other_doctor"].user).get(url).status_code == 404
    desk_view = as_(new_client(), clinic["staff"]).get(url, headers=HTMX)
    assert desk_view.status_code == 200
    assert ">Check in<" in page_text(desk_view)
    assert new_client().get(url).status_code == 302  # to the login page


# --- the waiting room's screen -------------------------------------------------------------------


def test_the_display_shows_token_numbers_only_and_no_personal_details(client, clinic):
    staff, doctor = clinic["staff"], clinic["doctor"]
    for appointment in clinic["booked"]:
        queue.check_in(staff, appointment.id)
    queue.add_walk_in(staff, doctor.id, "Walter Walkin", None)
    queue.call_next(staff, doctor.id)
    page = client.get(f"/queue/{doctor.id}/display")  # no login: a TV
    assert page.status_code == 200
    text = page_text(page)
    assert re.search(r'class="display-number"[^>]*>1<', text)
    next_tokens = re.findall(r"<li>(\d+)</li>", text)
    assert next_tokens == ["2", "3", "5", "4"]  # the order of calling: a walk-in after two
    assert '<meta http-equiv="refresh" content="30">' in text
    for patient in clinic["patients"]:
        assert patient.name not in text
        assert patient.phone not in text
        assert patient.email not in text
    assert "Walter" not in text
    assert "Reason" not in text
    fragment = client.get(f"/queue/{doctor.id}/display", headers=HTMX)
    assert is_fragment(fragment)
    assert page_text(fragment).lstrip().startswith('<div id="screen"')
    assert client.get(f"/queue/{uuid.uuid4()}/display").status_code == 404


# --- staff invitations ---------------------------------------------------------------------------


def test_an_admin_invites_staff_who_set_a_password_and_land_on_the_board(client, clinic,
                                                                        new_client):
    admin = as_(client, clinic["admin"])
    page = page_text(admin.get("/admin/staff"))
    assert "Rita Reception" in page
    assert "Invite a receptionist" in page
    taken = admin.post_form("/admin/staff", {"name": "Dup", "email": clinic["staff"].email})
    assert taken.status_code == 422
    assert field_error(taken, "email")
    response = admin.post_form("/admin/staff", {"name": "Nina Newdesk",
                                                "email": "nina@example.com"})
    assert response.status_code == 303
    assert "Invited Nina Newdesk" in flash_text(admin.get("/admin/staff"))
    nina = reload(auth.find_user_by_email("nina@example.com"))
    assert nina.role == Role.STAFF
    assert not desk.is_claimed(nina)
    assert "Invited, no password yet" in page_text(admin.get("/admin/staff"))

    link = auth.claim_link(nina)
    assert link.startswith("http://")
    assert "/account/claim/" in link
    path = link[link.index("/account/claim/"):]
    browser = new_client()
    form = page_text(browser.get(path))
    assert "Welcome, Nina Newdesk" in form
    assert "nina@example.com" in form
    assert 'name="email"' not in form  # the clinic has her address
    weak = browser.post_form(path, {"password": "short", "confirm": "short"})
    assert weak.status_code == 422
    assert field_error(weak, "password")
    done = browser.post_form(path, {"password": "blue-harbour-42", "confirm": "blue-harbour-42"})
    assert done.status_code == 302
    assert done.headers["Location"].endswith("/desk")
    assert browser.get("/desk").status_code == 200  # logged in, as staff
    assert desk.is_claimed(reload(nina))
    used = new_client().get(path)
    assert used.status_code == 302
    assert used.headers["Location"].endswith("/account/login")
    assert auth.authenticate("nina@example.com", "blue-harbour-42").id == nina.id


def test_someone_the_desk_registered_gives_an_email_when_claiming(client, clinic):
    person = desk.register_person(clinic["staff"], desk.NewPerson("Omar Phoneonly",
                                                                  "+919811100009"))
    path = f"/account/claim/{auth.make_invite_token(person)}"
    form = page_text(client.get(path))
    assert 'name="email"' in form
    assert "Your email address" in form
    missing = client.post_form(path, {"password": "blue-harbour-42",
                                      "confirm": "blue-harbour-42"})
    assert missing.status_code == 422
    assert field_error(missing, "email")
    done = client.post_form(path, {"email": "Omar@Example.com", "password": "blue-harbour-42",
                                   "confirm": "blue-harbour-42"})
    assert done.status_code == 302
    assert reload(person).email == "omar@example.com"
    # An invitation is not a reset link, nor the other way round.
    assert client.get(f"/account/claim/{auth.make_reset_token(person)}").status_code == 302
    with pytest.raises(auth.InvalidToken):
        auth.user_for_reset_token(auth.make_invite_token(person))


def test_an_invitation_lives_a_week(client, clinic, frozen_clock, factory):
    nina = desk.invite_staff(clinic["admin"], "Nina Later", "nina.later@example.com")
    token = auth.make_invite_token(nina)
    frozen_clock.advance(timedelta(days=6, hours=23))
    assert auth.user_for_invite_token(token).id == nina.id
    frozen_clock.advance(timedelta(hours=2))
    with pytest.raises(auth.InvalidToken, match="expired"):
        auth.user_for_invite_token(token)


# --- who may open the desk ------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["patient", "doctor"])
def test_the_desk_pages_are_for_staff_and_admins(client, clinic, who):
    user = clinic["patients"][0] if who == "patient" else clinic["doctor"].user
    as_(client, user)
    for url in ("/desk", "/desk/patients?q=gopal", "/desk/walk-in",
                f"/desk/print/{clinic['doctor'].id}", f"/desk/book?slot={clinic['slots'][6].id}"):
        assert client.get(url).status_code == 403, url
    refused = client.post_form(f"/desk/appointments/{clinic['booked'][0].id}/check-in")
    assert refused.status_code == 403
    assert client.get("/admin/staff").status_code == 403


def test_staff_land_on_the_board_and_see_the_desks_navigation(client, clinic):
    response = client.post_form("/account/login", {"email": clinic["staff"].email,
                                                   "password": PASSWORD})
    assert response.headers["Location"].endswith("/desk")
    page = page_text(client.get("/desk"))
    nav = page[page.index('aria-label="Main"'):page.index("</nav>")]
    for label in ("Day board", "Find a patient", "Walk-in", "Queues"):
        assert f">{label}</a>" in nav, label
    assert "/admin/staff" not in nav
    assert client.get("/admin/staff").status_code == 403
