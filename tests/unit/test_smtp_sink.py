"""SMTP sink: mail sent with smtplib lands in the dev Mailbox, newest first."""

from __future__ import annotations

import smtplib
from datetime import UTC
from email.message import EmailMessage

import pytest

from portal.sandbox.mailbox import Mailbox
from portal.sandbox.smtp import SmtpSink


@pytest.fixture
def sink(tmp_path):
    with SmtpSink(tmp_path / "mailbox") as running:
        yield running


def send(port: int, subject: str, text: str, html: str | None = None, to="patient@example.test"):
    msg = EmailMessage()
    msg["From"] = "Clinic <no-reply@clinic.test>"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
        client.send_message(msg)


def test_a_multipart_email_is_stored_with_subject_text_and_html(sink, tmp_path):
    send(
        sink.port,
        "Appointment confirmed ✓",
        "See you on Monday.\n",
        "<p>See you on <b>Monday</b>.</p>",
    )

    [message] = Mailbox(tmp_path / "mailbox").list()

    assert message.channel == "email"
    assert message.subject == "Appointment confirmed ✓"
    assert message.sender == "Clinic <no-reply@clinic.test>"
    assert message.to == ["patient@example.test"]
    assert message.text == "See you on Monday.\n"
    assert message.html == "<p>See you on <b>Monday</b>.</p>\n"
    assert message.received_at.tzinfo is UTC
    assert Mailbox(tmp_path / "mailbox").get(message.id) == message


def test_messages_are_listed_newest_first(sink):
    send(sink.port, "first", "one")
    send(sink.port, "second", "two")

    assert [m.subject for m in sink.mailbox.list()] == ["second", "first"]
    assert [m.subject for m in sink.mailbox.list(limit=1)] == ["second"]


def test_the_channel_filter_separates_email_from_sms(sink):
    send(sink.port, "by email", "hello")
    sink.mailbox.add("sms", "+15005550006", ["+919800000000"], "", "Your OTP is 123456", None)

    assert [m.subject for m in sink.mailbox.list(channel="email")] == ["by email"]
    assert [m.text for m in sink.mailbox.list(channel="sms")] == ["Your OTP is 123456"]
    assert len(sink.mailbox.list()) == 2


def test_a_plain_text_email_has_no_html(sink):
    send(sink.port, "plain", "just text")

    [message] = sink.mailbox.list()

    assert message.text == "just text\n"
    assert message.html is None


def test_clear_empties_the_mailbox_and_unknown_ids_are_not_found(sink):
    send(sink.port, "gone soon", "bye")

    assert sink.mailbox.clear() == 1
    assert sink.mailbox.list() == []
    assert sink.mailbox.get("../../etc/passwd") is None
