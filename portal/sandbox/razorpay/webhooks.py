"""Webhook events and their delivery to the merchant's endpoint, the way Razorpay sends them.

Each event is serialised once; that exact body is what every attempt (and every redelivery) sends,
with ``Content-Type: application/json``, ``X-Razorpay-Signature`` (hex HMAC-SHA256 of the body
bytes, keyed with the webhook secret) and ``x-razorpay-event-id`` (one id per event, the same on
retries and duplicates). Any answer outside 2xx, a redirect, a timeout or a refused connection
is a failed attempt; a background thread retries after each of ``retry_delays`` in turn and then
marks the delivery ``failed`` (Razorpay retries with exponential backoff for 24 hours).

Delivery statuses: ``pending`` (waiting for an attempt), ``delivered``, ``failed`` (retries used
up), ``dropped`` (lost on purpose by /_sandbox/webhooks/drop-next), ``skipped`` (no webhook URL).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator, Sequence

from portal.sandbox.common import BackgroundSender, succeeded
from portal.sandbox.razorpay.signing import webhook_signature
from portal.sandbox.razorpay.store import BASE62, ID_LENGTH, Store, new_id

log = logging.getLogger(__name__)

DELIVERY_TIMEOUT = 5.0  # seconds for one attempt
SIGNATURE_HEADER = "X-Razorpay-Signature"
EVENT_ID_HEADER = "x-razorpay-event-id"
USER_AGENT = "Razorpay-Webhook/v1 (portal sandbox)"


def account_id_for(key_id: str) -> str:
    """A stable ``acc_`` id for a key id (the envelope's ``account_id``)."""
    number = int.from_bytes(hashlib.sha256(key_id.encode()).digest(), "big")
    chars = []
    for _ in range(ID_LENGTH):
        number, digit = divmod(number, len(BASE62))
        chars.append(BASE62[digit])
    return "acc_" + "".join(chars)


def envelope_body(account_id: str, event: str, payload: dict, created_at: int) -> str:
    """The raw JSON body of one event, in the documented envelope's key order."""
    envelope = {
        "entity": "event",
        "account_id": account_id,
        "event": event,
        "contains": list(payload),
        "payload": payload,
        "created_at": created_at,
    }
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))


class WebhookDispatcher(BackgroundSender):
    """Records events in the Store and delivers them; all shared state is under the store lock.

    The background thread (common.BackgroundSender) runs while the ``background_delivery``
    setting is on; a delivery is due at its ``next_attempt_at``.
    """

    thread_name = "razorpay-sandbox-webhooks"
    due_key = "next_attempt_at"
    logger = log

    def __init__(
        self,
        store: Store,
        *,
        account_id: str,
        webhook_secret: str,
        retry_delays: Sequence[float],
        timeout: float = DELIVERY_TIMEOUT,
    ) -> None:
        super().__init__(store.lock, timeout=timeout)
        self.store = store
        self.account_id = account_id
        self.webhook_secret = webhook_secret
        self.retry_delays = tuple(float(d) for d in retry_delays)
        if any(d["status"] == "pending" for d in store.deliveries):
            self.wake()

    # -- recording ---------------------------------------------------------------------------

    @property
    def webhook_url(self) -> str | None:
        return self.store.settings.get("webhook_url") or None

    def record(self, event: str, payload: dict, *, account_id: str | None = None) -> dict:
        """A new event and its delivery (pending, dropped or skipped). Call with the lock held.

        ``account_id`` is the envelope's when the event is a linked account's (Route's
        settlements and products), not the merchant's own."""
        created_at = int(time.time())
        event_id = new_id("evt")
        body = envelope_body(account_id or self.account_id, event, payload, created_at)
        self.store.events[event_id] = {
            "id": event_id, "event": event, "created_at": created_at, "body": body,
        }  # fmt: skip
        if self.store.drop_next > 0:
            self.store.drop_next -= 1
            status = "dropped"
        elif self.webhook_url is None:
            status = "skipped"
        else:
            status = "pending"
        delivery = self._new_delivery(event_id, event, "original", status)
        self.wake()
        return delivery

    def _new_delivery(self, event_id: str, event: str, kind: str, status: str) -> dict:
        delivery = {
            "id": new_id("dlv"),
            "event_id": event_id,
            "event": event,
            "kind": kind,
            "status": status,
            "attempts": [],
            "next_attempt_at": time.time() if status == "pending" else None,
            "created_at": time.time(),
            "in_flight": False,
        }
        self.store.deliveries.append(delivery)
        return delivery

    def drop_next(self, count: int) -> int:
        with self.store.lock:
            self.store.drop_next += count
            self.store.save()
            return self.store.drop_next

    # -- sending -----------------------------------------------------------------------------

    def headers_for(self, event_id: str, body: bytes) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: webhook_signature(body, self.webhook_secret),
            EVENT_ID_HEADER: event_id,
            "User-Agent": USER_AGENT,
        }

    def _send(self, delivery: dict) -> None:
        """One POST of a claimed (``in_flight``) delivery, outside the lock; records the result."""
        with self.changed:
            url = self.webhook_url
            event = self.store.events.get(delivery["event_id"])
            if event is None:  # forgotten by /_sandbox/reset meanwhile
                delivery.update(in_flight=False, status="dropped", next_attempt_at=None)
                self.changed.notify_all()
                return
            body = event["body"].encode("utf-8")
        if url is None:
            result = {"at": time.time(), "url": None, "status_code": None,
                      "error": "no webhook URL configured", "duration_ms": 0}  # fmt: skip
        else:
            headers = self.headers_for(delivery["event_id"], body)
            result = self.post(url, body, headers, url=url)
        with self.changed:
            self._finish(delivery, result)
            self.store.save()
            self.changed.notify_all()

    def _finish(self, delivery: dict, result: dict) -> None:
        delivery["attempts"].append(result)
        delivery["in_flight"] = False
        if succeeded(result):
            delivery.update(status="delivered", next_attempt_at=None)
            return
        tries = len(delivery["attempts"])
        if result["url"] is not None and tries <= len(self.retry_delays):
            delivery["next_attempt_at"] = time.time() + self.retry_delays[tries - 1]
            delivery["status"] = "pending"
        else:
            delivery.update(status="failed", next_attempt_at=None)
            log.warning("webhook %s (%s) not delivered after %d attempts",
                        delivery["event_id"], delivery["event"], tries)  # fmt: skip

    def deliver_now(self, *, only_due: bool = False, wait: float = 10.0) -> list[dict]:
        """One attempt of every pending delivery (``only_due``: only those whose time has come),
        in this thread; then waits up to ``wait`` seconds for attempts the background thread had
        already started. Returns the deliveries touched."""
        with self.changed:
            now = time.time()
            claimed, busy = [], []
            for delivery in self.store.deliveries:
                if delivery["status"] != "pending":
                    continue
                if delivery["in_flight"]:
                    busy.append(delivery)
                elif not only_due or delivery["next_attempt_at"] <= now:
                    delivery["in_flight"] = True
                    claimed.append(delivery)
        for delivery in claimed:
            self._send(delivery)
        with self.changed:
            self.changed.wait_for(lambda: not any(d["in_flight"] for d in busy), timeout=wait)
        return claimed + busy

    def redeliver(self, event_id: str) -> dict | None:
        """Send an event again (same id, same body): a duplicate, or a late copy of a dropped one.
        Returns the new delivery after its first attempt; None if the event is unknown."""
        with self.changed:
            event = self.store.events.get(event_id)
            if event is None:
                return None
            status = "pending" if self.webhook_url else "skipped"
            delivery = self._new_delivery(event_id, event["event"], "redelivery", status)
            if status == "pending":
                delivery["in_flight"] = True
            self.store.save()
        if status == "pending":
            self._send(delivery)
        return delivery

    # -- the background thread (common.BackgroundSender) ---------------------------------------

    def background_enabled(self) -> bool:
        return self.store.settings.get("background_delivery", True)

    def _candidates(self) -> Iterator[dict]:
        return (d for d in self.store.deliveries if d["status"] == "pending" and not d["in_flight"])

    def _give_up(self, delivery: dict) -> None:
        delivery.update(status="failed", next_attempt_at=None)

    def describe(self, delivery: dict) -> str:
        return f"webhook delivery {delivery['id']}"
