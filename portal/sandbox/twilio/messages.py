"""The Message resource: the rules of ``POST .../Messages.json``, the resource's JSON and the
list pages, shaped like Twilio's (twilio.com/docs/messaging/api/message-resource).

Validation runs in Twilio's order: To (21604), From or MessagingServiceSid (21603), Body
(21602), the To number (21211, E.164 only), the From sender (21212: E.164, short code or
alphanumeric sender ID), MessagingServiceSid (21701), the magic numbers, Body length (21617).
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, date, datetime
from email.utils import format_datetime
from urllib.parse import urlencode

from portal.sandbox.twilio import errors
from portal.sandbox.twilio.errors import TwilioApiError

API_VERSION = "2010-04-01"
MAX_BODY = 1600
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# The sender Twilio picks from a Messaging Service's pool (the stand-in has one number).
SERVICE_SENDER = "+15005550006"

E164_RE = re.compile(r"^\+[1-9]\d{1,14}$")
SHORT_CODE_RE = re.compile(r"^\d{3,8}$")
ALPHANUMERIC_ID_RE = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
SERVICE_SID_RE = re.compile(r"^MG[0-9a-fA-F]{32}$")

# Twilio's test-credential magic numbers (twilio.com/docs/iam/test-credentials): the
# request is refused at once with this error.
MAGIC_TO = {
    "+15005550001": (errors.INVALID_TO, "The 'To' number {to} is not a valid phone number."),
    "+15005550002": (errors.CANNOT_ROUTE, "The 'To' phone number: {to}, is not currently "
                     "reachable using the 'From' phone number: {sender} via SMS."),
    "+15005550003": (errors.INTERNATIONAL_PERMISSION, "Permission to send an SMS has not been "
                     "enabled for the region indicated by the 'To' number: {to}."),
    "+15005550004": (errors.UNSUBSCRIBED, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (errors.NOT_SMS_CAPABLE, "'To' number {to} is not a valid mobile number"),
}  # fmt: skip
MAGIC_FROM = {
    "+15005550001": (errors.INVALID_FROM, "The 'From' number {sender} is not a valid phone "
                     "number, shortcode, or alphanumeric sender ID."),
    "+15005550007": (errors.FROM_NOT_OWNED, "The From phone number {sender} is not a valid, "
                     "SMS-capable inbound phone number or short code for your account."),
    "+15005550008": (errors.QUEUE_FULL, "This 'From' number has exceeded the maximum number of "
                     "queued messages"),
}  # fmt: skip
# The stand-in's own magic numbers (not Twilio's): accepted (201, status "queued"), and then
# the delivery goes wrong, as status callbacks and the resource's status report.
MAGIC_OUTCOMES = {
    "+15005550010": ("undelivered", 30003),  # sent, then "Unreachable destination handset"
    "+15005550011": ("failed", 30008),  # never sent: "Unknown error"
}
FINAL_STATUSES = ("delivered", "undelivered", "failed")

# GSM 03.38: the basic set (one septet each) and the extension table (two: ESC + char).
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")


def num_segments(body: str) -> int:
    """How many SMS segments carry ``body``: GSM-7 (160, or 153 per part) when every character
    is in the GSM alphabet, else UCS-2 (70, or 67 per part, counted in UTF-16 units)."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in body):
        units = sum(2 if c in GSM7_EXTENSION else 1 for c in body)
        single, part = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, part = 70, 67
    return 1 if units <= single else math.ceil(units / part)


def rfc2822(moment: datetime | None) -> str | None:
    """``Thu, 30 Jul 2015 20:12:31 +0000``, as Twilio writes dates."""
    return None if moment is None else format_datetime(moment.astimezone(UTC))


def new_sid() -> str:
    return "SM" + secrets.token_hex(16)


def message_uri(account_sid: str, sid: str, suffix: str = ".json") -> str:
    return f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}{suffix}"


def list_uri(account_sid: str) -> str:
    return f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"


def validate(params: Mapping[str, str]) -> dict:
    """The message fields of a create request, or TwilioApiError as Twilio would answer."""
    to = (params.get("To") or "").strip()
    sender = (params.get("From") or "").strip()
    service_sid = (params.get("MessagingServiceSid") or "").strip()
    body = params.get("Body")
    if not to:
        raise TwilioApiError(errors.TO_REQUIRED, "A 'To' phone number is required.")
    if not sender and not service_sid:
        raise TwilioApiError(errors.FROM_REQUIRED, "A 'From' phone number is required.")
    if not body:
        raise TwilioApiError(errors.BODY_REQUIRED, "Message body is required.")
    if not E164_RE.match(to):
        raise TwilioApiError(
            errors.INVALID_TO, f"The 'To' number {to} is not a valid phone number."
        )
    if sender and not (
        E164_RE.match(sender) or SHORT_CODE_RE.match(sender) or ALPHANUMERIC_ID_RE.match(sender)
    ):
        raise TwilioApiError(
            errors.INVALID_FROM,
            f"The 'From' number {sender} is not a valid phone number, shortcode, or "
            "alphanumeric sender ID.",
        )
    if service_sid and not SERVICE_SID_RE.match(service_sid):
        raise TwilioApiError(
            errors.INVALID_SERVICE, f"The Messaging Service Sid {service_sid} is invalid."
        )
    for number, table in ((sender, MAGIC_FROM), (to, MAGIC_TO)):
        if number in table:
            code, template = table[number]
            raise TwilioApiError(code, template.format(to=to, sender=sender or service_sid))
    if len(body) > MAX_BODY:
        raise TwilioApiError(
            errors.BODY_TOO_LONG,
            f"The concatenated message body exceeds the {MAX_BODY} character limit.",
        )
    callback = (params.get("StatusCallback") or "").strip() or None
    return {
        "to": to,
        "from": sender or None,
        "messaging_service_sid": service_sid or None,
        "body": body,
        "status_callback": callback,
    }


def magic_outcome(to: str) -> tuple[str, int | None]:
    """``(final status, error code)`` for a number: delivered, unless it is a magic one."""
    return MAGIC_OUTCOMES.get(to, ("delivered", None))


def new_record(account_sid: str, fields: dict, outcome: tuple[str, int | None]) -> dict:
    """A message just accepted: "queued" (or "accepted" when only a Messaging Service was
    given; Twilio assigns the sender later, and num_segments stays 0 until then)."""
    now = datetime.now(UTC)
    via_service = fields["from"] is None
    return {
        "sid": new_sid(),
        "account_sid": account_sid,
        "to": fields["to"],
        "from": fields["from"],
        "messaging_service_sid": fields["messaging_service_sid"],
        "body": fields["body"],
        "status": "accepted" if via_service else "queued",
        "num_segments": 0 if via_service else num_segments(fields["body"]),
        "error_code": None,
        "error_message": None,
        "date_created": now,
        "date_updated": now,
        "date_sent": None,
        "status_callback": fields["status_callback"],
        "outcome": {"status": outcome[0], "error_code": outcome[1]},
    }


def apply_status(record: dict, status: str, error_code: int | None) -> None:
    """Move a message to ``status`` (the stand-in's carrier reporting back)."""
    now = datetime.now(UTC)
    record["status"] = status
    record["date_updated"] = now
    if status == "sent":
        record["date_sent"] = now
    if record["from"] is None:  # the service's sender is known once the message leaves
        record["from"] = SERVICE_SENDER
        record["num_segments"] = num_segments(record["body"])
    if error_code is not None:
        record["error_code"] = error_code
        record["error_message"] = errors.DELIVERY_ERRORS.get(error_code)


def resource(record: dict) -> dict:
    """The Message resource JSON, with the keys in the order of Twilio's documented sample."""
    account_sid, sid = record["account_sid"], record["sid"]
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": record["body"],
        "date_created": rfc2822(record["date_created"]),
        "date_sent": rfc2822(record["date_sent"]),
        "date_updated": rfc2822(record["date_updated"]),
        "direction": "outbound-api",
        "error_code": record["error_code"],
        "error_message": record["error_message"],
        "from": record["from"],
        "messaging_service_sid": record["messaging_service_sid"],
        "num_media": "0",
        "num_segments": str(record["num_segments"]),
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": record["status"],
        "subresource_uris": {"media": message_uri(account_sid, sid, "/Media.json")},
        "to": record["to"],
        "uri": message_uri(account_sid, sid),
    }


# -- list pages -------------------------------------------------------------------------------


def _parse_moment(name: str, value: str) -> date | datetime:
    """``YYYY-MM-DD`` (a day) or ISO 8601 with a time (what the twilio client sends)."""
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise TwilioApiError(20001, f"Invalid {name}: {value}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _date_filters(args: Mapping[str, str]):
    """Predicates on date_sent from DateSent (that day), DateSent< and DateSent> (inclusive)."""
    checks = []
    for name, compare in (
        ("DateSent", lambda a, b: a == b),
        ("DateSent<", lambda a, b: a <= b),
        ("DateSent>", lambda a, b: a >= b),
    ):
        raw = args.get(name)
        if not raw:
            continue
        bound = _parse_moment(name, raw)
        if isinstance(bound, datetime):
            checks.append(lambda sent, b=bound, c=compare: c(sent, b))
        else:
            checks.append(lambda sent, b=bound, c=compare: c(sent.date(), b))
    return checks


def _positive_int(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise TwilioApiError(20001, f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise TwilioApiError(20001, f"{name} must be between {low} and {high}")
    return value


def list_page(account_sid: str, records: list[dict], args: Mapping[str, str]) -> dict:
    """One page of the account's messages, newest first, filtered by To, From and DateSent.

    Paging follows Twilio: ``PageSize`` (default 50, at most 1000), ``Page`` (0-based) and a
    ``PageToken`` (``PA<sid>``: after that message, ``PB<sid>``: before it) in the
    next/previous page URIs, so a message sent while paging neither repeats nor skips one.
    """
    page_size = _positive_int(args, "PageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    page = _positive_int(args, "Page", 0, 0, 10**6)
    checks = _date_filters(args)
    chosen = [
        r for r in reversed(records)
        if (not args.get("To") or r["to"] == args["To"])
        and (not args.get("From") or r["from"] == args["From"])
        and (not checks or (r["date_sent"] is not None and all(c(r["date_sent"]) for c in checks)))
    ]  # fmt: skip
    sids = [r["sid"] for r in chosen]
    token = args.get("PageToken") or ""
    start = page * page_size
    if token[:2] == "PA" and token[2:] in sids:
        start = sids.index(token[2:]) + 1
    elif token[:2] == "PB" and token[2:] in sids:
        start = max(0, sids.index(token[2:]) - page_size)
    items = chosen[start : start + page_size]

    filters = [(k, args[k]) for k in ("To", "From", "DateSent", "DateSent<", "DateSent>")
               if args.get(k)]  # fmt: skip
    base = list_uri(account_sid)

    def page_uri(number: int, page_token: str | None = None) -> str:
        query = [*filters, ("PageSize", page_size), ("Page", number)]
        if page_token:
            query.append(("PageToken", page_token))
        return f"{base}?{urlencode(query)}"

    has_next = start + page_size < len(chosen)
    has_previous = start > 0 and items
    return {
        "end": start + len(items) - 1 if items else start,
        "first_page_uri": page_uri(0),
        "next_page_uri": page_uri(page + 1, "PA" + items[-1]["sid"]) if has_next else None,
        "page": page,
        "page_size": page_size,
        "previous_page_uri": (
            page_uri(max(page - 1, 0), "PB" + items[0]["sid"]) if has_previous else None
        ),
        "messages": [resource(r) for r in items],
        "start": start,
        "uri": page_uri(page, token or None),
    }
