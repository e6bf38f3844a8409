"""Notifications from events, through a real SMTP server (aiosmtpd), with reminders on a
controllable clock, and nothing lost or doubled while Redis is down."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq import Queue
from sqlalchemy import func, select

from portal.appointments import service as appointments
from portal.events import OutboxEvent, relay_pending
from portal.exceptions import ValidationFailed
from portal.extensions import db
from portal.jobqueue import AppWorker, redis_connection
from portal.localredis import PrivateRedis
from portal.notifications import channels
from portal.notifications import inbox as in_app
from portal.notifications.delivery import MAX_ATTEMPTS, deliver
from portal.notifications.models import (
    Channel,
    NotificationLog,
    ScheduledNotification,
)
from portal.notifications.preferences import update_preferences
from portal.notifications.reminders import SWEEP_GRACE, send_reminder, sweep_reminders
from portal.notifications.templates import render_source
from portal.privacy import consents
from portal.privacy.models import ConsentKind
from tests import factories
from tests.factories import MONDAY_MORNING


@pytest.fixture
def clinic(factory, frozen_clock):
    """Free video consultations 09:00-13:00 on weekdays, 4 days ahead; a patient without SMS."""
    frozen_clock.freeze(MONDAY_MORNING)
    doctor = factory.create_doctor(fee_video_paise=0, fee_in_person_paise=None,
                                   hours=factory.weekly_hours("09:00", "13:00", "VIDEO"),
                                   booking_window_days=4)
    return {"doctor": doctor, "patient": factory.create_patient(sms=False),
            "slots": factory.free_slots(doctor)}


def run_jobs(app, redis_url=None) -> None:
    connection = redis_connection(redis_url or app.config["REDIS_URL"])
    worker = AppWorker([Queue(n, connection=connection) for n in app.config["RQ_QUEUES"]],
                       connection=connection)
    worker.app = app
    worker.work(burst=True)
    db.session.expire_all()


def settle(app) -> None:
    """What the relay cron job and the worker do, now: events -> consumers -> deliveries."""
    for _ in range(3):
        relay_pending()
        run_jobs(app)


def book(clinic, index=0):
    return factories.book(clinic["patient"], clinic["slots"][index], confirm=True)


def logs(user, channel=None, kind=None) -> list[NotificationLog]:
    stmt = select(NotificationLog).where(NotificationLog.user_id == user.id)
    if channel:
        stmt = stmt.where(NotificationLog.channel == channel)
    if kind:
        stmt = stmt.where(NotificationLog.type == kind)
    return list(db.session.scalars(stmt.order_by(NotificationLog.created_at)))


def test_a_confirmation_is_emailed_with_an_invite_and_noted_in_app(app, clinic, mailbox):
    appointment = book(clinic)
    settle(app)

    emails = [m for m in mailbox.list() if clinic["patient"].email in m.to]
    confirmations = [m for m in emails if "is confirmed" in m.subject]
    assert len(confirmations) == 1
    message = confirmations[0]
    assert clinic["doctor"].name in message.text
    # Joining happens on the appointment page; the room is never in a message.
    assert f"/appointments/{appointment.id}" in message.text
    assert "meet.example.com" not in message.text
    assert "appointment.ics" in message.meta.get("attachments", [])
    assert "<p" in (message.html or "")
    inbox = in_app.inbox(clinic["patient"].id)
    assert {n.type for n in inbox} == {"APPOINTMENT_CONFIRMED", "APPOINTMENT_RESERVED"}
    assert in_app.unread_count(clinic["patient"].id) == 2
    doctor_mail = [m for m in mailbox.list() if clinic["doctor"].user.email in m.to]
    assert [m.subject.split(":")[0] for m in doctor_mail] == ["New booking"]
    assert appointment.id


def test_switched_off_channels_are_not_used(app, clinic, mailbox):
    book(clinic)
    settle(app)
    assert logs(clinic["patient"], channel="SMS") == []


def test_reminders_are_scheduled_at_the_offsets_and_past_ones_skipped(app, clinic):
    appointment = book(clinic, index=3)  # Monday 10:30 IST = 05:00 UTC, 4.5 h from now
    settle(app)
    rows = db.session.scalars(select(ScheduledNotification).where(
        ScheduledNotification.appointment_id == appointment.id)
        .order_by(ScheduledNotification.due_at)).all()
    assert [r.offset_minutes for r in rows] == [60, 15]  # 24 h before is already past
    assert [r.due_at for r in rows] == [appointment.start_at - timedelta(minutes=60),
                                        appointment.start_at - timedelta(minutes=15)]


def test_a_reminder_goes_out_at_its_time_and_only_once(app, clinic, frozen_clock, mailbox):
    appointment = book(clinic, index=3)
    settle(app)
    mailbox.clear()
    assert sweep_reminders() == 0  # nothing due yet

    frozen_clock.freeze(appointment.start_at - timedelta(minutes=60))
    assert sweep_reminders() == 1
    assert sweep_reminders() == 0
    settle(app)

    reminders = [m for m in mailbox.list() if m.subject.startswith("Reminder")]
    assert [m.subject for m in reminders] == [f"Reminder: {clinic['doctor'].name} in 1 hour"]


def test_no_reminder_after_a_cancellation(app, clinic, frozen_clock, mailbox):
    appointment = book(clinic, index=3)
    settle(app)
    appointments.cancel_by_patient(clinic["patient"], appointment.id)
    settle(app)
    frozen_clock.freeze(appointment.start_at - timedelta(minutes=15))
    assert sweep_reminders() == 0
    settle(app)
    assert logs(clinic["patient"], kind="APPOINTMENT_REMINDER") == []
    assert any("is cancelled" in m.subject for m in mailbox.list())


def test_reminders_move_with_a_rescheduled_appointment(app, clinic, frozen_clock):
    appointment = book(clinic, index=8)  # Tuesday
    settle(app)
    new_slot = clinic["slots"][12]
    appointments.reschedule(clinic["patient"], appointment.id, new_slot.id)
    settle(app)

    pending = db.session.scalars(select(ScheduledNotification).where(
        ScheduledNotification.appointment_id == appointment.id,
        ScheduledNotification.status == "SCHEDULED")).all()
    assert {r.due_at for r in pending} == {
        new_slot.start_at - timedelta(minutes=m) for m in (1440, 60, 15)
        if new_slot.start_at - timedelta(minutes=m) > MONDAY_MORNING}
    moved = logs(clinic["patient"], channel="EMAIL", kind="APPOINTMENT_RESCHEDULED")
    assert len(moved) == 1

    # The new time's reminders go out at their times; the 24-hour one found an hour before
    # is skipped as stale, and none of the old time's are sent.
    frozen_clock.freeze(new_slot.start_at - timedelta(minutes=60))
    sweep_reminders()
    frozen_clock.freeze(new_slot.start_at - timedelta(minutes=15))
    sweep_reminders()
    settle(app)
    sent = logs(clinic["patient"], channel="EMAIL", kind="APPOINTMENT_REMINDER")
    assert sorted(row.subject for row in sent) == [
        f"Reminder: {clinic['doctor'].name} in 1 hour",
        f"Reminder: {clinic['doctor'].name} in 15 minutes"]


def test_a_delivery_never_sends_twice(app, clinic, mailbox):
    book(clinic)
    relay_pending()
    run_jobs(app)
    row = logs(clinic["patient"], channel="EMAIL")[0]
    assert row.status == "SENT"
    count = len(mailbox.list())
    assert deliver(row.id) == "SENT"  # a retried job
    assert len(mailbox.list()) == count


def test_a_failing_mail_server_is_retried_with_backoff_then_marked_failed(
        app, clinic, frozen_clock, monkeypatch):
    book(clinic)
    relay_pending()

    def broken(*args, **kwargs):
        raise channels.TransientFailure("mail server down")

    monkeypatch.setattr(channels, "send_email", broken)
    run_jobs(app)
    row = logs(clinic["patient"], channel="EMAIL")[0]
    assert (row.status, row.attempts) == ("PENDING", 1)
    assert row.next_attempt_at == MONDAY_MORNING + timedelta(seconds=60)
    for _ in range(MAX_ATTEMPTS):
        frozen_clock.advance(timedelta(hours=1))
        deliver(row.id)
    db.session.expire_all()
    row = db.session.get(NotificationLog, row.id)
    assert (row.status, row.attempts) == ("FAILED", MAX_ATTEMPTS)


def test_every_notification_arrives_once_after_redis_comes_back(app, clinic, mailbox):
    with PrivateRedis() as redis:
        previous = app.config["REDIS_URL"]
        app.config["REDIS_URL"] = redis.url
        try:
            redis.stop()
            first = book(clinic, 0)
            second = book(clinic, 1)  # bookings succeed with Redis down
            assert relay_pending() == 0  # events wait in the outbox
            assert db.session.scalar(select(func.count()).select_from(OutboxEvent).where(
                OutboxEvent.published_at.is_(None),
                OutboxEvent.event_type != "SLOTS_OPENED")) == 4  # 2 x RESERVED, CONFIRMED

            redis.start()
            settle(app)
            settle(app)  # a second relay and worker pass adds nothing
        finally:
            app.config["REDIS_URL"] = previous

    confirmations = [m for m in mailbox.list() if clinic["patient"].email in m.to
                     and "is confirmed" in m.subject]
    assert len(confirmations) == 2
    assert {first.id, second.id}
    assert db.session.scalar(select(func.count()).select_from(OutboxEvent).where(
        OutboxEvent.published_at.is_(None))) == 0


def test_templates_render_in_a_sandbox_and_hindi_is_used_when_chosen(app, clinic, mailbox):
    with pytest.raises(ValidationFailed, match=r"does not render.*unsafe"):
        render_source("", "{{ ''.__class__.__mro__[1].__subclasses__() }}", {})
    update_preferences(clinic["patient"], language="hi")
    book(clinic)
    settle(app)
    confirmation = [m for m in mailbox.list() if clinic["patient"].email in m.to
                    and "पक्की" in m.subject]
    assert len(confirmation) == 1


def test_the_api_lists_a_users_notifications_and_preferences(app, clinic, client):
    book(clinic)
    settle(app)
    token = client.api_token(clinic["patient"].email)
    headers = {"Authorization": f"Bearer {token}"}
    listed = client.get(f"/api/v1/notifications/user/{clinic['patient'].id}?channel=IN_APP",
                        headers=headers).get_json()
    assert listed["unread"] == 2
    assert {n["type"] for n in listed["items"]} == {"APPOINTMENT_CONFIRMED",
                                                    "APPOINTMENT_RESERVED"}
    refused = client.put("/api/v1/notifications/preferences", headers=headers,
                         json={"channels": {"EMAIL": {"PAYMENT_RECEIPT": False}}})
    assert refused.status_code == 422
    assert refused.get_json()["errors"][0]["field"] == "channels.EMAIL.PAYMENT_RECEIPT"
    ok = client.put("/api/v1/notifications/preferences", headers=headers,
                    json={"reminder_offsets": [120, 30], "language": "hi"})
    assert ok.get_json()["reminder_offsets"] == [120, 30]
    other = client.get(f"/api/v1/notifications/preferences/{clinic['doctor'].user.id}",
                       headers=headers)
    assert other.status_code == 404


def test_admins_send_announcements(app, clinic, client, factory):
    admin = factory.create_admin()
    consents.grant(clinic["patient"], ConsentKind.MARKETING)  # announcements need the opt-in
    token = client.api_token(admin.email)
    response = client.post("/api/v1/notifications/send",
                           headers={"Authorization": f"Bearer {token}"},
                           json={"user_ids": [str(clinic["patient"].id)], "title": "Closed",
                                 "message": "Closed on Friday", "channels": ["IN_APP"]})
    assert response.status_code == 202
    assert response.get_json() == {"notifications": 1}
    assert [n.subject for n in in_app.inbox(clinic["patient"].id)] == ["Closed"]
    patient_token = client.api_token(clinic["patient"].email)
    assert client.post("/api/v1/notifications/send",
                       headers={"Authorization": f"Bearer {patient_token}"},
                       json={"user_ids": [str(admin.id)], "title": "x", "message": "y"}
                       ).status_code == 403
    assert Channel.IN_APP


def test_an_sms_goes_through_twilio_and_its_signed_status_callback_marks_it_delivered(
        app, clinic, twilio, mailbox, client):
    update_preferences(clinic["patient"], channels_={
        "SMS": {"APPOINTMENT_CONFIRMED": True}})
    book(clinic)
    settle(app)

    (sms,) = logs(clinic["patient"], channel="SMS")
    assert sms.status == "SENT"
    assert sms.provider_id.startswith("SM")
    texts = [m for m in mailbox.list(channel="sms") if clinic["patient"].phone in m.to]
    assert len(texts) == 1
    # Minimum necessary: the time and a link, never the doctor (test_minimum_necessary).
    assert clinic["doctor"].name not in texts[0].text
    assert "/appointments/" in texts[0].text

    twilio("POST", "/callbacks/deliver")  # Twilio posts "sent", then "delivered", signed
    db.session.expire_all()
    assert db.session.get(NotificationLog, sms.id).status == "DELIVERED"

    forged = client.post("/api/v1/notifications/sms-status", data={
        "MessageSid": sms.provider_id, "MessageStatus": "failed"},
        headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"})
    assert forged.status_code == 403
    assert db.session.get(NotificationLog, sms.id).status == "DELIVERED"


def test_an_invalid_number_fails_permanently_and_a_twilio_outage_is_retried(
        app, clinic, twilio, frozen_clock):
    update_preferences(clinic["patient"], channels_={
        "SMS": {"APPOINTMENT_CONFIRMED": True}})
    twilio("POST", "/fail-next", {"count": 1, "status": 503})
    book(clinic)
    settle(app)
    (sms,) = logs(clinic["patient"], channel="SMS")
    assert (sms.status, sms.attempts) == ("PENDING", 1)
    frozen_clock.advance(timedelta(minutes=2))
    assert deliver(sms.id) == "SENT"

    clinic["patient"].phone = "+15005550001"  # Twilio's magic invalid number
    db.session.commit()
    book(clinic, index=1)
    settle(app)
    failed = [row for row in logs(clinic["patient"], channel="SMS") if row.id != sms.id]
    assert [(row.status, row.attempts) for row in failed] == [("FAILED", 1)]
    assert "21211" in failed[0].error


def test_a_reminder_job_a_few_seconds_early_still_sends(app, clinic, frozen_clock):
    appointment = book(clinic, index=3)
    settle(app)
    reminder = db.session.scalars(select(ScheduledNotification).where(
        ScheduledNotification.appointment_id == appointment.id,
        ScheduledNotification.offset_minutes == 60)).one()
    frozen_clock.freeze(reminder.due_at - timedelta(seconds=2))  # RQ rounds down to the second
    assert send_reminder(reminder.id) == "SENT"


def test_the_periodic_sweep_leaves_just_due_reminders_to_their_own_jobs(app, clinic,
                                                                       frozen_clock):
    appointment = book(clinic, index=3)
    settle(app)
    frozen_clock.freeze(appointment.start_at - timedelta(minutes=59))
    assert sweep_reminders(grace=SWEEP_GRACE) == 0
    frozen_clock.freeze(appointment.start_at - timedelta(minutes=57))
    assert sweep_reminders(grace=SWEEP_GRACE) == 1
