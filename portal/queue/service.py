"""Queue rules: check-in and tokens, the order of calling, the pace and the wait, running late.

A token is a place in one doctor's queue on one day (the doctor's local date). Numbers count
up from 1 in order of arrival; they are taken under a lock on the doctor's row, and the
database's unique (doctor, day, number) refuses a duplicate. The order of calling is not the
order of numbers: booked patients go by their slot time, and a walk-in is called after every
QUEUE_WALK_IN_EVERY booked patients (or whenever nobody booked is waiting).

The wait is estimated from the doctor's actual pace today: the average of the last
QUEUE_PACE_WINDOW consultations (called -> done), or the slot length before there is one. An
announced delay ("running late") is added until the doctor calls the next patient.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select

from portal.appointments import service as appointments
from portal.appointments.models import Appointment, AppointmentStatus
from portal.auth.models import User
from portal.clock import utcnow
from portal.doctors.models import Doctor
from portal.doctors.service import doctor_for_user, get_doctor
from portal.events import APPOINTMENT_EVENTS, record_event
from portal.exceptions import Conflict, NotFound, ValidationFailed
from portal.extensions import db
from portal.queue.models import QueueDelay, QueueToken, TokenKind, TokenStatus
from portal.roles import Role
from portal.transactions import write

QUEUE_EVENTS = APPOINTMENT_EVENTS  # queue events ride on the appointments topic
DESK_ROLES = (Role.STAFF, Role.ADMIN)
MAX_DELAY_MINUTES = 480


class QueueEmpty(Conflict):
    title = "Nobody is waiting"


@dataclass(frozen=True)
class Place:
    """One waiting person: their token, position (1 = next) and estimated wait."""

    token: QueueToken
    position: int
    wait_minutes: int


@dataclass
class QueueView:
    """A doctor's queue on a day, as the desk, the doctor and the waiting room see it."""

    doctor: Doctor
    day: date
    current: QueueToken | None
    waiting: list[Place]
    pace_minutes: float
    delay_minutes: int
    done: int
    tokens: list[QueueToken] = field(default_factory=list)

    def place_of(self, token_id: uuid.UUID) -> Place | None:
        return next((p for p in self.waiting if p.token.id == token_id), None)


# --- whose queue -----------------------------------------------------------------------------


def local_day(doctor: Doctor, now: datetime) -> date:
    return now.astimezone(ZoneInfo(doctor.timezone)).date()


def queue_for(user: User, doctor_id: uuid.UUID) -> Doctor:
    """The doctor whose queue `user` runs: the desk and admins any, a doctor their own."""
    if user.role in DESK_ROLES:
        return get_doctor(doctor_id, include_inactive=True)
    own = doctor_for_user(user) if user.role == Role.DOCTOR else None
    if own is None or own.id != doctor_id:
        raise NotFound("No such doctor.")
    return own


def _lock_doctor(doctor_id: uuid.UUID) -> None:
    """Serialise changes to one doctor's queue (numbers, calling): PostgreSQL row lock;
    SQLite has one writer at a time."""
    db.session.execute(select(Doctor.id).where(Doctor.id == doctor_id).with_for_update())


def _next_number(doctor_id: uuid.UUID, day: date) -> int:
    highest = db.session.scalar(select(func.max(QueueToken.number)).where(
        QueueToken.doctor_id == doctor_id, QueueToken.day == day))
    return (highest or 0) + 1


# --- joining the queue -----------------------------------------------------------------------


def check_in(user: User, appointment_id: uuid.UUID, now: datetime | None = None) -> QueueToken:
    """The desk checks a booked patient in: the appointment becomes ARRIVED and gets the next
    token of its doctor's day. Checking in twice returns the same token."""
    now = now or utcnow()
    if user.role not in DESK_ROLES:
        raise NotFound("No such appointment.")
    appointment = appointments.get_visible(user, appointment_id)
    existing = db.session.scalar(select(QueueToken).where(
        QueueToken.appointment_id == appointment.id))
    if existing is not None:
        return existing
    doctor = appointment.doctor
    with write():
        _lock_doctor(doctor.id)
        appointments.mark_arrived(user, appointment.id, now)
        day = local_day(doctor, appointment.start_at)
        token = QueueToken(
            doctor_id=doctor.id, day=day, number=_next_number(doctor.id, day),
            kind=TokenKind.BOOKED, appointment_id=appointment.id,
            patient_id=appointment.patient_id, name=appointment.visit_for_name,
            slot_start_at=appointment.start_at, arrived_at=now, created_by_id=user.id)
        db.session.add(token)
        db.session.flush()
    return token


def add_walk_in(user: User, doctor_id: uuid.UUID, name: str, patient: User | None,
                now: datetime | None = None) -> QueueToken:
    """Someone without a booking joins today's queue of a doctor on duty."""
    now = now or utcnow()
    if user.role not in DESK_ROLES:
        raise NotFound("No such doctor.")
    name = name.strip()
    if not name or len(name) > 120:
        raise ValidationFailed({"name": "Enter the person's name (at most 120 characters)."})
    doctor = get_doctor(doctor_id)
    with write():
        _lock_doctor(doctor.id)
        day = local_day(doctor, now)
        token = QueueToken(
            doctor_id=doctor.id, day=day, number=_next_number(doctor.id, day),
            kind=TokenKind.WALK_IN, patient_id=patient.id if patient else None, name=name,
            arrived_at=now, created_by_id=user.id)
        db.session.add(token)
        db.session.flush()
        record_event(QUEUE_EVENTS, "WALK_IN_JOINED", token.id, {
            "token_id": str(token.id), "doctor_id": str(doctor.id), "number": token.number,
            "patient_id": str(patient.id) if patient else None, "day": day.isoformat()})
    return token


# --- calling -------------------------------------------------------------------------------


def call_next(user: User, doctor_id: uuid.UUID, now: datetime | None = None) -> QueueToken:
    """Take the next person in the queue's order into the consultation room."""
    now = now or utcnow()
    doctor = queue_for(user, doctor_id)
    day = local_day(doctor, now)
    with write():
        _lock_doctor(doctor.id)
        tokens = _tokens(doctor.id, day)
        for token in tokens:  # close what ended elsewhere, now that we write anyway
            token.status, token.ended_as = live_status(token), None
        if any(t.status == TokenStatus.IN_CONSULTATION for t in tokens):
            raise Conflict("Finish the current consultation first (Done).")
        order = queue_order([t for t in tokens if t.status == TokenStatus.WAITING])
        if not order:
            raise QueueEmpty("Nobody is waiting.")
        token = order[0]
        if token.appointment_id is not None:
            appointments.start_consultation(user, token.appointment_id, now)
        token.status = TokenStatus.IN_CONSULTATION
        token.called_at = now
    return token


def finish(user: User, token_id: uuid.UUID, now: datetime | None = None) -> QueueToken:
    """Done: the consultation ends (a booked patient's appointment is COMPLETED)."""
    now = now or utcnow()
    token = _get_token(user, token_id)
    with write():
        _lock_doctor(token.doctor_id)
        db.session.refresh(token)
        if token.status != TokenStatus.IN_CONSULTATION:
            raise Conflict(f"Token {token.number} is not with the doctor.")
        if token.appointment_id is not None:
            appointments.mark_completed(user, token.appointment_id, now)
        token.status = TokenStatus.DONE
        token.finished_at = now
    return token


def mark_not_here(user: User, token_id: uuid.UUID, now: datetime | None = None
                  ) -> QueueToken:
    """A waiting person did not answer when called, or went home."""
    now = now or utcnow()
    token = _get_token(user, token_id)
    with write():
        _lock_doctor(token.doctor_id)
        db.session.refresh(token)
        if token.status != TokenStatus.WAITING:
            raise Conflict(f"Token {token.number} is not waiting.")
        if token.appointment_id is not None:
            appointments.mark_no_show(user, token.appointment_id, now)
            token.status = TokenStatus.NO_SHOW
        else:
            token.status = TokenStatus.LEFT
        token.finished_at = now
    return token


def _get_token(user: User, token_id: uuid.UUID) -> QueueToken:
    token = db.session.get(QueueToken, token_id)
    if token is None:
        raise NotFound("No such token.")
    queue_for(user, token.doctor_id)
    return token


# --- the order and the wait ------------------------------------------------------------------


def queue_order(waiting: list[QueueToken]) -> list[QueueToken]:
    """The order of calling: booked by slot time, a walk-in after every N booked."""
    booked = sorted((t for t in waiting if t.kind == TokenKind.BOOKED),
                    key=lambda t: (t.slot_start_at, t.number))
    walk_ins = sorted((t for t in waiting if t.kind == TokenKind.WALK_IN),
                      key=lambda t: t.number)
    every = current_app.config["QUEUE_WALK_IN_EVERY"]
    order: list[QueueToken] = []
    since_walk_in = 0
    while booked or walk_ins:
        if walk_ins and (not booked or (every and since_walk_in >= every)):
            order.append(walk_ins.pop(0))
            since_walk_in = 0
        else:
            order.append(booked.pop(0))
            since_walk_in += 1
    return order


def _tokens(doctor_id: uuid.UUID, day: date) -> list[QueueToken]:
    tokens = list(db.session.scalars(
        select(QueueToken).where(QueueToken.doctor_id == doctor_id, QueueToken.day == day)
        .order_by(QueueToken.number).execution_options(populate_existing=True)))
    # A booked token whose appointment ended elsewhere (marked done from the practice page,
    # cancelled) no longer waits.
    statuses: dict = {}
    closed = {AppointmentStatus.COMPLETED: TokenStatus.DONE,
              AppointmentStatus.NO_SHOW: TokenStatus.NO_SHOW,
              AppointmentStatus.CANCELLED: TokenStatus.LEFT}
    ids = [t.appointment_id for t in tokens if t.appointment_id is not None]
    if ids:
        statuses = dict(db.session.execute(select(Appointment.id, Appointment.status)
                                           .where(Appointment.id.in_(ids))).all())
    for token in tokens:
        final = closed.get(statuses.get(token.appointment_id)) if ids else None
        # A plain attribute, not a column: reading the queue changes nothing in the database.
        token.ended_as = final if final is not None and token.status in (
            TokenStatus.WAITING, TokenStatus.IN_CONSULTATION) else None
    return tokens


def live_status(token: QueueToken) -> TokenStatus:
    """The token's status, or how its appointment ended elsewhere (see `_tokens`)."""
    return getattr(token, "ended_as", None) or token.status


def pace_minutes(doctor: Doctor, tokens: list[QueueToken]) -> float:
    """Average length of the day's last consultations; the slot length before there is one."""
    finished = sorted((t for t in tokens if live_status(t) == TokenStatus.DONE and t.called_at
                       and t.finished_at), key=lambda t: t.finished_at)
    recent = finished[-current_app.config["QUEUE_PACE_WINDOW"]:]
    if not recent:
        return float(doctor.slot_minutes)
    return sum((t.finished_at - t.called_at).total_seconds() for t in recent) / 60 / len(recent)


def current_delay(doctor_id: uuid.UUID, day: date, tokens: list[QueueToken]) -> int:
    """The announced delay still in force: until the doctor next calls someone."""
    delay = db.session.scalar(select(QueueDelay).where(
        QueueDelay.doctor_id == doctor_id, QueueDelay.day == day)
        .order_by(QueueDelay.created_at.desc()).limit(1))
    if delay is None:
        return 0
    called_since = any(t.called_at and t.called_at > delay.created_at for t in tokens)
    return 0 if called_since else delay.minutes


def view(doctor: Doctor, day: date | None = None, now: datetime | None = None) -> QueueView:
    """The queue with each waiting person's position and estimated wait."""
    now = now or utcnow()
    day = day or local_day(doctor, now)
    tokens = _tokens(doctor.id, day)
    pace = pace_minutes(doctor, tokens)
    delay = current_delay(doctor.id, day, tokens)
    current = next((t for t in tokens if live_status(t) == TokenStatus.IN_CONSULTATION), None)
    ahead = delay
    if current is not None:
        elapsed = (now - current.called_at).total_seconds() / 60
        ahead += max(0.0, pace - elapsed)
    waiting = []
    for position, token in enumerate(queue_order(
            [t for t in tokens if live_status(t) == TokenStatus.WAITING]), start=1):
        wait = ahead + (position - 1) * pace
        if token.slot_start_at is not None:
            # Nobody booked is seen before their time, however short the queue.
            until_slot = (token.slot_start_at - now).total_seconds() / 60 + delay
            wait = max(wait, until_slot)
        waiting.append(Place(token, position, max(0, round(wait))))
    done = sum(live_status(t) == TokenStatus.DONE for t in tokens)
    return QueueView(doctor, day, current, waiting, pace, delay, done, tokens)


def view_for(user: User, doctor_id: uuid.UUID, now: datetime | None = None) -> QueueView:
    """Today's queue of a doctor, for whoever runs it (see `queue_for`)."""
    return view(queue_for(user, doctor_id), now=now)


def display(doctor_id: uuid.UUID, now: datetime | None = None) -> QueueView:
    """Today's queue of an active doctor for the waiting-room screen, which has no login:
    its page shows token numbers only."""
    return view(get_doctor(doctor_id), now=now)


def place_for_appointment(user: User, appointment_id: uuid.UUID,
                          now: datetime | None = None) -> tuple[QueueView, Place | None,
                                                                QueueToken | None]:
    """The patient's own place in the queue (their appointment's token), for their page."""
    appointment = appointments.get_visible(user, appointment_id)
    token = db.session.scalar(select(QueueToken).where(
        QueueToken.appointment_id == appointment.id))
    if token is None:
        return view(appointment.doctor, local_day(appointment.doctor, appointment.start_at),
                    now), None, None
    queue = view(appointment.doctor, token.day, now)
    return queue, queue.place_of(token.id), token


def places_of_patient(user: User, doctor_id: uuid.UUID, day: date | None,
                      now: datetime | None = None) -> tuple[QueueView, list[Place]]:
    """A patient's own places in a doctor's queue (theirs and their family's), nobody else's."""
    doctor = get_doctor(doctor_id, include_inactive=True)
    queue = view(doctor, day, now)
    return queue, [p for p in queue.waiting if p.token.patient_id == user.id]


# --- running late ----------------------------------------------------------------------------


def announce_delay(user: User, doctor_id: uuid.UUID, minutes: int, note: str = "",
                   now: datetime | None = None) -> tuple[QueueDelay, list[uuid.UUID]]:
    """The doctor (or the desk) is running `minutes` late today. Everyone still waiting and
    everyone booked later today is told (by the RUNNING_LATE event's notifications); returns
    the delay and the account holders told."""
    now = now or utcnow()
    doctor = queue_for(user, doctor_id)
    if not 0 <= minutes <= MAX_DELAY_MINUTES:
        raise ValidationFailed({"minutes": f"Give a delay between 0 and {MAX_DELAY_MINUTES} "
                                           "minutes."})
    if len(note) > 200:
        raise ValidationFailed({"note": "Use at most 200 characters."})
    day = local_day(doctor, now)
    zone = ZoneInfo(doctor.timezone)
    day_end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    with write():
        delay = QueueDelay(doctor_id=doctor.id, day=day, minutes=minutes, note=note.strip(),
                           announced_by_id=user.id, created_at=now)
        db.session.add(delay)
        waiting = {t.patient_id for t in _tokens(doctor.id, day)
                   if live_status(t) == TokenStatus.WAITING and t.patient_id is not None}
        later = set(db.session.scalars(select(Appointment.patient_id).where(
            Appointment.doctor_id == doctor.id,
            Appointment.status == AppointmentStatus.CONFIRMED,
            Appointment.start_at >= now, Appointment.start_at < day_end)))
        told = sorted(waiting | later, key=str)
        db.session.flush()
        record_event(QUEUE_EVENTS, "RUNNING_LATE", delay.id, {
            "doctor_id": str(doctor.id), "minutes": minutes, "note": delay.note,
            "day": day.isoformat(), "patient_ids": [str(p) for p in told]})
    return delay, told
