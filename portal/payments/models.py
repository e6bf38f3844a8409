"""Payment tables: transactions, refunds, doctor payouts, and received webhook events."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.appointments.models import Appointment
from portal.clock import utcnow
from portal.extensions import db
from portal.types import UTCDateTime, str_enum


class PaymentStatus(enum.StrEnum):
    PENDING = "PENDING"  # recorded, the gateway order not yet created
    CREATED = "CREATED"  # the gateway order exists; the patient has not paid
    FAILED = "FAILED"  # the last attempt failed; the order can still be paid
    AUTHORIZED = "AUTHORIZED"
    CAPTURED = "CAPTURED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"


# A payment only moves forward through these ranks, whatever order events arrive in.
PAYMENT_RANK = {
    PaymentStatus.PENDING: 0, PaymentStatus.CREATED: 1, PaymentStatus.FAILED: 2,
    PaymentStatus.AUTHORIZED: 3, PaymentStatus.CAPTURED: 4,
    PaymentStatus.PARTIALLY_REFUNDED: 5, PaymentStatus.REFUNDED: 6,
}


class RefundStatus(enum.StrEnum):
    PENDING = "PENDING"
    PROCESSED = "PROCESSED"
    FAILED = "FAILED"


class RefundSource(enum.StrEnum):
    CANCELLATION = "CANCELLATION"
    ADMIN = "ADMIN"
    SLOT_LOST = "SLOT_LOST"  # paid after the slot went to someone else


class WebhookStatus(enum.StrEnum):
    RECEIVED = "RECEIVED"  # stored; the job applies it
    IGNORED = "IGNORED"  # an event type we do not act on
    PROCESSED = "PROCESSED"
    FAILED = "FAILED"


class PaymentChannel(enum.StrEnum):
    CHECKOUT = "CHECKOUT"  # the patient paid online through Razorpay Checkout
    LINK = "LINK"  # a Razorpay Payment Link the desk sent by SMS and email
    OFFLINE = "OFFLINE"  # paid at the counter: cash, UPI or card machine


class OfflineMethod(enum.StrEnum):
    CASH = "cash"
    UPI = "upi"
    CARD = "card"

    @property
    def label(self) -> str:
        return {"cash": "Cash", "upi": "UPI at the counter", "card": "Card machine"}[self.value]


class LinkStatus(enum.StrEnum):
    CREATED = "created"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class PayoutStatus(enum.StrEnum):
    CALCULATED = "CALCULATED"
    PAID = "PAID"
    ON_HOLD = "ON_HOLD"


class PaymentTransaction(db.Model):
    __tablename__ = "payment_transactions"
    __table_args__ = (
        CheckConstraint("amount_paise > 0", name="amount"),
        CheckConstraint("refunded_paise >= 0 AND refunded_paise <= amount_paise",
                        name="refunded"),
        Index("ix_payment_transactions_created_at", "created_at"),
        Index("ix_payment_transactions_status_updated", "status", "updated_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    appointment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointments.id"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("doctors.id"), index=True)
    amount_paise: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3), default="INR")
    status: Mapped[PaymentStatus] = mapped_column(str_enum(PaymentStatus, 20),
                                                  default=PaymentStatus.PENDING)
    # Unique per appointment: a retried "create order" finds the order made before.
    receipt: Mapped[str] = mapped_column(String(40), unique=True)
    gateway_order_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    gateway_payment_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    method: Mapped[str | None] = mapped_column(String(20))
    channel: Mapped[PaymentChannel] = mapped_column(
        str_enum(PaymentChannel, 10), default=PaymentChannel.CHECKOUT,
        server_default=PaymentChannel.CHECKOUT.value)
    # Offline payments: the counter's receipt number and who recorded the money.
    offline_reference: Mapped[str | None] = mapped_column(String(60))
    recorded_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    error_code: Mapped[str | None] = mapped_column(String(60))
    error_description: Mapped[str | None] = mapped_column(String(500))
    refunded_paise: Mapped[int] = mapped_column(default=0)
    captured_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    appointment: Mapped[Appointment] = relationship(lazy="joined")
    refunds: Mapped[list[Refund]] = relationship(back_populates="payment",
                                                 order_by="Refund.created_at")

    @property
    def refundable_paise(self) -> int:
        return self.amount_paise - self.refunded_paise


class Refund(db.Model):
    __tablename__ = "refunds"
    __table_args__ = (CheckConstraint("amount_paise > 0", name="amount"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payment_transactions.id"),
                                                  index=True)
    amount_paise: Mapped[int]
    status: Mapped[RefundStatus] = mapped_column(str_enum(RefundStatus, 12),
                                                 default=RefundStatus.PENDING)
    source: Mapped[RefundSource] = mapped_column(str_enum(RefundSource, 16))
    reason: Mapped[str] = mapped_column(String(500), default="")
    # Sent as Razorpay's refund idempotency header: a retried call never refunds twice.
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    gateway_refund_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    payment: Mapped[PaymentTransaction] = relationship(back_populates="refunds")


class DoctorPayout(db.Model):
    __tablename__ = "doctor_payouts"
    __table_args__ = (UniqueConstraint("doctor_id", "week_start", name="uq_doctor_payouts_week"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("doctors.id"), index=True)
    week_start: Mapped[date] = mapped_column(Date)  # Monday, UTC
    gross_paise: Mapped[int]
    commission_paise: Mapped[int]
    refunds_paise: Mapped[int]
    net_paise: Mapped[int]
    status: Mapped[PayoutStatus] = mapped_column(str_enum(PayoutStatus, 12),
                                                 default=PayoutStatus.CALCULATED)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookEvent(db.Model):
    """Every Razorpay webhook we accepted, by Razorpay's event id: a repeat is a no-op."""

    __tablename__ = "webhook_events"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[WebhookStatus] = mapped_column(str_enum(WebhookStatus, 12),
                                                  default=WebhookStatus.RECEIVED)
    error: Mapped[str | None] = mapped_column(String(500))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PaymentLink(db.Model):
    """A Razorpay Payment Link sent for one payment (the desk books, the patient pays later).

    Paying it confirms the booking as Checkout does (webhook `payment_link.paid`, or
    reconciliation fetching the link)."""

    __tablename__ = "payment_links"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payment_transactions.id"),
                                                  unique=True)
    gateway_link_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    short_url: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[LinkStatus] = mapped_column(str_enum(LinkStatus, 16),
                                               default=LinkStatus.CREATED)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    payment: Mapped[PaymentTransaction] = relationship(lazy="joined")
