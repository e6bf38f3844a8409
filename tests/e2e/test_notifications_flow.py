"""Notifications in a real browser (Chromium): a patient books a free consultation, sees the
confirmation in the header's notification centre and the inbox, finds the email in the dev
mailbox, and turns SMS reminders off.

Events travel as in production, only synchronously: the test thread runs the outbox relay and
then works the RQ queues in burst mode (the live server shares this process, its database and
its frozen clock). Email goes to the SMTP sink and SMS through the real twilio client to the
Twilio stand-in; both show up in /dev/mailbox. Every wait is an `expect` that retries, never a
sleep.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from rq import Queue

from portal import events
from portal.extensions import db
from portal.jobqueue import AppWorker, redis_connection
from portal.notifications.preferences import channel_enabled, preferences_for
from tests.factories import MONDAY_MORNING, PASSWORD

pytestmark = pytest.mark.e2e

NOT_THE_LOGIN_PAGE = re.compile(r"^(?!.*/account/login)")


def log_in(page: Page, email: str) -> None:
    page.goto("/account/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(NOT_THE_LOGIN_PAGE, wait_until="load")


def main_nav(page: Page):
    return page.get_by_role("navigation", name="Main")


def bell(page: Page):
    """The header's link to the notification centre (its name carries the unread count)."""
    return main_nav(page).get_by_role("link", name=re.compile(r"^Notifications\b"))


def flash(page: Page, text: str):
    return page.get_by_role("status").filter(has_text=text)


def deliver_events(app, redis_url: str) -> None:
    """What the relay and a worker do in production, now, in this thread."""
    events.relay_pending()
    connection = redis_connection(redis_url)
    worker = AppWorker([Queue(name, connection=connection) for name in app.config["RQ_QUEUES"]],
                       connection=connection)
    worker.app = app
    worker.work(burst=True)
    db.session.expire_all()


@pytest.fixture
def clinic(factory, frozen_clock, twilio):
    """Dr. Asha Rao with free in-person consultations on weekday mornings; Pat Kumar."""
    frozen_clock.freeze(MONDAY_MORNING)
    doctor = factory.create_doctor(name="Dr. Asha Rao", email="asha@example.com",
                                   fee_video_paise=None, fee_in_person_paise=0)
    patient = factory.create_patient(name="Pat Kumar", email="pat@example.com")
    return {"doctor": doctor, "patient": patient}


def hold_the_first_free_time(page: Page, clinic) -> None:
    """Hold Monday 09:00 in the doctor page's picker: the hold's page opens."""
    page.goto(f"/doctors/{clinic['doctor'].id}")
    slot = page.get_by_role("region", name="Book a consultation").get_by_role(
        "button", name=re.compile(r"^09:00 In person Free"))
    expect(slot).to_be_enabled()
    slot.click()
    expect(page.get_by_role("heading", name="Complete your booking", level=1)).to_be_visible()


def refresh_the_bell(page: Page) -> None:
    """What the 30-second poll does, now (returns once the count has come back)."""
    with page.expect_response(re.compile(r"/notifications/count$")):
        page.evaluate("() => htmx.trigger(document.body, 'notifications-changed')")


def test_a_patient_is_notified_of_a_booking_and_turns_sms_reminders_off(
        page: Page, clinic, app, redis_url, frozen_clock):
    log_in(page, "pat@example.com")
    expect(bell(page)).to_have_accessible_name("Notifications")  # nothing yet

    hold_the_first_free_time(page, clinic)
    # Nothing is sent from the request itself: the event waits in the outbox.
    refresh_the_bell(page)
    expect(bell(page)).to_have_accessible_name("Notifications")
    deliver_events(app, redis_url)
    # The bell refreshes on `notifications-changed` (and every 30 s) without a reload.
    refresh_the_bell(page)
    expect(bell(page)).to_have_accessible_name("Notifications 1 unread")

    frozen_clock.advance(timedelta(minutes=1))
    page.get_by_role("button", name="Confirm booking").click()
    expect(flash(page, "Your booking is confirmed.")).to_be_visible()
    deliver_events(app, redis_url)
    refresh_the_bell(page)
    expect(bell(page)).to_have_accessible_name("Notifications 2 unread")
    main_nav(page).get_by_label("Latest notifications").click()
    latest = main_nav(page).get_by_role("list").filter(has_text="See all notifications")
    expect(latest.get_by_role("link", name=re.compile(r"^Unread: Appointment confirmed"))) \
        .to_be_visible()
    expect(latest.get_by_role("link", name=re.compile(r"^Unread: Slot held"))).to_be_visible()

    # The inbox: newest first, unread ones marked in words.
    latest.get_by_role("link", name="See all notifications").click()
    expect(page.get_by_role("heading", name="Notifications", level=1)).to_be_visible()
    inbox = page.get_by_role("list", name="Notifications, newest first")
    expect(inbox.get_by_role("heading", level=2)).to_have_text([
        re.compile(r"Unread Appointment confirmed$"), re.compile(r"Unread Slot held$")])
    confirmed = inbox.get_by_role("listitem").filter(has_text="Appointment confirmed")
    expect(confirmed).to_contain_text(
        "Your appointment with Dr. Asha Rao on Mon 07 Dec 2026, 09:00 is confirmed.")
    confirmed.get_by_role("button", name="Mark as read: Appointment confirmed").click()
    expect(page.get_by_role("status").filter(has_text="Marked as read.")).to_be_visible()
    expect(inbox.get_by_role("heading", level=2)).to_have_text([
        "Appointment confirmed", re.compile(r"Unread Slot held$")])
    expect(bell(page)).to_have_accessible_name("Notifications 1 unread")
    # Its link leads to the appointment.
    inbox.get_by_role("link", name="Appointment confirmed").click()
    expect(page.get_by_role("heading", name="Your booking is confirmed", level=1)).to_be_visible()

    # The confirmation email, in the dev mailbox.
    page.goto("/dev/mailbox?channel=email")
    email = page.get_by_role("article").filter(
        has=page.get_by_role("heading", name="Your appointment with Dr. Asha Rao is confirmed"))
    expect(email).to_have_count(1)
    expect(email).to_contain_text("pat@example.com")
    expect(email).to_contain_text("is confirmed for Mon 07 Dec 2026, 09:00 (Asia/Kolkata)")
    # And the SMS, through the Twilio stand-in, to the patient's phone.
    page.goto("/dev/mailbox?channel=sms")
    # It names no doctor (minimum necessary): the time, and a link to the details.
    sms = page.get_by_role("article").filter(has_text="Your appointment at CareConnect Clinic")
    expect(sms).to_have_count(1)
    expect(sms).to_contain_text(clinic["patient"].phone)
    expect(sms).to_contain_text("on Mon 07 Dec 2026, 09:00 is confirmed. Details: ")
    expect(sms).not_to_contain_text("Dr. Asha Rao")

    # Settings: SMS reminders off.
    page.goto("/notifications/settings")
    sms_reminders = page.get_by_role("checkbox", name="Reminders by SMS")
    expect(sms_reminders).to_be_checked()
    receipts = page.get_by_role("checkbox", name="Payment receipts by Email")
    expect(receipts).to_be_checked()
    expect(receipts).to_be_disabled()
    expect(receipts).to_have_accessible_description("Receipts always go by email")
    sms_reminders.uncheck()
    page.get_by_role("button", name="Save settings").click()

    expect(flash(page, "Your notification settings are saved.")).to_be_visible()
    expect(page.get_by_role("checkbox", name="Reminders by SMS")).not_to_be_checked()
    expect(page.get_by_role("checkbox", name="Reminders by Email")).to_be_checked()
    db.session.commit()  # a fresh snapshot of what the request saved
    prefs = preferences_for(clinic["patient"].id)
    assert not channel_enabled(prefs, "SMS", "APPOINTMENT_REMINDER")
    assert channel_enabled(prefs, "EMAIL", "APPOINTMENT_REMINDER")
