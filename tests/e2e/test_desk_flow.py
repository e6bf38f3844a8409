"""The front desk on a tablet (1024x768) in Chromium, and the patient's live place in the queue.

The desk finds a patient by phone number, books a paid in-person consultation for them, takes
the fee in cash and checks them in; in a second browser the patient's appointment page says
where they are in the queue, and when the doctor (a third browser) calls the person ahead the
page says "You are next" without being reloaded.

The server's clock is frozen on Monday 7 December 2026, 07:00 in Kolkata, where everyone lives
(the live server shares the process's clock). Every wait is an `expect`, never a sleep; the one
that waits for the appointment page's own refresh (every 10 seconds) allows for two rounds.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from portal.queue import service as queue
from portal.roles import Role
from tests.factories import MONDAY_MORNING, PASSWORD, book

pytestmark = pytest.mark.e2e

TABLET = {"width": 1024, "height": 768}
NOT_THE_LOGIN_PAGE = re.compile(r"^(?!.*/account/login)")
APPOINTMENT_PAGE = re.compile(r"/appointments/([0-9a-f-]{36})$")
POLL_ROUNDS_MS = 25_000  # the appointment page polls its queue panel every 10 s


def log_in(page: Page, email: str) -> None:
    page.goto("/account/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(NOT_THE_LOGIN_PAGE, wait_until="load")


def flash(page: Page, text: str | re.Pattern):
    return page.locator("#messages").get_by_text(text)


@pytest.fixture
def clinic(factory, frozen_clock, razorpay):
    """Dr. Meera Iyer sees patients in person for ₹800, 09:00-12:00 on weekdays. Arjun booked
    and paid for 09:00 online and is checked in (token 1); Pat Kumar has an account but no
    booking; Rita is at the desk."""
    frozen_clock.freeze(MONDAY_MORNING)
    razorpay.control("POST", "/settings", {"auto_capture": True, "auto_process_refunds": True})
    doctor = factory.create_doctor(name="Dr. Meera Iyer", email="meera@example.com",
                                   specialty="Dermatology", fee_in_person_paise=80_000,
                                   fee_video_paise=None,
                                   hours=factory.weekly_hours("09:00", "12:00", "IN_PERSON"))
    staff = factory.create_user(Role.STAFF, name="Rita Reception", email="rita@example.com")
    patient = factory.create_patient(name="Pat Kumar", email="pat@example.com")
    ahead = factory.create_patient(name="Arjun Ahead")
    first = book(ahead, factory.first_free_slot(doctor), paid=True, razorpay=razorpay)
    frozen_clock.advance(timedelta(hours=1))  # 07:00: check-in is open for the morning
    queue.check_in(staff, first.id)
    return {"doctor": doctor, "patient": patient}


def test_the_desk_books_takes_cash_checks_in_and_the_patient_sees_the_queue_move(
        new_context, clinic):
    desk = new_context(viewport=TABLET, has_touch=True).new_page()
    log_in(desk, "rita@example.com")
    expect(desk.get_by_role("heading", name="Day board", level=1)).to_be_visible()

    # Find Pat by the last digits of their phone number (the results come as the desk types).
    desk.get_by_role("navigation", name="Main").get_by_role("link", name="Find a patient").click()
    desk.get_by_label("Name, phone number or email").fill(clinic["patient"].phone[-6:])
    results = desk.get_by_role("region", name="Search results")
    expect(results.get_by_role("row").filter(has_text="Pat Kumar")).to_be_visible()
    # Links styled as buttons (role="button", as elsewhere in the portal).
    results.get_by_role("button", name="Book a time for Pat Kumar").click()

    # The board, booking for Pat: 09:30 with Dr. Meera Iyer.
    expect(desk.get_by_role("status").filter(has_text="Booking for Pat Kumar")).to_be_visible()
    desk.get_by_role("button", name="Book 09:30 with Dr. Meera Iyer for Pat Kumar").click()
    expect(desk.get_by_role("heading", name="For Pat Kumar")).to_be_visible()
    expect(desk.get_by_text("₹800")).to_be_visible()
    desk.get_by_role("button", name="Book for Pat Kumar").click()

    expect(desk).to_have_url(APPOINTMENT_PAGE)
    appointment_url = desk.url
    expect(flash(desk, re.compile(r"^Held Mon 07 Dec, 09:30 with Dr\. Meera Iyer for Pat "
                                  r"Kumar\."))).to_be_visible()

    # Cash at the counter: the booking is confirmed.
    panel = desk.get_by_role("region", name="Queue and desk")
    panel.get_by_role("button", name=re.compile(r"^Pay at desk")).click()
    expect(desk.get_by_role("heading", name="Pay at the desk", level=1)).to_be_visible()
    desk.get_by_label("How did they pay?").select_option(label="Cash")
    desk.get_by_label("Receipt or transaction number").fill("R-1001")
    desk.get_by_role("button", name="Record the payment").click()
    expect(desk).to_have_url(appointment_url)
    expect(flash(desk, re.compile(r"₹800 paid in cash"))).to_be_visible()
    expect(desk.get_by_role("heading", name="Appointment", level=1)).to_be_visible()

    # Pat is at the counter: checked in, token 2.
    desk.get_by_role("region", name="Queue and desk").get_by_role(
        "button", name="Check in").click()
    expect(flash(desk, "Checked in Pat Kumar: token 2.")).to_be_visible()

    # Pat's own page, in another browser: second in line.
    patient = new_context().new_page()
    log_in(patient, "pat@example.com")
    patient.goto(appointment_url)
    place = patient.get_by_role("region", name="Your place in the queue")
    expect(place).to_contain_text("Your token is 2.")
    expect(place).to_contain_text("You are 2nd in line;")
    patient.evaluate("() => { window.sameDocument = true; }")

    # The doctor calls Arjun (token 1) in.
    doctor = new_context().new_page()
    log_in(doctor, "meera@example.com")
    doctor.get_by_role("navigation", name="Main").get_by_role("link", name="Queue").click()
    expect(doctor.get_by_role("heading", name="Queue: Dr. Meera Iyer")).to_be_visible()
    doctor.get_by_role("button", name=re.compile(r"^Call next")).click()
    expect(flash(doctor, "Token 1 (Arjun Ahead) called in.")).to_be_visible()

    # Pat's page moves on by itself.
    expect(place).to_contain_text("You are next;", timeout=POLL_ROUNDS_MS)
    assert patient.evaluate("() => window.sameDocument") is True, "the page was reloaded"
