"""Razorpay's REST API under /v1: the routes the official ``razorpay`` client calls for orders,
payments, refunds and payment links (razorpay/resources/{order,payment,refund,payment_link}.py),
with HTTP Basic auth.

Bodies are JSON (what the client sends) or form-encoded (what ``curl -d`` sends). Collections are
``{"entity": "collection", "count": n, "items": [...]}``, newest first, with ``count`` (1-100,
default 10), ``skip``, ``from`` and ``to`` (created_at, epoch seconds); payment links are listed
as ``{"payment_links": [...]}``, as Razorpay's Fetch All sample shows.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from portal.sandbox.common import request_params
from portal.sandbox.razorpay.entities import (
    collection,
    order_entity,
    payment_entity,
    payment_link_entity,
    refund_entity,
)
from portal.sandbox.razorpay.errors import NOT_APPLICABLE, ApiError, not_found
from portal.sandbox.razorpay.state import sandbox

bp = Blueprint("api", __name__, url_prefix="/v1")

# razorpay.com/docs/api/refunds/normal-refunds-idempotent/
IDEMPOTENCY_HEADER = "X-Refund-Idempotency"
AUTH_FAILED = "Authentication failed"


def request_body() -> dict:
    """The request's parameters: a JSON object, or form fields; ``{}`` when there is no body."""
    return request_params(lambda message: ApiError(message, origin=NOT_APPLICABLE))


@bp.before_request
def require_basic_auth():
    if not sandbox().authorized():
        response = jsonify(ApiError(AUTH_FAILED, status=401, origin=NOT_APPLICABLE).body())
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Basic realm="Razorpay sandbox API"'
        return response
    return None


# -- orders --------------------------------------------------------------------------------------


@bp.post("/orders")
def create_order():
    return jsonify(order_entity(sandbox().ledger.create_order(request_body())))


@bp.get("/orders")
def list_orders():
    orders = sandbox().ledger.list_orders(request.args)
    return jsonify(collection([order_entity(o) for o in orders]))


@bp.get("/orders/<order_id>")
def fetch_order(order_id: str):
    return jsonify(order_entity(sandbox().ledger.order(order_id)))


@bp.get("/orders/<order_id>/payments")
def order_payments(order_id: str):
    payments = sandbox().ledger.order_payments(order_id)
    return jsonify(collection([payment_entity(p) for p in payments]))


# -- payments ------------------------------------------------------------------------------------


@bp.get("/payments")
def list_payments():
    payments = sandbox().ledger.list_payments(request.args)
    return jsonify(collection([payment_entity(p) for p in payments]))


@bp.get("/payments/<payment_id>")
def fetch_payment(payment_id: str):
    return jsonify(payment_entity(sandbox().ledger.payment(payment_id)))


@bp.post("/payments/<payment_id>/capture")
def capture_payment(payment_id: str):
    return jsonify(payment_entity(sandbox().ledger.capture(payment_id, request_body())))


@bp.post("/payments/<payment_id>/refund")
def refund_payment(payment_id: str):
    return _refund(payment_id, request_body())


@bp.get("/payments/<payment_id>/refunds")
def payment_refunds(payment_id: str):
    refunds = sandbox().ledger.payment_refunds(payment_id)
    return jsonify(collection([refund_entity(r) for r in refunds]))


@bp.get("/payments/<payment_id>/refunds/<refund_id>")
def payment_refund(payment_id: str, refund_id: str):
    ledger = sandbox().ledger
    ledger.payment(payment_id)
    refund = ledger.refund_record(refund_id)
    if refund["payment_id"] != payment_id:
        raise not_found()
    return jsonify(refund_entity(refund))


# -- refunds -------------------------------------------------------------------------------------


@bp.post("/refunds")
def create_refund():
    """The older ``POST /v1/refunds`` with ``payment_id`` in the body (client.refund.create)."""
    body = request_body()
    payment_id = body.pop("payment_id", None)
    if not payment_id:
        raise ApiError("The payment id field is required.", field="payment_id")
    return _refund(str(payment_id), body)


@bp.get("/refunds")
def list_refunds():
    refunds = sandbox().ledger.list_refunds(request.args)
    return jsonify(collection([refund_entity(r) for r in refunds]))


@bp.get("/refunds/<refund_id>")
def fetch_refund(refund_id: str):
    return jsonify(refund_entity(sandbox().ledger.refund_record(refund_id)))


def _refund(payment_id: str, body: dict):
    box = sandbox()
    refund = box.ledger.refund(
        payment_id,
        body,
        idempotency_key=request.headers.get(IDEMPOTENCY_HEADER),
        auto_process=box.settings["auto_process_refunds"],
    )
    return jsonify(refund_entity(refund))


# -- payment links -------------------------------------------------------------------------------
# The client calls /v1/payment_links; Razorpay's curl samples add a trailing slash.


@bp.post("/payment_links", strict_slashes=False)
def create_payment_link():
    link = sandbox().links.create(request_body(), base_url=request.host_url)
    return jsonify(payment_link_entity(link))


@bp.get("/payment_links", strict_slashes=False)
def list_payment_links():
    links = sandbox().links.list_links(request.args)
    return jsonify({"payment_links": [payment_link_entity(x) for x in links]})


@bp.get("/payment_links/<link_id>")
def fetch_payment_link(link_id: str):
    return jsonify(payment_link_entity(sandbox().links.link(link_id)))


@bp.post("/payment_links/<link_id>/cancel")
def cancel_payment_link(link_id: str):
    return jsonify(payment_link_entity(sandbox().links.cancel(link_id)))
