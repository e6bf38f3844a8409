"""A local stand-in for Razorpay that the official ``razorpay`` client talks to unchanged.

    app = create_sandbox_app(key_id, key_secret, webhook_url, webhook_secret)
    client = razorpay.Client(auth=(key_id, key_secret), base_url="http://127.0.0.1:<port>")

``base_url`` is the server root: the client builds ``base_url + "/v1/orders"`` itself.
Standalone: ``python -m portal.sandbox.razorpay --port 5001 --webhook-url http://.../webhook``.
See state.py (the Sandbox the blueprints share), app.py (the app), api.py (/v1), ledger.py and
links.py (orders, payments, refunds; payment links), checkout.py (/checkout), hosted_links.py
(/i, the pages of payment links), controls.py (/_sandbox) and webhooks.py (delivery and
retries). Refused when PORTAL_ENV=production.
"""

from portal.sandbox.common import SandboxRefused
from portal.sandbox.razorpay.app import create_sandbox_app, refuse_in_production
from portal.sandbox.razorpay.server import SandboxServer
from portal.sandbox.razorpay.state import Sandbox, sandbox_of

__all__ = [
    "Sandbox",
    "SandboxRefused",
    "SandboxServer",
    "create_sandbox_app",
    "refuse_in_production",
    "sandbox_of",
]
