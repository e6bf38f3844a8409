"""Profiles and families as pages: your profile and email address, your family, whom an
appointment is for (on the hold page, in the doctor's list, in the patient's history and
receipts), and the doctor's profile with what a change did to their slots."""

from __future__ import annotations

import re
import uuid
from datetime import date
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from portal.appointments import service as appointments
from portal.appointments.models import Appointment
from portal.auth.models import User
from portal.doctors.models import Doctor
from portal.extensions import db
from portal.family import service as family
from portal.family.models import Dependent
from tests.factories import MONDAY_MORNING, PASSWORD, pay
from tests.integration.support import field_error, page_text, reload, sync

CONFIRM_LINK = re.compile(r"https?://[^\s\"<>]+/account/email/confirm/[^\s\"<>]+")
MIRA_BORN = date(2020, 3, 15)  # 6 on Monday 7 December 2026


@pytest.fixture
def world(factory, frozen_clock):
    """Pat Kumar, a patient; Dr. Asha Rao with free in-person and ₹500 video consultations;
    another patient; an admin. The clock stands at Monday 7 December 2026, 06:00 IST."""
    frozen_clock.freeze(MONDAY_MORNING)
    doctor = factory.create_doctor(name="Dr. Asha Rao", fee_video_paise=50_000,
                                   fee_in_person_paise=0)
    return {"doctor": doctor, "patient": factory.create_patient(name="Pat Kumar"),
            "other_patient": factory.create_patient(name="Ravi Menon"),
            "admin": factory.create_admin(),
            "in_person": factory.free_slots(doctor, "IN_PERSON"),
            "video": factory.free_slots(doctor, "VIDEO")}


def add_mira(patient: User) -> Dependent:
    return family.add_dependent(patient, family.DependentData(
        "Mira Kumar", "CHILD", MIRA_BORN, "FEMALE"))


def logged_in_as(client, user: User):
    client.login(user.email)
    return client


# --- your profile --------------------------------------------------------------------------------


def test_the_profile_page_shows_the_details_and_links_to_the_password_and_family(client, world):
    logged_in_as(client, world["patient"])

    page = client.get("/account/profile")

    text = page_text(page)
    assert page.status_code == 200
    assert 'value="Pat Kumar"' in text
    assert 'value="' + world["patient"].phone + '"' in text
    assert "International format, e.g. +919876543210" in text
    assert '<option selected value="Asia/Kolkata">Asia/Kolkata</option>' in text
    assert '<option lang="hi" value="hi">हिन्दी</option>' in text
    assert 'href="/account/password"' in text
    assert 'href="/account/family"' in text
    assert "Change your email" in text


def test_the_profile_form_saves_name_phone_zone_and_language(client, world):
    patient = world["patient"]
    logged_in_as(client, patient)

    response = client.post_form("/account/profile", {
        "name": "Pat R. Kumar", "phone": "+44 7911 123456", "timezone": "Europe/London",
        "language": "hi"})

    assert response.status_code == 303
    assert response.headers["Location"] == "/account/profile"
    assert "Your profile is saved." in page_text(client.get("/account/profile"))
    saved = reload(patient)
    assert (saved.name, saved.phone, saved.timezone, saved.language) == (
        "Pat R. Kumar", "+447911123456", "Europe/London", "hi")


def test_the_profile_form_puts_each_error_on_its_field_with_422(client, world):
    patient = world["patient"]
    logged_in_as(client, patient)

    response = client.post_form("/account/profile", {
        "name": "Pat Kumar", "phone": "98765", "timezone": "Mars/Olympus", "language": "fr"})

    assert response.status_code == 422
    assert "international format" in field_error(response, "phone")
    assert field_error(response, "timezone")
    assert field_error(response, "language") == "Choose English (en) or Hindi (hi)."
    assert 'aria-invalid="true"' in page_text(response)
    assert reload(patient).phone != "98765"


# --- changing the email address ------------------------------------------------------------------


def request_change(client, new_email: str, password: str = PASSWORD):
    return client.post_form("/account/email", {"email_change-email": new_email,
                                               "email_change-password": password})


def confirm_path(mailbox, new_email: str) -> str:
    message = next(m for m in mailbox.list() if m.to == [new_email])
    assert message.subject == "Confirm your new email address"
    link = CONFIRM_LINK.search(message.text).group(0)
    assert link in message.html
    return urlsplit(link).path


def test_changing_the_email_sends_a_link_to_the_new_address_and_tells_the_old_one(
        client, world, mailbox, app):
    patient = world["patient"]
    old_email = patient.email
    logged_in_as(client, patient)

    response = request_change(client, "pat.new@example.com")

    assert response.status_code == 303
    flashed = page_text(client.get("/account/profile"))
    assert "We sent a link to pat.new@example.com." in flashed
    messages = mailbox.list()
    assert sorted(m.to[0] for m in messages) == sorted([old_email, "pat.new@example.com"])
    notice = next(m for m in messages if m.to == [old_email])
    assert notice.subject == "Your email address is being changed"
    assert "pat.new@example.com" in notice.text
    assert "/account/email/confirm/" not in notice.text  # the link goes only to the new address
    path = confirm_path(mailbox, "pat.new@example.com")
    assert CONFIRM_LINK.search(next(m for m in messages if m.to == ["pat.new@example.com"])
                               .text).group(0).startswith(app.config["PUBLIC_URL"])
    assert path.startswith("/account/email/confirm/")
    assert reload(patient).email == old_email  # nothing changes until the link is used


def test_a_wrong_password_or_a_taken_address_changes_nothing_and_sends_nothing(
        client, world, mailbox):
    patient = world["patient"]
    logged_in_as(client, patient)

    wrong = request_change(client, "pat.new@example.com", "not-my-password-1")
    taken = request_change(client, world["other_patient"].email)

    assert wrong.status_code == 422
    assert field_error(wrong, "email_change-password") == "Your current password is not right."
    assert taken.status_code == 422
    assert "already" in field_error(taken, "email_change-email")
    assert len(mailbox) == 0


def test_the_confirmation_link_changes_the_email_only_when_its_button_is_pressed(
        client, new_client, world, mailbox):
    patient = world["patient"]
    old_email = patient.email
    logged_in_as(client, patient)
    request_change(client, "pat.new@example.com")
    path = confirm_path(mailbox, "pat.new@example.com")
    scanner = new_client()  # a mail scanner, or the person on another device: not logged in

    shown = scanner.get(path)
    shown_again = scanner.get(path)

    assert shown.status_code == shown_again.status_code == 200
    assert "Confirm pat.new@example.com" in page_text(shown)
    assert reload(patient).email == old_email

    done = client.post_form(path)

    assert done.status_code == 303
    assert done.headers["Location"] == "/account/profile"
    assert "Your email address is now pat.new@example.com." in page_text(
        client.get("/account/profile"))
    assert reload(patient).email == "pat.new@example.com"
    assert new_client().login("pat.new@example.com")

    used = scanner.get(path)
    assert used.status_code == 400
    assert "already been used" in page_text(used)
    assert 'href="/account/login?next=/account/profile"' in page_text(used)


def test_a_bad_confirmation_link_says_so_and_points_to_the_profile(client, world):
    logged_in_as(client, world["patient"])

    get = client.get("/account/email/confirm/not-a-token")
    post = client.post_form("/account/email/confirm/not-a-token")

    assert get.status_code == post.status_code == 400
    assert "This confirmation link is not valid." in page_text(get)
    assert 'href="/account/profile"' in page_text(post)


# --- the family page -----------------------------------------------------------------------------


def test_the_family_page_starts_empty_and_adds_a_member(client, world):
    patient = world["patient"]
    logged_in_as(client, patient)

    empty = client.get("/account/family")
    added = client.post_form("/account/family", {
        "name": "Mira Kumar", "relation": "CHILD", "date_of_birth": "2020-03-15",
        "sex": "FEMALE"})

    assert "No family members yet — add a child or a parent to book for them." in page_text(empty)
    assert added.status_code == 303
    page = page_text(client.get("/account/family"))
    assert "Mira Kumar is added to your family." in page
    row = re.search(r"<tr>\s*<th scope=\"row\"[^>]*>Mira Kumar</th>(.*?)</tr>", page, re.S)
    assert row, page
    assert ">Child<" in row.group(1)
    assert ">6 years<" in row.group(1)
    assert "15 March 2020" in row.group(1)
    assert "No family members yet" not in page
    [mira] = family.dependents_of(patient)
    assert (mira.relation, mira.sex, mira.date_of_birth) == ("CHILD", "FEMALE", MIRA_BORN)


def test_adding_a_family_member_shows_errors_on_the_fields(client, world):
    logged_in_as(client, world["patient"])

    missing = client.post_form("/account/family", {"name": "", "relation": "", "sex": ""})
    future = client.post_form("/account/family", {
        "name": "Baby", "relation": "CHILD", "date_of_birth": "2027-01-01", "sex": "MALE"})

    assert missing.status_code == 422
    assert field_error(missing, "name") == "Enter their name."
    assert field_error(missing, "relation") == "Choose how they are related to you."
    assert field_error(missing, "sex") == "Choose female, male or other."
    assert future.status_code == 422
    assert field_error(future, "date_of_birth") == "The date of birth cannot be in the future."
    assert family.dependents_of(world["patient"]) == []


def test_a_family_member_is_edited_on_their_own_page(client, world):
    mira = add_mira(world["patient"])
    logged_in_as(client, world["patient"])

    form = client.get(f"/account/family/{mira.id}/edit")
    saved = client.post_form(f"/account/family/{mira.id}/edit", {
        "name": "Mira R. Kumar", "relation": "CHILD", "date_of_birth": "2019-03-15",
        "sex": "FEMALE"})

    assert form.status_code == 200
    assert 'value="Mira Kumar"' in page_text(form)
    assert '<option selected value="CHILD">Child</option>' in page_text(form)
    assert 'value="2020-03-15"' in page_text(form)
    assert saved.status_code == 303
    assert "Mira R. Kumar's details are saved." in page_text(client.get("/account/family"))
    assert (reload(mira).name, mira.date_of_birth) == ("Mira R. Kumar", date(2019, 3, 15))


def test_another_patients_family_member_is_not_found(client, world):
    mira = add_mira(world["patient"])
    logged_in_as(client, world["other_patient"])

    assert client.get(f"/account/family/{mira.id}/edit").status_code == 404
    assert client.post_form(f"/account/family/{mira.id}/remove").status_code == 404
    assert reload(mira).removed_at is None


def test_removing_a_family_member(client, world):
    mira = add_mira(world["patient"])
    logged_in_as(client, world["patient"])

    mira_id = mira.id

    response = client.post_form(f"/account/family/{mira_id}/remove")

    assert response.status_code == 303
    page = page_text(client.get("/account/family"))
    assert "Mira Kumar is removed from your family." in page
    assert "No family members yet" in page
    sync()
    # No visits, so nothing to keep for the history: the row is gone.
    assert db.session.scalar(select(Dependent.id).where(Dependent.id == mira_id)) is None


def test_a_family_member_with_an_upcoming_appointment_cannot_be_removed(client, world):
    mira = add_mira(world["patient"])
    appointments.reserve(world["patient"], world["in_person"][3].id, for_dependent_id=mira.id)
    logged_in_as(client, world["patient"])

    response = client.post_form(f"/account/family/{mira.id}/remove", follow_redirects=True)

    text = page_text(response)
    assert "Mira Kumar has upcoming appointments; cancel them before removing them from your " \
           "family." in text
    assert 'class="flash flash-error" role="alert"' in text
    assert reload(mira).removed_at is None
    assert family.dependents_of(world["patient"]) == [mira]


# --- whom the appointment is for ----------------------------------------------------------------


def test_the_hold_page_asks_whom_the_appointment_is_for(client, world):
    patient = world["patient"]
    mira = add_mira(patient)
    held = appointments.reserve(patient, world["in_person"][0].id)
    logged_in_as(client, patient)

    page = page_text(client.get(f"/appointments/{held.id}"))

    assert "Who is this appointment for?" in page
    assert f'action="/appointments/{held.id}/visit-for"' in page
    assert '<option selected value="">Myself (Pat Kumar)</option>' in page
    assert f'<option value="{mira.id}">Mira Kumar (child, 6)</option>' in page

    saved = client.post_form(f"/appointments/{held.id}/visit-for",
                             {"for_dependent_id": str(mira.id)}, follow_redirects=True)

    text = page_text(saved)
    assert "This appointment is for Mira Kumar." in text
    assert re.search(r"<dt>For</dt><dd>Mira Kumar <span class=\"muted\">\(child, 6 years\)",
                     text)
    assert f'<option selected value="{mira.id}">' in text
    assert reload(held).for_dependent_id == mira.id

    client.post_form(f"/appointments/{held.id}/visit-for", {"for_dependent_id": ""})
    assert reload(held).for_dependent_id is None


def test_without_family_the_hold_page_offers_to_add_a_member(client, world):
    held = appointments.reserve(world["patient"], world["in_person"][0].id)
    logged_in_as(client, world["patient"])

    page = page_text(client.get(f"/appointments/{held.id}"))

    assert "Who is this appointment for?" not in page
    assert '<a href="/account/family">Add a family member</a>' in page


def test_nobody_else_can_say_whom_an_appointment_is_for(client, new_client, world):
    patient, other = world["patient"], world["other_patient"]
    held = appointments.reserve(patient, world["in_person"][0].id)
    others_child = family.add_dependent(other, family.DependentData(
        "Kabir Menon", "CHILD", date(2021, 1, 1), "MALE"))
    logged_in_as(client, patient)

    foreign = client.post_form(f"/appointments/{held.id}/visit-for",
                               {"for_dependent_id": str(others_child.id)},
                               follow_redirects=True)
    not_theirs = logged_in_as(new_client(), other).post_form(f"/appointments/{held.id}/visit-for",
                                  {"for_dependent_id": str(others_child.id)})

    assert "No such family member." in page_text(foreign)
    assert not_theirs.status_code == 404
    assert reload(held).for_dependent_id is None


def test_the_reserve_form_can_book_for_a_family_member(client, world):
    patient = world["patient"]
    mira = add_mira(patient)
    slot = world["in_person"][0]
    logged_in_as(client, patient)

    response = client.post_form("/appointments/reserve", {
        "slot_id": str(slot.id), "idempotency_key": str(uuid.uuid4()),
        "doctor_id": str(slot.doctor_id), "day": "2026-12-07",
        "for_dependent_id": str(mira.id)})

    assert response.status_code == 303
    sync()
    held = db.session.scalar(select(Appointment).where(Appointment.slot_id == slot.id))
    assert held.for_dependent_id == mira.id


def test_the_doctor_sees_the_childs_name_and_age_and_who_booked(client, world):
    patient = world["patient"]
    mira = add_mira(patient)
    held = appointments.reserve(patient, world["in_person"][0].id, for_dependent_id=mira.id,
                                reason="Fever since Friday")
    appointments.confirm(held.id, actor_id=patient.id)
    logged_in_as(client, world["doctor"].user)

    practice = page_text(client.get("/appointments/practice"))
    detail = page_text(client.get(f"/appointments/{held.id}"))

    row = re.search(rf'<tr id="appt-{held.id}">(.*?)</tr>', practice, re.S).group(1)
    assert "<strong>Mira Kumar</strong>, 6 years" in row
    assert "booked by Pat Kumar, her parent" in row
    assert "Fever since Friday" in row
    assert re.search(r"<dt>Patient</dt><dd><strong>Mira Kumar</strong>, 6 years\s+— booked by "
                     r"Pat Kumar, her parent</dd>", detail)
    assert "Who is this appointment for?" not in detail


def test_the_patients_history_payments_and_receipt_say_whom_the_visit_was_for(
        client, world, razorpay):
    patient = world["patient"]
    mira = add_mira(patient)
    held = appointments.reserve(patient, world["video"][0].id, for_dependent_id=mira.id)
    payment = pay(patient, held, razorpay)
    logged_in_as(client, patient)

    listed = page_text(client.get("/appointments/"))
    payments = page_text(client.get("/payments/"))
    receipt = page_text(client.get(f"/payments/{payment.id}/receipt"))

    assert '<div class="appt-for">For: Mira Kumar</div>' in listed
    assert "For: Mira Kumar" in payments
    assert "<dt>For</dt><dd>Mira Kumar</dd>" in receipt
    assert re.search(r"Billed to</h2>\s*<p>Pat Kumar<br>", receipt)


# --- the doctor's profile page -------------------------------------------------------------------


def profile_form(doctor: Doctor, **changes) -> dict:
    """The form as the page fills it, with `changes`; a change to None leaves a field out
    (an unticked checkbox)."""
    data = {
        "name": doctor.name, "specialty": doctor.specialty,
        "qualifications": doctor.qualifications, "bio": doctor.bio,
        "languages": doctor.languages,
        "offers_video": "y" if doctor.fee_video_paise is not None else None,
        "fee_video": "" if doctor.fee_video_paise is None else str(doctor.fee_video_paise / 100),
        "offers_in_person": "y" if doctor.fee_in_person_paise is not None else None,
        "fee_in_person": "" if doctor.fee_in_person_paise is None
        else str(doctor.fee_in_person_paise / 100),
        "slot_minutes": str(doctor.slot_minutes), "buffer_minutes": str(doctor.buffer_minutes),
        "booking_window_days": str(doctor.booking_window_days),
        "min_notice_minutes": str(doctor.min_notice_minutes), "timezone": doctor.timezone,
    }
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


def test_the_doctor_profile_page_shows_the_settings_with_fees_in_rupees(client, world):
    logged_in_as(client, world["doctor"].user)

    page = page_text(client.get("/practice/profile"))

    assert "Your practice profile" in page
    assert re.search(r'<input [^>]*id="fee_video"[^>]* value="500.00"', page)
    assert re.search(r'<input [^>]*id="fee_in_person"[^>]* value="0.00"', page)
    assert re.search(r'checked id="offers_video"|id="offers_video"[^>]*checked', page)
    assert "Offer in-person consultations" in page
    assert '<option selected value="Asia/Kolkata">' in page


def test_a_new_fee_applies_to_new_holds_and_existing_bookings_keep_theirs(client, world):
    doctor = world["doctor"]
    held = appointments.reserve(world["patient"], world["video"][0].id)
    logged_in_as(client, doctor.user)

    response = client.post_form("/practice/profile", profile_form(doctor, fee_video="600"))

    assert response.status_code == 303
    assert response.headers["Location"] == "/practice/profile"
    page = page_text(client.get("/practice/profile"))
    assert "The profile is saved." in page
    assert "Fee changed: new holds are charged ₹600 for video consultations; existing " \
           "bookings keep their price." in page
    assert reload(doctor).fee_video_paise == 60_000
    assert reload(held).fee_paise == 50_000
    assert "Fee changed" not in page_text(client.get("/practice/profile"))  # said once


def test_the_doctor_profile_shows_errors_on_the_fields(client, world):
    doctor = world["doctor"]
    logged_in_as(client, doctor.user)

    bad = client.post_form("/practice/profile", profile_form(
        doctor, name="", fee_video="-5", slot_minutes="500", fee_in_person="12.345"))
    nothing = client.post_form("/practice/profile", profile_form(
        doctor, offers_video=None, offers_in_person=None))
    hostile = [client.post_form("/practice/profile", profile_form(doctor, fee_video=amount))
               for amount in ("NaN", "sNaN", "-Infinity", "1e400")]

    assert bad.status_code == 422
    assert field_error(bad, "name") == "Enter the name."
    assert field_error(bad, "fee_video") == "A fee cannot be negative."
    assert field_error(bad, "fee_in_person") == "Use at most two decimal places (paise)."
    assert nothing.status_code == 422
    assert field_error(nothing, "fee_video") == "Offer at least one kind of consultation."
    assert [r.status_code for r in hostile] == [422] * 4
    assert [field_error(r, "fee_video") for r in hostile] == [
        "Enter an amount in rupees, e.g. 500."] * 3 + ["A fee can be at most ₹1,00,000."]
    assert reload(doctor).fee_video_paise == 50_000


def test_a_new_time_zone_lists_the_booked_times_now_outside_the_hours(client, world):
    doctor, patient = world["doctor"], world["patient"]
    tuesday_nine = world["in_person"][6]  # Tuesday 09:00 in Kolkata = 03:30 in London
    booked = appointments.reserve(patient, tuesday_nine.id)
    appointments.confirm(booked.id, actor_id=patient.id)
    logged_in_as(client, doctor.user)

    response = client.post_form("/practice/profile", profile_form(
        doctor, timezone="Europe/London"), follow_redirects=True)

    text = page_text(response)
    assert response.status_code == 200
    assert "Time zone changed to Europe/London" in text
    assert "1 appointment now outside your hours" in text
    assert "Tuesday 8 December 2026, 03:30–04:00, In person" in text
    assert f'href="/practice/slots/{tuesday_nine.id}"' in text
    assert 'href="/practice/calendar"' in text
    assert reload(doctor).timezone == "Europe/London"
    assert reload(booked).start_at == tuesday_nine.start_at


def test_an_admin_edits_a_doctors_profile_by_naming_them(client, world):
    doctor = world["doctor"]
    logged_in_as(client, world["admin"])

    unnamed = client.get("/practice/profile")
    page = client.get(f"/practice/profile?doctor={doctor.id}")
    saved = client.post_form(f"/practice/profile?doctor={doctor.id}",
                             profile_form(doctor, specialty="Paediatrics"))
    listed = page_text(client.get("/admin/doctors"))

    assert unnamed.status_code == 302
    assert f'action="/practice/profile?doctor={doctor.id}"' in page_text(page)
    assert saved.status_code == 303
    assert saved.headers["Location"] == f"/practice/profile?doctor={doctor.id}"
    assert reload(doctor).specialty == "Paediatrics"
    assert f'href="/practice/profile?doctor={doctor.id}"' in listed
