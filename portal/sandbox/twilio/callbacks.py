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
import threading
import time
import uuid
from collections.abc import Sequence
from urllib.parse import urlencode

import requests
from twilio.request_validator import RequestValidator

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


class CallbackDispatcher:
    """Schedules and applies status changes; all shared state is under the store's lock."""

    def __init__(
        self,
        store: Store,
        auth_token: str,
        *,
        background: bool,
        delays: Sequence[float],
        timeout: float = CALLBACK_TIMEOUT,
    ) -> None:
        self.store = store
        self.validator = RequestValidator(auth_token)
        self.background = background
        self.delays = tuple(float(d) for d in delays) or (0.0,)
        if any(d < 0 for d in self.delays):
            raise ValueError("callback delays cannot be negative")
        self.timeout = timeout
        self.changed = threading.Condition(store.lock)
        self._thread: threading.Thread | None = None
        self._closed = False

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

    def _claim(self, *, only_due: bool) -> tuple[dict | None, float | None]:
        """Claim the next event that may happen now (the earliest pending change of its message),
        or say how long until one falls due. Call with the lock held."""
        now = time.time()
        waiting_on: set[str] = set()
        soonest = None
        for event in self.store.events:
            if event["state"] != "pending" or event["message_sid"] in waiting_on:
                continue
            waiting_on.add(event["message_sid"])  # later changes of this message wait
            if event["in_flight"]:
                continue
            if only_due and event["due_at"] > now:
                wait = event["due_at"] - now
                soonest = wait if soonest is None else min(soonest, wait)
                continue
            event["in_flight"] = True
            return event, None
        return None, soonest

    def signature(self, url: str, params: dict[str, str]) -> str:
        return self.validator.compute_signature(url, params)

    def _apply(self, event: dict) -> None:
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
        started = time.time()
        attempt: dict = {"at": started, "signature": signature, "status_code": None, "error": None}
        try:
            response = requests.post(
                url, data=urlencode(params), headers=headers, timeout=self.timeout,
                allow_redirects=False,
            )  # fmt: skip
            attempt["status_code"] = response.status_code
            response.close()
        except requests.RequestException as exc:
            attempt["error"] = f"{type(exc).__name__}: {exc}"
        attempt["duration_ms"] = round((time.time() - started) * 1000)
        code = attempt["status_code"]
        ok = code is not None and 200 <= code < 300
        if not ok:
            log.warning("status callback %s (%s) to %s: %s", event["message_sid"],
                        event["status"], url, attempt["error"] or code)  # fmt: skip
        with self.changed:
            event.update(state="posted" if ok else "failed", in_flight=False, attempt=attempt)
            self.changed.notify_all()

    def _apply_safely(self, event: dict) -> None:
        try:
            self._apply(event)
        except Exception:  # one bad callback never stops the others
            log.exception("status change %s of %s crashed", event["status"], event["message_sid"])
            with self.changed:
                event.update(state="failed", in_flight=False)
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
            self._apply_safely(event)
        return pending

    # -- the background thread ---------------------------------------------------------------

    def wake(self) -> None:
        """Start the background thread if needed and tell it something changed."""
        with self.changed:
            if self.background and self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name="twilio-sandbox-callbacks", daemon=True
                )
                self._thread.start()
            self.changed.notify_all()

    def _run(self) -> None:
        while True:
            with self.changed:
                if self._closed:
                    return
                event, wait = self._claim(only_due=True)
                if event is None:
                    self.changed.wait(wait)
                    continue
            self._apply_safely(event)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the background thread for good (a callback under way finishes first)."""
        with self.changed:
            self._closed = True
            thread, self._thread = self._thread, None
            self.changed.notify_all()
        if thread is not None:
            thread.join(timeout)
