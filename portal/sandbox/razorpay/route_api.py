"""Razorpay Route's REST API (route.py holds the rules): the routes the official ``razorpay``
client calls through ``client.account``, ``client.product``, ``client.payment.transfer`` /
``.transfers``, ``client.transfer`` (``fetch``, ``all``, ``edit``, ``reverse``, ``reversals``) and
``client.settlement.fetch``, with the same HTTP Basic auth as /v1 (api.py).

- ``POST /v2/accounts``, ``GET|PATCH /v2/accounts/<id>``: linked accounts
- ``POST /v2/accounts/<id>/products``, ``GET|PATCH /v2/accounts/<id>/products/<product_id>``:
  its Route product and the bank account settlements go to
- ``POST|GET /v1/payments/<id>/transfers``: transfers from a captured payment
- ``GET /v1/transfers`` (``recipient_settlement_id`` filters), ``GET|PATCH /v1/transfers/<id>``
- ``POST|GET /v1/transfers/<id>/reversals``
- ``GET /v1/settlements/<id>``
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from portal.sandbox.razorpay.api import request_body, require_basic_auth
from portal.sandbox.razorpay.entities import (
    account_entity,
    collection,
    product_entity,
    reversal_entity,
    settlement_entity,
    transfer_entity,
)
from portal.sandbox.razorpay.state import sandbox

bp = Blueprint("route_api", __name__)
bp.before_request(require_basic_auth)


# -- linked accounts and their Route product (v2) ------------------------------------------------
# Razorpay's curl samples end product URLs with a slash; the client does not.


@bp.post("/v2/accounts", strict_slashes=False)
def create_account():
    return jsonify(account_entity(sandbox().route.create_account(request_body())))


@bp.get("/v2/accounts/<account_id>", strict_slashes=False)
def fetch_account(account_id: str):
    route = sandbox().route
    with route.store.lock:
        return jsonify(account_entity(route.account(account_id)))


@bp.patch("/v2/accounts/<account_id>", strict_slashes=False)
def edit_account(account_id: str):
    return jsonify(account_entity(sandbox().route.edit_account(account_id, request_body())))


@bp.post("/v2/accounts/<account_id>/products", strict_slashes=False)
def request_product(account_id: str):
    return jsonify(product_entity(sandbox().route.request_product(account_id, request_body())))


@bp.get("/v2/accounts/<account_id>/products/<product_id>", strict_slashes=False)
def fetch_product(account_id: str, product_id: str):
    route = sandbox().route
    with route.store.lock:
        return jsonify(product_entity(route.product(account_id, product_id)))


@bp.patch("/v2/accounts/<account_id>/products/<product_id>", strict_slashes=False)
def edit_product(account_id: str, product_id: str):
    product = sandbox().route.edit_product(account_id, product_id, request_body())
    return jsonify(product_entity(product))


# -- transfers, reversals, settlements (v1) ------------------------------------------------------


@bp.post("/v1/payments/<payment_id>/transfers")
def create_transfers(payment_id: str):
    return jsonify(collection(sandbox().route.create_transfers(payment_id, request_body())))


@bp.get("/v1/payments/<payment_id>/transfers")
def payment_transfers(payment_id: str):
    transfers = sandbox().route.payment_transfers(payment_id)
    return jsonify(collection([transfer_entity(t) for t in transfers]))


@bp.get("/v1/transfers")
def list_transfers():
    transfers = sandbox().route.list_transfers(request.args)
    return jsonify(collection([transfer_entity(t) for t in transfers]))


@bp.get("/v1/transfers/<transfer_id>")
def fetch_transfer(transfer_id: str):
    route = sandbox().route
    with route.store.lock:
        return jsonify(transfer_entity(route.transfer(transfer_id)))


@bp.patch("/v1/transfers/<transfer_id>")
def edit_transfer(transfer_id: str):
    return jsonify(transfer_entity(sandbox().route.edit_transfer(transfer_id, request_body())))


@bp.post("/v1/transfers/<transfer_id>/reversals")
def reverse_transfer(transfer_id: str):
    return jsonify(reversal_entity(sandbox().route.reverse(transfer_id, request_body())))


@bp.get("/v1/transfers/<transfer_id>/reversals")
def transfer_reversals(transfer_id: str):
    reversals = sandbox().route.transfer_reversals(transfer_id)
    return jsonify(collection([reversal_entity(r) for r in reversals]))


@bp.get("/v1/settlements/<settlement_id>")
def fetch_settlement(settlement_id: str):
    route = sandbox().route
    with route.store.lock:
        return jsonify(settlement_entity(route.settlement(settlement_id)))
