"""Razorpay Route transfers of the doctors' shares: made on hold, followed at the gateway,
released. No request here. `portal.payments.route` says when (the reactions to events and
reconciliation); reversals are in `portal.payments.reversals`.

Money safety, as for payments: a transfer is recorded before the gateway call and matched again
after (our id travels in its notes, so an answer lost in transit is found by listing the
payment's transfers); one transfer per payment; a transfer only moves forward (TRANSFER_RANK), is
released only from held and settles once, so a replayed or out-of-order ``transfer.*`` or
``settlement.processed`` webhook changes nothing the second time.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.clock import utcnow
from portal.exceptions import NotFound
from portal.extensions import db
from portal.payments import accounts, gateway, payouts
from portal.payments.models import (
    TRANSFER_RANK,
    PaymentChannel,
    PaymentStatus,
    PaymentTransaction,
    Transfer,
    TransferStatus,
)
from portal.transactions import write

log = logging.getLogger(__name__)

T = TransferStatus
P = PaymentStatus
TRANSFERABLE = (P.CAPTURED, P.PARTIALLY_REFUNDED)
MIN_TRANSFER = 100  # paise: Razorpay's smallest transfer
# Transfers that still carry money to reverse or release.
LIVE = (T.PENDING, T.PROCESSED, T.PARTIALLY_REVERSED)


def transfer_for_payment(payment_id: uuid.UUID) -> Transfer | None:
    return db.session.scalar(select(Transfer).where(Transfer.payment_id == payment_id))


def lock_transfer(transfer_id: uuid.UUID) -> Transfer:
    row = db.session.scalar(select(Transfer).where(Transfer.id == transfer_id)
                            .with_for_update(of=Transfer)
                            .execution_options(populate_existing=True))
    if row is None:
        raise NotFound("No such transfer.")
    return row


# --- making the transfer -------------------------------------------------------------------------


def create_transfer(payment_id: uuid.UUID, now: datetime | None = None, *,
                    retry: bool = False) -> Transfer | None:
    """Transfer the doctor's share of a captured online payment, on hold; once per payment.

    None when there is nothing to transfer: a desk payment, a payment refunded in full, or a
    doctor without an activated linked account (`accounts.why_not_payable` says so).
    """
    now = now or utcnow()
    existing = transfer_for_payment(payment_id)
    if existing is not None:
        if existing.gateway_transfer_id is None and existing.status == T.PENDING:
            return send_transfer(existing.id, now, retry=True)
        return existing
    payment = db.session.get(PaymentTransaction, payment_id)
    if payment is None or payment.channel == PaymentChannel.OFFLINE or \
            payment.status not in TRANSFERABLE or not payment.gateway_payment_id:
        return None
    account = accounts.active_account_for(payment.doctor_id)
    if account is None:
        log.info("payment %s: doctor %s has no activated linked account; no transfer",
                 payment.id, payment.doctor_id)
        return None
    commission = payouts.commission_of(payment.amount_paise)
    share = payment.amount_paise - commission
    if share < MIN_TRANSFER:
        log.warning("payment %s: the doctor's share %s is below Razorpay's minimum transfer",
                    payment.id, share)
        return None
    try:
        with write():
            row = Transfer(payment_id=payment.id, doctor_id=payment.doctor_id,
                           linked_account_id=account.id, amount_paise=share,
                           commission_paise=commission, status=T.PENDING, on_hold=True,
                           reversed_paise=0, created_at=now, updated_at=now)
            db.session.add(row)
    except IntegrityError:  # a concurrent reaction made it first: that one is this one
        return transfer_for_payment(payment_id)
    return send_transfer(row.id, now, retry=retry)


def _notes(row: Transfer) -> dict[str, str]:
    return {"transfer": str(row.id), "appointment": str(row.payment.appointment_id)}


def send_transfer(transfer_id: uuid.UUID, now: datetime, *, retry: bool) -> Transfer:
    """Make the recorded transfer at Razorpay (after looking for one a lost answer made)."""
    row = db.session.get(Transfer, transfer_id)
    payment = row.payment
    try:
        entity = None
        if retry:
            entity = next((t for t in gateway.payment_transfers(payment.gateway_payment_id)
                           if (t.get("notes") or {}).get("transfer") == str(row.id)), None)
        if entity is None:
            entity = gateway.create_transfer(
                payment.gateway_payment_id, row.linked_account.gateway_account_id,
                row.amount_paise, payment.currency, _notes(row), on_hold=True)
    except gateway.GatewayUnavailable as exc:
        note_error(row.id, exc.message, now)  # reconciliation tries again, after a look
        return db.session.get(Transfer, row.id)
    except gateway.GatewayRejected as exc:
        with write():
            locked = lock_transfer(row.id)
            locked.status = T.FAILED
            locked.error = exc.message[:500]
            locked.updated_at = now
        log.error("transfer %s refused by Razorpay: %s", row.id, exc.message)
        return locked
    return apply_gateway_transfer(entity, now=now) or db.session.get(Transfer, row.id)


def note_error(transfer_id: uuid.UUID, message: str, now: datetime) -> None:
    with write():
        row = lock_transfer(transfer_id)
        row.error = message[:500]
        row.updated_at = now


# --- following the transfer at the gateway -------------------------------------------------------


def find_transfer(entity: dict[str, Any]) -> Transfer | None:
    """Our transfer of a gateway transfer: by its id, else by the id in its notes."""
    if not entity.get("id"):
        return None
    row = db.session.scalar(select(Transfer).where(
        Transfer.gateway_transfer_id == entity["id"]))
    if row is None:
        ours = (entity.get("notes") or {}).get("transfer") \
            if isinstance(entity.get("notes"), dict) else None
        try:
            row = db.session.get(Transfer, uuid.UUID(str(ours))) if ours else None
        except ValueError:
            row = None
        if row is not None and row.gateway_transfer_id not in (None, entity["id"]):
            row = None
    return row


def apply_gateway_transfer(entity: dict[str, Any], now: datetime | None = None) -> Transfer | None:
    """Apply what Razorpay says about one of our transfers (its answer, a webhook or a fetch).

    Forward only: its status by TRANSFER_RANK, the hold only from held to released, the amount
    reversed only up, the settlement only once. A settlement marks the statements behind it.
    """
    now = now or utcnow()
    row = find_transfer(entity)
    if row is None:
        log.info("transfer %s is not one of ours; ignored", entity.get("id"))
        return None
    settled = False
    with write():
        row = lock_transfer(row.id)
        if int(entity.get("amount", -1)) != row.amount_paise:
            log.error("transfer %s amount %s differs from %s; ignored", entity.get("id"),
                      entity.get("amount"), row.amount_paise)
            return row
        row.gateway_transfer_id = row.gateway_transfer_id or entity["id"]
        try:
            state = TransferStatus(entity.get("status"))
        except ValueError:
            state = T.PENDING  # "created": not yet pending at Razorpay
        if TRANSFER_RANK[state] > TRANSFER_RANK[row.status]:
            row.status = state
            row.error = None
        if state == T.FAILED and row.status == T.FAILED:
            row.error = ((entity.get("error") or {}).get("description") or
                         "Razorpay failed the transfer.")[:500]
        row.reversed_paise = max(row.reversed_paise, min(int(entity.get("amount_reversed") or 0),
                                                         row.amount_paise))
        if entity.get("on_hold") is False and row.on_hold:
            row.on_hold = False
            row.released_at = now
            row.release_requested_at = row.release_requested_at or now
        if entity.get("settlement_status") == "settled" and row.settled_at is None:
            row.settlement_id = (entity.get("recipient_settlement_id") or "")[:40] or None
            row.settled_at = now
            settled = row.payout_id is not None
        row.updated_at = now
    if settled:
        payouts.refresh_payouts({row.payout_id}, now)
    return row


# --- releasing the hold --------------------------------------------------------------------------


def release(transfer_id: uuid.UUID, now: datetime | None = None) -> Transfer:
    """Decide to pay the doctor: take the transfer off hold now, or as soon as Razorpay has
    processed it (the decision is recorded first, so it survives a failed call)."""
    now = now or utcnow()
    with write():
        row = lock_transfer(transfer_id)
        if row.release_requested_at is None:
            row.release_requested_at = now
            row.updated_at = now
    if row.on_hold and row.gateway_transfer_id and row.status in LIVE:
        return send_release(row.id, now)
    return row


def send_release(transfer_id: uuid.UUID, now: datetime) -> Transfer:
    row = db.session.get(Transfer, transfer_id)
    try:
        entity = gateway.release_transfer(row.gateway_transfer_id)
    except (gateway.GatewayUnavailable, gateway.GatewayRejected) as exc:
        note_error(row.id, f"Release not done yet: {exc.message}", now)
        return db.session.get(Transfer, row.id)
    return apply_gateway_transfer(entity, now) or row
