"""JSON shapes of the payments API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from portal.api import ApiModel, Money
from portal.payments.models import OfflineMethod


class InitiateIn(ApiModel):
    appointment_id: uuid.UUID


class CheckoutOut(BaseModel):
    payment_id: uuid.UUID = Field(description="Our payment id (send it back to /verify)")
    order_id: str = Field(description="Razorpay order id")
    amount: Money
    key_id: str = Field(description="Razorpay key id for Checkout")
    checkout_url: str | None = Field(description="Sandbox checkout page; null with real keys "
                                                  "(use checkout.js)")
    callback_url: str


class VerifyIn(ApiModel):
    payment_id: uuid.UUID = Field(description="Our payment id from /initiate")
    razorpay_payment_id: str = Field(max_length=40)
    razorpay_order_id: str = Field(max_length=40, description="Ignored: the stored order id is "
                                                              "used to check the signature")
    razorpay_signature: str = Field(max_length=200)


class RefundIn(ApiModel):
    amount: int | None = Field(default=None, ge=1, description="Paise; default: all that is left")
    reason: str = Field(min_length=1, max_length=500)


class RefundOut(BaseModel):
    id: uuid.UUID
    payment_id: uuid.UUID
    amount: Money
    status: str
    source: str
    reason: str
    gateway_refund_id: str | None
    created_at: datetime
    processed_at: datetime | None


class PaymentOut(BaseModel):
    id: uuid.UUID
    appointment_id: uuid.UUID
    status: str
    amount: Money
    refunded: Money
    tax_included: Money = Field(description="GST contained in the amount")
    method: str | None
    channel: str = Field(description="CHECKOUT (online), LINK (a payment link) or OFFLINE (at "
                                     "the desk)")
    offline_reference: str | None = Field(description="The counter's receipt number (OFFLINE)")
    gateway_order_id: str | None
    gateway_payment_id: str | None
    error_description: str | None
    created_at: datetime
    captured_at: datetime | None
    refunds: list[RefundOut]


class OfflinePaymentIn(ApiModel):
    method: OfflineMethod = Field(description="cash, upi (at the counter) or card (the card "
                                              "machine)")
    reference: str = Field(min_length=1, max_length=60,
                           description="The number of the counter's receipt")


class PaymentLinkOut(BaseModel):
    id: uuid.UUID = Field(description="Our payment link id")
    gateway_link_id: str | None = Field(description="Razorpay's payment link id (plink_...)")
    short_url: str | None = Field(description="The link the patient was sent")
    status: str = Field(description="created, partially_paid, paid, expired or cancelled")
    expires_at: datetime | None
    payment: PaymentOut


class PaymentList(BaseModel):
    items: list[PaymentOut]
    page: int
    per_page: int
    total: int
    pages: int


class PageQuery(BaseModel):
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=20, ge=1, le=100)


class WebhookAck(BaseModel):
    status: str = Field(description="accepted, duplicate or ignored")
