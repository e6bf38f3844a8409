"""Minimum necessary in messages: SMS and push name no doctor, specialty or reason, whatever an
admin's template asks for; an email does only while its template's `include_details` is on.

Notifications are made by the outbox consumers called directly on the booking's events (what
the worker does), and read back from `notification_logs`, which holds what was sent; one SMS
goes through the Twilio stand-in to show the words that reach a phone.
"""

from __future__ import annotations

import re
import uuid

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import select

from portal.appointments import service as appointments
from portal.events import OutboxEvent
from portal.extensions import db
from portal.notifications.context import sample_context
from portal.notifications.defaults import DEFAULTS
from portal.notifications.models import Channel, NotificationLog, NotificationTemplate
from portal.notifications.preferences import update_preferences
from portal.notifications.reactions import on_appointment_event
from portal.notifications.templates import (
    SENSITIVE_VARIABLES,
    MessageTemplate,
    render_message,
    save_template,
    template_source,
)
from portal.transactions import write
from tests.factories import MONDAY_MORNING
from tests.integration.support import page_text, sync
from tests.integration.test_notifications import settle

SPECIALTY = "Psychiatry"
DOCTOR = "Dr. Vikram Sen"
REASON = "Panic attacks since March"
GREEDY = ("{{ clinic_name }}: {{ doctor_name }} ({{ specialty }}) on {{ start }} for "
          "{{ visit_reason }}{{ reason }} {{ doctor_url }}")


@pytest.fixture
def clinic(factory, frozen_clock):
    """A psychiatrist with free video consultations; a patient with SMS on; an admin."""
    frozen_clock.freeze(MONDAY_MORNING)
    doctor = factory.create_doctor(name=DOCTOR, specialty=SPECIALTY, fee_video_paise=0,
                                   fee_in_person_paise=None, booking_window_days=4,
                                   hours=factory.weekly_hours("09:00", "13:00", "VIDEO"))
    return {"doctor": doctor, "patient": factory.create_patient(name="Pat Kumar"),
            "admin": factory.create_admin(), "slots": factory.free_slots(doctor)}


def confirm(clinic, index: int = 0):
    """A confirmed appointment with a reason for the visit, and its CONFIRMED event handled."""
    held = appointments.reserve(clinic["patient"], clinic["slots"][index].id, reason=REASON)
    appointment = appointments.confirm(held.id, actor_id=clinic["patient"].id)
    on_appointment_event(_event(appointment.id, "CONFIRMED"))
    return appointment


def _event(aggregate_id: uuid.UUID, event_type: str) -> OutboxEvent:
    return db.session.scalars(select(OutboxEvent).where(
        OutboxEvent.aggregate_id == aggregate_id, OutboxEvent.event_type == event_type)).one()


def sent(user, channel: Channel) -> NotificationLog:
    sync()
    return db.session.scalars(select(NotificationLog).where(
        NotificationLog.user_id == user.id, NotificationLog.channel == channel.value,
        NotificationLog.type == "APPOINTMENT_CONFIRMED")).one()


def names_nothing_sensitive(text: str) -> bool:
    return not any(secret in text for secret in (SPECIALTY, DOCTOR, REASON, "/doctors/"))


# --- SMS and push ------------------------------------------------------------------------------


def test_an_sms_confirmation_names_neither_the_specialty_nor_the_reason(clinic):
    appointment = confirm(clinic)

    sms = sent(clinic["patient"], Channel.SMS)
    assert sms.body == ("Your appointment at CareConnect Clinic on Mon 07 Dec 2026, 09:00 is "
                        f"confirmed. Details: http://127.0.0.1:5000/appointments/{appointment.id}")
    assert names_nothing_sensitive(sms.body)
    # What is stored with the row is what the message was allowed to know.
    assert all(sms.context[name] == "" for name in SENSITIVE_VARIABLES)
    assert "ics_appointment_id" not in sms.context


def test_an_sms_names_neither_even_when_an_admin_template_asks_for_them(clinic):
    save_template("APPOINTMENT_CONFIRMED", "SMS", "en", "", GREEDY, clinic["admin"])
    appointment = confirm(clinic)

    sms = sent(clinic["patient"], Channel.SMS)
    assert sms.body == "CareConnect Clinic:  () on Mon 07 Dec 2026, 09:00 for"
    assert names_nothing_sensitive(sms.body)
    # The same event's email and in-app message still carry the details.
    assert SPECIALTY in sent(clinic["patient"], Channel.EMAIL).body
    assert DOCTOR in sent(clinic["patient"], Channel.IN_APP).body
    assert appointment.reason_for_visit == REASON


def test_the_words_that_reach_the_phone_name_no_doctor(app, clinic, twilio, mailbox):
    save_template("APPOINTMENT_CONFIRMED", "SMS", "en", "", GREEDY, clinic["admin"])
    update_preferences(clinic["patient"], channels_={"EMAIL": {"APPOINTMENT_CONFIRMED": False}})
    held = appointments.reserve(clinic["patient"], clinic["slots"][1].id, reason=REASON)
    appointments.confirm(held.id, actor_id=clinic["patient"].id)
    settle(app)

    (text,) = [m for m in mailbox.list(channel="sms") if clinic["patient"].phone in m.to]
    assert text.text.startswith("CareConnect Clinic:  () on Mon 07 Dec 2026, 09:30")
    assert names_nothing_sensitive(text.text)


@pytest.mark.parametrize("channel", ["SMS", "PUSH"])
def test_sms_and_push_empty_the_sensitive_variables_whatever_the_template_says(app_ctx, channel):
    context = sample_context()
    rendered, allowed = render_message(
        MessageTemplate("{{ doctor_name }}", GREEDY, include_details=True), channel, context)

    assert rendered.subject == ""
    for name in SENSITIVE_VARIABLES:
        assert context[name], f"the sample data has a {name}"
        assert allowed[name] == ""
    assert "Dr. Asha Mehta" not in rendered.text
    assert "General Medicine" not in rendered.text
    assert "Cough for a week" not in rendered.text
    assert "Doctor unavailable" not in rendered.text


@pytest.mark.parametrize("language", ["en", "hi"])
def test_the_default_sms_and_push_words_use_no_sensitive_variable(language):
    for kind, by_channel in DEFAULTS[language].items():
        for channel in ("SMS", "PUSH"):
            if channel not in by_channel:
                continue
            words = " ".join(by_channel[channel])
            used = set(re.findall(r"{{\s*(\w+)", words)) | set(
                re.findall(r"{%\s*if\s+(\w+)", words))
            assert not used & set(SENSITIVE_VARIABLES), (kind, channel, language, used)


def test_a_hindi_sms_confirmation_is_natural_and_names_no_doctor(clinic):
    update_preferences(clinic["patient"], language="hi")
    appointment = confirm(clinic)

    sms = sent(clinic["patient"], Channel.SMS)
    assert sms.body == (f"CareConnect Clinic में Mon 07 Dec 2026, 09:00 की आपकी अपॉइंटमेंट पक्की "
                        f"हो गई है। विवरण: http://127.0.0.1:5000/appointments/{appointment.id}")


# --- email ------------------------------------------------------------------------------------


def test_an_email_carries_the_details_by_default(clinic):
    confirm(clinic)

    email = sent(clinic["patient"], Channel.EMAIL)
    assert f"{DOCTOR} ({SPECIALTY})" in email.body
    assert email.context["ics_appointment_id"]  # the calendar invitation is attached
    doctor_mail = db.session.scalars(select(NotificationLog).where(
        NotificationLog.user_id == clinic["doctor"].user.id,
        NotificationLog.channel == "EMAIL")).one()
    assert f"Reason for the visit: {REASON}" in doctor_mail.body


def test_an_email_template_with_include_details_off_drops_them(clinic):
    save_template("APPOINTMENT_CONFIRMED", "EMAIL", "en", "Booked with {{ doctor_name }}",
                  "With {{ doctor_name }} ({{ specialty }}) at {{ start }}. {{ visit_reason }}",
                  clinic["admin"], include_details=False)
    confirm(clinic)

    email = sent(clinic["patient"], Channel.EMAIL)
    assert email.subject == "Booked with"
    assert email.body == "With  () at Mon 07 Dec 2026, 09:00."
    assert names_nothing_sensitive(email.subject + email.body)
    # No calendar invitation either: it names the doctor, the specialty and the reason.
    assert "ics_appointment_id" not in email.context


def test_an_email_without_details_goes_out_without_the_invitation(app, clinic, mailbox):
    save_template("APPOINTMENT_CONFIRMED", "EMAIL", "en", "Your booking",
                  "See you at {{ start }}, {{ doctor_name }}.", clinic["admin"],
                  include_details=False)
    held = appointments.reserve(clinic["patient"], clinic["slots"][2].id, reason=REASON)
    appointments.confirm(held.id, actor_id=clinic["patient"].id)
    settle(app)

    (message,) = [m for m in mailbox.list() if clinic["patient"].email in m.to
                  and m.subject == "Your booking"]
    assert message.text.startswith("See you at Mon 07 Dec 2026, 10:00, .")
    assert "appointment.ics" not in message.meta.get("attachments", [])
    assert names_nothing_sensitive(message.text + (message.html or ""))


# --- the editor --------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, clinic):
    client.login(clinic["admin"].email)
    return client


def test_the_sms_editor_says_the_details_are_always_left_empty(admin_client):
    text = page_text(admin_client.get(
        "/admin/notifications/templates/APPOINTMENT_CONFIRMED/SMS/en"))

    assert "SMS messages are read on locked screens and shared phones" in text
    assert "are always left empty here, whatever the words say" in text
    assert 'name="include_details"' not in text


def test_the_email_editor_has_the_include_details_checkbox_ticked_by_default(admin_client):
    text = page_text(admin_client.get(
        "/admin/notifications/templates/APPOINTMENT_CONFIRMED/EMAIL/en"))

    assert re.search(r'<input[^>]*checked[^>]*name="include_details"|'
                     r'<input[^>]*name="include_details"[^>]*checked', text)
    assert "no calendar invitation is attached" in text
    # The preview on sample data shows the details while it is ticked.
    assert "Dr. Asha Mehta (General Medicine)" in text


def test_unticking_include_details_is_saved_and_previewed(admin_client, app_ctx):
    url = "/admin/notifications/templates/APPOINTMENT_CONFIRMED/EMAIL/en"
    body = "{{ doctor_name }} ({{ specialty }}): {{ visit_reason }}"

    preview = admin_client.post_form("/admin/notifications/templates/preview", {
        "channel": "EMAIL", "subject": "Hi", "body_text": body})
    saved = admin_client.post_form(url, {"subject": "Hi", "body_text": body, "action": "save"})

    assert '<pre class="preview-body">():</pre>' in page_text(preview)
    assert saved.status_code == 302
    sync()
    row = db.session.scalars(select(NotificationTemplate)).one()
    assert row.include_details is False
    page = page_text(admin_client.get(url))
    assert not re.search(r'<input[^>]*checked[^>]*name="include_details"', page)
    assert '<pre class="preview-body">():</pre>' in page
    assert "Edited" in page_text(admin_client.get("/admin/notifications/templates"))


def test_an_sms_template_saved_by_the_editor_keeps_include_details_on(admin_client, app_ctx):
    response = admin_client.post_form(
        "/admin/notifications/templates/APPOINTMENT_CONFIRMED/SMS/en",
        {"body_text": "{{ specialty }} at {{ start }}", "action": "save"})

    assert response.status_code == 302
    sync()
    row = db.session.scalars(select(NotificationTemplate)).one()
    assert row.include_details is True  # meaningless on SMS: never carried there
    preview = page_text(admin_client.get(
        "/admin/notifications/templates/APPOINTMENT_CONFIRMED/SMS/en"))
    assert '<pre class="preview-body">at Mon 07 Dec 2026, 09:00</pre>' in preview


# --- templates stored before ------------------------------------------------------------------

OLD_SMS = ("{{ clinic_name }}: your appointment with {{ doctor_name }} on {{ start }} is "
           "confirmed.{% if video_link %} Video link: {{ video_link }}{% endif %}")
# The words seeded between video consultations and this change.
OLD_VIDEO_ERA_SMS = ("Reminder: {{ doctor_name }} {{ when }} ({{ start }}).{% if is_video %} Open "
                     "your appointment to join the video call.{% endif %}")


def test_stored_copies_of_the_old_default_words_get_the_new_ones(app_ctx):
    """Migration 0014: a row seeded with the retired SMS words (never edited) is reworded;
    an admin's own words are left alone."""
    with write() as session:
        session.add_all([
            NotificationTemplate(type="APPOINTMENT_CONFIRMED", channel="SMS", language="en",
                                 subject="", body_text=OLD_SMS),
            NotificationTemplate(type="APPOINTMENT_REMINDER", channel="SMS", language="en",
                                 subject="", body_text=OLD_VIDEO_ERA_SMS),
            NotificationTemplate(type="APPOINTMENT_CANCELLED", channel="SMS", language="en",
                                 subject="", body_text="Cancelled: {{ doctor_name }}")])
    db.session.remove()
    downgrade(revision="0013_privacy")  # data only: the schema is the same
    upgrade()

    assert template_source("APPOINTMENT_CONFIRMED", "SMS", "en") == (
        "", DEFAULTS["en"]["APPOINTMENT_CONFIRMED"]["SMS"][1])
    assert template_source("APPOINTMENT_REMINDER", "SMS", "en") == (
        "", DEFAULTS["en"]["APPOINTMENT_REMINDER"]["SMS"][1])
    assert template_source("APPOINTMENT_CANCELLED", "SMS", "en") == (
        "", "Cancelled: {{ doctor_name }}")
