"""Serve the Twilio stand-in over HTTP in a background thread (tests, scripts): inside
``with SandboxServer(create_twilio_sandbox(...)) as server:`` point the client at it with
``client.api.base_url = server.base_url``.
"""

from __future__ import annotations

import threading
from typing import Self

from flask import Flask
from werkzeug.serving import make_server

from portal.sandbox.twilio.app import sandbox_of

LOOPBACK = "127.0.0.1"
POLL_INTERVAL = 0.1  # seconds; how soon stop() is noticed


class SandboxServer:
    """werkzeug's threaded server on ``host:port`` (0: a free port, chosen at construction)."""

    def __init__(self, app: Flask, host: str = LOOPBACK, port: int = 0) -> None:
        self.app = app
        self._server = make_server(host, port, app, threaded=True)
        self.host = host
        self.port = self._server.server_port
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The server root, e.g. ``http://127.0.0.1:5002``."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What ``client.api.base_url`` needs: the root (the client adds ``/2010-04-01/...``)."""
        return self.url

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                args=(POLL_INTERVAL,),
                name="twilio-sandbox-http",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until shutdown (the ``python -m`` entry point)."""
        self._server.serve_forever(POLL_INTERVAL)

    def stop(self) -> None:
        """Stop serving and stop the sandbox's status-callback thread."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()
        sandbox_of(self.app).close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
