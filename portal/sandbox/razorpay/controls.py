"""Test controls under /_sandbox: not part of Razorpay. Same HTTP Basic auth as the API.

- ``GET  /_sandbox/webhooks``                   delivery log (``?event=``, ``?status=``,
                                                ``?event_id=`` filter it)
- ``POST /_sandbox/webhooks/deliver``           one attempt of every pending delivery, now
                                                ({"only_due": true}: only those due by schedule)
- ``POST /_sandbox/webhooks/drop-next``         the next ``count`` (default 1) events are recorded
                                                but never sent: a lost webhook
- ``POST /_sandbox/webhooks/<event_id>/redeliver``  send an event again: same id, same body
- ``POST /_sandbox/orders/<order_id>/pay``      pay without a browser: {"outcome": "success" |
                                                "failure", "method": "card", "capture": bool}
- ``POST /_sandbox/payment_links/<id>/pay``     pay a payment link without a browser:
                                                {"outcome": "success" | "failure", "method":
                                                "card"}; a success answers the signed fields
                                                the link's page hands its callback_url
- ``POST /_sandbox/payment_links/<id>/expire``  expire a payment link now (payment_link.expired)
- ``POST /_sandbox/payments/<id>/refund-status``  {"status": "processed" | "failed"} for the
                                                pending refunds of a payment (or one refund:
                                                a ``rfnd_`` id, or "refund_id" in the body)
- ``POST /_sandbox/transfers/<id>/status``      {"status": "processed" | "failed"} for a pending
                                                Route transfer (transfer.processed / .failed)
- ``POST /_sandbox/settlements/run``            settle every released transfer, one settlement
                                                per linked account ({"account": "acc_..."}: one
                                                account's only); settlement.processed each
- ``POST /_sandbox/accounts/<id>/activation``   {"status": "activated" | "needs_clarification" |
                                                "under_review" | "suspended"}: the outcome of
                                                Razorpay's checks of a linked account
                                                (product.route.<status>)
- ``GET|POST /_sandbox/settings``               auto_capture, auto_process_refunds,
                                                auto_process_transfers, background_delivery,
                                                enforce_link_expiry, webhook_url
- ``POST /_sandbox/reset``                      forget all orders, payments, refunds, payment
                                                links, linked accounts, transfers, settlements
                                                and events
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from portal.sandbox.razorpay.api import request_body
from portal.sandbox.razorpay.entities import (
    collection,
    payment_link_entity,
    product_entity,
    refund_entity,
    settlement_entity,
    transfer_entity,
)
from portal.sandbox.razorpay.errors import NOT_APPLICABLE, ApiError, error_body, not_found
from portal.sandbox.razorpay.state import sandbox

bp = Blueprint("controls", __name__, url_prefix="/_sandbox")

DELIVERY_FIELDS = (
    "id", "event_id", "event", "kind", "status", "attempts", "next_attempt_at", "created_at",
    "in_flight",
)  # fmt: skip


@bp.before_request
def require_basic_auth():
    if not sandbox().authorized():
        body = ApiError("Authentication failed", status=401, origin=NOT_APPLICABLE).body()
        response = jsonify(body)
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Basic realm="Razorpay sandbox controls"'
        return response
    return None


def _delivery_view(delivery: dict, events: dict) -> dict:
    view = {key: delivery[key] for key in DELIVERY_FIELDS}
    view["attempts"] = [dict(a) for a in delivery["attempts"]]
    view["body"] = events.get(delivery["event_id"], {}).get("body")
    return view


def _deliveries(deliveries) -> list[dict]:
    box = sandbox()
    with box.store.lock:
        return [_delivery_view(d, box.store.events) for d in deliveries]


@bp.get("/webhooks")
def webhook_log():
    box = sandbox()
    filters = {k: request.args[k] for k in ("event", "status", "event_id") if k in request.args}
    with box.store.lock:
        chosen = [
            d for d in box.store.deliveries
            if all(d[key] == value for key, value in filters.items())
        ]  # fmt: skip
        body = collection(_deliveries(chosen))
        body["drop_next"] = box.store.drop_next
        body["webhook_url"] = box.settings["webhook_url"]
    return jsonify(body)


@bp.post("/webhooks/deliver")
def deliver_webhooks():
    body = request_body()
    touched = sandbox().webhooks.deliver_now(only_due=bool(body.get("only_due", False)))
    return jsonify(collection(_deliveries(touched)))


@bp.post("/webhooks/drop-next")
def drop_next_webhooks():
    count = request_body().get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ApiError("count must be a whole number", field="count", origin=NOT_APPLICABLE)
    return jsonify({"drop_next": sandbox().webhooks.drop_next(count)})


@bp.post("/webhooks/<event_id>/redeliver")
def redeliver_webhook(event_id: str):
    delivery = sandbox().webhooks.redeliver(event_id)
    if delivery is None:
        raise not_found()
    return jsonify(_deliveries([delivery])[0])


@bp.post("/orders/<order_id>/pay")
def pay_order(order_id: str):
    """Checkout's payment without a browser. A success answers the three fields Checkout posts to
    the callback URL; a failure answers Checkout's error object (HTTP 200 either way)."""
    body = request_body()
    outcome = _outcome(body)
    capture = body.get("capture")
    if capture is not None and not isinstance(capture, bool):
        raise ApiError("capture must be true or false", field="capture", origin=NOT_APPLICABLE)
    box = sandbox()
    payment = box.ledger.pay(
        order_id,
        success=outcome == "success",
        method=body.get("method", "card"),
        capture=capture,
        email=body.get("email"),
        contact=body.get("contact"),
        description=body.get("description"),
        auto_capture=box.settings["auto_capture"],
    )
    if outcome == "success":
        return jsonify(box.ledger.signature_fields(payment))
    error = error_body(
        payment["error_description"],
        code=payment["error_code"],
        source=payment["error_source"],
        step=payment["error_step"],
        reason=payment["error_reason"],
        metadata={"payment_id": payment["id"], "order_id": order_id},
    )
    return jsonify({"razorpay_payment_id": payment["id"], "razorpay_order_id": order_id, **error})


def _outcome(body: dict) -> str:
    outcome = body.get("outcome", "success")
    if outcome not in ("success", "failure"):
        raise ApiError("outcome must be 'success' or 'failure'", field="outcome",
                       origin=NOT_APPLICABLE)  # fmt: skip
    return outcome


@bp.post("/payment_links/<link_id>/pay")
def pay_payment_link(link_id: str):
    """The link's page, paid without a browser: the signed callback fields for a success,
    Razorpay's error object (with the payment's id) for a failure; HTTP 200 either way."""
    body = request_body()
    outcome = _outcome(body)
    links = sandbox().links
    payment = links.pay(link_id, success=outcome == "success", method=body.get("method", "card"),
                        email=body.get("email"), contact=body.get("contact"))  # fmt: skip
    if outcome == "success":
        return jsonify(links.callback_fields(links.link(link_id), payment))
    error = error_body(
        payment["error_description"], code=payment["error_code"],
        source=payment["error_source"], step=payment["error_step"],
        reason=payment["error_reason"],
        metadata={"payment_id": payment["id"], "order_id": payment["order_id"],
                  "payment_link_id": link_id},
    )  # fmt: skip
    return jsonify({"razorpay_payment_id": payment["id"], **error})


@bp.post("/payment_links/<link_id>/expire")
def expire_payment_link(link_id: str):
    return jsonify(payment_link_entity(sandbox().links.expire(link_id)))


@bp.post("/payments/<target_id>/refund-status")
def refund_status(target_id: str):
    body = request_body()
    refunds = sandbox().ledger.settle_refunds(
        target_id, body.get("status"), refund_id=body.get("refund_id")
    )
    return jsonify(collection([refund_entity(r) for r in refunds]))


@bp.post("/transfers/<transfer_id>/status")
def transfer_status(transfer_id: str):
    transfer = sandbox().route.settle_transfer_status(transfer_id, request_body().get("status"))
    return jsonify(transfer_entity(transfer))


@bp.post("/settlements/run")
def run_settlements():
    account = request_body().get("account")
    if account is not None and not isinstance(account, str):
        raise ApiError("account must be an acc_ id", field="account", origin=NOT_APPLICABLE)
    settlements = sandbox().route.run_settlements(account)
    return jsonify(collection([settlement_entity(s) for s in settlements]))


@bp.post("/accounts/<account_id>/activation")
def account_activation(account_id: str):
    product = sandbox().route.set_activation(account_id, request_body().get("status"))
    return jsonify(product_entity(product))


@bp.get("/settings")
def get_settings():
    return jsonify(sandbox().settings)


@bp.post("/settings")
def update_settings():
    return jsonify(sandbox().update_settings(request_body()))


@bp.post("/reset")
def reset():
    sandbox().store.reset()
    return jsonify({"reset": True})
