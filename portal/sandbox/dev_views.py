"""Developer pages for the sandbox: the mailbox of every email/SMS the local stand-ins received.

Register only outside production (``PORTAL_ENV != "production"``):

    from portal.sandbox.dev_views import bp as dev_bp
    app.register_blueprint(dev_bp)
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, render_template, request

from portal.sandbox.mailbox import Mailbox

bp = Blueprint("dev", __name__, url_prefix="/dev")

CHANNELS = ("email", "sms")
DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def _mailbox() -> Mailbox:
    return Mailbox(current_app.config["MAILBOX_DIR"])


def _filters() -> tuple[str | None, int]:
    """Read ``?channel=`` (email|sms, anything else means all) and ``?limit=`` from the request."""
    channel = request.args.get("channel") or None
    if channel not in CHANNELS:
        channel = None
    limit = request.args.get("limit", DEFAULT_LIMIT, type=int) or DEFAULT_LIMIT
    return channel, max(1, min(limit, MAX_LIMIT))


@bp.get("/mailbox")
def mailbox():
    """List received messages, newest first; ``?channel=email|sms`` filters by channel."""
    channel, limit = _filters()
    messages = _mailbox().list(limit=limit, channel=channel)
    return render_template(
        "dev/mailbox.html", messages=messages, channel=channel, channels=CHANNELS, limit=limit
    )


@bp.get("/mailbox.json")
def mailbox_json():
    """The same list as JSON (without raw sources), for scripts and end-to-end tests."""
    channel, limit = _filters()
    messages = _mailbox().list(limit=limit, channel=channel)
    return jsonify([{k: v for k, v in m.to_dict().items() if k != "raw"} for m in messages])


@bp.get("/mailbox/<message_id>")
def message(message_id: str):
    """Show one message in full; 404 if there is no such message."""
    found = _mailbox().get(message_id)
    if found is None:
        abort(404)
    return render_template("dev/message.html", message=found)
