"""The waitlist in a real browser (Chromium): patient B joins a doctor's waitlist from the
doctor's page; patient A, in another browser, cancels their paid booking; the freed time is
offered to B, whose notification centre shows it; B taps the offer, takes it and reaches the
payment step.

Events travel as in production, only synchronously: the test thread runs the outbox relay and
then works the RQ queues in burst mode, a few rounds (the cancellation's consumers record the
offer's event, whose consumer notifies B). The live server shares this process, its database
and its frozen clock: Monday 7 December 2026, 06:00 in Kolkata. Every wait is an `expect`.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from rq import Queue

from portal import events
from portal.extensions import db
from portal.jobqueue import AppWorker, redis_connection
from tests.factories import MONDAY_MORNING, PASSWORD, book

pytestmark = pytest.mark.e2e

NOT_THE_LOGIN_PAGE = re.compile(r"^(?!.*/account/login)")
APPOINTMENT_PAGE = re.compile(r"/appointments/[0-9a-f-]{36}$")


def log_in(page: Page, email: str) -> None:
    page.goto("/account/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(NOT_THE_LOGIN_PAGE, wait_until="load")


def flash(page: Page, text: str):
    return page.get_by_role("status").filter(has_text=text)


def settle(app, redis_url: str) -> None:
    """What the relay and a worker do in production, now, in this thread: a few rounds, as
    one event's consumers record further events (CANCELLED -> WAITLIST_OFFERED -> notices)."""
    connection = redis_connection(redis_url)
    for _ in range(3):
        events.relay_pending()
        worker = AppWorker([Queue(name, connection=connection)
                            for name in app.config["RQ_QUEUES"]], connection=connection)
        worker.app = app
        worker.work(burst=True)
    db.session.expire_all()


@pytest.fixture
def clinic(factory, frozen_clock, razorpay, twilio, app, redis_url):
    """Dr. Meera Iyer: ₹500 video consultations 09:00-12:00 on weekdays. Anil Rao (patient A)
    has booked and paid for Tuesday 10:00; Pat Kumar (patient B) would like a Tuesday
    morning. The sandbox captures payments and processes refunds at once."""
    frozen_clock.freeze(MONDAY_MORNING)
    razorpay.control("POST", "/settings", {"auto_capture": True, "auto_process_refunds": True})
    doctor = factory.create_doctor(name="Dr. Meera Iyer", email="meera@example.com",
                                   specialty="Dermatology", fee_video_paise=50_000,
                                   fee_in_person_paise=None,
                                   hours=factory.weekly_hours("09:00", "12:00", "VIDEO"))
    anil = factory.create_patient(name="Anil Rao", email="anil@example.com", sms=False)
    factory.create_patient(name="Pat Kumar", email="pat@example.com", sms=False)
    tuesday_ten = next(s for s in factory.free_slots(doctor)
                       if s.start_at.isoformat().startswith("2026-12-08T04:30"))
    booked = book(anil, tuesday_ten, paid=True, razorpay=razorpay)
    settle(app, redis_url)  # the booking's own messages, before anyone waits
    return {"doctor": doctor, "booked": booked}


def test_a_cancelled_time_is_offered_to_the_waitlist_and_taken_up_to_payment(
        page: Page, new_context, clinic, app, redis_url, razorpay):
    doctor = clinic["doctor"]

    # Patient B: nothing suits on the doctor's page, so they join the waitlist.
    log_in(page, "pat@example.com")
    page.goto(f"/doctors/{doctor.id}")
    picker = page.get_by_role("region", name="Book a consultation")
    expect(picker.get_by_text("None of these times suit you?")).to_be_visible()
    picker.get_by_role("button", name="Join the waitlist").click()  # a link styled as one
    expect(page.get_by_role("heading", name="Join Dr. Meera Iyer's waitlist", level=1)) \
        .to_be_visible()
    expect(page.get_by_role("textbox", name="From", exact=True)).to_have_value("2026-12-07")
    expect(page.get_by_role("textbox", name="To", exact=True)).to_have_value("2026-12-13")
    page.get_by_role("textbox", name="From", exact=True).fill("2026-12-08")
    page.get_by_role("textbox", name="To", exact=True).fill("2026-12-08")
    page.get_by_role("group", name="Preferred times of day").get_by_label("Morning").check()
    page.get_by_role("button", name="Join the waitlist").click()
    expect(flash(page, "You are on Dr. Meera Iyer's waitlist from 08 Dec to 08 Dec.")) \
        .to_be_visible()
    waiting = page.get_by_role("list", name="Your waitlists").get_by_role("listitem")
    expect(waiting).to_have_count(1)
    expect(waiting).to_contain_text("Dr. Meera Iyer")
    expect(waiting).to_contain_text("Morning")

    # Patient A, in a browser of their own, cancels Tuesday 10:00.
    other = new_context()
    anil = other.new_page()
    log_in(anil, "anil@example.com")
    anil.goto(f"/appointments/{clinic['booked'].id}")
    anil.get_by_role("button", name="Cancel appointment").click()
    expect(anil.get_by_role("heading", name="Cancel this appointment?", level=1)).to_be_visible()
    anil.get_by_role("button", name="Cancel appointment").click()
    expect(flash(anil, "Your appointment is cancelled.")).to_be_visible()

    # The worker's step: the cancellation's consumers offer the time; B is told.
    settle(app, redis_url)

    # B's notification centre has the offer; B taps it.
    page.goto("/notifications/")
    inbox = page.get_by_role("list", name="Notifications, newest first")
    offer = inbox.get_by_role("listitem").filter(has_text="A time is free")
    expect(offer).to_contain_text("Dr. Meera Iyer, Tue 08 Dec 2026, 10:00.")
    offer.get_by_role("link", name="A time is free").click()

    expect(page).to_have_url(re.compile(r"/waitlist/offers/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", name="A time has come free", level=1)).to_be_visible()
    expect(page.get_by_text("Tue 08 Dec 2026, 10:00")).to_be_visible()
    expect(page.get_by_role("timer")).to_have_text(re.compile(r"^1[45]:\d\d$"))  # it ticks
    page.get_by_role("button", name="Take it").click()

    # A normal hold of the freed time, and then payment as usual.
    expect(page).to_have_url(APPOINTMENT_PAGE)
    expect(page.get_by_role("heading", name="Complete your booking", level=1)).to_be_visible()
    expect(page.get_by_role("region", name="Booking summary")).to_contain_text(
        "Tuesday 08 December 2026")
    page.get_by_role("button", name="Pay ₹500 securely").click()
    expect(page).to_have_url(re.compile(re.escape(razorpay.url)))
    expect(page.get_by_role("button", name="Pay ₹500.00 (succeeds)")).to_be_visible()
    other.close()
