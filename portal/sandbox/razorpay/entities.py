"""Razorpay's entities (order, payment, refund, payment link) and webhook payloads, shaped like the
documented samples in razorpay-samples/: the same keys in the same order, per API response and per
event.

Quirks of the real API that are kept on purpose, so our code meets them here first:
- empty ``notes`` are an empty JSON *array* ``[]`` (as in most documented payment and order
  entities); non-empty notes are an object;
- payment entities differ by event, as documented: ``payment.authorized`` and ``payment.failed``
  carry the API's keys, ``payment.captured`` and the refund events add ``base_amount`` and
  ``amount_transferred``, and ``order.paid`` leaves out ``error_source``, ``error_step``,
  ``error_reason`` and ``acquirer_data``;
- a payment link's keys are in alphabetical order (api/payments/payment-links/entity), an empty
  ``customer`` is ``[]`` like empty notes, ``callback_url``/``callback_method`` appear only when
  set and ``order_id`` once the link has an order (the Fetch All sample and the
  ``payment_link.paid`` webhook); ``payment_link.paid`` contains ``payment_link``, ``order`` and
  ``payment``, the expired and cancelled events the link alone.
"""

from __future__ import annotations

# api-payments-fetch.json (GET /v1/payments/:id), and the payment.authorized/failed webhooks.
API_PAYMENT_KEYS = (
    "id", "entity", "amount", "currency", "status", "order_id", "invoice_id", "international",
    "method", "amount_refunded", "refund_status", "captured", "description", "card_id", "bank",
    "wallet", "vpa", "email", "contact", "notes", "fee", "tax", "error_code",
    "error_description", "error_source", "error_step", "error_reason", "acquirer_data",
    "created_at",
)  # fmt: skip
# webhook-payment.captured.json and the refund.* webhooks.
WEBHOOK_PAYMENT_KEYS = (
    "id", "entity", "amount", "currency", "base_amount", "status", "order_id", "invoice_id",
    "international", "method", "amount_refunded", "amount_transferred", "refund_status",
    "captured", "description", "card_id", "bank", "wallet", "vpa", "email", "contact", "notes",
    "fee", "tax", "error_code", "error_description", "error_source", "error_step",
    "error_reason", "acquirer_data", "created_at",
)  # fmt: skip
# webhook-order.paid.json's payment.
ORDER_PAID_PAYMENT_KEYS = tuple(
    key for key in API_PAYMENT_KEYS
    if key not in ("error_source", "error_step", "error_reason", "acquirer_data")
)  # fmt: skip

PAYMENT_KEYS_BY_EVENT = {
    "payment.authorized": API_PAYMENT_KEYS,
    "payment.failed": API_PAYMENT_KEYS,
    "payment.captured": WEBHOOK_PAYMENT_KEYS,
    "order.paid": ORDER_PAID_PAYMENT_KEYS,
    "refund.created": WEBHOOK_PAYMENT_KEYS,
    "refund.processed": WEBHOOK_PAYMENT_KEYS,
    "refund.failed": WEBHOOK_PAYMENT_KEYS,
    "payment_link.paid": WEBHOOK_PAYMENT_KEYS,
}


def notes_value(notes: dict | None):
    """Razorpay serialises empty notes as ``[]`` and others as an object."""
    return dict(notes) if notes else []


def order_entity(order: dict) -> dict:
    """Keys and order of api-orders-fetch.json (without the offer fields we do not model)."""
    return {
        "id": order["id"],
        "entity": "order",
        "amount": order["amount"],
        "amount_paid": order["amount_paid"],
        "amount_due": order["amount"] - order["amount_paid"],
        "currency": order["currency"],
        "receipt": order["receipt"],
        "offer_id": None,
        "status": order["status"],
        "attempts": order["attempts"],
        "notes": notes_value(order["notes"]),
        "created_at": order["created_at"],
    }


def refund_status(payment: dict) -> str | None:
    if payment["amount_refunded"] == 0:
        return None
    return "full" if payment["amount_refunded"] >= payment["amount"] else "partial"


def payment_entity(payment: dict, keys: tuple[str, ...] = API_PAYMENT_KEYS) -> dict:
    """A payment with ``keys`` (the API's by default; see PAYMENT_KEYS_BY_EVENT for webhooks)."""
    full = {
        "id": payment["id"],
        "entity": "payment",
        "amount": payment["amount"],
        "currency": payment["currency"],
        "base_amount": payment["amount"],
        "status": payment["status"],
        "order_id": payment["order_id"],
        "invoice_id": None,
        "international": False,
        "method": payment["method"],
        "amount_refunded": payment["amount_refunded"],
        "amount_transferred": 0,
        "refund_status": refund_status(payment),
        "captured": payment["captured"],
        "description": payment["description"],
        "card_id": payment["card_id"],
        "bank": payment["bank"],
        "wallet": payment["wallet"],
        "vpa": payment["vpa"],
        "email": payment["email"],
        "contact": payment["contact"],
        "notes": notes_value(payment["notes"]),
        "fee": payment["fee"],
        "tax": payment["tax"],
        "error_code": payment["error_code"],
        "error_description": payment["error_description"],
        "error_source": payment["error_source"],
        "error_step": payment["error_step"],
        "error_reason": payment["error_reason"],
        "acquirer_data": dict(payment["acquirer_data"]),
        "created_at": payment["created_at"],
    }
    return {key: full[key] for key in keys}


def refund_entity(refund: dict) -> dict:
    """Keys and order of api-refunds-fetch.json."""
    return {
        "id": refund["id"],
        "entity": "refund",
        "amount": refund["amount"],
        "currency": refund["currency"],
        "payment_id": refund["payment_id"],
        "notes": notes_value(refund["notes"]),
        "receipt": refund["receipt"],
        "acquirer_data": dict(refund["acquirer_data"]),
        "created_at": refund["created_at"],
        "batch_id": None,
        "status": refund["status"],
        "speed_processed": refund["speed_processed"],
        "speed_requested": refund["speed_requested"],
    }


def payment_link_entity(link: dict) -> dict:
    """Keys of api/payments/payment-links/entity (standard links), alphabetical as documented."""
    entity = {
        "accept_partial": link["accept_partial"],
        "amount": link["amount"],
        "amount_paid": link["amount_paid"],
    }
    if link["callback_url"]:
        entity["callback_method"] = link["callback_method"]
        entity["callback_url"] = link["callback_url"]
    entity.update({
        "cancelled_at": link["cancelled_at"],
        "created_at": link["created_at"],
        "currency": link["currency"],
        "customer": dict(link["customer"]) if link["customer"] else [],
        "description": link["description"],
        "expire_by": link["expire_by"],
        "expired_at": link["expired_at"],
        "first_min_partial_amount": link["first_min_partial_amount"],
        "id": link["id"],
        "notes": notes_value(link["notes"]),
        "notify": dict(link["notify"]),
    })  # fmt: skip
    if link["order_id"]:
        entity["order_id"] = link["order_id"]
    entity.update({
        "payments": [dict(p) for p in link["payments"]],
        "reference_id": link["reference_id"],
        "reminder_enable": link["reminder_enable"],
        # The sandbox sends no reminders; Razorpay reports a reminder it could not send so.
        "reminders": {"status": "failed"} if link["reminder_enable"] else [],
        "short_url": link["short_url"],
        "status": link["status"],
        "updated_at": link["updated_at"],
        "upi_link": False,
        "user_id": "",
    })  # fmt: skip
    return entity


def payment_link_payload(event: str, link: dict, *, order: dict | None = None,
                         payment: dict | None = None) -> dict:  # fmt: skip
    """``payload`` of a ``payment_link.*`` webhook: the link, then its order and payment."""
    payload = {"payment_link": {"entity": payment_link_entity(link)}}
    if order is not None:
        payload["order"] = {"entity": order_entity(order)}
    if payment is not None:
        payload["payment"] = {"entity": payment_entity(payment, PAYMENT_KEYS_BY_EVENT[event])}
    return payload


def collection(items: list[dict]) -> dict:
    return {"entity": "collection", "count": len(items), "items": items}


def event_payload(
    event: str, *, payment: dict, order: dict | None = None, refund: dict | None = None
) -> dict:
    """``payload`` of a webhook envelope; its keys, in order, are the envelope's ``contains``."""
    payment_part = {"entity": payment_entity(payment, PAYMENT_KEYS_BY_EVENT[event])}
    if event.startswith("refund."):
        return {"refund": {"entity": refund_entity(refund)}, "payment": payment_part}
    if event == "order.paid":
        return {"payment": payment_part, "order": {"entity": order_entity(order)}}
    return {"payment": payment_part}


# -- Route: linked accounts, their Route product, transfers, reversals, settlements --------------
# Shapes from razorpay.com/docs/api/payments/route (create-linked-account, request-product-config,
# update-product-config, create-transfers-payments, fetch-transfers-payment, reverse-a-transfer)
# and webhooks/route (transfer.processed, transfer.failed, settlement.processed,
# product.route.*). Each page has its own key order; they are kept, as Razorpay sends them.

# POST /v1/payments/:id/transfers answers the transfer as it was created (no fees, tax or
# settlement_status yet); GET .../transfers, GET /v1/transfers/:id and PATCH add them.
TRANSFER_CREATE_KEYS = (
    "id", "entity", "status", "source", "recipient", "amount", "currency", "amount_reversed",
    "notes", "linked_account_notes", "on_hold", "on_hold_until", "recipient_settlement_id",
    "created_at", "processed_at", "error",
)  # fmt: skip
TRANSFER_API_KEYS = (
    "id", "entity", "status", "source", "recipient", "amount", "currency", "amount_reversed",
    "fees", "tax", "notes", "linked_account_notes", "on_hold", "on_hold_until",
    "settlement_status", "recipient_settlement_id", "created_at", "processed_at", "error",
)  # fmt: skip
TRANSFER_WEBHOOK_KEYS = (
    "id", "entity", "status", "settlement_status", "source", "recipient", "amount", "currency",
    "amount_reversed", "notes", "fees", "tax", "on_hold", "on_hold_until",
    "recipient_settlement_id", "created_at", "linked_account_notes", "processed_at", "error",
)  # fmt: skip
TRANSFER_ERROR_KEYS = ("code", "description", "reason", "field", "step", "id", "source",
                       "metadata")  # fmt: skip
TRANSFER_WEBHOOK_ERROR_KEYS = ("code", "description", "field", "source", "step", "reason")


def account_entity(account: dict) -> dict:
    """A linked account, in the key order of create-linked-account's response."""
    return {
        "id": account["id"],
        "type": account["type"],
        "status": account["status"],
        "email": account["email"],
        "profile": account["profile"],
        "notes": notes_value(account["notes"]),
        "created_at": account["created_at"],
        "phone": account["phone"],
        "contact_name": account["contact_name"],
        "reference_id": account["reference_id"],
        "business_type": account["business_type"],
        "legal_business_name": account["legal_business_name"],
        "customer_facing_business_name": account["customer_facing_business_name"],
        "legal_info": account["legal_info"],
    }


def product_entity(product: dict) -> dict:
    """A product configuration (request- and update-product-config's responses)."""
    return {
        "requested_configuration": [],
        "active_configuration": {"settlements": dict(product["settlements"])},
        "requirements": [dict(r) for r in product["requirements"]],
        "tnc": dict(product["tnc"]),
        "id": product["id"],
        "product_name": product["product_name"],
        "activation_status": product["activation_status"],
        "account_id": product["account_id"],
        "requested_at": product["requested_at"],
    }


def product_payload(product: dict, requirements: list[dict] | None = None) -> dict:
    """``payload`` of a ``product.route.*`` webhook: the product's id, account and status."""
    return {"merchant_product": {
        "entity": {"id": product["id"], "merchant_id": product["account_id"],
                   "activation_status": product["activation_status"]},
        "data": {"requirements": requirements} if requirements else [],
    }}  # fmt: skip


def transfer_entity(transfer: dict, keys: tuple[str, ...] = TRANSFER_API_KEYS) -> dict:
    """A transfer with ``keys`` (the API's by default; creation and webhooks have their own)."""
    error = transfer["error"]
    webhook = keys is TRANSFER_WEBHOOK_KEYS
    full = {
        "id": transfer["id"],
        "entity": "transfer",
        "status": transfer["status"],
        "source": transfer["source"],
        "recipient": transfer["recipient"],
        "amount": transfer["amount"],
        "currency": transfer["currency"],
        "amount_reversed": transfer["amount_reversed"],
        "fees": transfer["fees"],
        "tax": transfer["tax"],
        "notes": notes_value(transfer["notes"]),
        "linked_account_notes": list(transfer["linked_account_notes"]),
        "on_hold": transfer["on_hold"],
        "on_hold_until": transfer["on_hold_until"],
        "settlement_status": transfer["settlement_status"],
        "recipient_settlement_id": transfer["recipient_settlement_id"],
        "created_at": transfer["created_at"],
        "processed_at": transfer["processed_at"],
        "error": (
            {key: error.get(key) for key in TRANSFER_WEBHOOK_ERROR_KEYS} if webhook
            else {key: transfer["id"] if key == "id" else error.get(key)
                  for key in TRANSFER_ERROR_KEYS}
        ),
    }  # fmt: skip
    return {key: full[key] for key in keys}


def transfer_payload(transfer: dict) -> dict:
    """``payload`` of a ``transfer.processed`` / ``transfer.failed`` webhook."""
    return {"transfer": {"entity": transfer_entity(transfer, TRANSFER_WEBHOOK_KEYS)}}


def reversal_entity(reversal: dict) -> dict:
    """Keys and order of reverse-a-transfer's response."""
    return {
        "id": reversal["id"],
        "entity": "reversal",
        "transfer_id": reversal["transfer_id"],
        "amount": reversal["amount"],
        "fee": 0,
        "tax": 0,
        "currency": reversal["currency"],
        "notes": notes_value(reversal["notes"]),
        "initiator_id": reversal["initiator_id"],
        "customer_refund_id": None,
        "created_at": reversal["created_at"],
    }


def settlement_entity(settlement: dict) -> dict:
    """The settlement of ``settlement.processed`` (webhooks/route)."""
    return {
        "id": settlement["id"],
        "entity": "settlement",
        "amount": settlement["amount"],
        "status": settlement["status"],
        "fees": settlement["fees"],
        "tax": settlement["tax"],
        "utr": settlement["utr"],
        "created_at": settlement["created_at"],
    }


def settlement_payload(settlement: dict) -> dict:
    return {"settlement": {"entity": settlement_entity(settlement)}}
