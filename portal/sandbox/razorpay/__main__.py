"""``python -m portal.sandbox.razorpay``: run the Razorpay stand-in in the foreground.

    python -m portal.sandbox.razorpay --port 5001 \
        --key-id rzp_test_sandbox0001 --key-secret sandbox-key-secret \
        --webhook-url http://127.0.0.1:5000/api/v1/payments/webhook \
        --webhook-secret sandbox-webhook-secret --state-file instance/razorpay-sandbox.json

Point the razorpay client at ``http://127.0.0.1:<port>`` (no ``/v1``: the client adds it).
SIGINT or SIGTERM stops it. Refused when PORTAL_ENV=production.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from portal.sandbox.razorpay.app import SandboxRefused, create_sandbox_app
from portal.sandbox.razorpay.server import LOOPBACK, SandboxServer
from portal.sandbox.razorpay.state import DEFAULT_RETRY_DELAYS

# The same fixed sandbox keys as portal/config.py uses when no real Razorpay keys are set.
DEFAULT_KEY_ID = "rzp_test_sandbox0001"
DEFAULT_KEY_SECRET = "sandbox-key-secret"  # noqa: S105 - a fixed key of the local sandbox
DEFAULT_WEBHOOK_SECRET = "sandbox-webhook-secret"  # noqa: S105 - idem


def _delays(text: str) -> tuple[float, ...]:
    try:
        delays = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError("use seconds separated by commas, e.g. 1,2,4") from exc
    if any(d < 0 for d in delays):
        raise argparse.ArgumentTypeError("delays cannot be negative")
    return delays


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m portal.sandbox.razorpay",
        description="A local stand-in for Razorpay's API, checkout and webhooks.",
    )
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, default=5001, help="0 picks a free port")
    parser.add_argument("--key-id", default=DEFAULT_KEY_ID)
    parser.add_argument("--key-secret", default=DEFAULT_KEY_SECRET)
    parser.add_argument("--webhook-url", default=None, help="where webhooks are POSTed")
    parser.add_argument("--webhook-secret", default=DEFAULT_WEBHOOK_SECRET)
    parser.add_argument("--state-file", default=None, help="JSON file that keeps the state")
    parser.add_argument(
        "--no-auto-capture",
        dest="auto_capture",
        action="store_false",
        help="payments stay authorized until captured through the API",
    )
    parser.add_argument(
        "--manual-refunds",
        dest="auto_process_refunds",
        action="store_false",
        help="refunds stay pending until /_sandbox/payments/<id>/refund-status",
    )
    parser.add_argument(
        "--retry-delays",
        type=_delays,
        default=DEFAULT_RETRY_DELAYS,
        help="seconds between webhook attempts, e.g. 1,2,4,8,16",
    )
    return parser.parse_args(argv)


def _stop(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        app = create_sandbox_app(
            args.key_id, args.key_secret, args.webhook_url, args.webhook_secret,
            auto_capture=args.auto_capture, state_file=args.state_file,
            retry_delays=args.retry_delays, auto_process_refunds=args.auto_process_refunds,
        )  # fmt: skip
    except SandboxRefused as exc:
        print(exc, file=sys.stderr)
        return 2
    server = SandboxServer(app, host=args.host, port=args.port)
    signal.signal(signal.SIGTERM, _stop)
    print(f"Razorpay sandbox on {server.url} (razorpay.Client base_url={server.base_url}), "
          f"webhooks to {args.webhook_url or 'nowhere'}", flush=True)  # fmt: skip
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
