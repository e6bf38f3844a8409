"""Payments taken at the front desk: money at the counter, or a Razorpay Payment Link. No request.

The front desk (staff) and admins take them for any patient's appointment:

- `record_offline`: cash, UPI at the counter or the card machine, with the number of the
  counter's receipt. The payment is recorded CAPTURED, like a gateway capture (PAYMENT_COMPLETED,
  so the patient gets their receipt), and a held appointment is confirmed in the same unit of
  work (a lapsed hold too, while nobody has taken the time): both happen or neither does.
  Its refund is money handed back at the desk (`service.refund`, never the gateway).
- `send_payment_link`: a Razorpay Payment Link for the fee, sent to the patient by SMS and email
  through the portal's notifications (event PAYMENT_LINK_SENT). The hold is extended to the
  link's expiry so the time waits for the patient; paying the link confirms the booking as
  checkout does (`portal.payments.links`).

As with checkout there is one payment row per appointment (its receipt names the appointment),
and the amount is always the appointment's fee, never the caller's. A desk payment takes over an
online attempt the patient did not finish: a link sent before is cancelled at Razorpay first, and
a checkout order is checked for a payment made meanwhile, so the patient is not charged twice.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.appointments import service as appointments
from portal.appointments.models import Appointment, AppointmentStatus
from portal.auth.models import User
from portal.clock import utcnow
from portal.doctors.models import ConsultationType
from portal.exceptions import Conflict, Forbidden, NotFound, ValidationFailed
from portal.extensions import db
from portal.payments import gateway, links, service
from portal.payments.models import (
    PAYMENT_RANK,
    LinkStatus,
    OfflineMethod,
    PaymentChannel,
    PaymentLink,
    PaymentStatus,
    PaymentTransaction,
)
from portal.roles import Role
from portal.transactions import write

log = logging.getLogger(__name__)

A = AppointmentStatus
P = PaymentStatus
DESK_ROLES = (Role.STAFF, Role.ADMIN)
MAX_REFERENCE = 60
# Razorpay refuses an `expire_by` less than 15 minutes ahead: a link of the default 15 minutes
# gets one more, so the time the request takes cannot make it too short.
LINK_EXPIRY_MARGIN = timedelta(minutes=1)
# What the desk can still take money for: a booking not paid yet, up to and after the visit
# (many patients pay on their way out). Holds, live or lapsed, are handled on their own.
BOOKED = (A.CONFIRMED, A.ARRIVED, A.IN_CONSULTATION, A.COMPLETED)


class AlreadyPaid(Conflict):
    title = "Already paid"


class ReceiptNumberUsed(Conflict):
    title = "Receipt number already recorded"


class LinkClosed(Conflict):
    title = "Payment link closed"


# --- who and what --------------------------------------------------------------------------


def check_desk(user: User) -> None:
    """Only the front desk and admins take payments at the desk (Forbidden otherwise)."""
    if user.role not in DESK_ROLES:
        raise Forbidden("Only the front desk takes payments for patients.")


def _appointment(appointment_id: uuid.UUID) -> Appointment:
    appointment = db.session.get(Appointment, appointment_id)
    if appointment is None:
        raise NotFound("No such appointment.")
    return appointment


def _lock_appointment(appointment_id: uuid.UUID) -> Appointment:
    appointment = db.session.scalar(select(Appointment).where(Appointment.id == appointment_id)
                                    .with_for_update(of=Appointment)
                                    .execution_options(populate_existing=True))
    if appointment is None:
        raise NotFound("No such appointment.")
    return appointment


def _check_fee(appointment: Appointment) -> None:
    if appointment.fee_paise <= 0:
        raise service.NothingToPay("This consultation is free; there is nothing to pay.")


def _check_offline_payable(appointment: Appointment, now: datetime) -> None:
    _check_fee(appointment)
    status = appointments.effective_status(appointment, now)
    if status not in (A.RESERVED, A.EXPIRED, *BOOKED):
        raise service.NothingToPay(f"This appointment is {status.label.lower()}; there is "
                                   "nothing to pay.")


def _check_linkable(appointment: Appointment, now: datetime) -> None:
    _check_fee(appointment)
    status = appointments.effective_status(appointment, now)
    if status == A.EXPIRED:
        raise appointments.HoldExpired("The hold on this time has lapsed: book it again, or "
                                       "take the payment at the desk now.")
    if status not in (A.RESERVED, *BOOKED):
        raise service.NothingToPay(f"This appointment is {status.label.lower()}; there is "
                                   "nothing to pay.")


def _method(method: OfflineMethod | str) -> OfflineMethod:
    try:
        return OfflineMethod(method)
    except ValueError:
        choices = ", ".join(m.value for m in OfflineMethod)
        raise ValidationFailed({"method": f"Choose one of: {choices}."}) from None


def _reference(reference: str | None) -> str:
    reference = (reference or "").strip()
    if not reference:
        raise ValidationFailed({"reference": "Enter the number of the counter's receipt."})
    if len(reference) > MAX_REFERENCE:
        raise ValidationFailed({"reference": f"Use at most {MAX_REFERENCE} characters."})
    return reference


# --- the payment row -----------------------------------------------------------------------


def _payment_row(appointment: Appointment, channel: PaymentChannel,
                 now: datetime) -> PaymentTransaction:
    """The appointment's payment, locked; made (PENDING, on `channel`) when there is none.
    Call inside a unit of work."""
    payment = _locked_payment_of(appointment.id)
    if payment is not None:
        return payment
    try:
        with write():  # a savepoint: a concurrent checkout or desk may insert it first
            payment = PaymentTransaction(
                appointment_id=appointment.id, patient_id=appointment.patient_id,
                doctor_id=appointment.doctor_id, amount_paise=appointment.fee_paise,
                currency=appointment.currency, receipt=service.receipt_for(appointment),
                status=P.PENDING, channel=channel, created_at=now, updated_at=now)
            db.session.add(payment)
            db.session.flush()
    except IntegrityError:
        payment = _locked_payment_of(appointment.id)
    return payment


def _locked_payment_of(appointment_id: uuid.UUID) -> PaymentTransaction | None:
    return db.session.scalar(select(PaymentTransaction)
                             .where(PaymentTransaction.appointment_id == appointment_id)
                             .with_for_update(of=PaymentTransaction)
                             .execution_options(populate_existing=True))


def _check_unpaid(payment: PaymentTransaction) -> None:
    if PAYMENT_RANK[payment.status] >= PAYMENT_RANK[P.CAPTURED]:
        how = {PaymentChannel.OFFLINE: "at the desk", PaymentChannel.LINK: "by payment link",
               PaymentChannel.CHECKOUT: "online"}[payment.channel]
        raise AlreadyPaid(f"This appointment is already paid ({how}).")


def _close_online_attempt(appointment_id: uuid.UUID, now: datetime) -> None:
    """Before money is taken at the desk: cancel a payment link still open at Razorpay (a
    payment it took meanwhile is applied instead), or ask about a checkout order."""
    payment = service.payment_for_appointment(appointment_id)
    if payment is None or PAYMENT_RANK[payment.status] >= PAYMENT_RANK[P.CAPTURED]:
        return
    link = links.link_for_payment(payment.id)
    if link is not None:
        gateway_id = link.gateway_link_id
        if gateway_id is None:  # the link's creation was cut short: did Razorpay make it?
            found = gateway.find_payment_link_by_reference(payment.receipt)
            gateway_id = found["id"] if found else None
        if gateway_id and link.status in links.OPEN_LINKS:
            try:
                entity = gateway.cancel_payment_link(gateway_id)
            except gateway.GatewayRejected:  # paid (or closed) meanwhile: learn which
                entity = gateway.fetch_payment_link(gateway_id)
            links.apply_gateway_link(link.id, entity, source="desk", now=now)
    elif payment.gateway_order_id and not service.check_with_gateway(payment.id, now):
        log.warning("payment %s: could not ask the gateway about order %s before taking money "
                    "at the desk", payment.id, payment.gateway_order_id)


# --- money at the counter ------------------------------------------------------------------


def record_offline(staff: User, appointment_id: uuid.UUID, method: OfflineMethod | str,
                   reference: str, now: datetime | None = None) -> PaymentTransaction:
    """Record the fee paid at the counter (cash, UPI, card machine) with its receipt number.

    Confirms a held appointment in the same unit of work. Raises Forbidden (not the desk),
    NotFound, ValidationFailed (method, reference), NothingToPay (free, cancelled...),
    AlreadyPaid, ReceiptNumberUsed, HoldExpired (a lapsed hold whose time was taken) and, when
    a payment link sent before cannot be cancelled at Razorpay, GatewayUnavailable.
    """
    now = now or utcnow()
    check_desk(staff)
    method = _method(method)
    reference = _reference(reference)
    _check_offline_payable(_appointment(appointment_id), now)
    _close_online_attempt(appointment_id, now)
    with write():
        appointment = _lock_appointment(appointment_id)
        _check_offline_payable(appointment, now)
        payment = _payment_row(appointment, PaymentChannel.OFFLINE, now)
        _check_unpaid(payment)
        if db.session.scalar(select(PaymentTransaction.id).where(
                PaymentTransaction.offline_reference == reference,
                PaymentTransaction.id != payment.id)) is not None:
            raise ReceiptNumberUsed(f"Receipt no. {reference} is already recorded for another "
                                    "payment; check the number.", "reference")
        payment.channel = PaymentChannel.OFFLINE
        payment.method = method.value
        payment.offline_reference = reference
        payment.recorded_by_id = staff.id
        payment.status = P.CAPTURED
        payment.captured_at = payment.updated_at = now
        payment.error_code = payment.error_description = None
        service.payment_event("PAYMENT_COMPLETED", payment, method=method.value,
                              offline_reference=reference, recorded_by=str(staff.id))
        if appointments.effective_status(appointment, now) in (A.RESERVED, A.EXPIRED):
            appointments.confirm(appointment.id, actor_id=staff.id, now=now,
                                 reason=f"paid at the desk ({method.label.lower()})")
    return payment


# --- a payment link ------------------------------------------------------------------------


def send_payment_link(staff: User, appointment_id: uuid.UUID,
                      now: datetime | None = None) -> PaymentLink:
    """Send the patient a Razorpay Payment Link for the fee, by SMS and email; returns it.

    Written before the gateway call; a retry returns the link made before (found again by its
    reference, our payment's receipt, when the gateway's answer was lost). A held appointment
    is held until the link expires. Raises Forbidden, NotFound, NothingToPay, AlreadyPaid,
    HoldExpired, LinkClosed (the link sent before expired or was cancelled), GatewayUnavailable.
    """
    now = now or utcnow()
    check_desk(staff)
    _check_linkable(_appointment(appointment_id), now)
    existing = service.payment_for_appointment(appointment_id)
    if existing is not None and existing.channel == PaymentChannel.CHECKOUT and \
            existing.gateway_order_id and \
            PAYMENT_RANK[existing.status] < PAYMENT_RANK[P.CAPTURED]:
        service.check_with_gateway(existing.id, now)  # paid online meanwhile?
    expires = now + timedelta(minutes=current_app.config["PAYMENT_LINK_MINUTES"]) + \
        LINK_EXPIRY_MARGIN
    with write():
        appointment = _lock_appointment(appointment_id)
        _check_linkable(appointment, now)
        payment = _payment_row(appointment, PaymentChannel.LINK, now)
        _check_unpaid(payment)
        link = links.link_for_payment(payment.id)
        if link is not None and link.gateway_link_id:
            if link.status in links.OPEN_LINKS and (link.expires_at is None
                                                    or link.expires_at > now):
                return link  # sent already: the same link, not a second message
            raise LinkClosed(f"The payment link sent earlier is {link.status.value}; take the "
                             "payment at the desk.")
        payment.channel = PaymentChannel.LINK
        payment.updated_at = now
        if link is None:
            link = PaymentLink(payment_id=payment.id, status=LinkStatus.CREATED,
                               created_by_id=staff.id, created_at=now, updated_at=now)
            db.session.add(link)
        link.expires_at = expires
        if appointment.status == A.RESERVED:
            appointments.extend_hold(appointment.id, expires, actor_id=staff.id,
                                     reason="payment link sent", now=now)
    entity = _gateway_link(payment, appointment, expires)
    with write():
        link = links.lock_link(link.id)
        payment = service.lock_payment(payment.id)
        if link.gateway_link_id is None:
            link.gateway_link_id = entity["id"]
            link.short_url = (entity.get("short_url") or "")[:300] or None
            link.expires_at = links.expires_at_of(entity) or link.expires_at
            link.updated_at = now
            if payment.status == P.PENDING:
                payment.status = P.CREATED
            payment.updated_at = now
            service.payment_event(
                "PAYMENT_LINK_SENT", payment, payment_link_id=str(link.id),
                gateway_link_id=link.gateway_link_id, short_url=link.short_url,
                expires_at=link.expires_at.isoformat() if link.expires_at else None,
                sent_by=str(staff.id))
    return link


def _gateway_link(payment: PaymentTransaction, appointment: Appointment,
                  expires: datetime) -> dict:
    """The gateway's link for this payment: the one made before, else a new one."""
    found = gateway.find_payment_link_by_reference(payment.receipt)
    if found is not None:
        return found
    patient = appointment.patient
    customer = {"name": patient.name, "email": patient.email}
    if patient.phone:
        customer["contact"] = patient.phone
    try:
        return gateway.create_payment_link(
            payment.amount_paise, payment.currency, payment.receipt,
            description=_description(appointment), customer=customer,
            expire_by=int(expires.timestamp()),
            notes={"appointment_id": str(appointment.id), "payment_id": str(payment.id)})
    except gateway.GatewayRejected:
        # A concurrent send made it first (the reference is taken): that link is this one.
        found = gateway.find_payment_link_by_reference(payment.receipt)
        if found is None:
            raise
        return found


def _description(appointment: Appointment) -> str:
    """What the link's page says it is for, in the patient's time zone."""
    zone = appointment.patient.timezone
    start = appointment.start_at.astimezone(ZoneInfo(zone)).strftime("%a %d %b %Y, %H:%M")
    kind = ConsultationType(appointment.consultation_type).label
    return (f"{current_app.config['CLINIC_NAME']}: {kind} consultation with "
            f"{appointment.doctor.name}, {start} ({zone})")
