"""Twilio's Messages API, the routes the official ``twilio`` client calls
(twilio/rest/api/v2010/account/message/__init__.py), with HTTP Basic auth:

- ``POST   /2010-04-01/Accounts/<AccountSid>/Messages.json``  form-encoded To, From or
  MessagingServiceSid, Body, StatusCallback -> 201 and the Message resource ("queued")
- ``GET    /2010-04-01/Accounts/<AccountSid>/Messages.json``  a page: To, From, DateSent,
  DateSent<, DateSent>, PageSize, Page, PageToken
- ``GET    /2010-04-01/Accounts/<AccountSid>/Messages/<Sid>.json``
- ``DELETE /2010-04-01/Accounts/<AccountSid>/Messages/<Sid>.json``  204, once the message is
  delivered, undelivered or failed

Bad credentials answer 401 with code 20003; another account's URL or an unknown SID, 404 with
code 20404.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from portal.sandbox.twilio.errors import TwilioApiError, http_error, not_found
from portal.sandbox.twilio.messages import API_VERSION, FINAL_STATUSES, list_page, resource
from portal.sandbox.twilio.state import sandbox

ACCOUNT = f"/{API_VERSION}/Accounts/<account_sid>"
bp = Blueprint("api", __name__)


def unauthorized():
    response = jsonify(http_error(401).body())
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return response


@bp.before_request
def require_basic_auth():
    box = sandbox()
    if not box.authorized():
        return unauthorized()
    if (request.view_args or {}).get("account_sid") != box.account_sid:
        raise not_found(request.path)
    return None


def _record(sid: str) -> dict:
    record = sandbox().store.messages.get(sid)
    if record is None:
        raise not_found(request.path)
    return record


@bp.post(f"{ACCOUNT}/Messages.json")
def create_message(account_sid: str):
    record = sandbox().create_message(request.form)
    with sandbox().store.lock:
        return jsonify(resource(record)), 201


@bp.get(f"{ACCOUNT}/Messages.json")
def list_messages(account_sid: str):
    box = sandbox()
    with box.store.lock:
        records = list(box.store.messages.values())
        return jsonify(list_page(account_sid, records, request.args))


@bp.get(f"{ACCOUNT}/Messages/<sid>.json")
def fetch_message(account_sid: str, sid: str):
    with sandbox().store.lock:
        return jsonify(resource(_record(sid)))


@bp.delete(f"{ACCOUNT}/Messages/<sid>.json")
def delete_message(account_sid: str, sid: str):
    box = sandbox()
    with box.store.lock:
        record = _record(sid)
        if record["status"] not in FINAL_STATUSES:
            raise TwilioApiError(
                20009, f"Cannot delete message {sid}: it is {record['status']}, not yet final."
            )
        del box.store.messages[sid]
    return "", 204
