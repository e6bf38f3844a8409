"""The sandbox's memory: orders, payments, refunds, payment links, Route's linked accounts,
products, transfers, reversals and settlements, idempotency keys, webhook events and their
deliveries, and the runtime settings; one re-entrant lock guards all of it.

With a ``state_file`` every change is written to that JSON file (to a temporary name, then moved
into place with ``os.replace``), and a new sandbox started on the same file carries on from it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import string
import tempfile
import threading
from pathlib import Path
from typing import Any

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
ID_LENGTH = 14  # Razorpay ids: a prefix, "_" and 14 base62 characters (order_RB58MiP5SPFYyM).
STATE_VERSION = 1

_TABLES = ("orders", "payments", "refunds", "payment_links", "idempotency", "events", "accounts",
           "products", "transfers", "reversals", "settlements")


def new_id(prefix: str) -> str:
    """``prefix_`` and 14 random base62 characters, the shape of Razorpay's ids."""
    return f"{prefix}_" + "".join(secrets.choice(BASE62) for _ in range(ID_LENGTH))


def has_id_shape(value: str, prefix: str) -> bool:
    head, sep, tail = value.partition("_")
    return head == prefix and bool(sep) and bool(tail) and all(c in BASE62 for c in tail)


class Store:
    """Plain JSON-ready dicts, keyed by id and kept in insertion (= creation) order.

    ``settings`` (auto_capture, auto_process_refunds, auto_process_transfers,
    background_delivery, enforce_link_expiry, webhook_url) belong to the running process: they
    come from its arguments and /_sandbox/settings, never from the file.
    """

    def __init__(self, settings: dict[str, Any], state_file: str | os.PathLike | None = None):
        self.lock = threading.RLock()
        self.state_file = Path(state_file) if state_file else None
        self.orders: dict[str, dict] = {}
        self.payments: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.payment_links: dict[str, dict] = {}
        self.idempotency: dict[str, dict] = {}  # X-Refund-Idempotency key -> refund id + request
        self.events: dict[str, dict] = {}  # event id -> event name, raw body, created_at
        # Route (route.py): linked accounts, their Route product, transfers, reversals, settlements.
        self.accounts: dict[str, dict] = {}
        self.products: dict[str, dict] = {}
        self.transfers: dict[str, dict] = {}
        self.reversals: dict[str, dict] = {}
        self.settlements: dict[str, dict] = {}
        self.deliveries: list[dict] = []  # one row per attempt series (original or redelivery)
        self.drop_next = 0
        self.settings = dict(settings)
        if self.state_file and self.state_file.exists():
            self._load()

    # -- persistence ------------------------------------------------------------------------------

    def _load(self) -> None:
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ValueError(
                f"{self.state_file} is not a Razorpay sandbox state file: {exc}"
            ) from exc
        for table in _TABLES:
            setattr(self, table, dict(data.get(table, {})))
        self.deliveries = list(data.get("deliveries", []))
        for delivery in self.deliveries:
            delivery["in_flight"] = False  # whoever was sending it died with the old process
        self.drop_next = int(data.get("drop_next", 0))

    def save(self) -> None:
        """Write everything to the state file (no-op without one). Call with the lock held."""
        if self.state_file is None:
            return
        data = {table: getattr(self, table) for table in _TABLES}
        data.update(
            version=STATE_VERSION,
            deliveries=self.deliveries,
            drop_next=self.drop_next,
        )
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".razorpay-sandbox-", dir=self.state_file.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, ensure_ascii=False)
            os.replace(tmp, self.state_file)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def reset(self) -> None:
        """Forget every entity, event and delivery (settings stay)."""
        with self.lock:
            for table in _TABLES:
                setattr(self, table, {})
            self.deliveries = []
            self.drop_next = 0
            self.save()
