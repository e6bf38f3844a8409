"""What the sandbox gateway does: orders, payments, captures and refunds, with Razorpay's rules and
error messages, and the webhook events each change emits.

Every operation runs under the store's lock, saves the store and returns plain records (the
``entities`` module turns them into Razorpay's shapes). Errors are ``ApiError``s carrying the
description Razorpay documents for the case (razorpay.com/docs/api/orders/create,
.../api/payments/capture, .../api/refunds/create-normal, .../api/refunds/normal-refunds-idempotent).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from portal.sandbox.razorpay import entities
from portal.sandbox.razorpay.errors import NOT_APPLICABLE, ApiError, not_found, validation
from portal.sandbox.razorpay.signing import payment_signature
from portal.sandbox.razorpay.store import Store, new_id

MIN_AMOUNT = 100  # paise: "The amount must be at least INR 1.00"
CURRENCIES = ("INR",)
MAX_RECEIPT = 40
MAX_NOTES = 15
MAX_NOTE_LENGTH = 256
MAX_COUNT = 100
DEFAULT_COUNT = 10
METHODS = ("card", "upi", "netbanking", "wallet")
SPEEDS = ("normal", "optimum")
FEE_PERCENT = 2  # Razorpay's standard domestic fee, GST included
GST_PERCENT = 18

ORDER_FIELDS = frozenset(
    {"amount", "currency", "receipt", "notes", "partial_payment", "first_payment_min_amount",
     "payment_capture"}
)  # fmt: skip
CAPTURE_FIELDS = frozenset({"amount", "currency"})
REFUND_FIELDS = frozenset({"amount", "speed", "notes", "receipt"})
LIST_PARAMS = frozenset({"count", "skip", "from", "to", "expand[]"})
IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")
MIN_IDEMPOTENCY_KEY = 10

ALREADY_CAPTURED = "This payment has already been captured"
ORDER_ALREADY_PAID = (
    "Your payment has been declined as the order is already paid. "
    "Please initiate the payment with a new order."
)
FAILED_PAYMENT_ERROR = {
    "error_code": "BAD_REQUEST_ERROR",
    "error_description": "Payment failed",
    "error_source": "bank",
    "error_step": "payment_authorization",
    "error_reason": "payment_failed",
}

Emit = Callable[[str, dict], Any]


def now() -> int:
    return int(time.time())


def _digits(length: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(length))


# -- input checks, each naming the field at fault ----------------------------------------------


def check_fields(body: Mapping, allowed: frozenset[str]) -> None:
    extra = sorted(set(body) - allowed)
    if extra:
        raise validation(f"{', '.join(extra)} is/are not required and should not be sent", extra[0])


def integer(value: Any, field: str, *, required: bool = True, minimum: int | None = None):
    if value is None:
        if required:
            raise validation(f"The {field} field is required.", field)
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise validation(f"The {field} must be an integer.", field)
    if minimum is not None and value < minimum:
        if field == "amount":
            raise validation("The amount must be at least INR 1.00", field)
        raise validation(f"The {field} must be at least {minimum}.", field)
    return value


def boolean(value: Any, field: str) -> bool | None:
    if value is None:
        return None
    if value in (True, 1, "1", "true"):
        return True
    if value in (False, 0, "0", "false"):
        return False
    raise validation(f"The {field} field must be true or false.", field)


def receipt_value(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise validation("The receipt must be a string.", "receipt")
    if len(value) > MAX_RECEIPT:
        raise validation(
            f"The receipt may not be greater than {MAX_RECEIPT} characters.", "receipt"
        )
    return value


def notes_value(value: Any) -> dict:
    if value in (None, [], ""):
        return {}
    if not isinstance(value, dict):
        raise validation("The notes must be an object of key-value pairs.", "notes")
    if len(value) > MAX_NOTES:
        raise validation(
            f"Number of fields in notes should be less than or equal to {MAX_NOTES}", "notes"
        )
    for key, note in value.items():
        if isinstance(note, bool) or not isinstance(note, (str, int, float)) or note is None:
            raise validation(f"The notes.{key} must be a string or a number.", "notes")
        if len(str(note)) > MAX_NOTE_LENGTH:
            raise validation(
                f"The notes.{key} may not be greater than {MAX_NOTE_LENGTH} characters.", "notes"
            )
    return dict(value)


def _list_window(params: Mapping[str, str], allowed: frozenset[str]) -> tuple[int, int, int, int]:
    check_fields(params, allowed)
    count = integer(params.get("count"), "count", required=False)
    count = DEFAULT_COUNT if count is None else count
    if not 1 <= count <= MAX_COUNT:
        raise validation(f"The count must be between 1 and {MAX_COUNT}.", "count")
    skip = integer(params.get("skip"), "skip", required=False) or 0
    start = integer(params.get("from"), "from", required=False) or 0
    end = integer(params.get("to"), "to", required=False)
    return count, skip, start, end if end is not None else 2**63


def select_window(records, params, allowed=LIST_PARAMS) -> list[dict]:
    """Newest first, then ``from``/``to`` (created_at, inclusive), ``skip`` and ``count``."""
    count, skip, start, end = _list_window(params, allowed)
    chosen = [r for r in reversed(list(records)) if start <= r["created_at"] <= end]
    return chosen[skip : skip + count]


def _request_fingerprint(payment_id: str, body: Mapping) -> str:
    return json.dumps({"payment_id": payment_id, "body": body}, sort_keys=True, default=str)


class Ledger:
    """Orders, payments and refunds over a Store. ``emit(event, payload)`` records a webhook."""

    def __init__(self, store: Store, key_secret: str, emit: Emit) -> None:
        self.store = store
        self.key_secret = key_secret
        self.emit = emit

    # -- lookups -----------------------------------------------------------------------------

    def order(self, order_id: str) -> dict:
        order = self.store.orders.get(order_id)
        if order is None:
            raise not_found()
        return order

    def payment(self, payment_id: str) -> dict:
        payment = self.store.payments.get(payment_id)
        if payment is None:
            raise not_found()
        return payment

    def refund_record(self, refund_id: str) -> dict:
        refund = self.store.refunds.get(refund_id)
        if refund is None:
            raise not_found()
        return refund

    # -- orders ------------------------------------------------------------------------------

    def create_order(self, body: Mapping) -> dict:
        check_fields(body, ORDER_FIELDS)
        amount = integer(body.get("amount"), "amount", minimum=MIN_AMOUNT)
        currency = body.get("currency")
        if currency is None:
            raise validation("The currency field is required.", "currency")
        if currency not in CURRENCIES:
            raise validation("The selected currency is invalid.", "currency")
        partial = boolean(body.get("partial_payment"), "partial_payment") or False
        first_min = integer(body.get("first_payment_min_amount"), "first_payment_min_amount",
                            required=False, minimum=MIN_AMOUNT)  # fmt: skip
        if first_min is not None and not partial:
            raise validation("first_payment_min_amount is only allowed with partial_payment",
                             "first_payment_min_amount")  # fmt: skip
        order = {
            "id": new_id("order"),
            "amount": amount,
            "currency": currency,
            "receipt": receipt_value(body.get("receipt")),
            "notes": notes_value(body.get("notes")),
            "partial_payment": partial,
            "payment_capture": boolean(body.get("payment_capture"), "payment_capture"),
            "status": "created",
            "attempts": 0,
            "amount_paid": 0,
            "created_at": now(),
        }
        with self.store.lock:
            self.store.orders[order["id"]] = order
            self.store.save()
        return order

    def list_orders(self, params: Mapping[str, str]) -> list[dict]:
        with self.store.lock:
            orders = list(self.store.orders.values())
        receipt = params.get("receipt")
        if receipt is not None:
            orders = [o for o in orders if o["receipt"] == receipt]
        allowed = LIST_PARAMS | {"receipt", "authorized"}
        return select_window(orders, params, allowed)

    def order_payments(self, order_id: str) -> list[dict]:
        with self.store.lock:
            self.order(order_id)
            payments = [p for p in self.store.payments.values() if p["order_id"] == order_id]
        return list(reversed(payments))

    # -- payments ----------------------------------------------------------------------------

    def pay(
        self,
        order_id: str,
        *,
        success: bool,
        method: str = "card",
        capture: bool | None = None,
        email: str | None = None,
        contact: str | None = None,
        description: str | None = None,
        auto_capture: bool = True,
        notes: Mapping | None = None,
    ) -> dict:
        """A payment attempt on an order, as Checkout makes it; returns the payment record.

        A success is authorized, and captured at once when ``capture`` (default: the order's
        ``payment_capture``, else ``auto_capture``) says so. ``notes`` are the payment's (a
        payment link's payments carry the link's notes).
        """
        if method not in METHODS:
            raise validation(f"The selected method is invalid; use one of {', '.join(METHODS)}.",
                             "method")  # fmt: skip
        with self.store.lock:
            order = self.order(order_id)
            if order["status"] == "paid":
                raise ApiError(ORDER_ALREADY_PAID, metadata={"order_id": order_id})
            payment = self._new_payment(order, method, email, contact, description)
            payment["notes"] = dict(notes or {})
            order["attempts"] += 1
            if order["status"] == "created":
                order["status"] = "attempted"
            self.store.payments[payment["id"]] = payment
            if not success:
                payment.update(status="failed", **FAILED_PAYMENT_ERROR)
                payment["acquirer_data"] = dict.fromkeys(payment["acquirer_data"])
                self._emit("payment.failed", payment)
            else:
                self._emit("payment.authorized", payment)
                if capture is None:
                    capture = order["payment_capture"]
                if capture is None:
                    capture = auto_capture
                if capture:
                    self._capture(payment)
            self.store.save()
            return payment

    def _new_payment(self, order, method, email, contact, description) -> dict:
        card_id = bank = wallet = vpa = None
        if method == "card":
            card_id = new_id("card")
            acquirer = {"auth_code": _digits(6)}
        elif method == "upi":
            vpa = "success@razorpay"
            acquirer = {"rrn": _digits(12)}
        elif method == "netbanking":
            bank = "HDFC"
            acquirer = {"bank_transaction_id": _digits(10)}
        else:
            wallet = "paytm"
            acquirer = {"transaction_id": None}
        return {
            "id": new_id("pay"),
            "order_id": order["id"],
            "amount": order["amount"],
            "currency": order["currency"],
            "status": "authorized",
            "method": method,
            "amount_refunded": 0,
            "captured": False,
            "description": description,
            "card_id": card_id,
            "bank": bank,
            "wallet": wallet,
            "vpa": vpa,
            "email": email or "void@razorpay.com",
            "contact": contact or "+919000090000",
            "notes": {},
            "fee": None,
            "tax": None,
            **dict.fromkeys(FAILED_PAYMENT_ERROR),
            "acquirer_data": acquirer,
            "created_at": now(),
        }

    def signature_fields(self, payment: dict) -> dict:
        """The three fields Checkout hands the merchant for a successful payment."""
        return {
            "razorpay_payment_id": payment["id"],
            "razorpay_order_id": payment["order_id"],
            "razorpay_signature": payment_signature(
                payment["order_id"], payment["id"], self.key_secret
            ),
        }

    def capture(self, payment_id: str, body: Mapping) -> dict:
        check_fields(body, CAPTURE_FIELDS)
        amount = integer(body.get("amount"), "amount")
        with self.store.lock:
            payment = self.payment(payment_id)
            if payment["captured"]:
                raise ApiError(ALREADY_CAPTURED, metadata={"payment_id": payment_id})
            if payment["status"] != "authorized":
                raise ApiError(
                    "Only payments which have been authorized and not yet captured can be "
                    "captured", metadata={"payment_id": payment_id},
                )  # fmt: skip
            if amount != payment["amount"]:
                raise validation("Capture amount must be equal to the amount authorized",
                                 "amount")  # fmt: skip
            currency = body.get("currency")
            if currency is not None and currency != payment["currency"]:
                raise validation("The currency should be the same as the payment currency",
                                 "currency")  # fmt: skip
            self._capture(payment)
            self.store.save()
            return payment

    def _capture(self, payment: dict) -> None:
        order = self.store.orders[payment["order_id"]]
        fee = payment["amount"] * FEE_PERCENT // 100
        payment.update(
            status="captured",
            captured=True,
            fee=fee,
            tax=round(fee * GST_PERCENT / (100 + GST_PERCENT)),
        )
        self._emit("payment.captured", payment)
        if order["status"] != "paid":
            order["status"] = "paid"
            order["amount_paid"] = min(order["amount"], order["amount_paid"] + payment["amount"])
            self._emit("order.paid", payment, order=order)

    def list_payments(self, params: Mapping[str, str]) -> list[dict]:
        with self.store.lock:
            payments = list(self.store.payments.values())
        return select_window(payments, params)

    # -- refunds -----------------------------------------------------------------------------

    def refund(
        self,
        payment_id: str,
        body: Mapping,
        *,
        idempotency_key: str | None = None,
        auto_process: bool = True,
    ) -> dict:
        """A normal (or optimum-speed) refund; returns the refund record.

        With ``idempotency_key`` (Razorpay's ``X-Refund-Idempotency`` header) the same key and body
        return the refund made the first time; the same key with another body is refused.
        """
        if idempotency_key is not None:
            self._check_idempotency_key(idempotency_key)
        with self.store.lock:
            if idempotency_key is not None:
                seen = self.store.idempotency.get(idempotency_key)
                if seen is not None:
                    if seen["request"] != _request_fingerprint(payment_id, body):
                        raise ApiError(
                            "Different request with the same idempotency key has already been "
                            "processed.", status=409, origin=NOT_APPLICABLE,
                        )  # fmt: skip
                    return self.store.refunds[seen["refund_id"]]
            refund = self._refund(payment_id, body, auto_process)
            if idempotency_key is not None:
                self.store.idempotency[idempotency_key] = {
                    "refund_id": refund["id"],
                    "request": _request_fingerprint(payment_id, body),
                    "created_at": refund["created_at"],
                }
            self.store.save()
            return refund

    @staticmethod
    def _check_idempotency_key(key: str) -> None:
        if len(key) < MIN_IDEMPOTENCY_KEY:
            raise ApiError("The idempotency key must be at least 10 characters long.",
                           origin=NOT_APPLICABLE)  # fmt: skip
        if not IDEMPOTENCY_KEY_RE.match(key):
            raise ApiError(
                "The idempotency key must only contain alphanumeric characters, underscores, "
                "and hyphens", origin=NOT_APPLICABLE,
            )  # fmt: skip

    def _refund(self, payment_id: str, body: Mapping, auto_process: bool) -> dict:
        check_fields(body, REFUND_FIELDS)
        payment = self.payment(payment_id)
        if not payment["captured"]:
            raise ApiError("Only captured payments can be refunded",
                           metadata={"payment_id": payment_id})  # fmt: skip
        remaining = payment["amount"] - payment["amount_refunded"]
        if remaining <= 0:
            raise ApiError("The payment has been fully refunded already.",
                           metadata={"payment_id": payment_id})  # fmt: skip
        amount = integer(body.get("amount"), "amount", required=False, minimum=MIN_AMOUNT)
        if amount is None:
            amount = remaining
        if amount > remaining:
            raise validation("The refund amount provided is greater than amount captured.",
                             "amount")  # fmt: skip
        speed = body.get("speed", "normal")
        if speed not in SPEEDS:
            raise validation("The selected speed is invalid.", "speed")
        refund = {
            "id": new_id("rfnd"),
            "payment_id": payment_id,
            "amount": amount,
            "currency": payment["currency"],
            "notes": notes_value(body.get("notes")),
            "receipt": receipt_value(body.get("receipt")),
            "status": "pending",
            "speed_requested": speed,
            "speed_processed": "instant" if speed == "optimum" else "normal",
            "acquirer_data": {"arn": None},
            "created_at": now(),
        }
        self.store.refunds[refund["id"]] = refund
        payment["amount_refunded"] += amount
        if payment["amount_refunded"] >= payment["amount"]:
            payment["status"] = "refunded"
        if auto_process:
            refund["status"] = "processed"
        self._emit("refund.created", payment, refund=refund)
        if auto_process:
            self._emit("refund.processed", payment, refund=refund)
        return refund

    def payment_refunds(self, payment_id: str) -> list[dict]:
        with self.store.lock:
            self.payment(payment_id)
            refunds = [r for r in self.store.refunds.values() if r["payment_id"] == payment_id]
        return list(reversed(refunds))

    def list_refunds(self, params: Mapping[str, str]) -> list[dict]:
        with self.store.lock:
            refunds = list(self.store.refunds.values())
        return select_window(refunds, params)

    def settle_refunds(self, target_id: str, status: str, refund_id: str | None = None) -> list:
        """Move pending refunds to ``processed`` or ``failed`` (sending the webhook).

        ``target_id`` is a refund id, or a payment id (then its pending refunds, or only
        ``refund_id``). A failed refund gives its amount back to the payment's refundable amount.
        """
        if status not in ("processed", "failed"):
            raise validation("status must be 'processed' or 'failed'", "status")
        with self.store.lock:
            if target_id.startswith("rfnd_"):
                refunds = [self.refund_record(target_id)]
            else:
                self.payment(target_id)
                refunds = [
                    r for r in self.store.refunds.values()
                    if r["payment_id"] == target_id and (refund_id in (None, r["id"]))
                ]  # fmt: skip
                if refund_id is not None and not refunds:
                    raise not_found("refund_id")
                if refund_id is None:
                    refunds = [r for r in refunds if r["status"] == "pending"]
                    if not refunds:
                        raise ApiError("The payment has no pending refund.",
                                       metadata={"payment_id": target_id})  # fmt: skip
            for refund in refunds:
                if refund["status"] != "pending":
                    raise ApiError(f"Refund {refund['id']} is already {refund['status']}.",
                                   metadata={"refund_id": refund["id"]})  # fmt: skip
            for refund in refunds:
                payment = self.store.payments[refund["payment_id"]]
                refund["status"] = status
                if status == "processed":
                    refund["acquirer_data"] = {"arn": _digits(23)}
                else:
                    payment["amount_refunded"] -= refund["amount"]
                    if payment["status"] == "refunded":
                        payment["status"] = "captured"
                self._emit(f"refund.{status}", payment, refund=refund)
            self.store.save()
            return refunds

    # -- events ------------------------------------------------------------------------------

    def _emit(self, event: str, payment: dict, *, order=None, refund=None) -> None:
        payload = entities.event_payload(event, payment=payment, order=order, refund=refund)
        self.emit(event, payload)
