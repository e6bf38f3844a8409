"""Payment Links: a shareable page (``short_url``) that collects one payment, with Razorpay's
rules and error messages (razorpay.com/docs/api/payments/payment-links: create-standard,
fetch-id-standard, fetch-all-standard, cancel-standard; the events of
webhooks/payloads/payment-links).

Paying a link makes an order for it (``receipt`` = the link's ``reference_id``, the link's notes)
on the first attempt and a payment on that order, captured at once; the payment's webhooks
(``payment.authorized``, ``payment.captured``, ``order.paid``) go out as for any order, then
``payment_link.paid`` with the link, the order and the payment. Cancelling or expiring a link sends
``payment_link.cancelled`` / ``payment_link.expired``.

Not simulated: partial payments (``accept_partial`` is accepted and shown; paying a link pays all
that is due), reminders, notifications (``notify`` is stored; nothing is sent), UPI links (refused
as in test mode), editing a link and resending its notifications.

The sandbox's clock is the real one, while the portal's tests move the portal's clock. With the
``enforce_link_expiry`` setting on (the default) ``expire_by`` must be 15 minutes to six months
ahead by the sandbox's clock, and a link whose ``expire_by`` has passed expires the next time it
is read. Tests that move their own clock switch it off; links then expire only through
/_sandbox/payment_links/<id>/expire.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from portal.sandbox.razorpay import entities
from portal.sandbox.razorpay.errors import ApiError, not_found, validation
from portal.sandbox.razorpay.ledger import (
    CURRENCIES,
    LIST_PARAMS,
    MIN_AMOUNT,
    Ledger,
    boolean,
    check_fields,
    integer,
    notes_value,
    now,
    select_window,
)
from portal.sandbox.razorpay.signing import payment_link_signature
from portal.sandbox.razorpay.store import BASE62, Store, new_id

LINK_FIELDS = frozenset(
    {"amount", "currency", "accept_partial", "first_min_partial_amount", "expire_by",
     "reference_id", "description", "customer", "notify", "reminder_enable", "notes",
     "callback_url", "callback_method", "upi_link"}
)  # fmt: skip
CUSTOMER_FIELDS = frozenset({"name", "email", "contact"})
NOTIFY_FIELDS = frozenset({"sms", "email", "whatsapp"})
LIST_LINK_PARAMS = LIST_PARAMS | {"payment_id", "reference_id"}
MAX_REFERENCE_ID = 40
MAX_DESCRIPTION = 2048
MIN_EXPIRY_SECONDS = 15 * 60
MAX_EXPIRY_SECONDS = 183 * 24 * 3600  # "cannot exceed more than six months"
SHORT_CODE_LENGTH = 8
OPEN = ("created", "partially_paid")

DUPLICATE_REFERENCE = "payment link creation with reference ID already attempted"
EXPIRY_TOO_SOON = "timestamp must be atleast 15 minutes in future"
EXPIRY_TOO_LATE = "expire_by cannot be more than six months from now"
UPI_IN_TEST_MODE = (
    "UPI Payment Links is not supported in Test Mode. Please experience the product in Live Mode."
)
ALREADY_PAID = "cannot cancel or expire an already paid/partially paid link"
ALREADY_CLOSED = "cannot cancel or expire an expired link"

Emit = Callable[[str, dict], Any]


def _text(value: Any, field: str, limit: int | None = None) -> str:
    if not isinstance(value, str):
        raise validation(f"The {field} must be a string.", field)
    if limit is not None and len(value) > limit:
        raise validation(f"The {field} may not be greater than {limit} characters.", field)
    return value


def _customer(value: Any) -> dict:
    if value in (None, [], ""):
        return {}
    if not isinstance(value, dict):
        raise validation("The customer must be an object.", "customer")
    check_fields(value, CUSTOMER_FIELDS)
    return {key: _text(value[key], f"customer.{key}", 255)
            for key in ("contact", "email", "name") if value.get(key) is not None}  # fmt: skip


def _notify(value: Any) -> dict:
    if value in (None, [], ""):
        return {"email": False, "sms": False}
    if not isinstance(value, dict):
        raise validation("The notify must be an object.", "notify")
    check_fields(value, NOTIFY_FIELDS)
    return {"email": bool(boolean(value.get("email"), "notify.email")),
            "sms": bool(boolean(value.get("sms"), "notify.sms"))}  # fmt: skip


def _web_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class PaymentLinks:
    """Payment links over a Store; orders and payments go through the Ledger."""

    def __init__(self, store: Store, ledger: Ledger, key_secret: str, emit: Emit) -> None:
        self.store = store
        self.ledger = ledger
        self.key_secret = key_secret
        self.emit = emit

    @property
    def enforce_expiry(self) -> bool:
        return bool(self.store.settings.get("enforce_link_expiry", True))

    # -- lookups -----------------------------------------------------------------------------

    def link(self, link_id: str) -> dict:
        """The link (expired first if its time has come); Razorpay's unknown-id error if none."""
        with self.store.lock:
            link = self.store.payment_links.get(link_id)
            if link is None:
                raise not_found()
            self._expire_if_due(link)
            return link

    def by_short_code(self, code: str) -> dict | None:
        with self.store.lock:
            for link in self.store.payment_links.values():
                if link["short_code"] == code:
                    self._expire_if_due(link)
                    return link
        return None

    def list_links(self, params: Mapping[str, str]) -> list[dict]:
        """Newest first; ``reference_id`` and ``payment_id`` filter (fetch-all-standard)."""
        with self.store.lock:
            links = list(self.store.payment_links.values())
            for link in links:
                self._expire_if_due(link)
        reference_id = params.get("reference_id")
        if reference_id is not None:
            links = [x for x in links if x["reference_id"] == reference_id]
        payment_id = params.get("payment_id")
        if payment_id is not None:
            links = [x for x in links
                     if any(p["payment_id"] == payment_id for p in x["payments"])]  # fmt: skip
        return select_window(links, params, LIST_LINK_PARAMS)

    # -- creating ----------------------------------------------------------------------------

    def create(self, body: Mapping, base_url: str) -> dict:
        """A standard payment link; ``base_url`` is where this sandbox serves its short URLs."""
        check_fields(body, LINK_FIELDS)
        if boolean(body.get("upi_link"), "upi_link"):
            raise validation(UPI_IN_TEST_MODE, "upi_link")
        amount = integer(body.get("amount"), "amount", minimum=MIN_AMOUNT)
        currency = body.get("currency") or "INR"
        if currency not in CURRENCIES:
            raise validation("The selected currency is invalid.", "currency")
        accept_partial = bool(boolean(body.get("accept_partial"), "accept_partial"))
        first_min = integer(body.get("first_min_partial_amount"), "first_min_partial_amount",
                            required=False, minimum=MIN_AMOUNT)  # fmt: skip
        if first_min is not None and not accept_partial:
            raise validation("first_min_partial_amount is only allowed with accept_partial",
                             "first_min_partial_amount")  # fmt: skip
        if first_min is not None and first_min > amount:
            raise validation("first_min_partial_amount cannot be greater than the amount",
                             "first_min_partial_amount")  # fmt: skip
        reference_id = body.get("reference_id")
        reference_id = "" if reference_id is None else _text(reference_id, "reference_id",
                                                             MAX_REFERENCE_ID)  # fmt: skip
        description = body.get("description")
        description = "" if description is None else _text(description, "description",
                                                            MAX_DESCRIPTION)  # fmt: skip
        callback_url = body.get("callback_url")
        callback_method = body.get("callback_method")
        if callback_url is not None:
            if not isinstance(callback_url, str) or not _web_url(callback_url):
                raise validation("The callback url format is invalid.", "callback_url")
            if callback_method != "get":
                raise validation("callback_method should be get when callback_url is passed",
                                 "callback_method")  # fmt: skip
        elif callback_method is not None:
            raise validation("callback_method is only allowed with callback_url",
                             "callback_method")  # fmt: skip
        created = now()
        expire_by = integer(body.get("expire_by"), "expire_by", required=False) or 0
        if expire_by and self.enforce_expiry:
            if expire_by < created + MIN_EXPIRY_SECONDS:
                raise validation(EXPIRY_TOO_SOON, "expire_by")
            if expire_by > created + MAX_EXPIRY_SECONDS:
                raise validation(EXPIRY_TOO_LATE, "expire_by")
        link = {
            "id": new_id("plink"),
            "short_code": "".join(secrets.choice(BASE62) for _ in range(SHORT_CODE_LENGTH)),
            "amount": amount,
            "amount_paid": 0,
            "accept_partial": accept_partial,
            "first_min_partial_amount": first_min or 0,
            "callback_url": callback_url,
            "callback_method": callback_method,
            "cancelled_at": 0,
            "created_at": created,
            "currency": currency,
            "customer": _customer(body.get("customer")),
            "description": description,
            "expire_by": expire_by,
            "expired_at": 0,
            "notes": notes_value(body.get("notes")),
            "notify": _notify(body.get("notify")),
            "order_id": None,
            "payments": [],
            "reference_id": reference_id,
            "reminder_enable": bool(boolean(body.get("reminder_enable"), "reminder_enable")),
            "status": "created",
            "updated_at": created,
        }
        with self.store.lock:
            if reference_id and any(x["reference_id"] == reference_id
                                    for x in self.store.payment_links.values()):  # fmt: skip
                raise validation(DUPLICATE_REFERENCE, "reference_id")
            link["short_url"] = f"{base_url.rstrip('/')}/i/{link['short_code']}"
            self.store.payment_links[link["id"]] = link
            self.store.save()
        return link

    # -- paying ------------------------------------------------------------------------------

    def pay(self, link_id: str, *, success: bool = True, method: str = "card",
            email: str | None = None, contact: str | None = None) -> dict:  # fmt: skip
        """One payment attempt on the link (the hosted page's Pay); returns the payment record.

        A success pays everything due, captured at once, and the link is then ``paid``.
        """
        with self.store.lock:
            link = self.link(link_id)
            if link["status"] not in OPEN:
                raise ApiError(f"This payment link is {link['status']}; no payment can be made.",
                               metadata={"payment_link_id": link_id})  # fmt: skip
            order = self._order_for(link)
            customer = link["customer"]
            payment = self.ledger.pay(
                order["id"], success=success, method=method, capture=True,
                email=email or customer.get("email"), contact=contact or customer.get("contact"),
                description=f"#{link_id.removeprefix('plink_')}", notes=link["notes"],
            )  # fmt: skip
            if success:
                stamp = now()
                link["amount_paid"] += payment["amount"]
                link["status"] = "paid"
                link["updated_at"] = stamp
                link["payments"].append({
                    "amount": payment["amount"], "created_at": payment["created_at"],
                    "method": payment["method"], "payment_id": payment["id"],
                    "plink_id": link_id, "status": "captured", "updated_at": stamp,
                })  # fmt: skip
                self._emit("payment_link.paid", link, order=order, payment=payment)
            self.store.save()
            return payment

    def _order_for(self, link: dict) -> dict:
        if link["order_id"]:
            return self.ledger.order(link["order_id"])
        order = self.ledger.create_order({
            "amount": link["amount"] - link["amount_paid"], "currency": link["currency"],
            "receipt": link["reference_id"] or None, "notes": link["notes"] or None,
            "payment_capture": True,
        })  # fmt: skip
        link["order_id"] = order["id"]
        return order

    def callback_fields(self, link: dict, payment: dict) -> dict:
        """What the hosted page hands ``callback_url`` after a successful payment."""
        return {
            "razorpay_payment_id": payment["id"],
            "razorpay_payment_link_id": link["id"],
            "razorpay_payment_link_reference_id": link["reference_id"],
            "razorpay_payment_link_status": link["status"],
            "razorpay_signature": payment_link_signature(
                link["id"], link["reference_id"], link["status"], payment["id"], self.key_secret
            ),
        }

    # -- closing -----------------------------------------------------------------------------

    def cancel(self, link_id: str) -> dict:
        return self._close(link_id, "cancelled")

    def expire(self, link_id: str) -> dict:
        """Expire a link now (a control: its ``expire_by`` need not have passed)."""
        return self._close(link_id, "expired")

    def _close(self, link_id: str, status: str) -> dict:
        with self.store.lock:
            link = self.link(link_id)
            if link["status"] in ("paid", "partially_paid"):
                raise ApiError(ALREADY_PAID, metadata={"payment_link_id": link_id})
            if link["status"] != "created":
                raise ApiError(ALREADY_CLOSED, metadata={"payment_link_id": link_id})
            self._set_closed(link, status)
            self.store.save()
            return link

    def _expire_if_due(self, link: dict) -> None:
        """Call with the lock held."""
        if (self.enforce_expiry and link["status"] == "created" and link["expire_by"]
                and now() >= link["expire_by"]):  # fmt: skip
            self._set_closed(link, "expired")
            self.store.save()

    def _set_closed(self, link: dict, status: str) -> None:
        stamp = now()
        link["status"] = status
        link["cancelled_at" if status == "cancelled" else "expired_at"] = stamp
        link["updated_at"] = stamp
        self._emit(f"payment_link.{status}", link)

    def _emit(self, event: str, link: dict, *, order=None, payment=None) -> None:
        self.emit(event, entities.payment_link_payload(event, link, order=order, payment=payment))
