"""The waitlist as pages: the button on the doctor's page, the join form and its errors, My
waitlists with "Leave" and open offers, the one-tap offer page (taken only by a POST; gone and
lapsed offers say so), the waiting counts on the doctor's calendar, and the admin's
conversion page. Everyone else's entries and offers are 404."""

from __future__ import annotations

import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from portal.appointments.models import Appointment
from portal.extensions import db
from portal.family import service as family
from portal.waitlist import service
from portal.waitlist.models import EntryStatus, OfferStatus, WaitlistEntry, WaitlistOffer
from tests.factories import MONDAY_MORNING
from tests.integration.support import field_error, page_text, sync

KOLKATA = ZoneInfo("Asia/Kolkata")
TUESDAY, WEDNESDAY = date(2026, 12, 8), date(2026, 12, 9)
GONE = "Someone else took this time just before you. You are still on the waitlist."


@pytest.fixture
def world(factory, frozen_clock):
    """Dr. Asha Rao: free in-person consultations 09:00-12:00 and ₹500 video ones
    17:00-19:00 on weekdays, bookable 8 days ahead; Pat Kumar and Ravi Menon, patients; an
    admin. Monday 7 December 2026, 06:00 in Kolkata."""
    frozen_clock.freeze(MONDAY_MORNING)
    doctor = factory.create_doctor(name="Dr. Asha Rao", fee_video_paise=50_000,
                                   fee_in_person_paise=0)
    return {"doctor": doctor, "patient": factory.create_patient(name="Pat Kumar", sms=False),
            "other_patient": factory.create_patient(name="Ravi Menon", sms=False),
            "admin": factory.create_admin(),
            "in_person": factory.free_slots(doctor, "IN_PERSON"),
            "video": factory.free_slots(doctor, "VIDEO")}


def on_day(slots, day: date):
    return [s for s in slots if s.start_at.astimezone(KOLKATA).date() == day]


def wait(patient, doctor, first=TUESDAY, last=TUESDAY, parts=(), kind=None, dependent=None):
    return service.join(patient, service.EntryInput(doctor.id, first, last, tuple(parts), kind,
                                                    dependent))


def offered(patient, world, slot=None) -> WaitlistOffer:
    """`patient` waits for Tuesday and is offered `slot` (default: Tuesday's first video)."""
    slot = slot or on_day(world["video"], TUESDAY)[0]
    wait(patient, world["doctor"])
    made = [o for o in service.offer_slot(slot.id) if o.patient_id == patient.id]
    assert made, "the offer was not made"
    return made[0]


def words(response) -> str:
    """The page's text without its tags, spaces collapsed: what a reader sees."""
    return " ".join(re.sub(r"<[^>]+>", " ", page_text(response)).split())


def entries(patient) -> list[WaitlistEntry]:
    sync()
    return list(db.session.scalars(select(WaitlistEntry).where(
        WaitlistEntry.patient_id == patient.id)))


def holds(patient) -> int:
    sync()
    return db.session.scalar(select(func.count()).select_from(Appointment).where(
        Appointment.patient_id == patient.id))


# --- the doctor's page ---------------------------------------------------------------------------


def test_the_doctors_page_offers_the_waitlist_to_patients_and_sends_visitors_to_log_in(
        client, new_client, world, factory):
    doctor = world["doctor"]
    join = f"/waitlist/join?doctor={doctor.id}"

    visitor = page_text(client.get(f"/doctors/{doctor.id}"))
    assert "None of these times suit you?" in visitor
    assert re.search(r'href="/account/login\?next=/waitlist/join\?doctor%3D' + str(doctor.id)
                     + r'"[^>]*>Log in to join the waitlist</a>', visitor)

    patient = new_client()
    patient.login(world["patient"].email)
    page = page_text(patient.get(f"/doctors/{doctor.id}"))
    assert f'href="{join}"' in page
    assert ">Join the waitlist</a>" in page

    # A doctor with nothing free: the same way in, under "nothing free".
    booked_out = factory.create_doctor(name="Dr. Booked Out", hours=())
    page = page_text(patient.get(f"/doctors/{booked_out.id}"))
    assert "No free times in the next two weeks." in page
    assert "Nothing free that suits you?" in page
    assert f'href="/waitlist/join?doctor={booked_out.id}"' in page

    staff = new_client()
    staff.login(doctor.user.email)
    assert "Join the waitlist" not in page_text(staff.get(f"/doctors/{doctor.id}"))


# --- joining -------------------------------------------------------------------------------------


def test_the_join_form_starts_with_the_next_week_and_the_doctors_choices(client, world):
    family.add_dependent(world["patient"], family.DependentData(
        "Mira Kumar", "CHILD", date(2020, 3, 15), "FEMALE"))
    client.login(world["patient"].email)

    page = client.get(f"/waitlist/join?doctor={world['doctor'].id}")

    text = page_text(page)
    assert page.status_code == 200
    assert "Join Dr. Asha Rao's waitlist" in text
    # The next 7 days, inside the 8-day booking window (the date pickers stop at its end).
    assert re.search(r'id="date_from"[^>]*value="2026-12-07"', text)
    assert re.search(r'id="date_to"[^>]*value="2026-12-13"', text)
    assert 'max="2026-12-14"' in text
    assert 'min="2026-12-07"' in text
    assert "Up to 14 December 2026" in text
    for label in ("Morning", "Afternoon", "Evening"):
        assert re.search(rf'type="checkbox" value="{label.upper()}"> {label}', text)
    for label in ("Either", "Video", "In person"):
        assert f"> {label}</label>" in text
    assert ">Myself</option>" in text
    assert ">Mira Kumar</option>" in text


def test_joining_saves_the_entry_and_my_waitlists_lists_it(client, world):
    mira = family.add_dependent(world["patient"], family.DependentData(
        "Mira Kumar", "CHILD", date(2020, 3, 15), "FEMALE"))
    client.login(world["patient"].email)

    response = client.post_form(f"/waitlist/join?doctor={world['doctor'].id}", {
        "date_from": "2026-12-08", "date_to": "2026-12-10", "day_parts": ["MORNING", "EVENING"],
        "consultation_type": "VIDEO", "for_whom": str(mira.id)})

    assert response.status_code == 303
    assert response.headers["Location"].endswith("/waitlist")
    [entry] = entries(world["patient"])
    assert (entry.date_from, entry.date_to) == (TUESDAY, date(2026, 12, 10))
    assert entry.day_parts == "MORNING,EVENING"
    assert (entry.consultation_type, entry.for_dependent_id) == ("VIDEO", mira.id)
    assert entry.status == EntryStatus.ACTIVE
    mine = page_text(client.get("/waitlist"))
    assert "You are on Dr. Asha Rao's waitlist from 08 Dec to 10 Dec." in mine
    listed = mine.split('aria-label="Your waitlists"')[1]
    assert "Dr. Asha Rao" in listed
    assert "8 Dec to 10 Dec 2026" in listed
    assert "<dd>Morning, Evening</dd>" in listed
    assert "<dd>Video</dd>" in listed
    assert "<dd>Mira Kumar</dd>" in listed


def test_the_join_form_shows_the_services_errors_on_their_fields(client, world):
    client.login(world["patient"].email)
    url = f"/waitlist/join?doctor={world['doctor'].id}"

    too_far = client.post_form(url, {"date_from": "2026-12-08", "date_to": "2026-12-30"})
    assert too_far.status_code == 422
    assert field_error(too_far, "date_to") == (
        "Dr. Asha Rao takes bookings up to 14 Dec 2026; choose that date or an earlier one.")
    assert 'aria-invalid="true"' in page_text(too_far)

    past = client.post_form(url, {"date_from": "2026-12-01", "date_to": "2026-12-05"})
    assert past.status_code == 422
    assert field_error(past, "date_from") == "Choose today or a later date."

    backwards = client.post_form(url, {"date_from": "2026-12-10", "date_to": "2026-12-08"})
    assert field_error(backwards, "date_to") == "The last date must not be before the first."

    odd = client.post_form(url, {"date_from": "2026-12-08", "date_to": "2026-12-08",
                                 "day_parts": "MIDNIGHT", "consultation_type": "HOME_VISIT"})
    assert odd.status_code == 422
    assert field_error(odd, "day_parts") == "Choose from morning, afternoon and evening."
    assert field_error(odd, "consultation_type") == (
        "This doctor does not offer that kind of consultation.")

    empty = client.post_form(url, {"date_from": "", "date_to": ""})
    assert empty.status_code == 422
    assert field_error(empty, "date_from") == "Choose the first date."

    someone_elses = client.post_form(url, {"date_from": "2026-12-08", "date_to": "2026-12-08",
                                           "for_whom": "00000000-0000-0000-0000-000000000001"})
    assert someone_elses.status_code == 422
    assert field_error(someone_elses, "for_whom")
    assert entries(world["patient"]) == []


def test_the_join_form_is_for_patients_and_names_a_real_doctor(client, new_client, world):
    doctor = world["doctor"]

    visitor = client.get(f"/waitlist/join?doctor={doctor.id}")
    assert visitor.status_code == 302
    assert visitor.headers["Location"] == (
        f"/account/login?next=/waitlist/join?doctor%3D{doctor.id}")

    staff = new_client()
    staff.login(doctor.user.email)
    assert staff.get(f"/waitlist/join?doctor={doctor.id}").status_code == 403

    client.login(world["patient"].email)
    assert client.get("/waitlist/join").status_code == 404
    assert client.get("/waitlist/join?doctor=not-a-uuid").status_code == 404
    assert client.get(f"/waitlist/join?doctor={world['admin'].id}").status_code == 404


# --- my waitlists --------------------------------------------------------------------------------


def test_my_waitlists_is_empty_at_first(client, world):
    client.login(world["patient"].email)

    page = page_text(client.get("/waitlist"))

    assert "You are not on any waitlist." in page
    assert "Times offered to you" not in page
    assert 'href="/waitlist"' in page  # in the main navigation


def test_leaving_a_waitlist_ends_it_and_withdraws_its_offer(client, world):
    offer = offered(world["patient"], world)
    client.login(world["patient"].email)
    page = page_text(client.get("/waitlist"))
    assert "Times offered to you" in page
    assert f'action="/waitlist/offers/{offer.id}/take"' in page

    response = client.post_form(f"/waitlist/{offer.entry_id}/leave")

    assert response.status_code == 303
    [entry] = entries(world["patient"])
    assert entry.status == EntryStatus.LEFT
    assert db.session.get(WaitlistOffer, offer.id).status == OfferStatus.WITHDRAWN
    page = page_text(client.get("/waitlist"))
    assert "You have left Dr. Asha Rao's waitlist." in page
    assert "You are not on any waitlist." in page


def test_leaving_with_htmx_swaps_the_lists_in_place(client, world):
    wait(world["patient"], world["doctor"])
    wait(world["patient"], world["doctor"], WEDNESDAY, WEDNESDAY, ("EVENING",))
    first = entries(world["patient"])[0]
    client.login(world["patient"].email)

    response = client.post(f"/waitlist/{first.id}/leave", headers={
        "HX-Request": "true", "X-CSRFToken": client.csrf_token()})

    text = page_text(response)
    assert response.status_code == 200
    assert text.lstrip().startswith('<div id="waitlists">')
    assert "You have left Dr. Asha Rao's waitlist." in text
    assert text.count('class="waitlist-item"') == 1


# --- the offer page ------------------------------------------------------------------------------


def test_the_offer_page_shows_the_time_in_the_patients_zone_and_a_get_takes_nothing(
        client, world, factory):
    london = factory.create_patient(name="Lena Brown", timezone="Europe/London", sms=False)
    offer = offered(london, world)
    client.login(london.email)

    page = client.get(f"/waitlist/offers/{offer.id}")

    text = page_text(page)
    assert page.status_code == 200
    assert "A time has come free" in text
    assert "Tue 08 Dec 2026, 11:30" in text  # 17:00 in Kolkata
    assert "Europe/London, your time zone" in text
    assert "Dr. Asha Rao" in text
    assert 'data-seconds="900"' in text  # 15 minutes to take it
    assert "Offered to you until 00:45 (Europe/London)" in words(page)
    assert re.search(rf'<form method="post" action="/waitlist/offers/{offer.id}/take"', text)
    assert ">Take it</button>" in text
    sync()
    assert db.session.get(WaitlistOffer, offer.id).status == OfferStatus.OFFERED
    assert holds(london) == 0

    fragment = client.get(f"/waitlist/offers/{offer.id}", headers={"HX-Request": "true"})
    assert page_text(fragment).lstrip().startswith('<section id="offer"')


def test_taking_an_offer_holds_the_time_and_leads_to_payment(client, world):
    offer = offered(world["patient"], world)
    client.login(world["patient"].email)

    response = client.post_form(f"/waitlist/offers/{offer.id}/take")

    assert response.status_code == 303
    sync()
    taken = db.session.get(WaitlistOffer, offer.id)
    assert taken.status == OfferStatus.TAKEN
    assert response.headers["Location"] == f"/appointments/{taken.appointment_id}"
    hold = db.session.get(Appointment, taken.appointment_id)
    assert (hold.status, hold.slot_id) == ("RESERVED", offer.slot_id)
    page = page_text(client.get(response.headers["Location"]))
    assert "Complete your booking" in page
    assert "Pay ₹500 securely" in page
    # The offer page now says it is theirs, and links to the hold.
    again = page_text(client.get(f"/waitlist/offers/{offer.id}"))
    assert "You took this time" in again
    assert f'href="/appointments/{taken.appointment_id}"' in again


def test_an_offer_someone_else_took_shows_the_gone_message(client, world):
    slot = on_day(world["video"], TUESDAY)[0]
    wait(world["other_patient"], world["doctor"])
    wait(world["patient"], world["doctor"])
    batch = service.offer_slot(slot.id)  # one batch: both are offered the time
    mine = next(o for o in batch if o.patient_id == world["patient"].id)
    ravis = next(o for o in batch if o.patient_id == world["other_patient"].id)
    service.claim(world["other_patient"], ravis.id)  # Ravi is first
    client.login(world["patient"].email)

    page = client.get(f"/waitlist/offers/{mine.id}")
    text = page_text(page)
    assert page.status_code == 200
    assert GONE in words(page)
    assert ">Take it</button>" not in text
    assert f'href="/doctors/{world["doctor"].id}"' in text

    # A stale page's "Take it": refused with the same message, and nothing is held.
    response = client.post_form(f"/waitlist/offers/{mine.id}/take")
    assert response.status_code == 409
    assert GONE in words(response)
    assert holds(world["patient"]) == 0
    assert entries(world["patient"])[0].status == EntryStatus.ACTIVE


def test_a_lapsed_offer_says_so_and_has_no_button(client, world, frozen_clock):
    offer = offered(world["patient"], world)
    frozen_clock.advance(timedelta(minutes=16))
    client.login(world["patient"].email)

    page = client.get(f"/waitlist/offers/{offer.id}")

    text = words(page)
    assert "This offer ended before it was taken. You are still on the waitlist." in text
    assert ">Take it</button>" not in page_text(page)
    response = client.post_form(f"/waitlist/offers/{offer.id}/take")
    assert response.status_code == 409
    assert "This offer ended before it was taken. You are still on the waitlist." in \
        words(response)
    sync()
    assert db.session.get(WaitlistOffer, offer.id).status == OfferStatus.LAPSED


def test_other_peoples_entries_and_offers_are_404_and_staff_are_refused(client, new_client,
                                                                        world):
    offer = offered(world["patient"], world)
    client.login(world["other_patient"].email)

    assert client.get(f"/waitlist/offers/{offer.id}").status_code == 404
    assert client.post_form(f"/waitlist/offers/{offer.id}/take").status_code == 404
    assert client.post_form(f"/waitlist/{offer.entry_id}/leave").status_code == 404
    assert "Dr. Asha Rao" not in page_text(client.get("/waitlist"))
    doctor = new_client()
    doctor.login(world["doctor"].user.email)
    assert doctor.get(f"/waitlist/offers/{offer.id}").status_code == 403
    assert doctor.get("/waitlist").status_code == 403
    sync()
    assert db.session.get(WaitlistOffer, offer.id).status == OfferStatus.OFFERED
    assert entries(world["patient"])[0].status == EntryStatus.ACTIVE


# --- the doctor and the admin --------------------------------------------------------------------


def day_header(page: str, label: str) -> str:
    match = re.search(rf'<th scope="col" class="day-col[^"]*"[^>]*>\s*<span class="day-name">'
                      rf'{label}</span>(.*?)</th>', page, re.S)
    assert match, f"no column for {label}"
    return " ".join(match.group(1).split())


def test_the_doctors_calendar_shows_how_many_wait_for_each_day(client, world, factory):
    wait(world["patient"], world["doctor"], TUESDAY, WEDNESDAY)
    wait(world["other_patient"], world["doctor"], TUESDAY, WEDNESDAY, ("MORNING",))
    wait(factory.create_patient(sms=False), world["doctor"], WEDNESDAY, WEDNESDAY)
    gone = factory.create_patient(sms=False)
    service.leave(gone, wait(gone, world["doctor"], TUESDAY, TUESDAY).id)  # left: not counted
    client.login(world["doctor"].user.email)

    page = page_text(client.get("/practice/calendar"))

    assert "0 waiting" not in page
    assert "waiting" not in day_header(page, "Mon")
    assert "2 waiting" in day_header(page, "Tue")
    assert "3 waiting" in day_header(page, "Wed")
    assert "waiting" not in day_header(page, "Thu")


def test_the_admin_sees_waitlist_conversion(client, new_client, world, factory, frozen_clock):
    slot, other_slot = on_day(world["in_person"], TUESDAY)[:2]
    people = [world["patient"], world["other_patient"], factory.create_patient(sms=False)]
    for person in people:
        wait(person, world["doctor"])
    batch = service.offer_slot(slot.id)
    assert len(batch) == 3
    frozen_clock.advance(timedelta(minutes=2))
    service.claim(people[0], batch[0].id)  # taken after 2 minutes; the other two: gone
    service.offer_slot(other_slot.id)  # to the two still waiting
    frozen_clock.advance(timedelta(minutes=16))
    service.next_batch(other_slot.id)  # untaken: lapsed
    client.login(world["admin"].email)

    page = client.get("/admin/waitlist")

    text = " ".join(page_text(page).split())
    assert page.status_code == 200
    assert 'href="/admin/waitlist"' in text  # in the admin's navigation
    row = re.search(r"<th scope=\"row\">Last 7 days</th>(.*?)</tr>", text).group(1)
    cells = re.findall(r'<td class="num">(.*?)</td>', row)
    assert cells == ["5", "1", "2", "2", "20%", "2 min"]
    assert "No waitlist offers" not in text

    patient = new_client()
    patient.login(world["patient"].email)
    assert patient.get("/admin/waitlist").status_code == 403

