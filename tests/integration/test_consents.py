"""Consents: what registration records (the versions of the terms and the privacy notice, and
news and offers only when asked for), the privacy page and API that change them, and
announcements, which only patients who opted in receive, a withdrawal stopping even one
already queued."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.auth.models import User
from portal.auth.service import find_user_by_email
from portal.config import ConfigError, load_config
from portal.extensions import db
from portal.notifications.announcements import NOT_OPTED_IN, send_announcement
from portal.notifications.delivery import deliver
from portal.notifications.inbox import inbox
from portal.notifications.models import Channel, DeliveryStatus, NotificationLog
from portal.privacy import consents
from portal.privacy.models import Consent, ConsentKind
from tests.integration.support import (
    PASSWORD,
    count,
    field_error,
    logged_in,
    page_text,
    problem_errors,
    sync,
)

K = ConsentKind
FORM = {"name": "Meera Pillai", "email": "meera.pillai@example.com", "phone": "+919812300001",
        "timezone": "Asia/Kolkata", "password": "saffron-tide-63"}
HTMX = {"HX-Request": "true"}


def held(user) -> dict[str, tuple[str, bool]]:
    """{kind: (version, still given)} of every grant of the user's."""
    sync()
    return {row.kind.value: (row.version, row.withdrawn_at is None)
            for row in db.session.scalars(select(Consent).where(Consent.user_id == user.id)
                                          .order_by(Consent.granted_at))}


def bearer(client, user) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.api_token(user.email, PASSWORD)}"}


# --- registration ------------------------------------------------------------------------------


def test_the_registration_form_asks_for_the_terms_and_offers_news_unticked(client):
    text = page_text(client.get("/account/register"))

    assert re.search(r'<input[^>]*id="accept_terms"[^>]*required', text)
    assert 'I accept the <a href="/terms"' in text
    assert 'and the <a href="/privacy"' in text
    marketing = re.search(r'<input[^>]*id="marketing"[^>]*>', text).group(0)
    assert "checked" not in marketing
    assert "Send me news and offers" in text


def test_registering_records_the_versions_accepted_and_no_news(client, app, app_ctx):
    response = client.post_form("/account/register", {**FORM, "accept_terms": "y"})

    assert response.status_code == 302
    user = find_user_by_email(FORM["email"])
    assert held(user) == {"TERMS": (app.config["TERMS_VERSION"], True),
                          "PRIVACY": (app.config["PRIVACY_VERSION"], True)}
    assert not consents.has_consent(user.id, K.MARKETING)


def test_ticking_news_and_offers_records_that_too(client, app_ctx, monkeypatch, app):
    monkeypatch.setitem(app.config, "TERMS_VERSION", "2027-01")
    client.post_form("/account/register", {**FORM, "accept_terms": "y", "marketing": "y"})

    user = find_user_by_email(FORM["email"])
    assert held(user) == {"TERMS": ("2027-01", True), "PRIVACY": ("2026-12", True),
                          "MARKETING": ("2026-12", True)}


def test_without_accepting_the_terms_there_is_no_account(client, app_ctx):
    response = client.post_form("/account/register", {**FORM, "marketing": "y", "name": ""})

    assert response.status_code == 422
    assert field_error(response, "accept_terms") == (
        "Accept the terms of service and the privacy notice to create an account.")
    assert field_error(response, "name")  # every problem at once
    assert 'aria-invalid="true"' in re.search(r'<input[^>]*id="accept_terms"[^>]*>',
                                              page_text(response)).group(0)
    assert count(User) == count(Consent) == 0
    assert not logged_in(client)


def test_the_api_registration_needs_accept_terms_true(client, app_ctx):
    missing = client.post("/api/v1/auth/register", json=FORM)
    refused = client.post("/api/v1/auth/register", json={**FORM, "accept_terms": False})

    assert missing.status_code == refused.status_code == 422
    assert list(problem_errors(missing)) == ["accept_terms"]
    assert problem_errors(refused) == {"accept_terms": (
        "Accept the terms of service and the privacy notice to create an account.")}
    assert count(User) == count(Consent) == 0


def test_the_api_registration_records_the_same_consents(client, app, app_ctx):
    response = client.post("/api/v1/auth/register",
                           json={**FORM, "accept_terms": True, "marketing": True})

    assert response.status_code == 201
    user = find_user_by_email(FORM["email"])
    assert set(held(user)) == {"TERMS", "PRIVACY", "MARKETING"}
    other = client.post("/api/v1/auth/register", json={
        **FORM, "email": "second@example.com", "phone": "+919812300002", "accept_terms": True})
    assert other.status_code == 201
    assert set(held(find_user_by_email("second@example.com"))) == {"TERMS", "PRIVACY"}


# --- the texts ---------------------------------------------------------------------------------


def test_the_terms_and_the_privacy_notice_are_public_and_say_what_matters(client, app):
    terms = " ".join(page_text(client.get("/terms")).split())
    notice = " ".join(page_text(client.get("/privacy")).split())

    assert f"Version {app.config['TERMS_VERSION']}" in terms
    assert "CareConnect Clinic" in terms
    assert "call <strong>112</strong>" in terms
    assert f"Version {app.config['PRIVACY_VERSION']}" in notice
    for words in ("CareConnect Clinic", "Digital Personal Data Protection Act, 2023",
                  "365 days after the visit", "90 days after it was sent",
                  "Access and a copy", "Erasure", "Withdrawal", "never name your doctor"):
        assert words in notice, words


def test_the_notice_quotes_the_configured_retention(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "RETENTION_REASON_DAYS", 180)
    monkeypatch.setitem(app.config, "RETENTION_NOTIFICATION_DAYS", 30)

    notice = " ".join(page_text(client.get("/privacy")).split())

    assert "180 days after the visit" in notice
    assert "30 days after it was sent" in notice


def test_the_versions_come_from_the_configuration():
    assert load_config({"TERMS_VERSION": " 2027-01 ", "PRIVACY_VERSION": ""})[
        "TERMS_VERSION"] == "2027-01"
    assert load_config({"PRIVACY_VERSION": ""})["PRIVACY_VERSION"] == "2026-12"
    with pytest.raises(ConfigError, match="PRIVACY_VERSION"):
        load_config({"PRIVACY_VERSION": "x" * 21})


# --- the privacy page --------------------------------------------------------------------------


@pytest.fixture
def registered(client, app_ctx):
    """Meera, registered through the form with news and offers, and logged in."""
    client.post_form("/account/register", {**FORM, "accept_terms": "y", "marketing": "y"})
    return find_user_by_email(FORM["email"])


def test_the_privacy_page_shows_what_was_agreed(client, registered):
    text = page_text(client.get("/account/privacy"))

    assert "<h1>Your privacy</h1>" in text
    assert 'id="consents"' in text
    assert "you accepted version 2026-12 on" in text
    assert re.search(r'<input[^>]*checked[^>]*id="marketing"', text)
    assert "Accept version" not in text


def test_withdrawing_news_and_offers_on_the_page(client, registered):
    response = client.post_form("/account/privacy/consents", {"action": "marketing"})

    assert response.status_code == 303
    assert response.headers["Location"] == "/account/privacy"
    assert held(registered)["MARKETING"] == ("2026-12", False)
    page = page_text(client.get("/account/privacy"))
    assert "You will no longer receive news and offers." in page
    assert not re.search(r'<input[^>]*checked[^>]*id="marketing"', page)
    assert "Off since" in page


def test_with_htmx_the_section_is_swapped(client, registered):
    client.post_form("/account/privacy/consents", {"action": "marketing"})

    response = client.post_form("/account/privacy/consents",
                                {"action": "marketing", "marketing": "y"}, headers=HTMX)

    text = page_text(response)
    assert response.status_code == 200
    assert text.lstrip().startswith('<section id="consents"')
    assert "<h1>" not in text
    assert 'role="status">You will receive news and offers from the clinic.' in text
    assert consents.has_consent(registered.id, K.MARKETING)
    # Granted again: a new row; the withdrawn one stays as the record.
    assert count(Consent) == 4


def test_an_unknown_action_changes_nothing(client, registered):
    response = client.post_form("/account/privacy/consents", {"action": "withdraw-TERMS"})

    assert response.status_code == 422
    assert "Choose what to change." in page_text(response)
    assert held(registered)["TERMS"] == ("2026-12", True)


def test_new_terms_are_offered_for_acceptance(client, registered, app, monkeypatch):
    monkeypatch.setitem(app.config, "TERMS_VERSION", "2027-06")

    page = page_text(client.get("/account/privacy"))
    assert "It has changed since: the current version is 2027-06." in page
    assert "Accept version 2027-06" in page

    client.post_form("/account/privacy/consents", {"action": "accept-TERMS"})

    terms = [(r.version, r.withdrawn_at) for r in consents.history(registered)
             if r.kind == K.TERMS]
    assert terms == [("2026-12", None), ("2027-06", None)]
    assert "Accept version" not in page_text(client.get("/account/privacy"))


def test_an_account_the_clinic_made_can_accept_the_terms(client, factory):
    patient = factory.create_patient()
    client.login(patient.email)

    page = page_text(client.get("/account/privacy"))
    assert "not accepted yet (your account was made by the clinic)" in page
    client.post_form("/account/privacy/consents", {"action": "accept-PRIVACY"})

    assert held(patient) == {"PRIVACY": ("2026-12", True)}


# --- the API -----------------------------------------------------------------------------------


def test_the_api_lists_and_changes_ones_own_consents(client, factory):
    patient = factory.create_patient(marketing=True)
    headers = bearer(client, patient)

    listed = client.get("/api/v1/me/consents", headers=headers).get_json()["items"]
    assert [(c["kind"], c["given"]) for c in listed] == [
        ("TERMS", False), ("PRIVACY", False), ("MARKETING", True)]

    changed = client.put("/api/v1/me/consents", headers=headers,
                         json={"marketing": False, "terms": True})
    assert changed.status_code == 200
    by_kind = {c["kind"]: c for c in changed.get_json()["items"]}
    assert by_kind["MARKETING"]["given"] is False
    assert by_kind["MARKETING"]["withdrawn_at"]
    assert by_kind["TERMS"] | {"granted_at": None} == {
        "kind": "TERMS", "label": "Terms of service", "given": True, "version": "2026-12",
        "granted_at": None, "withdrawn_at": None, "current_version": "2026-12",
        "outdated": False}
    assert not consents.has_consent(patient.id, K.MARKETING)


def test_the_terms_cannot_be_withdrawn_through_the_api(client, factory):
    patient = factory.create_patient()
    headers = bearer(client, patient)
    client.put("/api/v1/me/consents", headers=headers, json={"terms": True, "privacy": True})

    response = client.put("/api/v1/me/consents", headers=headers, json={"privacy": False})

    assert response.status_code == 422
    assert "ask for your account to be erased" in problem_errors(response)["privacy"]
    assert consents.has_consent(patient.id, K.PRIVACY)


# --- the service -------------------------------------------------------------------------------


def test_granting_twice_adds_nothing_and_withdrawing_nothing_is_false(factory):
    patient = factory.create_patient()

    assert consents.grant(patient, K.MARKETING) is True
    assert consents.grant(patient, K.MARKETING) is False
    assert consents.withdraw(patient, K.MARKETING) is True
    assert consents.withdraw(patient, K.MARKETING) is False
    assert count(Consent) == 1
    assert consents.holders([patient.id], K.MARKETING) == set()


# --- announcements need news and offers --------------------------------------------------------


@pytest.fixture
def people(factory):
    return {"asked": factory.create_patient(marketing=True),
            "not_asked": factory.create_patient(),
            "doctor": factory.create_doctor(hours=()).user,
            "admin": factory.create_admin()}


def test_patients_without_the_opt_in_are_not_sent_announcements(people):
    made = send_announcement(list(people.values()), "Health camp", "Free BP checks Sunday",
                             {Channel.IN_APP}, people["admin"])

    assert made == 3
    sync()
    assert [n.subject for n in inbox(people["asked"].id)] == ["Health camp"]
    assert inbox(people["not_asked"].id) == []
    assert [n.subject for n in inbox(people["doctor"].id)] == ["Health camp"]
    assert [n.subject for n in inbox(people["admin"].id)] == ["Health camp"]


def test_the_api_leaves_them_out_too(client, people):
    response = client.post("/api/v1/notifications/send", headers=bearer(client, people["admin"]),
                           json={"user_ids": [str(people["not_asked"].id)], "title": "Offer",
                                 "message": "20% off", "channels": ["IN_APP", "EMAIL"]})

    assert response.status_code == 202
    assert response.get_json() == {"notifications": 0}
    assert count(NotificationLog) == 0


def test_a_withdrawal_drops_an_announcement_already_queued(app, people, mailbox):
    made = send_announcement([people["asked"]], "Health camp", "Free BP checks Sunday",
                             {Channel.EMAIL}, people["admin"])
    assert made == 1
    queued = db.session.scalars(select(NotificationLog)).one()
    assert queued.status == DeliveryStatus.PENDING

    consents.withdraw(people["asked"], K.MARKETING)
    assert deliver(queued.id) == DeliveryStatus.FAILED

    sync()
    row = db.session.get(NotificationLog, queued.id)
    assert (row.status, row.error, row.attempts) == ("FAILED", NOT_OPTED_IN, 0)
    assert mailbox.list() == []
    assert deliver(queued.id) == DeliveryStatus.FAILED  # and stays dropped


def test_an_admin_cannot_send_a_dropped_announcement_again(client, people):
    send_announcement([people["asked"]], "Offer", "20% off", {Channel.EMAIL}, people["admin"])
    row = db.session.scalars(select(NotificationLog)).one()
    consents.withdraw(people["asked"], K.MARKETING)
    deliver(row.id)
    client.login(people["admin"].email)

    response = client.post_form(f"/admin/notifications/{row.id}/resend")

    assert response.status_code == 302
    assert "has not opted in to news and offers" in page_text(
        client.get("/admin/notifications/"))
    assert db.session.get(NotificationLog, row.id).status == DeliveryStatus.FAILED


def test_the_announcement_page_says_how_many_will_receive_it(client, people, factory):
    factory.create_patient(marketing=True)
    client.login(people["admin"].email)

    text = page_text(client.get("/admin/notifications/send"))

    assert "patients receive them only if they opted in" in text
    assert "All patients: 2 of 3 will receive it." in text
    assert "All doctors: 1 will." in text


def test_the_announcement_page_sends_to_those_who_opted_in(client, people):
    client.login(people["admin"].email)

    response = client.post_form("/admin/notifications/send", {
        "audience": "patients", "title": "Health camp", "message": "Sunday",
        "channels": ["IN_APP"]})

    assert response.status_code == 302
    assert ("Announcement sent to 1 person: 1 notification. 1 patient without the "
            "news-and-offers consent left out.") in page_text(
        client.get("/admin/notifications/send"))
    assert inbox(people["not_asked"].id) == []


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"audience": "one", "email": "NOT_ASKED"}, "email",
     "This patient has not opted in to news and offers."),
    ({"audience": "patients"}, "audience", "No patient has opted in to news and offers yet."),
])
def test_an_announcement_nobody_may_receive_is_refused(client, people, data, field, message):
    consents.withdraw(people["asked"], K.MARKETING)
    client.login(people["admin"].email)
    data = {**data, **({"email": people["not_asked"].email} if data.get("email") else {})}

    response = client.post_form("/admin/notifications/send", {
        "title": "Offer", "message": "20% off", "channels": ["IN_APP"], **data})

    assert response.status_code == 422
    assert field_error(response, field) == message
    assert count(NotificationLog) == 0
