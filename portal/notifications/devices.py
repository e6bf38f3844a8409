"""Push devices: browsers subscribed to Web Push (VAPID), apps with FCM tokens.

Web Push goes through pywebpush, signed with the VAPID key (portal.notifications.vapid).
App tokens go to FCM's HTTP v1 API with an OAuth2 access token that a signed JWT of the
service account (FCM_SERVICE_ACCOUNT_FILE) buys from its token_uri, cached until it expires.

A device the provider says is gone for good (404/410, FCM's UNREGISTERED) is deactivated;
any other refusal fails the message but keeps the device, so a configuration mistake never
unsubscribes everyone.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from flask import current_app
from http_ece import ECEException
from py_vapid import VapidException
from pywebpush import WebPushException, webpush
from sqlalchemy import select, update

from portal import netguard
from portal.auth.models import User
from portal.clock import utcnow
from portal.exceptions import NotFound, ValidationFailed
from portal.extensions import db
from portal.notifications import vapid
from portal.notifications.channels import PermanentFailure, TransientFailure
from portal.notifications.models import UserDevice
from portal.transactions import write

log = logging.getLogger(__name__)

KINDS = ("WEBPUSH", "FCM")
# How long a push service keeps a message for a device that is offline.
PUSH_TTL_SECONDS = 3600
HTTP_TIMEOUT = 10

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
FCM_DEFAULT_BASE_URL = "https://fcm.googleapis.com"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# A cached access token is renewed this long before it expires.
TOKEN_MARGIN = timedelta(seconds=60)


class DeviceGone(PermanentFailure):
    """The provider says this subscription or token will never work again: deactivate it."""


# --- devices ---------------------------------------------------------------------------------


def active_devices(user_id: uuid.UUID) -> list[UserDevice]:
    """The user's devices that still take push messages."""
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
    elif kind == "WEBPUSH":
        problem = _endpoint_problem(token)
        if problem:
            errors["token"] = problem
    if kind == "WEBPUSH" and (not p256dh or not auth):
        errors["keys"] = "A Web Push subscription needs its p256dh and auth keys."
    elif kind == "WEBPUSH" and not _keys_valid(p256dh, auth):
        errors["keys"] = ("p256dh must be a P-256 public key and auth a 16-byte secret, "
                          "both base64url, as PushSubscription.toJSON() gives them.")
    if errors:
        raise ValidationFailed(errors)
    with write():
        device = db.session.scalar(select(UserDevice).where(UserDevice.token == token)) or \
            UserDevice(token=token, kind=kind)
        device.user_id, device.kind, device.p256dh, device.auth = user.id, kind, p256dh, auth
        device.user_agent, device.active, device.last_used_at = user_agent[:300], True, utcnow()
        # Added once complete: reading `user` may autoflush, and a half-made row fails.
        db.session.add(device)
    return device


def _push_rule() -> dict:
    """The URL rule for Web Push endpoints (portal.netguard.check_url's options).

    PUSH_ALLOW_HTTP_ENDPOINTS (tests only; refused in production) lets the tests' local push
    service on 127.0.0.1 through: http, any host, any address. The endpoint is still resolved
    and the connection still pinned to the address resolved.
    """
    if current_app.config.get("PUSH_ALLOW_HTTP_ENDPOINTS"):
        return {"allowed_hosts": ("*",), "allow_http": True, "allow_private": True}
    return {"allowed_hosts": current_app.config["PUSH_ALLOWED_HOSTS"]}


def _endpoint_problem(endpoint: str) -> str | None:
    """Why a Web Push endpoint is refused at registration, or None.

    The worker will POST to this URL: it must be a known push service's https URL whose host
    resolves only to public addresses (checked again when sending, see `_send_webpush`).
    """
    try:
        netguard.check_url(endpoint, **_push_rule())
    except netguard.UnresolvedHost:
        return ("The push service's address could not be found just now; "
                "subscribe again in a moment.")
    except netguard.UnsafeURL as exc:
        return f"A Web Push endpoint is a public push service's https:// URL: {exc}."
    return None


def _keys_valid(p256dh: str, auth: str) -> bool:
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _b64url(p256dh))
        return len(_b64url(auth)) == 16
    except ValueError:  # binascii.Error is one
        return False


def _b64url(text: str) -> bytes:
    text = text.strip().rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def unregister_device(user: User, token: str) -> None:
    """Forget one of the user's devices; NotFound for a token that is not theirs."""
    with write():
        device = db.session.scalar(select(UserDevice).where(UserDevice.token == token,
                                                            UserDevice.user_id == user.id))
        if device is None:
            raise NotFound("No such device.")
        db.session.delete(device)


# --- sending ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What sending to one device needs, read before any provider is called."""

    id: uuid.UUID
    kind: str
    token: str
    p256dh: str | None
    auth: str | None


def push_to_user(user_id: uuid.UUID, title: str, body: str, link: str | None) -> str:
    """Send to every active device; the log records the devices reached.

    Succeeds when any device took the message. Otherwise a transient failure (worth a retry)
    wins over a permanent one; devices that are gone are deactivated on the way. No database
    transaction stays open while the providers are called.
    """
    # A unit of work of its own so the read has ended: no transaction stays open during
    # the HTTP calls.
    with write():
        targets = [Target(d.id, d.kind, d.token, d.p256dh, d.auth)
                   for d in active_devices(user_id)]
    if not targets:
        raise PermanentFailure("the user has no push device")
    payload = json.dumps({"title": title, "body": body, "url": link or "/"})
    reached: list[uuid.UUID] = []
    gone: list[uuid.UUID] = []
    transient: TransientFailure | None = None
    permanent: PermanentFailure | None = None
    for target in targets:
        try:
            if target.kind == "WEBPUSH":
                _send_webpush(target, payload)
            else:
                _send_fcm(target, title, body, link)
        except DeviceGone as exc:
            log.info("push device %s deactivated: %s", target.id, exc)
            gone.append(target.id)
            permanent = exc
        except PermanentFailure as exc:
            permanent = exc
        except TransientFailure as exc:
            transient = exc
        else:
            reached.append(target.id)
    if gone or reached:
        with write():
            if gone:
                db.session.execute(update(UserDevice).where(UserDevice.id.in_(gone))
                                   .values(active=False))
            if reached:
                db.session.execute(update(UserDevice).where(UserDevice.id.in_(reached))
                                   .values(last_used_at=utcnow()))
    if reached:
        return ",".join(str(device_id) for device_id in reached)
    if transient is not None:
        raise transient
    if len(gone) == len(targets):
        raise PermanentFailure(f"{permanent}; the user has no push device left")
    raise permanent or PermanentFailure("no push device accepted the message")


def _send_webpush(device: Target, payload: str) -> None:
    config = current_app.config
    private_key = config.get("VAPID_PRIVATE_KEY")
    if not private_key:
        raise PermanentFailure("Web Push is off: VAPID_PRIVATE_KEY is not set")
    try:
        signer = vapid.signer(private_key)
    except Exception as exc:  # py_vapid raises many kinds for a bad key
        raise PermanentFailure(f"VAPID_PRIVATE_KEY is not a usable key: {exc}") from exc
    # The endpoint was checked at registration; it is checked again now, because a name can
    # point elsewhere since (DNS rebinding), and the request goes to the address checked here.
    try:
        destination = netguard.check_url(device.token, **_push_rule())
    except netguard.UnresolvedHost as exc:
        raise TransientFailure(f"the push endpoint is not reachable now: {exc}") from exc
    except netguard.UnsafeURL as exc:
        raise PermanentFailure(f"the push endpoint is refused, nothing was sent: {exc}") from exc
    try:
        with netguard.pinned_session(destination) as session:
            webpush(subscription_info={"endpoint": device.token,
                                       "keys": {"p256dh": device.p256dh, "auth": device.auth}},
                    data=payload, vapid_private_key=signer,
                    vapid_claims={"sub": config["VAPID_SUBJECT"]}, timeout=HTTP_TIMEOUT,
                    ttl=PUSH_TTL_SECONDS, requests_session=session)
    except netguard.UnsafeURL as exc:  # the pinned session refused another destination
        raise PermanentFailure(f"the push request left its endpoint: {exc}") from exc
    except WebPushException as exc:
        if exc.response is None:  # raised before sending: the subscription itself is broken
            raise DeviceGone(f"the subscription is unusable: {exc}") from exc
        status = exc.response.status_code
        if status in (404, 410):
            raise DeviceGone(f"the push subscription has expired ({status})") from exc
        if status == 429 or status >= 500:
            raise TransientFailure(f"the push service failed ({status})") from exc
        raise PermanentFailure(f"the push service refused the message ({status}): "
                               f"{_short(exc.response.text)}") from exc
    except VapidException as exc:
        raise PermanentFailure(f"VAPID cannot sign (is VAPID_SUBJECT a mailto: or https: "
                               f"URL?): {exc}") from exc
    except (ECEException, ValueError, TypeError) as exc:
        # Keys that do not decode, or an endpoint that is no URL: a broken subscription.
        raise DeviceGone(f"the subscription is unusable: {exc}") from exc
    except (requests.RequestException, OSError) as exc:
        raise TransientFailure(f"the push service is unreachable: {type(exc).__name__}") from exc


# --- FCM HTTP v1 -----------------------------------------------------------------------------


def _send_fcm(device: Target, title: str, body: str, link: str | None) -> str:
    """POST one message to FCM; returns FCM's message name."""
    config = current_app.config
    account = _service_account(config.get("FCM_SERVICE_ACCOUNT_FILE") or "")
    project = config.get("FCM_PROJECT_ID") or account.get("project_id")
    if not project:
        raise PermanentFailure("FCM is not configured: FCM_PROJECT_ID is not set")
    base_url = (config.get("FCM_BASE_URL") or FCM_DEFAULT_BASE_URL).rstrip("/")
    message = {"message": {"token": device.token,
                           "notification": {"title": title, "body": body},
                           "data": {"url": link or "/"}}}
    access_token = _fcm_access_token(account)
    try:
        response = requests.post(f"{base_url}/v1/projects/{quote(project, safe='')}/messages:send",
                                 json=message, timeout=HTTP_TIMEOUT,
                                 headers={"Authorization": f"Bearer {access_token}"})
    except requests.RequestException as exc:
        raise TransientFailure(f"FCM is unreachable: {type(exc).__name__}") from exc
    if response.status_code == 200:
        return str(_json(response).get("name", ""))
    status, code = response.status_code, _fcm_error_code(response)
    detail = f"{status} {code}".strip()
    if code in ("UNREGISTERED", "SENDER_ID_MISMATCH") or status == 404:
        raise DeviceGone(f"FCM says the app token is no longer valid ({detail})")
    if status == 401:
        _forget_token(account)  # the next attempt buys a fresh one
        raise TransientFailure(f"FCM refused the access token ({detail})")
    if status == 429 or status >= 500:
        raise TransientFailure(f"FCM failed ({detail})")
    raise PermanentFailure(f"FCM refused the message ({detail}): {_short(response.text)}")


def _fcm_error_code(response: requests.Response) -> str:
    """The FcmError errorCode of an error response (UNREGISTERED, ...), else its status."""
    error = _json(response).get("error")
    if not isinstance(error, dict):
        return ""
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("errorCode"):
            return str(detail["errorCode"])
    return str(error.get("status") or "")


def _service_account(path: str) -> dict[str, Any]:
    if not path:
        raise PermanentFailure("FCM is not configured: FCM_SERVICE_ACCOUNT_FILE is not set")
    try:
        return _load_service_account(path, Path(path).stat().st_mtime_ns)
    except (OSError, ValueError, KeyError) as exc:
        raise PermanentFailure(f"FCM_SERVICE_ACCOUNT_FILE cannot be used: "
                               f"{type(exc).__name__}: {exc}") from exc


@lru_cache(maxsize=4)
def _load_service_account(path: str, _mtime_ns: int) -> dict[str, Any]:
    account = json.loads(Path(path).read_text(encoding="utf-8"))
    for field in ("client_email", "private_key"):
        if not account.get(field):
            raise KeyError(f"the service account file has no {field}")
    account.setdefault("token_uri", GOOGLE_TOKEN_URI)
    return account


_tokens: dict[tuple[str, str, str], tuple[str, datetime]] = {}
_tokens_lock = threading.Lock()


def _token_key(account: dict[str, Any]) -> tuple[str, str, str]:
    return account["client_email"], account.get("private_key_id", ""), account["token_uri"]


def _forget_token(account: dict[str, Any]) -> None:
    with _tokens_lock:
        _tokens.pop(_token_key(account), None)


def _fcm_access_token(account: dict[str, Any]) -> str:
    """An OAuth2 access token for FCM, from the cache until shortly before it expires."""
    key = _token_key(account)
    with _tokens_lock:  # one token request at a time; the others then find it cached
        cached = _tokens.get(key)
        if cached and cached[1] - TOKEN_MARGIN > utcnow():
            return cached[0]
        issued = int(time.time())
        headers = {"kid": account["private_key_id"]} if account.get("private_key_id") else None
        try:
            assertion = jwt.encode({"iss": account["client_email"], "scope": FCM_SCOPE,
                                    "aud": account["token_uri"], "iat": issued,
                                    "exp": issued + 3600},
                                   account["private_key"], algorithm="RS256", headers=headers)
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise PermanentFailure(f"the FCM service account key cannot sign: {exc}") from exc
        try:
            response = requests.post(account["token_uri"], timeout=HTTP_TIMEOUT,
                                     data={"grant_type": JWT_BEARER_GRANT,
                                           "assertion": assertion})
        except requests.RequestException as exc:
            raise TransientFailure(f"the OAuth token endpoint is unreachable: "
                                   f"{type(exc).__name__}") from exc
        data = _json(response)
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientFailure(f"the OAuth token endpoint failed ({response.status_code})")
        if response.status_code != 200 or not data.get("access_token"):
            raise PermanentFailure(f"the OAuth token endpoint refused the service account "
                                   f"({response.status_code} {data.get('error', '')}): "
                                   f"{_short(str(data.get('error_description', '')))}")
        try:
            lifetime = int(data.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600
        _tokens[key] = (data["access_token"], utcnow() + timedelta(seconds=lifetime))
        return data["access_token"]


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _short(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]
