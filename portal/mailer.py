"""Sending email from templates: a `.txt` and `.html` pair per message."""

from __future__ import annotations

import logging

from flask import render_template
from flask_mail import Message

from portal.extensions import mail

log = logging.getLogger(__name__)


def send_templated_email(to: str, subject: str, template: str, **context) -> None:
    """Render `emails/<template>.txt` and `.html` and send them as one multipart message.

    Raises the SMTP error to the caller, who decides whether the user must be told.
    """
    message = Message(subject=subject, recipients=[to])
    message.body = render_template(f"emails/{template}.txt", **context)
    message.html = render_template(f"emails/{template}.html", **context)
    mail.send(message)
    log.info("sent %s email to user", template)
