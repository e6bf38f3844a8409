"""Serve the Razorpay stand-in over HTTP in a background thread (tests, scripts): inside
``with SandboxServer(create_sandbox_app(...)) as server:`` point the client at it with
``razorpay.Client(auth=(key_id, key_secret), base_url=server.base_url)`` (the root: the
client adds ``/v1``).
"""

from __future__ import annotations

from portal.sandbox.razorpay.state import sandbox_of
from portal.sandbox.server import LOOPBACK, POLL_INTERVAL, ThreadedServer

__all__ = ["LOOPBACK", "POLL_INTERVAL", "SandboxServer"]


class SandboxServer(ThreadedServer):
    thread_name = "razorpay-sandbox-http"

    def close_app(self) -> None:
        sandbox_of(self.app).close()  # the webhook delivery thread
