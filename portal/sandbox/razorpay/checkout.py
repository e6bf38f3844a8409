"""The checkout page that stands in for checkout.js (no auth: the patient's browser opens it).

``GET /checkout/<order_id>?callback_url=...&cancel_url=...&name=...&description=...
&prefill_email=...&prefill_contact=...[&key=<key_id>]`` shows the amount and three choices:

- pay: a payment is made (authorized; captured at once with auto-capture), and the browser is
  sent to ``GET /checkout/<order_id>/complete``, a page whose form POSTs
  ``razorpay_payment_id``, ``razorpay_order_id`` and ``razorpay_signature`` to ``callback_url``
  (auto-submitted by static/checkout.js, with a visible button without JavaScript), as
  Razorpay's callback_url flow does for successful payments;
- fail: a failed payment is made (payment.failed is sent) and the browser goes back to
  ``cancel_url?error=payment_failed&razorpay_order_id=...&razorpay_payment_id=...``;
- close: no payment; back to ``cancel_url?error=closed&razorpay_order_id=...``.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Blueprint, abort, redirect, render_template, request, url_for

from portal.sandbox.razorpay.errors import ApiError
from portal.sandbox.razorpay.ledger import METHODS
from portal.sandbox.razorpay.state import sandbox

bp = Blueprint("checkout", __name__, url_prefix="/checkout")

PASS_THROUGH = ("callback_url", "cancel_url", "name", "description", "prefill_email",
                "prefill_contact")  # fmt: skip
DEFAULT_NAME = "Razorpay sandbox"
METHOD_LABELS = {"card": "Card", "upi": "UPI", "netbanking": "Netbanking", "wallet": "Wallet"}


def rupees(paise: int) -> str:
    """₹ and the amount with two decimals, without going through floats: 50000 -> ₹500.00."""
    return f"₹{paise // 100:,}.{paise % 100:02d}"


def with_query(url: str, **params: str) -> str:
    """``url`` with ``params`` added to its query string (existing parameters are kept)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def is_web_url(url: str | None) -> bool:
    if not url:
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def message_page(title: str, text: str, status: int = 200, *, link: str | None = None,
                 link_text: str | None = None):  # fmt: skip
    html = render_template(
        "razorpay_sandbox/message.html", title=title, text=text, link=link, link_text=link_text
    )
    return html, status


def _options(source) -> dict[str, str]:
    return {name: (source.get(name) or "").strip() for name in PASS_THROUGH}


def _load_order(order_id: str) -> dict:
    try:
        return sandbox().ledger.order(order_id)
    except ApiError:
        abort(404)


def _check_options(options: dict[str, str]):
    """A message page when the options cannot work, else None."""
    if not is_web_url(options["callback_url"]):
        return message_page(
            "Checkout cannot open",
            "The callback_url parameter is missing or is not an http(s) URL, so there is nowhere "
            "to send the payment result.", 400,
        )  # fmt: skip
    if options["cancel_url"] and not is_web_url(options["cancel_url"]):
        return message_page("Checkout cannot open", "The cancel_url is not an http(s) URL.", 400)
    key = request.args.get("key")
    if key is not None and key != sandbox().key_id:
        return message_page("Checkout cannot open", "The key does not belong to this sandbox.", 400)
    return None


def _back_to_merchant(options: dict[str, str], title: str, text: str, **params: str):
    if options["cancel_url"]:
        return redirect(with_query(options["cancel_url"], **params), 303)
    return message_page(title, f"{text} You can close this window.")


@bp.get("/<order_id>")
def page(order_id: str):
    order = _load_order(order_id)
    options = _options(request.args)
    problem = _check_options(options)
    if problem is not None:
        return problem
    if order["status"] == "paid":
        return message_page(
            "This order is already paid",
            "No further payment can be made against this order.", 409,
            link=options["cancel_url"] or None, link_text="Back to the merchant",
        )  # fmt: skip
    return render_template(
        "razorpay_sandbox/checkout.html",
        order=order,
        amount=rupees(order["amount"] - order["amount_paid"]),
        options=options,
        name=options["name"] or DEFAULT_NAME,
        methods=[(m, METHOD_LABELS[m]) for m in METHODS],
    )


@bp.post("/<order_id>")
def submit(order_id: str):
    order = _load_order(order_id)
    options = _options(request.form)
    if not is_web_url(options["callback_url"]) or (
        options["cancel_url"] and not is_web_url(options["cancel_url"])
    ):
        return message_page("Checkout cannot continue", "The checkout form was incomplete.", 400)
    action = request.form.get("action")
    if action == "close":
        return _back_to_merchant(
            options, "Payment cancelled", "You closed the checkout; nothing was charged.",
            error="closed", razorpay_order_id=order_id,
        )  # fmt: skip
    if action not in ("pay", "fail"):
        return message_page("Checkout cannot continue", "Choose pay, fail or close.", 400)
    method = request.form.get("method") or "card"
    box = sandbox()
    try:
        payment = box.ledger.pay(
            order["id"],
            success=action == "pay",
            method=method,
            email=options["prefill_email"] or None,
            contact=options["prefill_contact"] or None,
            description=options["description"] or None,
            auto_capture=box.settings["auto_capture"],
        )
    except ApiError as exc:
        return message_page("Payment not possible", exc.description, 409,
                            link=options["cancel_url"] or None,
                            link_text="Back to the merchant")  # fmt: skip
    if action == "fail":
        return _back_to_merchant(
            options, "Payment failed", "The payment failed; nothing was charged.",
            error="payment_failed", razorpay_order_id=order_id,
            razorpay_payment_id=payment["id"],
        )  # fmt: skip
    return redirect(
        url_for(".complete", order_id=order_id, payment_id=payment["id"],
                callback_url=options["callback_url"], name=options["name"]),
        303,
    )  # fmt: skip


@bp.get("/<order_id>/complete")
def complete(order_id: str):
    """The hand-back page: re-rendering it (a reload) makes no second payment."""
    box = sandbox()
    callback_url = request.args.get("callback_url", "")
    try:
        payment = box.ledger.payment(request.args.get("payment_id", ""))
    except ApiError:
        abort(404)
    if payment["order_id"] != order_id or payment["status"] == "failed":
        abort(404)
    if not is_web_url(callback_url):
        return message_page("Checkout cannot continue", "The callback_url is missing.", 400)
    return render_template(
        "razorpay_sandbox/callback.html",
        callback_url=callback_url,
        fields=box.ledger.signature_fields(payment),
        amount=rupees(payment["amount"]),
        name=request.args.get("name") or DEFAULT_NAME,
    )
