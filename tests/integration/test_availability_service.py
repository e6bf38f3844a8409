"""Slot generation against the database: windows, regeneration, overrides, blocks, jobs."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from redis import Redis
from rq import Queue
from rq.cron import CronScheduler
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from portal.availability import service
from portal.availability.models import AvailableSlot, SlotStatus
from portal.availability.slots import ScheduleError
from portal.exceptions import Conflict
from portal.extensions import db
from portal.jobqueue import AppWorker, redis_connection
from tests.factories import MONDAY_MORNING, weekly_hours

IST = ZoneInfo("Asia/Kolkata")


def all_slots(doctor) -> list[AvailableSlot]:
    return list(db.session.scalars(select(AvailableSlot).where(AvailableSlot.doctor_id == doctor.id)
                                   .order_by(AvailableSlot.start_at)))


@pytest.fixture
def doctor(factory, frozen_clock):
    """A doctor without hours yet, booking 30 days ahead (the tests set the hours)."""
    frozen_clock.freeze(MONDAY_MORNING)
    return factory.create_doctor(timezone="Asia/Kolkata", hours=(), booking_window_days=30)


def test_weekly_hours_fill_the_rolling_window_in_utc(doctor):
    report = service.set_weekly_schedule(doctor, weekly_hours("09:00", "13:00"), date(2026, 12, 7))
    slots = all_slots(doctor)
    # 30 days from Monday 7 Dec: weekdays 7 Dec .. 5 Jan = 22 days x 8 slots
    assert report.created == len(slots) == 22 * 8
    assert slots[0].start_at == datetime(2026, 12, 7, 3, 30, tzinfo=UTC)  # 09:00 IST
    assert slots[-1].start_at.astimezone(UTC).date() == date(2027, 1, 5)


def test_regeneration_is_idempotent(doctor):
    service.set_weekly_schedule(doctor, weekly_hours("09:00", "13:00"), date(2026, 12, 7))
    before = {(s.id, s.start_at) for s in all_slots(doctor)}
    report = service.regenerate_doctor(doctor)
    assert (report.created, report.removed) == (0, 0)
    assert report.kept == len(before)
    assert {(s.id, s.start_at) for s in all_slots(doctor)} == before


def test_no_slot_starts_within_the_minimum_notice(doctor, frozen_clock):
    frozen_clock.freeze(datetime(2026, 12, 7, 4, 0, tzinfo=UTC))  # 09:30 IST
    service.set_weekly_schedule(doctor, weekly_hours("09:00", "13:00"), date(2026, 12, 7))
    first = all_slots(doctor)[0]
    assert first.start_at == datetime(2026, 12, 7, 6, 0, tzinfo=UTC)  # 11:30 IST, 2 h later


def test_a_schedule_from_next_month_leaves_this_month_alone(doctor):
    service.set_weekly_schedule(doctor, weekly_hours("09:00", "13:00"), date(2026, 12, 7))
    service.set_weekly_schedule(doctor, weekly_hours("14:00", "16:00"), date(2027, 1, 1))
    december = [s for s in all_slots(doctor) if s.start_at < datetime(2026, 12, 31, tzinfo=UTC)]
    january = [s for s in all_slots(doctor) if s.start_at >= datetime(2027, 1, 1, tzinfo=UTC)]
    assert december
    assert all(9 <= s.start_at.astimezone(IST).hour < 13 for s in december)
    assert january
    assert all(14 <= s.start_at.astimezone(IST).hour < 16 for s in january)
    schedule = service.get_schedule(doctor)
    assert {r.start_time for r in schedule.weekly} == {time(9)}
    assert {r.start_time for r in schedule.upcoming} == {time(14)}


def test_regeneration_never_touches_a_booked_slot_and_reports_it(doctor):
    service.set_weekly_schedule(doctor, weekly_hours("09:00", "13:00"), date(2026, 12, 7))
    booked = all_slots(doctor)[3]  # Monday 10:30 IST
    booked.status = SlotStatus.BOOKED.value
    db.session.commit()

    report = service.set_weekly_schedule(doctor, weekly_hours("14:00", "17:00"), date(2026, 12, 7))

    db.session.refresh(booked)
    assert booked.status == SlotStatus.BOOKED.value
    assert [s.id for s in report.conflicts] == [booked.id]
    free_mornings = [s for s in all_slots(doctor) if s.status == "FREE"
                     and s.start_at.astimezone(IST).hour < 13]
    assert free_mornings == []


def test_a_new_grid_never_offers_a_free_slot_overlapping_a_booked_one(doctor):
    service.set_weekly_schedule(doctor, weekly_hours("09:00", "13:00"), date(2026, 12, 7))
    booked = all_slots(doctor)[1]  # 09:30-10:00 IST
    booked.status = SlotStatus.BOOKED.value
    db.session.commit()

    service.set_weekly_schedule(doctor, weekly_hours("09:00", "12:00", minutes=45),
                                date(2026, 12, 7))

    slots = all_slots(doctor)
    for a, b in itertools.pairwise(slots):
        assert a.end_at <= b.start_at, f"{a.start_at} overlaps {b.start_at}"
    assert booked.id in {s.id for s in slots}


def test_a_day_off_removes_that_days_slots_and_removing_it_brings_them_back(doctor):
    service.set_weekly_schedule(doctor, weekly_hours("09:00", "13:00"), date(2026, 12, 7))
    override, report = service.add_override(doctor, service.OverrideInput(
        date(2026, 12, 8), date(2026, 12, 9), "OFF", reason="Conference"))
    assert report.removed == 16
    days = {s.start_at.astimezone(IST).date() for s in all_slots(doctor)}
    assert date(2026, 12, 8) not in days
    assert date(2026, 12, 9) not in days

    service.remove_override(doctor, override.id)
    days = {s.start_at.astimezone(IST).date() for s in all_slots(doctor)}
    assert date(2026, 12, 8) in days


def test_custom_hours_replace_the_weekly_hours_on_that_date(doctor):
    service.set_weekly_schedule(doctor, weekly_hours("09:00", "13:00"), date(2026, 12, 7))
    service.add_override(doctor, service.OverrideInput(
        date(2026, 12, 12), date(2026, 12, 12), "CUSTOM", reason="Saturday clinic",
        start=time(10), end=time(11), consultation_type="VIDEO", slot_minutes=30))
    saturday = [s for s in all_slots(doctor) if s.start_at.astimezone(IST).date()
                == date(2026, 12, 12)]
    assert [(s.start_at.hour, s.start_at.minute, s.consultation_type) for s in saturday] == [
        (4, 30, "VIDEO"), (5, 0, "VIDEO")]


def test_an_override_in_the_past_is_refused(doctor):
    with pytest.raises(ScheduleError) as error:
        service.add_override(doctor, service.OverrideInput(
            date(2026, 12, 1), date(2026, 12, 2), "OFF"))
    assert error.value.field == "start_date"


def test_blocking_removes_free_slots_and_unblocking_restores_them(doctor):
    service.set_weekly_schedule(doctor, weekly_hours("09:00", "13:00"), date(2026, 12, 7))
    target = all_slots(doctor)[2]
    block = service.block_interval(doctor, target.start_at, target.end_at, "Surgery")
    assert target.start_at not in {s.start_at for s in all_slots(doctor)}
    assert service.regenerate_doctor(doctor).created == 0  # the block holds on regeneration
    service.unblock(doctor, block.id)
    assert target.start_at in {s.start_at for s in all_slots(doctor)}


def test_a_block_over_a_booked_slot_is_refused(doctor):
    service.set_weekly_schedule(doctor, weekly_hours("09:00", "13:00"), date(2026, 12, 7))
    booked = all_slots(doctor)[0]
    booked.status = SlotStatus.BOOKED.value
    db.session.commit()
    with pytest.raises(Conflict):
        service.block_interval(doctor, booked.start_at - timedelta(minutes=30),
                               booked.end_at + timedelta(hours=1))
    assert db.session.get(AvailableSlot, booked.id).status == "BOOKED"


def test_a_lapsed_hold_is_listed_as_free_and_a_live_one_is_not(doctor, frozen_clock):
    service.set_weekly_schedule(doctor, weekly_hours("09:00", "13:00"), date(2026, 12, 7))
    live, lapsed = all_slots(doctor)[:2]
    db.session.execute(update(AvailableSlot).where(AvailableSlot.id == live.id).values(
        status="HELD", held_until=MONDAY_MORNING + timedelta(minutes=5)))
    db.session.execute(update(AvailableSlot).where(AvailableSlot.id == lapsed.id).values(
        status="HELD", held_until=MONDAY_MORNING - timedelta(minutes=1)))
    db.session.commit()
    listed = {s.id for s in service.free_slots(doctor, MONDAY_MORNING,
                                               MONDAY_MORNING + timedelta(days=1))}
    assert lapsed.id in listed
    assert live.id not in listed


def test_the_daily_job_extends_every_window_through_a_real_worker(app, doctor, frozen_clock,
                                                                   redis_url):

    service.set_weekly_schedule(doctor, weekly_hours("09:00", "13:00"), date(2026, 12, 7))
    last_before = all_slots(doctor)[-1].start_at
    frozen_clock.advance(timedelta(days=1))

    connection = redis_connection(redis_url)
    job = Queue("default", connection=connection).enqueue("jobs.availability.extend_windows")
    worker = AppWorker([Queue("default", connection=connection)], connection=connection)
    worker.app = app
    worker.work(burst=True)

    job.refresh()
    assert job.get_status() == "finished", job.latest_result()
    assert job.return_value()["doctors"] == 1
    db.session.expire_all()
    assert all_slots(doctor)[-1].start_at > last_before


def test_the_cron_configuration_registers_the_daily_extension(redis_url):
    scheduler = CronScheduler(connection=Redis.from_url(redis_url))
    scheduler.load_config_from_file("jobs.cron")
    jobs = {job.name: job for job in scheduler.get_jobs()}
    assert jobs["extend-slot-windows"].cron == "15 0 * * *"
    assert jobs["extend-slot-windows"].func_name == "jobs.availability.extend_windows"


def test_the_cli_regenerates_with_a_summary(runner, doctor):
    service.set_weekly_schedule(doctor, weekly_hours("09:00", "13:00"), date(2026, 12, 7))
    db.session.execute(AvailableSlot.__table__.delete())
    db.session.commit()
    result = runner.invoke(args=["regenerate-slots"])
    assert result.exit_code == 0, result.output
    assert "176 slots created" in result.output


def test_the_database_refuses_two_overlapping_slots_of_one_doctor(doctor):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("exclusion constraints exist only on PostgreSQL; SQLite relies on the "
                    "unique start index and the generator")
    service.set_weekly_schedule(doctor, weekly_hours("09:00", "10:00"), date(2026, 12, 7))
    first = all_slots(doctor)[0]
    db.session.add(AvailableSlot(doctor_id=doctor.id, start_at=first.start_at + timedelta(
        minutes=10), end_at=first.end_at + timedelta(minutes=10), consultation_type="VIDEO"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
