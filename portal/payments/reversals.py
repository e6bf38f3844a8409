"""Taking part of a doctor's transfer back: their part of a refund, or the whole transfer when the
visit's outcome says they are not paid. No request here.

A reversal is recorded before the gateway call (``POST /v1/transfers/<id>/reversals``) with an
idempotency key (``refund-<refund id>``, ``outcome-<transfer id>``), made at once when the
transfer is processed or as soon as it is, and matched again after a lost answer by our id in
its notes. Reversals wait for a *processed* refund: a failed refund leaves the doctor's share
alone.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.clock import utcnow
from portal.extensions import db
from portal.payments import gateway, payouts
from portal.payments.models import (
    TRANSFER_RANK,
    Refund,
    RefundStatus,
    Transfer,
    TransferReversal,
    TransferStatus,
)
from portal.payments.transfers import lock_transfer, transfer_for_payment
from portal.transactions import write

log = logging.getLogger(__name__)

T = TransferStatus


def reverse_for_refund(refund_id: uuid.UUID,
                       now: datetime | None = None) -> TransferReversal | None:
    """Reverse the doctor's part of a processed refund from the payment's transfer, once.

    The part is the refund in the proportion of the doctor's share; the refund that completes a
    full refund takes back whatever is left, so rounding never leaves paise behind.
    """
    now = now or utcnow()
    refund = db.session.get(Refund, refund_id)
    if refund is None or refund.status != RefundStatus.PROCESSED:
        return None
    row = transfer_for_payment(refund.payment_id)
    if row is None or row.status == T.FAILED:
        return None
    key = f"refund-{refund.id}"
    existing = db.session.scalar(select(TransferReversal).where(
        TransferReversal.idempotency_key == key))
    if existing is not None:
        return existing
    payment = refund.payment
    processed = sum(r.amount_paise for r in payment.refunds
                    if r.status == RefundStatus.PROCESSED)
    if processed >= payment.amount_paise:
        amount = left_to_reverse(row)
    else:
        amount = payouts.refund_share(refund.amount_paise, payment.amount_paise,
                                      row.amount_paise)
    return reverse(row.id, amount, key=key, refund_id=refund.id,
                   reason=f"Refund: {refund.reason}"[:200], now=now)


def left_to_reverse(row: Transfer) -> int:
    """What is left of a transfer to reverse (reversals recorded but not yet made count)."""
    recorded = db.session.scalar(select(func.coalesce(func.sum(TransferReversal.amount_paise),
                                                      0)).where(
        TransferReversal.transfer_id == row.id))
    return row.amount_paise - int(recorded or 0)


def reverse(transfer_id: uuid.UUID, amount_paise: int, *, key: str,
            refund_id: uuid.UUID | None = None, reason: str = "",
            now: datetime | None = None) -> TransferReversal | None:
    """Take `amount_paise` (at most what is left) back from a transfer, once per `key`.

    Recorded before the gateway call; made at Razorpay at once when the transfer is
    processed, else when it is (the webhook or reconciliation).
    """
    now = now or utcnow()
    try:
        with write():
            row = lock_transfer(transfer_id)
            existing = db.session.scalar(select(TransferReversal).where(
                TransferReversal.idempotency_key == key))
            if existing is not None:
                return existing
            amount = min(amount_paise, left_to_reverse(row))
            if amount <= 0:
                return None
            reversal = TransferReversal(transfer_id=row.id, refund_id=refund_id,
                                        idempotency_key=key, amount_paise=amount,
                                        reason=reason[:200], created_at=now)
            db.session.add(reversal)
    except IntegrityError:  # the same key, concurrently: that reversal is this one
        return db.session.scalar(select(TransferReversal).where(
            TransferReversal.idempotency_key == key))
    return send_reversal(reversal.id, now, retry=False)


def send_reversal(reversal_id: uuid.UUID, now: datetime, *, retry: bool) -> TransferReversal:
    reversal = db.session.get(TransferReversal, reversal_id)
    row = reversal.transfer
    if reversal.gateway_reversal_id or row.gateway_transfer_id is None or \
            row.status not in (T.PROCESSED, T.PARTIALLY_REVERSED):
        return reversal  # made already, or waits for the transfer to be processed
    try:
        entity = None
        if retry:
            entity = next((r for r in gateway.transfer_reversals(row.gateway_transfer_id)
                           if isinstance(r.get("notes"), dict)
                           and r["notes"].get("reversal") == str(reversal.id)), None)
        if entity is None:
            entity = gateway.reverse_transfer(row.gateway_transfer_id, reversal.amount_paise,
                                              {"reversal": str(reversal.id)})
    except (gateway.GatewayUnavailable, gateway.GatewayRejected) as exc:
        with write():
            locked = db.session.get(TransferReversal, reversal.id)
            locked.error = exc.message[:500]
        log.warning("reversal %s not made yet: %s", reversal.id, exc.message)
        return db.session.get(TransferReversal, reversal.id)
    with write():
        locked = db.session.scalar(select(TransferReversal).where(
            TransferReversal.id == reversal.id).with_for_update()
            .execution_options(populate_existing=True))
        if locked.gateway_reversal_id is None:
            locked.gateway_reversal_id = entity["id"]
            locked.error = None
            transfer = lock_transfer(row.id)
            transfer.reversed_paise = min(transfer.amount_paise,
                                          transfer.reversed_paise + locked.amount_paise)
            state = T.REVERSED if transfer.reversed_paise >= transfer.amount_paise \
                else T.PARTIALLY_REVERSED
            if TRANSFER_RANK[state] > TRANSFER_RANK[transfer.status]:
                transfer.status = state
            transfer.updated_at = now
    return locked
