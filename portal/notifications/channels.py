"""The providers, each through its real client: SMTP (Flask-Mail), Twilio, Web Push.

Each sender returns the provider's id for the delivery log, or raises TransientFailure
(worth retrying: the provider is down or busy) or PermanentFailure (retrying cannot help).
"""

from __future__ import annotations

import smtplib

from flask import current_app
from flask_mail import Message
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from portal.extensions import mail


class TransientFailure(Exception):
    """The provider could not take the message now; try again later."""


class PermanentFailure(Exception):
    """The provider refused the message for good (bad address, unsubscribed number)."""


def send_email(to: str, subject: str, text: str, html: str | None,
               attachments: list[tuple[str, str, bytes]], message_id: str) -> str:
    message = Message(subject=subject, recipients=[to], body=text, html=html)
    # The row's id as Message-ID (Flask-Mail would make a random one): a retried delivery
    # is recognisably the same message.
    message.msgId = message_id
    for filename, content_type, data in attachments:
        message.attach(filename, content_type, data)
    try:
        mail.send(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentFailure(f"the mail server refused the address: {exc}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise TransientFailure(f"the mail server failed: {type(exc).__name__}: {exc}") from exc
    return message_id


def twilio_client() -> Client:
    config = current_app.config
    client = Client(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"])
    if config["TWILIO_BASE_URL"]:
        # The local stand-in (portal/sandbox/twilio) in development and tests; edge and region
        # (from TWILIO_EDGE / TWILIO_REGION) would otherwise rewrite its host name.
        client.edge = client.region = None
        client.api.base_url = config["TWILIO_BASE_URL"]
    return client


# Twilio errors that no retry fixes: invalid number, unsubscribed, not SMS-capable, ...
PERMANENT_TWILIO_CODES = {21211, 21214, 21408, 21610, 21612, 21614, 21617}


def send_sms(to: str, body: str, status_callback: str | None) -> str:
    options = {"to": to, "from_": current_app.config["TWILIO_FROM_NUMBER"], "body": body}
    if status_callback:
        options["status_callback"] = status_callback
    try:
        message = twilio_client().messages.create(**options)
    except TwilioRestException as exc:
        if exc.code in PERMANENT_TWILIO_CODES or exc.status in (400, 404):
            raise PermanentFailure(f"Twilio refused the SMS: {exc.code} {exc.msg}") from exc
        raise TransientFailure(f"Twilio failed: {exc.status} {exc.msg}") from exc
    except (TwilioException, OSError) as exc:
        raise TransientFailure(f"Twilio could not be reached: {type(exc).__name__}") from exc
    return message.sid
