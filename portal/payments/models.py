"""Payment tables: transactions, refunds, doctor payouts, received webhook events, payment links,
and Razorpay Route's linked accounts, transfers and their reversals (portal/payments/route.py)."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.appointments.models import Appointment
from portal.clock import utcnow
from portal.doctors.models import Doctor
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
    PAID = "PAID"  # every transfer behind it settled in the doctor's bank account
    ON_HOLD = "ON_HOLD"


class LinkedAccountStatus(enum.StrEnum):
    """A doctor's Razorpay Route linked account, as its Route product stands."""

    CREATED = "created"  # made at Razorpay; bank details or Razorpay's checks still to come
    ACTIVATED = "activated"  # transfers can be made to it
    NEEDS_CLARIFICATION = "needs_clarification"  # Razorpay asks for other bank details
    SUSPENDED = "suspended"


class TransferStatus(enum.StrEnum):
    """Razorpay's transfer states (``status`` of the transfer entity)."""

    PENDING = "pending"  # recorded; not yet made or not yet processed at Razorpay
    PROCESSED = "processed"  # in the linked account's balance (settled when released)
    FAILED = "failed"
    PARTIALLY_REVERSED = "partially_reversed"
    REVERSED = "reversed"


# A transfer only moves forward through these ranks, whatever order its webhooks arrive in.
TRANSFER_RANK = {
    TransferStatus.PENDING: 0, TransferStatus.PROCESSED: 1, TransferStatus.FAILED: 1,
    TransferStatus.PARTIALLY_REVERSED: 2, TransferStatus.REVERSED: 3,
}


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


def _in(enum_cls: type[enum.StrEnum]) -> str:
    return "status IN (" + ", ".join(f"'{m.value}'" for m in enum_cls) + ")"


class LinkedAccount(db.Model):
    """A doctor's Razorpay Route linked account: where their share of each payment goes.

    Only the last four digits of the bank account are kept; the full number goes to Razorpay
    and nowhere else."""

    __tablename__ = "linked_accounts"
    __table_args__ = (CheckConstraint(_in(LinkedAccountStatus), name="status"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("doctors.id"), unique=True)
    gateway_account_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    gateway_product_id: Mapped[str | None] = mapped_column(String(40))
    legal_name: Mapped[str] = mapped_column(String(200))
    contact_name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str] = mapped_column(String(20))
    account_last4: Mapped[str] = mapped_column(String(4))
    ifsc: Mapped[str] = mapped_column(String(11))
    beneficiary_name: Mapped[str] = mapped_column(String(120))
    status: Mapped[LinkedAccountStatus] = mapped_column(
        str_enum(LinkedAccountStatus, 20), default=LinkedAccountStatus.CREATED)
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    doctor: Mapped[Doctor] = relationship(lazy="joined")


class Transfer(db.Model):
    """The doctor's share of one captured payment, sent to their linked account on hold and
    released when the visit is completed (one per payment: the payment id is the key)."""

    __tablename__ = "transfers"
    __table_args__ = (
        CheckConstraint("amount_paise > 0", name="amount"),
        CheckConstraint("reversed_paise >= 0 AND reversed_paise <= amount_paise",
                        name="reversed"),
        CheckConstraint(_in(TransferStatus), name="status"),
        Index("ix_transfers_status_updated", "status", "updated_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payment_transactions.id"),
                                                  unique=True)
    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("doctors.id"), index=True)
    linked_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("linked_accounts.id"))
    gateway_transfer_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    amount_paise: Mapped[int]
    commission_paise: Mapped[int]
    status: Mapped[TransferStatus] = mapped_column(str_enum(TransferStatus, 20),
                                                   default=TransferStatus.PENDING)
    on_hold: Mapped[bool] = mapped_column(default=True)
    # When the visit's outcome said "pay the doctor"; the release call follows (and is retried).
    release_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reversed_paise: Mapped[int] = mapped_column(default=0)
    settlement_id: Mapped[str | None] = mapped_column(String(40), index=True)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    payout_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("doctor_payouts.id"),
                                                        index=True)
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    payment: Mapped[PaymentTransaction] = relationship(lazy="joined")
    linked_account: Mapped[LinkedAccount] = relationship()
    reversals: Mapped[list[TransferReversal]] = relationship(
        back_populates="transfer", order_by="TransferReversal.created_at")

    @property
    def net_paise(self) -> int:
        """What the doctor keeps of this transfer."""
        return self.amount_paise - self.reversed_paise


class TransferReversal(db.Model):
    """Money taken back from a transfer: the doctor's share of a refund, or the whole transfer
    when the visit's outcome says the doctor is not paid. Recorded before the gateway call
    (``gateway_reversal_id`` empty until Razorpay made it), once per idempotency key."""

    __tablename__ = "transfer_reversals"
    __table_args__ = (CheckConstraint("amount_paise > 0", name="amount"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    transfer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("transfers.id"), index=True)
    refund_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("refunds.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    gateway_reversal_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    amount_paise: Mapped[int]
    reason: Mapped[str] = mapped_column(String(200), default="")
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    transfer: Mapped[Transfer] = relationship(back_populates="reversals")
    refund: Mapped[Refund | None] = relationship()
