"""Push devices: browsers subscribed to Web Push (VAPID), apps with FCM tokens."""

from __future__ import annotations

import json
import logging
import uuid

from flask import current_app
from sqlalchemy import select

from portal.auth.models import User
from portal.clock import utcnow
from portal.exceptions import NotFound, ValidationFailed
from portal.extensions import db
from portal.notifications.channels import PermanentFailure, TransientFailure
from portal.notifications.models import UserDevice

log = logging.getLogger(__name__)

KINDS = ("WEBPUSH", "FCM")


def active_devices(user_id: uuid.UUID) -> list[UserDevice]:
    return list(db.session.scalars(select(UserDevice).where(UserDevice.user_id == user_id,
                                                            UserDevice.active.is_(True))))


def register_device(user: User, kind: str, token: str, *, p256dh: str | None = None,
                    auth: str | None = None, user_agent: str = "") -> UserDevice:
    """Add (or move to this user, or refresh) a push subscription or app token."""
    errors: dict[str, str] = {}
    if kind not in KINDS:
        errors["kind"] = "Use WEBPUSH or FCM."
    if not token or len(token) > 600:
        errors["token"] = "Send the subscription endpoint or the app token (at most 600 chars)."  # noqa: S105
    elif kind == "WEBPUSH" and not token.startswith("https://") and not \
            current_app.config.get("PUSH_ALLOW_HTTP_ENDPOINTS"):
        errors["token"] = "A Web Push endpoint is an https:// URL."  # noqa: S105
    if kind == "WEBPUSH" and (not p256dh or not auth):
        errors["keys"] = "A Web Push subscription needs its p256dh and auth keys."
    if errors:
        raise ValidationFailed(errors)
    device = db.session.scalar(select(UserDevice).where(UserDevice.token == token))
    if device is None:
        device = UserDevice(token=token, kind=kind)
        db.session.add(device)
    device.user_id, device.kind, device.p256dh, device.auth = user.id, kind, p256dh, auth
    device.user_agent, device.active, device.last_used_at = user_agent[:300], True, utcnow()
    db.session.commit()
    return device


def unregister_device(user: User, token: str) -> None:
    device = db.session.scalar(select(UserDevice).where(UserDevice.token == token,
                                                        UserDevice.user_id == user.id))
    if device is None:
        raise NotFound("No such device.")
    db.session.delete(device)
    db.session.commit()


def push_to_user(user_id: uuid.UUID, title: str, body: str, link: str | None) -> str:
    """Send to every active device; the log records the endpoints reached."""
    devices = active_devices(user_id)
    if not devices:
        raise PermanentFailure("the user has no push device")
    payload = json.dumps({"title": title, "body": body, "url": link or "/"})
    reached, transient = [], None
    for device in devices:
        try:
            _send_webpush(device, payload) if device.kind == "WEBPUSH" else _send_fcm(
                device, title, body, link)
            reached.append(str(device.id))
            device.last_used_at = utcnow()
        except PermanentFailure:
            device.active = False  # the subscription is gone (404/410): stop using it
        except TransientFailure as exc:
            transient = exc
    db.session.commit()
    if not reached:
        raise transient or PermanentFailure("no push device accepted the message")
    return ",".join(reached)


def _send_webpush(device: UserDevice, payload: str) -> None:
    from pywebpush import WebPushException, webpush

    config = current_app.config
    if not config["VAPID_PRIVATE_KEY"]:
        raise PermanentFailure("Web Push is not configured (VAPID_PRIVATE_KEY)")
    try:
        webpush(subscription_info={"endpoint": device.token,
                                   "keys": {"p256dh": device.p256dh, "auth": device.auth}},
                data=payload, vapid_private_key=config["VAPID_PRIVATE_KEY"],
                vapid_claims={"sub": config["VAPID_SUBJECT"]}, timeout=10, ttl=3600)
    except WebPushException as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status in (404, 410):
            raise PermanentFailure(f"subscription expired ({status})") from exc
        raise TransientFailure(f"push service failed ({status})") from exc
    except OSError as exc:
        raise TransientFailure(f"push service unreachable: {type(exc).__name__}") from exc


def _send_fcm(device: UserDevice, title: str, body: str, link: str | None) -> None:
    raise PermanentFailure("FCM is not configured")
