"""A parent books for their child on a phone, and the doctor sees whom the visit is for.

The server's clock (shared with the live server: same process) is frozen on Monday 7 December
2026, 06:00 in Kolkata, where everyone lives. Both people use a phone-sized window. Selectors
are roles and labels; every wait is an `expect` that retries, never a sleep.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.factories import MONDAY_MORNING, PASSWORD

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
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
    """Dr. Asha Rao, whose in-person consultations are free; Pat Kumar, a parent."""
    frozen_clock.freeze(MONDAY_MORNING)
    doctor = factory.create_doctor(name="Dr. Asha Rao", email="asha@example.com",
                                   fee_video_paise=50_000, fee_in_person_paise=0)
    factory.create_patient(name="Pat Kumar", email="pat@example.com")
    return {"doctor": doctor}


def test_a_parent_books_for_their_child_and_the_doctor_sees_whom_for(new_context, clinic):
    parent = new_context(viewport=PHONE).new_page()
    log_in(parent, "pat@example.com")

    # The family page, from the account menu.
    nav = parent.get_by_role("navigation", name="Main")
    nav.get_by_label("Account menu for Pat Kumar").click()
    nav.get_by_role("link", name="Family").click()
    expect(parent.get_by_role("heading", name="Your family", level=1)).to_be_visible()
    expect(parent.get_by_text("No family members yet")).to_be_visible()
    add = parent.get_by_role("region", name="Add a family member")
    add.get_by_label("Name").fill("Mira Kumar")
    add.get_by_label("Relation to you").select_option(label="Child")
    add.get_by_label("Date of birth").fill("2020-03-15")
    add.get_by_label("Sex").select_option(label="Female")
    add.get_by_role("button", name="Add to your family").click()

    expect(flash(parent, "Mira Kumar is added to your family.")).to_be_visible()
    mira = parent.get_by_role("table", name="Your family members").get_by_role(
        "row").filter(has_text="Mira Kumar")
    expect(mira).to_contain_text("Child")
    expect(mira).to_contain_text("6 years")
    expect(mira).to_contain_text("15 March 2020")

    # The doctor's page: hold Monday 09:00.
    parent.goto(f"/doctors/{clinic['doctor'].id}")
    picker = parent.get_by_role("region", name="Book a consultation")
    picker.get_by_role("button", name=re.compile(r"^09:00 In person Free")).click()
    expect(parent.get_by_role("heading", name="Complete your booking", level=1)).to_be_visible()

    # The appointment is for Mira.
    parent.get_by_label("Who is this appointment for?").select_option(
        label="Mira Kumar (child, 6)")
    parent.get_by_role("button", name="Save whom the appointment is for").click()
    expect(flash(parent, "This appointment is for Mira Kumar.")).to_be_visible()
    summary = parent.get_by_role("region", name="Booking summary")
    expect(summary).to_contain_text("Mira Kumar (child, 6 years)")
    expect(parent.get_by_label("Who is this appointment for?")).to_have_value(
        re.compile(r"^[0-9a-f-]{36}$"))
    parent.get_by_role("button", name="Confirm booking").click()
    expect(flash(parent, "Your booking is confirmed.")).to_be_visible()
    expect(parent.get_by_role("heading", name="Your booking is confirmed",
                              level=1)).to_be_visible()

    # The doctor, in a browser of their own, opens the appointment.
    doctor = new_context(viewport=PHONE).new_page()
    log_in(doctor, "asha@example.com")
    doctor.goto("/appointments/practice")
    today = doctor.get_by_role("table", name="Today")
    row = today.get_by_role("row").filter(has_text="Mira Kumar")
    expect(row).to_contain_text("Mira Kumar, 6 years")
    expect(row).to_contain_text("booked by Pat Kumar, her parent")
    expect(row).to_contain_text("09:00–09:30")
    row.get_by_role("link", name="09:00–09:30").click()

    expect(doctor.get_by_role("heading", name="Appointment", level=1)).to_be_visible()
    details = doctor.get_by_role("region", name="Booking summary")
    expect(details).to_contain_text("Mira Kumar, 6 years — booked by Pat Kumar, her parent")
    expect(doctor.get_by_label("Who is this appointment for?")).to_have_count(0)
