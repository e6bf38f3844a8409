"""Serve a stand-in's Flask app over HTTP in a background thread (tests, scripts, `python -m`)."""

from __future__ import annotations

import threading
from typing import Self

from flask import Flask
from werkzeug.serving import make_server

LOOPBACK = "127.0.0.1"
POLL_INTERVAL = 0.1  # seconds; how soon stop() is noticed


class ThreadedServer:
    """werkzeug's threaded server on ``host:port`` (0: a free port, chosen at construction).

    Subclasses name their thread and close their app's background work in `close_app`.
    """

    thread_name = "sandbox-http"

    def __init__(self, app: Flask, host: str = LOOPBACK, port: int = 0) -> None:
        self.app = app
        self._server = make_server(host, port, app, threaded=True)
        self.host = host
        self.port = self._server.server_port
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The server root, e.g. ``http://127.0.0.1:5001``."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What the provider's client takes as its base URL: the root."""
        return self.url

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever,
                                            args=(POLL_INTERVAL,), name=self.thread_name,
                                            daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until shutdown (the ``python -m`` entry points)."""
        self._server.serve_forever(POLL_INTERVAL)

    def stop(self) -> None:
        """Stop serving, then the app's own background threads."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()
        self.close_app()

    def close_app(self) -> None:
        """Stop the app's background work (webhook or callback delivery)."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
