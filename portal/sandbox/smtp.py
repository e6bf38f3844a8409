"""SMTP sink: a local stand-in for the mail server that stores every message in the dev Mailbox.

Flask-Mail talks real SMTP to it (``MAIL_SERVER=127.0.0.1``, ``MAIL_PORT=<sink port>``); each
message is parsed with the stdlib ``email`` package and saved with channel ``"email"``, where
``/dev/mailbox`` and the tests read it. Any AUTH credentials are accepted, and nothing is relayed.

    with SmtpSink("instance/mailbox") as sink:
        ...  # send to 127.0.0.1:sink.port

Standalone: ``python -m portal.sandbox.smtp --port 1025 --mailbox instance/mailbox``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
import warnings
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from portal.localredis import LOOPBACK, free_port
from portal.sandbox.mailbox import Mailbox, MailboxMessage

log = logging.getLogger(__name__)

CHANNEL = "email"


def parse_email(content: bytes) -> dict:
    """Split a raw RFC 5322 message into the fields the Mailbox stores.

    Returns a dict with ``sender``, ``subject``, ``text``, ``html`` (None if there is no HTML part)
    and ``meta`` (headers of interest and attachment file names).
    """
    msg: EmailMessage = message_from_bytes(content, policy=default_policy)
    text_part = msg.get_body(preferencelist=("plain",))
    html_part = msg.get_body(preferencelist=("html",))
    attachments = [
        part.get_filename() or part.get_content_type() for part in msg.iter_attachments()
    ]
    meta = {
        key: str(msg[header])
        for key, header in (
            ("header_to", "To"),
            ("cc", "Cc"),
            ("reply_to", "Reply-To"),
            ("message_id", "Message-ID"),
            ("date", "Date"),
        )
        if msg[header] is not None
    }
    if attachments:
        meta["attachments"] = attachments
    return {
        "sender": str(msg["From"] or ""),
        "subject": str(msg["Subject"] or ""),
        "text": _content(text_part) or "",
        "html": _content(html_part),
        "meta": meta,
    }


def _content(part) -> str | None:
    if part is None:
        return None
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # unknown charset or broken encoding: keep what we can
        content = (part.get_payload(decode=True) or b"").decode("utf-8", errors="replace")
    if isinstance(content, bytes):  # e.g. a text part declared as application/octet-stream
        content = content.decode("utf-8", errors="replace")
    return content.replace("\r\n", "\n")


class MailboxHandler:
    """aiosmtpd handler that stores every accepted message in a Mailbox."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    def store(self, content: bytes, mail_from: str, rcpt_tos: list[str]) -> MailboxMessage:
        """Parse and store one message; the envelope recipients (Bcc included) become ``to``."""
        fields = parse_email(content)
        meta = {"envelope_from": mail_from, **fields["meta"]}
        return self.mailbox.add(
            channel=CHANNEL,
            sender=fields["sender"] or mail_from,
            to=list(rcpt_tos),
            subject=fields["subject"],
            text=fields["text"],
            html=fields["html"],
            raw=content.decode("utf-8", errors="replace"),
            meta=meta,
        )

    async def handle_DATA(self, server, session, envelope) -> str:
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", errors="surrogateescape")
        try:
            message = self.store(content, envelope.mail_from or "", envelope.rcpt_tos)
        except Exception:  # a broken message must not kill the sink; tell the client instead
            log.exception("SMTP sink could not store a message")
            return "451 Requested action aborted: local error storing the message"
        log.info("SMTP sink stored %s: %s -> %s", message.id, message.sender, message.to)
        return "250 Message accepted for delivery"


def _accept_any_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    return AuthResult(success=True)


class SmtpSink:
    """An aiosmtpd server in a background thread writing to ``Mailbox(mailbox_dir)``.

    ``port=0`` picks a free port at the first start (aiosmtpd's Controller needs a real one) and
    keeps it across stop()/start().
    """

    def __init__(
        self, mailbox_dir: str | os.PathLike[str], host: str = LOOPBACK, port: int = 0
    ) -> None:
        self.mailbox = Mailbox(mailbox_dir)
        self.host = host
        self.port = port
        self._controller: Controller | None = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> Self:
        """Start listening; returns self. Starting a running sink is a no-op."""
        if self._controller is not None:
            return self
        if not self.port:
            self.port = free_port(self.host)
        # aiosmtpd 1.4 itself warns on every successful AUTH; keep that out of -W error test runs.
        warnings.filterwarnings(
            "ignore", message="Session.login_data is deprecated", category=DeprecationWarning
        )
        # aiosmtpd logs every line of every message (reset links included) at DEBUG.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        controller = Controller(
            MailboxHandler(self.mailbox),
            hostname=self.host,
            port=self.port,
            server_hostname="localhost",  # skip aiosmtpd's getfqdn(), which can stall on DNS
            authenticator=_accept_any_login,
            auth_require_tls=False,
        )
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening (a stopped sink can be started again on the same port)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the sink in the foreground until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m portal.sandbox.smtp", description=__doc__)
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, default=1025, help="0 picks a free port")
    parser.add_argument("--mailbox", default=os.environ.get("MAILBOX_DIR", "instance/mailbox"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-connection chatter

    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    with SmtpSink(args.mailbox, host=args.host, port=args.port) as sink:
        print(f"SMTP sink on {sink.host}:{sink.port}, mailbox {args.mailbox}", flush=True)
        while not done.wait(1.0):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
