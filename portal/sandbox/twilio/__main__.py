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
from functools import partial

from portal.sandbox.common import SandboxRefused, command_line, seconds_list, serve
from portal.sandbox.twilio.app import create_twilio_sandbox
from portal.sandbox.twilio.server import SandboxServer
from portal.sandbox.twilio.state import DEFAULT_CALLBACK_DELAYS

# Fixed credentials of the local stand-in, for when no real Twilio account is configured.
DEFAULT_ACCOUNT_SID = "AC00000000000000000000000000000001"
DEFAULT_AUTH_TOKEN = "sandbox-auth-token"  # noqa: S105 - a fixed token of the local sandbox
DEFAULT_PORT = 5002


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = command_line(
        "python -m portal.sandbox.twilio",
        "A local stand-in for Twilio's Messages API and status callbacks.",
        port=DEFAULT_PORT,
    )
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--mailbox", default=None, help="dev mailbox directory (MAILBOX_DIR)")
    parser.add_argument(
        "--callback-delays",
        type=seconds_list("0.2,0.5"),
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def banner(server: SandboxServer) -> str:
        return (f"Twilio sandbox on {server.url} (client.api.base_url={server.base_url}), "
                f"account {args.account_sid}, mailbox {args.mailbox or 'none'}")  # fmt: skip

    build = partial(
        create_twilio_sandbox, args.account_sid, args.auth_token, args.mailbox,
        background_callbacks=args.background_callbacks, callback_delays=args.callback_delays,
    )  # fmt: skip
    # A malformed account SID or an empty token (ValueError) is a usage error here, too.
    return serve(build, SandboxServer, host=args.host, port=args.port, banner=banner,
                 fatal=(SandboxRefused, ValueError))  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
