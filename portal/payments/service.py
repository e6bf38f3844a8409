"""Payment rules: orders, verification, webhooks, refunds, reconciliation. No request here.
Payments taken at the front desk (at the counter, or by a Razorpay Payment Link) are started in
`portal.payments.desk`; a link's state at the gateway is followed in `portal.payments.links`.

Money safety (invariant 3):
- the amount is the appointment's fee, computed on the server when the hold was made;
- every gateway call is recorded before (a PENDING row) and after (the gateway's ids);
- a payment only moves forward (PAYMENT_RANK), so a late, repeated or out-of-order webhook
  changes nothing; webhook events are stored by Razorpay's event id and applied once;
- a payment captured after its slot went to someone else is refunded in full, automatically;
- refunds carry Razorpay's idempotency header, so a retried refund never pays out twice;
  money taken at the desk is given back at the desk (an offline refund, never the gateway).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.appointments import service as appointments
from portal.appointments.models import Appointment, AppointmentStatus
from portal.auth.models import Role, User
from portal.clock import utcnow
from portal.events import PAYMENT_EVENTS, OutboxEvent, record_event
from portal.exceptions import Conflict, DomainError, NotFound, ValidationFailed
from portal.extensions import db
from portal.payments import accounts, gateway, route
from portal.payments.models import (
    PAYMENT_RANK,
    PaymentChannel,
    PaymentStatus,
    PaymentTransaction,
    Refund,
    RefundSource,
    RefundStatus,
    WebhookEvent,
    WebhookStatus,
)
from portal.privacy import access
from portal.privacy.models import AccessKind
from portal.transactions import write

log = logging.getLogger(__name__)

P = PaymentStatus
HANDLED_WEBHOOKS = {"payment.authorized", "payment.captured", "payment.failed", "order.paid",
                    "refund.processed", "refund.failed", "refund.created",
                    "payment_link.paid", "payment_link.expired", "payment_link.cancelled",
                    # Razorpay Route (portal/payments/route.py, accounts.py)
                    "transfer.processed", "transfer.failed", "settlement.processed",
                    "product.route.activated", "product.route.needs_clarification",
                    "product.route.under_review"}
# Fresh orders (started within this many minutes) are asked about after RECONCILE_FRESH_SECONDS
# instead of RECONCILE_AFTER_MINUTES: a patient charged while the webhooks were lost is booked
# within a minute or two, while the slot is still theirs.
FRESH_ORDER_MINUTES = 15


# An appointment in one of these states needs nothing more from its payment (the day's queue,
# checked in or with the doctor, is a booking that was confirmed).
SETTLED_APPOINTMENTS = (AppointmentStatus.CONFIRMED, AppointmentStatus.ARRIVED,
                        AppointmentStatus.IN_CONSULTATION, AppointmentStatus.COMPLETED,
                        AppointmentStatus.NO_SHOW)
# A payment captured for an appointment in one of these states still has to book it (or be
# refunded when the slot is gone); reconciliation settles those the first attempt missed.
AWAITING_PAYMENT = (AppointmentStatus.RESERVED, AppointmentStatus.EXPIRED)


class InvalidSignature(DomainError):
    status = 400
    title = "Invalid signature"


class NothingToPay(Conflict):
    title = "Nothing to pay"


# --- reading ---------------------------------------------------------------------------------


def get_payment(payment_id: uuid.UUID) -> PaymentTransaction:
    payment = db.session.get(PaymentTransaction, payment_id)
    if payment is None:
        raise NotFound("No such payment.")
    return payment


def get_visible_payment(user: User, payment_id: uuid.UUID) -> PaymentTransaction:
    """The payment if it is the user's own, or any for an admin or the desk (which takes
    payments and hands out receipts); otherwise NotFound."""
    payment = db.session.get(PaymentTransaction, payment_id)
    if payment is None or (user.role not in (Role.ADMIN, Role.STAFF)
                           and payment.patient_id != user.id):
        raise NotFound("No such payment.")
    access.note(user, payment.patient_id, AccessKind.PAYMENT, payment.id)
    return payment


def payment_for_appointment(appointment_id: uuid.UUID) -> PaymentTransaction | None:
    return db.session.scalar(select(PaymentTransaction).where(
        PaymentTransaction.appointment_id == appointment_id))


def receipt_for(appointment: Appointment) -> str:
    """Names the appointment, unique per appointment, within Razorpay's 40 characters."""
    return f"appt_{appointment.id.hex}"


def tax_included(amount_paise: int) -> int:
    """The GST contained in a tax-inclusive amount, for the receipt's tax line."""
    rate = current_app.config["GST_PERCENT"]
    return round(amount_paise * rate / (100 + rate))


# --- starting a payment --------------------------------------------------------------------


def initiate(patient: User, appointment_id: uuid.UUID,
             now: datetime | None = None) -> PaymentTransaction:
    """Create (or find again) the gateway order for a held appointment.

    The amount is the fee fixed when the slot was held. A retry returns the same order: the
    row is written before the gateway call, and an order made by a call whose answer was lost
    is found again by its receipt.
    """
    now = now or utcnow()
    appointment = appointments.get_visible(patient, appointment_id, own=True)
    existing = payment_for_appointment(appointment.id)
    if existing is not None and existing.gateway_order_id:
        if PAYMENT_RANK[existing.status] >= PAYMENT_RANK[P.CAPTURED]:
            raise NothingToPay("This appointment is already paid.")
        _check_payable(appointment, now)
        return existing
    _check_payable(appointment, now)
    if existing is None:
        try:
            with write():
                existing = PaymentTransaction(
                    appointment_id=appointment.id, patient_id=appointment.patient_id,
                    doctor_id=appointment.doctor_id, amount_paise=appointment.fee_paise,
                    currency=appointment.currency, receipt=receipt_for(appointment),
                    status=P.PENDING, created_at=now, updated_at=now)
                db.session.add(existing)
        except IntegrityError:  # a concurrent initiate wrote the row first
            existing = payment_for_appointment(appointment.id)
    return _ensure_order(existing, now)


def _check_payable(appointment: Appointment, now: datetime) -> None:
    if appointment.fee_paise <= 0:
        raise NothingToPay("This consultation is free; confirm it without paying.")
    status = appointments.effective_status(appointment, now)
    if status == "EXPIRED":
        raise appointments.HoldExpired("Your hold on this time has lapsed. Choose the time "
                                       "again to book it.")
    if status != "RESERVED":
        raise NothingToPay(f"This appointment is {status.label.lower()}; there is nothing to "
                           "pay.")


def _ensure_order(payment: PaymentTransaction, now: datetime) -> PaymentTransaction:
    if payment.gateway_order_id:
        return payment
    order = gateway.find_order_by_receipt(payment.receipt)
    if order is None:
        order = gateway.create_order(payment.amount_paise, payment.currency, payment.receipt,
                                     {"appointment_id": str(payment.appointment_id)})
    with write():
        payment = lock_payment(payment.id)
        if payment.gateway_order_id is None:
            payment.gateway_order_id = order["id"]
            payment.status = P.CREATED
            payment.updated_at = now
            payment_event("PAYMENT_INITIATED", payment)
    return payment


def confirm_paid(user: User, appointment_id: uuid.UUID, gateway_payment_id: str,
                 now: datetime | None = None) -> Appointment:
    """Confirm a held paid consultation with the id of a payment captured for it (API).

    Only a payment captured for this very appointment confirms it; anything else is
    PaymentRequired, as if no payment had been named.
    """
    appointment = appointments.get_visible(user, appointment_id, own=True)
    if appointment.fee_paise == 0:
        return appointments.confirm_free(user, appointment_id, now)
    payment = payment_for_appointment(appointment.id)
    if payment is None or payment.gateway_payment_id != gateway_payment_id or \
            PAYMENT_RANK[payment.status] < PAYMENT_RANK[P.CAPTURED]:
        raise appointments.PaymentRequired("This consultation is paid: confirm it with the id "
                                           "of a payment captured for it.", "payment_id")
    return appointments.confirm(appointment.id, actor_id=user.id, now=now)


# --- the patient comes back from checkout ---------------------------------------------------


def verify_checkout(payment_txn_id: uuid.UUID, gateway_payment_id: str, signature: str,
                    *, user: User | None = None) -> PaymentTransaction:
    """Check Checkout's signature against the order id WE stored, then settle the payment.

    Captures when the account does not auto-capture, and confirms the appointment.
    """
    payment = get_payment(payment_txn_id) if user is None else get_visible_payment(
        user, payment_txn_id)
    if not payment.gateway_order_id or not gateway_payment_id or not signature or \
            not gateway.payment_signature_valid(payment.gateway_order_id, gateway_payment_id,
                                                signature):
        raise InvalidSignature("The payment confirmation could not be verified. If money "
                               "was taken, it is refunded automatically.", "razorpay_signature")
    entity = gateway.fetch_payment(gateway_payment_id)
    return apply_gateway_payment(payment.id, entity, source="checkout")


# --- the state machine ---------------------------------------------------------------------


def apply_gateway_payment(payment_txn_id: uuid.UUID, entity: dict[str, Any], *,
                          source: str, now: datetime | None = None) -> PaymentTransaction:
    """Apply what the gateway says about one payment attempt of our order. Idempotent.

    From verify, webhooks and reconciliation alike; a state the payment has passed is ignored.
    """
    now = now or utcnow()
    state = entity.get("status")
    with write():
        payment = lock_payment(payment_txn_id)
        if entity.get("order_id") != payment.gateway_order_id:
            log.warning("payment %s does not belong to order %s; ignored", entity.get("id"),
                        payment.gateway_order_id)
            return payment
        if int(entity.get("amount", -1)) != payment.amount_paise:
            log.error("payment %s amount %s differs from %s; ignored", entity.get("id"),
                      entity.get("amount"), payment.amount_paise)
            return payment
        rank = PAYMENT_RANK[payment.status]
        if state in ("captured", "refunded") and rank >= PAYMENT_RANK[P.CAPTURED] and \
                entity.get("id") != payment.gateway_payment_id:
            # Paid at the desk while an online payment of the same order went through.
            log.error("payment %s: gateway payment %s was captured for a payment already "
                      "settled (%s); refund it from the Razorpay dashboard", payment.id,
                      entity.get("id"), payment.channel)
            return payment
        if state == "failed" and rank < PAYMENT_RANK[P.FAILED]:
            payment.status = P.FAILED
            payment.error_code = (entity.get("error_code") or "")[:60] or None
            payment.error_description = (entity.get("error_description") or "")[:500] or None
            payment.updated_at = now
            payment_event("PAYMENT_FAILED", payment, error=payment.error_description)
        elif state == "authorized" and rank < PAYMENT_RANK[P.AUTHORIZED]:
            _take_payment_id(payment, entity, P.AUTHORIZED, now)
        elif state in ("captured", "refunded") and rank < PAYMENT_RANK[P.CAPTURED]:
            _take_payment_id(payment, entity, P.CAPTURED, now)
            payment.captured_at = now
            payment_event("PAYMENT_COMPLETED", payment, gateway_payment_id=entity.get("id"),
                          method=entity.get("method"))
    if state == "authorized" and PAYMENT_RANK[payment.status] < PAYMENT_RANK[P.CAPTURED]:
        return _capture(payment, entity, source=source, now=now)
    if state in ("authorized", "captured", "refunded"):
        return _settle_appointment(payment, now)
    return payment


def _take_payment_id(payment: PaymentTransaction, entity: dict, status: PaymentStatus,
                     now: datetime) -> None:
    payment.gateway_payment_id = entity["id"]
    payment.method = (entity.get("method") or "")[:20] or None
    payment.status = status
    payment.error_code = payment.error_description = None
    payment.updated_at = now


def _capture(payment: PaymentTransaction, entity: dict, *, source: str,
             now: datetime) -> PaymentTransaction:
    try:
        captured = gateway.capture(entity["id"], payment.amount_paise, payment.currency)
    except gateway.GatewayRejected:
        # Most often: captured meanwhile (auto-capture, or the webhook raced us). Ask again.
        captured = gateway.fetch_payment(entity["id"])
        if captured.get("status") not in ("captured", "refunded"):
            raise
    return apply_gateway_payment(payment.id, captured, source=source, now=now)


def _settle_appointment(payment: PaymentTransaction, now: datetime) -> PaymentTransaction:
    """A captured payment books its appointment, or is refunded when the slot was lost."""
    appointment = db.session.get(Appointment, payment.appointment_id)
    if appointment.status in SETTLED_APPOINTMENTS:
        return payment
    try:
        appointments.confirm(appointment.id, reason="payment captured", now=now)
    except (appointments.HoldExpired, appointments.TransitionNotAllowed) as exc:
        log.info("payment %s captured after its slot was lost: refunding", payment.id)
        refund(payment.id, payment.amount_paise, RefundSource.SLOT_LOST,
               f"The slot was no longer available when the payment arrived: {exc.message}",
               idempotency_key=f"slot-lost-{payment.id}", now=now)
    db.session.refresh(payment)
    return payment


# --- webhooks ------------------------------------------------------------------------------


def receive_webhook(raw_body: bytes, signature: str | None, event_id: str | None,
                    now: datetime | None = None) -> tuple[WebhookEvent | None, bool]:
    """Check and store a webhook. Returns (event, is_new); the work happens in a job.

    Raises InvalidSignature for a missing or bad signature (checked over the raw bytes).
    """
    now = now or utcnow()
    if not gateway.webhook_signature_valid(raw_body, signature or ""):
        raise InvalidSignature("The webhook signature is missing or wrong.",
                               "X-Razorpay-Signature")
    try:
        body = json.loads(raw_body)
    except ValueError:
        raise ValidationFailed({"body": "The webhook body is not JSON."}) from None
    event_type = str(body.get("event", ""))[:40]
    # Razorpay sends x-razorpay-event-id; without one, the body itself identifies the event.
    key = (event_id or "").strip()[:64] or "sha256:" + hashlib.sha256(raw_body).hexdigest()[:56]
    if db.session.get(WebhookEvent, key) is not None:
        return None, False
    try:
        with write():
            event = WebhookEvent(id=key, event_type=event_type, payload=body, received_at=now,
                                 status=WebhookStatus.RECEIVED if event_type in HANDLED_WEBHOOKS
                                 else WebhookStatus.IGNORED)
            db.session.add(event)
    except IntegrityError:  # the same event delivered twice at once
        return None, False
    return event, True


def process_webhook(event_id: str, now: datetime | None = None) -> str:
    """Apply one stored webhook event (the job). A processed event is not applied again."""
    now = now or utcnow()
    event = db.session.get(WebhookEvent, event_id)
    if event is None or event.status != WebhookStatus.RECEIVED:
        return event.status if event else "MISSING"
    payload = event.payload.get("payload", {})
    try:
        if event.event_type.startswith(("payment.", "order.")):
            entity = payload.get("payment", {}).get("entity", {})
            order_id = entity.get("order_id") or payload.get("order", {}).get(
                "entity", {}).get("id")
            payment = db.session.scalar(select(PaymentTransaction).where(
                PaymentTransaction.gateway_order_id == order_id)) if order_id else None
            if payment is not None and entity:
                apply_gateway_payment(payment.id, entity, source="webhook", now=now)
        elif event.event_type.startswith("refund."):
            apply_gateway_refund(payload.get("refund", {}).get("entity", {}), now=now)
        elif event.event_type.startswith("payment_link."):
            # portal.payments.links applies payments through this module: a real import cycle.
            from portal.payments import links  # noqa: PLC0415 - the cycle above

            links.process_link_event(payload, now)
        elif event.event_type.startswith("transfer."):
            route.process_transfer_event(payload, now)
        elif event.event_type.startswith("settlement."):
            route.process_settlement_event(payload, now)
        elif event.event_type.startswith("product.route."):
            accounts.process_product_event(payload, now)
    except DomainError as exc:
        _finish_webhook(event_id, WebhookStatus.FAILED, exc.message, now)
        raise
    _finish_webhook(event_id, WebhookStatus.PROCESSED, None, now)
    return WebhookStatus.PROCESSED


def _finish_webhook(event_id: str, status: WebhookStatus, error: str | None,
                    now: datetime) -> None:
    with write():
        event = db.session.get(WebhookEvent, event_id)
        event.status = status
        event.error = error
        event.processed_at = now


# --- refunds -------------------------------------------------------------------------------


def refund(payment_txn_id: uuid.UUID, amount_paise: int, source: RefundSource, reason: str, *,
           idempotency_key: str, actor_id: uuid.UUID | None = None,
           now: datetime | None = None) -> Refund:
    """Refund part or all of a captured payment, once per idempotency key.

    The refund row (and the amount it reserves) is committed before the gateway call; the
    same key is sent to Razorpay, so a retry after a lost answer cannot pay out twice. Money
    taken at the desk is given back at the desk: the refund of an OFFLINE payment is recorded
    PROCESSED at once and the gateway is never called.
    """
    now = now or utcnow()
    existing = db.session.scalar(select(Refund).where(Refund.idempotency_key == idempotency_key))
    if existing is not None:
        return _send_refund(existing, now) if existing.status == RefundStatus.PENDING \
            and existing.gateway_refund_id is None else existing
    try:
        with write():
            payment = lock_payment(payment_txn_id)
            offline = payment.channel == PaymentChannel.OFFLINE
            if PAYMENT_RANK[payment.status] < PAYMENT_RANK[P.CAPTURED] or not (
                    payment.gateway_payment_id or offline):
                raise Conflict("Only a captured payment can be refunded.", "payment_id")
            if not 1 <= amount_paise <= payment.refundable_paise:
                raise ValidationFailed({"amount": f"Refund between 1 and "
                                                  f"{payment.refundable_paise} paise (what is "
                                                  "left of this payment)."})
            row = Refund(payment_id=payment.id, amount_paise=amount_paise, source=source,
                         reason=reason[:500], idempotency_key=idempotency_key,
                         status=RefundStatus.PENDING, created_by_id=actor_id, created_at=now)
            db.session.add(row)
            _reserve_refund(payment, amount_paise, now)
            db.session.flush()
            payment_event("REFUND_INITIATED", payment, refund_id=str(row.id),
                          amount_paise=amount_paise, source=source.value, reason=reason)
            if offline:  # cash (or the counter's UPI or card machine) handed back at the desk
                row.status = RefundStatus.PROCESSED
                row.processed_at = now
                payment_event("REFUND_COMPLETED", payment, refund_id=str(row.id),
                              amount_paise=amount_paise, source=source.value)
    except IntegrityError:  # the same key, concurrently: that refund is this one
        return db.session.scalar(select(Refund).where(Refund.idempotency_key == idempotency_key))
    if row.status != RefundStatus.PENDING:
        return row
    return _send_refund(row, now)


def _send_refund(row: Refund, now: datetime) -> Refund:
    payment = row.payment
    if payment.channel == PaymentChannel.OFFLINE:  # never at the gateway (see refund())
        return row
    try:
        answer = gateway.refund(payment.gateway_payment_id, row.amount_paise,
                                row.idempotency_key, {"refund_id": str(row.id)})
    except gateway.GatewayUnavailable as exc:
        # Recorded and reserved; reconciliation retries with the same idempotency key.
        with write():
            row = db.session.get(Refund, row.id)
            row.error = exc.message[:500]
        return row
    except gateway.GatewayRejected as exc:
        with write():
            _fail_refund(db.session.get(Refund, row.id), exc.message, now)
        raise
    with write():
        row = db.session.get(Refund, row.id)
        row.gateway_refund_id = answer["id"]
        row.error = None
    return apply_gateway_refund(answer, now=now) or row


def apply_gateway_refund(entity: dict[str, Any], now: datetime | None = None) -> Refund | None:
    """Follow a refund's state from the gateway; PROCESSED and FAILED are final."""
    now = now or utcnow()
    if not entity.get("id"):
        return None
    with write():
        row = db.session.scalar(select(Refund).where(Refund.gateway_refund_id == entity["id"])
                                .with_for_update())
        if row is None:
            log.info("refund %s is not one of ours; ignored", entity.get("id"))
            return None
        state = entity.get("status")
        if row.status == RefundStatus.PENDING:
            if state == "processed":
                row.status = RefundStatus.PROCESSED
                row.processed_at = now
                payment_event("REFUND_COMPLETED", row.payment, refund_id=str(row.id),
                              amount_paise=row.amount_paise, source=row.source.value)
            elif state == "failed":
                _fail_refund(row, "The bank or gateway failed the refund.", now)
    return row


def _reserve_refund(payment: PaymentTransaction, amount: int, now: datetime) -> None:
    payment.refunded_paise += amount
    payment.status = (P.REFUNDED if payment.refunded_paise >= payment.amount_paise
                      else P.PARTIALLY_REFUNDED)
    payment.updated_at = now


def _fail_refund(row: Refund, error: str, now: datetime) -> None:
    row.status = RefundStatus.FAILED
    row.error = error[:500]
    payment = db.session.get(PaymentTransaction, row.payment_id)
    payment.refunded_paise -= row.amount_paise  # the money is the patient's again to refund
    payment.status = P.PARTIALLY_REFUNDED if payment.refunded_paise else P.CAPTURED
    payment.updated_at = now


def refund_for_cancelled_event(event: OutboxEvent) -> Refund | None:
    """The CANCELLED event's reaction: the refund the cancellation decided, if any."""
    payload = event.payload
    return refund_for_cancellation(uuid.UUID(payload["appointment_id"]),
                                   int(payload.get("refund_paise") or 0),
                                   payload.get("reason") or "appointment cancelled")


def refund_for_cancellation(appointment_id: uuid.UUID, refund_paise: int,
                            reason: str) -> Refund | None:
    """The CANCELLED event's reaction: refund the policy amount of the captured payment."""
    payment = payment_for_appointment(appointment_id)
    if payment is None or refund_paise <= 0 or \
            PAYMENT_RANK[payment.status] < PAYMENT_RANK[P.CAPTURED]:
        return None
    return refund(payment.id, min(refund_paise, payment.refundable_paise),
                  RefundSource.CANCELLATION, reason or "appointment cancelled",
                  idempotency_key=f"cancel-{appointment_id}")


# --- a hold's end ----------------------------------------------------------------------------


def expire_hold(appointment_id: uuid.UUID, now: datetime | None = None) -> bool:
    """At a hold's end (its job, or the sweeper): a paid hold does not lapse while its money is
    on the way. When a payment was started for it, ask the gateway for the order's payments
    first: a captured or authorised one confirms the booking on the spot. Otherwise (or when
    the gateway does not answer) the hold expires as `appointments.expire_hold` does; a payment
    arriving later books the slot if it is still free, or is refunded.

    Returns True when the hold was expired.
    """
    now = now or utcnow()
    payment = payment_for_appointment(appointment_id)
    if payment is not None and payment.gateway_order_id and \
            payment.status in (P.CREATED, P.FAILED, P.AUTHORIZED):
        appointment = db.session.get(Appointment, appointment_id)
        if appointment is not None and appointment.status == AppointmentStatus.RESERVED and \
                appointment.reserved_until is not None and appointment.reserved_until <= now:
            check_with_gateway(payment.id, now)
    return appointments.expire_hold(appointment_id, now)


def expire_lapsed_holds(now: datetime | None = None, limit: int = 500) -> int:
    """The sweeper: every lapsed hold, through `expire_hold` (its own job may have been lost)."""
    now = now or utcnow()
    return sum(expire_hold(appointment_id, now)
               for appointment_id in appointments.lapsed_hold_ids(now, limit))


# --- reconciliation ------------------------------------------------------------------------


def reconcile(now: datetime | None = None, limit: int = 200) -> dict[str, int]:
    """Settle what a lost webhook or a crash left behind; idempotent, run every minute.

    - orders still created/failed/authorized: ask the gateway for their payments and apply them
      (a patient charged gets a booking or a refund), RECONCILE_FRESH_SECONDS after their last
      check while they are fresh (FRESH_ORDER_MINUTES), RECONCILE_AFTER_MINUTES after it later;
    - payment links still open after that long: fetch them and apply what they say;
    - captured payments whose appointment was neither confirmed nor refunded: settle again
      (not an appointment cancelled after it was paid: its refund followed the policy);
    - refunds recorded but never accepted by the gateway: send again with the same key;
    - webhook events stored but not processed: process them;
    - the doctors' Route transfers and linked accounts (`route.reconcile`).
    """
    now = now or utcnow()
    config = current_app.config
    cutoff = now - timedelta(minutes=config["RECONCILE_AFTER_MINUTES"])
    fresh_cutoff = now - timedelta(seconds=config["RECONCILE_FRESH_SECONDS"])
    done = {"payments": 0, "links": 0, "settled": 0, "refunds": 0, "webhooks": 0}
    stale = list(db.session.scalars(select(PaymentTransaction.id).where(
        PaymentTransaction.status.in_([P.CREATED, P.FAILED, P.AUTHORIZED]),
        PaymentTransaction.gateway_order_id.is_not(None),  # an unpaid link has no order yet
        (PaymentTransaction.updated_at <= cutoff) | (
            (PaymentTransaction.updated_at <= fresh_cutoff)
            & (PaymentTransaction.created_at >= now - timedelta(minutes=FRESH_ORDER_MINUTES))),
        PaymentTransaction.created_at >= now - timedelta(days=7))
        .order_by(PaymentTransaction.updated_at).limit(limit)))
    for payment_id in stale:
        if check_with_gateway(payment_id, now):
            done["payments"] += 1
    # portal.payments.links applies payments through this module: a real import cycle.
    from portal.payments import links  # noqa: PLC0415 - the cycle above

    done["links"] = links.reconcile_links(cutoff, now, limit)
    unsettled = db.session.scalars(select(PaymentTransaction.id).join(Appointment).where(
        PaymentTransaction.status == P.CAPTURED,
        Appointment.status.in_(AWAITING_PAYMENT) | (
            (Appointment.status == AppointmentStatus.CANCELLED)
            & (Appointment.cancelled_at < PaymentTransaction.captured_at)),
        PaymentTransaction.captured_at <= cutoff).limit(limit)).all()
    for payment_id in unsettled:
        _settle_appointment(db.session.get(PaymentTransaction, payment_id), now)
        done["settled"] += 1
    for row in db.session.scalars(select(Refund).where(
            Refund.status == RefundStatus.PENDING, Refund.gateway_refund_id.is_(None),
            Refund.created_at <= cutoff).limit(limit)).all():
        _send_refund(row, now)
        done["refunds"] += 1
    for event_id in db.session.scalars(select(WebhookEvent.id).where(
            WebhookEvent.status == WebhookStatus.RECEIVED,
            WebhookEvent.received_at <= now - timedelta(minutes=1)).limit(limit)).all():
        try:
            process_webhook(event_id, now)
        except DomainError:
            continue
        done["webhooks"] += 1
    done.update(route.reconcile(now, cutoff, limit))
    return done


def check_with_gateway(payment_id: uuid.UUID, now: datetime | None = None) -> bool:
    """Ask the gateway for the payments of this order and apply them; False if it failed.

    Marks the payment checked (updated_at), so reconciliation waits an interval before
    asking again.
    """
    now = now or utcnow()
    payment = db.session.get(PaymentTransaction, payment_id)
    try:
        for entity in gateway.fetch_order_payments(payment.gateway_order_id):
            apply_gateway_payment(payment.id, entity, source="reconciliation", now=now)
    except DomainError:
        log.warning("reconciliation of payment %s failed; next pass", payment_id)
        return False
    with write():
        lock_payment(payment_id).updated_at = now
    return True


# --- shared steps --------------------------------------------------------------------------


def lock_payment(payment_id: uuid.UUID) -> PaymentTransaction:
    """The payment, locked for the caller's unit of work (re-read from the database)."""
    payment = db.session.scalar(select(PaymentTransaction)
                                .where(PaymentTransaction.id == payment_id)
                                .with_for_update(of=PaymentTransaction)
                                .execution_options(populate_existing=True))
    if payment is None:
        raise NotFound("No such payment.")
    return payment


def payment_event(event_type: str, payment: PaymentTransaction, **extra: Any) -> None:
    """Record a payment event in the caller's unit of work (the outbox's payment-events)."""
    record_event(PAYMENT_EVENTS, event_type, payment.id, {
        "payment_id": str(payment.id),
        "appointment_id": str(payment.appointment_id),
        "patient_id": str(payment.patient_id),
        "doctor_id": str(payment.doctor_id),
        "amount_paise": payment.amount_paise,
        "currency": payment.currency,
        "status": payment.status,
        "channel": payment.channel,
        **extra,
    })


def totals_for(payments_query) -> dict[str, int]:
    """Gross, refunded and net of the payments a filtered query selects."""
    sub = payments_query.subquery()
    gross, refunded = db.session.execute(select(
        func.coalesce(func.sum(sub.c.amount_paise), 0),
        func.coalesce(func.sum(sub.c.refunded_paise), 0))).one()
    return {"gross": int(gross), "refunded": int(refunded), "net": int(gross - refunded)}
