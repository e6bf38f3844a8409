"""The two HMAC-SHA256 signatures Razorpay makes (hex digests), as documented:

- Checkout's ``razorpay_signature``: over ``f"{order_id}|{payment_id}"``, keyed with the API
  ``key_secret`` (payments/payment-gateway/web-integration/standard/integration-steps, 1.5);
- a webhook's ``X-Razorpay-Signature``: over the raw request body bytes, keyed with the webhook
  secret (webhooks/validate-test);
- a Payment Link callback's ``razorpay_signature``: over
  ``f"{payment_link_id}|{reference_id}|{status}|{payment_id}"``, keyed with the API ``key_secret``
  (payments/payment-links/apis, "Verify Signature"; what the razorpay client's
  ``utility.verify_payment_link_signature`` checks).
"""

from __future__ import annotations

import hashlib
import hmac


def payment_signature(order_id: str, payment_id: str, key_secret: str) -> str:
    message = f"{order_id}|{payment_id}".encode()
    return hmac.new(key_secret.encode(), message, hashlib.sha256).hexdigest()


def webhook_signature(raw_body: bytes, webhook_secret: str) -> str:
    return hmac.new(webhook_secret.encode(), raw_body, hashlib.sha256).hexdigest()


def payment_link_signature(
    link_id: str, reference_id: str, status: str, payment_id: str, key_secret: str
) -> str:
    message = f"{link_id}|{reference_id}|{status}|{payment_id}".encode()
    return hmac.new(key_secret.encode(), message, hashlib.sha256).hexdigest()
