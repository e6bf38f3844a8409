"""Specification of slot generation: weekly wall-time schedules in an IANA zone -> UTC slots.

Pure unit tests: no app, no database, no fixtures from conftest.
"""

from __future__ import annotations

import time as perf
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from portal.availability.slots import (
    Block,
    CustomRange,
    Override,
    ScheduleError,
    Slot,
    WeeklyRange,
    generate_slots,
    get_zone,
    validate_override,
    validate_ranges,
    validate_timezone,
    validate_window,
)
from portal.exceptions import DomainError

NEW_YORK = "America/New_York"
LONDON = "Europe/London"
KOLKATA = "Asia/Kolkata"

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
NO_NOTICE = timedelta(0)


def t(hhmm: str) -> time:
    return time.fromisoformat(hhmm)


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def every_day(start: str, end: str, slot: int, buffer: int = 0, kind: str = "IN_PERSON",
              effective_from: date | None = None,
              effective_to: date | None = None) -> list[WeeklyRange]:
    return [
        WeeklyRange(weekday, t(start), t(end), slot, buffer, kind, effective_from, effective_to)
        for weekday in range(7)
    ]


def generate(ranges, tz: str, first: date, last: date | None = None, *, overrides=(),
             blocks=(), now: datetime = LONG_AGO, notice: timedelta = NO_NOTICE) -> list[Slot]:
    return generate_slots(ranges, overrides, blocks, tz, first, last or first, now, notice)


def local_starts(slots: list[Slot], tz: str) -> list[str]:
    zone = ZoneInfo(tz)
    return [s.start.astimezone(zone).strftime("%H:%M") for s in slots]


def local_ends(slots: list[Slot], tz: str) -> list[str]:
    zone = ZoneInfo(tz)
    return [s.end.astimezone(zone).strftime("%H:%M") for s in slots]


def on_local_date(slots: list[Slot], tz: str, day: date) -> list[Slot]:
    zone = ZoneInfo(tz)
    return [s for s in slots if s.start.astimezone(zone).date() == day]


def assert_no_overlaps(slots: list[Slot]) -> None:
    for earlier, later in pairwise(slots):
        assert earlier.end <= later.start, f"{earlier} overlaps {later}"


# ------------------------------------------------------------------------------------------
# America/New_York: spring forward on 2026-03-08 (02:00 EST -> 03:00 EDT)
# ------------------------------------------------------------------------------------------


def test_a_nine_to_one_schedule_stays_nine_to_one_local_across_the_new_york_spring_change():
    slots = generate(every_day("09:00", "13:00", 60), NEW_YORK, date(2026, 3, 7), date(2026, 3, 9))

    for day in (date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9)):
        today = on_local_date(slots, NEW_YORK, day)
        assert local_starts(today, NEW_YORK) == ["09:00", "10:00", "11:00", "12:00"]
        assert local_ends(today, NEW_YORK)[-1] == "13:00"
    assert [s.start for s in slots[::4]] == [
        utc(2026, 3, 7, 14),  # EST, UTC-5
        utc(2026, 3, 8, 13),  # EDT, UTC-4
        utc(2026, 3, 9, 13),
    ]


def test_the_new_york_spring_night_has_no_slot_in_the_missing_two_oclock_hour_and_no_duplicates():
    slots = generate(every_day("00:00", "04:00", 30), NEW_YORK, date(2026, 3, 8))

    assert local_starts(slots, NEW_YORK) == ["00:00", "00:30", "01:00", "01:30", "03:00", "03:30"]
    assert [s.start for s in slots] == [
        utc(2026, 3, 8, 5), utc(2026, 3, 8, 5, 30), utc(2026, 3, 8, 6), utc(2026, 3, 8, 6, 30),
        utc(2026, 3, 8, 7), utc(2026, 3, 8, 7, 30),
    ]
    assert all(s.end - s.start == timedelta(minutes=30) for s in slots)
    assert_no_overlaps(slots)


def test_a_start_in_the_spring_gap_is_skipped_rather_than_shifted_an_hour_later():
    # 45-minute grid: 00:00 00:45 01:30 [02:15 does not exist] 03:00 03:45 04:30 05:15.
    # Converted naively, 02:15 would become 03:15 EDT, a start the doctor never scheduled.
    slots = generate(every_day("00:00", "06:00", 45), NEW_YORK, date(2026, 3, 8))

    assert "03:15" not in local_starts(slots, NEW_YORK)
    assert local_starts(slots, NEW_YORK) == ["00:00", "00:45", "01:30", "03:45", "04:30", "05:15"]


def test_a_slot_straddling_the_spring_gap_keeps_its_real_length_and_the_overlapped_next_goes():
    # 01:30 EST + 45 real minutes ends at 03:15 EDT, so the grid's 03:00 slot would overlap it:
    # the earlier-starting slot wins.
    slots = generate(every_day("00:00", "06:00", 45), NEW_YORK, date(2026, 3, 8))

    straddling = slots[2]
    assert (straddling.start, straddling.end) == (utc(2026, 3, 8, 6, 30), utc(2026, 3, 8, 7, 15))
    assert utc(2026, 3, 8, 7) not in [s.start for s in slots]  # 03:00 EDT
    assert all(s.end - s.start == timedelta(minutes=45) for s in slots)
    assert_no_overlaps(slots)


def test_a_slot_the_spring_gap_pushes_past_the_range_end_on_the_wall_clock_is_not_made():
    # 00:00-03:00 in 90-minute slots: 01:30 EST + 90 minutes is 04:00 EDT, past 03:00.
    slots = generate(every_day("00:00", "03:00", 90), NEW_YORK, date(2026, 3, 8))

    assert [(s.start, s.end) for s in slots] == [(utc(2026, 3, 8, 5), utc(2026, 3, 8, 6, 30))]


# ------------------------------------------------------------------------------------------
# America/New_York: fall back on 2026-11-01 (02:00 EDT -> 01:00 EST)
# ------------------------------------------------------------------------------------------


def test_a_nine_to_one_schedule_stays_nine_to_one_local_across_the_new_york_fall_change():
    slots = generate(every_day("09:00", "13:00", 60), NEW_YORK, date(2026, 10, 31),
                     date(2026, 11, 2))

    for day in (date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 2)):
        today = on_local_date(slots, NEW_YORK, day)
        assert local_starts(today, NEW_YORK) == ["09:00", "10:00", "11:00", "12:00"]
        assert local_ends(today, NEW_YORK)[-1] == "13:00"
    assert [s.start for s in slots[::4]] == [
        utc(2026, 10, 31, 13),  # EDT, UTC-4
        utc(2026, 11, 1, 14),  # EST, UTC-5
        utc(2026, 11, 2, 14),
    ]


def test_the_new_york_fall_night_offers_the_repeated_one_oclock_hour_once_at_its_first_occurrence():
    slots = generate(every_day("00:00", "04:00", 30), NEW_YORK, date(2026, 11, 1))

    assert local_starts(slots, NEW_YORK) == [
        "00:00", "00:30", "01:00", "01:30", "02:00", "02:30", "03:00", "03:30",
    ]
    assert [s.start for s in slots] == [
        utc(2026, 11, 1, 4), utc(2026, 11, 1, 4, 30),
        utc(2026, 11, 1, 5), utc(2026, 11, 1, 5, 30),  # 01:00 and 01:30 EDT, the first pass
        utc(2026, 11, 1, 7), utc(2026, 11, 1, 7, 30),  # 02:00 EST; 06:00-07:00 UTC is unused
        utc(2026, 11, 1, 8), utc(2026, 11, 1, 8, 30),
    ]
    assert slots[2].start.astimezone(ZoneInfo(NEW_YORK)).utcoffset() == timedelta(hours=-4)
    assert_no_overlaps(slots)


def test_a_slot_crossing_the_fall_back_lasts_its_real_length_not_its_wall_clock_length():
    # 01:30 EDT + 45 real minutes is 01:15 EST; measured on the wall it would be 1h45.
    slots = generate(every_day("00:00", "04:30", 45), NEW_YORK, date(2026, 11, 1))

    assert [s.start for s in slots] == [
        utc(2026, 11, 1, 4), utc(2026, 11, 1, 4, 45), utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 1, 7, 15), utc(2026, 11, 1, 8), utc(2026, 11, 1, 8, 45),
    ]
    assert all(s.end - s.start == timedelta(minutes=45) for s in slots)
    assert_no_overlaps(slots)


# ------------------------------------------------------------------------------------------
# Europe/London: 2026-03-29 (01:00 GMT -> 02:00 BST) and 2026-10-25 (02:00 BST -> 01:00 GMT)
# ------------------------------------------------------------------------------------------


def test_a_nine_to_one_schedule_stays_nine_to_one_local_across_both_london_changes():
    ranges = every_day("09:00", "13:00", 60)
    spring = generate(ranges, LONDON, date(2026, 3, 28), date(2026, 3, 30))
    autumn = generate(ranges, LONDON, date(2026, 10, 24), date(2026, 10, 26))

    assert local_starts(spring, LONDON) == ["09:00", "10:00", "11:00", "12:00"] * 3
    assert local_starts(autumn, LONDON) == ["09:00", "10:00", "11:00", "12:00"] * 3
    assert [s.start for s in spring[::4]] == [
        utc(2026, 3, 28, 9), utc(2026, 3, 29, 8), utc(2026, 3, 30, 8),
    ]
    assert [s.start for s in autumn[::4]] == [
        utc(2026, 10, 24, 8), utc(2026, 10, 25, 9), utc(2026, 10, 26, 9),
    ]


def test_the_london_spring_night_skips_the_missing_one_oclock_hour():
    slots = generate(every_day("00:00", "03:00", 60), LONDON, date(2026, 3, 29))

    assert local_starts(slots, LONDON) == ["00:00", "02:00"]
    assert [(s.start, s.end) for s in slots] == [
        (utc(2026, 3, 29, 0), utc(2026, 3, 29, 1)),
        (utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)),
    ]


def test_the_london_autumn_night_offers_one_oclock_once_in_summer_time():
    slots = generate(every_day("00:00", "03:00", 60), LONDON, date(2026, 10, 25))

    assert local_starts(slots, LONDON) == ["00:00", "01:00", "02:00"]
    assert [s.start for s in slots] == [
        utc(2026, 10, 24, 23), utc(2026, 10, 25, 0), utc(2026, 10, 25, 2),
    ]


# ------------------------------------------------------------------------------------------
# Asia/Kolkata: UTC+05:30 all year
# ------------------------------------------------------------------------------------------


def test_kolkata_has_a_half_hour_offset_and_no_daylight_saving():
    ranges = every_day("09:00", "13:00", 30)
    for day in (date(2026, 3, 8), date(2026, 11, 1)):
        slots = generate(ranges, KOLKATA, day)

        assert len(slots) == 8
        first = datetime.combine(day, time(3, 30), tzinfo=UTC)
        assert (slots[0].start, slots[-1].end) == (first, first + timedelta(hours=4))


# ------------------------------------------------------------------------------------------
# Overrides
# ------------------------------------------------------------------------------------------


def test_a_day_off_override_over_a_date_range_removes_every_date_in_it_and_no_other():
    vacation = Override(date(2026, 3, 3), date(2026, 3, 5), "OFF", reason="Vacation")
    slots = generate(every_day("09:00", "10:00", 60), KOLKATA, date(2026, 3, 1),
                     date(2026, 3, 8), overrides=[vacation])

    days = [s.start.astimezone(ZoneInfo(KOLKATA)).day for s in slots]
    assert days == [1, 2, 6, 7, 8]


def test_custom_hours_replace_the_weekly_hours_on_their_dates_only():
    custom = Override(date(2026, 3, 4), date(2026, 3, 4), "CUSTOM",
                      (CustomRange(t("14:00"), t("16:00"), 60, 0, "VIDEO"),), "Afternoon clinic")
    slots = generate(every_day("09:00", "11:00", 60), KOLKATA, date(2026, 3, 3),
                     date(2026, 3, 5), overrides=[custom])

    assert [(s.start.astimezone(ZoneInfo(KOLKATA)).strftime("%d %H:%M"), s.consultation_type)
            for s in slots] == [
        ("03 09:00", "IN_PERSON"), ("03 10:00", "IN_PERSON"),
        ("04 14:00", "VIDEO"), ("04 15:00", "VIDEO"),
        ("05 09:00", "IN_PERSON"), ("05 10:00", "IN_PERSON"),
    ]


def test_custom_hours_open_a_day_without_weekly_hours_and_accept_plain_tuples():
    sunday = date(2026, 3, 8)
    weekdays_only = [WeeklyRange(d, t("09:00"), t("10:00"), 30) for d in range(5)]
    custom = Override(sunday, sunday, "CUSTOM", ((t("10:00"), t("11:00"), 30, 0, "VIDEO"),))

    slots = generate(weekdays_only, KOLKATA, sunday, overrides=[custom])

    assert custom.ranges[0] == CustomRange(t("10:00"), t("11:00"), 30, 0, "VIDEO")
    assert local_starts(slots, KOLKATA) == ["10:00", "10:30"]


def test_a_custom_override_without_hours_closes_the_day():
    day = date(2026, 3, 4)
    slots = generate(every_day("09:00", "10:00", 30), KOLKATA, day,
                     overrides=[Override(day, day, "CUSTOM")])

    assert slots == []


@pytest.mark.parametrize("off_first", [True, False])
def test_a_day_off_wins_over_custom_hours_on_the_same_date(off_first):
    day = date(2026, 3, 4)
    off = Override(day, day, "OFF", reason="Holiday")
    custom = Override(day, day, "CUSTOM", (CustomRange(t("14:00"), t("15:00"), 30),))
    overrides = [off, custom] if off_first else [custom, off]

    assert generate(every_day("09:00", "10:00", 30), KOLKATA, day, overrides=overrides) == []


# ------------------------------------------------------------------------------------------
# Blocks, notice, effective dates, buffers, overlapping ranges
# ------------------------------------------------------------------------------------------


def test_a_slot_overlapping_a_block_is_not_generated():
    block = Block(utc(2026, 3, 4, 10, 30), utc(2026, 3, 4, 10, 45))
    slots = generate(every_day("09:00", "12:00", 60), "UTC", date(2026, 3, 4), blocks=[block])

    assert local_starts(slots, "UTC") == ["09:00", "11:00"]


def test_a_block_that_only_touches_a_slot_does_not_remove_it():
    block = Block(utc(2026, 3, 4, 10), utc(2026, 3, 4, 11))  # exactly the 10:00 slot
    slots = generate(every_day("09:00", "12:00", 60), "UTC", date(2026, 3, 4), blocks=[block])

    assert local_starts(slots, "UTC") == ["09:00", "11:00"]


def test_a_long_block_is_found_even_when_a_shorter_one_starts_after_it():
    blocks = [
        Block(utc(2026, 3, 4, 9, 10), utc(2026, 3, 4, 9, 20)),
        Block(utc(2026, 3, 4, 8), utc(2026, 3, 4, 12, 30)),  # covers 09:00-12:30
    ]
    slots = generate(every_day("09:00", "14:00", 60), "UTC", date(2026, 3, 4), blocks=blocks)

    assert local_starts(slots, "UTC") == ["13:00"]


def test_blocks_given_in_another_zone_are_compared_as_instants():
    ist = ZoneInfo(KOLKATA)
    block = Block(datetime(2026, 3, 4, 15, 30, tzinfo=ist),
                  datetime(2026, 3, 4, 16, 30, tzinfo=ist))
    slots = generate(every_day("09:00", "12:00", 60), "UTC", date(2026, 3, 4), blocks=[block])

    assert local_starts(slots, "UTC") == ["09:00", "11:00"]  # 15:30 IST is 10:00 UTC


def test_slots_starting_before_now_plus_min_notice_are_dropped_and_one_starting_exactly_then_kept():
    slots = generate(every_day("08:00", "12:00", 60), "UTC", date(2026, 3, 4),
                     now=utc(2026, 3, 4, 7, 0), notice=timedelta(hours=2))

    assert local_starts(slots, "UTC") == ["09:00", "10:00", "11:00"]


def test_a_new_schedule_starting_next_month_takes_over_on_its_first_day():
    old = every_day("09:00", "10:00", 60, effective_to=date(2026, 3, 31))
    new = every_day("14:00", "15:00", 60, kind="VIDEO", effective_from=date(2026, 4, 1))
    slots = generate(old + new, KOLKATA, date(2026, 3, 30), date(2026, 4, 2))

    assert [(s.start.astimezone(ZoneInfo(KOLKATA)).strftime("%m-%d %H:%M"), s.consultation_type)
            for s in slots] == [
        ("03-30 09:00", "IN_PERSON"), ("03-31 09:00", "IN_PERSON"),
        ("04-01 14:00", "VIDEO"), ("04-02 14:00", "VIDEO"),
    ]


def test_a_buffer_leaves_a_gap_after_each_slot():
    slots = generate(every_day("09:00", "11:30", 30, buffer=10), "UTC", date(2026, 3, 4))

    assert local_starts(slots, "UTC") == ["09:00", "09:40", "10:20", "11:00"]
    assert local_ends(slots, "UTC") == ["09:30", "10:10", "10:50", "11:30"]


def test_a_slot_is_only_made_if_it_ends_by_the_end_of_the_range():
    slots = generate(every_day("09:00", "11:20", 30, buffer=10), "UTC", date(2026, 3, 4))

    assert local_ends(slots, "UTC") == ["09:30", "10:10", "10:50"]


def test_overlapping_ranges_on_one_day_keep_the_earlier_starting_slot():
    wednesday = 2
    ranges = [
        WeeklyRange(wednesday, t("10:30"), t("12:30"), 60, 0, "VIDEO"),
        WeeklyRange(wednesday, t("09:00"), t("11:00"), 60),
    ]
    slots = generate(ranges, "UTC", date(2026, 3, 4))

    assert list(zip(local_starts(slots, "UTC"), [s.consultation_type for s in slots],
                    strict=True)) == [
        ("09:00", "IN_PERSON"), ("10:00", "IN_PERSON"), ("11:30", "VIDEO"),
    ]
    assert_no_overlaps(slots)


def test_two_ranges_starting_together_give_one_slot_from_the_range_listed_first():
    wednesday = 2
    ranges = [
        WeeklyRange(wednesday, t("09:00"), t("10:00"), 60, 0, "VIDEO"),
        WeeklyRange(wednesday, t("09:00"), t("10:00"), 30),
    ]
    slots = generate(ranges, "UTC", date(2026, 3, 4))

    assert [(s.start, s.end, s.consultation_type) for s in slots] == [
        (utc(2026, 3, 4, 9), utc(2026, 3, 4, 10), "VIDEO"),
    ]


def test_slots_come_sorted_by_start_across_ranges_and_days():
    ranges = every_day("14:00", "15:00", 30) + every_day("09:00", "10:00", 30)
    slots = generate(ranges, "UTC", date(2026, 3, 4), date(2026, 3, 5))

    assert [s.start for s in slots] == sorted(s.start for s in slots)
    assert local_starts(slots, "UTC") == ["09:00", "09:30", "14:00", "14:30"] * 2


def test_the_window_includes_both_end_dates_in_the_doctors_zone():
    slots = generate(every_day("09:00", "10:00", 60), NEW_YORK, date(2026, 3, 2), date(2026, 3, 4))

    assert [s.start.astimezone(ZoneInfo(NEW_YORK)).day for s in slots] == [2, 3, 4]
    assert generate(every_day("09:00", "10:00", 60), NEW_YORK, date(2026, 3, 4),
                    date(2026, 3, 3)) == []


def test_generation_refuses_a_naive_now_an_unknown_zone_and_naive_blocks():
    ranges = every_day("09:00", "10:00", 60)
    with pytest.raises(ValueError, match="now must be an aware datetime"):
        generate(ranges, "UTC", date(2026, 3, 4), now=datetime(2026, 3, 4))
    with pytest.raises(ScheduleError) as unknown:
        generate(ranges, "Mars/Olympus_Mons", date(2026, 3, 4))
    assert unknown.value.field == "timezone"
    with pytest.raises(ValueError, match="Block times must be aware"):
        generate(ranges, "UTC", date(2026, 3, 4),
                 blocks=[Block(datetime(2026, 3, 4, 9), datetime(2026, 3, 4, 10))])


def test_a_thirty_day_window_takes_well_under_a_millisecond_per_day():
    ranges = every_day("08:00", "13:00", 15) + every_day("14:00", "20:00", 20, buffer=5)
    blocks = [Block(utc(2026, 3, d, 15), utc(2026, 3, d, 16)) for d in range(1, 31)]

    def run() -> list[Slot]:
        return generate(ranges, NEW_YORK, date(2026, 3, 1), date(2026, 3, 30), blocks=blocks)

    best = min(_timed(run) for _ in range(5))
    assert len(run()) > 25 * 30  # about 30 slots a day, so the timing means something
    assert best < 0.030, f"30 days took {best * 1000:.1f} ms"
    assert get_zone(NEW_YORK) is get_zone(NEW_YORK)


def _timed(fn) -> float:
    started = perf.perf_counter()
    fn()
    return perf.perf_counter() - started


# ------------------------------------------------------------------------------------------
# Validation: each rule names its field
# ------------------------------------------------------------------------------------------


def weekly(start: str = "09:00", end: str = "13:00", slot: int = 30, buffer: int = 0,
           weekday: int = 0, kind: str = "IN_PERSON", effective_from: date | None = None,
           effective_to: date | None = None) -> WeeklyRange:
    return WeeklyRange(weekday, t(start), t(end), slot, buffer, kind, effective_from, effective_to)


def error_of(fn, *args) -> ScheduleError:
    with pytest.raises(ScheduleError) as caught:
        fn(*args)
    return caught.value


def test_a_valid_week_passes_validation():
    validate_ranges([
        weekly("09:00", "13:00", 30), weekly("14:00", "17:00", 20, buffer=10),
        weekly("09:00", "13:00", 30, weekday=1, kind="VIDEO"),
    ])


def test_a_schedule_error_is_a_domain_error_carrying_field_message_and_index():
    err = error_of(validate_ranges, [weekly(), weekly("13:00", "12:00")])

    assert isinstance(err, DomainError)
    assert (err.field, err.index) == ("end", 1)
    assert str(err) == err.message == (
        "The end time (12:00) must be after the start time (13:00)."
    )


@pytest.mark.parametrize(
    ("rng", "field", "words"),
    [
        pytest.param(weekly("13:00", "09:00"), "end", "must be after", id="end-before-start"),
        pytest.param(weekly("09:00", "09:00"), "end", "must be after", id="end-equals-start"),
        pytest.param(weekly("09:00", "10:00", 40), "slot_minutes", "20 minutes are left over",
                     id="slot-does-not-divide"),
        pytest.param(weekly("09:00", "11:35", 30, buffer=10), "slot_minutes", "left over",
                     id="slot-plus-buffer-does-not-fit"),
        pytest.param(weekly("09:00", "09:20", 30), "slot_minutes", "too short",
                     id="range-shorter-than-a-slot"),
        pytest.param(weekly(slot=4), "slot_minutes", "between 5 and 240", id="slot-too-short"),
        pytest.param(weekly("09:00", "17:02", 241), "slot_minutes", "between 5 and 240",
                     id="slot-too-long"),
        pytest.param(weekly(buffer=-5), "buffer_minutes", "zero or more", id="negative-buffer"),
        pytest.param(weekly(weekday=7), "weekday", "day of the week", id="weekday-out-of-range"),
        pytest.param(weekly(kind="PHONE"), "consultation_type", "VIDEO or IN_PERSON",
                     id="unknown-consultation-type"),
        pytest.param(weekly(effective_from=date(2026, 4, 1), effective_to=date(2026, 3, 31)),
                     "effective_to", "before the first day", id="effective-to-before-from"),
        pytest.param(WeeklyRange(0, time(9, 0, 30), t("13:00"), 30), "start", "whole minutes",
                     id="seconds-in-a-time"),
    ],
)
def test_each_invalid_weekly_range_is_rejected_with_its_field(rng, field, words):
    err = error_of(validate_ranges, [rng])

    assert (err.field, err.index) == (field, 0)
    assert words in err.message


def test_a_slot_length_error_suggests_an_end_time_that_fits():
    err = error_of(validate_ranges, [weekly("09:00", "10:00", 40)])

    assert "End at 09:40" in err.message


@pytest.mark.parametrize(
    ("end", "slot", "buffer"),
    [
        pytest.param("11:30", 30, 10, id="final-buffer-omitted"),
        pytest.param("11:40", 30, 10, id="final-buffer-kept"),
        pytest.param("09:05", 5, 0, id="shortest-slot"),
        pytest.param("13:00", 240, 0, id="longest-slot"),
    ],
)
def test_ranges_that_fit_a_whole_number_of_slots_are_accepted(end, slot, buffer):
    validate_ranges([weekly("09:00", end, slot, buffer=buffer)])


def test_overlapping_ranges_on_the_same_weekday_are_rejected_naming_the_later_one():
    err = error_of(validate_ranges, [weekly("09:00", "12:00"), weekly("11:00", "13:00")])

    assert (err.field, err.index) == ("start", 1)
    assert "Monday 11:00-13:00 overlaps 09:00-12:00" in err.message


def test_ranges_that_overlap_only_in_time_of_day_but_not_in_effect_period_or_weekday_are_fine():
    validate_ranges([
        weekly("09:00", "12:00", effective_to=date(2026, 3, 31)),
        weekly("10:00", "13:00", effective_from=date(2026, 4, 1)),
        weekly("10:00", "13:00", weekday=1),
        weekly("12:00", "13:00", effective_to=date(2026, 3, 31)),  # touches, does not overlap
    ])


def test_an_open_ended_range_overlaps_a_later_one_on_the_same_weekday():
    err = error_of(validate_ranges, [
        weekly("09:00", "12:00"),
        weekly("10:00", "13:00", effective_from=date(2026, 4, 1)),
    ])

    assert (err.field, err.index) == ("start", 1)


def test_an_unknown_time_zone_is_rejected_and_a_known_one_returned():
    assert validate_timezone(KOLKATA) == KOLKATA
    for name in ("Mars/Olympus_Mons", "", "IST"):
        assert error_of(validate_timezone, name).field == "timezone"


def test_a_time_zone_in_the_wrong_case_gets_a_suggestion():
    err = error_of(validate_timezone, "asia/kolkata")

    assert "Did you mean Asia/Kolkata?" in err.message


def test_the_booking_window_is_one_day_to_a_year():
    assert validate_window(1) == 1
    assert validate_window(366) == 366
    assert error_of(validate_window, 0).field == "days"
    too_long = error_of(validate_window, 367)
    assert too_long.field == "days"
    assert "longer than a year" in too_long.message


TODAY = date(2026, 3, 10)


def test_valid_overrides_pass_validation():
    validate_override(Override(TODAY, date(2026, 3, 20), "OFF", reason="Vacation"), TODAY)
    validate_override(Override(TODAY, TODAY, "CUSTOM",
                               (CustomRange(t("09:00"), t("10:00"), 30),
                                CustomRange(t("10:00"), t("11:00"), 20, 10, "VIDEO"))), TODAY)


@pytest.mark.parametrize(
    ("override", "field", "index", "words"),
    [
        pytest.param(Override(date(2026, 3, 9), date(2026, 3, 12), "OFF"), "start_date", None,
                     "in the past", id="starts-in-the-past"),
        pytest.param(Override(date(2026, 3, 12), date(2026, 3, 11), "OFF"), "end_date", None,
                     "before the first day", id="ends-before-it-starts"),
        pytest.param(Override(TODAY, TODAY, "HALF_DAY"), "kind", None, "day off or custom",
                     id="unknown-kind"),
        pytest.param(Override(TODAY, TODAY, "CUSTOM"), "ranges", None, "at least one",
                     id="custom-without-hours"),
        pytest.param(Override(TODAY, TODAY, "OFF", (CustomRange(t("09:00"), t("10:00"), 30),)),
                     "ranges", None, "has no hours", id="day-off-with-hours"),
        pytest.param(Override(TODAY, TODAY, "CUSTOM",
                              (CustomRange(t("09:00"), t("10:00"), 30),
                               CustomRange(t("09:00"), t("10:00"), 40))),
                     "ranges.slot_minutes", 1, "left over", id="custom-slot-does-not-divide"),
        pytest.param(Override(TODAY, TODAY, "CUSTOM", (CustomRange(t("10:00"), t("09:00"), 30),)),
                     "ranges.end", 0, "must be after", id="custom-end-before-start"),
        pytest.param(Override(TODAY, TODAY, "CUSTOM",
                              (CustomRange(t("09:00"), t("11:00"), 30),
                               CustomRange(t("10:00"), t("12:00"), 30))),
                     "ranges.start", 1, "overlaps", id="custom-ranges-overlap"),
    ],
)
def test_each_invalid_override_is_rejected_with_its_field(override, field, index, words):
    err = error_of(validate_override, override, TODAY)

    assert (err.field, err.index) == (field, index)
    assert words in err.message
