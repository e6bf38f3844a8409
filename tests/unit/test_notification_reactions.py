"""The reaction table: every event type it names says something known, on known channels, and
is wired to the consumer that reads the table."""

from __future__ import annotations

import dataclasses

import pytest

from portal.consumers import CONSUMERS, NOTIFY_APPOINTMENT, NOTIFY_PAYMENT
from portal.notifications.defaults import DEFAULTS
from portal.notifications.models import Channel, NotificationType
from portal.notifications.reactions import (
    APPOINTMENT_REACTIONS,
    PAYMENT_REACTIONS,
    Recipient,
)

TABLE = {**APPOINTMENT_REACTIONS, **PAYMENT_REACTIONS}


def test_every_event_type_in_the_table_names_a_known_notification_type_and_channel():
    for event_type, reaction in TABLE.items():
        assert reaction.notices, f"{event_type} says nothing"
        for notice in reaction.notices:
            assert notice.kind in set(NotificationType), event_type
            assert notice.recipient in set(Recipient), event_type
            if notice.channels is not None:
                assert notice.channels, f"{event_type}: an empty channel set sends nothing"
                assert notice.channels <= set(Channel), event_type


def test_every_notice_has_built_in_words_on_a_channel_it_may_go_out_on():
    for event_type, reaction in TABLE.items():
        for notice in reaction.notices:
            channels = notice.channels or set(Channel)
            assert any(DEFAULTS["en"].get(notice.kind.value, {}).get(c.value)
                       for c in channels), f"{event_type}: {notice.kind} is never sent"


def test_payment_events_notify_only_the_patient():
    assert {notice.recipient for reaction in PAYMENT_REACTIONS.values()
            for notice in reaction.notices} == {Recipient.PATIENT}


def test_the_table_and_the_consumer_wiring_name_the_same_event_types():
    wired_appointment = {t for t, consumers in CONSUMERS.items()
                         if NOTIFY_APPOINTMENT in consumers}
    wired_payment = {t for t, consumers in CONSUMERS.items() if NOTIFY_PAYMENT in consumers}
    assert wired_appointment == set(APPOINTMENT_REACTIONS)
    assert wired_payment == set(PAYMENT_REACTIONS)


def test_reminders_follow_the_appointment_time():
    confirmed, cancelled, moved = (APPOINTMENT_REACTIONS[t] for t in
                                   ("CONFIRMED", "CANCELLED", "RESCHEDULED"))
    assert (confirmed.cancel_reminders, confirmed.schedule_reminders) == (False, True)
    assert (cancelled.cancel_reminders, cancelled.schedule_reminders) == (True, False)
    assert (moved.cancel_reminders, moved.schedule_reminders) == (True, True)
    assert not APPOINTMENT_REACTIONS["RESERVED"].cancel_reminders
    assert not APPOINTMENT_REACTIONS["RESERVED"].schedule_reminders


def test_the_table_cannot_be_changed_at_run_time():
    reaction = APPOINTMENT_REACTIONS["CONFIRMED"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        reaction.schedule_reminders = False  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        reaction.notices[0].kind = NotificationType.ANNOUNCEMENT  # type: ignore[misc]
