"""A local stand-in for Twilio's Messages API that the official ``twilio`` client talks to
unchanged, with signed status callbacks and a copy of every SMS in the dev mailbox.

    app = create_twilio_sandbox(account_sid, auth_token, mailbox_dir)
    client = twilio.rest.Client(account_sid, auth_token)
    client.edge = client.region = None                # else TWILIO_EDGE/REGION rewrite the host
    client.api.base_url = "http://127.0.0.1:<port>"   # the server root, no /2010-04-01

Standalone: ``python -m portal.sandbox.twilio --port 5002 --mailbox instance/mailbox``.
See state.py (the TwilioSandbox the blueprints share), app.py (the app), api.py (the Messages
routes), messages.py (rules and JSON), callbacks.py (status changes and their signed callbacks)
and controls.py (/_sandbox). Refused when PORTAL_ENV=production.

Magic numbers. Twilio's test-credential ones are refused at once with Twilio's error:

    To   +15005550001  400, 21211 invalid 'To' number
    To   +15005550002  400, 21612 cannot route to this number
    To   +15005550003  400, 21408 no permission for the region
    To   +15005550004  400, 21610 unsubscribed recipient (replied STOP)
    To   +15005550009  400, 21614 not a mobile number
    From +15005550001  400, 21212 invalid 'From' number
    From +15005550007  400, 21606 not an SMS-capable number of the account
    From +15005550008  400, 21611 the sender's queue is full

and the stand-in's own (not Twilio's) are accepted (201, "queued") and then go wrong:

    To   +15005550010  sent, then undelivered with ErrorCode 30003 (unreachable handset)
    To   +15005550011  failed with ErrorCode 30008 (unknown error), never sent

Every other valid number is sent, then delivered. ``POST /_sandbox/outcome-next`` forces an
outcome for any number, ``POST /_sandbox/fail-next`` makes create calls answer 500 (see
controls.py).
"""

from portal.sandbox.common import SandboxRefused
from portal.sandbox.twilio.app import create_twilio_sandbox, refuse_in_production
from portal.sandbox.twilio.server import SandboxServer
from portal.sandbox.twilio.state import TwilioSandbox, sandbox_of

__all__ = [
    "SandboxRefused",
    "SandboxServer",
    "TwilioSandbox",
    "create_twilio_sandbox",
    "refuse_in_production",
    "sandbox_of",
]
