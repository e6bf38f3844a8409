"""What each event says to whom: the two outbox consumers, for appointment and payment events.

Consumers are idempotent per event: every notification's dedupe key starts with the event id,
and reminder rows are unique per appointment, time and offset, so a consumer run again after
a crash adds nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from portal.appointments.models import Appointment
from portal.auth.models import User
from portal.events import OutboxEvent
from portal.extensions import db
from portal.formatting import format_money
from portal.notifications.context import TIME_FORMAT, appointment_context, public_url
from portal.notifications.models import Channel, NotificationType
from portal.notifications.notify import notify
from portal.notifications.reminders import cancel_reminders, schedule_reminders
from portal.payments.models import PaymentTransaction
from portal.payments.service import tax_included

T = NotificationType


def on_appointment_event(event: OutboxEvent) -> None:
    """React to an appointment event from the outbox (a consumer: idempotent per event)."""
    payload = event.payload
    appointment = db.session.get(Appointment, uuid.UUID(payload["appointment_id"]))
    if appointment is None:
        return
    patient = db.session.get(User, appointment.patient_id)
    doctor_user = appointment.doctor.user
    kind = event.event_type
    base = f"event:{event.id}"
    link = public_url(f"/appointments/{appointment.id}")
    patient_ctx = appointment_context(appointment, patient)
    doctor_ctx = appointment_context(appointment, doctor_user)
    if kind == "RESERVED":
        notify(patient, T.APPOINTMENT_RESERVED, patient_ctx, base, link=link,
               only={Channel.IN_APP})
    elif kind == "CONFIRMED":
        notify(patient, T.APPOINTMENT_CONFIRMED,
               {**patient_ctx, "ics_appointment_id": str(appointment.id)}, base, link=link)
        notify(doctor_user, T.DOCTOR_NEW_BOOKING, doctor_ctx, base, link=link)
        schedule_reminders(appointment)
    elif kind == "CANCELLED":
        cancel_reminders(appointment.id)
        refund = int(payload.get("refund_paise") or 0)
        notify(patient, T.APPOINTMENT_CANCELLED, {
            **patient_ctx, "reason": payload.get("reason") if payload.get("cancelled_by")
            != "patient" else "", "refund_amount": format_money(refund) if refund else ""},
            base, link=link)
        if payload.get("cancelled_by") == "patient":
            notify(doctor_user, T.DOCTOR_BOOKING_CANCELLED, doctor_ctx, base, link=link)
    elif kind == "RESCHEDULED":
        cancel_reminders(appointment.id)
        old = datetime.fromisoformat(payload["old_start_at"])
        notify(patient, T.APPOINTMENT_RESCHEDULED, {
            **patient_ctx, "ics_appointment_id": str(appointment.id),
            "old_start": old.astimezone(ZoneInfo(patient.timezone)).strftime(TIME_FORMAT)},
            base, link=link)
        notify(doctor_user, T.DOCTOR_BOOKING_MOVED, {
            **doctor_ctx,
            "old_start": old.astimezone(ZoneInfo(doctor_user.timezone)).strftime(TIME_FORMAT)},
            base, link=link)
        schedule_reminders(appointment)


def on_payment_event(event: OutboxEvent) -> None:
    """React to a payment event: receipt, failure with how to retry, refunds."""
    payload = event.payload
    payment = db.session.get(PaymentTransaction, uuid.UUID(payload["payment_id"]))
    if payment is None:
        return
    patient = db.session.get(User, payment.patient_id)
    appointment = payment.appointment
    ctx = {**appointment_context(appointment, patient),
           "amount": format_money(payment.amount_paise, payment.currency),
           "tax": format_money(tax_included(payment.amount_paise), payment.currency),
           "gateway_payment_id": payment.gateway_payment_id or "",
           "receipt_url": public_url(f"/payments/{payment.id}/receipt"),
           "error": payload.get("error") or "",
           "refund_amount": format_money(int(payload.get("amount_paise") or 0),
                                         payment.currency),
           "reason": payload.get("reason") or ""}
    base = f"event:{event.id}"
    kinds = {"PAYMENT_COMPLETED": T.PAYMENT_RECEIPT, "PAYMENT_FAILED": T.PAYMENT_FAILED,
             "REFUND_INITIATED": T.REFUND_INITIATED, "REFUND_COMPLETED": T.REFUND_COMPLETED}
    kind = kinds.get(event.event_type)
    if kind is not None:
        notify(patient, kind, ctx, base, link=ctx["receipt_url"] if kind == T.PAYMENT_RECEIPT
               else ctx["appointment_url"])
