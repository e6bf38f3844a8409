"""Waitlist API: join, see and leave entries; take an offer; counts for doctors and admins."""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import Blueprint
from flask_login import current_user

from portal.api import operation, parse_body, parse_query, respond
from portal.appointments.api import appointment_out
from portal.appointments.schemas import AppointmentOut
from portal.availability.service import local_today
from portal.clock import utcnow
from portal.doctors.service import doctor_to_manage
from portal.roles import Role
from portal.security import admin_required, roles_required
from portal.waitlist import service
from portal.waitlist.schemas import (
    ConversionOut,
    ConversionQuery,
    DayCount,
    DayCounts,
    EntryIn,
    EntryList,
    EntryOut,
    OfferList,
    OfferOut,
)

bp = Blueprint("waitlist_api", __name__, url_prefix="/waitlist")

patients_only = roles_required(Role.PATIENT)


def entry_out(entry) -> EntryOut:
    return EntryOut(id=entry.id, doctor_id=entry.doctor_id,
                    doctor_name=service.get_doctor(entry.doctor_id,
                                                   include_inactive=True).name,
                    date_from=entry.date_from, date_to=entry.date_to,
                    day_parts=[p.value for p in entry.parts],
                    consultation_type=entry.consultation_type,
                    for_dependent_id=entry.for_dependent_id, status=entry.status.value,
                    created_at=entry.created_at)


def offer_out(offer) -> OfferOut:
    return OfferOut(id=offer.id, entry_id=offer.entry_id, doctor_id=offer.doctor_id,
                    slot_id=offer.slot_id, start=offer.start_at, end=offer.end_at,
                    status=offer.status.value, expires_at=offer.expires_at,
                    appointment_id=offer.appointment_id)


@bp.post("")
@patients_only
@operation("Join a doctor's waitlist", tags=("waitlist",), body=EntryIn, response=EntryOut,
           status=201, errors=(404, 409),
           description="When a matching time comes free you are offered it (in the order "
                       "people joined) on your channels, with a link to take it.")
def join():
    data = parse_body(EntryIn)
    entry = service.join(current_user, service.EntryInput(
        doctor_id=data.doctor_id, date_from=data.date_from, date_to=data.date_to,
        day_parts=tuple(data.day_parts), consultation_type=data.consultation_type,
        for_dependent_id=data.for_dependent_id))
    return respond(entry_out(entry), 201)


@bp.get("")
@patients_only
@operation("Your waitlist entries", tags=("waitlist",), response=EntryList)
def list_entries():
    return respond(EntryList(items=[entry_out(e) for e in service.entries_of(current_user)]))


@bp.delete("/<uuid:entry_id>")
@patients_only
@operation("Leave a waitlist", tags=("waitlist",), status=204, errors=(404,))
def leave(entry_id: uuid.UUID):
    service.leave(current_user, entry_id)
    return "", 204


@bp.get("/offers")
@patients_only
@operation("Your open offers", tags=("waitlist",), response=OfferList)
def list_offers():
    return respond(OfferList(items=[offer_out(o) for o in service.open_offers_of(current_user)]))


@bp.post("/offers/<uuid:offer_id>/take")
@patients_only
@operation("Take an offered time: a normal 5-minute hold", tags=("waitlist",),
           response=AppointmentOut, status=201, errors=(404, 409),
           description="The first to take it gets the hold (then pays as usual); anyone later "
                       "gets a 409 and stays on the waitlist.")
def take(offer_id: uuid.UUID):
    return respond(appointment_out(service.claim(current_user, offer_id)), 201)


@bp.get("/doctors/<uuid:doctor_id>/days")
@roles_required(Role.DOCTOR, Role.ADMIN)
@operation("How many wait for each day of a doctor's booking window", tags=("waitlist",),
           response=DayCounts, errors=(404,))
def waiting_days(doctor_id: uuid.UUID):
    doctor = doctor_to_manage(current_user, doctor_id)
    first = local_today(doctor)
    counts = service.waiting_by_day(doctor, first,
                                    first + timedelta(days=doctor.booking_window_days - 1))
    return respond(DayCounts(doctor_id=doctor.id, days=[DayCount(date=day, waiting=n)
                                                        for day, n in sorted(counts.items())]))


@bp.get("/conversion")
@admin_required
@operation("Waitlist conversion: offers made, taken, and how fast", tags=("waitlist",),
           query=ConversionQuery, response=ConversionOut)
def conversion():
    query = parse_query(ConversionQuery)
    now = utcnow()
    result = service.conversion(now - timedelta(days=query.days), now)
    return respond(ConversionOut(offers=result.offers, taken=result.taken,
                                 lapsed=result.lapsed, gone=result.gone,
                                 rate=round(result.rate, 3),
                                 median_seconds_to_take=result.median_seconds_to_take))
