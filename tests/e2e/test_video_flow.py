"""The video call on the appointment page, in Chromium, on a frozen server clock: "Join" appears
only inside the join window (ten minutes before the start to thirty after the end); before it a
countdown, after it "ended"; the camera and microphone check is there all along.

The live server shares the test process's clock. Every wait is an `expect`.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_booking_flow import log_in
from tests.factories import MONDAY_MORNING

pytestmark = pytest.mark.e2e


@pytest.fixture
def visit(factory, frozen_clock):
    frozen_clock.freeze(MONDAY_MORNING)
    doctor = factory.create_doctor(fee_video_paise=0, fee_in_person_paise=None)
    patient = factory.create_patient(email="vera@example.com")
    return factory.book(patient, factory.first_free_slot(doctor, "VIDEO"), confirm=True)


def test_join_appears_only_inside_the_window(page: Page, visit, frozen_clock):
    log_in(page, "vera@example.com")
    join = page.get_by_role("button", name="Join the video call")
    check = page.get_by_text("Check your camera and microphone")

    frozen_clock.freeze(visit.start_at - timedelta(minutes=30))
    page.goto(f"/appointments/{visit.id}")
    expect(page.get_by_role("heading", name="Video call")).to_be_visible()
    expect(page.get_by_text("You can join from")).to_be_visible()
    expect(page.locator("[data-countdown-to]")).to_contain_text("Opens in")
    expect(join).to_have_count(0)
    expect(check).to_be_visible()

    frozen_clock.freeze(visit.start_at - timedelta(minutes=9))
    page.reload()
    expect(join).to_be_visible()
    expect(join).to_have_attribute("href", f"/appointments/{visit.id}/video/join")

    frozen_clock.freeze(visit.end_at + timedelta(minutes=31))
    page.reload()
    expect(page.get_by_text("This call has ended")).to_be_visible()
    expect(join).to_have_count(0)
