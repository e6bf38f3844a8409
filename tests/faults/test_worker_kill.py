"""An RQ worker killed with SIGKILL in the middle of a delivery: the email still goes out, once.

A real worker process (`flask --app portal worker`, on a Redis of this test alone) takes the
confirmation emails of a booking and talks SMTP to a server that stalls after the message's
DATA. While it waits for the server's answer, the row is SENDING (committed before the
provider call) and the worker is SIGKILLed. Then what production does: a new worker drains
the queues, RQ's abandoned-job handling fails (or retries) the killed job, and the sweeper
re-queues the SENDING row once it is older than STUCK_AFTER. The email arrives exactly once,
on the second attempt, and no retry of the dead job sends it again.

The stalled message is never stored: an SMTP server takes responsibility for a message only
by answering 250 to the end of its DATA (RFC 5321, 4.1.1.4 and 6.1), which this server never
does for a stalled one, so a retry is not a duplicate.

The second test kills the worker one step earlier, inside the consumer of the CONFIRMED event
(held there by a row lock), before any notification is recorded: the outbox row is already
published, so only a retry of the dispatch job by RQ can still notify anyone.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from rq.registry import FailedJobRegistry, StartedJobRegistry
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from portal.appointments import service as appointments
from portal.events import ConsumedEvent, OutboxEvent, relay_pending
from portal.extensions import db
from portal.jobqueue import get_queue
from portal.localredis import LOOPBACK, free_port
from portal.notifications.delivery import STUCK_AFTER, sweep_deliveries
from portal.notifications.inbox import inbox
from portal.notifications.models import NotificationLog
from tests.factories import create_patient
from tests.faults.conftest import doctor_with_slots, run_jobs, wait_until

STALL_WAIT = 45  # seconds for the worker process to start and reach the stalled DATA


class StallingHandler:
    """Takes MAIL, RCPT and DATA, then answers nothing until released; then 451 (not taken)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()
        self.data_commands = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        self.data_commands += 1
        self.entered.set()
        while not self.released.is_set():
            await asyncio.sleep(0.05)
        return "451 4.3.0 Message not accepted, try again later"


class StallingSmtp:
    def __init__(self) -> None:
        self.handler = StallingHandler()
        self.port = free_port(LOOPBACK)
        self._controller = Controller(self.handler, hostname=LOOPBACK, port=self.port,
                                      server_hostname="localhost")

    def start(self) -> StallingSmtp:
        self._controller.start()
        return self

    def stop(self) -> None:
        self.handler.released.set()
        self._controller.stop()


@pytest.fixture
def stalling_smtp() -> Iterator[StallingSmtp]:
    server = StallingSmtp().start()
    try:
        yield server
    finally:
        server.stop()


def sending_rows() -> list[NotificationLog]:
    db.session.commit()  # a fresh snapshot: the worker process wrote these
    return list(db.session.scalars(select(NotificationLog).where(
        NotificationLog.status == "SENDING")))


@pytest.mark.faults
@pytest.mark.timeout(120)
def test_a_worker_killed_mid_delivery_still_sends_the_email_once(
        app, app_ctx, private_redis, spawn_worker, stalling_smtp, mailbox, frozen_clock):
    started = time.monotonic()
    doctor, slots = doctor_with_slots(0)
    patient = create_patient(sms=False)
    appointment = appointments.reserve(patient, slots[0].id)
    appointments.confirm(appointment.id, actor_id=patient.id)
    assert relay_pending() == 3  # SLOTS_OPENED (the new slots), RESERVED, CONFIRMED

    # A real worker process takes the events and starts delivering; its SMTP server stalls.
    worker = spawn_worker(MAIL_PORT=str(stalling_smtp.port))
    assert stalling_smtp.handler.entered.wait(STALL_WAIT), worker.log()
    (stuck,) = sending_rows()
    assert (stuck.channel, stuck.attempts) == ("EMAIL", 1)
    worker.kill()
    assert worker.process.returncode == -signal.SIGKILL
    stalling_smtp.handler.released.set()  # the dead client's message is discarded, not taken

    # A new worker drains the queues (the other email goes out); the killed job is not in a
    # queue: RQ has it "started" by a worker that is gone.
    run_jobs(app)
    db.session.refresh(stuck)
    assert (stuck.status, stuck.attempts) == ("SENDING", 1)

    # RQ's abandoned-job handling (due when the dead worker's heartbeat expires, minutes
    # later; forced now) moves the job to the failed jobs. Retrying it (a Retry policy, or an
    # admin's requeue) finds the row SENDING and recent: it sends nothing.
    queue = get_queue("notifications")
    StartedJobRegistry(queue=queue).cleanup(timestamp=time.time() + 24 * 3600)
    failed = FailedJobRegistry(queue=queue)
    (abandoned_id,) = failed.get_job_ids()
    assert queue.fetch_job(abandoned_id).args == (str(stuck.id),)
    failed.requeue(abandoned_id)
    run_jobs(app)
    assert queue.fetch_job(abandoned_id).return_value() == "SENDING"
    db.session.refresh(stuck)
    assert (stuck.status, stuck.attempts) == ("SENDING", 1)
    assert not _emails_to(mailbox, stuck.recipient)  # whichever email the kill caught

    # The sweeper, once the row is older than STUCK_AFTER, queues it again; a worker sends it.
    frozen_clock.freeze(datetime.now(UTC) + STUCK_AFTER + timedelta(minutes=1))
    assert sweep_deliveries() == 1
    run_jobs(app)
    db.session.refresh(stuck)
    assert (stuck.status, stuck.attempts) == ("SENT", 2)

    # Any later run of the job (RQ retrying it once more, a second sweeper) sends nothing.
    queue.enqueue("jobs.notifications.deliver", str(stuck.id))
    run_jobs(app)
    assert sweep_deliveries() == 0
    db.session.refresh(stuck)
    assert (stuck.status, stuck.attempts) == ("SENT", 2)

    host = urlsplit(app.config["PUBLIC_URL"]).hostname
    (confirmation,) = _emails_to(mailbox, patient.email)
    assert "is confirmed" in confirmation.subject
    (new_booking,) = _emails_to(mailbox, doctor.user.email)
    assert new_booking.subject.startswith("New booking")
    # The retry sent the same message (its Message-ID names the log row).
    assert any(f"<{stuck.id}@{host}>" in (m.raw or "") for m in (confirmation, new_booking))
    assert stalling_smtp.handler.data_commands == 1  # only the killed attempt reached it
    rows = db.session.scalars(select(NotificationLog).where(
        NotificationLog.channel == "EMAIL")).all()
    assert sorted((row.status, row.attempts) for row in rows) == [("SENT", 1), ("SENT", 2)]
    assert time.monotonic() - started < 90


def _emails_to(mailbox, address: str) -> list:
    return [m for m in mailbox.list() if address in m.to]


def inserts_waiting_on_a_lock() -> int:
    """Backends of this test database stuck in an INSERT into notification_logs on a lock."""
    count = db.session.scalar(text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND query ILIKE 'INSERT INTO notification_logs%'"))
    db.session.commit()
    return count


@pytest.mark.faults
@pytest.mark.timeout(120)
def test_a_worker_killed_while_dispatching_an_event_still_notifies_once(
        app, app_ctx, private_redis, spawn_worker, mailbox, frozen_clock):
    """The kill lands in the consumer of the CONFIRMED event, before any notification exists.

    The outbox row is published by then, so only RQ can run the event's consumers again:
    the dispatch job must be retried when RQ finds it abandoned (or failed).
    """
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL row lock holds the worker inside the consumer")
    doctor, slots = doctor_with_slots(0)
    patient = create_patient(sms=False)
    appointment = appointments.reserve(patient, slots[0].id)
    appointments.confirm(appointment.id, actor_id=patient.id)
    confirmed = db.session.scalar(select(OutboxEvent).where(
        OutboxEvent.aggregate_id == appointment.id, OutboxEvent.event_type == "CONFIRMED"))

    # Another transaction holds the key of the confirmation email the consumer is about to
    # record: the worker's INSERT waits on it, inside the dispatch job.
    blocker = Session(db.engine)
    try:
        blocker.add(NotificationLog(
            user_id=patient.id, type="APPOINTMENT_CONFIRMED", channel="EMAIL",
            dedupe_key=f"event:{confirmed.id}:{patient.id}:EMAIL", recipient=patient.email))
        blocker.flush()
        assert relay_pending() == 3  # SLOTS_OPENED, RESERVED, CONFIRMED
        worker = spawn_worker()
        assert wait_until(lambda: inserts_waiting_on_a_lock() == 1, STALL_WAIT), worker.log()
        worker.kill()
    finally:
        blocker.rollback()
        blocker.close()
    assert wait_until(lambda: inserts_waiting_on_a_lock() == 0, 10)

    # A new worker, then RQ's abandoned-job handling (forced now, as in the other test), then
    # the sweepers past STUCK_AFTER and one more relay and worker pass.
    run_jobs(app)
    queue = get_queue("appointment-events")
    StartedJobRegistry(queue=queue).cleanup(timestamp=time.time() + 24 * 3600)
    run_jobs(app)
    frozen_clock.freeze(datetime.now(UTC) + STUCK_AFTER + timedelta(minutes=1))
    sweep_deliveries()
    relay_pending()
    run_jobs(app)

    assert FailedJobRegistry(queue=queue).count == 0
    assert db.session.scalar(select(func.count()).select_from(ConsumedEvent).where(
        ConsumedEvent.event_id == confirmed.id)) == 1
    (confirmation,) = _emails_to(mailbox, patient.email)
    assert "is confirmed" in confirmation.subject
    (new_booking,) = _emails_to(mailbox, doctor.user.email)
    assert new_booking.subject.startswith("New booking")
    assert sorted(n.type for n in inbox(patient.id)) == [
        "APPOINTMENT_CONFIRMED", "APPOINTMENT_RESERVED"]
