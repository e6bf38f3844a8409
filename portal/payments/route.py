"""Doctors' shares through Razorpay Route: when transfers are made, released, kept or reversed,
and reconciliation. No request here. The gateway work is in `portal.payments.transfers` and
`portal.payments.reversals`, linked accounts in `portal.payments.accounts`, statements in
`portal.payments.payouts`.

How the doctor's share moves (reactions to outbox events, wired in portal/consumers.py):
- PAYMENT_COMPLETED: a captured online payment gets one transfer of the doctor's share (the fee
  less PLATFORM_COMMISSION_PERCENT) to their linked account, ``on_hold`` (`create_transfer`).
  A doctor without an activated linked account is paid nothing: no transfer is made and the
  admin pages say why (`accounts.why_not_payable`); reconciliation makes it once they are.
  Desk (offline) payments have no Razorpay payment to transfer from: their share is listed as
  owed by the clinic on the statement.
- COMPLETED: the transfer is released (``PATCH /v1/transfers/<id>`` ``on_hold: false``).
  NO_SHOW: released when PAYOUT_ON_NO_SHOW is on, else reversed in full (the clinic keeps the
  money). CANCELLED: what the refund did not give back (a late-cancellation fee) follows the
  no-show rule, once the refund is processed (`apply_outcome`).
- REFUND_COMPLETED: the doctor's part of the refund is reversed from the transfer
  (``POST /v1/transfers/<id>/reversals``; `reverse_for_refund`). A failed refund leaves the
  doctor's share alone, which is why reversals wait for a processed refund.

Money safety, as for payments: every transfer and reversal is recorded before the gateway call
and matched again after (our id travels in the notes, so an answer lost in transit is found
by listing the payment's transfers or the transfer's reversals); one transfer per payment and
one reversal per idempotency key; a transfer only moves forward (TRANSFER_RANK) and settles
once, so replayed or out-of-order ``transfer.*`` and ``settlement.processed`` webhooks change
nothing the second time; `reconcile` follows up whatever a lost webhook or a crash left behind.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, exists, or_, select

from portal.appointments.models import Appointment, AppointmentStatus
from portal.clock import utcnow
from portal.events import OutboxEvent
from portal.exceptions import DomainError
from portal.extensions import db
from portal.payments import accounts, gateway, reversals, transfers
from portal.payments.models import (
    LinkedAccount,
    LinkedAccountStatus,
    PaymentChannel,
    PaymentTransaction,
    Refund,
    RefundStatus,
    Transfer,
    TransferReversal,
    TransferStatus,
)
from portal.payments.reversals import left_to_reverse, reverse, reverse_for_refund
from portal.payments.transfers import (
    LIVE,
    TRANSFERABLE,
    apply_gateway_transfer,
    create_transfer,
    lock_transfer,
    transfer_for_payment,
)
from portal.transactions import write

log = logging.getLogger(__name__)

T = TransferStatus
S = AppointmentStatus
# Outcomes that decide a held transfer.
DECIDED = (S.COMPLETED, S.NO_SHOW, S.CANCELLED)
LOOKBACK = timedelta(days=30)


def _pay_on_no_show() -> bool:
    return bool(current_app.config["PAYOUT_ON_NO_SHOW"])


# --- reactions to events -------------------------------------------------------------------------


def on_payment_completed(event: OutboxEvent) -> Transfer | None:
    """PAYMENT_COMPLETED's reaction: the doctor's share, held on their linked account."""
    return create_transfer(uuid.UUID(event.payload["payment_id"]))


def on_appointment_outcome(event: OutboxEvent) -> None:
    """COMPLETED / NO_SHOW / CANCELLED's reaction (see `apply_outcome`)."""
    apply_outcome(uuid.UUID(event.payload["appointment_id"]))


def on_refund_completed(event: OutboxEvent) -> TransferReversal | None:
    """REFUND_COMPLETED's reaction: reverse the doctor's part of the refund; a cancelled
    visit's kept fee is then decided (`apply_outcome`)."""
    reversal = reverse_for_refund(uuid.UUID(event.payload["refund_id"]))
    apply_outcome(uuid.UUID(event.payload["appointment_id"]))
    return reversal


def process_transfer_event(payload: dict[str, Any], now: datetime | None = None) -> None:
    """A ``transfer.processed`` / ``transfer.failed`` webhook (the job)."""
    row = apply_gateway_transfer(payload.get("transfer", {}).get("entity", {}), now)
    if row is not None:
        _follow_up(row.id, now or utcnow())


def process_settlement_event(payload: dict[str, Any], now: datetime | None = None) -> int:
    """A ``settlement.processed`` webhook: the transfers it paid out are settled. The webhook
    names only the settlement; its transfers are asked for (``recipient_settlement_id``)."""
    entity = payload.get("settlement", {}).get("entity", {})
    if not entity.get("id"):
        return 0
    return sum(apply_gateway_transfer(found, now) is not None
               for found in gateway.settlement_transfers(entity["id"]))


def _follow_up(transfer_id: uuid.UUID, now: datetime) -> None:
    """After a transfer is processed: a release or reversal that waited for it goes now."""
    row = db.session.get(Transfer, transfer_id)
    if row.status not in (T.PROCESSED, T.PARTIALLY_REVERSED):
        return
    if row.release_requested_at and row.on_hold:
        transfers.send_release(row.id, now)
    for reversal in list(row.reversals):
        if reversal.gateway_reversal_id is None:
            reversals.send_reversal(reversal.id, now, retry=True)


# --- the visit's outcome: release, or keep -------------------------------------------------------


def apply_outcome(appointment_id: uuid.UUID, now: datetime | None = None) -> Transfer | None:
    """Release or take back a held transfer by the appointment's outcome. Idempotent.

    COMPLETED releases; NO_SHOW releases with PAYOUT_ON_NO_SHOW, else reverses what is left;
    CANCELLED first waits for its refund to be processed and reversed, then treats what is left
    (a late-cancellation fee) as a no-show does. Anything else (still booked) waits.
    """
    now = now or utcnow()
    appointment = db.session.get(Appointment, appointment_id)
    payment = db.session.scalar(select(PaymentTransaction).where(
        PaymentTransaction.appointment_id == appointment_id))
    row = transfer_for_payment(payment.id) if payment is not None else None
    if appointment is None or row is None or row.status not in LIVE or not row.on_hold or \
            row.release_requested_at is not None or appointment.status not in DECIDED:
        return row
    if appointment.status == S.CANCELLED:
        if any(r.status == RefundStatus.PENDING for r in payment.refunds):
            return row  # REFUND_COMPLETED (or reconciliation) comes back here
        for refund in payment.refunds:
            if refund.status == RefundStatus.PROCESSED:
                reverse_for_refund(refund.id, now)
        if left_to_reverse(db.session.get(Transfer, row.id)) <= 0:
            return db.session.get(Transfer, row.id)
    if appointment.status == S.COMPLETED or _pay_on_no_show():
        return transfers.release(row.id, now)
    reason = ("No-show: the doctor is not paid (PAYOUT_ON_NO_SHOW is off)"
              if appointment.status == S.NO_SHOW else
              "Late cancellation: the fee kept is not paid (PAYOUT_ON_NO_SHOW is off)")
    reverse(row.id, left_to_reverse(row), key=f"outcome-{row.id}", reason=reason, now=now)
    return db.session.get(Transfer, row.id)


def check_transfer(transfer_id: uuid.UUID, now: datetime | None = None) -> bool:
    """Fetch one transfer from Razorpay and apply it; False if the gateway failed."""
    now = now or utcnow()
    row = db.session.get(Transfer, transfer_id)
    try:
        apply_gateway_transfer(gateway.fetch_transfer(row.gateway_transfer_id), now)
    except DomainError:
        log.warning("reconciliation of transfer %s failed; next pass", transfer_id)
        return False
    with write():
        lock_transfer(transfer_id).updated_at = now
    _follow_up(transfer_id, now)
    return True


# --- reconciliation ----------------------------------------------------------------------------


def reconcile(now: datetime, cutoff: datetime, limit: int = 200) -> dict[str, int]:
    """Follow up what lost webhooks, failed calls or crashes left behind; idempotent.

    - linked accounts Razorpay has not activated yet: fetch their product;
    - captured online payments without a transfer whose doctor can now be paid: transfer;
    - transfers recorded but not made, or made and still pending, or released and not yet
      settled, untouched since `cutoff`: make them (after a look) or fetch them;
    - held transfers whose visit has an outcome, releases not yet made: decide and release;
    - processed refunds not yet reversed, and reversals recorded but not yet made: reverse.
    """
    done = dict.fromkeys(("accounts", "transfers", "checked", "outcomes", "reversals"), 0)
    for account_id in accounts.accounts_to_refresh(cutoff, limit):
        try:
            accounts.refresh(account_id, now)
        except DomainError:
            accounts.touch(account_id, now)
            continue
        done["accounts"] += 1
    missing = db.session.scalars(select(PaymentTransaction.id).join(
        LinkedAccount, (LinkedAccount.doctor_id == PaymentTransaction.doctor_id)
        & (LinkedAccount.status == LinkedAccountStatus.ACTIVATED)).where(
        PaymentTransaction.status.in_(TRANSFERABLE),
        PaymentTransaction.channel != PaymentChannel.OFFLINE,
        PaymentTransaction.gateway_payment_id.is_not(None),
        PaymentTransaction.captured_at >= now - timedelta(days=7),
        PaymentTransaction.captured_at <= now - timedelta(minutes=1),
        ~exists().where(Transfer.payment_id == PaymentTransaction.id))
        .order_by(PaymentTransaction.captured_at).limit(limit)).all()
    for payment_id in missing:
        if create_transfer(payment_id, now, retry=True) is not None:
            done["transfers"] += 1
    for transfer_id in db.session.scalars(select(Transfer.id).where(
            Transfer.status == T.PENDING, Transfer.gateway_transfer_id.is_(None),
            Transfer.updated_at <= cutoff).limit(limit)).all():
        transfers.send_transfer(transfer_id, now, retry=True)
        done["transfers"] += 1
    to_check = db.session.scalars(select(Transfer.id).where(
        Transfer.gateway_transfer_id.is_not(None), Transfer.updated_at <= cutoff,
        or_(Transfer.status == T.PENDING,
            and_(Transfer.status.in_([T.PROCESSED, T.PARTIALLY_REVERSED]),
                 Transfer.settled_at.is_(None),
                 or_(Transfer.on_hold.is_(False),
                     Transfer.release_requested_at.is_not(None)))))
        .order_by(Transfer.updated_at).limit(limit)).all()
    for transfer_id in to_check:
        done["checked"] += check_transfer(transfer_id, now)
    decided = db.session.scalars(select(Appointment.id)
        .join(PaymentTransaction, PaymentTransaction.appointment_id == Appointment.id)
        .join(Transfer, Transfer.payment_id == PaymentTransaction.id).where(
            Transfer.status.in_(LIVE), Transfer.on_hold.is_(True),
            Transfer.release_requested_at.is_(None), Appointment.status.in_(DECIDED),
            Transfer.created_at >= now - LOOKBACK).limit(limit)).all()
    for appointment_id in decided:
        apply_outcome(appointment_id, now)
        done["outcomes"] += 1
    unreversed = db.session.scalars(select(Refund.id)
        .join(Transfer, Transfer.payment_id == Refund.payment_id).where(
            Refund.status == RefundStatus.PROCESSED, Refund.processed_at >= now - LOOKBACK,
            Refund.processed_at <= now - timedelta(minutes=1),
            Transfer.status.not_in([T.FAILED, T.REVERSED]),
            ~exists().where(TransferReversal.refund_id == Refund.id)).limit(limit)).all()
    for refund_id in unreversed:
        if reverse_for_refund(refund_id, now) is not None:
            done["reversals"] += 1
    for reversal_id in db.session.scalars(select(TransferReversal.id).join(Transfer).where(
            TransferReversal.gateway_reversal_id.is_(None), TransferReversal.created_at <= cutoff,
            Transfer.status.in_([T.PROCESSED, T.PARTIALLY_REVERSED])).limit(limit)).all():
        reversals.send_reversal(reversal_id, now, retry=True)
        done["reversals"] += 1
    return done
