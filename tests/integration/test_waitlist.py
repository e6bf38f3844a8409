"""The waitlist (issue 14) on a frozen clock: offers in join order and in batches, lapses,
claims decided by the database, new hours, ranges and limits."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import select

from portal.appointments import service as appointments
from portal.appointments.models import Appointment
from portal.availability import service as availability
from portal.extensions import db
from portal.notifications.models import NotificationLog
from portal.waitlist import service
from portal.waitlist.models import EntryStatus, OfferStatus, WaitlistOffer
from tests.factories import MONDAY_MORNING, PASSWORD
from tests.integration.test_notifications import settle

KOLKATA = ZoneInfo("Asia/Kolkata")


@pytest.fixture
def clinic(app, factory, frozen_clock):
    """A free video doctor 09:00-13:00 on weekdays, a week ahead; one patient books Tuesday
    10:00, five others wait for Tuesday mornings (in this order)."""
    frozen_clock.freeze(MONDAY_MORNING)
    doctor = factory.create_doctor(fee_video_paise=0, fee_in_person_paise=None,
                                   hours=factory.weekly_hours("09:00", "13:00", "VIDEO"),
                                   booking_window_days=7)
    slots = factory.free_slots(doctor)
    tuesday = date(2026, 12, 8)
    wanted = next(s for s in slots if s.start_at.astimezone(KOLKATA).date() >= tuesday
                  and s.start_at.hour == 4 and s.start_at.minute == 30)  # 10:00 in Kolkata
    holder = factory.create_patient(sms=False)
    booked = factory.book(holder, wanted, confirm=True)
    settle(app)  # the new hours' and the booking's events, before anyone waits
    waiting = [factory.create_patient(sms=False) for _ in range(5)]
    entries = [service.join(p, service.EntryInput(doctor.id, tuesday, tuesday, ("MORNING",)))
               for p in waiting]
    return {"doctor": doctor, "holder": holder, "booked": booked, "slot": wanted,
            "waiting": waiting, "entries": entries, "slots": slots}


def offers(slot_id=None) -> list[WaitlistOffer]:
    db.session.expire_all()
    stmt = select(WaitlistOffer).order_by(WaitlistOffer.offered_at, WaitlistOffer.batch)
    if slot_id is not None:
        stmt = stmt.where(WaitlistOffer.slot_id == slot_id)
    return list(db.session.scalars(stmt))


def offered_to(slot_id) -> list:
    return [o.patient_id for o in offers(slot_id) if o.status == OfferStatus.OFFERED]


def test_a_cancellation_offers_the_slot_to_the_first_batch_then_the_next(app, clinic,
                                                                         frozen_clock):
    appointments.cancel_by_patient(clinic["holder"], clinic["booked"].id)
    settle(app)
    waiting = [p.id for p in clinic["waiting"]]
    assert offered_to(clinic["slot"].id) == waiting[:3]
    # Each is told on their channels, with a link to take it.
    sent = db.session.scalars(select(NotificationLog).where(
        NotificationLog.type == "WAITLIST_OFFER", NotificationLog.channel == "IN_APP")).all()
    assert {row.user_id for row in sent} == set(waiting[:3])
    assert all("/waitlist/offers/" in (row.link or "") for row in sent)
    # Nobody takes it: at the offer's end the next batch (the other two) gets it.
    frozen_clock.advance(timedelta(minutes=15))
    service.next_batch(clinic["slot"].id)
    assert offered_to(clinic["slot"].id) == waiting[3:]
    assert [o.status for o in offers(clinic["slot"].id)][:3] == [OfferStatus.LAPSED] * 3


def test_an_offer_never_outlasts_the_notice_period(app, clinic, frozen_clock):
    frozen_clock.freeze(clinic["slot"].start_at - timedelta(hours=2, minutes=10))
    appointments.cancel_by_patient(clinic["holder"], clinic["booked"].id)
    settle(app)
    made = offers(clinic["slot"].id)
    assert made
    notice = timedelta(minutes=clinic["doctor"].min_notice_minutes)
    assert {o.expires_at for o in made} == {clinic["slot"].start_at - notice}


def test_two_simultaneous_claims_give_one_hold_and_one_clear_refusal(app, clinic,
                                                                     live_server):
    appointments.cancel_by_patient(clinic["holder"], clinic["booked"].id)
    settle(app)
    made = [o for o in offers(clinic["slot"].id) if o.status == OfferStatus.OFFERED][:2]
    sessions = []
    for offer in made:
        user = next(p for p in clinic["waiting"] if p.id == offer.patient_id)
        http = requests.Session()
        token = http.post(f"{live_server.url}/api/v1/auth/token", timeout=30,
                          json={"email": user.email, "password": PASSWORD}).json()
        http.headers["Authorization"] = f"Bearer {token['access_token']}"
        sessions.append((http, offer))
    barrier = threading.Barrier(len(sessions))
    answers: list = [None] * len(sessions)

    def take(index: int) -> None:
        http, offer = sessions[index]
        barrier.wait()
        answers[index] = http.post(f"{live_server.url}/api/v1/waitlist/offers/{offer.id}/take",
                                   timeout=30)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(len(sessions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201, 409]
    refusal = next(a for a in answers if a.status_code == 409).json()
    assert "still on the waitlist" in refusal["detail"]
    db.session.expire_all()
    holds = db.session.scalars(select(Appointment).where(
        Appointment.slot_id == clinic["slot"].id, Appointment.status == "RESERVED")).all()
    assert len(holds) == 1
    # The third offered patient is told at once that it has gone, and stays on the list.
    third = next(o for o in offers(clinic["slot"].id) if o.id not in {m.id for m in made})
    assert third.status == OfferStatus.GONE
    assert third.entry.status == EntryStatus.ACTIVE


def test_a_widened_schedule_offers_its_new_slots(app, clinic, factory):
    availability.set_weekly_schedule(
        clinic["doctor"], factory.weekly_hours("07:00", "13:00", "VIDEO"), date(2026, 12, 7))
    settle(app)
    made = offers()
    assert made  # the new 07:00-09:00 slots on Tuesday, in the morning as asked
    assert all(o.start_at.astimezone(KOLKATA).date() == date(2026, 12, 8) for o in made)
    first = offers(made[0].slot_id)
    assert [o.patient_id for o in first] == [p.id for p in clinic["waiting"][:3]]
    # One decision at a time: the next new slot goes to those without an open offer.
    assert {o.patient_id for o in made} == {p.id for p in clinic["waiting"]}


def test_an_entry_past_its_range_offers_nothing(app, clinic, frozen_clock, factory):
    frozen_clock.freeze(MONDAY_MORNING + timedelta(days=2))  # Wednesday: Tuesday is gone
    assert service.entries_of(clinic["waiting"][0]) == []
    wednesday = next(s for s in clinic["slots"]
                     if s.start_at.astimezone(KOLKATA).date() == date(2026, 12, 9))
    other = factory.create_patient(sms=False)
    booked = factory.book(other, wednesday, confirm=True)
    appointments.cancel_by_patient(other, booked.id)
    settle(app)
    assert offers() == []


def test_taking_an_offer_is_a_normal_hold_and_ends_the_entry(app, clinic):
    appointments.cancel_by_patient(clinic["holder"], clinic["booked"].id)
    settle(app)
    first = offers(clinic["slot"].id)[0]
    taker = next(p for p in clinic["waiting"] if p.id == first.patient_id)
    held = service.claim(taker, first.id)
    assert held.status == "RESERVED"
    assert held.slot_id == clinic["slot"].id
    assert service.entries_of(taker) == []
    with pytest.raises(service.NotFound):
        service.claim(clinic["waiting"][4], first.id)  # not theirs


def test_patients_busy_with_the_doctor_that_day_and_daily_limits_are_skipped(
        app, clinic, factory, monkeypatch):
    first = clinic["waiting"][0]
    busy = next(s for s in clinic["slots"] if s.id != clinic["slot"].id
                and s.start_at.astimezone(KOLKATA).date() == date(2026, 12, 8))
    factory.book(first, busy, confirm=True)
    monkeypatch.setitem(app.config, "WAITLIST_MAX_OFFERS_PER_DAY", 0)
    appointments.cancel_by_patient(clinic["holder"], clinic["booked"].id)
    settle(app)
    assert offers() == []  # nobody may get an offer today
    monkeypatch.setitem(app.config, "WAITLIST_MAX_OFFERS_PER_DAY", 5)
    service.offer_slot(clinic["slot"].id)
    assert first.id not in offered_to(clinic["slot"].id)  # already seeing the doctor that day
    assert offered_to(clinic["slot"].id) == [p.id for p in clinic["waiting"][1:4]]
