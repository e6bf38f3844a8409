"""What each event says to whom: a table from appointment and payment event types to the
notifications they cause, read by the two outbox consumers.

Consumers are idempotent per event: every notification's dedupe key starts with the event id,
and reminder rows are unique per appointment, time and offset, so a consumer run again after
a crash adds nothing.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from portal.appointments.models import Appointment
from portal.auth.models import User
from portal.doctors.models import Doctor
from portal.events import OutboxEvent
from portal.extensions import db
from portal.formatting import format_money
from portal.notifications.context import (
    TIME_FORMAT,
    appointment_context,
    local_time,
    public_url,
)
from portal.notifications.models import Channel, NotificationType
from portal.notifications.notify import notify
from portal.notifications.reminders import cancel_reminders, schedule_reminders
from portal.payments.models import PaymentTransaction
from portal.payments.service import tax_included

T = NotificationType


class Recipient(enum.StrEnum):
    PATIENT = "patient"  # the account holder, who booked and pays
    DOCTOR = "doctor"  # the doctor's user account


class Detail(enum.Enum):
    """What a message adds to the appointment's variables."""

    CALENDAR = "calendar"  # an .ics invitation (email attaches it)
    OLD_START = "old_start"  # when it was before a move, in the recipient's zone
    CANCELLATION = "cancellation"  # why (unless the patient cancelled) and what is refunded


class Link(enum.Enum):
    """Where the notification leads."""

    APPOINTMENT = "appointment"
    RECEIPT = "receipt"


@dataclass(frozen=True)
class Notice:
    """One notification an event causes."""

    recipient: Recipient
    kind: NotificationType
    channels: frozenset[Channel] | None = None  # None: every channel (preferences apply)
    details: tuple[Detail, ...] = ()
    link: Link = Link.APPOINTMENT
    # Only when the event's `cancelled_by` is this (a doctor is told of a patient's cancelling,
    # not of their own).
    if_cancelled_by: str | None = None


@dataclass(frozen=True)
class Reaction:
    """Everything one event type does, in order: cancel the old reminders, notify, then
    schedule reminders for the (new) time."""

    notices: tuple[Notice, ...]
    cancel_reminders: bool = False
    schedule_reminders: bool = False


PATIENT, DOCTOR = Recipient.PATIENT, Recipient.DOCTOR

APPOINTMENT_REACTIONS: dict[str, Reaction] = {
    "RESERVED": Reaction((
        Notice(PATIENT, T.APPOINTMENT_RESERVED, channels=frozenset({Channel.IN_APP})),)),
    "CONFIRMED": Reaction((
        Notice(PATIENT, T.APPOINTMENT_CONFIRMED, details=(Detail.CALENDAR,)),
        Notice(DOCTOR, T.DOCTOR_NEW_BOOKING)),
        schedule_reminders=True),
    "CANCELLED": Reaction((
        Notice(PATIENT, T.APPOINTMENT_CANCELLED, details=(Detail.CANCELLATION,)),
        Notice(DOCTOR, T.DOCTOR_BOOKING_CANCELLED, if_cancelled_by="patient")),
        cancel_reminders=True),
    "RESCHEDULED": Reaction((
        Notice(PATIENT, T.APPOINTMENT_RESCHEDULED, details=(Detail.CALENDAR, Detail.OLD_START)),
        Notice(DOCTOR, T.DOCTOR_BOOKING_MOVED, details=(Detail.OLD_START,))),
        cancel_reminders=True, schedule_reminders=True),
}

PAYMENT_REACTIONS: dict[str, Reaction] = {
    "PAYMENT_COMPLETED": Reaction((Notice(PATIENT, T.PAYMENT_RECEIPT, link=Link.RECEIPT),)),
    "PAYMENT_FAILED": Reaction((Notice(PATIENT, T.PAYMENT_FAILED),)),
    "REFUND_INITIATED": Reaction((Notice(PATIENT, T.REFUND_INITIATED),)),
    "REFUND_COMPLETED": Reaction((Notice(PATIENT, T.REFUND_COMPLETED),)),
    # The desk's payment link, by SMS and email (and in-app).
    "PAYMENT_LINK_SENT": Reaction((Notice(PATIENT, T.PAYMENT_LINK),)),
}


# Events about a person rather than an appointment or a payment: the waitlist and the queue.
PERSON_REACTIONS: dict[str, Notice] = {
    "WAITLIST_OFFERED": Notice(PATIENT, T.WAITLIST_OFFER),
    "WAITLIST_GONE": Notice(PATIENT, T.WAITLIST_GONE,
                            channels=frozenset({Channel.IN_APP, Channel.PUSH})),
    "RUNNING_LATE": Notice(PATIENT, T.RUNNING_LATE,
                           channels=frozenset({Channel.SMS, Channel.PUSH, Channel.IN_APP})),
}


def _details(notice: Notice, appointment: Appointment, payload: dict[str, Any],
             recipient: User) -> dict[str, Any]:
    """The variables a notice's details add."""
    extra: dict[str, Any] = {}
    for detail in notice.details:
        if detail is Detail.CALENDAR:
            extra["ics_appointment_id"] = str(appointment.id)
        elif detail is Detail.OLD_START:
            extra["old_start"] = local_time(datetime.fromisoformat(payload["old_start_at"]),
                                            recipient)
        elif detail is Detail.CANCELLATION:
            refund = int(payload.get("refund_paise") or 0)
            extra["reason"] = payload.get("reason") if payload.get("cancelled_by") \
                != "patient" else ""
            extra["refund_amount"] = format_money(refund) if refund else ""
    return extra


def _react(reaction: Reaction, event: OutboxEvent, appointment: Appointment,
           people: dict[Recipient, User], base_context: dict[Recipient, dict[str, Any]],
           links: dict[Link, str]) -> None:
    """Do what the table says for one event."""
    if reaction.cancel_reminders:
        cancel_reminders(appointment.id)
    for notice in reaction.notices:
        if notice.if_cancelled_by is not None and \
                event.payload.get("cancelled_by") != notice.if_cancelled_by:
            continue
        user = people[notice.recipient]
        context = {**base_context[notice.recipient],
                   **_details(notice, appointment, event.payload, user)}
        notify(user, notice.kind, context, f"event:{event.id}", link=links[notice.link],
               only=set(notice.channels) if notice.channels is not None else None)
    if reaction.schedule_reminders:
        schedule_reminders(appointment)


def on_appointment_event(event: OutboxEvent) -> None:
    """React to an appointment event from the outbox (a consumer: idempotent per event)."""
    reaction = APPOINTMENT_REACTIONS.get(event.event_type)
    appointment = db.session.get(Appointment, uuid.UUID(event.payload["appointment_id"]))
    if reaction is None or appointment is None:
        return
    people = {PATIENT: db.session.get(User, appointment.patient_id),
              DOCTOR: appointment.doctor.user}
    context = {who: appointment_context(appointment, user) for who, user in people.items()}
    links = {Link.APPOINTMENT: public_url(f"/appointments/{appointment.id}")}
    _react(reaction, event, appointment, people, context, links)


def on_payment_event(event: OutboxEvent) -> None:
    """React to a payment event: receipt, failure with how to retry, refunds."""
    reaction = PAYMENT_REACTIONS.get(event.event_type)
    payload = event.payload
    payment = db.session.get(PaymentTransaction, uuid.UUID(payload["payment_id"]))
    if reaction is None or payment is None:
        return
    patient = db.session.get(User, payment.patient_id)
    appointment = payment.appointment
    context = {**appointment_context(appointment, patient),
               "amount": format_money(payment.amount_paise, payment.currency),
               "tax": format_money(tax_included(payment.amount_paise), payment.currency),
               "gateway_payment_id": payment.gateway_payment_id or "",
               "receipt_url": public_url(f"/payments/{payment.id}/receipt"),
               "error": payload.get("error") or "",
               "refund_amount": format_money(int(payload.get("amount_paise") or 0),
                                             payment.currency),
               "reason": payload.get("reason") or "",
               "link_url": payload.get("short_url") or "",
               "link_expires": datetime.fromisoformat(payload["expires_at"]).astimezone(
                   ZoneInfo(patient.timezone)).strftime("%a %d %b, %H:%M")
               if payload.get("expires_at") else ""}
    links = {Link.APPOINTMENT: context["appointment_url"], Link.RECEIPT: context["receipt_url"]}
    _react(reaction, event, appointment, {PATIENT: patient}, {PATIENT: context}, links)


def on_person_event(event: OutboxEvent) -> None:
    """React to a waitlist or queue event: an offer, an offer gone, the doctor running late."""
    notice = PERSON_REACTIONS.get(event.event_type)
    if notice is None:
        return
    payload = event.payload
    doctor = db.session.get(Doctor, uuid.UUID(payload["doctor_id"]))
    ids = payload.get("patient_ids") or [payload["patient_id"]]
    for user in filter(None, (db.session.get(User, uuid.UUID(i)) for i in ids)):
        zone = ZoneInfo(user.timezone)
        context: dict[str, Any] = {"patient_name": user.name, "doctor_name": doctor.name,
                                   "timezone": user.timezone,
                                   "doctor_url": public_url(f"/doctors/{doctor.id}")}
        link = public_url("/notifications/")
        if "start_at" in payload:
            context["start"] = datetime.fromisoformat(payload["start_at"]).astimezone(
                zone).strftime(TIME_FORMAT)
        if "offer_id" in payload:
            link = context["offer_url"] = public_url(f"/waitlist/offers/{payload['offer_id']}")
        if "expires_at" in payload:
            context["offer_until"] = datetime.fromisoformat(payload["expires_at"]).astimezone(
                zone).strftime("%H:%M")
        if "minutes" in payload:
            context["minutes"], context["note"] = payload["minutes"], payload.get("note", "")
        notify(user, notice.kind, context, f"event:{event.id}", link=link,
               only=set(notice.channels) if notice.channels is not None else None)
