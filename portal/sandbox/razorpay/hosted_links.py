"""The page a payment link's ``short_url`` opens (no auth: the customer's phone opens it).

``GET /i/<code>`` shows what the link is for, the amount due and two choices:

- pay: a payment is made and captured (the link becomes ``paid``; ``payment.authorized``,
  ``payment.captured``, ``order.paid`` and ``payment_link.paid`` are sent). With a
  ``callback_url`` the browser is sent there (GET, as ``callback_method`` must be) with
  ``razorpay_payment_id``, ``razorpay_payment_link_id``, ``razorpay_payment_link_reference_id``,
  ``razorpay_payment_link_status`` and ``razorpay_signature`` in the query string, as Razorpay's
  hosted page does; without one, a "payment successful" page;
- fail: a failed payment is made (``payment.failed`` is sent); the link stays payable.

A link that is paid, expired or cancelled shows a page saying so and takes no payment.
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for

from portal.sandbox.razorpay.checkout import METHOD_LABELS, message_page, rupees, with_query
from portal.sandbox.razorpay.errors import ApiError
from portal.sandbox.razorpay.ledger import METHODS
from portal.sandbox.razorpay.links import OPEN
from portal.sandbox.razorpay.state import sandbox

bp = Blueprint("hosted_links", __name__, url_prefix="/i")

CLOSED_TEXT = {
    "paid": ("This payment link is paid", "Thank you: nothing more is due on this link."),
    "expired": ("This payment link has expired", "Ask for a new link to pay."),
    "cancelled": ("This payment link was cancelled", "Ask for a new link to pay."),
}


def _link(code: str) -> dict:
    link = sandbox().links.by_short_code(code)
    if link is None:
        abort(404)
    return link


def _closed_page(link: dict):
    title, text = CLOSED_TEXT.get(link["status"], ("This payment link cannot be paid", ""))
    return message_page(title, text, 409 if request.method == "POST" else 200)


@bp.get("/<code>")
def page(code: str):
    link = _link(code)
    if link["status"] not in OPEN:
        return _closed_page(link)
    return render_template(
        "razorpay_sandbox/payment_link.html", link=link,
        amount=rupees(link["amount"] - link["amount_paid"]),
        methods=[(m, METHOD_LABELS[m]) for m in METHODS],
    )  # fmt: skip


@bp.post("/<code>")
def submit(code: str):
    link = _link(code)
    if link["status"] not in OPEN:
        return _closed_page(link)
    action = request.form.get("action")
    if action not in ("pay", "fail"):
        return message_page("Payment link cannot continue", "Choose pay or fail.", 400)
    links = sandbox().links
    try:
        payment = links.pay(link["id"], success=action == "pay",
                            method=request.form.get("method") or "card")  # fmt: skip
    except ApiError as exc:
        return message_page("Payment not possible", exc.description, 409)
    if action == "fail":
        return message_page("Payment failed", "The payment failed; nothing was charged.", 200,
                            link=url_for(".page", code=code), link_text="Try again")  # fmt: skip
    link = links.link(link["id"])
    if link["callback_url"]:
        return redirect(with_query(link["callback_url"], **links.callback_fields(link, payment)),
                        303)  # fmt: skip
    return message_page(
        "Payment successful", f"{rupees(payment['amount'])} paid. You can close this window."
    )
