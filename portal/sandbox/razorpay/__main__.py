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
from functools import partial

from portal.sandbox.common import command_line, seconds_list, serve
from portal.sandbox.razorpay.app import create_sandbox_app
from portal.sandbox.razorpay.server import SandboxServer
from portal.sandbox.razorpay.state import DEFAULT_RETRY_DELAYS

# The same fixed sandbox keys as portal/config.py uses when no real Razorpay keys are set.
DEFAULT_KEY_ID = "rzp_test_sandbox0001"
DEFAULT_KEY_SECRET = "sandbox-key-secret"  # noqa: S105 - a fixed key of the local sandbox
DEFAULT_WEBHOOK_SECRET = "sandbox-webhook-secret"  # noqa: S105 - idem
DEFAULT_PORT = 5001


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = command_line(
        "python -m portal.sandbox.razorpay",
        "A local stand-in for Razorpay's API, checkout and webhooks.",
        port=DEFAULT_PORT,
    )
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
        type=seconds_list("1,2,4"),
        default=DEFAULT_RETRY_DELAYS,
        help="seconds between webhook attempts, e.g. 1,2,4,8,16",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def banner(server: SandboxServer) -> str:
        return (f"Razorpay sandbox on {server.url} (razorpay.Client base_url={server.base_url}), "
                f"webhooks to {args.webhook_url or 'nowhere'}")  # fmt: skip

    build = partial(
        create_sandbox_app, args.key_id, args.key_secret, args.webhook_url, args.webhook_secret,
        auto_capture=args.auto_capture, state_file=args.state_file,
        retry_delays=args.retry_delays, auto_process_refunds=args.auto_process_refunds,
    )  # fmt: skip
    return serve(build, SandboxServer, host=args.host, port=args.port, banner=banner)


if __name__ == "__main__":
    raise SystemExit(main())
