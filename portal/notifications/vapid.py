"""VAPID keys for Web Push: loading the configured pair, and a development pair kept on disk.

Keys are in the form browsers and most tools (``npx web-push generate-vapid-keys``) use:
the private key as the 32-byte secret, the public key as the 65-byte uncompressed P-256
point, both base64url without padding. The public key is the browser's
``applicationServerKey``. ``VAPID_PRIVATE_KEY`` may also hold a PEM text or a base64url DER
key (what pywebpush/py_vapid accept).
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from py_vapid import Vapid02
from py_vapid.utils import b64urlencode

log = logging.getLogger(__name__)

DEV_KEY_FILE = "vapid.json"


def generate_key_pair() -> tuple[str, str]:
    """A new (private, public) pair, both base64url: raw secret and uncompressed point."""
    private = ec.generate_private_key(ec.SECP256R1())
    return _raw_private(private), _raw_public(private.public_key())


def _raw_private(key: ec.EllipticCurvePrivateKey) -> str:
    return b64urlencode(key.private_numbers().private_value.to_bytes(32, "big"))


def _raw_public(key: ec.EllipticCurvePublicKey) -> str:
    return b64urlencode(key.public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.UncompressedPoint))


@lru_cache(maxsize=8)
def signer(private_key: str) -> Vapid02:
    """The py_vapid signer for a configured private key; cached per key.

    Accepted: the raw 32-byte secret or a DER key (base64url), a PEM text, or the path of a
    PEM/DER file (what ``vapid --gen`` writes as private_key.pem).
    """
    text = private_key.strip()
    if "-----BEGIN" in text:
        return Vapid02.from_pem(text.encode())
    if _is_key_file(text):
        return Vapid02.from_file(text)
    return Vapid02.from_string(text)


def _is_key_file(text: str) -> bool:
    if "/" not in text and not text.endswith((".pem", ".der")):
        return False  # base64url keys never contain "/"
    try:
        return Path(text).is_file()
    except OSError:  # too long for a file name
        return False


def public_key_for(private_key: str) -> str:
    """The applicationServerKey that goes with a private key."""
    return _raw_public(signer(private_key).public_key)


def public_key(config) -> str | None:
    """The applicationServerKey browsers subscribe with; None when Web Push is off.

    It is derived from VAPID_PRIVATE_KEY, so a VAPID_PUBLIC_KEY from another pair (which would
    make every push service refuse our messages) cannot reach browsers; it is logged instead.
    """
    private = config.get("VAPID_PRIVATE_KEY")
    if not private:
        return None
    try:
        derived = public_key_for(private)
    except Exception:  # noqa: BLE001 - py_vapid raises many kinds for a bad key
        _warn_unusable(private[:4])
        return None
    configured = (config.get("VAPID_PUBLIC_KEY") or "").strip().rstrip("=")
    if configured and configured != derived:
        _warn_mismatch(configured)
    return derived


@lru_cache(maxsize=8)
def _warn_unusable(_prefix: str) -> None:
    log.error("VAPID_PRIVATE_KEY is not a usable key (raw or DER base64url, PEM, or a key "
              "file's path); Web Push is off")


@lru_cache(maxsize=8)
def _warn_mismatch(configured: str) -> None:
    log.warning("VAPID_PUBLIC_KEY does not belong to VAPID_PRIVATE_KEY; using the public key "
                "derived from the private key")


def ensure_dev_vapid_keys(app: Flask) -> None:
    """Outside production, give an app without VAPID keys a pair kept in instance/vapid.json.

    The first process to start writes the file (atomically: web and worker processes starting
    together end up with the same pair); later ones read it. In production nothing happens:
    without VAPID_PRIVATE_KEY Web Push is simply off.
    """
    config = app.config
    if config.get("PORTAL_ENV") == "production" or config.get("VAPID_PRIVATE_KEY"):
        return
    path = Path(config.get("VAPID_DEV_KEY_FILE") or Path(app.instance_path) / DEV_KEY_FILE)
    try:
        keys = _read(path) if path.exists() else _create(path)
    except (OSError, ValueError) as exc:
        log.warning("no development VAPID keys (%s); Web Push is off", exc)
        return
    config["VAPID_PRIVATE_KEY"] = keys["private_key"]
    config["VAPID_PUBLIC_KEY"] = keys["public_key"]


def _read(path: Path) -> dict[str, str]:
    keys = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(keys, dict) or not keys.get("private_key"):
        raise ValueError(f"{path} holds no private_key")
    try:
        keys["public_key"] = public_key_for(keys["private_key"])
    except Exception as exc:  # any decoding error means a broken file
        raise ValueError(f"{path} holds no valid VAPID key: {exc}") from exc
    return keys


def _create(path: Path) -> dict[str, str]:
    private, public = generate_key_pair()
    keys = {"private_key": private, "public_key": public,
            "note": "Development VAPID keys, made by the portal. Not for production."}
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(keys, handle, indent=2)
        try:
            os.link(temp, path)  # atomic, and fails if another process was first
        except FileExistsError:
            return _read(path)
    finally:
        temp.unlink(missing_ok=True)
    log.info("made development VAPID keys in %s", path)
    return keys
