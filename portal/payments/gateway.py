"""Razorpay, through its official client. In development and tests the same client talks to
the local stand-in (portal/sandbox/razorpay) through its `base_url` option."""

from __future__ import annotations

import logging
from typing import Any

import razorpay
import requests
from flask import current_app
from razorpay.errors import BadRequestError, GatewayError, ServerError, SignatureVerificationError

from portal.exceptions import DomainError

log = logging.getLogger(__name__)

TIMEOUT = 10  # seconds; the client has none by default
# Razorpay docs, "Create a Normal Refund (Idempotent Request)".
REFUND_IDEMPOTENCY_HEADER = "X-Refund-Idempotency"


class GatewayUnavailable(DomainError):
    """Razorpay could not be reached or failed; nothing was charged by this call."""

    status = 503
    title = "Payment service unavailable"


class GatewayRejected(DomainError):
    """Razorpay refused the request (a 4xx from the gateway)."""

    status = 409
    title = "Payment gateway refused the request"


def client() -> razorpay.Client:
    config = current_app.config
    options: dict[str, Any] = {}
    if config["RAZORPAY_BASE_URL"]:
        options["base_url"] = config["RAZORPAY_BASE_URL"]
    return razorpay.Client(auth=(config["RAZORPAY_KEY_ID"], config["RAZORPAY_KEY_SECRET"]),
                           **options)


def _call(what: str, fn, *args, **kwargs) -> dict:
    try:
        return fn(*args, timeout=TIMEOUT, **kwargs)
    except BadRequestError as exc:
        raise GatewayRejected(f"The payment gateway refused to {what}: {exc}") from exc
    except (GatewayError, ServerError, requests.RequestException, ValueError) as exc:
        log.warning("razorpay %s failed: %s", what, type(exc).__name__)
        raise GatewayUnavailable("The payment service is not answering right now. Nothing was "
                                 "charged; please try again in a minute.") from exc


def create_order(amount_paise: int, currency: str, receipt: str, notes: dict) -> dict:
    return _call("create the order", client().order.create,
                 {"amount": amount_paise, "currency": currency, "receipt": receipt,
                  "notes": notes})


def find_order_by_receipt(receipt: str) -> dict | None:
    result = _call("list orders", client().order.all, {"receipt": receipt, "count": 1})
    items = result.get("items", [])
    return items[0] if items else None


def fetch_order_payments(order_id: str) -> list[dict]:
    return _call("list the order's payments", client().order.payments, order_id).get("items", [])


def fetch_payment(payment_id: str) -> dict:
    return _call("fetch the payment", client().payment.fetch, payment_id)


def capture(payment_id: str, amount_paise: int, currency: str) -> dict:
    return _call("capture the payment", client().payment.capture, payment_id, amount_paise,
                 {"currency": currency})


def refund(payment_id: str, amount_paise: int, idempotency_key: str, notes: dict) -> dict:
    return _call("refund the payment", client().payment.refund, payment_id,
                 {"amount": amount_paise, "speed": "normal", "notes": notes},
                 headers={REFUND_IDEMPOTENCY_HEADER: idempotency_key})


def fetch_refund(refund_id: str) -> dict:
    return _call("fetch the refund", client().refund.fetch, refund_id)


# --- Payment Links (razorpay.com/docs/api/payments/payment-links) -----------------------------


def create_payment_link(amount_paise: int, currency: str, reference_id: str, *,
                        description: str, customer: dict[str, str], expire_by: int,
                        notes: dict[str, str]) -> dict:
    """A standard link for the whole amount. Razorpay sends no SMS or email of its own
    (``notify`` off): the portal's notifications send the link, in the patient's language."""
    return _call("create the payment link", client().payment_link.create, {
        "amount": amount_paise, "currency": currency, "accept_partial": False,
        "reference_id": reference_id, "description": description[:2048], "customer": customer,
        "notify": {"sms": False, "email": False}, "reminder_enable": False, "notes": notes,
        "expire_by": expire_by})


def find_payment_link_by_reference(reference_id: str) -> dict | None:
    """The link made for this reference before (by a call whose answer was lost), if any."""
    result = _call("list payment links", client().payment_link.all,
                   {"reference_id": reference_id})
    links = result.get("payment_links") or []
    return links[0] if links else None


def fetch_payment_link(link_id: str) -> dict:
    return _call("fetch the payment link", client().payment_link.fetch, link_id)


def cancel_payment_link(link_id: str) -> dict:
    return _call("cancel the payment link", client().payment_link.cancel, link_id)


# --- Route: linked accounts, transfers, reversals (razorpay.com/docs/api/payments/route) --------


def create_linked_account(body: dict[str, Any]) -> dict:
    return _call("create the linked account", client().account.create, body)


def edit_linked_account(account_id: str, body: dict[str, Any]) -> dict:
    return _call("update the linked account", client().account.edit, account_id, body)


def fetch_linked_account(account_id: str) -> dict:
    return _call("fetch the linked account", client().account.fetch, account_id)


def request_route_product(account_id: str) -> dict:
    """The linked account's Route product (the one requested before, when there is one)."""
    return _call("request the Route product", client().product.requestProductConfiguration,
                 account_id, {"product_name": "route", "tnc_accepted": True})


def set_route_settlements(account_id: str, product_id: str, account_number: str, ifsc: str,
                          beneficiary_name: str) -> dict:
    """The bank account the linked account's settlements go to (the full number is sent here
    and kept nowhere)."""
    return _call("set the bank account of the linked account", client().product.edit,
                 account_id, product_id, {
                     "settlements": {"account_number": account_number, "ifsc_code": ifsc,
                                     "beneficiary_name": beneficiary_name},
                     "tnc_accepted": True})


def fetch_route_product(account_id: str, product_id: str) -> dict:
    return _call("fetch the Route product", client().product.fetch, account_id, product_id)


def create_transfer(payment_id: str, account_id: str, amount_paise: int, currency: str,
                    notes: dict[str, str], *, on_hold: bool) -> dict:
    """One transfer from a captured payment to a linked account; Razorpay's answer."""
    answer = _call("transfer the doctor's share", client().payment.transfer, payment_id, {
        "transfers": [{"account": account_id, "amount": amount_paise, "currency": currency,
                       "notes": notes, "linked_account_notes": sorted(notes),
                       "on_hold": on_hold}]})
    return answer["items"][0]


def payment_transfers(payment_id: str) -> list[dict]:
    return _call("list the payment's transfers", client().payment.transfers,
                 payment_id).get("items", [])


def fetch_transfer(transfer_id: str) -> dict:
    return _call("fetch the transfer", client().transfer.fetch, transfer_id)


def release_transfer(transfer_id: str) -> dict:
    """Take the transfer's settlement off hold (it settles on the account's schedule)."""
    return _call("release the transfer", client().transfer.edit, transfer_id,
                 {"on_hold": False})


def reverse_transfer(transfer_id: str, amount_paise: int, notes: dict[str, str]) -> dict:
    return _call("reverse the transfer", client().transfer.reverse, transfer_id,
                 {"amount": amount_paise, "notes": notes})


def transfer_reversals(transfer_id: str) -> list[dict]:
    return _call("list the transfer's reversals", client().transfer.reversals,
                 transfer_id).get("items", [])


def settlement_transfers(settlement_id: str) -> list[dict]:
    """The transfers a linked account's settlement paid out."""
    return _call("list the settlement's transfers", client().transfer.all,
                 {"recipient_settlement_id": settlement_id, "count": 100}).get("items", [])


def payment_signature_valid(order_id: str, payment_id: str, signature: str) -> bool:
    """Checkout's signature over `order_id|payment_id`, with the order id WE stored."""
    if not signature.isascii():  # hex; hmac.compare_digest raises TypeError on non-ASCII
        return False
    try:
        client().utility.verify_payment_signature({
            "razorpay_order_id": order_id, "razorpay_payment_id": payment_id,
            "razorpay_signature": signature})
    except SignatureVerificationError:
        return False
    return True


def webhook_signature_valid(raw_body: bytes, signature: str) -> bool:
    """HMAC-SHA256 of the raw body with the webhook secret (never a re-serialised body)."""
    secret = current_app.config["RAZORPAY_WEBHOOK_SECRET"]
    if not signature or not secret or not signature.isascii():
        return False
    try:
        client().utility.verify_webhook_signature(raw_body.decode("utf-8"), signature, secret)
    except (SignatureVerificationError, UnicodeDecodeError):
        return False
    return True
