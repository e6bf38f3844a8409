"""Front-desk API: find patients, book for them, register walk-ins, invite staff."""

from __future__ import annotations

from flask import Blueprint
from flask_login import current_user

from portal.api import operation, parse_body, parse_query, respond
from portal.appointments.api import appointment_out
from portal.appointments.schemas import AppointmentOut
from portal.auth.schemas import UserOut
from portal.desk import service
from portal.desk.schemas import (
    DeskBookingIn,
    NewPersonIn,
    PatientList,
    PatientOut,
    PatientQuery,
    StaffInviteIn,
    WalkInIn,
)
from portal.queue.api import token_out
from portal.queue.schemas import TokenOut
from portal.roles import Role
from portal.security import admin_required, roles_required

bp = Blueprint("desk_api", __name__, url_prefix="/desk")

desk = roles_required(Role.STAFF, Role.ADMIN)


def patient_out(user) -> PatientOut:
    unclaimed = service.is_placeholder_email(user.email)
    return PatientOut(id=user.id, name=user.name, phone=user.phone,
                      email=None if unclaimed else user.email,
                      claimed=not user.password_hash.startswith("!unclaimed"),
                      created_at=user.created_at)


def _person(data: NewPersonIn) -> service.NewPerson:
    return service.NewPerson(data.name, data.phone, data.email)


@bp.get("/patients")
@desk
@operation("Find patients by name, phone or email", tags=("desk",), query=PatientQuery,
           response=PatientList)
def search_patients():
    query = parse_query(PatientQuery)
    page = service.search_patients(current_user, query.q, query.page, query.per_page)
    return respond(PatientList(items=[patient_out(p) for p in page.items], page=page.page,
                               per_page=page.per_page, total=page.total, pages=page.pages))


@bp.post("/patients")
@desk
@operation("Register a new patient at the desk (invited by SMS/email to claim the account)",
           tags=("desk",), body=NewPersonIn, response=PatientOut, status=201)
def register_patient():
    data = parse_body(NewPersonIn)
    return respond(patient_out(service.register_person(current_user, _person(data))), 201)


@bp.post("/appointments")
@desk
@operation("Book a slot for a patient", tags=("desk",), body=DeskBookingIn,
           response=AppointmentOut, status=201, errors=(404, 409),
           description="The same hold, policy and double-booking rules as online booking. "
                       "A new person gets an account without a password and an invitation.")
def book():
    data = parse_body(DeskBookingIn)
    if data.patient_id is not None:
        patient = service.get_patient(current_user, data.patient_id)
    else:
        patient = service.register_person(current_user, _person(data.new_patient))
    appointment = service.book_for(current_user, patient, data.slot_id, reason=data.reason,
                                   for_dependent_id=data.for_dependent_id)
    return respond(appointment_out(appointment), 201)


@bp.post("/walk-ins")
@desk
@operation("A walk-in joins a doctor's queue today", tags=("desk",), body=WalkInIn,
           response=TokenOut, status=201, errors=(404,))
def walk_in():
    data = parse_body(WalkInIn)
    token = service.walk_in(current_user, data.doctor_id,
                            service.NewPerson(data.name, data.phone, data.email))
    return respond(token_out(token), 201)


@bp.post("/staff")
@admin_required
@operation("Invite a receptionist (a staff account; they set a password from the email)",
           tags=("desk",), body=StaffInviteIn, response=UserOut, status=201)
def invite_staff():
    data = parse_body(StaffInviteIn)
    return respond(UserOut.of(service.invite_staff(current_user, data.name, data.email)), 201)
