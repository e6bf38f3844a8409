"""The notification pages: the inbox and the bell's count, preferences, and the admin's delivery
log, template editor and announcements. HTMX requests are sent with `HX-Request: true`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.jobqueue import get_queue
from portal.notifications.defaults import default_template
from portal.notifications.forms import TYPES_BY_ROLE
from portal.notifications.inbox import inbox, unread_count
from portal.notifications.models import (
    Channel,
    DeliveryStatus,
    NotificationLog,
    NotificationTemplate,
    NotificationType,
)
from portal.notifications.notify import notify
from portal.notifications.preferences import ALWAYS_ON, channel_enabled, preferences_for
from portal.notifications.templates import offered_pairs, seed_default_templates, template_source
from tests.integration.support import count, field_error, page_text, reload, sync

HTMX = {"HX-Request": "true"}
START = datetime(2026, 12, 7, 3, 30, tzinfo=UTC)


def announce(user, title: str, cause: str, *, channels=frozenset({Channel.IN_APP}),
             link: str | None = None) -> NotificationLog:
    """One notification for `user` (in-app unless told), as an admin's announcement."""
    rows = notify(user, NotificationType.ANNOUNCEMENT,
                  {"title": title, "message": f"About {title}"}, cause,
                  only=set(channels), link=link)
    assert rows, "the notification was not made"
    return rows[0]


@pytest.fixture
def patient(factory):
    return factory.create_patient(name="Pat Kumar", email="pat@example.com")


@pytest.fixture
def patient_client(client, patient):
    client.login(patient.email)
    return client


@pytest.fixture
def admin_client(new_client, factory):
    browser = new_client()
    browser.login(factory.create_admin(name="Clinic Admin", email="admin@example.com").email)
    return browser


# --- the inbox ---------------------------------------------------------------------------------


def test_the_inbox_lists_the_users_own_in_app_notifications_newest_first(
        patient_client, patient, factory, frozen_clock):
    other = factory.create_patient(name="Ravi Shah")
    frozen_clock.freeze(START)
    announce(patient, "Clinic closed on Friday", "test:1",
             link="http://127.0.0.1:5000/appointments/")
    frozen_clock.advance(timedelta(minutes=5))
    announce(patient, "New pharmacy hours", "test:2")
    announce(patient, "Email only", "test:3", channels={Channel.EMAIL})
    announce(other, "Someone else's news", "test:4")

    text = page_text(patient_client.get("/notifications/"))

    assert text.index("New pharmacy hours") < text.index("Clinic closed on Friday")
    assert "Email only" not in text
    assert "Someone else's news" not in text
    assert "2 unread" in text
    assert text.count("Unread") >= 2, "unread ones are marked in words, not colour alone"
    # Our own absolute links become paths, so they work on whatever host serves the page.
    assert '<a href="/appointments/">Clinic closed on Friday</a>' in text


def test_the_inbox_has_an_empty_state(patient_client):
    response = patient_client.get("/notifications/")

    assert response.status_code == 200
    assert "No notifications yet." in page_text(response)
    assert "Mark all as read" not in page_text(response)


def test_the_inbox_pages_twenty_at_a_time(patient_client, patient, frozen_clock):
    frozen_clock.freeze(START)
    for n in range(23):
        frozen_clock.advance(timedelta(minutes=1))
        announce(patient, f"Notice number {n:02d}", f"test:{n}")

    first = page_text(patient_client.get("/notifications/"))
    second = patient_client.get("/notifications/?page=2", headers=HTMX)

    assert first.count('<li class="notice ') == 20
    assert "Notice number 22" in first
    assert "Notice number 02" not in first
    assert 'href="/notifications/?page=2"' in first
    assert second.status_code == 200
    assert "<html" not in second.get_data(as_text=True), "HTMX gets the list only"
    assert page_text(second).count('<li class="notice ') == 3
    assert "Notice number 00" in page_text(second)
    assert "Page 2" in page_text(second)


def test_the_count_fragment_shows_the_unread_number_and_the_latest_five(
        patient_client, patient, frozen_clock):
    frozen_clock.freeze(START)
    for n in range(7):
        frozen_clock.advance(timedelta(minutes=1))
        announce(patient, f"Item {n}", f"test:{n}")

    response = patient_client.get("/notifications/count", headers=HTMX)

    text = page_text(response)
    assert response.status_code == 200
    assert "<html" not in text
    assert 'id="bell-count"' in text
    assert "7 unread" in text
    assert 'hx-trigger="every 30s, notifications-changed from:body"' in text
    assert 'id="bell-latest" class="bell-latest" hx-swap-oob="true"' in text
    assert [f"Item {n}" in text for n in range(7)] == [False, False, True, True, True, True, True]


def test_the_count_fragment_has_no_badge_when_all_is_read(patient_client):
    text = page_text(patient_client.get("/notifications/count"))

    assert "unread" not in text
    assert "No notifications yet." in text


def test_a_visitor_is_sent_to_log_in_and_a_stale_poll_stops(client):
    assert client.get("/notifications/").headers["Location"].startswith("/account/login")
    assert client.get("/notifications/settings").headers["Location"].startswith(
        "/account/login")
    assert client.get("/notifications/count").headers["Location"].startswith("/account/login")
    assert client.get("/notifications/count", headers=HTMX).status_code == 286


def test_marking_one_read_with_htmx_swaps_the_list_and_tells_the_bell(
        patient_client, patient):
    first = announce(patient, "First news", "test:1")
    announce(patient, "Second news", "test:2")

    response = patient_client.post_form(f"/notifications/{first.id}/read", {"page": "1"},
                                        headers=HTMX)

    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "notifications-changed"
    text = page_text(response)
    assert text.lstrip().startswith('<section id="inbox"')
    assert "Marked as read." in text
    assert "1 unread" in text
    assert reload(first).read_at is not None
    assert unread_count(patient.id) == 1


def test_marking_one_read_without_javascript_redirects_back(patient_client, patient):
    row = announce(patient, "First news", "test:1")

    response = patient_client.post_form(f"/notifications/{row.id}/read", {"page": "1"})

    assert response.status_code == 302
    assert response.headers["Location"] == "/notifications/"
    assert reload(row).read_at is not None
    assert "Marked as read." in page_text(patient_client.get("/notifications/"))


def test_marking_all_read_with_and_without_htmx(patient_client, patient):
    for n in range(3):
        announce(patient, f"News {n}", f"test:{n}")

    plain = patient_client.post_form("/notifications/read-all", {"page": "2"})
    assert plain.status_code == 302
    assert plain.headers["Location"] == "/notifications/?page=2"
    sync()
    assert unread_count(patient.id) == 0

    announce(patient, "Later news", "test:9")
    htmx = patient_client.post_form("/notifications/read-all", headers=HTMX)
    assert htmx.headers["HX-Trigger"] == "notifications-changed"
    assert "All read" in page_text(htmx)
    sync()
    assert unread_count(patient.id) == 0


def test_another_users_notification_cannot_be_marked_read(patient_client, factory):
    other = factory.create_patient()
    theirs = announce(other, "Their news", "test:1")
    email = announce(other, "Their email", "test:2", channels={Channel.EMAIL})

    for log_id in (theirs.id, email.id, "6b1f3a0e-0000-4000-8000-000000000000"):
        assert patient_client.post_form(f"/notifications/{log_id}/read").status_code == 404
    assert reload(theirs).read_at is None


def test_a_visitor_cannot_mark_read(client, factory):
    row = announce(factory.create_patient(), "News", "test:1")

    response = client.post_form(f"/notifications/{row.id}/read")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/account/login")
    assert reload(row).read_at is None


# --- preferences -------------------------------------------------------------------------------


def input_tag(text: str, **attrs: str) -> str:
    """The one <input> of the page with these attributes."""
    found = [tag for tag in re.findall(r"<input\b[^>]*>", text)
             if all(f'{k}="{v}"' in tag for k, v in attrs.items())]
    assert len(found) == 1, (attrs, found)
    return found[0]


def is_checked(text: str, **attrs: str) -> bool:
    return re.search(r"\schecked[\s>]", input_tag(text, **attrs)) is not None


def selected_language(text: str) -> str:
    return re.search(r'<option\b(?=[^>]*\bselected\b)[^>]*value="([^"]+)"', text).group(1)


def grid_form(**changes) -> dict:
    """The settings form as a patient's browser posts it with everything on, then `changes`
    (a value of None leaves that field out: an unticked checkbox)."""

    data = {"language": "en", "reminder_offsets": ["1440", "60", "15"]}
    offered = offered_pairs()
    for kind in TYPES_BY_ROLE["patient"]:
        for channel in Channel:
            if (kind.value, channel.value) in offered and \
                    (channel.value, kind.value) not in ALWAYS_ON:
                data[f"ch-{channel.value}-{kind.value}"] = "on"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_the_settings_page_shows_the_defaults(patient_client):
    text = page_text(patient_client.get("/notifications/settings"))

    assert [minutes for minutes in (10080, 1440, 180, 60, 30, 15)
            if is_checked(text, name="reminder_offsets", value=str(minutes))] == [1440, 60, 15]
    assert selected_language(text) == "en"
    assert is_checked(text, name="ch-SMS-APPOINTMENT_REMINDER")
    assert "Reminders by SMS" in text
    assert 'id="push-subscribe"' in text


def test_saving_preferences(patient_client, patient, app_ctx):
    response = patient_client.post_form("/notifications/settings", grid_form(
        language="hi", reminder_offsets=["10080", "180"],
        **{"ch-SMS-APPOINTMENT_REMINDER": None, "ch-EMAIL-ANNOUNCEMENT": None}))

    assert response.status_code == 302
    assert response.headers["Location"] == "/notifications/settings"
    sync()
    prefs = preferences_for(patient.id)
    assert prefs.language == "hi"
    assert prefs.reminder_offsets == [10080, 180]
    assert not channel_enabled(prefs, "SMS", "APPOINTMENT_REMINDER")
    assert not channel_enabled(prefs, "EMAIL", "ANNOUNCEMENT")
    assert channel_enabled(prefs, "EMAIL", "APPOINTMENT_REMINDER")
    assert channel_enabled(prefs, "IN_APP", "APPOINTMENT_CONFIRMED")
    page = page_text(patient_client.get("/notifications/settings"))
    assert "Your notification settings are saved." in page
    assert not is_checked(page, name="ch-SMS-APPOINTMENT_REMINDER")
    assert is_checked(page, name="ch-EMAIL-APPOINTMENT_REMINDER")
    assert is_checked(page, name="reminder_offsets", value="180")
    assert not is_checked(page, name="reminder_offsets", value="60")
    assert selected_language(page) == "hi"


def test_six_reminder_times_are_refused_next_to_the_field(patient_client, patient, app_ctx):
    response = patient_client.post_form("/notifications/settings", grid_form(
        reminder_offsets=["10080", "1440", "180", "60", "30", "15"],
        **{"ch-SMS-APPOINTMENT_REMINDER": None}))

    assert response.status_code == 422
    assert field_error(response, "reminder_offsets") == "Choose at most 5 reminders."
    # What was ticked stays ticked, so nothing is lost.
    assert not is_checked(page_text(response), name="ch-SMS-APPOINTMENT_REMINDER")
    assert is_checked(page_text(response), name="reminder_offsets", value="30")
    sync()
    prefs = preferences_for(patient.id)
    assert prefs.reminder_offsets == [1440, 60, 15]
    assert channel_enabled(prefs, "SMS", "APPOINTMENT_REMINDER")


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"reminder_offsets": ["20"]}, "reminder_offsets", "not a valid choice"),
    ({"reminder_offsets": None}, "reminder_offsets", "choose at least one reminder time"),
    ({"language": "fr"}, "language", "not a valid choice"),
])
def test_invalid_preferences_are_shown_per_field(patient_client, changes, field, message):
    response = patient_client.post_form("/notifications/settings", grid_form(**changes))

    assert response.status_code == 422
    assert message in field_error(response, field).lower()


def test_the_receipt_by_email_cannot_be_switched_off(patient_client, patient, app_ctx):
    page = page_text(patient_client.get("/notifications/settings"))
    receipt = input_tag(page, **{"aria-describedby": "ch-EMAIL-PAYMENT_RECEIPT-note"})
    assert " checked " in receipt
    assert " disabled " in receipt
    assert "name=" not in receipt, "a disabled box is never posted"
    assert re.search(r'id="ch-EMAIL-PAYMENT_RECEIPT-note"[^>]*>Receipts always go by email<', page)

    # The disabled box is never posted; a crafted "off" is refused by the rules.
    saved = patient_client.post_form("/notifications/settings", grid_form())
    crafted = patient_client.post_form("/notifications/settings", grid_form(
        **{"ch-EMAIL-PAYMENT_RECEIPT": None, "ch-IN_APP-PAYMENT_RECEIPT": None}))

    assert saved.status_code == 302
    assert crafted.status_code == 302
    sync()
    prefs = preferences_for(patient.id)
    assert channel_enabled(prefs, "EMAIL", "PAYMENT_RECEIPT")
    assert "PAYMENT_RECEIPT" not in prefs.channels.get("EMAIL", {})
    assert not channel_enabled(prefs, "IN_APP", "PAYMENT_RECEIPT")


def test_a_doctor_sees_their_own_kinds_of_message_and_no_reminder_times(client, factory):
    doctor = factory.create_doctor(email="asha@example.com", hours=())
    client.login("asha@example.com")

    text = page_text(client.get("/notifications/settings"))

    assert "New bookings" in text
    assert "Payment receipts" not in text
    assert "Remind me" not in text
    response = client.post_form("/notifications/settings", {
        "language": "hi", "ch-EMAIL-DOCTOR_NEW_BOOKING": "on"})
    assert response.status_code == 302
    sync()
    prefs = preferences_for(doctor.user.id)
    assert prefs.language == "hi"
    assert prefs.reminder_offsets == [1440, 60, 15]
    assert not channel_enabled(prefs, "IN_APP", "DOCTOR_NEW_BOOKING")
    assert channel_enabled(prefs, "EMAIL", "DOCTOR_NEW_BOOKING")


# --- admin: who may ----------------------------------------------------------------------------

ADMIN_PAGES = ["/admin/notifications/", "/admin/notifications/templates",
               "/admin/notifications/templates/ANNOUNCEMENT/EMAIL/en",
               "/admin/notifications/send"]
ADMIN_POSTS = ["/admin/notifications/templates/preview",
               "/admin/notifications/templates/ANNOUNCEMENT/EMAIL/en",
               "/admin/notifications/templates/ANNOUNCEMENT/EMAIL/en/reset",
               "/admin/notifications/send",
               "/admin/notifications/6b1f3a0e-0000-4000-8000-000000000000/resend"]


def test_patients_and_doctors_get_403_on_the_admin_pages(patient_client, new_client, factory):
    doctor_browser = new_client()
    doctor_browser.login(factory.create_doctor(hours=()).user.email)
    for browser in (patient_client, doctor_browser):
        for url in ADMIN_PAGES:
            assert browser.get(url).status_code == 403, url
        for url in ADMIN_POSTS:
            assert browser.post_form(url, {"subject": "x", "body_text": "y"}).status_code == 403
    assert count(NotificationTemplate) == 0


def test_visitors_are_sent_to_log_in_from_the_admin_pages(client):
    for url in ADMIN_PAGES:
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/account/login")


# --- admin: the delivery log -------------------------------------------------------------------


@pytest.fixture
def log_rows(factory, frozen_clock):
    """Pat: an in-app and an email notification (the email FAILED); Ravi: an in-app one.
    Pat asked for news and offers, so her announcement may be sent again."""
    pat = factory.create_patient(name="Pat Kumar", email="pat@example.com", marketing=True)
    ravi = factory.create_patient(name="Ravi Shah", email="ravi.shah@example.com")
    frozen_clock.freeze(START)
    in_app = announce(pat, "Clinic closed on Friday", "test:1")
    frozen_clock.advance(timedelta(minutes=1))
    email = announce(pat, "Flu shots this week", "test:2", channels={Channel.EMAIL})
    email.status, email.attempts, email.error = "FAILED", 5, "the mail server refused it"
    frozen_clock.advance(timedelta(minutes=1))
    other = announce(ravi, "Parking is closed", "test:3")

    db.session.commit()
    return {"in_app": in_app, "email": email, "other": other}


def test_the_log_lists_every_notification_newest_first(admin_client, log_rows):
    text = page_text(admin_client.get("/admin/notifications/"))

    assert "3 notifications, newest first" in text
    assert text.index("Parking is closed") < text.index("Flu shots") < text.index("Clinic closed")
    assert "1 notification failed for good." in text
    assert "the mail server refused it" in text
    assert text.count(">Send again<") == 1


@pytest.mark.parametrize(("query", "shown"), [
    ("status=FAILED", ["Flu shots"]),
    ("channel=IN_APP", ["Clinic closed", "Parking is closed"]),
    ("type=ANNOUNCEMENT&channel=EMAIL", ["Flu shots"]),
    ("email=RAVI.shah", ["Parking is closed"]),
    ("email=pat%40example&status=SENT", ["Clinic closed"]),
    ("type=PAYMENT_RECEIPT", []),
    ("status=BOGUS", ["Clinic closed", "Flu shots", "Parking is closed"]),
])
def test_the_log_filters(admin_client, log_rows, query, shown):
    response = admin_client.get(f"/admin/notifications/?{query}", headers=HTMX)

    text = page_text(response)
    assert text.lstrip().startswith('<section id="results"'), "HTMX gets the results only"
    for subject in ("Clinic closed", "Flu shots", "Parking is closed"):
        assert (subject in text) == (subject in shown), subject
    if not shown:
        assert "No notifications match these filters." in text


def test_a_failed_notification_is_sent_again(admin_client, log_rows, app, redis_url):
    email = log_rows["email"]
    queue = get_queue("notifications")
    queued = queue.count

    response = admin_client.post_form(f"/admin/notifications/{email.id}/resend",
                                      {"next": "/admin/notifications/?status=FAILED"})

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/notifications/?status=FAILED"
    row = reload(email)
    assert row.status == DeliveryStatus.PENDING
    assert row.attempts == 0
    assert row.error == "resent by admin@example.com"
    assert queue.count == queued + 1
    assert "Sending again to pat@example.com." in page_text(
        admin_client.get("/admin/notifications/"))


def test_send_again_with_htmx_swaps_the_row(admin_client, log_rows):
    email = log_rows["email"]

    response = admin_client.post_form(f"/admin/notifications/{email.id}/resend",
                                      {"next": "https://evil.example/"}, headers=HTMX)

    text = page_text(response)
    assert text.lstrip().startswith(f'<tr id="log-{email.id}"')
    assert "Pending" in text
    assert "Send again" not in text
    assert 'role="status">Sending again to pat@example.com.' in text


def test_only_a_failed_notification_is_sent_again(admin_client, log_rows):
    sent = log_rows["in_app"]

    response = admin_client.post_form(f"/admin/notifications/{sent.id}/resend",
                                      {"next": "https://evil.example/"})

    assert response.headers["Location"] == "/admin/notifications/"
    assert "Only a failed notification can be sent again." in page_text(
        admin_client.get("/admin/notifications/"))
    assert reload(sent).status == DeliveryStatus.SENT


# --- admin: templates --------------------------------------------------------------------------


def test_the_preview_renders_sample_data(admin_client):
    response = admin_client.post_form("/admin/notifications/templates/preview", {
        "subject": "Hello {{ patient_name }}",
        "body_text": "{{ doctor_name }} at {{ start }}.{% if video_link %} {{ video_link }}"
                     "{% endif %}"}, headers=HTMX)

    text = page_text(response)
    assert response.status_code == 200
    assert "Hello Pat Kumar" in text
    assert "Dr. Asha Mehta at Mon 07 Dec 2026, 09:00. https://clinic.example.com/appointments/" \
        "7d1c" in text
    assert "alert" not in text


def test_the_preview_shows_a_template_error(admin_client):
    response = admin_client.post_form("/admin/notifications/templates/preview", {
        "subject": "", "body_text": "Hello {{ broken"}, headers=HTMX)

    text = page_text(response)
    assert response.status_code == 200
    assert 'role="alert"' in text
    assert "The template does not render" in text


def test_the_preview_is_sandboxed(admin_client):
    response = admin_client.post_form("/admin/notifications/templates/preview", {
        "body_text": "[{{ ''.__class__.__mro__ }}]"})

    assert '<pre class="preview-body">[]</pre>' in page_text(response)


def test_the_editor_shows_the_current_words_and_their_preview(admin_client):
    text = page_text(admin_client.get(
        "/admin/notifications/templates/APPOINTMENT_CONFIRMED/SMS/en"))

    assert "Your appointment at {{ clinic_name }} on {{ start }} is confirmed." in text
    assert "Your appointment at CareConnect Clinic on Mon 07 Dec 2026, 09:00 is confirmed." in text
    assert 'hx-post="/admin/notifications/templates/preview"' in text
    assert "The built-in default words" in text


def test_saving_a_template_changes_what_is_sent(admin_client, app_ctx):
    url = "/admin/notifications/templates/APPOINTMENT_CONFIRMED/EMAIL/en"

    response = admin_client.post_form(url, {
        "subject": "Booked: {{ doctor_name }}", "body_text": "See you at {{ start }}.",
        "action": "save"})

    assert response.status_code == 302
    assert response.headers["Location"] == url
    sync()
    assert template_source("APPOINTMENT_CONFIRMED", "EMAIL", "en") == (
        "Booked: {{ doctor_name }}", "See you at {{ start }}.")
    page = page_text(admin_client.get(url))
    assert "Saved: Booking confirmed, Email, English." in page
    assert "Reset to default" in page
    assert "Edited" in page_text(admin_client.get("/admin/notifications/templates"))


def test_a_template_that_does_not_render_is_not_saved(admin_client, app_ctx):
    url = "/admin/notifications/templates/APPOINTMENT_CONFIRMED/EMAIL/en"

    response = admin_client.post_form(url, {"subject": "Hi", "body_text": "{{ broken",
                                            "action": "save"})
    empty = admin_client.post_form(url, {"subject": "Hi", "body_text": "", "action": "save"})

    assert response.status_code == 422
    assert "The template does not render" in field_error(response, "body_text")
    assert empty.status_code == 422
    assert field_error(empty, "body_text") == "Write the message."
    assert count(NotificationTemplate) == 0


def test_the_preview_button_works_without_javascript(admin_client, app_ctx):
    response = admin_client.post_form(
        "/admin/notifications/templates/ANNOUNCEMENT/EMAIL/en",
        {"subject": "{{ title }}!", "body_text": "{{ message }}", "action": "preview"})

    assert response.status_code == 200
    assert "Clinic closed on Friday!" in page_text(response)
    assert count(NotificationTemplate) == 0


def test_reset_to_default_deletes_the_stored_words(admin_client, app_ctx):
    url = "/admin/notifications/templates/APPOINTMENT_CONFIRMED/EMAIL/en"
    admin_client.post_form(url, {"subject": "Booked", "body_text": "Changed words.",
                                 "action": "save"})

    response = admin_client.post_form(f"{url}/reset")

    assert response.status_code == 302
    assert response.headers["Location"] == url
    sync()
    assert count(NotificationTemplate) == 0
    assert template_source("APPOINTMENT_CONFIRMED", "EMAIL", "en") == \
        default_template("APPOINTMENT_CONFIRMED", "EMAIL", "en")
    assert "Reset to the built-in default words." in page_text(admin_client.get(url))


def test_the_templates_list_shows_every_key_and_where_its_words_come_from(
        admin_client, app_ctx):
    seed_default_templates()
    admin_client.post_form("/admin/notifications/templates/REFUND_COMPLETED/PUSH/hi",
                           {"subject": "वापसी", "body_text": "{{ refund_amount }}",
                            "action": "save"})

    text = page_text(admin_client.get("/admin/notifications/templates"))

    assert "Messages that are sent" in text
    assert 'href="/admin/notifications/templates/APPOINTMENT_RESERVED/IN_APP/hi"' in text
    assert "English words" in text  # Hindi has no slot-held words yet
    assert "Edited" in text
    assert "Channels a message is not sent on" in text


def test_an_unknown_template_is_404(admin_client):
    for url in ("/admin/notifications/templates/NOPE/EMAIL/en",
                "/admin/notifications/templates/ANNOUNCEMENT/FAX/en",
                "/admin/notifications/templates/ANNOUNCEMENT/EMAIL/fr"):
        assert admin_client.get(url).status_code == 404


# --- admin: announcements ----------------------------------------------------------------------


def in_app_subjects(user) -> list[str]:
    sync()
    return [row.subject for row in inbox(user.id)]


def test_an_announcement_to_all_patients(admin_client, factory, app_ctx):
    pat, ravi = factory.create_patient(marketing=True), factory.create_patient(marketing=True)
    doctor = factory.create_doctor(hours=())

    response = admin_client.post_form("/admin/notifications/send", {
        "audience": "patients", "title": "Clinic closed on Friday",
        "message": "For Diwali.", "channels": ["IN_APP"]})

    assert response.status_code == 302
    assert in_app_subjects(pat) == ["Clinic closed on Friday"]
    assert in_app_subjects(ravi) == ["Clinic closed on Friday"]
    assert in_app_subjects(doctor.user) == []
    assert "Announcement sent to 2 people: 2 notifications." in page_text(
        admin_client.get("/admin/notifications/send"))


def test_an_announcement_to_all_doctors_by_email_and_in_app(admin_client, factory, app_ctx):
    doctor = factory.create_doctor(hours=())
    patient = factory.create_patient()

    admin_client.post_form("/admin/notifications/send", {
        "audience": "doctors", "title": "Staff meeting", "message": "At 5.",
        "channels": ["IN_APP", "EMAIL"]})

    sync()
    rows = db_rows(doctor.user)
    assert sorted(r.channel for r in rows) == ["EMAIL", "IN_APP"]
    assert db_rows(patient) == []


def db_rows(user) -> list[NotificationLog]:
    sync()
    return list(db.session.scalars(select(NotificationLog).where(
        NotificationLog.user_id == user.id)))


def test_an_announcement_to_one_person(admin_client, factory, app_ctx):
    pat = factory.create_patient(email="pat@example.com", marketing=True)
    ravi = factory.create_patient()

    response = admin_client.post_form("/admin/notifications/send", {
        "audience": "one", "email": "PAT@example.com", "title": "Your results",
        "message": "Are ready.", "channels": ["IN_APP"]})

    assert response.status_code == 302
    assert in_app_subjects(pat) == ["Your results"]
    assert in_app_subjects(ravi) == []


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"audience": "one", "email": "nobody@example.com"}, "email",
     "No active account uses this email."),
    ({"audience": "one", "email": ""}, "email", "Enter the email of the person."),
    ({"channels": []}, "channels", "Choose at least one channel."),
    ({"title": ""}, "title", "Write a title."),
    ({"audience": "doctors"}, "audience", "There are no active doctors yet."),
])
def test_an_announcement_that_cannot_go_out_says_why(admin_client, factory, data, field,
                                                     message):
    factory.create_patient()
    response = admin_client.post_form("/admin/notifications/send", {
        "audience": "patients", "title": "Hello", "message": "World", "channels": ["IN_APP"],
        **data})

    assert response.status_code == 422
    assert field_error(response, field) == message
    assert count(NotificationLog) == 0
