"""Desk payments API (staff and admins): money taken at the counter, or a payment link sent.

Under /api/v1/desk, beside the desk's own routes; the rules are in portal/payments/desk.py.
"""

from __future__ import annotations

import uuid

from flask import Blueprint
from flask_login import current_user

from portal.api import operation, parse_body, respond
from portal.payments import desk
from portal.payments.api import payment_out
from portal.payments.models import PaymentLink
from portal.payments.schemas import OfflinePaymentIn, PaymentLinkOut, PaymentOut
from portal.roles import Role
from portal.security import roles_required

bp = Blueprint("desk_payments_api", __name__, url_prefix="/desk")

desk_required = roles_required(Role.STAFF, Role.ADMIN)


def payment_link_out(link: PaymentLink) -> PaymentLinkOut:
    return PaymentLinkOut(id=link.id, gateway_link_id=link.gateway_link_id,
                          short_url=link.short_url, status=link.status,
                          expires_at=link.expires_at, payment=payment_out(link.payment))


@bp.post("/appointments/<uuid:appointment_id>/offline-payment")
@desk_required
@operation("Record the fee paid at the desk (cash, UPI, card machine)", tags=("desk",),
           body=OfflinePaymentIn, response=PaymentOut, status=201, errors=(404, 409, 503),
           description="The amount is the appointment's fee. A held appointment is confirmed "
                       "with it; a payment link sent before is cancelled first.")
def offline_payment(appointment_id: uuid.UUID):
    data = parse_body(OfflinePaymentIn)
    payment = desk.record_offline(current_user, appointment_id, data.method, data.reference)
    return respond(payment_out(payment), 201)


@bp.post("/appointments/<uuid:appointment_id>/payment-link")
@desk_required
@operation("Send the patient a Razorpay payment link by SMS and email", tags=("desk",),
           response=PaymentLinkOut, status=201, errors=(404, 409, 503),
           description="The amount is the appointment's fee; a hold is kept until the link "
                       "expires (PAYMENT_LINK_MINUTES). Calling it again returns the same link.")
def payment_link(appointment_id: uuid.UUID):
    link = desk.send_payment_link(current_user, appointment_id)
    return respond(payment_link_out(link), 201)
