"""Serve the Twilio stand-in over HTTP in a background thread (tests, scripts): inside
``with SandboxServer(create_twilio_sandbox(...)) as server:`` point the client at it with
``client.api.base_url = server.base_url`` (the root: the client adds ``/2010-04-01/...``).
"""

from __future__ import annotations

from portal.sandbox.server import LOOPBACK, POLL_INTERVAL, ThreadedServer
from portal.sandbox.twilio.state import sandbox_of

__all__ = ["LOOPBACK", "POLL_INTERVAL", "SandboxServer"]


class SandboxServer(ThreadedServer):
    thread_name = "twilio-sandbox-http"

    def close_app(self) -> None:
        sandbox_of(self.app).close()  # the status-callback thread
