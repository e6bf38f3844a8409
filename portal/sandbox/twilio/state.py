"""The Twilio stand-in's state: ``TwilioSandbox`` (credentials, store, status-change dispatcher
and mailbox), the Flask extension key it is kept under, and the accessors the blueprints and
servers use.

The blueprints (api.py, controls.py) import from here, not from app.py, so that app.py can
import them at its top.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

from flask import Flask, current_app

from portal.sandbox.common import basic_auth_is
from portal.sandbox.mailbox import Mailbox
from portal.sandbox.twilio.callbacks import CallbackDispatcher
from portal.sandbox.twilio.errors import http_error
from portal.sandbox.twilio.messages import magic_outcome, new_record, validate
from portal.sandbox.twilio.store import Store

EXTENSION = "twilio_sandbox"
DEFAULT_CALLBACK_DELAYS = (0.2, 0.5)
ACCOUNT_SID_RE = re.compile(r"^AC[0-9a-fA-F]{32}$")
OUTCOME_STATUSES = ("delivered", "undelivered", "failed")


class TwilioSandbox:
    """The stand-in's parts: credentials, store, status-change dispatcher and mailbox."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        mailbox_dir: str | os.PathLike | None,
        *,
        background_callbacks: bool = True,
        callback_delays: Sequence[float] = DEFAULT_CALLBACK_DELAYS,
    ) -> None:
        if not ACCOUNT_SID_RE.match(account_sid or ""):
            raise ValueError("The Twilio sandbox needs an account SID: AC and 32 hex digits.")
        if not auth_token:
            raise ValueError("The Twilio sandbox needs an auth token.")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.mailbox = Mailbox(mailbox_dir) if mailbox_dir else None
        self.store = Store()
        self.callbacks = CallbackDispatcher(
            self.store, auth_token, background=background_callbacks, delays=callback_delays
        )

    def authorized(self) -> bool:
        """Does the current request carry this account's SID and auth token (HTTP Basic)?"""
        return basic_auth_is(self.account_sid, self.auth_token)

    def create_message(self, params: Mapping[str, str]) -> dict:
        """Accept a message (or raise TwilioApiError as Twilio would): store it, write it to the
        dev mailbox and schedule its status changes. Returns the stored record."""
        with self.store.lock:
            if self.store.fail_next:
                status = self.store.fail_next.pop(0)
                raise http_error(status)
        fields = validate(params)
        with self.store.lock:
            forced = self.store.outcome_next.pop(0) if self.store.outcome_next else None
        outcome = (
            (forced["status"], forced["error_code"]) if forced else magic_outcome(fields["to"])
        )
        record = new_record(self.account_sid, fields, outcome)
        if self.mailbox is not None:
            # Before the message counts as accepted: what the API accepted, the mailbox shows.
            self.mailbox.add(
                "sms",
                record["from"] or record["messaging_service_sid"],
                [record["to"]],
                subject=f"SMS to {record['to']}",
                text=record["body"],
                html=None,
                meta={
                    "sid": record["sid"],
                    "status": record["status"],
                    "num_segments": record["num_segments"],
                    "status_callback": record["status_callback"],
                },
            )
        with self.store.lock:
            self.store.messages[record["sid"]] = record
            self.callbacks.schedule(record)
        return record

    def fail_next(self, count: int, status: int) -> list[int]:
        with self.store.lock:
            self.store.fail_next.extend([status] * count)
            return list(self.store.fail_next)

    def force_outcome_next(self, count: int, status: str, error_code: int | None) -> list[dict]:
        with self.store.lock:
            self.store.outcome_next.extend(
                {"status": status, "error_code": error_code} for _ in range(count)
            )
            return [dict(o) for o in self.store.outcome_next]

    def reset(self) -> None:
        self.store.reset()

    def close(self) -> None:
        """Stop the status-callback thread."""
        self.callbacks.stop()


def sandbox_of(app: Flask) -> TwilioSandbox:
    """The TwilioSandbox of an app made by create_twilio_sandbox."""
    return app.extensions[EXTENSION]


def sandbox() -> TwilioSandbox:
    """The TwilioSandbox of the app handling the current request."""
    return sandbox_of(current_app)
