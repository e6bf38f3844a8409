"""A doctor sets weekly hours and blocks a slot; a patient's picker reflects both (Chromium).

The server's clock is frozen on Monday 6 January 2025, 05:30 in Kolkata, where the doctor and
the patient both live. Selectors are roles and labels; every wait is an `expect` that retries.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from portal.availability import service
from tests.e2e.conftest import TIMEOUT_MS
from tests.factories import JAN_6_2025, JAN_6_2025_START, PASSWORD, weekly_hours

pytestmark = pytest.mark.e2e


def log_in(page: Page, email: str) -> None:
    page.goto("/account/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def calendar_grid(page: Page):
    return page.get_by_role("region", name=re.compile(r"^Week of"))


def picker(page: Page):
    return page.get_by_role("region", name="Book a consultation")


@pytest.fixture
def people(factory, frozen_clock):
    """Dr. Asha Rao (₹500 video, ₹800 in person), no hours yet, booking 30 days ahead; Pat
    Kumar. Both in Asia/Kolkata; the clock stands at Monday 6 January 2025, 05:30 there."""
    frozen_clock.freeze(JAN_6_2025_START)
    doctor = factory.create_doctor(name="Dr. Asha Rao", email="asha@example.com",
                                   fee_video_paise=50_000, fee_in_person_paise=80_000,
                                   hours=(), booking_window_days=30)
    factory.create_patient(name="Pat Kumar", email="pat@example.com")
    return doctor


def test_a_doctor_sets_hours_and_blocks_a_slot_and_the_patient_picker_reflects_both(
        page: Page, new_context, people):
    # The doctor sets Tuesday 09:00-11:00, 30-minute video slots, through the form.
    log_in(page, "asha@example.com")
    page.get_by_role("link", name="Weekly hours").click()
    expect(page.get_by_role("heading", name="Weekly hours", level=1)).to_be_visible()
    page.get_by_role("button", name="Add a range on Tuesday").click()
    tuesday = page.get_by_role("group", name="Tuesday, range 1")
    expect(tuesday.get_by_label("Start")).to_be_focused()
    tuesday.get_by_label("Start").fill("09:00")
    tuesday.get_by_label("End").fill("11:00")
    tuesday.get_by_label("Consultation").select_option(label="Video")
    expect(tuesday.get_by_label("Slot (minutes)")).to_have_value("30")
    page.get_by_role("button", name="Save weekly hours").click()

    expect(page.get_by_role("status").filter(has_text="Weekly hours saved")).to_contain_text(
        "in force from Monday 6 January 2025")
    current = page.get_by_role("region", name="Current hours")
    expect(current.get_by_role("row", name=re.compile("^Tuesday"))).to_contain_text(
        "09:00–11:00, Video, 30 min")

    # On the calendar she blocks Tuesday 09:30 by clicking it; only the grid is swapped.
    page.get_by_role("link", name="Calendar").first.click()
    expect(calendar_grid(page)).to_have_accessible_name("Week of 6 January 2025")
    page.evaluate("() => { window.sameDocument = true; }")
    free = calendar_grid(page).get_by_role("button", name=re.compile(
        r"^09:30 Free, Video, Tuesday 7 January 2025: block$"))
    expect(free).to_be_visible()
    free.click()

    notice = calendar_grid(page).get_by_role("status")
    expect(notice).to_have_text(
        "Blocked Tuesday 7 January 2025, 09:30. Select it again to unblock it.")
    expect(notice).to_be_focused()  # keyboard and screen-reader users hear what happened
    expect(calendar_grid(page).get_by_role("button", name=re.compile(
        r"^09:30 Blocked, Tuesday 7 January 2025: unblock$"))).to_be_visible()
    expect(free).to_have_count(0)
    assert page.evaluate("() => window.sameDocument") is True, "the grid was not swapped in"

    # A patient, in a browser of their own, sees the hours without the blocked time.
    context = new_context()
    context.set_default_timeout(TIMEOUT_MS)
    patient = context.new_page()
    log_in(patient, "pat@example.com")
    patient.goto(f"/doctors/{people.id}")

    expect(picker(patient)).to_contain_text("Times shown in Asia/Kolkata")
    expect(picker(patient).get_by_role("heading", level=3)).to_have_text("Tuesday 7 January")
    chosen = picker(patient).get_by_role("link", name=re.compile(r"Tue 7 Jan 3 free"))
    expect(chosen).to_have_attribute("aria-current", "date")
    morning = picker(patient).get_by_role("group", name="Morning")
    expect(morning.get_by_role("button")).to_have_text([
        re.compile(r"09:00\s+Video\s+₹500"), re.compile(r"10:00\s+Video\s+₹500"),
        re.compile(r"10:30\s+Video\s+₹500")])
    expect(morning.get_by_role("button").first).to_be_enabled()

    # Another day of the strip comes in without reloading the page.
    patient.evaluate("() => { window.sameDocument = true; }")
    picker(patient).get_by_role("link", name=re.compile(r"Tue 14 Jan 4 free")).click()
    expect(picker(patient).get_by_role("heading", level=3)).to_have_text("Tuesday 14 January")
    expect(patient).to_have_url(re.compile(r"\?day=2025-01-14$"))
    morning = picker(patient).get_by_role("group", name="Morning")
    expect(morning.get_by_role("button")).to_have_count(4)
    assert patient.evaluate("() => window.sameDocument") is True, "the picker was not swapped in"


def test_on_a_phone_the_calendar_shows_one_day_at_a_time(new_context, people):
    service.set_weekly_schedule(people, weekly_hours("09:00", "10:00", "VIDEO"), JAN_6_2025)
    context = new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    log_in(page, "asha@example.com")
    page.goto("/practice/calendar")

    days = page.get_by_role("navigation", name="Days of this week")
    expect(days.get_by_role("link", name="Mon 6 (today)")).to_have_attribute("aria-current", "date")
    grid = calendar_grid(page)
    monday = grid.get_by_role("button", name=re.compile(r"Monday 6 January 2025: block$"))
    expect(monday).to_have_count(2)
    expect(grid.get_by_role("columnheader", name=re.compile("^Tue"))).to_be_hidden()

    days.get_by_role("link", name="Wed 8").click()
    expect(page).to_have_url(re.compile(r"day=2025-01-08$"))
    expect(grid.get_by_role("columnheader", name=re.compile("^Wed"))).to_be_visible()
    expect(grid.get_by_role("columnheader", name=re.compile("^Mon"))).to_be_hidden()
    wednesday = grid.get_by_role("button", name=re.compile(r"Wednesday 8 January 2025: block$"))
    expect(wednesday).to_have_count(2)
    overflow = page.evaluate("() => document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"
