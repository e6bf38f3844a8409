"""The HTML forms and search boxes fed hostile input: overlong (10,000 characters), malformed
(wrong types, impossible dates and times, negative and huge numbers, NUL characters, bidi
overrides and emoji) and script-bearing values.

Every answer is a 4xx or the form again with a clear error, never a 500. What is accepted and
shown again is escaped: the raw `<script>` never reaches a page, its escaped text does. A
rejected submit writes nothing (row counts and stored values are unchanged).

NUL characters are refused once for every route, with a 400 naming the field
(`portal.errors.reject_nul_bytes`); the tests here check the forms get that answer.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.appointments.models import Appointment
from portal.auth import service as auth
from portal.auth.models import User
from portal.availability.models import AvailabilityOverride, WeeklyAvailability
from portal.doctors.models import Doctor
from portal.extensions import db
from portal.notifications.models import NotificationTemplate, UserNotificationPreferences
from portal.payments.models import Refund
from tests.factories import MONDAY_MORNING
from tests.integration.support import PASSWORD, count, field_error, page_text, reload, sync

OVERLONG = "x" * 10_000
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
MARKUP = f"{SCRIPT}{IMG}"
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"
NUL = "Asha\x00Rao"
BIDI_EMOJI = "\u202eoaR ahsA\u202c \U0001f469\u200d\u2695\ufe0f"


def body(response) -> str:
    return response.get_data(as_text=True)


def assert_inert(response) -> None:
    """No hostile markup reaches the page as markup."""
    html = body(response)
    assert response.status_code < 500, html[:500]
    assert SCRIPT not in html
    assert "<img src=x" not in html


def assert_escaped(response) -> None:
    """The script-bearing value is on the page, as text."""
    assert_inert(response)
    assert ESCAPED_SCRIPT in body(response)


def assert_nul_refused(response) -> None:
    assert response.status_code == 400
    text = page_text(response)
    assert "NUL characters" in text, text[:500]
    assert_inert(response)


def flashes(response) -> str:
    return page_text(response)


# --- people and data ---------------------------------------------------------------------------


@pytest.fixture
def clinic(factory, frozen_clock):
    """Dr. Asha Rao (video ₹500, in person free), a patient holding an in-person slot, a
    patient with a confirmed one, and an admin."""
    frozen_clock.freeze(MONDAY_MORNING)
    doctor = factory.create_doctor(name="Dr. Asha Rao", email="asha@example.com",
                                   fee_video_paise=50_000, fee_in_person_paise=0)
    patient = factory.create_patient(name="Pat Kumar", email="pat@example.com")
    free = factory.free_slots(doctor)
    held = factory.book(patient, doctor=doctor, kind="IN_PERSON")
    confirmed = factory.book(patient, doctor=doctor, kind="IN_PERSON", confirm=True)
    admin = factory.create_admin(email="boss@example.com")
    return {"doctor": doctor, "patient": patient, "admin": admin, "held": held,
            "confirmed": confirmed, "free": free}


@pytest.fixture
def as_patient(client, clinic):
    client.login("pat@example.com")
    return client


@pytest.fixture
def as_doctor(client, clinic):
    client.login("asha@example.com")
    return client


@pytest.fixture
def as_admin(client, clinic):
    client.login("boss@example.com")
    return client


@pytest.fixture
def new_client(app):
    """Another browser: `new_client()` gives a client with an empty cookie jar."""
    return lambda: app.test_client()


# --- registration and log in -------------------------------------------------------------------

REGISTRATION = {"name": "Nila Menon", "email": "nila@example.com", "phone": "+919812345678",
                "timezone": "Asia/Kolkata", "password": "a-fine-passphrase", "accept_terms": "y"}


@pytest.mark.parametrize(("field", "value"), [
    ("name", OVERLONG), ("email", OVERLONG), ("phone", OVERLONG), ("password", OVERLONG),
    ("timezone", OVERLONG), ("email", "not-an-email"), ("email", "a@b@c"),
    ("phone", "12345"), ("phone", "+91-abc"), ("timezone", "Mars/Olympus"),
    ("timezone", "../../etc/passwd"), ("password", "short"), ("name", ""), ("name", "   "),
])
def test_registration_refuses_overlong_and_malformed_values_on_the_field(client, app_ctx,
                                                                        field, value):
    users = count(User)

    response = client.post_form("/account/register", {**REGISTRATION, field: value})

    assert response.status_code == 422
    assert field_error(response, field), f"no error shown on {field}"
    assert count(User) == users


def test_registration_refuses_nul_and_writes_nothing(client, app_ctx):
    users = count(User)

    response = client.post_form("/account/register", {**REGISTRATION, "name": NUL})

    assert_nul_refused(response)
    assert count(User) == users


def test_a_script_bearing_name_is_redisplayed_escaped(client, app_ctx):
    response = client.post_form("/account/register",
                                {**REGISTRATION, "name": MARKUP, "email": "nope"})

    assert response.status_code == 422
    assert_escaped(response)


def test_a_script_bearing_name_is_accepted_and_always_shown_escaped(client, app_ctx):
    response = client.post_form("/account/register", {**REGISTRATION, "name": MARKUP})
    assert response.status_code == 302

    welcome = client.get(response.headers["Location"])  # "Welcome, <name>" is flashed
    assert_escaped(welcome)
    sync()
    assert db.session.scalar(select(User.name).where(User.email == "nila@example.com")) == MARKUP


def test_bidi_and_emoji_names_are_kept_as_written(client, app_ctx):
    response = client.post_form("/account/register", {**REGISTRATION, "name": BIDI_EMOJI})

    assert response.status_code == 302
    sync()
    assert db.session.scalar(select(User.name).where(User.email == "nila@example.com")) == \
        BIDI_EMOJI


@pytest.mark.parametrize(("email", "password", "field", "message"), [
    (OVERLONG, "x", "email", "Field cannot be longer than 254 characters."),
    ("pat@example.com", OVERLONG, "password", "Field cannot be longer than 128 characters."),
    ("", "", "email", "This field is required."),
])
def test_login_refuses_hostile_values_on_the_field(client, clinic, email, password, field,
                                                   message):
    response = client.post_form("/account/login", {"email": email, "password": password})

    assert response.status_code == 422
    assert message in field_error(response, field)
    assert_inert(response)


def test_login_refuses_nul(client, clinic):
    response = client.post_form("/account/login", {"email": "pat@example.com",
                                                   "password": f"{PASSWORD}\x00"})
    assert_nul_refused(response)


def test_login_redisplays_a_script_bearing_email_escaped(client, clinic):
    response = client.post_form("/account/login", {"email": MARKUP, "password": "x"})

    assert response.status_code == 422
    assert "The email or password is not right" in page_text(response)
    assert_escaped(response)


@pytest.mark.parametrize(("email", "message"), [
    (OVERLONG, "Field cannot be longer than 254 characters."), ("", "This field is required."),
    (MARKUP, None), (BIDI_EMOJI, None),
])
def test_forgot_password_answers_hostile_emails_clearly_and_sends_nothing(client, clinic,
                                                                          mailbox, email,
                                                                          message):
    response = client.post_form("/account/forgot", {"email": email})

    assert_inert(response)
    if message:
        assert message in field_error(response, "email")
    else:  # the same answer as for any unknown address
        assert response.status_code == 302
    assert mailbox.list() == []


def test_forgot_password_refuses_nul(client, clinic):
    assert_nul_refused(client.post_form("/account/forgot", {"email": "pat\x00@example.com"}))


def test_a_hostile_reset_token_goes_back_to_the_forgot_page(client, clinic):
    for token in (OVERLONG, "not-a-token", SCRIPT.replace("/", ""), BIDI_EMOJI):
        response = client.get(f"/account/reset/{token}")
        assert response.status_code == 302, token[:50]
        assert response.headers["Location"].endswith("/account/forgot")
    assert client.get("/account/reset/..%2F..%2Fadmin").status_code == 404
    assert_nul_refused(client.get("/account/reset/abc%00def"))


def test_reset_refuses_overlong_and_mismatched_passwords(client, clinic, app_ctx):
    patient = clinic["patient"]
    token = auth.make_reset_token(patient)
    hashed = patient.password_hash

    for password, confirm in ((OVERLONG, OVERLONG), ("a-fine-passphrase", "another-one-22"),
                              ("short", "short")):
        response = client.post_form(f"/account/reset/{token}",
                                    {"password": password, "confirm": confirm})
        assert response.status_code == 422
        assert field_error(response, "password") or field_error(response, "confirm")
    assert_nul_refused(client.post_form(f"/account/reset/{token}",
                                        {"password": NUL, "confirm": NUL}))
    assert reload(patient).password_hash == hashed


def test_change_password_refuses_hostile_values_and_keeps_the_old_one(as_patient, clinic,
                                                                      app_ctx):
    patient = clinic["patient"]
    hashed = patient.password_hash
    cases = [
        ({"current_password": PASSWORD, "password": OVERLONG, "confirm": OVERLONG}, "password"),
        ({"current_password": OVERLONG, "password": "a-fine-passphrase",
          "confirm": "a-fine-passphrase"}, "current_password"),
        ({"current_password": PASSWORD, "password": "password", "confirm": "password"},
         "password"),
    ]
    for data, field in cases:
        response = as_patient.post_form("/account/password", data)
        assert response.status_code == 422
        assert field_error(response, field), field
    assert_nul_refused(as_patient.post_form("/account/password", {
        "current_password": PASSWORD, "password": NUL, "confirm": NUL}))
    assert reload(patient).password_hash == hashed


# --- admin: new doctor -------------------------------------------------------------------------

NEW_DOCTOR = {
    "name": "Dr. Meera Pillai", "email": "meera@example.com", "phone": "+919845012345",
    "password": "stethoscope-77", "specialty": "Endocrinology", "qualifications": "MBBS",
    "languages": "English, Malayalam", "bio": "Diabetes care.", "timezone": "Asia/Kolkata",
    "slot_minutes": "20", "fee_video": "600", "fee_in_person": "",
}


@pytest.mark.parametrize(("field", "value"), [
    ("name", OVERLONG), ("specialty", OVERLONG), ("qualifications", OVERLONG),
    ("languages", OVERLONG), ("bio", OVERLONG), ("email", OVERLONG), ("phone", OVERLONG),
    ("password", OVERLONG), ("timezone", "Mars/Olympus"),
    ("slot_minutes", "-5"), ("slot_minutes", "abc"), ("slot_minutes", "0"),
    ("slot_minutes", "99999999999999999999999"), ("slot_minutes", "1e309"),
    ("fee_video", "-1"), ("fee_video", "abc"), ("fee_video", "NaN"), ("fee_video", "1e309"),
    ("fee_video", "99999999999999999999999"), ("fee_in_person", "-0.5"),
])
def test_a_new_doctor_with_hostile_values_is_refused_on_the_field(as_admin, app_ctx, field,
                                                                 value):
    users, doctors = count(User), count(Doctor)

    response = as_admin.post_form("/admin/doctors/new", {**NEW_DOCTOR, field: value})

    assert response.status_code == 422
    assert field_error(response, field), f"no error on {field}"
    assert_inert(response)
    assert (count(User), count(Doctor)) == (users, doctors)


def test_a_new_doctor_with_nul_is_refused(as_admin, app_ctx):
    doctors = count(Doctor)
    assert_nul_refused(as_admin.post_form("/admin/doctors/new", {**NEW_DOCTOR, "bio": NUL}))
    assert count(Doctor) == doctors


def test_a_doctor_named_with_markup_is_listed_escaped(as_admin, app_ctx):
    response = as_admin.post_form("/admin/doctors/new", {
        **NEW_DOCTOR, "name": f"Dr. {MARKUP}", "specialty": MARKUP, "bio": MARKUP})
    assert response.status_code == 302

    assert_escaped(as_admin.get("/admin/doctors"))
    assert_escaped(as_admin.get("/doctors/"))
    doctor = db.session.scalar(select(Doctor).where(Doctor.specialty == MARKUP))
    assert_escaped(as_admin.get(f"/doctors/{doctor.id}"))


# --- the doctor's weekly hours and overrides ---------------------------------------------------


def _hours(start="09:00", end="12:00", minutes="30", buffer="0", effective="2026-12-08",
           kind="IN_PERSON") -> dict:
    return {"effective_from": effective, "save": "1", "monday-0-start": start,
            "monday-0-end": end, "monday-0-consultation_type": kind,
            "monday-0-slot_minutes": minutes, "monday-0-buffer_minutes": buffer}


def _weekly_rows() -> list[tuple]:
    sync()
    return [tuple(r) for r in db.session.execute(select(
        WeeklyAvailability.weekday, WeeklyAvailability.start_time, WeeklyAvailability.end_time,
        WeeklyAvailability.effective_from, WeeklyAvailability.effective_to)).all()]


@pytest.mark.parametrize(("data", "field"), [
    (_hours(start="25:99"), "monday-0-start"),
    (_hours(start=OVERLONG), "monday-0-start"),
    (_hours(end="noon"), "monday-0-end"),
    (_hours(start="12:00", end="09:00"), "monday-0-end"),
    (_hours(minutes="-5"), "monday-0-slot_minutes"),
    (_hours(minutes="abc"), "monday-0-slot_minutes"),
    (_hours(minutes="99999999999999999999999"), "monday-0-slot_minutes"),
    (_hours(buffer="-1"), "monday-0-buffer_minutes"),
    (_hours(buffer="1e309"), "monday-0-buffer_minutes"),
    (_hours(effective="not-a-date"), "effective_from"),
    (_hours(effective="2026-02-30"), "effective_from"),
    (_hours(effective="0001-01-01"), "effective_from"),
    (_hours(effective=OVERLONG), "effective_from"),
    (_hours(kind=MARKUP), "monday-0-consultation_type"),
])
def test_weekly_hours_refuse_hostile_values_and_keep_the_schedule(as_doctor, app_ctx, data,
                                                                  field):
    before = _weekly_rows()

    response = as_doctor.post_form("/practice/hours", data)

    assert response.status_code == 422
    assert field_error(response, field), f"no error on {field}"
    assert_inert(response)
    assert _weekly_rows() == before


def test_weekly_hours_far_in_the_future_do_not_break(as_doctor, app_ctx):
    response = as_doctor.post_form("/practice/hours", _hours(effective="9999-12-31"))

    assert response.status_code in (302, 422)
    assert_inert(response)


def test_weekly_hours_refuse_nul_and_unknown_buttons(as_doctor, app_ctx):
    before = _weekly_rows()
    assert_nul_refused(as_doctor.post_form("/practice/hours", _hours(start="09:\x0000")))
    bogus = as_doctor.post_form("/practice/hours", {**_hours(), "add_range": MARKUP})
    assert bogus.status_code == 400
    assert_inert(bogus)
    removed = as_doctor.post_form("/practice/hours", {**_hours(), "remove_range": MARKUP})
    assert removed.status_code == 200
    assert_inert(removed)
    assert _weekly_rows() == before


def _overrides() -> int:
    return count(AvailabilityOverride)


@pytest.mark.parametrize(("data", "field"), [
    ({"off-kind": "OFF", "off-start_date": "2026-13-45"}, "off-start_date"),
    ({"off-kind": "OFF", "off-start_date": OVERLONG}, "off-start_date"),
    ({"off-kind": "OFF", "off-start_date": "2026-12-10", "off-end_date": "2026-12-09"},
     "off-start_date"),
    ({"off-kind": "OFF", "off-start_date": "2026-12-10", "off-end_date": "9999-12-31"},
     "off-start_date"),
    ({"off-kind": "OFF", "off-start_date": "2026-12-10", "off-reason": OVERLONG},
     "off-reason"),
    ({"custom-kind": "CUSTOM", "custom-start_date": "2026-12-10", "custom-start": "99:99",
      "custom-end": "12:00", "custom-consultation_type": "VIDEO",
      "custom-slot_minutes": "30"}, "custom-start"),
    ({"custom-kind": "CUSTOM", "custom-start_date": "2026-12-10", "custom-start": "10:00",
      "custom-end": "12:00", "custom-consultation_type": "VIDEO",
      "custom-slot_minutes": "-30"}, "custom-slot_minutes"),
    ({"custom-kind": "CUSTOM", "custom-start_date": "2026-12-10", "custom-start": "10:00",
      "custom-end": "12:00", "custom-consultation_type": MARKUP,
      "custom-slot_minutes": "30"}, "custom-consultation_type"),
])
def test_overrides_refuse_hostile_values_and_add_nothing(as_doctor, app_ctx, data, field):
    before = _overrides()

    response = as_doctor.post_form("/practice/overrides", data)

    assert response.status_code == 422
    assert_inert(response)
    if field == "off-start_date" and not field_error(response, field):
        # A range that is backwards or too long is reported against the form as a whole.
        assert "form-errors" in body(response) or field_error(response, "off-end_date")
    else:
        assert field_error(response, field), f"no error on {field}"
    assert _overrides() == before


def test_overrides_refuse_nul_and_an_unknown_form(as_doctor, app_ctx):
    before = _overrides()
    assert_nul_refused(as_doctor.post_form("/practice/overrides", {
        "off-kind": "OFF", "off-start_date": "2026-12-10", "off-reason": NUL}))
    unknown = as_doctor.post_form("/practice/overrides", {"off-kind": MARKUP})
    assert unknown.status_code == 400
    assert_inert(unknown)
    assert _overrides() == before


def test_an_override_reason_with_markup_is_listed_escaped(as_doctor, app_ctx):
    response = as_doctor.post_form("/practice/overrides", {
        "off-kind": "OFF", "off-start_date": "2026-12-10", "off-reason": MARKUP})
    assert response.status_code == 302

    assert_escaped(as_doctor.get("/practice/overrides"))


# --- booking: reason for the visit, cancelling -------------------------------------------------


def test_an_overlong_reason_for_the_visit_is_refused_and_the_old_one_kept(as_patient, clinic,
                                                                          app_ctx):
    held = clinic["held"]
    response = as_patient.post_form(f"/appointments/{held.id}/reason", {"reason": OVERLONG},
                                    follow_redirects=True)

    assert "1000" in flashes(response)  # "Field cannot be longer than 1000 characters."
    assert reload(held).reason_for_visit == ""
    assert_nul_refused(as_patient.post_form(f"/appointments/{held.id}/reason",
                                            {"reason": NUL}))
    assert reload(held).reason_for_visit == ""


def test_a_reason_for_the_visit_with_markup_is_shown_escaped_to_patient_and_doctor(
        as_patient, clinic, new_client, app_ctx):
    held = clinic["held"]
    response = as_patient.post_form(f"/appointments/{held.id}/reason", {"reason": MARKUP})
    assert response.status_code == 302
    assert reload(held).reason_for_visit == MARKUP

    assert_escaped(as_patient.get(f"/appointments/{held.id}"))
    doctor = new_client()
    doctor.login("asha@example.com")
    assert_escaped(doctor.get(f"/appointments/{held.id}"))
    assert_escaped(doctor.get("/appointments/practice"))


def test_an_overlong_cancel_reason_is_refused_and_the_appointment_kept(as_patient, clinic,
                                                                       app_ctx):
    confirmed = clinic["confirmed"]

    response = as_patient.post_form(f"/appointments/{confirmed.id}/cancel",
                                    {"reason": OVERLONG})

    assert response.status_code == 422
    assert field_error(response, "reason")
    assert_inert(response)
    assert_nul_refused(as_patient.post_form(f"/appointments/{confirmed.id}/cancel",
                                            {"reason": NUL}))
    assert reload(confirmed).status == "CONFIRMED"


def test_a_doctors_cancel_reason_with_markup_reaches_the_patient_escaped(as_doctor, clinic,
                                                                         new_client, app_ctx):
    confirmed = clinic["confirmed"]
    refused = as_doctor.post_form(f"/appointments/{confirmed.id}/cancel", {"reason": "   "})
    assert refused.status_code == 422
    assert reload(confirmed).status == "CONFIRMED"

    response = as_doctor.post_form(f"/appointments/{confirmed.id}/cancel", {"reason": MARKUP})
    assert response.status_code == 303
    assert reload(confirmed).cancel_reason == MARKUP

    patient = new_client()
    patient.login("pat@example.com")
    assert_escaped(patient.get(f"/appointments/{confirmed.id}"))


def test_the_slot_picker_ignores_hostile_reserve_fields(as_patient, clinic, app_ctx):
    holds = count(Appointment)
    for data in ({"slot_id": MARKUP}, {"slot_id": OVERLONG},
                 {"slot_id": str(clinic["free"][5].id), "idempotency_key": OVERLONG},
                 {"slot_id": "", "doctor_id": MARKUP, "day": "9999-99-99"}):
        response = as_patient.post_form("/appointments/reserve", data)
        assert response.status_code in (303, 422), data
        assert_inert(response)
    assert count(Appointment) == holds


# --- admin: refund -----------------------------------------------------------------------------


@pytest.fixture
def captured(clinic, razorpay, factory):
    """Pat's ₹500 video consultation, paid through the Razorpay stand-in."""
    razorpay.control("POST", "/settings", {"auto_capture": True, "auto_process_refunds": True})
    video = next(s for s in clinic["free"] if s.consultation_type == "VIDEO")
    return factory.pay(clinic["patient"], factory.book(clinic["patient"], video), razorpay)


NOT_AN_AMOUNT = "Enter an amount in rupees"


@pytest.mark.parametrize(("amount", "reason", "field", "message"), [
    ("-5", "Goodwill", "amount", NOT_AN_AMOUNT), ("abc", "Goodwill", "amount", NOT_AN_AMOUNT),
    ("NaN", "Goodwill", "amount", NOT_AN_AMOUNT),
    ("Infinity", "Goodwill", "amount", NOT_AN_AMOUNT),
    ("1e309", "Goodwill", "amount", NOT_AN_AMOUNT), ("0", "Goodwill", "amount", NOT_AN_AMOUNT),
    ("10.001", "Goodwill", "amount", NOT_AN_AMOUNT),
    (OVERLONG, "Goodwill", "amount", NOT_AN_AMOUNT),
    (MARKUP, "Goodwill", "amount", NOT_AN_AMOUNT),
    ("99999999999999999999999", "Goodwill", "amount", "At most ₹500 is left to refund."),
    ("10", OVERLONG, "reason", "Field cannot be longer than 500 characters."),
    ("10", "", "reason", "Give a reason"),
])
def test_a_refund_with_hostile_values_is_refused_before_confirmation(as_admin, captured,
                                                                     amount, reason, field,
                                                                     message):
    response = as_admin.get(f"/admin/payments/{captured.id}/refund",
                            query_string={"amount": amount, "reason": reason})

    assert response.status_code == 422
    assert_inert(response)
    assert message in (field_error(response, field) or ""), page_text(response)[-3000:]
    assert count(Refund) == 0


def test_a_refund_reason_with_markup_is_confirmed_escaped(as_admin, captured):
    response = as_admin.get(f"/admin/payments/{captured.id}/refund",
                            query_string={"amount": "100", "reason": MARKUP})

    assert response.status_code == 200
    assert_escaped(response)
    assert count(Refund) == 0


def test_a_tampered_refund_confirmation_refunds_nothing(as_admin, captured):
    for data in ({"amount": "NaN", "reason": "x", "idempotency_key": "k"},
                 {"amount": "100", "reason": OVERLONG, "idempotency_key": "not-a-uuid"},
                 {"amount": "-100", "reason": "x",
                  "idempotency_key": "6f1c3b8e-0d1a-4a43-9a0b-3f8f3c1f2e11"}):
        response = as_admin.post_form(f"/admin/payments/{captured.id}/refund", data,
                                      follow_redirects=True)
        assert response.status_code == 200
        assert "nothing was refunded" in page_text(response).lower()
        assert_inert(response)
    assert_nul_refused(as_admin.post_form(f"/admin/payments/{captured.id}/refund", {
        "amount": "100", "reason": NUL,
        "idempotency_key": "6f1c3b8e-0d1a-4a43-9a0b-3f8f3c1f2e11"}))
    assert count(Refund) == 0
    assert reload(captured).refunded_paise == 0


# --- notification settings and the template editor ---------------------------------------------


def _prefs() -> list[tuple]:
    sync()
    return [tuple(r) for r in db.session.execute(select(
        UserNotificationPreferences.user_id, UserNotificationPreferences.language,
        UserNotificationPreferences.reminder_offsets)).all()]


@pytest.mark.parametrize(("data", "field"), [
    ({"language": "xx", "reminder_offsets": "60"}, "language"),
    ({"language": MARKUP, "reminder_offsets": "60"}, "language"),
    ({"language": "en", "reminder_offsets": "abc"}, "reminder_offsets"),
    ({"language": "en", "reminder_offsets": "-5"}, "reminder_offsets"),
    ({"language": "en", "reminder_offsets": "99999999999999999999"}, "reminder_offsets"),
    ({"language": "en", "reminder_offsets": OVERLONG}, "reminder_offsets"),
    ({"language": OVERLONG, "reminder_offsets": "60"}, "language"),
])
def test_notification_settings_refuse_hostile_values(as_patient, app_ctx, data, field):
    before = _prefs()

    response = as_patient.post_form("/notifications/settings", data)

    assert response.status_code == 422
    assert field_error(response, field), f"no error on {field}"
    assert_inert(response)
    assert _prefs() == before


def test_notification_settings_refuse_nul(as_patient, app_ctx):
    before = _prefs()
    assert_nul_refused(as_patient.post_form("/notifications/settings", {
        "language": "en\x00", "reminder_offsets": "60"}))
    assert _prefs() == before


EDITOR = "/admin/notifications/templates/APPOINTMENT_CONFIRMED/EMAIL/en"


def _templates() -> list[tuple]:
    sync()
    return [tuple(r) for r in db.session.execute(select(
        NotificationTemplate.type, NotificationTemplate.channel, NotificationTemplate.language,
        NotificationTemplate.subject, NotificationTemplate.body_text)).all()]


@pytest.mark.parametrize(("data", "field"), [
    ({"subject": OVERLONG, "body_text": "Hello"}, "subject"),
    ({"subject": "Hi", "body_text": ""}, "body_text"),
    ({"subject": "Hi", "body_text": "{{ unclosed"}, "body_text"),
    ({"subject": "Hi", "body_text": "{% for %}"}, "body_text"),
    ({"subject": "Hi", "body_text": "{{ ''.__class__.__mro__[1].__subclasses__() }}"},
     "body_text"),
])
def test_the_template_editor_refuses_broken_or_unsafe_templates(as_admin, app_ctx, data,
                                                                field):
    before = _templates()

    response = as_admin.post_form(EDITOR, data)

    assert response.status_code == 422
    assert field_error(response, field) or "form-errors" in body(response), field
    assert_inert(response)
    assert _templates() == before


def test_the_template_sandbox_shows_no_python_internals(as_admin, app_ctx):
    preview = as_admin.post_form("/admin/notifications/templates/preview", {
        "subject": "{{ patient_name.__init__.__globals__ }}",
        "body_text": "{{ config }} {{ self.__dict__ }} {{ cycler.__init__.__globals__.os }}"})

    assert preview.status_code == 200
    text = page_text(preview)
    for leak in ("SECRET_KEY", "test-secret-key", "<module", "<function", "__builtins__"):
        assert leak not in text


def test_the_template_editor_shows_markup_in_a_template_escaped(as_admin, app_ctx):
    preview = as_admin.post_form("/admin/notifications/templates/preview",
                                 {"subject": MARKUP, "body_text": f"Hello {MARKUP}",
                                  "channel": MARKUP})
    assert preview.status_code == 200
    assert_escaped(preview)

    saved = as_admin.post_form(EDITOR, {"subject": "Hi", "body_text": f"Hello {MARKUP}"})
    assert saved.status_code == 302
    assert_escaped(as_admin.get(EDITOR))


def test_the_template_editor_refuses_nul_and_unknown_keys(as_admin, app_ctx):
    before = _templates()
    assert_nul_refused(as_admin.post_form(EDITOR, {"subject": "Hi", "body_text": NUL}))
    for key in (f"{MARKUP.replace('/', '')}/EMAIL/en", "APPOINTMENT_CONFIRMED/EMAIL/xx",
                f"{OVERLONG}/EMAIL/en"):
        response = as_admin.get(f"/admin/notifications/templates/{key}")
        assert response.status_code == 404
        assert_inert(response)
    assert _templates() == before


# --- search boxes and list filters -------------------------------------------------------------

HOSTILE_QUERIES = [MARKUP, OVERLONG, BIDI_EMOJI, "%", "_", "\\", "' OR '1'='1", "-1",
                   "99999999999999999999999", "9999-12-31", "0001-01-01", "2026-02-30"]


@pytest.mark.parametrize("value", HOSTILE_QUERIES)
def test_the_directory_search_survives_hostile_queries(client, clinic, value):
    for params in ({"q": value}, {"specialty": value}, {"page": value}):
        response = client.get("/doctors/", query_string=params)
        assert response.status_code == 200, params
        assert_inert(response)
    picker = client.get(f"/doctors/{clinic['doctor'].id}", query_string={"day": value})
    assert picker.status_code == 200
    assert_inert(picker)


def test_the_directory_search_echoes_markup_escaped_and_refuses_nul(client, clinic):
    assert_escaped(client.get("/doctors/", query_string={"q": MARKUP}))
    assert_nul_refused(client.get("/doctors/?q=a%00b"))


ADMIN_LISTS = [
    ("/admin/doctors", ("q", "page")),
    ("/admin/notifications/", ("status", "channel", "type", "email", "page")),
    ("/admin/payments", ("from", "to", "status", "doctor", "method", "page")),
    ("/admin/payments.csv", ("from", "to", "status", "doctor", "method")),
    ("/admin/refunds", ("status", "source", "page")),
    ("/admin/payouts", ("doctor", "page")),
]


@pytest.mark.parametrize("value", HOSTILE_QUERIES)
def test_admin_lists_survive_hostile_filters(as_admin, value):
    for url, names in ADMIN_LISTS:
        for name in names:
            response = as_admin.get(url, query_string={name: value})
            assert response.status_code in (200, 422), (url, name, response.status_code)
            assert_inert(response)


def test_admin_lists_echo_markup_escaped_and_refuse_nul(as_admin):
    assert_escaped(as_admin.get("/admin/doctors", query_string={"q": MARKUP}))
    notifications = as_admin.get("/admin/notifications/", query_string={"email": MARKUP})
    assert_escaped(notifications)
    for url, names in ADMIN_LISTS:
        assert_nul_refused(as_admin.get(url, query_string={names[0]: "a\x00b"}))


@pytest.mark.parametrize("value", HOSTILE_QUERIES)
def test_the_doctors_and_patients_lists_survive_hostile_filters(as_doctor, clinic, value):
    for url, name in (("/practice/calendar", "week"), ("/practice/calendar", "day"),
                      ("/appointments/practice", "page"), ("/payments/earnings", "page"),
                      ("/notifications/", "page")):
        response = as_doctor.get(url, query_string={name: value})
        assert response.status_code in (200, 404, 422), (url, name, response.status_code)
        assert_inert(response)


def test_patient_pages_survive_hostile_query_strings(as_patient, clinic):
    for value in HOSTILE_QUERIES:
        for url, name in (("/appointments/", "scope"), ("/payments/", "page"),
                          ("/notifications/", "page"),
                          (f"/appointments/{clinic['held'].id}/reschedule", "day")):
            response = as_patient.get(url, query_string={name: value})
            assert response.status_code in (200, 409, 422), (url, name, value[:40])
            assert_inert(response)


def test_the_page_number_is_clamped_not_trusted(client, clinic):
    page = client.get("/doctors/", query_string={"page": "99999999999999999999999"})
    assert page.status_code == 200
    assert re.search(r"No doctors|no doctors|Page", page_text(page))
