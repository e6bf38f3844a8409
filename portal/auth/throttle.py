"""Failed sign-ins counted per account, whatever address they come from.

The per-address limit (LOGIN_RATE_LIMIT, Flask-Limiter) is generous, because a clinic's staff
share one connection; this one stops guessing a single account from many addresses. After
ACCOUNT_LOCK_AFTER failures (a wrong password or a wrong code) within
ACCOUNT_LOCK_WINDOW_MINUTES, the account is locked for a minute; each further failure after a
lock doubles it, up to ACCOUNT_LOCK_MAX_MINUTES. While locked, nothing is checked: the right
password gets the same answer as a wrong one. A completed sign-in clears the count.

Accounts are named by the email typed (normalised, then keyed-hashed so the store holds no
addresses), so an unknown email is counted and locked exactly like a known one and the answers
tell nobody which emails have accounts.

The counters live in the rate limiter's storage (Redis in production, shared by every web
process; memory in the tests, emptied per test), which expires them by itself; a table would
take a database write per failed guess and a sweeper for the rows of made-up emails. If the
storage fails, the limiter's in-memory fallback takes over; failing that, sign-in goes on
without the per-account count (the per-address limit still holds) rather than locking
everyone out.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time

from flask import current_app

from portal.exceptions import DomainError
from portal.extensions import limiter

log = logging.getLogger(__name__)

LOCK_BASE_SECONDS = 60
MAX_DOUBLINGS = 20  # 2**20 minutes is far past any cap; keeps the arithmetic small


class AccountLocked(DomainError):
    """Too many failed sign-ins for this account: wait `retry_after` seconds."""

    status = 429
    title = "Too many attempts"

    def __init__(self, retry_after: int) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(f"Too many attempts for this account; try again in "
                         f"{wait_in_words(self.retry_after)}.")


def wait_in_words(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def _key(kind: str, email: str) -> str:
    account = (email or "").strip().lower().encode()
    secret = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(secret, b"account-throttle:" + account, hashlib.sha256).hexdigest()[:40]
    return f"account-throttle/{kind}/{digest}"


def _storage():
    # The strategy's storage: Redis, or the in-memory fallback once Flask-Limiter found Redis
    # down.
    return limiter.limiter.storage


def _settings() -> tuple[int, int, int]:
    config = current_app.config
    return (max(1, config["ACCOUNT_LOCK_AFTER"]), config["ACCOUNT_LOCK_WINDOW_MINUTES"] * 60,
            config["ACCOUNT_LOCK_MAX_MINUTES"] * 60)


def locked_for(email: str) -> int:
    """Seconds this account must still wait (0: not locked)."""
    storage = _storage()
    key = _key("lock", email)
    try:
        if storage.get(key) <= 0:
            return 0
        # Rounded first: a float a hair above a whole second is that second, not the next.
        return max(1, math.ceil(round(storage.get_expiry(key) - time.time(), 3)))
    except storage.base_exceptions:
        log.warning("the account throttle's storage failed; not checking", exc_info=True)
        return 0


def check(email: str) -> None:
    """Raise AccountLocked while the account is locked."""
    seconds = locked_for(email)
    if seconds:
        raise AccountLocked(seconds)


def record_failure(email: str) -> int:
    """Count a failed sign-in; returns the seconds of the lock it started (0: none)."""
    storage = _storage()
    threshold, window, cap = _settings()
    fails, lock = _key("fails", email), _key("lock", email)
    try:
        count = storage.incr(fails, window)
        if count < threshold:
            return 0
        seconds = min(LOCK_BASE_SECONDS * 2 ** min(count - threshold, MAX_DOUBLINGS), cap)
        storage.clear(lock)
        storage.incr(lock, seconds)
        # The count outlives the lock by a window, so the next failure after it doubles it.
        storage.clear(fails)
        storage.incr(fails, seconds + window, amount=count)
    except storage.base_exceptions:
        log.warning("the account throttle's storage failed; failure not counted", exc_info=True)
        return 0
    log.info("account locked for %s s after %s failed sign-ins", seconds, count)
    return seconds


def reset(email: str) -> None:
    """A completed sign-in (or a password reset): the account starts afresh."""
    storage = _storage()
    try:
        storage.clear(_key("fails", email))
        storage.clear(_key("lock", email))
    except storage.base_exceptions:
        log.warning("the account throttle's storage failed; not reset", exc_info=True)
