"""What the Razorpay and Twilio stand-ins share.

- ``SandboxRefused`` and ``refuse_in_production``: a stand-in never runs with
  PORTAL_ENV=production (it would accept fake payments or pretend to send SMS);
- ``command_line``, ``seconds_list`` and ``serve``: the ``python -m`` entry points' options
  (``--host``, ``--port``), logging, and the foreground serve loop that SIGINT or SIGTERM ends.

The threaded HTTP server itself is ``portal.sandbox.server.ThreadedServer``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping

from flask import Flask

from portal.sandbox.server import LOOPBACK, ThreadedServer

LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"


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
