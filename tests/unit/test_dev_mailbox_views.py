"""/dev/mailbox pages, on a bare Flask app with only the dev blueprint (no portal app needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from jinja2 import ChoiceLoader, DictLoader, FileSystemLoader

from portal.sandbox.dev_views import bp
from portal.sandbox.mailbox import Mailbox

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
BASE = (
    "<title>{% block title %}{% endblock %}</title>\n<main>{% block content %}{% endblock %}</main>"
)


@pytest.fixture
def mailbox(tmp_path):
    return Mailbox(tmp_path / "mailbox")


@pytest.fixture
def client(mailbox):
    app = Flask(__name__)
    app.config["MAILBOX_DIR"] = str(mailbox.directory)
    # base.html is stubbed so these pages are tested without the portal's layout and its links.
    app.jinja_loader = ChoiceLoader([DictLoader({"base.html": BASE}), FileSystemLoader(TEMPLATES)])
    app.register_blueprint(bp)
    return app.test_client()


def test_an_empty_mailbox_says_so(client):
    page = client.get("/dev/mailbox")

    assert page.status_code == 200
    assert "No messages yet" in page.get_data(as_text=True)


def test_messages_are_shown_newest_first_and_html_only_inside_a_sandboxed_iframe(client, mailbox):
    mailbox.add("email", "clinic@x.test", ["p@x.test"], "Older", "older text", None)
    mailbox.add(
        "email",
        "clinic@x.test",
        ["p@x.test"],
        "Newer",
        "newer text",
        '<p onclick="x()">Hi</p><script>alert(1)</script>',
    )

    body = client.get("/dev/mailbox").get_data(as_text=True)

    assert body.index("Newer") < body.index("Older")
    assert "<script>alert(1)</script>" not in body
    assert 'sandbox="" referrerpolicy="no-referrer"' in body
    assert 'srcdoc="&lt;p onclick=&#34;x()&#34;&gt;Hi&lt;/p&gt;&lt;script&gt;' in body


def test_the_channel_filter_shows_only_that_channel(client, mailbox):
    mailbox.add("email", "clinic@x.test", ["p@x.test"], "An email", "text", None)
    mailbox.add("sms", "+15005550006", ["+919800000000"], "", "An SMS body", None)

    body = client.get("/dev/mailbox?channel=sms").get_data(as_text=True)

    assert "An SMS body" in body
    assert "An email" not in body


def test_one_message_has_its_own_page_and_unknown_ids_are_404(client, mailbox):
    message = mailbox.add("email", "clinic@x.test", ["p@x.test"], "Receipt", "Paid ₹500", None)

    page = client.get(f"/dev/mailbox/{message.id}")

    assert page.status_code == 200
    assert "Paid ₹500" in page.get_data(as_text=True)
    assert client.get("/dev/mailbox/00000000000000000000-000000000000").status_code == 404
    assert client.get("/dev/mailbox/nope").status_code == 404
