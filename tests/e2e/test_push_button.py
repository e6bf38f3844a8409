"""The "notifications on this device" button on the settings page, in headless Chromium.

Headless Chromium runs with --disable-background-networking and no way to Google's push
service, so a real subscription fails inside the browser; the page must then say so plainly.
The round trip through our own API (subscribe -> register with the CSRF token -> unsubscribe ->
delete) is checked with the browser's PushManager replaced by a stand-in that hands out a
subscription. The button also reflects a dismissed prompt, blocked notifications, a browser
without push and a site without VAPID keys, with no script errors anywhere.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select

from portal.extensions import db
from portal.notifications.models import UserDevice
from portal.notifications.vapid import generate_key_pair
from tests.e2e.test_foundation_flows import log_in

pytestmark = pytest.mark.e2e

SETTINGS = "/notifications/settings"
TURN_ON = "Turn on notifications on this device"
TURN_OFF = "Turn off notifications on this device"
# Where Chromium's real subscriptions point (a push service the portal accepts).
FAKE_ENDPOINT = "https://fcm.googleapis.com/fcm/send/e2e-subscription"


@pytest.fixture
def push_service_dns(monkeypatch) -> None:
    """fcm.googleapis.com resolves (to a public address; nothing is sent to it here), as the
    registration checks the endpoint's addresses and this machine has no DNS."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host == "fcm.googleapis.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("142.250.183.10", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def vapid(app, monkeypatch) -> str:
    private, public = generate_key_pair()
    monkeypatch.setitem(app.config, "VAPID_PRIVATE_KEY", private)
    monkeypatch.setitem(app.config, "VAPID_PUBLIC_KEY", public)
    return public


@pytest.fixture
def errors(page: Page) -> list[str]:
    """Uncaught script errors of the page (the button reports its own failures in words)."""
    found: list[str] = []
    page.on("pageerror", lambda error: found.append(str(error)))
    return found


@pytest.fixture
def patient(factory):
    return factory.create_patient(name="Pat Kumar", email="pat@example.com")


def open_settings(page: Page) -> None:
    log_in(page, "pat@example.com")
    page.goto(SETTINGS)
    # Until the settings template loads push.js itself, the script is added here to the same
    # page and container (push.js initialises a container once, so loading it twice is harmless).
    if not page.locator('script[src$="/js/push.js"]').count():
        page.add_script_tag(url="/static/js/push.js")


def push_box(page: Page):
    return page.locator("#push-subscribe")


def set_permission(context: BrowserContext, page: Page, origin: str, setting: str) -> None:
    """granted / denied / prompt for notifications, through the DevTools protocol."""
    session = context.new_cdp_session(page)
    # Playwright's contexts are not Chromium's default one: name it, or nothing changes.
    target = session.send("Target.getTargetInfo")["targetInfo"]
    session.send("Browser.setPermission", {"permission": {"name": "notifications"},
                                           "setting": setting, "origin": origin,
                                           "browserContextId": target["browserContextId"]})


FAKE_PUSH_MANAGER = """(() => {
  const endpoint = __ENDPOINT__, keys = __KEYS__;
  let current = null;
  PushManager.prototype.subscribe = function (options) {
    current = {
      endpoint: endpoint,
      options: { userVisibleOnly: true, applicationServerKey: options.applicationServerKey },
      toJSON() { return { endpoint: endpoint, keys: keys }; },
      unsubscribe() { current = null; return Promise.resolve(true); }
    };
    return Promise.resolve(current);
  };
  PushManager.prototype.getSubscription = function () { return Promise.resolve(current); };
})();"""


def fake_push_manager(page: Page) -> None:
    """PushManager as a browser whose push service answered: one subscription, real keys."""
    def b64url(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    public = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    keys = {"p256dh": b64url(public), "auth": b64url(os.urandom(16))}
    page.add_init_script(FAKE_PUSH_MANAGER.replace("__ENDPOINT__", json.dumps(FAKE_ENDPOINT))
                         .replace("__KEYS__", json.dumps(keys)))


def devices_of(user) -> list[UserDevice]:
    db.session.expire_all()
    return list(db.session.scalars(select(UserDevice).where(UserDevice.user_id == user.id)))


def test_turning_on_without_a_reachable_push_service_says_so(
        page: Page, context: BrowserContext, base_url, patient, vapid, errors):
    context.grant_permissions(["notifications"], origin=base_url)
    open_settings(page)
    box = push_box(page)
    button = box.get_by_role("button", name=TURN_ON)
    expect(button).to_be_enabled()
    expect(box).to_have_attribute("data-state", "off")
    expect(box.get_by_role("status")).to_have_text("Notifications are off on this device.")
    # The service worker is registered for the whole site.
    scope = page.evaluate("navigator.serviceWorker.getRegistration().then(r => r && r.scope)")
    assert scope == f"{base_url}/"

    button.click()

    expect(box).to_have_attribute("data-state", re.compile("^(error|on)$"))
    if box.get_attribute("data-state") == "on":
        pytest.skip("this machine's Chromium reached its push service; see the next test")
    expect(box.get_by_role("status")).to_have_text(
        "Your browser couldn't reach its push service, so notifications can't be turned on "
        "right now. Check your connection and try again later.")
    expect(button).to_be_enabled()  # it may be tried again
    assert devices_of(patient) == []
    assert errors == []


def test_turning_on_registers_this_browser_and_turning_off_removes_it(
        page: Page, context: BrowserContext, base_url, patient, vapid, errors,
        push_service_dns):
    context.grant_permissions(["notifications"], origin=base_url)
    fake_push_manager(page)
    open_settings(page)
    box = push_box(page)

    box.get_by_role("button", name=TURN_ON).click()

    expect(box).to_have_attribute("data-state", "on")
    expect(box.get_by_role("status")).to_have_text("Notifications are on for this device.")
    [device] = devices_of(patient)
    assert (device.kind, device.token, device.active) == ("WEBPUSH", FAKE_ENDPOINT, True)
    assert "Chrome" in device.user_agent

    box.get_by_role("button", name=TURN_OFF).click()

    expect(box).to_have_attribute("data-state", "off")
    expect(box.get_by_role("status")).to_contain_text("Notifications are off on this device.")
    expect(box.get_by_role("button", name=TURN_ON)).to_be_enabled()
    assert devices_of(patient) == []
    assert errors == []


def test_blocked_notifications_are_explained(page: Page, context: BrowserContext, base_url,
                                            patient, vapid, errors):
    page.goto("/")
    set_permission(context, page, base_url, "denied")
    open_settings(page)
    box = push_box(page)
    expect(box).to_have_attribute("data-state", "denied")
    expect(box.get_by_role("status")).to_have_text(
        "Notifications are blocked for this site in your browser. To get them, allow "
        "notifications in your browser's site settings, then reload this page.")
    expect(box.get_by_role("button")).to_be_hidden()
    assert errors == []


def test_a_dismissed_prompt_leaves_it_off(page: Page, context: BrowserContext, base_url,
                                          patient, vapid, errors):
    page.goto("/")
    set_permission(context, page, base_url, "prompt")
    open_settings(page)
    box = push_box(page)

    box.get_by_role("button", name=TURN_ON).click()  # headless Chromium dismisses the prompt

    expect(box).to_have_attribute("data-state", "off")
    expect(box.get_by_role("status")).to_have_text(
        "You didn't allow notifications. Press the button again when you're ready.")
    expect(box.get_by_role("button", name=TURN_ON)).to_be_enabled()
    assert errors == []


def test_a_browser_without_push_is_told_so(page: Page, patient, vapid, errors):
    page.add_init_script("delete window.PushManager;")
    open_settings(page)
    box = push_box(page)
    expect(box).to_have_attribute("data-state", "unsupported")
    expect(box.get_by_role("status")).to_contain_text(
        "This browser can't show push notifications. You'll still get your notifications by "
        "email, SMS and in the notification centre.")
    expect(box.get_by_role("button")).to_be_hidden()
    assert errors == []


def test_without_vapid_keys_the_page_says_push_is_unavailable(
        page: Page, context: BrowserContext, base_url, patient, app, monkeypatch, errors):
    monkeypatch.setitem(app.config, "VAPID_PRIVATE_KEY", "")
    context.grant_permissions(["notifications"], origin=base_url)
    open_settings(page)
    box = push_box(page)
    expect(box).to_have_attribute("data-state", "unavailable")
    expect(box.get_by_role("status")).to_have_text(
        "Push notifications aren't available on this site at the moment.")
    expect(box.get_by_role("button")).to_be_hidden()
    assert errors == []


def test_the_service_worker_shows_a_pushed_message_linking_into_the_site(
        page: Page, context: BrowserContext, base_url, patient, vapid, errors):
    """A push as the browser hands it to /sw.js (DevTools' deliverPushMessage)."""
    context.grant_permissions(["notifications"], origin=base_url)
    open_settings(page)
    expect(push_box(page)).to_have_attribute("data-state", "off")  # /sw.js is registered
    session = context.new_cdp_session(page)
    registrations: list[dict] = []
    session.on("ServiceWorker.workerRegistrationUpdated",
               lambda event: registrations.extend(event["registrations"]))
    session.send("ServiceWorker.enable")
    page.wait_for_function("navigator.serviceWorker.ready.then(() => true)")
    for _ in range(50):  # CDP events arrive while Playwright waits
        if any(r["scopeURL"] == f"{base_url}/" for r in registrations):
            break
        page.wait_for_timeout(100)
    [registration] = [r for r in registrations if r["scopeURL"] == f"{base_url}/"
                      and not r["isDeleted"]]

    session.send("ServiceWorker.deliverPushMessage", {
        "origin": base_url, "registrationId": registration["registrationId"],
        "data": json.dumps({"title": "Reminder", "body": "Your appointment is in 1 hour",
                            "url": "https://elsewhere.example/appointments/42?x=1#join"})})

    shown = page.wait_for_function(SHOWN_NOTIFICATIONS, timeout=30_000).json_value()
    # The link is opened on this site whatever host the message names.
    assert shown == [{"title": "Reminder", "body": "Your appointment is in 1 hour",
                      "data": {"url": f"{base_url}/appointments/42?x=1#join"}}]
    assert errors == []


# Playwright polls this until the service worker has shown something (or its timeout ends).
SHOWN_NOTIFICATIONS = """async () => {
  const registration = await navigator.serviceWorker.ready;
  const shown = await registration.getNotifications();
  return shown.length ? shown.map(n => ({ title: n.title, body: n.body, data: n.data })) : null;
}"""
