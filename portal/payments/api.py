"""Payments API: initiate, verify, webhook, refund, history."""

from __future__ import annotations

import logging
import uuid

from flask import Blueprint, current_app, request, url_for
from flask_login import current_user

from portal.api import Money, operation, parse_body, parse_query, respond
from portal.auth.models import Role
from portal.auth.service import check_patient_visible
from portal.jobqueue import get_queue
from portal.payments import reports, service
from portal.payments.models import PaymentTransaction, RefundSource
from portal.payments.schemas import (
    CheckoutOut,
    InitiateIn,
    PageQuery,
    PaymentList,
    PaymentOut,
    RefundIn,
    RefundOut,
    VerifyIn,
    WebhookAck,
)
from portal.security import admin_required, login_required, roles_required

bp = Blueprint("payments_api", __name__, url_prefix="/payments")
log = logging.getLogger(__name__)


def refund_out(row) -> RefundOut:
    return RefundOut(id=row.id, payment_id=row.payment_id,
                     amount=Money(amount=row.amount_paise, currency=row.payment.currency),
                     status=row.status, source=row.source, reason=row.reason,
                     gateway_refund_id=row.gateway_refund_id, created_at=row.created_at,
                     processed_at=row.processed_at)


def payment_out(payment: PaymentTransaction) -> PaymentOut:
    currency = payment.currency
    return PaymentOut(
        id=payment.id, appointment_id=payment.appointment_id, status=payment.status,
        amount=Money(amount=payment.amount_paise, currency=currency),
        refunded=Money(amount=payment.refunded_paise, currency=currency),
        tax_included=Money(amount=service.tax_included(payment.amount_paise), currency=currency),
        method=payment.method, channel=payment.channel,
        offline_reference=payment.offline_reference, gateway_order_id=payment.gateway_order_id,
        gateway_payment_id=payment.gateway_payment_id,
        error_description=payment.error_description, created_at=payment.created_at,
        captured_at=payment.captured_at, refunds=[refund_out(r) for r in payment.refunds])


def checkout_out(payment: PaymentTransaction) -> CheckoutOut:
    config = current_app.config
    checkout = config["RAZORPAY_CHECKOUT_URL"]
    return CheckoutOut(
        payment_id=payment.id, order_id=payment.gateway_order_id,
        amount=Money(amount=payment.amount_paise, currency=payment.currency),
        key_id=config["RAZORPAY_KEY_ID"],
        checkout_url=f"{checkout.rstrip('/')}/{payment.gateway_order_id}" if checkout else None,
        callback_url=url_for("payments.callback", payment_id=payment.id, _external=True))


@bp.post("/initiate")
@roles_required(Role.PATIENT)
@operation("Create the Razorpay order for a held appointment", tags=("payments",),
           body=InitiateIn, response=CheckoutOut, status=201, errors=(404, 409, 503),
           description="The amount is the doctor's fee, computed on the server. Calling it "
                       "again returns the same order.")
def initiate():
    data = parse_body(InitiateIn)
    payment = service.initiate(current_user, data.appointment_id)
    return respond(checkout_out(payment), 201)


@bp.post("/verify")
@login_required
@operation("Verify Checkout's signature and settle the payment", tags=("payments",),
           body=VerifyIn, response=PaymentOut, errors=(400, 404, 409, 503))
def verify():
    data = parse_body(VerifyIn)
    payment = service.verify_checkout(data.payment_id, data.razorpay_payment_id,
                                      data.razorpay_signature, user=current_user)
    return respond(payment_out(payment))


@bp.post("/webhook")
@operation("Razorpay webhooks", tags=("payments",), response=WebhookAck, auth=False,
           errors=(400,), description="Signed with X-Razorpay-Signature over the raw body; "
                                      "de-duplicated by x-razorpay-event-id.")
def webhook():
    event, is_new = service.receive_webhook(
        request.get_data(cache=False), request.headers.get("X-Razorpay-Signature"),
        request.headers.get("x-razorpay-event-id"))
    if not is_new:
        return respond(WebhookAck(status="duplicate"))
    if event.status != "RECEIVED":
        return respond(WebhookAck(status="ignored"))
    try:

        get_queue("payment-events").enqueue("jobs.payments.process_webhook", event.id,
                                            job_id=f"webhook-{event.id}")
    except Exception:  # noqa: BLE001 - Redis down: stored, and reconciliation processes it
        log.warning("could not enqueue webhook %s; reconciliation will process it", event.id)
    return respond(WebhookAck(status="accepted"))


@bp.post("/<uuid:payment_id>/refund")
@admin_required
@operation("Refund a payment (fully or partly)", tags=("payments",), body=RefundIn,
           response=RefundOut, status=201, errors=(404, 409, 503))
def refund(payment_id: uuid.UUID):
    data = parse_body(RefundIn)
    payment = service.get_payment(payment_id)
    key = request.headers.get("Idempotency-Key", "").strip()[:60] or f"admin-{uuid.uuid4()}"
    row = service.refund(payment.id, data.amount or payment.refundable_paise, RefundSource.ADMIN,
                         data.reason, idempotency_key=f"admin-{payment.id}-{key}"[:80],
                         actor_id=current_user.id)
    return respond(refund_out(row), 201)


@bp.get("/<uuid:payment_id>")
@login_required
@operation("One payment (yours, or any for admins)", tags=("payments",), response=PaymentOut,
           errors=(404,))
def get_payment(payment_id: uuid.UUID):
    return respond(payment_out(service.get_visible_payment(current_user, payment_id)))


@bp.get("/user/<uuid:user_id>")
@login_required
@operation("A patient's payment history (own, or any for admins)", tags=("payments",),
           query=PageQuery, response=PaymentList, errors=(404,))
def user_payments(user_id: uuid.UUID):
    check_patient_visible(current_user, user_id)
    query = parse_query(PageQuery)
    page = reports.patient_payments(user_id, query.page, query.per_page)
    return respond(PaymentList(items=[payment_out(p) for p in page.items], page=page.page,
                               per_page=page.per_page, total=page.total, pages=page.pages))
