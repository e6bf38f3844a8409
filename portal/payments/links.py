"""Following a Razorpay Payment Link at the gateway: its webhooks and reconciliation. No request.

A link is made by the desk (`portal.payments.desk.send_payment_link`); the patient pays it on
Razorpay's page, which makes an order of Razorpay's own and a payment on it. What we learn:

- `payment_link.paid` carries the link (with its `order_id`), the order and the payment: the
  order id is recorded on our payment as `gateway_order_id` the first time it is seen, then the
  payment is applied exactly as a checkout payment (`service.apply_gateway_payment`), which
  captures our payment and confirms the booking (or refunds it when the slot was lost);
- `payment.captured` and `order.paid` of the link's order are the ordinary pipeline's: applied
  once the order id is known, harmless (forward-only) when it already was;
- `payment_link.expired` / `.cancelled` close the link; the appointment's hold, extended to the
  link's expiry, lapses on its own;
- reconciliation fetches links still open after RECONCILE_AFTER_MINUTES, for a lost webhook.

A link's status only moves forward (LINK_RANK), so a late or repeated event changes nothing.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from portal.clock import utcnow
from portal.exceptions import DomainError, NotFound
from portal.extensions import db
from portal.payments import gateway, service
from portal.payments.models import (
    PAYMENT_RANK,
    LinkStatus,
    PaymentLink,
    PaymentStatus,
    PaymentTransaction,
)
from portal.transactions import write

log = logging.getLogger(__name__)

L = LinkStatus
P = PaymentStatus
LINK_RANK = {L.CREATED: 0, L.PARTIALLY_PAID: 1, L.EXPIRED: 2, L.CANCELLED: 2, L.PAID: 3}
OPEN_LINKS = (L.CREATED, L.PARTIALLY_PAID)


def lock_link(link_id: uuid.UUID) -> PaymentLink:
    """The link row, locked for the caller's unit of work (re-read from the database)."""
    link = db.session.scalar(select(PaymentLink).where(PaymentLink.id == link_id)
                             .with_for_update(of=PaymentLink)
                             .execution_options(populate_existing=True))
    if link is None:
        raise NotFound("No such payment link.")
    return link


def link_for_payment(payment_id: uuid.UUID) -> PaymentLink | None:
    return db.session.scalar(select(PaymentLink).where(PaymentLink.payment_id == payment_id))


def expires_at_of(entity: dict[str, Any]) -> datetime | None:
    """The link's `expire_by` (epoch seconds; 0 = none) as an aware datetime."""
    expire_by = int(entity.get("expire_by") or 0)
    return datetime.fromtimestamp(expire_by, UTC) if expire_by > 0 else None


def find_link(entity: dict[str, Any]) -> PaymentLink | None:
    """Our row of a gateway link: by its id, else by `reference_id` (our payment's receipt),
    for a link whose creation answer never reached us."""
    if not entity.get("id"):
        return None
    link = db.session.scalar(select(PaymentLink).where(
        PaymentLink.gateway_link_id == entity["id"]))
    if link is None and entity.get("reference_id"):
        link = db.session.scalar(select(PaymentLink).join(PaymentTransaction).where(
            PaymentTransaction.receipt == entity["reference_id"],
            PaymentLink.gateway_link_id.is_(None)))
    return link


def process_link_event(payload: dict[str, Any], now: datetime | None = None) -> None:
    """A `payment_link.*` webhook (the job): apply the link and the payment it carries."""
    entity = payload.get("payment_link", {}).get("entity", {})
    link = find_link(entity)
    if link is None:
        log.info("payment link %s is not one of ours; ignored", entity.get("id"))
        return
    apply_gateway_link(link.id, entity, payload.get("payment", {}).get("entity") or None,
                       source="webhook", now=now)


def apply_gateway_link(link_id: uuid.UUID, entity: dict[str, Any],
                       payment_entity: dict[str, Any] | None = None, *, source: str,
                       now: datetime | None = None) -> PaymentLink:
    """Apply what the gateway says about one of our links. Idempotent, forward-only.

    A paid link's payment is applied as a checkout payment is (capture, then the booking);
    without the payment entity (reconciliation) the payments of the link's order are fetched.
    """
    now = now or utcnow()
    with write():
        link = lock_link(link_id)
        payment = service.lock_payment(link.payment_id)
        if link.gateway_link_id not in (None, entity.get("id")):
            log.warning("link %s is not the gateway's %s; ignored", link.id, entity.get("id"))
            return link
        if int(entity.get("amount", -1)) != payment.amount_paise:
            log.error("payment link %s amount %s differs from %s; ignored", entity.get("id"),
                      entity.get("amount"), payment.amount_paise)
            return link
        link.gateway_link_id = entity["id"]
        link.short_url = link.short_url or (entity.get("short_url") or "")[:300] or None
        link.expires_at = expires_at_of(entity) or link.expires_at
        try:
            state = LinkStatus(entity.get("status"))
        except ValueError:
            log.warning("payment link %s has status %r; ignored", entity.get("id"),
                        entity.get("status"))
            return link
        if LINK_RANK[state] > LINK_RANK[link.status]:
            link.status = state
            link.updated_at = now
        order_id = entity.get("order_id") or (payment_entity or {}).get("order_id")
        if order_id and payment.gateway_order_id != order_id:
            if PAYMENT_RANK[payment.status] < PAYMENT_RANK[P.CAPTURED]:
                payment.gateway_order_id = order_id  # the link's order, first seen
                payment.status = max(payment.status, P.CREATED, key=PAYMENT_RANK.__getitem__)
                payment.updated_at = now
            elif state == L.PAID:
                log.error("payment %s was settled (%s) and its payment link %s was paid too; "
                          "refund the link's payment from the Razorpay dashboard", payment.id,
                          payment.channel, entity.get("id"))
                return link
        paid = state == L.PAID and bool(order_id)
    if not paid:
        return link
    if payment_entity:
        service.apply_gateway_payment(payment.id, payment_entity, source=source, now=now)
    else:
        for found in gateway.fetch_order_payments(order_id):
            service.apply_gateway_payment(payment.id, found, source=source, now=now)
    db.session.refresh(link)
    return link


def check_link(link_id: uuid.UUID, now: datetime | None = None) -> bool:
    """Fetch one link from the gateway and apply it; False if the gateway failed. Marks the
    link checked (updated_at), so reconciliation waits an interval before asking again."""
    now = now or utcnow()
    link = db.session.get(PaymentLink, link_id)
    try:
        apply_gateway_link(link.id, gateway.fetch_payment_link(link.gateway_link_id),
                           source="reconciliation", now=now)
    except DomainError:
        log.warning("reconciliation of payment link %s failed; next pass", link_id)
        return False
    with write():
        lock_link(link_id).updated_at = now
    return True


def reconcile_links(cutoff: datetime, now: datetime, limit: int = 200) -> int:
    """Links still open at the gateway's last word and untouched since `cutoff`: ask again."""
    stale = db.session.scalars(select(PaymentLink.id).where(
        PaymentLink.status.in_(OPEN_LINKS), PaymentLink.gateway_link_id.is_not(None),
        PaymentLink.updated_at <= cutoff, PaymentLink.created_at >= now - timedelta(days=7))
        .order_by(PaymentLink.updated_at).limit(limit)).all()
    return sum(check_link(link_id, now) for link_id in stale)
