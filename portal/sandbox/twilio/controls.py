"""Test controls under /_sandbox: not part of Twilio. Same HTTP Basic auth as the API; bodies
are JSON (or form fields).

- ``GET  /_sandbox/messages``           every message, newest first, with its StatusCallback and
                                        its status changes (``?to=`` filters)
- ``POST /_sandbox/fail-next``          {"count": 1, "status": 500}: the next ``count`` create
                                        calls answer that HTTP status (400-599) with Twilio's error
                                        body (500 -> 20500, 503 -> 20503, 429 -> 20429) and send
                                        nothing: for testing retries
- ``POST /_sandbox/outcome-next``       {"count": 1, "status": "undelivered", "error_code": 30003}:
                                        the next ``count`` accepted messages end that way
                                        ("delivered", "undelivered" or "failed"), whatever the To
- ``GET  /_sandbox/callbacks``          every status change and its callback attempt
- ``POST /_sandbox/callbacks/deliver``  apply every pending status change now (and POST its
                                        callback); answers those changes
- ``POST /_sandbox/reset``              forget messages, pending changes and the tricks above
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from portal.sandbox.common import request_params
from portal.sandbox.twilio.api import unauthorized
from portal.sandbox.twilio.errors import TwilioApiError
from portal.sandbox.twilio.messages import resource
from portal.sandbox.twilio.state import OUTCOME_STATUSES, sandbox

bp = Blueprint("controls", __name__, url_prefix="/_sandbox")

EVENT_FIELDS = ("id", "message_sid", "status", "error_code", "url", "state", "due_at", "params",
                "attempt")  # fmt: skip


@bp.before_request
def require_basic_auth():
    if not sandbox().authorized():
        return unauthorized()
    return None


def request_body() -> dict:
    """The request's parameters: a JSON object, or form fields; ``{}`` when there is no body."""
    return request_params(lambda message: TwilioApiError(20001, message))


def _whole(body: dict, name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise TwilioApiError(20001, f"{name} must be a whole number from {low} to {high}")
    return value


def _event_view(event: dict) -> dict:
    view = {key: event[key] for key in EVENT_FIELDS}
    view["params"] = dict(event["params"]) if event["params"] else None
    view["attempt"] = dict(event["attempt"]) if event["attempt"] else None
    return view


@bp.get("/messages")
def messages():
    box = sandbox()
    to = request.args.get("to")
    with box.store.lock:
        items = []
        for record in reversed(box.store.messages.values()):
            if to and record["to"] != to:
                continue
            item = resource(record)
            item["status_callback"] = record["status_callback"]
            item["callbacks"] = [
                _event_view(e) for e in box.store.events if e["message_sid"] == record["sid"]
            ]
            items.append(item)
    return jsonify({"count": len(items), "messages": items})


@bp.post("/fail-next")
def fail_next():
    body = request_body()
    count = _whole(body, "count", 1, 0, 1000)
    status = _whole(body, "status", 500, 400, 599)
    return jsonify({"fail_next": sandbox().fail_next(count, status)})


@bp.post("/outcome-next")
def outcome_next():
    body = request_body()
    count = _whole(body, "count", 1, 0, 1000)
    status = body.get("status", "undelivered")
    if status not in OUTCOME_STATUSES:
        raise TwilioApiError(20001, f"status must be one of {', '.join(OUTCOME_STATUSES)}")
    default_code = None if status == "delivered" else (30003 if status == "undelivered" else 30008)
    error_code = body.get("error_code", default_code)
    if status == "delivered":
        error_code = None
    elif error_code is not None:
        error_code = _whole({"error_code": error_code}, "error_code", 0, 30001, 30999)
    return jsonify({"outcome_next": sandbox().force_outcome_next(count, status, error_code)})


@bp.get("/callbacks")
def callbacks():
    box = sandbox()
    with box.store.lock:
        return jsonify({"callbacks": [_event_view(e) for e in box.store.events]})


@bp.post("/callbacks/deliver")
def deliver_callbacks():
    box = sandbox()
    touched = box.callbacks.deliver_now()
    with box.store.lock:
        return jsonify({"callbacks": [_event_view(e) for e in touched]})


@bp.post("/reset")
def reset():
    sandbox().reset()
    return jsonify({"reset": True})
