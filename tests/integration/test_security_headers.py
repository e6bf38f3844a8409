"""Headers every response carries: a strict Content-Security-Policy and friends."""

from __future__ import annotations

from pathlib import Path

from portal import content_security_policy


def test_pages_allow_only_our_own_scripts_and_styles(app, client):
    app.config["RAZORPAY_CHECKOUT_URL"], previous = ("http://127.0.0.1:5001/checkout",
                                                     app.config["RAZORPAY_CHECKOUT_URL"])
    try:
        policy = client.get("/doctors/").headers["Content-Security-Policy"]
    finally:
        app.config["RAZORPAY_CHECKOUT_URL"] = previous
    directives = dict(part.split(" ", 1) for part in policy.split("; "))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"


def test_real_razorpay_keys_allow_its_checkout_and_nothing_else(app):
    config = {**app.config, "RAZORPAY_SANDBOX": False, "RAZORPAY_CHECKOUT_URL": ""}
    policy = content_security_policy(config)
    assert "script-src 'self' https://checkout.razorpay.com" in policy
    assert "frame-src 'self' https://api.razorpay.com https://checkout.razorpay.com" in policy


def test_the_sandbox_checkout_may_receive_the_payment_form_redirect(app):
    config = {**app.config, "RAZORPAY_SANDBOX": True,
              "RAZORPAY_CHECKOUT_URL": "http://127.0.0.1:5001/checkout"}
    assert "form-action 'self' http://127.0.0.1:5001" in content_security_policy(config)


def test_no_page_uses_inline_scripts_or_style_attributes():
    for template in Path("templates").rglob("*.html"):
        if "emails" in template.parts:
            continue  # email clients need inline styles; emails are not served pages
        text = template.read_text(encoding="utf-8")
        assert 'style="' not in text, template
        assert " on" + "click=" not in text, template
        for chunk in text.split("<script")[1:]:
            assert "src=" in chunk.split(">", 1)[0], template


def test_other_protective_headers(client):
    headers = client.get("/doctors/").headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
