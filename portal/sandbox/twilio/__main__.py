"""``python -m portal.sandbox.twilio``: run the Twilio stand-in in the foreground.

    python -m portal.sandbox.twilio --port 5002 \
        --account-sid AC00000000000000000000000000000001 --auth-token sandbox-auth-token \
        --mailbox instance/mailbox --callback-delays 0.2,0.5

Point the twilio client at ``http://127.0.0.1:<port>`` with ``client.api.base_url = ...``
(no ``/2010-04-01``: the client adds it). SIGINT or SIGTERM stops it. Refused when
PORTAL_ENV=production.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from portal.sandbox.twilio.app import SandboxRefused, create_twilio_sandbox
from portal.sandbox.twilio.server import LOOPBACK, SandboxServer
from portal.sandbox.twilio.state import DEFAULT_CALLBACK_DELAYS

# Fixed credentials of the local stand-in, for when no real Twilio account is configured.
DEFAULT_ACCOUNT_SID = "AC00000000000000000000000000000001"
DEFAULT_AUTH_TOKEN = "sandbox-auth-token"  # noqa: S105 - a fixed token of the local sandbox
DEFAULT_PORT = 5002


def _delays(text: str) -> tuple[float, ...]:
    try:
        delays = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError("use seconds separated by commas, e.g. 0.2,0.5") from exc
    if any(d < 0 for d in delays):
        raise argparse.ArgumentTypeError("delays cannot be negative")
    return delays


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m portal.sandbox.twilio",
        description="A local stand-in for Twilio's Messages API and status callbacks.",
    )
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--mailbox", default=None, help="dev mailbox directory (MAILBOX_DIR)")
    parser.add_argument(
        "--callback-delays",
        type=_delays,
        default=DEFAULT_CALLBACK_DELAYS,
        help="seconds before 'sent' and then before the final status, e.g. 0.2,0.5",
    )
    parser.add_argument(
        "--manual-callbacks",
        dest="background_callbacks",
        action="store_false",
        help="status changes wait for POST /_sandbox/callbacks/deliver",
    )
    return parser.parse_args(argv)


def _stop(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        app = create_twilio_sandbox(
            args.account_sid, args.auth_token, args.mailbox,
            background_callbacks=args.background_callbacks, callback_delays=args.callback_delays,
        )  # fmt: skip
    except (SandboxRefused, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 2
    server = SandboxServer(app, host=args.host, port=args.port)
    signal.signal(signal.SIGTERM, _stop)
    print(f"Twilio sandbox on {server.url} (client.api.base_url={server.base_url}), "
          f"account {args.account_sid}, mailbox {args.mailbox or 'none'}", flush=True)  # fmt: skip
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
