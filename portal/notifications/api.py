"""Notifications API: send (admins), history, preferences, push devices, Twilio callbacks."""

from __future__ import annotations

import uuid

from flask import Blueprint, current_app, request
from flask_login import current_user
from twilio.request_validator import RequestValidator

from portal.api import operation, parse_body, parse_query, respond
from portal.auth.models import Role
from portal.exceptions import Forbidden, NotFound
from portal.notifications import devices, history
from portal.notifications.announcements import send_announcement, users_by_ids
from portal.notifications.context import public_url
from portal.notifications.delivery import record_sms_status
from portal.notifications.inbox import unread_count
from portal.notifications.models import Channel, NotificationLog
from portal.notifications.preferences import preferences_for, update_preferences
from portal.notifications.schemas import (
    DeviceIn,
    DeviceOut,
    ListQuery,
    NotificationList,
    NotificationOut,
    PreferencesIn,
    PreferencesOut,
    SendIn,
    SendOut,
)
from portal.security import admin_required, login_required

bp = Blueprint("notifications_api", __name__, url_prefix="/notifications")


def _own_or_admin(user_id: uuid.UUID) -> None:
    if current_user.role != Role.ADMIN and current_user.id != user_id:
        raise NotFound("No such user.")


def notification_out(row: NotificationLog) -> NotificationOut:
    return NotificationOut(id=row.id, type=row.type, channel=row.channel, status=row.status,
                           subject=row.subject, body=row.body, link=row.link,
                           attempts=row.attempts, error=row.error, created_at=row.created_at,
                           sent_at=row.sent_at, read_at=row.read_at)


def preferences_out(user_id: uuid.UUID) -> PreferencesOut:
    prefs = preferences_for(user_id)
    return PreferencesOut(user_id=user_id, language=prefs.language,
                          reminder_offsets=list(prefs.reminder_offsets or []),
                          channels=prefs.channels or {})


@bp.post("/send")
@admin_required
@operation("Send a message to users (admins)", tags=("notifications",), body=SendIn,
           response=SendOut, status=202, errors=(404,))
def send():
    data = parse_body(SendIn)
    users = users_by_ids(data.user_ids)
    count = send_announcement(users, data.title, data.message,
                              {Channel(c) for c in data.channels}, current_user)
    return respond(SendOut(notifications=count), 202)


@bp.get("/user/<uuid:user_id>")
@login_required
@operation("A user's notifications, newest first (own, or any for admins)",
           tags=("notifications",), query=ListQuery, response=NotificationList, errors=(404,))
def user_notifications(user_id: uuid.UUID):
    _own_or_admin(user_id)
    query = parse_query(ListQuery)
    rows = history.user_notifications(user_id, channel=query.channel, limit=query.limit,
                                      offset=query.offset)
    return respond(NotificationList(items=[notification_out(r) for r in rows],
                                    unread=unread_count(user_id)))


@bp.get("/preferences/<uuid:user_id>")
@login_required
@operation("A user's notification preferences", tags=("notifications",),
           response=PreferencesOut, errors=(404,))
def get_preferences(user_id: uuid.UUID):
    _own_or_admin(user_id)
    return respond(preferences_out(user_id))


@bp.put("/preferences")
@login_required
@operation("Change your notification preferences", tags=("notifications",),
           body=PreferencesIn, response=PreferencesOut)
def put_preferences():
    data = parse_body(PreferencesIn)
    update_preferences(current_user, language=data.language,
                       reminder_offsets=data.reminder_offsets, channels_=data.channels)
    return respond(preferences_out(current_user.id))


@bp.post("/devices/register")
@login_required
@operation("Register a browser or app for push notifications", tags=("notifications",),
           body=DeviceIn, response=DeviceOut, status=201)
def register_device():
    data = parse_body(DeviceIn)
    device = devices.register_device(current_user, data.kind, data.token, p256dh=data.p256dh,
                                     auth=data.auth,
                                     user_agent=request.headers.get("User-Agent", ""))
    return respond(DeviceOut(id=device.id, kind=device.kind, token=device.token,
                             created_at=device.created_at), 201)


@bp.delete("/devices/<path:token>")
@login_required
@operation("Unregister a push device", tags=("notifications",), status=204, errors=(404,))
def unregister_device(token: str):
    devices.unregister_device(current_user, token)
    return "", 204


@bp.post("/sms-status")
@operation("Twilio's SMS status callback", tags=("notifications",), auth=False, status=204,
           errors=(403,), description="Signed by Twilio (X-Twilio-Signature).")
def sms_status():
    validator = RequestValidator(current_app.config["TWILIO_AUTH_TOKEN"])
    signature = request.headers.get("X-Twilio-Signature", "")
    url = public_url(request.full_path.rstrip("?").removeprefix(request.script_root))
    if not signature or not (validator.validate(url, request.form.to_dict(), signature) or
                             validator.validate(request.url, request.form.to_dict(), signature)):
        raise Forbidden("The Twilio signature is missing or wrong.", "X-Twilio-Signature")
    record_sms_status(request.form.get("MessageSid", ""),
                      request.form.get("MessageStatus", ""),
                      request.form.get("ErrorCode"))
    return "", 204
