"""Twilio's REST error body, and the exception the stand-in raises to send one.

Twilio answers every failure with ``{"code", "message", "more_info", "status"}`` (the
twilio client turns it into ``TwilioRestException(status, uri, msg, code)``). The codes used
here are Twilio's own (twilio.com/docs/errors/<code>).
"""

from __future__ import annotations

MORE_INFO = "https://www.twilio.com/docs/errors/{code}"

# HTTP-level errors: Twilio's 20xxx codes.
AUTHENTICATE = 20003
NOT_FOUND = 20404
METHOD_NOT_ALLOWED = 20004
HTTP_CODES = {
    400: (20001, "Bad request"),
    401: (AUTHENTICATE, "Authenticate"),
    404: (NOT_FOUND, "The requested resource was not found"),
    405: (METHOD_NOT_ALLOWED, "Method not allowed"),
    429: (20429, "Too Many Requests"),
    500: (20500, "An internal server error has occurred"),
    503: (20503, "Service Unavailable"),
}

# Message creation (twilio.com/docs/errors/<code>).
FROM_REQUIRED = 21603
BODY_REQUIRED = 21602
TO_REQUIRED = 21604
INVALID_TO = 21211
INVALID_FROM = 21212
INTERNATIONAL_PERMISSION = 21408
FROM_NOT_OWNED = 21606
QUEUE_FULL = 21611
CANNOT_ROUTE = 21612
UNSUBSCRIBED = 21610
NOT_SMS_CAPABLE = 21614
BODY_TOO_LONG = 21617
INVALID_SERVICE = 21701
INVALID_PAGE_SIZE = 20001

# Delivery errors reported in status callbacks (ErrorCode) and on the resource (error_code).
DELIVERY_ERRORS = {
    30001: "Queue overflow",
    30002: "Account suspended",
    30003: "Unreachable destination handset",
    30004: "Message blocked",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
}


class TwilioApiError(Exception):
    """An error answer of the Twilio API: HTTP ``status`` and Twilio's error body."""

    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> dict:
        return error_body(self.code, self.message, self.status)


def error_body(code: int, message: str, status: int) -> dict:
    """Twilio's error JSON, keys in the order Twilio sends them."""
    return {
        "code": code,
        "message": message,
        "more_info": MORE_INFO.format(code=code),
        "status": status,
    }


def http_error(status: int, message: str | None = None) -> TwilioApiError:
    """The error Twilio answers for an HTTP-level problem (auth, unknown URL, outage...)."""
    code, default = HTTP_CODES.get(status, (20000 + status, "HTTP error"))
    return TwilioApiError(code, message or default, status)


def not_found(path: str) -> TwilioApiError:
    return TwilioApiError(NOT_FOUND, f"The requested resource {path} was not found", 404)
