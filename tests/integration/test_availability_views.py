"""The doctor's calendar and schedule pages, and the patient's slot picker, over HTTP.

The clock is frozen on Monday 6 January 2025, 00:00 UTC (05:30 in Kolkata), so every week, date
and time below is fixed. Dr. Asha Rao works in Asia/Kolkata, Monday to Friday 09:00-12:00,
30-minute video slots; with the default two hours' notice her first slot is today at 09:00 IST.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from portal.availability import service
from portal.availability.models import (
    AvailabilityOverride,
    AvailableSlot,
    BlockedSlot,
    SlotStatus,
)
from portal.extensions import db
from tests.factories import JAN_6_2025, JAN_6_2025_START

IST_OFFSET = timedelta(hours=5, minutes=30)
HTMX = {"HX-Request": "true"}


def ist(day: date, hh: int, mm: int = 0) -> datetime:
    """A wall time in Kolkata as the UTC instant the database stores."""
    return datetime.combine(day, time(hh, mm), tzinfo=UTC) - IST_OFFSET


def slot_at(doctor, start_utc: datetime) -> AvailableSlot | None:
    """The slot starting then, as the database has it now (requests use sessions of their own)."""
    db.session.expire_all()
    return db.session.scalar(select(AvailableSlot).where(
        AvailableSlot.doctor_id == doctor.id, AvailableSlot.start_at == start_utc))


def still_there(model, row_id) -> bool:
    db.session.expire_all()
    return db.session.scalar(select(model.id).where(model.id == row_id)) is not None


def input_tag(page: str, name: str) -> str | None:
    """The <input> named `name`, attributes in whatever order WTForms wrote them."""
    found = re.search(rf'<input[^>]*\bname="{re.escape(name)}"[^>]*>', page)
    return found.group(0) if found else None


def input_value(page: str, name: str) -> str | None:
    tag = input_tag(page, name)
    if tag is None:
        return None
    value = re.search(r'\bvalue="([^"]*)"', tag)
    return value.group(1) if value else ""


def text_of(response) -> str:
    return response.get_data(as_text=True)


def squash(html: str) -> str:
    """The page's text with tags dropped and whitespace collapsed, for reading like a person."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def asha(factory, frozen_clock):
    frozen_clock.freeze(JAN_6_2025_START)
    return factory.create_doctor(name="Dr. Asha Rao", email="asha@example.com",
                                 timezone="Asia/Kolkata", fee_video_paise=50_000,
                                 fee_in_person_paise=80_000, slot_minutes=30,
                                 hours=factory.weekly_hours("09:00", "12:00", "VIDEO"),
                                 booking_window_days=30)


@pytest.fixture
def as_asha(client, asha):
    client.login("asha@example.com")
    return client


def hold_and_book(doctor) -> tuple[AvailableSlot, AvailableSlot]:
    """Tuesday 09:00 held by a patient paying now, Tuesday 10:00 booked."""
    held = slot_at(doctor, ist(JAN_6_2025 + timedelta(days=1), 9))
    booked = slot_at(doctor, ist(JAN_6_2025 + timedelta(days=1), 10))
    held.status, held.held_until = SlotStatus.HELD.value, JAN_6_2025_START + timedelta(minutes=5)
    booked.status = SlotStatus.BOOKED.value
    db.session.commit()
    return held, booked


# --- the calendar --------------------------------------------------------------------------------


def test_the_calendar_shows_free_held_booked_and_blocked_times_each_labelled(as_asha, asha):
    held, booked = hold_and_book(asha)
    service.block_interval(asha, ist(JAN_6_2025 + timedelta(days=2), 11),
                           ist(JAN_6_2025 + timedelta(days=2), 11, 30), "Staff meeting")

    response = as_asha.get("/practice/calendar?week=2025-01-08")

    assert response.status_code == 200
    page = text_of(response)
    assert "<html" in page
    text = squash(page)
    assert "Week of 6 January 2025" in text
    assert "Times in Asia/Kolkata" in text
    for state, label in (("free", "Free"), ("held", "Held"), ("booked", "Booked"),
                         ("blocked", "Blocked")):
        assert re.search(rf'class="slot slot-{state}"[^>]*>\s*<span class="slot-icon"', page), state
        assert f'<span class="slot-label">{label}</span>' in page
    # Held and booked times open the details panel; the blocked one carries its reason.
    assert f'hx-get="/practice/slots/{held.id}"' in page
    assert f'hx-get="/practice/slots/{booked.id}"' in page
    assert 'aria-label="11:00 Blocked, Wednesday 8 January 2025, Staff meeting: unblock"' in page
    assert 'aria-label="10:00 Booked, Video, Tuesday 7 January 2025: details"' in page
    # Today (Monday) is marked in words, not only by style.
    assert re.search(r'<th scope="col" class="day-col[^"]*is-today"\s+aria-current="date">'
                     r"\s*<span class=\"day-name\">Mon</span>", page)
    assert '<span class="today-badge">Today</span>' in page
    assert "This week: 27 free, 1 held, 1 booked, 1 blocked." in text


def test_week_navigation_links_work_with_and_without_htmx(as_asha):
    full = text_of(as_asha.get("/practice/calendar"))
    assert 'href="/practice/calendar?week=2025-01-13"' in full
    assert 'hx-push-url="true"' in full

    fragment = as_asha.get("/practice/calendar?week=2025-01-13", headers=HTMX)
    page = text_of(fragment)
    assert fragment.status_code == 200
    assert "<html" not in page
    assert page.lstrip().startswith('<section id="calendar-grid"')
    assert "Week of 13 January 2025" in page
    assert "today-badge" not in page  # today is in the previous week


def test_clicking_a_free_slot_blocks_it(as_asha, asha):
    target_id = slot_at(asha, ist(JAN_6_2025, 10)).id

    response = as_asha.post_form(f"/practice/slots/{target_id}/block",
                                 {"week": "2025-01-06", "day": "2025-01-06"})

    assert response.status_code == 302
    assert response.headers["Location"] == "/practice/calendar?week=2025-01-06&day=2025-01-06"
    assert slot_at(asha, ist(JAN_6_2025, 10)) is None
    block = db.session.scalar(select(BlockedSlot).where(BlockedSlot.doctor_id == asha.id))
    assert (block.start_at, block.end_at) == (ist(JAN_6_2025, 10), ist(JAN_6_2025, 10, 30))
    page = text_of(as_asha.get(response.headers["Location"]))
    assert "Blocked Monday 6 January 2025, 10:00." in page
    assert f'action="/practice/slots/{target_id}/block"' not in page
    assert f'action="/practice/blocks/{block.id}/unblock"' in page


def test_blocking_with_htmx_returns_the_updated_grid(as_asha, asha):
    target_id = slot_at(asha, ist(JAN_6_2025, 10)).id

    response = as_asha.post_form(f"/practice/slots/{target_id}/block",
                                 {"week": "2025-01-06", "day": "2025-01-06"}, headers=HTMX)

    page = text_of(response)
    assert response.status_code == 200
    assert "<html" not in page
    assert page.lstrip().startswith('<section id="calendar-grid"')
    assert "Blocked Monday 6 January 2025, 10:00." in page
    assert f"/practice/slots/{target_id}/block" not in page
    assert '<span class="slot-label">Blocked</span>' in page


def test_clicking_a_blocked_time_unblocks_it_and_the_free_slot_returns(as_asha, asha):
    block_id = service.block_interval(asha, ist(JAN_6_2025, 10), ist(JAN_6_2025, 10, 30)).id
    assert slot_at(asha, ist(JAN_6_2025, 10)) is None

    response = as_asha.post_form(f"/practice/blocks/{block_id}/unblock", headers=HTMX)

    assert response.status_code == 200
    restored = slot_at(asha, ist(JAN_6_2025, 10))
    assert restored is not None
    assert restored.status == SlotStatus.FREE
    page = text_of(response)
    assert "Unblocked Monday 6 January 2025, 10:00." in page
    assert f'action="/practice/slots/{restored.id}/block"' in page
    assert not still_there(BlockedSlot, block_id)


def test_blocking_a_slot_a_patient_took_meanwhile_is_refused_with_the_grid(as_asha, asha):
    target = slot_at(asha, ist(JAN_6_2025, 11))
    target_id = target.id
    target.status = SlotStatus.BOOKED.value
    db.session.commit()

    response = as_asha.post_form(f"/practice/slots/{target_id}/block", headers=HTMX)

    assert response.status_code == 409
    assert "Could not block Monday 6 January 2025, 11:00" in text_of(response)
    assert db.session.scalar(select(BlockedSlot)) is None


def test_a_booked_slot_opens_its_details_as_a_panel_or_a_page(as_asha, asha):
    _, booked = hold_and_book(asha)

    panel = as_asha.get(f"/practice/slots/{booked.id}", headers=HTMX)
    page = as_asha.get(f"/practice/slots/{booked.id}")

    assert "<html" not in text_of(panel)
    assert "<html" in text_of(page)
    for response in (panel, page):
        text = squash(text_of(response))
        assert response.status_code == 200
        assert "Booked slot" in text
        assert "Tuesday 7 January 2025" in text
        assert "10:00–10:30 (Asia/Kolkata)" in text
        assert "Consultation Video" in text
        assert "No appointment details yet" in text


def test_on_a_phone_the_calendar_shows_the_chosen_day_from_the_day_switcher(as_asha):
    page = text_of(as_asha.get("/practice/calendar?week=2025-01-06&day=2025-01-08"))

    switcher = page[page.index('aria-label="Days of this week"'):page.index("</nav>",
                    page.index('aria-label="Days of this week"'))]
    assert switcher.count("<a ") == 7
    assert re.search(r'href="/practice/calendar\?week=2025-01-06&amp;day=2025-01-08"[^>]*'
                     r'class="is-selected\s*"\s+aria-current="date"', switcher)
    # The chosen day's column is the one the phone layout keeps (CSS hides the others).
    assert page.count('class="day-col is-selected"') == 1 + 3  # header + Wednesday's 3 hours


# --- weekly hours ------------------------------------------------------------------------------


def test_the_hours_page_shows_current_hours_and_a_filled_form(as_asha):
    response = as_asha.get("/practice/hours")

    text = squash(text_of(response))
    page = text_of(response)
    assert response.status_code == 200
    assert "Monday 09:00–12:00, Video, 30 min" in text
    assert "Saturday Closed" in text
    assert input_value(page, "monday-0-start") == "09:00"
    assert input_value(page, "monday-0-end") == "12:00"
    assert input_value(page, "friday-0-slot_minutes") == "30"
    assert input_tag(page, "saturday-0-start") is None
    assert input_value(page, "effective_from") == "2025-01-06"


def save_hours(client, rows: dict, effective_from: str = "2025-01-06", **extra):
    data = {"effective_from": effective_from, "save": "1", **extra}
    for day, ranges in rows.items():
        for i, (start, end, kind, minutes, buffer) in enumerate(ranges):
            data.update({f"{day}-{i}-start": start, f"{day}-{i}-end": end,
                         f"{day}-{i}-consultation_type": kind,
                         f"{day}-{i}-slot_minutes": str(minutes),
                         f"{day}-{i}-buffer_minutes": str(buffer)})
    return client.post_form("/practice/hours", data)


def test_saving_weekly_hours_regenerates_slots_and_lists_booked_ones_now_outside(as_asha, asha):
    _, booked = hold_and_book(asha)  # Tuesday 09:00 held, 10:00 booked

    response = save_hours(as_asha, {"monday": [("14:00", "16:00", "IN_PERSON", 30, 0)],
                                    "tuesday": [("09:00", "09:30", "VIDEO", 30, 0),
                                                ("14:00", "15:00", "VIDEO", 20, 10)]})

    assert response.status_code == 302
    page = text_of(as_asha.get(response.headers["Location"]))
    text = squash(page)
    assert "Weekly hours saved, in force from Monday 6 January 2025" in text
    assert "1 appointment now outside your hours" in text
    assert f'href="/practice/slots/{booked.id}"' in page
    assert "Tuesday 7 January 2025, 10:00–10:30, Video" in text
    assert "Monday 14:00–16:00, In person, 30 min" in text
    assert "Tuesday 09:00–09:30, Video, 30 min; 14:00–15:00, Video, 20 min + 10 min break" in text
    assert "Wednesday Closed" in text
    assert slot_at(asha, ist(JAN_6_2025, 14)).consultation_type == "IN_PERSON"
    assert slot_at(asha, ist(JAN_6_2025, 9)) is None
    # The conflicts are shown once, after the save.
    assert "now outside your hours" not in text_of(as_asha.get("/practice/hours"))


def test_hours_saved_from_a_later_date_show_as_upcoming(as_asha):
    response = save_hours(as_asha, {"friday": [("15:00", "17:00", "VIDEO", 30, 0)]},
                          effective_from="2025-02-03")

    assert response.status_code == 302
    text = squash(text_of(as_asha.get("/practice/hours")))
    assert "Current hours" in text
    assert "Monday 09:00–12:00, Video, 30 min (until 02 Feb 2025)" in text
    assert "Upcoming hours From Monday 3 February 2025" in text
    assert "Friday 15:00–17:00, Video, 30 min" in text


@pytest.mark.parametrize(("rows", "effective_from", "field", "message"), [
    ({"tuesday": [("12:00", "09:00", "VIDEO", 30, 0)]}, "2025-01-06", "tuesday-0-end",
     "The end time (09:00) must be after the start time (12:00)."),
    ({"monday": [("09:00", "12:00", "VIDEO", 30, 0), ("11:00", "13:00", "VIDEO", 30, 0)]},
     "2025-01-06", "monday-1-start", "Monday 11:00-13:00 overlaps 09:00-12:00 on the same day."),
    ({"friday": [("09:00", "10:10", "VIDEO", 30, 0)]}, "2025-01-06", "friday-0-slot_minutes",
     "does not divide into 30-minute slots"),
    ({"monday": [("09:00", "10:00", "VIDEO", 30, 0)]}, "2025-01-05", "effective_from",
     "The new hours cannot start in the past"),
    ({"monday": [("09:00", "", "VIDEO", 30, 0)]}, "2025-01-06", "monday-0-end",
     "Enter an end time."),
])
def test_hours_errors_show_next_to_the_field_at_fault(as_asha, asha, rows, effective_from,
                                                       field, message):
    before = service.get_schedule(asha).weekly

    response = save_hours(as_asha, rows, effective_from)

    page = text_of(response)
    assert response.status_code == 422
    error = re.search(rf'<small id="{field}-error" class="field-error">([^<]*)</small>', page)
    assert error, f"no error shown on {field}"
    assert message in error.group(1).replace("&#39;", "'")
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="{field}"',
                     page)
    assert len(service.get_schedule(asha).weekly) == len(before) == 5


def test_a_type_the_doctor_does_not_offer_is_refused_on_that_range(as_asha, asha):
    asha.fee_in_person_paise = None
    db.session.commit()

    response = save_hours(as_asha, {"monday": [("09:00", "10:00", "IN_PERSON", 30, 0)]})

    assert response.status_code == 422
    assert 'id="monday-0-consultation_type-error"' in text_of(response)


def test_add_a_range_returns_one_row_for_htmx_and_the_whole_form_without(as_asha):
    base = {"effective_from": "2025-01-06", "monday-0-start": "09:00", "monday-0-end": "12:00",
            "monday-0-consultation_type": "VIDEO", "monday-0-slot_minutes": "30",
            "monday-0-buffer_minutes": "0"}

    row = as_asha.post_form("/practice/hours", {**base, "add_range": "saturday"}, headers=HTMX)
    page = as_asha.post_form("/practice/hours", {**base, "add_range": "monday"})

    fragment = text_of(row)
    assert row.status_code == 200
    assert "<html" not in fragment
    assert "<form" not in fragment
    assert fragment.lstrip().startswith('<fieldset class="range-row" id="saturday-0">')
    assert input_value(fragment, "saturday-0-slot_minutes") == "30"
    assert "Saturday, range 1" in fragment
    full = text_of(page)
    assert page.status_code == 200
    assert "<html" in full
    assert input_value(full, "monday-0-start") == "09:00"  # the entered row stays
    assert input_value(full, "monday-1-start") == ""
    assert "autofocus" in input_tag(full, "monday-1-start")
    assert "Weekly hours saved" not in full


def test_remove_a_range_without_javascript_rerenders_without_it(as_asha, asha):
    data = {"effective_from": "2025-01-06", "remove_range": "monday-0"}
    for i, start in enumerate(("09:00", "14:00")):
        data.update({f"monday-{i}-start": start, f"monday-{i}-end": f"{int(start[:2]) + 1}:00",
                     f"monday-{i}-consultation_type": "VIDEO", f"monday-{i}-slot_minutes": "30",
                     f"monday-{i}-buffer_minutes": "0"})

    page = text_of(as_asha.post_form("/practice/hours", data))
    gone = as_asha.post_form("/practice/hours", data, headers=HTMX)

    assert input_tag(page, "monday-0-start") is None
    assert input_value(page, "monday-1-start") == "14:00"
    assert gone.status_code == 200
    assert text_of(gone) == ""
    assert len(service.get_schedule(asha).weekly) == 5  # nothing saved


# --- overrides -----------------------------------------------------------------------------------


def test_days_off_are_added_listed_and_remove_the_slots(as_asha, asha):
    response = as_asha.post_form("/practice/overrides", {
        "off-kind": "OFF", "off-start_date": "2025-01-08", "off-end_date": "2025-01-09",
        "off-reason": "Cardiology conference"})

    assert response.status_code == 302
    text = squash(text_of(as_asha.get("/practice/overrides")))
    assert "Days off added: Wednesday 8 January 2025 to Thursday 9 January 2025." in text
    assert ("Wednesday 8 January 2025 to Thursday 9 January 2025 Day off Cardiology conference"
            in text)
    assert slot_at(asha, ist(date(2025, 1, 8), 9)) is None
    assert slot_at(asha, ist(date(2025, 1, 10), 9)) is not None


def test_custom_hours_replace_the_weekly_hours_on_that_date(as_asha, asha):
    response = as_asha.post_form("/practice/overrides", {
        "custom-kind": "CUSTOM", "custom-start_date": "2025-01-11", "custom-start": "10:00",
        "custom-end": "11:00", "custom-consultation_type": "IN_PERSON",
        "custom-slot_minutes": "20", "custom-buffer_minutes": "0", "custom-reason": "Camp"})

    assert response.status_code == 302
    text = squash(text_of(as_asha.get("/practice/overrides")))
    assert "Custom hours added for Saturday 11 January 2025: 10:00–11:00." in text
    assert "Custom hours 10:00–11:00, In person, 20 min" in text
    saturday = service.slots_between(asha, ist(date(2025, 1, 11), 0), ist(date(2025, 1, 12), 0))
    assert [(s.start_at, s.consultation_type) for s in saturday] == [
        (ist(date(2025, 1, 11), 10, m), "IN_PERSON") for m in (0, 20, 40)]


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"off-kind": "OFF", "off-start_date": "2025-01-03"}, "off-start_date",
     "The first day (2025-01-03) is in the past"),
    ({"off-kind": "OFF", "off-start_date": "2025-01-10", "off-end_date": "2025-01-08"},
     "off-end_date", "The last day (2025-01-08) is before the first day (2025-01-10)."),
    ({"custom-kind": "CUSTOM", "custom-start_date": "2025-01-11", "custom-start": "11:00",
      "custom-end": "10:00", "custom-consultation_type": "VIDEO", "custom-slot_minutes": "30"},
     "custom-end", "The end time (10:00) must be after the start time (11:00)."),
    ({"custom-kind": "CUSTOM", "custom-start_date": "2025-01-01", "custom-start": "10:00",
      "custom-end": "11:00", "custom-consultation_type": "VIDEO", "custom-slot_minutes": "30"},
     "custom-start_date", "is in the past"),
])
def test_override_errors_show_on_the_field_at_fault(as_asha, asha, data, field, message):
    response = as_asha.post_form("/practice/overrides", data)

    page = text_of(response)
    assert response.status_code == 422
    error = re.search(rf'<small id="{field}-error" class="field-error">([^<]*)</small>', page)
    assert error
    assert message in error.group(1)
    assert db.session.scalar(select(AvailabilityOverride)) is None


def test_deleting_an_override_brings_the_weekly_hours_back(as_asha, asha):
    row, _ = service.add_override(asha, service.OverrideInput(
        date(2025, 1, 8), date(2025, 1, 8), "OFF", "Holiday"))
    assert slot_at(asha, ist(date(2025, 1, 8), 9)) is None

    fragment = as_asha.post_form(f"/practice/overrides/{row.id}/delete", headers=HTMX)

    page = text_of(fragment)
    assert fragment.status_code == 200
    assert page.lstrip().startswith('<section id="override-list"')
    assert "No days off or custom hours ahead." in page
    assert slot_at(asha, ist(date(2025, 1, 8), 9)) is not None

    row, _ = service.add_override(asha, service.OverrideInput(
        date(2025, 1, 9), date(2025, 1, 9), "OFF", "Holiday"))
    plain = as_asha.post_form(f"/practice/overrides/{row.id}/delete")
    assert plain.status_code == 302
    assert plain.headers["Location"] == "/practice/overrides"
    assert db.session.scalar(select(AvailabilityOverride)) is None


# --- who may do what -----------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/practice/calendar", "/practice/hours", "/practice/overrides"])
def test_a_visitor_is_sent_to_log_in(client, asha, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/account/login?next=")


@pytest.mark.parametrize("url", ["/practice/calendar", "/practice/hours", "/practice/overrides"])
def test_a_patient_is_refused(client, factory, asha, url):
    factory.create_patient(email="pat@example.com")
    client.login("pat@example.com")

    assert client.get(url).status_code == 403


def test_a_patient_cannot_block_a_slot(client, factory, asha):
    factory.create_patient(email="pat@example.com")
    client.login("pat@example.com")
    target = slot_at(asha, ist(JAN_6_2025, 10))

    assert client.post_form(f"/practice/slots/{target.id}/block").status_code == 403
    assert slot_at(asha, ist(JAN_6_2025, 10)) is not None


def test_another_doctor_cannot_touch_this_doctors_slots_blocks_or_overrides(client, factory, asha):
    factory.create_doctor(email="other@example.com", hours=())
    client.login("other@example.com")
    target = slot_at(asha, ist(JAN_6_2025, 10))
    block = service.block_interval(asha, ist(JAN_6_2025, 11), ist(JAN_6_2025, 11, 30))
    override, _ = service.add_override(asha, service.OverrideInput(
        date(2025, 1, 8), date(2025, 1, 8), "OFF"))

    assert client.post_form(f"/practice/slots/{target.id}/block").status_code == 404
    assert client.post_form(f"/practice/blocks/{block.id}/unblock").status_code == 404
    assert client.get(f"/practice/slots/{target.id}").status_code == 404
    assert client.post_form(f"/practice/overrides/{override.id}/delete").status_code == 404
    assert client.get(f"/practice/calendar?doctor={asha.id}").status_code == 404
    assert slot_at(asha, ist(JAN_6_2025, 10)) is not None
    assert still_there(BlockedSlot, block.id)
    assert still_there(AvailabilityOverride, override.id)


def test_an_admin_views_a_doctors_calendar_with_the_doctor_named(client, factory, asha):
    factory.create_admin(email="admin@example.com")
    client.login("admin@example.com")

    response = client.get(f"/practice/calendar?doctor={asha.id}&week=2025-01-06")
    without = client.get("/practice/calendar")

    page = text_of(response)
    assert response.status_code == 200
    assert "Calendar: Dr. Asha Rao" in page
    assert f"/practice/calendar?week=2025-01-13&amp;doctor={asha.id}" in page
    assert without.status_code == 302
    assert without.headers["Location"] == "/admin/doctors"
    assert client.get(f"/practice/hours?doctor={asha.id}").status_code == 200
    assert client.get("/practice/calendar?doctor=not-a-uuid").status_code == 404


def test_the_dashboard_links_the_schedule_pages(as_asha):
    page = text_of(as_asha.get("/dashboard"))

    for href, label in (("/practice/calendar", "Calendar"), ("/practice/hours", "Weekly hours"),
                        ("/practice/overrides", "Days off and custom hours")):
        assert f'<a href="{href}"><strong>{label}</strong></a>' in page


# --- the patient's slot picker ---------------------------------------------------------------


@pytest.mark.parametrize(("frozen", "first_day", "first_time", "heading"), [
    # January: New York is on EST (UTC-5), 10h30 behind Kolkata.
    (datetime(2025, 1, 6, 0, 0, tzinfo=UTC), date(2025, 1, 5), "22:30", "Sunday 5 January"),
    # July: New York is on EDT (UTC-4), 9h30 behind Kolkata.
    (datetime(2025, 7, 7, 0, 0, tzinfo=UTC), date(2025, 7, 6), "23:30", "Sunday 6 July"),
])
def test_a_patient_in_new_york_sees_9am_kolkata_on_the_evening_before(
        client, factory, frozen_clock, frozen, first_day, first_time, heading):
    frozen_clock.freeze(frozen)
    doctor = factory.create_doctor(name="Dr. Asha Rao", timezone="Asia/Kolkata",
                                   hours=factory.weekly_hours("09:00", "12:00", "VIDEO"))
    factory.create_patient(email="ny@example.com", timezone="America/New_York")
    client.login("ny@example.com")

    page = text_of(client.get(f"/doctors/{doctor.id}"))

    text = squash(page)
    assert "Times shown in America/New_York (your time zone)." in text
    assert f"{heading} Evening {first_time} Video ₹500" in text
    assert re.search(rf'href="/doctors/{doctor.id}\?day={first_day.isoformat()}"[^>]*'
                     r'class="day-chip is-selected"\s+aria-current="date"', page)
    # 09:00-12:00 in Kolkata runs past midnight in New York: the rest is the next morning.
    following = text_of(client.get(
        f"/doctors/{doctor.id}?day={(first_day + timedelta(days=1)).isoformat()}"))
    assert "Morning 00:00 Video ₹500" in squash(following)


def test_the_picker_groups_a_day_and_leaves_out_taken_and_blocked_times(client, asha):
    hold_and_book(asha)  # Tuesday 09:00 held, 10:00 booked (Kolkata)
    service.block_interval(asha, ist(JAN_6_2025 + timedelta(days=1), 11),
                           ist(JAN_6_2025 + timedelta(days=1), 11, 30))
    client.set_cookie("tz", "Asia/Kolkata")

    response = client.get(f"/doctors/{asha.id}?day=2025-01-07")

    page = text_of(response)
    text = squash(page)
    assert "Times shown in Asia/Kolkata (your browser's time zone)." in text
    assert ("Tuesday 7 January Morning 09:30 Video ₹500 Log in to book 10:30 Video ₹500 Log in "
            "to book 11:30 Video ₹500 Log in to book") in text
    assert "Afternoon" not in text
    assert "Evening" not in text
    # A visitor is offered to log in to book each free time.
    assert page.count('class="picker-slot picker-login"') == 3
    # The strip: today and the next 13 days, with the count of free times.
    assert text.count(" free ") + text.count(" none ") == 14
    assert "Mon 6 Jan 6 free" in text
    assert "Tue 7 Jan 3 free" in text
    assert "Sat 11 Jan none" in text


def test_choosing_a_day_with_htmx_returns_only_the_picker(client, asha):
    response = client.get(f"/doctors/{asha.id}?day=2025-01-08", headers=HTMX)

    page = text_of(response)
    assert response.status_code == 200
    assert "<html" not in page
    assert "<h1" not in page
    assert page.lstrip().startswith('<section id="booking"')
    assert "Wednesday 8 January" in page


def test_no_free_times_in_two_weeks_shows_an_empty_state(client, factory, frozen_clock):
    frozen_clock.freeze(JAN_6_2025_START)
    doctor = factory.create_doctor(hours=())

    text = squash(text_of(client.get(f"/doctors/{doctor.id}")))

    assert "No free times in the next two weeks." in text
    assert "Online booking opens soon" not in text
