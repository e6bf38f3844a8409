"""The Razorpay stand-in's state: ``Sandbox`` (settings, store, ledger and webhook dispatcher),
the Flask extension key it is kept under, and the accessors the blueprints and servers use.

The blueprints (api.py, checkout.py, controls.py) import from here, not from app.py, so that
app.py can import them at its top.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from flask import Flask, current_app

from portal.sandbox.common import basic_auth_is
from portal.sandbox.razorpay.errors import NOT_APPLICABLE, ApiError
from portal.sandbox.razorpay.ledger import Ledger
from portal.sandbox.razorpay.links import PaymentLinks
from portal.sandbox.razorpay.route import Route
from portal.sandbox.razorpay.store import Store
from portal.sandbox.razorpay.webhooks import WebhookDispatcher, account_id_for

EXTENSION = "razorpay_sandbox"
DEFAULT_RETRY_DELAYS = (1, 2, 4, 8, 16)


class Sandbox:
    """The sandbox's parts: settings, store, ledger, payment links, Route and the webhook
    dispatcher."""

    def __init__(
        self,
        key_id: str,
        key_secret: str,
        webhook_url: str | None,
        webhook_secret: str,
        *,
        auto_capture: bool = True,
        auto_process_refunds: bool = True,
        auto_process_transfers: bool = True,
        background_delivery: bool = True,
        enforce_link_expiry: bool = True,
        state_file: str | os.PathLike | None = None,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
    ) -> None:
        if not key_id or not key_secret:
            raise ValueError("The Razorpay sandbox needs a key id and a key secret.")
        self.key_id = key_id
        self.key_secret = key_secret
        settings = {
            "webhook_url": webhook_url or None,
            "auto_capture": bool(auto_capture),
            "auto_process_refunds": bool(auto_process_refunds),
            "auto_process_transfers": bool(auto_process_transfers),
            "background_delivery": bool(background_delivery),
            "enforce_link_expiry": bool(enforce_link_expiry),
        }
        self.store = Store(settings, state_file)
        self.webhooks = WebhookDispatcher(
            self.store,
            account_id=account_id_for(key_id),
            webhook_secret=webhook_secret,
            retry_delays=retry_delays,
        )
        self.ledger = Ledger(self.store, key_secret, emit=self.webhooks.record)
        self.links = PaymentLinks(self.store, self.ledger, key_secret, emit=self.webhooks.record)
        self.route = Route(self.store, self.ledger, emit=self.webhooks.record,
                           merchant_account_id=self.webhooks.account_id)

    @property
    def settings(self) -> dict:
        return dict(self.store.settings)

    def update_settings(self, changes: Mapping) -> dict:
        """Change settings at run time; unknown names or wrong types raise ApiError."""
        with self.store.lock:
            for name, value in changes.items():
                if name not in self.store.settings:
                    raise ApiError(f"Unknown setting {name!r}", field=name, origin=NOT_APPLICABLE)
                if name == "webhook_url":
                    if value is not None and not isinstance(value, str):
                        raise ApiError("webhook_url must be a URL or null", field=name,
                                       origin=NOT_APPLICABLE)  # fmt: skip
                    value = value or None
                elif not isinstance(value, bool):
                    raise ApiError(f"{name} must be true or false", field=name,
                                   origin=NOT_APPLICABLE)  # fmt: skip
                self.store.settings[name] = value
            self.webhooks.wake()
            return self.settings

    def authorized(self) -> bool:
        """Does the current request carry this sandbox's key id and secret (HTTP Basic)?"""
        return basic_auth_is(self.key_id, self.key_secret)

    def close(self) -> None:
        """Stop the webhook delivery thread."""
        self.webhooks.stop()


def sandbox_of(app: Flask) -> Sandbox:
    """The Sandbox of an app made by create_sandbox_app."""
    return app.extensions[EXTENSION]


def sandbox() -> Sandbox:
    """The Sandbox of the app handling the current request."""
    return sandbox_of(current_app)
