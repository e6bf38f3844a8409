"""The Razorpay sandbox, driven through the official `razorpay` client over real HTTP.

Each test serves its own sandbox app with werkzeug on a free loopback port, and webhooks go to a
tiny receiver (another werkzeug server) that records the raw requests. Shapes are compared with
Razorpay's documented samples (razorpay-samples/ beside DESIGN.md); their key lists are also
written out below, so the comparisons still run where that folder is absent.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import razorpay
import requests
from razorpay.errors import BadRequestError, SignatureVerificationError
from werkzeug.datastructures import Headers
from werkzeug.serving import make_server
from werkzeug.wrappers import Request

from portal.sandbox.razorpay import SandboxRefused, SandboxServer, create_sandbox_app, sandbox_of
from portal.sandbox.razorpay.__main__ import main, parse_args
from portal.sandbox.razorpay.signing import payment_signature, webhook_signature

KEY_ID = "rzp_test_unit0000000001"
KEY_SECRET = "unit-key-secret"
WEBHOOK_SECRET = "unit-webhook-secret"
ROOT = Path(__file__).resolve().parents[2]
SAMPLES = Path(os.environ.get("RAZORPAY_SAMPLES_DIR", ROOT.parent / "shared" / "razorpay-samples"))
POLL_SECONDS = 5.0

ORDER_ID_RE = re.compile(r"^order_[0-9A-Za-z]{14}$")
PAYMENT_ID_RE = re.compile(r"^pay_[0-9A-Za-z]{14}$")
REFUND_ID_RE = re.compile(r"^rfnd_[0-9A-Za-z]{14}$")

# Key lists of the documented samples (file -> keys; webhooks: "_top" and each payload entity).
_ENVELOPE = ["entity", "account_id", "event", "contains", "payload", "created_at"]
_API_PAYMENT = [
    "id", "entity", "amount", "currency", "status", "order_id", "invoice_id", "international",
    "method", "amount_refunded", "refund_status", "captured", "description", "card_id", "bank",
    "wallet", "vpa", "email", "contact", "notes", "fee", "tax", "error_code", "error_description",
    "error_source", "error_step", "error_reason", "acquirer_data", "created_at",
]  # fmt: skip
_WEBHOOK_PAYMENT = [
    "id", "entity", "amount", "currency", "base_amount", "status", "order_id", "invoice_id",
    "international", "method", "amount_refunded", "amount_transferred", "refund_status",
    "captured", "description", "card_id", "bank", "wallet", "vpa", "email", "contact", "notes",
    "fee", "tax", "error_code", "error_description", "error_source", "error_step", "error_reason",
    "acquirer_data", "created_at",
]  # fmt: skip
_ORDER_PAID_PAYMENT = [
    k for k in _API_PAYMENT
    if k not in ("error_source", "error_step", "error_reason", "acquirer_data")
]  # fmt: skip
_ORDER = [
    "id", "entity", "amount", "amount_paid", "amount_due", "currency", "receipt", "offer_id",
    "status", "attempts", "notes", "created_at",
]  # fmt: skip
_REFUND = [
    "id", "entity", "amount", "currency", "payment_id", "notes", "receipt", "acquirer_data",
    "created_at", "batch_id", "status", "speed_processed", "speed_requested",
]  # fmt: skip
DOCUMENTED_KEYS = {
    "webhook-payment.authorized.json": {"_top": _ENVELOPE, "payment": _API_PAYMENT},
    "webhook-payment.captured.json": {"_top": _ENVELOPE, "payment": _WEBHOOK_PAYMENT},
    "webhook-payment.failed.json": {"_top": _ENVELOPE, "payment": _API_PAYMENT},
    "webhook-order.paid.json": {
        "_top": _ENVELOPE, "payment": _ORDER_PAID_PAYMENT, "order": _ORDER,
    },
    "webhook-refund.created.json": {"_top": _ENVELOPE, "refund": _REFUND,
                                    "payment": _WEBHOOK_PAYMENT},
    "webhook-refund.processed.json": {"_top": _ENVELOPE, "refund": _REFUND,
                                      "payment": _WEBHOOK_PAYMENT},
    "webhook-refund.failed.json": {"_top": _ENVELOPE, "refund": _REFUND,
                                   "payment": _WEBHOOK_PAYMENT},
    "api-orders-create.json": sorted(_ORDER),
    "api-orders-fetch.json": [*_ORDER[:8], "offers", *_ORDER[8:]],
    "api-payments-fetch.json": _API_PAYMENT,
    "api-refunds-fetch.json": _REFUND,
    "checkout-handler-response.json": [
        "razorpay_payment_id", "razorpay_order_id", "razorpay_signature",
    ],
    "api-error-bad-request.json": [
        "code", "description", "source", "step", "reason", "metadata", "field",
    ],
}  # fmt: skip
# Checkout signature vectors printed in Razorpay's docs and razorpay-python's tests
# (razorpay-samples/signature-vectors.json).
PAYMENT_SIGNATURE_VECTORS = [
    ("EnLs21M47BllR3X8PSFtjtbd", "order_IEIaMR65cu6nz3", "pay_IH4NVgf4Dreq1l",
     "0d4e745a1838664ad6c9c9902212a32d627d68e917290b0ad5f08ff4561bc50f"),
    ("key_secret", "fake_order_id", "fake_payment_id",
     "b2335e3b0801106b84a7faff035df56ecffde06918c9ddd1f0fafbb37a51cc89"),
]  # fmt: skip


def sample_keys(name: str):
    return DOCUMENTED_KEYS[name]


def _keys_of_sample_file(name: str):
    data = json.loads((SAMPLES / name).read_text(encoding="utf-8"))
    if name.startswith("webhook-"):
        entities = {part: list(body["entity"]) for part, body in data["payload"].items()}
        return {"_top": list(data), **entities}
    if name.startswith("api-error-"):
        return list(data["error"])
    return list(data)


# -- servers --------------------------------------------------------------------------------------


class Receiver:
    """A webhook endpoint on a free port that records every request (headers, raw body).

    ``statuses`` are answered in turn, then 200 for ever.
    """

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        self.changed = threading.Condition()
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/api/v1/payments/webhook"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        body = request.get_data()
        with self.changed:
            status = self.statuses.pop(0) if self.statuses else 200
            self.requests.append(
                {"headers": Headers(list(request.headers.items())), "body": body,
                 "status": status, "path": request.path}
            )  # fmt: skip
            self.changed.notify_all()
        start_response(f"{status} Answer", [("Content-Type", "text/plain")])
        return [b"ok"]

    def wait_for(self, count: int, timeout: float = POLL_SECONDS) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.requests) >= count, timeout)

    def events(self) -> list[str]:
        return [json.loads(r["body"])["event"] for r in self.requests]

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()


class LiveSandbox:
    """A sandbox app served over HTTP, with the real client and a session for /_sandbox."""

    def __init__(self, app) -> None:
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)  # fmt: skip
        self._thread.start()
        self.client = razorpay.Client(auth=(KEY_ID, KEY_SECRET), base_url=self.url)
        self.http = requests.Session()
        self.http.auth = (KEY_ID, KEY_SECRET)

    def control(self, path: str, body: dict | None = None, method: str = "post") -> dict:
        response = self.http.request(method, f"{self.url}/_sandbox{path}", json=body, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def pay(self, order_id: str, **body) -> dict:
        return self.control(f"/orders/{order_id}/pay", {"outcome": "success", **body})

    def deliveries(self, **filters) -> list[dict]:
        response = self.http.get(f"{self.url}/_sandbox/webhooks", params=filters, timeout=10)
        return response.json()["items"]

    def deliver(self) -> list[dict]:
        return self.control("/webhooks/deliver")["items"]

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()
        sandbox_of(self.app).close()
        self.http.close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def start_sandbox(receiver):
    """``start_sandbox(**options)`` -> LiveSandbox; webhooks go to ``receiver`` and are sent only
    by /_sandbox/webhooks/deliver unless ``background_delivery=True``."""
    started: list[LiveSandbox] = []

    def start(**options) -> LiveSandbox:
        webhook_url = options.pop("webhook_url", receiver.url)
        options.setdefault("background_delivery", False)
        options.setdefault("retry_delays", (0.01, 0.01))
        app = create_sandbox_app(KEY_ID, KEY_SECRET, webhook_url, WEBHOOK_SECRET, **options)
        live = LiveSandbox(app)
        started.append(live)
        return live

    yield start
    for live in started:
        live.stop()


@pytest.fixture
def sandbox(start_sandbox) -> LiveSandbox:
    return start_sandbox()


def new_order(sandbox: LiveSandbox, amount: int = 50000, receipt: str = "appt-1", **extra) -> dict:
    return sandbox.client.order.create(
        {"amount": amount, "currency": "INR", "receipt": receipt, **extra}
    )


def raw_error(response: requests.Response) -> dict:
    body = response.json()
    assert list(body) == ["error"]
    assert list(body["error"]) == sample_keys("api-error-bad-request.json")
    return body["error"]


def poll(condition, timeout: float = POLL_SECONDS, interval: float = 0.02):
    """Wait for ``condition()`` to be truthy, at most ``timeout`` seconds; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# -- the samples themselves -----------------------------------------------------------------------


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="razorpay-samples/ is not beside the repository")
@pytest.mark.parametrize("name", sorted(DOCUMENTED_KEYS))
def test_the_key_lists_here_are_those_of_the_documented_samples(name):
    assert _keys_of_sample_file(name) == DOCUMENTED_KEYS[name]


# -- base_url and auth ----------------------------------------------------------------------------


def test_the_client_base_url_is_the_server_root_because_the_client_adds_v1(sandbox):
    order = new_order(sandbox)
    assert ORDER_ID_RE.match(order["id"])

    with_v1 = razorpay.Client(auth=(KEY_ID, KEY_SECRET), base_url=f"{sandbox.url}/v1")
    with pytest.raises(BadRequestError, match="base_url must be the sandbox's root"):
        with_v1.order.fetch(order["id"])  # the client asked for /v1/v1/orders/<id>


def test_wrong_credentials_get_401_with_razorpays_error_body(sandbox):
    response = requests.get(f"{sandbox.url}/v1/orders", auth=(KEY_ID, "wrong"), timeout=10)
    assert response.status_code == 401
    assert raw_error(response)["code"] == "BAD_REQUEST_ERROR"
    assert requests.get(f"{sandbox.url}/v1/orders", timeout=10).status_code == 401
    assert requests.get(f"{sandbox.url}/_sandbox/webhooks", timeout=10).status_code == 401

    wrong = razorpay.Client(auth=(KEY_ID, "wrong"), base_url=sandbox.url)
    with pytest.raises(BadRequestError, match="Authentication failed"):
        wrong.order.all()


def test_an_unknown_url_answers_razorpays_url_error(sandbox):
    response = sandbox.http.get(f"{sandbox.url}/v1/nothing-here", timeout=10)
    assert response.status_code == 400
    assert raw_error(response)["description"] == "The requested URL was not found on the server."


# -- orders ---------------------------------------------------------------------------------------


def test_an_order_is_created_and_fetched_in_razorpays_shape(sandbox):
    before = int(time.time())
    order = new_order(sandbox, notes={"appointment_id": "42"})

    assert sorted(order) == sample_keys("api-orders-create.json")
    assert list(order) == [k for k in sample_keys("api-orders-fetch.json") if k != "offers"]
    assert ORDER_ID_RE.match(order["id"])
    assert order["entity"] == "order"
    assert (order["amount"], order["amount_paid"], order["amount_due"]) == (50000, 0, 50000)
    assert (order["status"], order["attempts"], order["currency"]) == ("created", 0, "INR")
    assert order["receipt"] == "appt-1"
    assert order["notes"] == {"appointment_id": "42"}
    assert before <= order["created_at"] <= int(time.time())
    assert sandbox.client.order.fetch(order["id"]) == order


def test_empty_notes_come_back_as_an_empty_array_like_razorpays(sandbox):
    assert new_order(sandbox)["notes"] == []


def test_orders_are_listed_newest_first_and_filtered_by_receipt(sandbox):
    first = new_order(sandbox, receipt="appt-1")
    new_order(sandbox, receipt="appt-2")
    second = new_order(sandbox, receipt="appt-1")

    found = sandbox.client.order.all({"receipt": "appt-1"})
    assert found["entity"] == "collection"
    assert found["count"] == 2
    assert [o["id"] for o in found["items"]] == [second["id"], first["id"]]

    assert sandbox.client.order.all({"receipt": "appt-1", "count": 1})["items"] == [second]
    assert sandbox.client.order.all({"receipt": "appt-1", "skip": 1})["items"] == [first]
    assert sandbox.client.order.all({"receipt": "nobody"}) == {
        "entity": "collection", "count": 0, "items": [],
    }  # fmt: skip
    assert sandbox.client.order.all()["count"] == 3
    later = int(time.time()) + 60
    assert sandbox.client.order.all({"from": later})["count"] == 0
    assert sandbox.client.order.all({"to": later})["count"] == 3
    with pytest.raises(BadRequestError, match="The count must be between 1 and 100"):
        sandbox.client.order.all({"count": 101})


@pytest.mark.parametrize(
    ("body", "field", "description"),
    [
        ({"amount": 99, "currency": "INR"}, "amount", "The amount must be at least INR 1.00"),
        ({"amount": 500.5, "currency": "INR"}, "amount", "The amount must be an integer."),
        ({"currency": "INR"}, "amount", "The amount field is required."),
        ({"amount": 5000}, "currency", "The currency field is required."),
        ({"amount": 5000, "currency": "USD"}, "currency", "The selected currency is invalid."),
        ({"amount": 5000, "currency": "INR", "receipt": "r" * 41}, "receipt",
         "The receipt may not be greater than 40 characters."),
        ({"amount": 5000, "currency": "INR", "amout": 1}, "amout",
         "amout is/are not required and should not be sent"),
        ({"amount": 5000, "currency": "INR", "notes": {str(i): "x" for i in range(16)}}, "notes",
         "Number of fields in notes should be less than or equal to 15"),
    ],
)  # fmt: skip
def test_invalid_orders_are_refused_naming_the_field(sandbox, body, field, description):
    with pytest.raises(BadRequestError, match=re.escape(description)):
        sandbox.client.order.create(dict(body))

    response = sandbox.http.post(f"{sandbox.url}/v1/orders", json=body, timeout=10)
    assert response.status_code == 400
    error = raw_error(response)
    assert (error["code"], error["field"], error["description"]) == (
        "BAD_REQUEST_ERROR", field, description,
    )  # fmt: skip
    assert (error["source"], error["step"], error["reason"]) == (
        "business", "payment_initiation", "input_validation_failed",
    )  # fmt: skip


def test_a_receipt_of_exactly_40_characters_is_accepted(sandbox):
    assert new_order(sandbox, receipt="r" * 40)["receipt"] == "r" * 40


@pytest.mark.parametrize(
    "fetch",
    [
        lambda c: c.order.fetch("order_AAAAAAAAAAAAAA"),
        lambda c: c.order.payments("order_AAAAAAAAAAAAAA"),
        lambda c: c.payment.fetch("pay_AAAAAAAAAAAAAA"),
        lambda c: c.payment.capture("pay_AAAAAAAAAAAAAA", 5000, {"currency": "INR"}),
        lambda c: c.payment.refund("pay_AAAAAAAAAAAAAA", {"amount": 100}),
        lambda c: c.payment.fetch_multiple_refund("pay_AAAAAAAAAAAAAA"),
        lambda c: c.refund.fetch("rfnd_AAAAAAAAAAAAAA"),
    ],
)
def test_unknown_ids_get_the_id_provided_does_not_exist(sandbox, fetch):
    with pytest.raises(BadRequestError, match=r"^The id provided does not exist$"):
        fetch(sandbox.client)


def test_the_unknown_id_error_body_has_the_documented_keys(sandbox):
    response = sandbox.http.get(f"{sandbox.url}/v1/payments/pay_AAAAAAAAAAAAAA", timeout=10)
    assert response.status_code == 400
    assert raw_error(response)["description"] == "The id provided does not exist"


# -- payments -------------------------------------------------------------------------------------


def test_paying_through_the_sandbox_gives_signed_fields_and_a_captured_payment(sandbox):
    order = new_order(sandbox)
    fields = sandbox.pay(order["id"], method="card", email="asha@example.com")

    assert list(fields) == sample_keys("checkout-handler-response.json")
    assert fields["razorpay_order_id"] == order["id"]
    assert PAYMENT_ID_RE.match(fields["razorpay_payment_id"])
    assert sandbox.client.utility.verify_payment_signature(dict(fields)) is True

    payment = sandbox.client.payment.fetch(fields["razorpay_payment_id"])
    assert list(payment) == sample_keys("api-payments-fetch.json")
    assert payment["entity"] == "payment"
    assert (payment["status"], payment["captured"], payment["amount"]) == ("captured", True, 50000)
    assert (payment["order_id"], payment["method"], payment["email"]) == (
        order["id"], "card", "asha@example.com",
    )  # fmt: skip
    assert payment["fee"] > payment["tax"] > 0
    assert payment["error_code"] is None

    paid = sandbox.client.order.fetch(order["id"])
    assert (paid["status"], paid["amount_paid"], paid["amount_due"], paid["attempts"]) == (
        "paid", 50000, 0, 1,
    )  # fmt: skip
    assert sandbox.client.order.payments(order["id"])["items"] == [payment]


def test_a_signature_over_other_ids_does_not_verify(sandbox):
    order = new_order(sandbox)
    fields = sandbox.pay(order["id"])
    other = new_order(sandbox, receipt="appt-2")
    forged = {**fields, "razorpay_order_id": other["id"]}
    with pytest.raises(SignatureVerificationError):
        sandbox.client.utility.verify_payment_signature(forged)


@pytest.mark.parametrize(("secret", "order_id", "payment_id", "signature"),
                         PAYMENT_SIGNATURE_VECTORS)  # fmt: skip
def test_checkout_signatures_match_razorpays_published_vectors(
    secret, order_id, payment_id, signature
):
    assert payment_signature(order_id, payment_id, secret) == signature
    client = razorpay.Client(auth=("key_id", secret))
    assert client.utility.verify_payment_signature({
        "razorpay_order_id": order_id, "razorpay_payment_id": payment_id,
        "razorpay_signature": payment_signature(order_id, payment_id, secret),
    })  # fmt: skip


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="razorpay-samples/ is not beside the repository")
def test_webhook_signatures_match_the_razorpay_python_vector():
    vectors = json.loads((SAMPLES / "signature-vectors.json").read_text())["webhook_signature"]
    for vector in vectors:
        raw = (SAMPLES / vector["raw_body_file"]).read_bytes()
        assert len(raw) == vector["raw_body_bytes"]
        assert webhook_signature(raw, vector["webhook_secret"]) == vector["signature"]


def test_without_auto_capture_a_payment_waits_for_capture_of_the_exact_amount(start_sandbox):
    sandbox = start_sandbox(auto_capture=False)
    order = new_order(sandbox)
    payment_id = sandbox.pay(order["id"])["razorpay_payment_id"]

    payment = sandbox.client.payment.fetch(payment_id)
    assert (payment["status"], payment["captured"], payment["fee"]) == ("authorized", False, None)
    assert sandbox.client.order.fetch(order["id"])["status"] == "attempted"

    with pytest.raises(BadRequestError, match="Capture amount must be equal to the amount"):
        sandbox.client.payment.capture(payment_id, 40000, {"currency": "INR"})
    captured = sandbox.client.payment.capture(payment_id, 50000, {"currency": "INR"})
    assert list(captured) == sample_keys("api-payments-fetch.json")
    assert (captured["status"], captured["captured"]) == ("captured", True)
    assert sandbox.client.order.fetch(order["id"])["status"] == "paid"

    with pytest.raises(BadRequestError, match=r"^This payment has already been captured$"):
        sandbox.client.payment.capture(payment_id, 50000, {"currency": "INR"})


def test_an_order_can_ask_for_manual_capture_even_when_the_account_auto_captures(sandbox):
    order = new_order(sandbox, payment_capture=False)
    payment_id = sandbox.pay(order["id"])["razorpay_payment_id"]
    assert sandbox.client.payment.fetch(payment_id)["status"] == "authorized"


def test_a_failed_payment_carries_the_error_and_cannot_be_captured(sandbox):
    order = new_order(sandbox)
    result = sandbox.pay(order["id"], outcome="failure")
    assert list(result["error"]) == sample_keys("api-error-bad-request.json")
    assert result["error"]["metadata"] == {
        "payment_id": result["razorpay_payment_id"], "order_id": order["id"],
    }  # fmt: skip

    payment = sandbox.client.payment.fetch(result["razorpay_payment_id"])
    assert (payment["status"], payment["captured"]) == ("failed", False)
    assert (payment["error_code"], payment["error_description"]) == (
        "BAD_REQUEST_ERROR", "Payment failed",
    )  # fmt: skip
    assert payment["error_source"] == "bank"
    assert payment["error_step"] == "payment_authorization"
    assert payment["error_reason"] == "payment_failed"
    assert sandbox.client.order.fetch(order["id"])["status"] == "attempted"
    with pytest.raises(BadRequestError, match="Only payments which have been authorized"):
        sandbox.client.payment.capture(payment["id"], 50000, {"currency": "INR"})

    # A retry on the same order succeeds.
    retry = sandbox.pay(order["id"])
    assert sandbox.client.order.fetch(order["id"])["attempts"] == 2
    assert sandbox.client.payment.fetch(retry["razorpay_payment_id"])["status"] == "captured"


def test_a_paid_order_takes_no_further_payment(sandbox):
    order = new_order(sandbox)
    sandbox.pay(order["id"])
    response = sandbox.http.post(
        f"{sandbox.url}/_sandbox/orders/{order['id']}/pay", json={"outcome": "success"}, timeout=10
    )
    assert response.status_code == 400
    assert "already paid" in raw_error(response)["description"]


# -- refunds --------------------------------------------------------------------------------------


def test_partial_then_full_refunds_up_to_the_captured_amount(sandbox):
    order = new_order(sandbox)
    payment_id = sandbox.pay(order["id"])["razorpay_payment_id"]

    first = sandbox.client.payment.refund(payment_id, {"amount": 20000, "notes": {"why": "x"}})
    assert list(first) == sample_keys("api-refunds-fetch.json")
    assert REFUND_ID_RE.match(first["id"])
    assert (first["entity"], first["amount"], first["payment_id"]) == ("refund", 20000, payment_id)
    assert (first["status"], first["speed_requested"]) == ("processed", "normal")
    assert first["notes"] == {"why": "x"}
    payment = sandbox.client.payment.fetch(payment_id)
    assert (payment["amount_refunded"], payment["refund_status"], payment["status"]) == (
        20000, "partial", "captured",
    )  # fmt: skip

    with pytest.raises(BadRequestError, match="greater than amount captured"):
        sandbox.client.payment.refund(payment_id, {"amount": 30001})
    with pytest.raises(BadRequestError, match=r"at least INR 1\.00"):
        sandbox.client.payment.refund(payment_id, {"amount": 99})

    rest = sandbox.client.payment.refund(payment_id)  # no amount: everything left
    assert rest["amount"] == 30000
    payment = sandbox.client.payment.fetch(payment_id)
    assert (payment["amount_refunded"], payment["refund_status"], payment["status"]) == (
        50000, "full", "refunded",
    )  # fmt: skip
    with pytest.raises(BadRequestError, match="fully refunded already"):
        sandbox.client.payment.refund(payment_id, {"amount": 100})

    listed = sandbox.client.payment.fetch_multiple_refund(payment_id)
    assert [r["id"] for r in listed["items"]] == [rest["id"], first["id"]]
    assert sandbox.client.refund.fetch(first["id"]) == first
    assert sandbox.client.payment.fetch_refund_id(payment_id, rest["id"]) == rest


def test_an_uncaptured_payment_cannot_be_refunded(start_sandbox):
    sandbox = start_sandbox(auto_capture=False)
    payment_id = sandbox.pay(new_order(sandbox)["id"])["razorpay_payment_id"]
    with pytest.raises(BadRequestError, match="Only captured payments can be refunded"):
        sandbox.client.payment.refund(payment_id, {"amount": 100})


def test_the_refund_idempotency_header_returns_the_same_refund_for_the_same_key(sandbox):
    payment_id = sandbox.pay(new_order(sandbox)["id"])["razorpay_payment_id"]
    key = "refund-appt-1-attempt-1"
    body = {"amount": 10000, "speed": "normal", "notes": {"reason": "cancelled"}}

    first = sandbox.client.payment.refund(payment_id, dict(body),
                                          headers={"X-Refund-Idempotency": key})  # fmt: skip
    again = sandbox.client.payment.refund(payment_id, dict(body),
                                          headers={"X-Refund-Idempotency": key})  # fmt: skip
    assert again == first
    assert sandbox.client.payment.fetch(payment_id)["amount_refunded"] == 10000
    assert sandbox.client.payment.fetch_multiple_refund(payment_id)["count"] == 1

    response = sandbox.http.post(
        f"{sandbox.url}/v1/payments/{payment_id}/refund", json={**body, "amount": 20000},
        headers={"X-Refund-Idempotency": key}, timeout=10,
    )  # fmt: skip
    assert response.status_code == 409
    assert raw_error(response)["description"] == (
        "Different request with the same idempotency key has already been processed."
    )
    with pytest.raises(BadRequestError, match="at least 10 characters"):
        sandbox.client.payment.refund(payment_id, dict(body),
                                      headers={"X-Refund-Idempotency": "short"})  # fmt: skip
    with pytest.raises(BadRequestError, match="only contain alphanumeric"):
        sandbox.client.payment.refund(
            payment_id, dict(body), headers={"X-Refund-Idempotency": "no spaces allowed"}
        )

    other = sandbox.client.payment.refund(payment_id, dict(body),
                                          headers={"X-Refund-Idempotency": key + "-2"})  # fmt: skip
    assert other["id"] != first["id"]


# -- webhooks -------------------------------------------------------------------------------------


def _assert_signed(request: dict) -> dict:
    headers = request["headers"]
    assert headers["Content-Type"] == "application/json"
    raw = request["body"].decode("utf-8")
    utility = razorpay.Client(auth=(KEY_ID, KEY_SECRET)).utility
    assert utility.verify_webhook_signature(raw, headers["X-Razorpay-Signature"], WEBHOOK_SECRET)
    envelope = json.loads(raw)
    assert headers["x-razorpay-event-id"]
    return envelope


def _assert_documented_shape(envelope: dict) -> None:
    expected = sample_keys(f"webhook-{envelope['event']}.json")
    assert list(envelope) == expected["_top"]
    assert envelope["entity"] == "event"
    assert re.match(r"^acc_[0-9A-Za-z]{14}$", envelope["account_id"])
    assert envelope["contains"] == [k for k in expected if k != "_top"]
    assert list(envelope["payload"]) == envelope["contains"]
    for part, body in envelope["payload"].items():
        assert list(body) == ["entity"]
        assert list(body["entity"]) == expected[part], f"{envelope['event']} {part}"


def test_a_payment_sends_signed_webhooks_in_the_documented_envelopes(sandbox, receiver):
    order = new_order(sandbox)
    fields = sandbox.pay(order["id"])
    assert receiver.requests == []  # background delivery is off in this test

    delivered = sandbox.deliver()
    assert [d["status"] for d in delivered] == ["delivered"] * 3
    assert receiver.events() == ["payment.authorized", "payment.captured", "order.paid"]
    event_ids = [r["headers"]["x-razorpay-event-id"] for r in receiver.requests]
    assert len(set(event_ids)) == 3
    assert [d["event_id"] for d in delivered] == event_ids

    authorized, captured, paid = (_assert_signed(r) for r in receiver.requests)
    for envelope in (authorized, captured, paid):
        _assert_documented_shape(envelope)
        payment = envelope["payload"]["payment"]["entity"]
        assert (payment["id"], payment["order_id"]) == (fields["razorpay_payment_id"], order["id"])
    assert authorized["payload"]["payment"]["entity"]["status"] == "authorized"
    assert captured["payload"]["payment"]["entity"]["status"] == "captured"
    assert paid["payload"]["order"]["entity"]["status"] == "paid"
    assert paid["payload"]["order"]["entity"]["amount_paid"] == 50000


def test_a_failed_payment_sends_payment_failed(sandbox, receiver):
    sandbox.pay(new_order(sandbox)["id"], outcome="failure")
    sandbox.deliver()
    [request] = receiver.requests
    envelope = _assert_signed(request)
    _assert_documented_shape(envelope)
    payment = envelope["payload"]["payment"]["entity"]
    assert (envelope["event"], payment["status"], payment["error_code"]) == (
        "payment.failed", "failed", "BAD_REQUEST_ERROR",
    )  # fmt: skip


def test_the_background_thread_retries_after_a_500_with_the_same_event(start_sandbox, receiver):
    receiver.statuses = [500]
    sandbox = start_sandbox(background_delivery=True, retry_delays=(0.05, 0.05))
    sandbox.pay(new_order(sandbox)["id"], outcome="failure")

    assert receiver.wait_for(2)
    first, second = receiver.requests[:2]
    assert (first["status"], second["status"]) == (500, 200)
    assert first["body"] == second["body"]
    assert first["headers"]["x-razorpay-event-id"] == second["headers"]["x-razorpay-event-id"]
    assert first["headers"]["X-Razorpay-Signature"] == second["headers"]["X-Razorpay-Signature"]

    [delivery] = poll(lambda: sandbox.deliveries(status="delivered"))
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 200]


def test_deliveries_give_up_after_the_last_retry(sandbox, receiver):
    receiver.statuses = [500, 502, 503, 500]
    sandbox.pay(new_order(sandbox)["id"], outcome="failure")
    for _ in range(3):  # the first attempt and the two retries of retry_delays=(0.01, 0.01)
        sandbox.deliver()
    [delivery] = sandbox.deliveries()
    assert delivery["status"] == "failed"
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 502, 503]
    assert sandbox.deliver() == []
    assert len(receiver.requests) == 3


def test_a_refused_connection_is_a_failed_attempt(start_sandbox, receiver):
    receiver.stop()  # nothing listens on the webhook URL any more
    sandbox = start_sandbox(retry_delays=())
    sandbox.pay(new_order(sandbox)["id"], outcome="failure")
    [delivery] = sandbox.deliver()
    assert delivery["status"] == "failed"
    assert delivery["attempts"][0]["status_code"] is None
    assert "ConnectionError" in delivery["attempts"][0]["error"]
    receiver.__init__()  # a fresh receiver for the fixture's teardown


def test_drop_next_loses_a_webhook_until_it_is_redelivered(sandbox, receiver):
    assert sandbox.control("/webhooks/drop-next", {"count": 1}) == {"drop_next": 1}
    sandbox.pay(new_order(sandbox)["id"], outcome="failure")
    sandbox.deliver()
    assert receiver.requests == []
    [dropped] = sandbox.deliveries()
    assert (dropped["status"], dropped["event"]) == ("dropped", "payment.failed")

    late = sandbox.control(f"/webhooks/{dropped['event_id']}/redeliver")
    assert (late["status"], late["kind"]) == ("delivered", "redelivery")
    [request] = receiver.requests
    assert request["headers"]["x-razorpay-event-id"] == dropped["event_id"]
    assert request["body"].decode() == dropped["body"]
    _assert_signed(request)

    sandbox.pay(new_order(sandbox, receipt="appt-2")["id"], outcome="failure")
    sandbox.deliver()
    assert len(receiver.requests) == 2  # only the next event was dropped


def test_redelivery_sends_a_duplicate_with_the_same_event_id_and_body(sandbox, receiver):
    sandbox.pay(new_order(sandbox)["id"], outcome="failure")
    [original] = sandbox.deliver()
    duplicate = sandbox.control(f"/webhooks/{original['event_id']}/redeliver")
    assert duplicate["status"] == "delivered"
    first, second = receiver.requests
    assert first["body"] == second["body"]
    assert first["headers"]["x-razorpay-event-id"] == second["headers"]["x-razorpay-event-id"]
    assert first["headers"]["X-Razorpay-Signature"] == second["headers"]["X-Razorpay-Signature"]

    response = sandbox.http.post(f"{sandbox.url}/_sandbox/webhooks/evt_AAAAAAAAAAAAAA/redeliver",
                                 timeout=10)  # fmt: skip
    assert response.status_code == 400


def test_refund_webhooks_follow_the_refund_to_processed_or_failed(start_sandbox, receiver):
    sandbox = start_sandbox(auto_process_refunds=False)
    payment_id = sandbox.pay(new_order(sandbox)["id"])["razorpay_payment_id"]
    sandbox.deliver()
    receiver.requests.clear()

    refund = sandbox.client.payment.refund(payment_id, {"amount": 20000})
    assert refund["status"] == "pending"
    settled = sandbox.control(f"/payments/{payment_id}/refund-status", {"status": "failed"})
    assert [r["status"] for r in settled["items"]] == ["failed"]
    assert sandbox.client.refund.fetch(refund["id"])["status"] == "failed"
    assert sandbox.client.payment.fetch(payment_id)["amount_refunded"] == 0

    second = sandbox.client.payment.refund(payment_id, {"amount": 50000})
    sandbox.control(f"/payments/{second['id']}/refund-status", {"status": "processed"})
    assert sandbox.client.refund.fetch(second["id"])["status"] == "processed"
    payment = sandbox.client.payment.fetch(payment_id)
    assert (payment["status"], payment["refund_status"]) == ("refunded", "full")

    sandbox.deliver()
    assert receiver.events() == [
        "refund.created", "refund.failed", "refund.created", "refund.processed",
    ]  # fmt: skip
    envelopes = [_assert_signed(r) for r in receiver.requests]
    for envelope in envelopes:
        _assert_documented_shape(envelope)
    assert [e["payload"]["refund"]["entity"]["status"] for e in envelopes] == [
        "pending", "failed", "pending", "processed",
    ]  # fmt: skip

    again = sandbox.http.post(f"{sandbox.url}/_sandbox/payments/{second['id']}/refund-status",
                              json={"status": "failed"}, timeout=10)  # fmt: skip
    assert again.status_code == 400  # processed is final


def test_automatic_refunds_send_created_and_processed(sandbox, receiver):
    payment_id = sandbox.pay(new_order(sandbox)["id"])["razorpay_payment_id"]
    sandbox.client.payment.refund(payment_id, {"amount": 10000})
    sandbox.deliver()
    assert receiver.events()[-2:] == ["refund.created", "refund.processed"]


def test_webhooks_without_a_url_are_recorded_as_skipped(start_sandbox):
    sandbox = start_sandbox(webhook_url=None)
    sandbox.pay(new_order(sandbox)["id"], outcome="failure")
    assert [d["status"] for d in sandbox.deliveries()] == ["skipped"]


def test_settings_change_at_run_time(sandbox):
    assert sandbox.control("/settings", {"auto_capture": False})["auto_capture"] is False
    payment_id = sandbox.pay(new_order(sandbox)["id"])["razorpay_payment_id"]
    assert sandbox.client.payment.fetch(payment_id)["status"] == "authorized"
    response = sandbox.http.post(f"{sandbox.url}/_sandbox/settings", json={"nope": 1}, timeout=10)
    assert response.status_code == 400


# -- checkout page (Flask test client) ------------------------------------------------------------


@pytest.fixture
def checkout_app():
    app = create_sandbox_app(KEY_ID, KEY_SECRET, None, WEBHOOK_SECRET, background_delivery=False)
    yield app
    sandbox_of(app).close()


def _order_for(app, amount=50000) -> dict:
    return sandbox_of(app).ledger.create_order({"amount": amount, "currency": "INR"})


CALLBACK = "http://portal.test/payments/callback?appointment=7"
CANCEL = "http://portal.test/appointments/7/pay?from=checkout"


def _checkout_url(order_id: str, **extra) -> str:
    query = {"callback_url": CALLBACK, "cancel_url": CANCEL, "name": "CareConnect Clinic",
             "description": "Consultation with Dr. Rao", "prefill_email": "asha@example.com",
             **extra}  # fmt: skip
    return f"/checkout/{order_id}?" + "&".join(
        f"{k}={requests.utils.quote(v, safe='')}" for k, v in query.items()
    )


def test_the_checkout_page_shows_the_amount_and_three_accessible_choices(checkout_app):
    order = _order_for(checkout_app)
    response = checkout_app.test_client().get(_checkout_url(order["id"]))
    assert response.status_code == 200
    html = response.get_data(as_text=True)

    assert '<html lang="en">' in html
    assert "<h1>CareConnect Clinic</h1>" in html
    assert "₹500.00" in html
    assert ">Pay ₹500.00 (succeeds)</button>" in html
    assert ">Fail the payment</button>" in html
    assert ">Close the window</button>" in html
    assert "<legend>Payment method</legend>" in html
    for method in ("card", "upi", "netbanking"):
        assert f'<label for="method-{method}">' in html
        assert f'id="method-{method}"' in html
    assert "<script>" not in html  # no inline scripts anywhere
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_paying_in_the_checkout_hands_signed_fields_to_the_callback_url(checkout_app):
    order = _order_for(checkout_app)
    browser = checkout_app.test_client()
    form = {"callback_url": CALLBACK, "cancel_url": CANCEL, "name": "CareConnect Clinic",
            "action": "pay", "method": "upi"}  # fmt: skip
    response = browser.post(f"/checkout/{order['id']}", data=form)
    assert response.status_code == 303
    page = browser.get(response.headers["Location"])
    assert page.status_code == 200
    html = page.get_data(as_text=True)

    action = re.search(r'<form id="razorpay-callback" method="get" action="([^"]+)"', html)
    assert action is not None
    assert action.group(1).replace("&amp;", "&") == CALLBACK
    fields = dict(re.findall(r'<input type="hidden" name="(razorpay_\w+)" value="([^"]+)">', html))
    assert list(fields) == sample_keys("checkout-handler-response.json")
    assert fields["razorpay_order_id"] == order["id"]
    utility = razorpay.Client(auth=(KEY_ID, KEY_SECRET)).utility
    assert utility.verify_payment_signature(fields) is True
    assert re.search(r'<button type="submit"[^>]*>Continue to CareConnect Clinic</button>', html)

    script = re.search(r'<script src="([^"]+)" defer></script>', html)
    assert script is not None
    assert script.group(1).endswith("/checkout.js")
    js = browser.get(script.group(1))
    assert js.status_code == 200
    assert b"form.submit()" in js.data

    ledger = sandbox_of(checkout_app).ledger
    payment = ledger.payment(fields["razorpay_payment_id"])
    assert (payment["status"], payment["method"]) == ("captured", "upi")
    assert ledger.order(order["id"])["status"] == "paid"
    assert browser.get(response.headers["Location"]).get_data(as_text=True) == html  # reload
    assert len(ledger.order_payments(order["id"])) == 1
    again = browser.get(_checkout_url(order["id"]))
    assert again.status_code == 409  # a paid order's checkout does not offer to pay again


def test_failing_in_the_checkout_returns_to_the_cancel_url(checkout_app):
    order = _order_for(checkout_app)
    form = {"callback_url": CALLBACK, "cancel_url": CANCEL, "action": "fail"}
    response = checkout_app.test_client().post(f"/checkout/{order['id']}", data=form)
    assert response.status_code == 303
    target = urlsplit(response.headers["Location"])
    query = parse_qs(target.query)
    assert target.geturl().startswith("http://portal.test/appointments/7/pay?")
    assert query["from"] == ["checkout"]
    assert query["error"] == ["payment_failed"]
    payment = sandbox_of(checkout_app).ledger.payment(query["razorpay_payment_id"][0])
    assert payment["status"] == "failed"
    events = [e["event"] for e in sandbox_of(checkout_app).store.events.values()]
    assert events == ["payment.failed"]


def test_closing_the_checkout_returns_to_the_cancel_url_without_a_payment(checkout_app):
    order = _order_for(checkout_app)
    form = {"callback_url": CALLBACK, "cancel_url": CANCEL, "action": "close"}
    response = checkout_app.test_client().post(f"/checkout/{order['id']}", data=form)
    assert response.status_code == 303
    assert parse_qs(urlsplit(response.headers["Location"]).query)["error"] == ["closed"]
    assert sandbox_of(checkout_app).ledger.order_payments(order["id"]) == []


def test_the_checkout_refuses_what_it_cannot_serve(checkout_app):
    browser = checkout_app.test_client()
    order = _order_for(checkout_app)
    assert browser.get(_checkout_url("order_AAAAAAAAAAAAAA")).status_code == 404
    assert browser.get(f"/checkout/{order['id']}").status_code == 400  # no callback_url
    assert browser.get(_checkout_url(order["id"], callback_url="javascript:alert(1)")
                       ).status_code == 400  # fmt: skip
    assert browser.get(_checkout_url(order["id"], key="rzp_test_other")).status_code == 400


# -- state, safety, command line ------------------------------------------------------------------


def test_a_state_file_keeps_orders_payments_and_events_across_a_restart(tmp_path):
    state = tmp_path / "razorpay.json"
    auth = {"Authorization": requests.auth._basic_auth_str(KEY_ID, KEY_SECRET)}
    first = create_sandbox_app(KEY_ID, KEY_SECRET, None, WEBHOOK_SECRET, state_file=str(state),
                               background_delivery=False)  # fmt: skip
    order = first.test_client().post("/v1/orders", json={"amount": 1000, "currency": "INR"},
                                     headers=auth).get_json()  # fmt: skip
    paid = first.test_client().post(f"/_sandbox/orders/{order['id']}/pay", json={},
                                    headers=auth).get_json()  # fmt: skip
    sandbox_of(first).close()

    second = create_sandbox_app(KEY_ID, KEY_SECRET, None, WEBHOOK_SECRET, state_file=str(state),
                                background_delivery=False)  # fmt: skip
    browser = second.test_client()
    assert browser.get(f"/v1/orders/{order['id']}", headers=auth).get_json()["status"] == "paid"
    payment = browser.get(f"/v1/payments/{paid['razorpay_payment_id']}", headers=auth)
    assert payment.get_json()["status"] == "captured"
    log = browser.get("/_sandbox/webhooks", headers=auth).get_json()
    assert log["count"] == 3
    sandbox_of(second).close()


def test_the_sandbox_refuses_to_start_in_production(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    with pytest.raises(SandboxRefused, match="PORTAL_ENV=production"):
        create_sandbox_app(KEY_ID, KEY_SECRET, None, WEBHOOK_SECRET)


def test_the_command_line_flags():
    args = parse_args([
        "--port", "5055", "--key-id", "rzp_test_x", "--key-secret", "s", "--webhook-url",
        "http://127.0.0.1:5000/api/v1/payments/webhook", "--webhook-secret", "w",
        "--state-file", "instance/rzp.json", "--no-auto-capture", "--manual-refunds",
        "--retry-delays", "0.5,1",
    ])  # fmt: skip
    assert (args.port, args.key_id, args.key_secret, args.webhook_secret) == (
        5055, "rzp_test_x", "s", "w",
    )  # fmt: skip
    assert args.webhook_url == "http://127.0.0.1:5000/api/v1/payments/webhook"
    assert (args.state_file, args.auto_capture, args.auto_process_refunds) == (
        "instance/rzp.json", False, False,
    )  # fmt: skip
    assert args.retry_delays == (0.5, 1.0)


def test_python_m_runs_the_sandbox_and_stops_on_sigterm(tmp_path):
    env = {**os.environ, "PORTAL_ENV": "development", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "portal.sandbox.razorpay", "--port", "0", "--key-id", KEY_ID,
         "--key-secret", KEY_SECRET, "--state-file", str(tmp_path / "state.json")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)  # bounded wait for the banner
        assert ready, "the sandbox printed nothing within 60 s"
        line = process.stdout.readline()
        url = re.search(r"on (http://127\.0\.0\.1:\d+)", line).group(1)
        client = razorpay.Client(auth=(KEY_ID, KEY_SECRET), base_url=url)
        order = client.order.create({"amount": 100, "currency": "INR"})
        assert client.order.fetch(order["id"])["amount"] == 100
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
        process.stdout.close()
    assert order["id"] in (tmp_path / "state.json").read_text()


def test_the_command_line_refuses_production(monkeypatch, capsys):
    monkeypatch.setenv("PORTAL_ENV", "production")
    assert main(["--port", "0"]) == 2
    assert "PORTAL_ENV=production" in capsys.readouterr().err


def test_sandbox_server_serves_in_a_thread_for_other_tests():
    app = create_sandbox_app(KEY_ID, KEY_SECRET, None, WEBHOOK_SECRET)
    with SandboxServer(app) as server:
        client = razorpay.Client(auth=(KEY_ID, KEY_SECRET), base_url=server.base_url)
        assert client.order.all()["count"] == 0


# -- payment links --------------------------------------------------------------------------------
# Shapes from razorpay.com/docs/api/payments/payment-links (entity: alphabetical keys) and the
# payment_link.* webhooks (contains payment_link, order, payment).

LINK_ID_RE = re.compile(r"^plink_[0-9A-Za-z]{14}$")
_LINK = [
    "accept_partial", "amount", "amount_paid", "cancelled_at", "created_at", "currency",
    "customer", "description", "expire_by", "expired_at", "first_min_partial_amount", "id",
    "notes", "notify", "payments", "reference_id", "reminder_enable", "reminders", "short_url",
    "status", "updated_at", "upi_link", "user_id",
]  # fmt: skip
_LINK_PAYMENT = ["amount", "created_at", "method", "payment_id", "plink_id", "status",
                 "updated_at"]  # fmt: skip


def new_link(sandbox: LiveSandbox, reference_id: str = "appt_1", **extra) -> dict:
    return sandbox.client.payment_link.create({
        "amount": 50000, "currency": "INR", "accept_partial": False,
        "reference_id": reference_id, "description": "Consultation with Dr. Rao",
        "customer": {"name": "Asha Rao", "contact": "+919876543210",
                     "email": "asha@example.com"},
        "notify": {"sms": False, "email": False}, "reminder_enable": False,
        "notes": {"appointment_id": "42"}, **extra,
    })  # fmt: skip


def test_a_payment_link_is_created_fetched_and_listed_through_the_client(sandbox):
    before = int(time.time())
    link = new_link(sandbox, expire_by=before + 20 * 60)

    assert list(link) == _LINK
    assert LINK_ID_RE.match(link["id"])
    assert (link["amount"], link["amount_paid"], link["status"]) == (50000, 0, "created")
    assert link["customer"] == {"contact": "+919876543210", "email": "asha@example.com",
                                "name": "Asha Rao"}  # fmt: skip
    assert link["notify"] == {"email": False, "sms": False}
    assert link["notes"] == {"appointment_id": "42"}
    assert (link["reference_id"], link["expire_by"], link["payments"]) == (
        "appt_1", before + 20 * 60, [])
    assert re.match(rf"^{re.escape(sandbox.url)}/i/[0-9A-Za-z]{{8}}$", link["short_url"])
    assert before <= link["created_at"] == link["updated_at"] <= int(time.time())
    assert sandbox.client.payment_link.fetch(link["id"]) == link

    other = new_link(sandbox, reference_id="appt_2")
    assert sandbox.client.payment_link.all() == {"payment_links": [other, link]}
    assert sandbox.client.payment_link.all({"reference_id": "appt_1"}) == {"payment_links": [link]}
    assert sandbox.client.payment_link.all({"reference_id": "nobody"}) == {"payment_links": []}


def test_a_reference_id_is_used_once_as_razorpay_says(sandbox):
    new_link(sandbox)
    with pytest.raises(BadRequestError, match="reference ID already attempted"):
        new_link(sandbox)
    response = sandbox.http.post(f"{sandbox.url}/v1/payment_links/", timeout=10,
                                 json={"amount": 50000, "reference_id": "appt_1"})  # fmt: skip
    assert response.status_code == 400
    assert raw_error(response)["field"] == "reference_id"


@pytest.mark.parametrize(("body", "field", "description"), [
    ({}, "amount", "The amount field is required."),
    ({"amount": 50}, "amount", "The amount must be at least INR 1.00"),
    ({"amount": 50000, "currency": "USD"}, "currency", "The selected currency is invalid."),
    ({"amount": 50000, "colour": "red"}, "colour", "colour is/are not required"),
    ({"amount": 50000, "reference_id": "x" * 41}, "reference_id", "may not be greater than 40"),
    ({"amount": 50000, "callback_url": "https://portal.test/paid"}, "callback_method",
     "callback_method should be get"),
    ({"amount": 50000, "callback_url": "javascript:alert(1)", "callback_method": "get"},
     "callback_url", "The callback url format is invalid."),
    ({"amount": 50000, "first_min_partial_amount": 100}, "first_min_partial_amount",
     "only allowed with accept_partial"),
    ({"amount": 50000, "customer": {"name": "A", "age": 3}}, "age", "is/are not required"),
    ({"amount": 50000, "upi_link": True}, "upi_link", "not supported in Test Mode"),
    ({"amount": 50000, "expire_by": 1}, "expire_by", "atleast 15 minutes in future"),
])  # fmt: skip
def test_invalid_payment_links_are_refused_naming_the_field(sandbox, body, field, description):
    response = sandbox.http.post(f"{sandbox.url}/v1/payment_links", json=body, timeout=10)
    assert response.status_code == 400
    error = raw_error(response)
    assert error["field"] == field
    assert description in error["description"]


def test_paying_a_link_makes_an_order_and_a_captured_payment_then_payment_link_paid(
        sandbox, receiver):
    link = new_link(sandbox)
    fields = sandbox.control(f"/payment_links/{link['id']}/pay", {"method": "upi"})

    assert list(fields) == ["razorpay_payment_id", "razorpay_payment_link_id",
                            "razorpay_payment_link_reference_id",
                            "razorpay_payment_link_status", "razorpay_signature"]
    assert sandbox.client.utility.verify_payment_link_signature({
        "razorpay_payment_id": fields["razorpay_payment_id"], "payment_link_id": link["id"],
        "payment_link_reference_id": "appt_1", "payment_link_status": "paid",
        "razorpay_signature": fields["razorpay_signature"]}) is True
    paid = sandbox.client.payment_link.fetch(link["id"])
    assert (paid["status"], paid["amount_paid"]) == ("paid", 50000)
    assert list(paid) == [*_LINK[:14], "order_id", *_LINK[14:]]
    [entry] = paid["payments"]
    assert list(entry) == _LINK_PAYMENT
    assert (entry["payment_id"], entry["plink_id"], entry["status"], entry["method"]) == (
        fields["razorpay_payment_id"], link["id"], "captured", "upi")
    order = sandbox.client.order.fetch(paid["order_id"])
    assert (order["status"], order["receipt"], order["notes"]) == (
        "paid", "appt_1", {"appointment_id": "42"})
    payment = sandbox.client.payment.fetch(fields["razorpay_payment_id"])
    assert (payment["status"], payment["order_id"], payment["notes"]) == (
        "captured", order["id"], {"appointment_id": "42"})
    assert sandbox.client.payment_link.all({"payment_id": payment["id"]}) == {
        "payment_links": [paid]}

    sandbox.deliver()
    assert receiver.events() == ["payment.authorized", "payment.captured", "order.paid",
                                 "payment_link.paid"]
    envelope = _assert_signed(receiver.requests[-1])
    assert envelope["contains"] == ["payment_link", "order", "payment"]
    assert list(envelope["payload"]) == envelope["contains"]
    assert envelope["payload"]["payment_link"]["entity"] == paid
    assert envelope["payload"]["order"]["entity"] == order
    assert list(envelope["payload"]["payment"]["entity"]) == _WEBHOOK_PAYMENT
    assert envelope["payload"]["payment"]["entity"]["id"] == payment["id"]

    with pytest.raises(BadRequestError, match="already paid/partially paid"):
        sandbox.client.payment_link.cancel(link["id"])
    response = sandbox.http.post(f"{sandbox.url}/_sandbox/payment_links/{link['id']}/pay",
                                 json={}, timeout=10)  # fmt: skip
    assert response.status_code == 400
    assert "is paid; no payment can be made" in raw_error(response)["description"]


def test_a_failed_attempt_leaves_the_link_payable(sandbox, receiver):
    link = new_link(sandbox)
    failed = sandbox.control(f"/payment_links/{link['id']}/pay", {"outcome": "failure"})
    assert failed["error"]["metadata"]["payment_link_id"] == link["id"]
    assert sandbox.client.payment_link.fetch(link["id"])["status"] == "created"

    fields = sandbox.control(f"/payment_links/{link['id']}/pay", {})
    again = sandbox.client.payment_link.fetch(link["id"])
    assert again["status"] == "paid"
    assert [p["payment_id"] for p in again["payments"]] == [fields["razorpay_payment_id"]]
    assert len(sandbox.client.order.payments(again["order_id"])["items"]) == 2
    sandbox.deliver()
    assert receiver.events()[0] == "payment.failed"
    assert receiver.events()[-1] == "payment_link.paid"


def test_cancelling_and_expiring_links_send_their_webhooks(sandbox, receiver):
    cancelled = sandbox.client.payment_link.cancel(new_link(sandbox, "appt_1")["id"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_at"] >= cancelled["created_at"]
    with pytest.raises(BadRequestError, match="cannot cancel or expire an expired link"):
        sandbox.client.payment_link.cancel(cancelled["id"])
    expired = sandbox.control(f"/payment_links/{new_link(sandbox, 'appt_2')['id']}/expire")
    assert (expired["status"], expired["expired_at"] > 0) == ("expired", True)
    response = sandbox.http.post(f"{sandbox.url}/_sandbox/payment_links/{expired['id']}/pay",
                                 json={}, timeout=10)  # fmt: skip
    assert "is expired" in raw_error(response)["description"]

    sandbox.deliver()
    assert receiver.events() == ["payment_link.cancelled", "payment_link.expired"]
    for request, link in zip(receiver.requests, (cancelled, expired), strict=True):
        envelope = _assert_signed(request)
        assert envelope["contains"] == ["payment_link"]
        assert envelope["payload"]["payment_link"]["entity"] == link


def test_expire_by_follows_the_sandbox_clock_unless_switched_off(start_sandbox, receiver):
    sandbox = start_sandbox(enforce_link_expiry=False)
    past = new_link(sandbox, expire_by=int(time.time()) - 60)  # a test's clock may be elsewhere
    assert sandbox.client.payment_link.fetch(past["id"])["status"] == "created"

    sandbox.control("/settings", {"enforce_link_expiry": True})
    assert sandbox.client.payment_link.fetch(past["id"])["status"] == "expired"
    with pytest.raises(BadRequestError, match="atleast 15 minutes"):
        new_link(sandbox, "appt_2", expire_by=int(time.time()) + 14 * 60)
    with pytest.raises(BadRequestError, match="six months"):
        new_link(sandbox, "appt_2", expire_by=int(time.time()) + 200 * 24 * 3600)
    sandbox.deliver()
    assert receiver.events() == ["payment_link.expired"]


def test_the_short_url_page_takes_the_payment_and_goes_to_the_callback(checkout_app):
    links = sandbox_of(checkout_app).links
    link = links.create({"amount": 50000, "reference_id": "appt_9", "description": "Dr. Rao",
                         "customer": {"name": "Asha Rao"}, "callback_url": CALLBACK,
                         "callback_method": "get"}, base_url="http://sandbox.test/")  # fmt: skip
    path = urlsplit(link["short_url"]).path
    browser = checkout_app.test_client()

    page = browser.get(path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert ">Pay ₹500.00 (succeeds)</button>" in html
    assert ">Fail the payment</button>" in html
    assert "Asha Rao" in html

    failed = browser.post(path, data={"action": "fail"})
    assert (failed.status_code, links.link(link["id"])["status"]) == (200, "created")
    paid = browser.post(path, data={"action": "pay", "method": "upi"})
    assert paid.status_code == 303
    target = urlsplit(paid.headers["Location"])
    assert target.geturl().startswith("http://portal.test/payments/callback?appointment=7&")
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert query["razorpay_payment_link_status"] == "paid"
    utility = razorpay.Client(auth=(KEY_ID, KEY_SECRET)).utility
    assert utility.verify_payment_link_signature({
        "razorpay_payment_id": query["razorpay_payment_id"], "payment_link_id": link["id"],
        "payment_link_reference_id": "appt_9", "payment_link_status": "paid",
        "razorpay_signature": query["razorpay_signature"]}) is True
    again = browser.get(path)
    assert "This payment link is paid" in again.get_data(as_text=True)
    assert browser.post(path, data={"action": "pay"}).status_code == 409
    assert browser.get("/i/nosuchcode").status_code == 404


def test_a_state_file_keeps_payment_links_across_a_restart(tmp_path):
    state = tmp_path / "razorpay.json"
    first = create_sandbox_app(KEY_ID, KEY_SECRET, None, WEBHOOK_SECRET, state_file=str(state),
                               background_delivery=False)  # fmt: skip
    link = sandbox_of(first).links.create({"amount": 1000}, base_url="http://sandbox.test")
    sandbox_of(first).close()
    second = create_sandbox_app(KEY_ID, KEY_SECRET, None, WEBHOOK_SECRET, state_file=str(state),
                                background_delivery=False)  # fmt: skip
    assert sandbox_of(second).links.link(link["id"]) == link
    sandbox_of(second).close()


# -- Route: linked accounts, transfers, holds, reversals, settlements ------------------------------

ACCOUNT_ID_RE = re.compile(r"^acc_[0-9A-Za-z]{14}$")
TRANSFER_ID_RE = re.compile(r"^trf_[0-9A-Za-z]{14}$")
REVERSAL_ID_RE = re.compile(r"^rvrsl_[0-9A-Za-z]{14}$")
SETTLEMENT_ID_RE = re.compile(r"^setl_[0-9A-Za-z]{14}$")
# Key lists of razorpay.com/docs/api/payments/route and webhooks/route.
_ACCOUNT = [
    "id", "type", "status", "email", "profile", "notes", "created_at", "phone", "contact_name",
    "reference_id", "business_type", "legal_business_name", "customer_facing_business_name",
    "legal_info",
]  # fmt: skip
_PRODUCT = [
    "requested_configuration", "active_configuration", "requirements", "tnc", "id",
    "product_name", "activation_status", "account_id", "requested_at",
]  # fmt: skip
_TRANSFER_CREATED = [
    "id", "entity", "status", "source", "recipient", "amount", "currency", "amount_reversed",
    "notes", "linked_account_notes", "on_hold", "on_hold_until", "recipient_settlement_id",
    "created_at", "processed_at", "error",
]  # fmt: skip
_TRANSFER = [
    "id", "entity", "status", "source", "recipient", "amount", "currency", "amount_reversed",
    "fees", "tax", "notes", "linked_account_notes", "on_hold", "on_hold_until",
    "settlement_status", "recipient_settlement_id", "created_at", "processed_at", "error",
]  # fmt: skip
_WEBHOOK_TRANSFER = [
    "id", "entity", "status", "settlement_status", "source", "recipient", "amount", "currency",
    "amount_reversed", "notes", "fees", "tax", "on_hold", "on_hold_until",
    "recipient_settlement_id", "created_at", "linked_account_notes", "processed_at", "error",
]  # fmt: skip
_REVERSAL = [
    "id", "entity", "transfer_id", "amount", "fee", "tax", "currency", "notes", "initiator_id",
    "customer_refund_id", "created_at",
]  # fmt: skip
_SETTLEMENT = ["id", "entity", "amount", "status", "fees", "tax", "utr", "created_at"]


def linked_account(sandbox: LiveSandbox, email: str = "asha@example.com",
                   activate: bool = True) -> dict:
    account = sandbox.client.account.create({
        "email": email, "phone": "+919820000001", "type": "route", "reference_id": "doctor-1",
        "legal_business_name": "Asha Mehta", "business_type": "individual",
        "contact_name": "Asha Mehta",
        "profile": {"category": "healthcare", "subcategory": "doctors", "addresses": {
            "registered": {"street1": "12 Hill Road", "street2": "Bandra", "city": "Mumbai",
                           "state": "MAHARASHTRA", "postal_code": "400050", "country": "IN"}}},
    })
    if activate:
        product = sandbox.client.product.requestProductConfiguration(
            account["id"], {"product_name": "route", "tnc_accepted": True})
        sandbox.client.product.edit(account["id"], product["id"], {"settlements": {
            "account_number": "50100012345678", "ifsc_code": "HDFC0000317",
            "beneficiary_name": "Asha Mehta"}, "tnc_accepted": True})
    return account


def captured_payment(sandbox: LiveSandbox, amount: int = 50000) -> str:
    return sandbox.pay(new_order(sandbox, amount)["id"])["razorpay_payment_id"]


def transfer_to(sandbox: LiveSandbox, payment_id: str, account_id: str, amount: int = 45000,
                on_hold: bool = True) -> dict:
    made = sandbox.client.payment.transfer(payment_id, {"transfers": [{
        "account": account_id, "amount": amount, "currency": "INR",
        "notes": {"payment": "ours-1"}, "linked_account_notes": ["payment"],
        "on_hold": on_hold}]})
    assert made["entity"] == "collection"
    assert made["count"] == 1
    return made["items"][0]


def test_a_linked_account_is_onboarded_with_its_route_product(sandbox, receiver):
    account = linked_account(sandbox, activate=False)
    assert ACCOUNT_ID_RE.match(account["id"])
    assert list(account) == _ACCOUNT
    assert (account["status"], account["notes"]) == ("created", [])

    product = sandbox.client.product.requestProductConfiguration(
        account["id"], {"product_name": "route", "tnc_accepted": True})
    assert list(product) == _PRODUCT
    assert re.match(r"^acc_prd_[0-9A-Za-z]{14}$", product["id"])
    assert product["activation_status"] == "needs_clarification"
    assert {r["field_reference"] for r in product["requirements"]} == {
        "settlements.beneficiary_name", "settlements.account_number", "settlements.ifsc_code"}

    done = sandbox.client.product.edit(account["id"], product["id"], {"settlements": {
        "account_number": "50100012345678", "ifsc_code": "HDFC0000317",
        "beneficiary_name": "Asha Mehta"}, "tnc_accepted": True})
    assert (done["activation_status"], done["requirements"]) == ("activated", [])
    assert sandbox.client.product.fetch(account["id"], product["id"])["id"] == product["id"]

    sandbox.deliver()
    (envelope,) = [_assert_signed(r) for r in receiver.requests]
    assert envelope["event"] == "product.route.activated"
    assert envelope["account_id"] == account["id"]  # the linked account's event
    assert envelope["payload"]["merchant_product"]["entity"] == {
        "id": product["id"], "merchant_id": account["id"], "activation_status": "activated"}


@pytest.mark.parametrize(("change", "field", "description"), [
    ({"business_type": "xyz"}, "business_type", "Invalid business type: xyz"),
    ({"phone": "12"}, "phone", "The phone must be between 8 and 15 digits."),
    ({"legal_business_name": "Al"}, "legal_business_name",
     "The legal_business_name must be between 4 and 200 characters."),
    ({"type": "standard"}, "type", "Invalid type: standard"),
])  # fmt: skip
def test_invalid_linked_accounts_are_refused_naming_the_field(sandbox, change, field,
                                                              description):
    body = {"email": "x@example.com", "phone": "9000090000", "type": "route",
            "legal_business_name": "Acme Corp", "business_type": "individual",
            "profile": {"category": "healthcare", "subcategory": "doctors", "addresses": {
                "registered": {"street1": "1 Road", "city": "Pune", "state": "MAHARASHTRA",
                               "postal_code": "411001", "country": "IN"}}}, **change}
    response = sandbox.http.post(f"{sandbox.url}/v2/accounts", json=body, timeout=10)
    assert response.status_code == 400
    error = raw_error(response)
    assert (error["field"], error["description"]) == (field, description)


def test_bad_bank_details_and_unknown_accounts_are_refused(sandbox):
    account = linked_account(sandbox, activate=False)
    product = sandbox.client.product.requestProductConfiguration(
        account["id"], {"product_name": "route", "tnc_accepted": True})
    with pytest.raises(BadRequestError, match="Invalid IFSC Code"):
        sandbox.client.product.edit(account["id"], product["id"], {"settlements": {
            "account_number": "50100012345678", "ifsc_code": "HDFC317",
            "beneficiary_name": "Asha Mehta"}})
    with pytest.raises(BadRequestError, match="Linked account does not exist"):
        sandbox.client.account.fetch("acc_Nobody00000000")
    with pytest.raises(BadRequestError, match="already exists"):
        linked_account(sandbox, activate=False)


def test_a_held_transfer_is_processed_listed_released_reversed_and_settled(sandbox, receiver):
    account = linked_account(sandbox)
    payment_id = captured_payment(sandbox)

    made = transfer_to(sandbox, payment_id, account["id"])
    assert list(made) == _TRANSFER_CREATED
    assert TRANSFER_ID_RE.match(made["id"])
    assert (made["status"], made["on_hold"], made["source"], made["recipient"]) == (
        "pending", True, payment_id, account["id"])  # as documented: made pending

    listed = sandbox.client.payment.transfers(payment_id)
    assert [t["id"] for t in listed["items"]] == [made["id"]]
    assert list(listed["items"][0]) == _TRANSFER
    assert (listed["items"][0]["status"], listed["items"][0]["settlement_status"]) == (
        "processed", "on_hold")
    assert sandbox.control("/settlements/run")["count"] == 0  # held: nothing to settle

    released = sandbox.client.transfer.edit(made["id"], {"on_hold": False})
    assert (released["on_hold"], released["settlement_status"]) == (False, "pending")
    reversal = sandbox.client.transfer.reverse(made["id"], {"amount": 9000})
    assert list(reversal) == _REVERSAL
    assert REVERSAL_ID_RE.match(reversal["id"])
    fetched = sandbox.client.transfer.fetch(made["id"])
    assert (fetched["status"], fetched["amount_reversed"]) == ("partially_reversed", 9000)
    assert [r["id"] for r in sandbox.client.transfer.reversals(made["id"])["items"]] == [
        reversal["id"]]

    (settlement,) = sandbox.control("/settlements/run")["items"]
    assert list(settlement) == _SETTLEMENT
    assert SETTLEMENT_ID_RE.match(settlement["id"])
    assert settlement["amount"] == 45000 - 9000
    assert sandbox.client.settlement.fetch(settlement["id"]) == settlement
    settled = sandbox.client.transfer.all({"recipient_settlement_id": settlement["id"]})
    assert [t["id"] for t in settled["items"]] == [made["id"]]
    assert settled["items"][0]["settlement_status"] == "settled"

    sandbox.deliver()
    envelopes = {e["event"]: e for e in (_assert_signed(r) for r in receiver.requests)}
    processed = envelopes["transfer.processed"]
    assert list(processed) == _ENVELOPE
    assert processed["contains"] == ["transfer"]
    assert list(processed["payload"]["transfer"]["entity"]) == _WEBHOOK_TRANSFER
    assert processed["payload"]["transfer"]["entity"]["id"] == made["id"]
    setl = envelopes["settlement.processed"]
    assert setl["account_id"] == account["id"]
    assert setl["payload"]["settlement"]["entity"] == settlement


def test_transfers_are_refused_beyond_the_captured_amount_and_to_inactive_accounts(sandbox):
    account = linked_account(sandbox)
    waiting = linked_account(sandbox, email="waiting@example.com", activate=False)
    payment_id = captured_payment(sandbox, 50000)
    transfer_to(sandbox, payment_id, account["id"], 45000)
    with pytest.raises(BadRequestError, match="greater than the captured amount"):
        transfer_to(sandbox, payment_id, account["id"], 6000)
    with pytest.raises(BadRequestError, match="not activated"):
        transfer_to(sandbox, payment_id, waiting["id"], 1000)
    response = sandbox.http.post(f"{sandbox.url}/v1/payments/{payment_id}/transfers", json={
        "transfers": [{"account": account["id"], "amount": 50, "currency": "INR"}]}, timeout=10)
    assert raw_error(response)["description"] == "The transfers.0.amount must be at least 100."
    sandbox.control("/settings", {"auto_capture": False})
    uncaptured = sandbox.pay(new_order(sandbox)["id"])["razorpay_payment_id"]
    with pytest.raises(BadRequestError, match="captured payments"):
        transfer_to(sandbox, uncaptured, account["id"], 1000)


def test_a_pending_transfer_waits_for_the_control_and_can_fail(start_sandbox, receiver):
    sandbox = start_sandbox(auto_process_transfers=False)
    account = linked_account(sandbox)
    made = transfer_to(sandbox, captured_payment(sandbox), account["id"])
    assert sandbox.client.transfer.fetch(made["id"])["status"] == "pending"
    with pytest.raises(BadRequestError, match="not been processed"):
        sandbox.client.transfer.reverse(made["id"], {})
    failed = sandbox.control(f"/transfers/{made['id']}/status", {"status": "failed"})
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "BAD_REQUEST_TRANSFER_INSUFFICIENT_BALANCE"
    sandbox.deliver()
    assert receiver.events()[-1] == "transfer.failed"


def test_razorpays_clarification_and_suspension_reach_the_linked_account(sandbox, receiver):
    account = linked_account(sandbox)
    product = sandbox.control(f"/accounts/{account['id']}/activation",
                              {"status": "needs_clarification"})
    assert product["activation_status"] == "needs_clarification"
    sandbox.control(f"/accounts/{account['id']}/activation", {"status": "suspended"})
    assert sandbox.client.account.fetch(account["id"])["status"] == "suspended"
    sandbox.deliver()
    assert receiver.events() == ["product.route.activated", "product.route.needs_clarification"]


def test_the_state_file_keeps_linked_accounts_and_transfers(tmp_path):
    state = tmp_path / "razorpay.json"
    first = LiveSandbox(create_sandbox_app(KEY_ID, KEY_SECRET, None, WEBHOOK_SECRET,
                                           state_file=str(state), background_delivery=False))
    account = linked_account(first)
    made = transfer_to(first, captured_payment(first), account["id"])
    first.stop()
    second = LiveSandbox(create_sandbox_app(KEY_ID, KEY_SECRET, None, WEBHOOK_SECRET,
                                            state_file=str(state), background_delivery=False))
    assert second.client.account.fetch(account["id"])["id"] == account["id"]
    assert second.client.transfer.fetch(made["id"])["on_hold"] is True
    second.stop()
