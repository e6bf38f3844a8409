"""Appointments API: reserve, confirm, cancel, reschedule, complete; lists per role."""

from __future__ import annotations

import uuid

from flask import Blueprint, request
from flask_login import current_user

from portal import video
from portal.api import Money, operation, parse_body, parse_query, respond
from portal.appointments import service
from portal.appointments.schemas import (
    AppointmentList,
    AppointmentOut,
    CancelIn,
    ConfirmIn,
    ListQuery,
    QuoteOut,
    RescheduleIn,
    ReserveIn,
    VideoJoinOut,
    VisitForIn,
    VisitForOut,
)
from portal.auth.models import Role
from portal.auth.service import check_patient_visible
from portal.doctors import service as doctors
from portal.exceptions import ValidationFailed
from portal.payments import service as payments
from portal.security import login_required, roles_required

bp = Blueprint("appointments_api", __name__, url_prefix="/appointments")

patients_only = roles_required(Role.PATIENT)
doctors_and_admins = roles_required(Role.DOCTOR, Role.ADMIN)
clinic_side = roles_required(Role.DOCTOR, Role.STAFF, Role.ADMIN)


def appointment_out(appointment) -> AppointmentOut:
    status = service.effective_status(appointment)
    return AppointmentOut(
        id=appointment.id, status=status.value, patient_id=appointment.patient_id,
        patient_name=appointment.patient.name, visit_for=visit_for_out(appointment),
        doctor_id=appointment.doctor_id,
        doctor_name=appointment.doctor.name, slot_id=appointment.slot_id,
        start=appointment.start_at, end=appointment.end_at,
        consultation_type=appointment.consultation_type,
        fee=Money(amount=appointment.fee_paise, currency=appointment.currency),
        reserved_until=appointment.reserved_until if status == "RESERVED" else None,
        reason_for_visit=appointment.reason_for_visit,
        video_join_opens_at=video.join_window(appointment).opens
        if appointment.video_room_url else None,
        cancelled_by=appointment.cancelled_by, cancel_reason=appointment.cancel_reason,
        refund=Money(amount=appointment.refund_paise, currency=appointment.currency)
        if appointment.refund_paise is not None else None,
        created_at=appointment.created_at, confirmed_at=appointment.confirmed_at,
        cancelled_at=appointment.cancelled_at)


def visit_for_out(appointment) -> VisitForOut:
    dependent = appointment.for_dependent
    if dependent is None:
        return VisitForOut(dependent_id=None, name=appointment.patient.name, age=None,
                          relation=None)
    return VisitForOut(dependent_id=dependent.id, name=dependent.name,
                      age=dependent.age_on(appointment.start_at.date()),
                      relation=dependent.relation.value)


def _page_out(page) -> AppointmentList:
    return AppointmentList(items=[appointment_out(a) for a in page.items], page=page.page,
                           per_page=page.per_page, total=page.total, pages=page.pages)


def _scope(value: str) -> bool | None:
    return {"upcoming": True, "past": False}.get(value)


@bp.post("/reserve")
@patients_only
@operation("Hold a free slot for 5 minutes", tags=("appointments",), body=ReserveIn,
           response=AppointmentOut, status=201, errors=(404, 409),
           description="Send an `Idempotency-Key` header to make retries safe: the same key "
                       "returns the same hold.")
def reserve():
    data = parse_body(ReserveIn)
    key = request.headers.get("Idempotency-Key", "").strip() or None
    if key and len(key) > 100:
        raise ValidationFailed({"Idempotency-Key": "Use at most 100 characters."})
    appointment = service.reserve(current_user, data.slot_id, idempotency_key=key,
                                  reason=data.reason, for_dependent_id=data.for_dependent_id)
    return respond(appointment_out(appointment), 201)


@bp.get("/<uuid:appointment_id>")
@login_required
@operation("One appointment (yours)", tags=("appointments",), response=AppointmentOut,
           errors=(404,))
def get_appointment(appointment_id: uuid.UUID):
    return respond(appointment_out(service.get_visible(current_user, appointment_id)))


@bp.post("/<uuid:appointment_id>/confirm")
@login_required
@operation("Confirm a held appointment", tags=("appointments",), body=ConfirmIn,
           response=AppointmentOut, errors=(402, 404, 409),
           description="Free consultations are confirmed at once; paid ones need a captured "
                       "payment (payments API).")
def confirm(appointment_id: uuid.UUID):
    data = parse_body(ConfirmIn)
    if data.payment_id:
        appointment = payments.confirm_paid(current_user, appointment_id, data.payment_id)
    else:
        appointment = service.confirm_free(current_user, appointment_id)
    return respond(appointment_out(appointment))


@bp.put("/<uuid:appointment_id>/visit-for")
@patients_only
@operation("Say whom the appointment is for", tags=("appointments",), body=VisitForIn,
           response=AppointmentOut, errors=(404, 409),
           description="Yourself (null) or one of your family members; before it starts.")
def set_visit_for(appointment_id: uuid.UUID):
    data = parse_body(VisitForIn)
    return respond(appointment_out(service.set_visit_for(current_user, appointment_id,
                                                       data.for_dependent_id)))


@bp.get("/<uuid:appointment_id>/video-join")
@login_required
@operation("A link to join the video consultation (with a short-lived token)",
           tags=("appointments",), response=VideoJoinOut, errors=(404, 409),
           description="For the doctor (moderator) and the patient (guest), from 10 minutes "
                       "before the start until 30 minutes after the end; 409 outside that.")
def video_join(appointment_id: uuid.UUID):
    appointment = service.get_visible(current_user, appointment_id)
    link = video.join_link(current_user, appointment)
    return respond(VideoJoinOut(url=link.url, room=link.room, moderator=link.moderator,
                                opens_at=link.window.opens, closes_at=link.window.closes))


@bp.get("/<uuid:appointment_id>/cancellation")
@login_required
@operation("What cancelling now would refund", tags=("appointments",), response=QuoteOut,
           errors=(404,))
def cancellation_quote(appointment_id: uuid.UUID):
    appointment = service.get_visible(current_user, appointment_id)
    quote = service.cancellation_quote(appointment,
                                       clinic_side=service.is_clinic_side(current_user))
    return respond(QuoteOut(refund=Money(amount=quote.refund_paise, currency=appointment.currency),
                            percent=quote.percent, explanation=quote.explanation))


@bp.post("/<uuid:appointment_id>/cancel")
@login_required
@operation("Cancel an appointment", tags=("appointments",), body=CancelIn,
           response=AppointmentOut, errors=(404, 409),
           description="Patients are refunded by the cancellation policy; a cancellation by "
                       "the doctor or an admin refunds in full and needs a reason.")
def cancel(appointment_id: uuid.UUID):
    data = parse_body(CancelIn)
    return respond(appointment_out(service.cancel(current_user, appointment_id, data.reason)))


@bp.post("/<uuid:appointment_id>/reschedule")
@login_required
@operation("Move a confirmed appointment to another free slot", tags=("appointments",),
           body=RescheduleIn, response=AppointmentOut, errors=(404, 409))
def reschedule(appointment_id: uuid.UUID):
    data = parse_body(RescheduleIn)
    return respond(appointment_out(service.reschedule(current_user, appointment_id,
                                                      data.slot_id)))


@bp.post("/<uuid:appointment_id>/complete")
@clinic_side
@operation("Mark an appointment completed", tags=("appointments",), response=AppointmentOut,
           errors=(404, 409))
def complete(appointment_id: uuid.UUID):
    return respond(appointment_out(service.mark_completed(current_user, appointment_id)))


@bp.post("/<uuid:appointment_id>/no-show")
@clinic_side
@operation("Mark that the patient did not come", tags=("appointments",),
           response=AppointmentOut, errors=(404, 409))
def no_show(appointment_id: uuid.UUID):
    return respond(appointment_out(service.mark_no_show(current_user, appointment_id)))


@bp.get("/doctor/<uuid:doctor_id>")
@doctors_and_admins
@operation("A doctor's appointments", tags=("appointments",), query=ListQuery,
           response=AppointmentList, errors=(404,))
def doctor_list(doctor_id: uuid.UUID):
    doctors.doctor_to_manage(current_user, doctor_id)
    query = parse_query(ListQuery)
    return respond(_page_out(service.doctor_appointments(
        doctor_id, reader=current_user, upcoming=_scope(query.scope), page=query.page,
        per_page=query.per_page)))


@bp.get("/patient/<uuid:patient_id>")
@login_required
@operation("A patient's appointments", tags=("appointments",), query=ListQuery,
           response=AppointmentList, errors=(404,))
def patient_list(patient_id: uuid.UUID):
    check_patient_visible(current_user, patient_id)
    query = parse_query(ListQuery)
    return respond(_page_out(service.patient_appointments(
        patient_id, reader=current_user, upcoming=_scope(query.scope), page=query.page,
        per_page=query.per_page)))
