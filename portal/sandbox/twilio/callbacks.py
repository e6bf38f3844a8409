"""Status changes of accepted messages, and the status callbacks that report them.

Each accepted message gets its future in advance: ``sent`` then ``delivered`` (or
``undelivered``), or straight to ``failed``, the first after ``callback_delays[0]`` seconds and
the next ``callback_delays[1]`` seconds later (a missing delay repeats the last one). When a
change is due the message's status changes and, if the message had a ``StatusCallback``, Twilio's
form-encoded parameters are POSTed to that URL:

    AccountSid, ApiVersion, From, MessageSid, MessageStatus, SmsSid, SmsStatus, To,
    MessagingServiceSid (when one was used), ErrorCode (undelivered / failed only)

signed as Twilio signs them: ``X-Twilio-Signature`` is
``RequestValidator(auth_token).compute_signature(url, params)`` (base64 HMAC-SHA1 of the URL
exactly as given, query string included, followed by each parameter name and value sorted by
name), with ``I-Twilio-Idempotency-Token`` (one per callback) and ``User-Agent: TwilioProxy/1.1``.
Like Twilio, a callback is attempted once: an error answer or a refused connection is logged
(``GET /_sandbox/callbacks``), not retried. The changes of one message always happen in order.

With ``background=True`` a thread applies changes as they fall due; without it only
``deliver_now`` (``POST /_sandbox/callbacks/deliver``) does, at once, whatever their time.
Event states: ``pending``, ``posted`` (2xx), ``failed`` (another answer or no answer),
``skipped`` (no StatusCallback: only the status changed), ``dropped`` (message forgotten).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from portal.sandbox.common import BackgroundSender, succeeded
from portal.sandbox.twilio.messages import API_VERSION, apply_status
from portal.sandbox.twilio.store import Store

log = logging.getLogger(__name__)

CALLBACK_TIMEOUT = 5.0  # seconds for one POST
SIGNATURE_HEADER = "X-Twilio-Signature"
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
USER_AGENT = "TwilioProxy/1.1"
DONE_STATES = ("posted", "failed", "skipped", "dropped")


def callback_params(record: dict, status: str, error_code: int | None) -> dict[str, str]:
    """The form fields of one status callback, as Twilio sends them for outbound SMS."""
    params = {
        "AccountSid": record["account_sid"],
        "ApiVersion": API_VERSION,
        "From": record["from"] or "",
        "MessageSid": record["sid"],
        "MessageStatus": status,
        "SmsSid": record["sid"],
        "SmsStatus": status,
        "To": record["to"],
    }
    if record["messaging_service_sid"]:
        params["MessagingServiceSid"] = record["messaging_service_sid"]
    if error_code is not None:
        params["ErrorCode"] = str(error_code)
    return params


class CallbackDispatcher(BackgroundSender):
    """Schedules and applies status changes; all shared state is under the store's lock.

    The background thread is common.BackgroundSender's; an event is due at its ``due_at``, and
    only the earliest pending change of each message may go.
    """

    thread_name = "twilio-sandbox-callbacks"
    due_key = "due_at"
    logger = log

    def __init__(
        self,
        store: Store,
        auth_token: str,
        *,
        background: bool,
        delays: Sequence[float],
        timeout: float = CALLBACK_TIMEOUT,
    ) -> None:
        super().__init__(store.lock, background=background, timeout=timeout)
        self.store = store
        self.validator = RequestValidator(auth_token)
        self.delays = tuple(float(d) for d in delays) or (0.0,)
        if any(d < 0 for d in self.delays):
            raise ValueError("callback delays cannot be negative")

    # -- scheduling --------------------------------------------------------------------------

    def _delay(self, index: int) -> float:
        return self.delays[min(index, len(self.delays) - 1)]

    def schedule(self, record: dict) -> list[dict]:
        """The status changes of a message just accepted. Call with the lock held."""
        outcome = record["outcome"]
        if outcome["status"] == "failed":
            steps = [("failed", outcome["error_code"])]
        else:
            steps = [("sent", None), (outcome["status"], outcome["error_code"])]
        due = time.time()
        events = []
        for index, (status, error_code) in enumerate(steps):
            due += self._delay(index)
            events.append({
                "id": uuid.uuid4().hex,
                "seq": self.store.next_seq(),
                "message_sid": record["sid"],
                "status": status,
                "error_code": error_code,
                "url": record["status_callback"],
                "due_at": due,
                "state": "pending",
                "in_flight": False,
                "params": None,
                "attempt": None,
            })  # fmt: skip
        self.store.events.extend(events)
        self.wake()
        return events

    # -- applying ----------------------------------------------------------------------------

    def _candidates(self) -> Iterator[dict]:
        """The earliest pending change of each message, unless it is under way (lock held)."""
        waiting_on: set[str] = set()
        for event in self.store.events:
            if event["state"] != "pending" or event["message_sid"] in waiting_on:
                continue
            waiting_on.add(event["message_sid"])  # later changes of this message wait
            if not event["in_flight"]:
                yield event

    def signature(self, url: str, params: dict[str, str]) -> str:
        return self.validator.compute_signature(url, params)

    def _send(self, event: dict) -> None:
        """Change the message's status, then POST the callback (outside the lock)."""
        with self.changed:
            record = self.store.messages.get(event["message_sid"])
            if record is None:  # forgotten by /_sandbox/reset meanwhile
                event.update(state="dropped", in_flight=False)
                self.changed.notify_all()
                return
            apply_status(record, event["status"], event["error_code"])
            params = callback_params(record, event["status"], event["error_code"])
            event["params"] = params
            url = event["url"]
            if url is None:
                event.update(state="skipped", in_flight=False)
                self.changed.notify_all()
                return
        signature = self.signature(url, params)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            SIGNATURE_HEADER: signature,
            IDEMPOTENCY_HEADER: event["id"],
            "User-Agent": USER_AGENT,
        }
        attempt = self.post(url, urlencode(params), headers, signature=signature)
        ok = succeeded(attempt)
        if not ok:
            log.warning("status callback %s (%s) to %s: %s", event["message_sid"], event["status"],
                        url, attempt["error"] or attempt["status_code"])  # fmt: skip
        with self.changed:
            event.update(state="posted" if ok else "failed", in_flight=False, attempt=attempt)
            self.changed.notify_all()

    def deliver_now(self, wait: float = 10.0) -> list[dict]:
        """Apply every pending change now, whatever its due time, in order per message; waits up
        to ``wait`` seconds for changes the background thread is applying. Returns the events
        that were pending when called."""
        with self.changed:
            pending = [e for e in self.store.events if e["state"] == "pending"]
        deadline = time.monotonic() + wait
        while True:
            with self.changed:
                event, _ = self._claim(only_due=False)
                if event is None:
                    busy = any(e["in_flight"] for e in self.store.events)
                    remaining = deadline - time.monotonic()
                    if not busy or remaining <= 0:
                        break
                    self.changed.wait(remaining)
                    continue
            self._send_safely(event)
        return pending

    # -- the background thread (common.BackgroundSender) ---------------------------------------

    def _give_up(self, event: dict) -> None:
        event["state"] = "failed"

    def describe(self, event: dict) -> str:
        return f"status change {event['status']} of {event['message_sid']}"
