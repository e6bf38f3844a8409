"""Queue API: check-in, the queue of a doctor's day, calling, done, running late."""

from __future__ import annotations

import uuid

from flask import Blueprint
from flask_login import current_user

from portal.api import operation, parse_body, parse_query, respond
from portal.queue import service
from portal.queue.models import QueueToken
from portal.queue.schemas import (
    PlaceOut,
    QueueOut,
    QueueQuery,
    RunningLateIn,
    RunningLateOut,
    TokenOut,
)
from portal.roles import Role
from portal.security import login_required, roles_required

bp = Blueprint("queue_api", __name__)

desk = roles_required(Role.STAFF, Role.ADMIN)
runs_queue = roles_required(Role.DOCTOR, Role.STAFF, Role.ADMIN)


def token_out(token: QueueToken, with_name: bool = True) -> TokenOut:
    return TokenOut(id=token.id, number=token.number, kind=token.kind.value,
                    status=service.live_status(token).value,
                    doctor_id=token.doctor_id, day=token.day,
                    appointment_id=token.appointment_id,
                    name=token.name if with_name else None, arrived_at=token.arrived_at,
                    called_at=token.called_at, finished_at=token.finished_at)


def _queue_out(queue: service.QueueView, places: list[service.Place],
               with_names: bool) -> QueueOut:
    return QueueOut(
        doctor_id=queue.doctor.id, day=queue.day,
        now_serving=queue.current.number if queue.current else None,
        waiting_count=len(queue.waiting), pace_minutes=round(queue.pace_minutes, 1),
        delay_minutes=queue.delay_minutes,
        places=[PlaceOut(token=token_out(p.token, with_names), position=p.position,
                         wait_minutes=p.wait_minutes) for p in places])


@bp.post("/appointments/<uuid:appointment_id>/check-in")
@desk
@operation("Check a patient in: they get the next token of the doctor's day", tags=("queue",),
           response=TokenOut, status=201, errors=(404, 409))
def check_in(appointment_id: uuid.UUID):
    return respond(token_out(service.check_in(current_user, appointment_id)), 201)


@bp.get("/queue/<uuid:doctor_id>")
@login_required
@operation("A doctor's queue on a day", tags=("queue",), query=QueueQuery, response=QueueOut,
           errors=(404,), description="The desk and the doctor see everyone waiting; a "
                                      "patient sees only their own places and the counts.")
def get_queue(doctor_id: uuid.UUID):
    query = parse_query(QueueQuery)
    if current_user.role == Role.PATIENT:
        doctor_queue, own = service.places_of_patient(current_user, doctor_id, query.day)
        return respond(_queue_out(doctor_queue, own, with_names=False))
    doctor = service.queue_for(current_user, doctor_id)
    doctor_queue = service.view(doctor, query.day)
    return respond(_queue_out(doctor_queue, doctor_queue.waiting, with_names=True))


@bp.post("/queue/<uuid:doctor_id>/call-next")
@runs_queue
@operation("Call the next person in", tags=("queue",), response=TokenOut, errors=(404, 409))
def call_next(doctor_id: uuid.UUID):
    return respond(token_out(service.call_next(current_user, doctor_id)))


@bp.post("/queue/tokens/<uuid:token_id>/done")
@runs_queue
@operation("The consultation is over", tags=("queue",), response=TokenOut, errors=(404, 409))
def done(token_id: uuid.UUID):
    return respond(token_out(service.finish(current_user, token_id)))


@bp.post("/queue/tokens/<uuid:token_id>/not-here")
@runs_queue
@operation("A waiting person did not answer or went home", tags=("queue",),
           response=TokenOut, errors=(404, 409))
def not_here(token_id: uuid.UUID):
    return respond(token_out(service.mark_not_here(current_user, token_id)))


@bp.post("/queue/<uuid:doctor_id>/running-late")
@runs_queue
@operation("Announce that the doctor is running late today", tags=("queue",),
           body=RunningLateIn, response=RunningLateOut, status=201, errors=(404,),
           description="Everyone still waiting or booked later today is told by their "
                       "channels; the estimates shift by the delay until the next call.")
def running_late(doctor_id: uuid.UUID):
    data = parse_body(RunningLateIn)
    delay, told = service.announce_delay(current_user, doctor_id, data.minutes, data.note)
    return respond(RunningLateOut(minutes=delay.minutes, told=len(told)), 201)
