"""Doctors' shares through Razorpay Route: transfers held until the visit, released, reversed
and settled. No request here. Linked accounts are in `portal.payments.accounts`; statements in
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
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.exc import IntegrityError

from portal.appointments.models import Appointment, AppointmentStatus
from portal.clock import utcnow
from portal.doctors.models import Doctor
from portal.events import OutboxEvent
from portal.exceptions import DomainError, NotFound
from portal.extensions import db
from portal.payments import accounts, gateway, payouts
from portal.payments.models import (
    TRANSFER_RANK,
    PaymentChannel,
    PaymentStatus,
    PaymentTransaction,
    Refund,
    RefundStatus,
    Transfer,
    TransferReversal,
    TransferStatus,
)
from portal.transactions import write

log = logging.getLogger(__name__)

T = TransferStatus
S = AppointmentStatus
P = PaymentStatus
TRANSFERABLE = (P.CAPTURED, P.PARTIALLY_REFUNDED)
MIN_TRANSFER = 100  # paise: Razorpay's smallest transfer
# Transfers that still carry money to reverse or release.
LIVE = (T.PENDING, T.PROCESSED, T.PARTIALLY_REVERSED)
# Outcomes that decide a held transfer.
DECIDED = (S.COMPLETED, S.NO_SHOW, S.CANCELLED)
LOOKBACK = timedelta(days=30)


# --- reading -----------------------------------------------------------------------------------


def transfer_for_payment(payment_id: uuid.UUID) -> Transfer | None:
    return db.session.scalar(select(Transfer).where(Transfer.payment_id == payment_id))


def lock_transfer(transfer_id: uuid.UUID) -> Transfer:
    row = db.session.scalar(select(Transfer).where(Transfer.id == transfer_id)
                            .with_for_update(of=Transfer)
                            .execution_options(populate_existing=True))
    if row is None:
        raise NotFound("No such transfer.")
    return row


def _pay_on_no_show() -> bool:
    return bool(current_app.config["PAYOUT_ON_NO_SHOW"])


def payout_note(payment: PaymentTransaction) -> str | None:
    """What happens to the doctor's share of this payment, in words for the admin."""
    if payment.status not in (P.CAPTURED, P.PARTIALLY_REFUNDED, P.REFUNDED):
        return None
    transfer = transfer_for_payment(payment.id)
    if transfer is not None:
        return payouts.transfer_state(transfer, "UTC")
    if payment.channel == PaymentChannel.OFFLINE:
        return "Paid at the desk: the doctor's share is owed by the clinic, outside Razorpay."
    if payment.status == P.REFUNDED:
        return "Refunded in full before any transfer: nothing to pay."
    return accounts.why_not_payable(payment.appointment.doctor) or \
        "Not transferred yet; the next reconciliation makes the transfer."


def unpaid_doctors(now: datetime | None = None) -> list[tuple[Doctor, int, int, str]]:
    """Doctors with online payments of the last 30 days and no transfer because of their linked
    account: (doctor, payments, doctor's share in paise, why), by name."""
    now = now or utcnow()
    rows = db.session.execute(
        select(PaymentTransaction.doctor_id, func.count(), func.sum(
            PaymentTransaction.amount_paise))
        .where(PaymentTransaction.status.in_(TRANSFERABLE),
               PaymentTransaction.channel != PaymentChannel.OFFLINE,
               PaymentTransaction.captured_at >= now - LOOKBACK,
               ~exists().where(Transfer.payment_id == PaymentTransaction.id))
        .group_by(PaymentTransaction.doctor_id)).all()
    found = []
    for doctor_id, count, gross in rows:
        doctor = db.session.get(Doctor, doctor_id)
        why = accounts.why_not_payable(doctor)
        if why:
            found.append((doctor, int(count), int(gross) - payouts.commission_of(int(gross)),
                          why))
    return sorted(found, key=lambda row: row[0].name)


# --- making the transfer -------------------------------------------------------------------------


def on_payment_completed(event: OutboxEvent) -> Transfer | None:
    """PAYMENT_COMPLETED's reaction: the doctor's share, held on their linked account."""
    return create_transfer(uuid.UUID(event.payload["payment_id"]))


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
            return _send_transfer(existing.id, now, retry=True)
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
    return _send_transfer(row.id, now, retry=retry)


def _notes(row: Transfer) -> dict[str, str]:
    return {"transfer": str(row.id), "appointment": str(row.payment.appointment_id)}


def _send_transfer(transfer_id: uuid.UUID, now: datetime, *, retry: bool) -> Transfer:
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
        _note_error(row.id, exc.message, now)  # reconciliation tries again, after a look
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


def _note_error(transfer_id: uuid.UUID, message: str, now: datetime) -> None:
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
        _send_release(row.id, now)
    for reversal in list(row.reversals):
        if reversal.gateway_reversal_id is None:
            _send_reversal(reversal.id, now, retry=True)


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


# --- the visit's outcome: release, or keep -------------------------------------------------------


def on_appointment_outcome(event: OutboxEvent) -> None:
    """COMPLETED / NO_SHOW / CANCELLED's reaction (see `apply_outcome`)."""
    apply_outcome(uuid.UUID(event.payload["appointment_id"]))


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
                reverse_for_refund(refund.id, now, follow=False)
        if _left(db.session.get(Transfer, row.id)) <= 0:
            return db.session.get(Transfer, row.id)
    if appointment.status == S.COMPLETED or _pay_on_no_show():
        return release(row.id, now)
    reason = ("No-show: the doctor is not paid (PAYOUT_ON_NO_SHOW is off)"
              if appointment.status == S.NO_SHOW else
              "Late cancellation: the fee kept is not paid (PAYOUT_ON_NO_SHOW is off)")
    reverse(row.id, _left(row), key=f"outcome-{row.id}", reason=reason, now=now)
    return db.session.get(Transfer, row.id)


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
        return _send_release(row.id, now)
    return row


def _send_release(transfer_id: uuid.UUID, now: datetime) -> Transfer:
    row = db.session.get(Transfer, transfer_id)
    try:
        entity = gateway.release_transfer(row.gateway_transfer_id)
    except (gateway.GatewayUnavailable, gateway.GatewayRejected) as exc:
        _note_error(row.id, f"Release not done yet: {exc.message}", now)
        return db.session.get(Transfer, row.id)
    return apply_gateway_transfer(entity, now) or row


# --- refunds: the doctor's part goes back ------------------------------------------------------


def on_refund_completed(event: OutboxEvent) -> TransferReversal | None:
    """REFUND_COMPLETED's reaction: reverse the doctor's part of the refund."""
    return reverse_for_refund(uuid.UUID(event.payload["refund_id"]))


def reverse_for_refund(refund_id: uuid.UUID, now: datetime | None = None, *,
                       follow: bool = True) -> TransferReversal | None:
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
        amount = _left(row)
    else:
        amount = payouts.refund_share(refund.amount_paise, payment.amount_paise,
                                      row.amount_paise)
    reversal = reverse(row.id, amount, key=key, refund_id=refund.id,
                       reason=f"Refund: {refund.reason}"[:200], now=now)
    if follow:
        apply_outcome(payment.appointment_id, now)
    return reversal


def _left(row: Transfer) -> int:
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
            amount = min(amount_paise, _left(row))
            if amount <= 0:
                return None
            reversal = TransferReversal(transfer_id=row.id, refund_id=refund_id,
                                        idempotency_key=key, amount_paise=amount,
                                        reason=reason[:200], created_at=now)
            db.session.add(reversal)
    except IntegrityError:  # the same key, concurrently: that reversal is this one
        return db.session.scalar(select(TransferReversal).where(
            TransferReversal.idempotency_key == key))
    return _send_reversal(reversal.id, now, retry=False)


def _send_reversal(reversal_id: uuid.UUID, now: datetime, *, retry: bool) -> TransferReversal:
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
    missing = db.session.scalars(select(PaymentTransaction.id).where(
        PaymentTransaction.status.in_(TRANSFERABLE),
        PaymentTransaction.channel != PaymentChannel.OFFLINE,
        PaymentTransaction.gateway_payment_id.is_not(None),
        PaymentTransaction.captured_at >= now - timedelta(days=7),
        PaymentTransaction.captured_at <= now - timedelta(minutes=1),
        ~exists().where(Transfer.payment_id == PaymentTransaction.id))
        .order_by(PaymentTransaction.captured_at).limit(limit)).all()
    for payment_id in missing:
        if accounts.active_account_for(db.session.get(PaymentTransaction,
                                                      payment_id).doctor_id) is None:
            continue
        if create_transfer(payment_id, now, retry=True) is not None:
            done["transfers"] += 1
    for transfer_id in db.session.scalars(select(Transfer.id).where(
            Transfer.status == T.PENDING, Transfer.gateway_transfer_id.is_(None),
            Transfer.updated_at <= cutoff).limit(limit)).all():
        _send_transfer(transfer_id, now, retry=True)
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
            Refund.processed_at <= now - timedelta(minutes=1), Transfer.status != T.FAILED,
            ~exists().where(TransferReversal.refund_id == Refund.id)).limit(limit)).all()
    for refund_id in unreversed:
        if reverse_for_refund(refund_id, now) is not None:
            done["reversals"] += 1
    for reversal_id in db.session.scalars(select(TransferReversal.id).join(Transfer).where(
            TransferReversal.gateway_reversal_id.is_(None), TransferReversal.created_at <= cutoff,
            Transfer.status.in_([T.PROCESSED, T.PARTIALLY_REVERSED])).limit(limit)).all():
        _send_reversal(reversal_id, now, retry=True)
        done["reversals"] += 1
    return done
