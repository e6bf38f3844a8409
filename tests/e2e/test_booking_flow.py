"""Booking in a real browser (Chromium): a patient books a free consultation and cancels it,
moves a booking in the reschedule dialog; a doctor marks an appointment completed.

The server's clock (shared with the live server: same process) is frozen on Monday 7 December
2026, 06:00 in Kolkata, where everyone lives. Selectors are roles and labels; every wait is an
`expect` that retries, never a sleep.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.factories import MONDAY_MORNING, PASSWORD, book

pytestmark = pytest.mark.e2e

NOT_THE_LOGIN_PAGE = re.compile(r"^(?!.*/account/login)")


def log_in(page: Page, email: str) -> None:
    page.goto("/account/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(NOT_THE_LOGIN_PAGE, wait_until="load")


def flash(page: Page, text: str):
    return page.get_by_role("status").filter(has_text=text)


@pytest.fixture
def clinic(factory, frozen_clock):
    """Dr. Asha Rao: free in-person consultations 09:00-12:00 and ₹500 video ones 17:00-19:00
    on weekdays; Pat Kumar, a patient. Both in Asia/Kolkata."""
    frozen_clock.freeze(MONDAY_MORNING)
    doctor = factory.create_doctor(name="Dr. Asha Rao", email="asha@example.com",
                                   fee_video_paise=50_000, fee_in_person_paise=0)
    patient = factory.create_patient(name="Pat Kumar", email="pat@example.com")
    return {"doctor": doctor, "patient": patient,
            "in_person": factory.free_slots(doctor, "IN_PERSON")}


def test_a_patient_books_a_free_consultation_and_cancels_it(page: Page, clinic):
    log_in(page, "pat@example.com")

    # The doctor's page: Monday is chosen, 09:00 is the first free time.
    page.goto(f"/doctors/{clinic['doctor'].id}")
    picker = page.get_by_role("region", name="Book a consultation")
    slot = picker.get_by_role("button", name=re.compile(r"^09:00 In person Free"))
    expect(slot, "the picker of templates/doctors/detail.html must include "
                 "appointments/_slot_action.html for each free slot").to_be_enabled()
    slot.click()

    # The hold page counts down from the server's five minutes.
    expect(page).to_have_url(re.compile(r"/appointments/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", name="Complete your booking", level=1)).to_be_visible()
    expect(page.get_by_text("This time is held for you until 06:05 (Asia/Kolkata)")).to_be_visible()
    expect(page.get_by_role("timer")).to_have_text(re.compile(r"^4:5\d$"))  # it ticks
    summary = page.get_by_role("region", name="Booking summary")
    expect(summary).to_contain_text("Monday 07 December 2026")
    expect(summary).to_contain_text("09:00–09:30 (Asia/Kolkata)")
    expect(summary).to_contain_text("In person")
    page.get_by_role("button", name="Confirm booking").click()

    expect(flash(page, "Your booking is confirmed.")).to_be_visible()
    expect(page.get_by_role("heading", name="Your booking is confirmed", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Add to calendar (.ics)")).to_be_visible()

    # It is in My appointments.
    page.goto("/appointments/")
    upcoming = page.get_by_role("list", name="Upcoming appointments")
    entry = upcoming.get_by_role("listitem").filter(has_text="Mon 07 Dec 2026, 09:00")
    expect(entry).to_contain_text("Dr. Asha Rao")
    expect(entry).to_contain_text("Confirmed")

    # Cancelling shows the refund first.
    entry.get_by_role("link", name="Mon 07 Dec 2026, 09:00").click()
    page.get_by_role("button", name="Cancel appointment").click()
    expect(page.get_by_role("heading", name="Cancel this appointment?", level=1)).to_be_visible()
    refund = page.get_by_role("region", name="Refund")
    expect(refund).to_contain_text("₹0")
    expect(refund).to_contain_text("Nothing has been paid, so there is nothing to refund.")
    page.get_by_label("Reason (optional)").fill("Feeling better")
    page.get_by_role("button", name="Cancel appointment").click()

    expect(flash(page, "Your appointment is cancelled.")).to_be_visible()
    expect(page.get_by_role("heading", name="Appointment", level=1)).to_be_visible()
    expect(page.get_by_text("“Feeling better”")).to_be_visible()

    # Upcoming is empty again; the Past tab (swapped in by HTMX) has it, cancelled.
    page.goto("/appointments/")
    expect(page.get_by_text("No upcoming appointments.")).to_be_visible()
    page.get_by_role("navigation", name="Which appointments").get_by_role(
        "link", name="Past").click()
    expect(page).to_have_url(re.compile(r"/appointments/\?scope=past$"))
    past = page.get_by_role("list", name="Past appointments")
    expect(past.get_by_role("listitem")).to_have_count(1)
    expect(past).to_contain_text("Cancelled")


def test_a_patient_moves_a_booking_in_the_reschedule_dialog(page: Page, clinic):
    tuesday = clinic["in_person"][6]  # Tuesday 09:00
    appointment = book(clinic["patient"], tuesday, confirm=True)
    log_in(page, "pat@example.com")
    page.goto(f"/appointments/{appointment.id}")

    page.get_by_role("button", name="Reschedule").click()
    dialog = page.get_by_role("dialog", name="Choose a new time")
    expect(dialog).to_be_visible()
    wednesday = dialog.get_by_role("group", name="Wednesday 9 December")
    wednesday.get_by_label("10:00").check()
    dialog.get_by_role("button", name="Move to this time").click()

    expect(flash(page, "Moved to Wed 09 Dec 2026, 10:00 (Asia/Kolkata).")).to_be_visible()
    expect(page.get_by_role("region", name="Booking summary")).to_contain_text(
        "Wednesday 09 December 2026")
    expect(page.get_by_role("region", name="History")).to_contain_text(
        "Rescheduled by you: from Tue 08 Dec 2026, 09:00")


def test_a_doctor_marks_an_appointment_completed(page: Page, clinic, frozen_clock):
    slot = clinic["in_person"][0]  # Monday 09:00
    book(clinic["patient"], slot, reason="Follow-up for blood pressure", confirm=True)
    # 09:10 in Kolkata: the appointment has started.
    frozen_clock.freeze(slot.start_at + timedelta(minutes=10))

    log_in(page, "asha@example.com")
    page.get_by_role("main").get_by_role("link", name="Appointments", exact=True).click()
    expect(page.get_by_role("heading", name="Appointments", level=1)).to_be_visible()
    today = page.get_by_role("table", name="Today")
    row = today.get_by_role("row").filter(has_text="Pat Kumar")
    expect(row).to_contain_text("Follow-up for blood pressure")
    expect(row).to_contain_text("09:00–09:30")
    expect(row).to_contain_text("Confirmed")
    row.get_by_role("button", name=re.compile(r"^Mark completed")).click()

    expect(row).to_contain_text("Completed")
    expect(row.get_by_role("button", name=re.compile(r"^Mark completed"))).to_have_count(0)
    expect(row.get_by_role("button", name=re.compile(r"^No-show"))).to_have_count(0)
