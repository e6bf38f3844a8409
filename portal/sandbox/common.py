"""What the Razorpay and Twilio stand-ins share.

- ``SandboxRefused`` and ``refuse_in_production``: a stand-in never runs with
  PORTAL_ENV=production (it would accept fake payments or pretend to send SMS);
- ``command_line``, ``seconds_list`` and ``serve``: the ``python -m`` entry points' options
  (``--host``, ``--port``), logging, and the foreground serve loop that SIGINT or SIGTERM ends;
- ``basic_auth_is`` and ``request_params``: the HTTP Basic check and the JSON-or-form body
  parsing of both APIs' routes;
- ``BackgroundSender``: the thread that POSTs what falls due back to the portal (Razorpay's
  webhooks, Twilio's status callbacks), with its claiming, waiting and stopping.

The threaded HTTP server itself is ``portal.sandbox.server.ThreadedServer``.
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping

import requests
from flask import Flask, request

from portal.sandbox.server import LOOPBACK, ThreadedServer

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"
SEND_TIMEOUT = 5.0  # seconds for one POST


# -- the production refusal ----------------------------------------------------------------------


class SandboxRefused(RuntimeError):
    """A stand-in was asked to run with PORTAL_ENV=production."""


def refuse_in_production(service: str, because: str,
                         environ: Mapping[str, str] | None = None) -> None:  # fmt: skip
    """Raise SandboxRefused when PORTAL_ENV (in ``environ``, else the process's) is production.

    The message reads "The <service> sandbox refuses to run with PORTAL_ENV=production: <because>";
    ``because`` says why and which settings use the real service instead.
    """
    environ = os.environ if environ is None else environ
    if environ.get("PORTAL_ENV", "").strip().lower() == "production":
        raise SandboxRefused(
            f"The {service} sandbox refuses to run with PORTAL_ENV=production: {because}"
        )


# -- requests to the stand-ins -------------------------------------------------------------------


def basic_auth_is(username: str, password: str) -> bool:
    """Does the current request carry these HTTP Basic credentials? Both halves are always
    compared, each in constant time."""
    auth = request.authorization
    if auth is None or auth.type != "basic":
        return False
    given_username, given_password = auth.username or "", auth.password or ""
    return hmac.compare_digest(given_username.encode(), username.encode()) & hmac.compare_digest(
        given_password.encode(), password.encode()
    )


def request_params(not_an_object: Callable[[str], Exception]) -> dict:
    """The current request's parameters: form fields, or a JSON object; ``{}`` without a body.

    A body that is not a JSON object raises ``not_an_object(message)``, the stand-in's own error.
    """
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return request.form.to_dict()
    if not request.get_data(cache=True):
        return {}
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise not_an_object("The request body must be a JSON object.")
    return body


# -- the command line ----------------------------------------------------------------------------


def command_line(prog: str, description: str, *, port: int) -> argparse.ArgumentParser:
    """An argument parser with the options every stand-in takes: ``--host`` and ``--port``."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, default=port, help="0 picks a free port")
    return parser


def seconds_list(example: str) -> Callable[[str], tuple[float, ...]]:
    """An argparse ``type``: seconds separated by commas; ``example`` shows how, e.g. "1,2,4"."""

    def parse(text: str) -> tuple[float, ...]:
        try:
            delays = tuple(float(part) for part in text.split(",") if part.strip())
        except ValueError as exc:
            raise argparse.ArgumentTypeError(
                f"use seconds separated by commas, e.g. {example}"
            ) from exc
        if any(d < 0 for d in delays):
            raise argparse.ArgumentTypeError("delays cannot be negative")
        return delays

    return parse


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def serve(
    build_app: Callable[[], Flask],
    server_class: type[ThreadedServer],
    *,
    host: str,
    port: int,
    banner: Callable[[ThreadedServer], str],
    fatal: tuple[type[Exception], ...] = (SandboxRefused,),
) -> int:
    """Run a stand-in in the foreground until SIGINT or SIGTERM; the exit status.

    Sets up logging, then builds the app with ``build_app()``: an exception in ``fatal`` is
    printed to stderr and gives 2. Otherwise serves it on ``host:port`` with ``server_class``,
    prints ``banner(server)`` first (scripts and tests read the URL from it), and on the way out
    stops the server and the app's background threads; 0.
    """
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    try:
        app = build_app()
    except fatal as exc:
        print(exc, file=sys.stderr)
        return 2
    server = server_class(app, host=host, port=port)
    signal.signal(signal.SIGTERM, _interrupt)
    print(banner(server), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


# -- the background sender -----------------------------------------------------------------------


def succeeded(attempt: dict) -> bool:
    """Did the attempt get a 2xx answer?"""
    code = attempt["status_code"]
    return code is not None and 200 <= code < 300


class BackgroundSender:
    """Sends queued items as they fall due, one at a time, in a daemon thread of its own.

    Items are dicts that the subclass keeps under ``lock`` (``changed`` is a condition on it),
    each with an ``in_flight`` flag (claimed: an attempt is under way, in some thread) and its due
    time, epoch seconds, under ``due_key``. A subclass says:

    - ``_candidates()``: the items that may be sent next, in order (called with the lock held);
    - ``_send(item)``: one attempt of a claimed item, POSTing outside the lock (``post``); it
      records the outcome, clears ``in_flight`` and notifies ``changed``;
    - ``_give_up(item)``: what becomes of an item whose ``_send`` raised (lock held);
    - ``describe(item)``: the item in a log line, and ``logger``: where that line goes;
    - ``background_enabled()`` if the thread's running depends on more than ``background``.

    ``wake()`` starts the thread (once) and tells it something changed; ``stop()`` ends it.
    """

    thread_name = "sandbox-sender"
    due_key: str  # the item's key that holds its due time
    logger = log

    def __init__(self, lock: threading.RLock, *, background: bool = True,
                 timeout: float = SEND_TIMEOUT) -> None:  # fmt: skip
        self.background = background
        self.timeout = timeout
        self.changed = threading.Condition(lock)
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- what a subclass says --------------------------------------------------------------------

    def _candidates(self) -> Iterable[dict]:
        raise NotImplementedError

    def _send(self, item: dict) -> None:
        raise NotImplementedError

    def _give_up(self, item: dict) -> None:
        raise NotImplementedError

    def describe(self, item: dict) -> str:
        return repr(item.get("id"))

    def background_enabled(self) -> bool:
        return self.background

    # -- claiming and sending --------------------------------------------------------------------

    def _claim(self, *, only_due: bool) -> tuple[dict | None, float | None]:
        """Claim the first candidate (``only_due``: the first whose time has come), or say how
        many seconds until one falls due (None: nothing waits). Call with the lock held."""
        now = time.time()
        soonest = None
        for item in self._candidates():
            wait = item[self.due_key] - now
            if only_due and wait > 0:
                soonest = wait if soonest is None else min(soonest, wait)
                continue
            item["in_flight"] = True
            return item, None
        return None, soonest

    def _send_safely(self, item: dict) -> None:
        try:
            self._send(item)
        except Exception:  # one bad item never stops the others
            self.logger.exception("%s crashed", self.describe(item))
            with self.changed:
                item["in_flight"] = False
                self._give_up(item)
                self.changed.notify_all()

    def post(self, url: str, data: bytes | str, headers: Mapping[str, str], /, **fields) -> dict:
        """POST ``data`` to ``url`` once (redirects not followed; ``timeout`` seconds). Returns
        the attempt: ``at``, then ``fields`` (``url=`` among them if wanted), ``status_code``
        (None without an answer), ``error`` (the exception, if any) and ``duration_ms``. Call
        without the lock."""
        started = time.time()
        attempt: dict = {"at": started, **fields, "status_code": None, "error": None}
        try:
            response = requests.post(url, data=data, headers=headers, timeout=self.timeout,
                                     allow_redirects=False)  # fmt: skip
            attempt["status_code"] = response.status_code
            response.close()
        except requests.RequestException as exc:
            attempt["error"] = f"{type(exc).__name__}: {exc}"
        attempt["duration_ms"] = round((time.time() - started) * 1000)
        return attempt

    # -- the thread ------------------------------------------------------------------------------

    def wake(self) -> None:
        """Start the thread if it should run and has not, and tell it something changed."""
        with self.changed:
            if self.background_enabled() and self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name=self.thread_name,
                                                daemon=True)  # fmt: skip
                self._thread.start()
            self.changed.notify_all()

    def _run(self) -> None:
        while True:
            with self.changed:
                if self._closed:
                    return
                if not self.background_enabled():
                    self.changed.wait()
                    continue
                item, wait = self._claim(only_due=True)
                if item is None:
                    self.changed.wait(wait)
                    continue
            self._send_safely(item)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread for good (an attempt under way finishes first)."""
        with self.changed:
            self._closed = True
            thread, self._thread = self._thread, None
            self.changed.notify_all()
        if thread is not None:
            thread.join(timeout)
