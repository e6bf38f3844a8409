"""Browser push plumbing: the service worker at the site root and the VAPID public key.

The subscribe button (static/js/push.js) reads the key here, registers /sw.js and sends the
subscription to POST /api/v1/notifications/devices/register.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, send_from_directory

from portal.notifications import vapid

bp = Blueprint("push", __name__)


@bp.get("/sw.js")
def service_worker():
    """static/sw.js served from the root, so its scope (and the header's) is the whole site."""
    response = send_from_directory(current_app.static_folder, "sw.js",
                                   mimetype="text/javascript", max_age=0)
    response.headers["Service-Worker-Allowed"] = "/"
    # Browsers check for a new worker on navigation; never let a cache hand them an old one.
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/push/vapid-public-key")
def vapid_public_key():
    """{"key": the applicationServerKey (base64url)}, or {"key": null} when push is off."""
    response = jsonify(key=vapid.public_key(current_app.config))
    response.headers["Cache-Control"] = "no-cache"
    return response
