"""Who may call what: every route of the app, for anonymous, a patient, another patient, the
patient's doctor, another doctor, an admin and the front desk's staff (invariant 6: each user
sees and changes only what is theirs; admins see payments; doctors only their own calendar; the
desk every appointment and patient, but no payouts, templates or doctor management).

The table below has one entry per (endpoint, method) of `app.url_map`; a route without an entry
fails `test_every_route_has_an_entry`, so a new route must say who may call it. Public routes say
why they are public.

Expectations per caller:
  OK      allowed: 2xx or 3xx, or a business answer about the object (400 bad signature, 402,
          409, 422), never 401 / 403 / 404 and never a redirect to the login page
  LOGIN   a visitor: HTML redirects to the login page, the API answers 401 problem+json
  HIDE    404: the object exists but is not theirs (ids cannot be probed)
  DENY    403: their role may not use the route at all
  an int  exactly that status (signed callbacks refuse everyone without the signature)

Besides the status, every response is searched for the owners' private details (patient A's
name, email, phone and reason for the visit, their family member's name; doctor A's block and
override reasons): only the
people allowed to see them may get them back. And callers who are refused change nothing: the
whole database is fingerprinted before and after their requests.

The world is rebuilt per test (the suite empties the database per test): the read-only routes
share one world in one test; each state-changing route gets a test and a world of its own, with
the refused callers first and the allowed ones after them.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from flask import current_app, url_for
from flask_mail import Message
from sqlalchemy import select, text

from portal import CSRF_EXEMPT_ENDPOINTS
from portal.appointments import service as appointments
from portal.auth import service as auth
from portal.availability import service as availability
from portal.desk import service as desk_service
from portal.doctors.photos import photo_key
from portal.extensions import db, mail
from portal.family import service as family
from portal.media import storage
from portal.notifications import devices
from portal.notifications.announcements import send_announcement
from portal.notifications.models import Channel, NotificationLog
from portal.payments import payouts
from portal.payments import service as payments
from portal.privacy import export
from portal.queue import service as queue
from portal.roles import Role
from portal.waitlist import service as waitlist
from tests.factories import MONDAY_MORNING, PASSWORD

ACTORS = ("anonymous", "patient", "other_patient", "doctor", "other_doctor", "admin", "staff")
SAFE = {"GET", "HEAD", "OPTIONS"}

OK, LOGIN, HIDE, DENY = "ok", "login", 404, 403
CSRF_TEXT = "the form is stale"

# Private details of the owners, and who may see each.
PATIENT_NAME = "Anaya Ownerpatient"
PATIENT_EMAIL = "anaya.owner@example.com"
VISIT_REASON = "Private-visit-reason-7731"
DEPENDENT_NAME = "Mira Ownerpatient"
BLOCK_REASON = "Private-block-reason-5512"
OVERRIDE_REASON = "Private-override-reason-9204"
PATIENT_SIDE = {"patient", "doctor", "admin", "staff"}  # the desk sees every patient
DOCTOR_SIDE = {"doctor", "admin"}
# Patient A's family member: no appointment of the world is for her, so only patient A.
HOLDER_ONLY = {"patient"}


@dataclass
class Access:
    """Who may call one (endpoint, method), and how to call it."""

    expect: dict[str, Any]
    reason: str = ""  # why a route is public
    form: dict | Callable | None = None  # HTML form fields (the CSRF token is added)
    json: dict | Callable | None = None  # API body
    args: dict = field(default_factory=dict)  # URL values over the world's defaults
    query: dict = field(default_factory=dict)  # query-string arguments (?doctor=...)
    no_leak_check: str = ""  # why the private-details check does not apply
    lands_on_login: bool = False  # the login page is where this route sends everyone


def row(anonymous, patient, other_patient, doctor, other_doctor, admin, staff,
        **kwargs) -> Access:
    return Access(dict(zip(ACTORS, (anonymous, patient, other_patient, doctor, other_doctor,
                                    admin, staff), strict=True)), **kwargs)


def public(reason: str, **kwargs) -> Access:
    return row(OK, OK, OK, OK, OK, OK, OK, reason=reason, **kwargs)


def signed(status: int, reason: str, **kwargs) -> Access:
    return row(status, status, status, status, status, status, status, reason=reason,
               **kwargs)


def logged_in(**kwargs) -> Access:
    return row(LOGIN, OK, OK, OK, OK, OK, OK, **kwargs)


def patients(**kwargs) -> Access:
    """Any patient (nothing of anyone else's is involved); staff roles may not."""
    return row(LOGIN, OK, OK, DENY, DENY, DENY, DENY, **kwargs)


def admins(**kwargs) -> Access:
    """Admins only: the desk's staff are refused too (payouts, templates, doctors, staff)."""
    return row(LOGIN, DENY, DENY, DENY, DENY, OK, DENY, **kwargs)


def desk(**kwargs) -> Access:
    """The front desk's pages: staff and admins."""
    return row(LOGIN, DENY, DENY, DENY, DENY, OK, OK, **kwargs)


def patients_appointment(**kwargs) -> Access:
    """Patient A's appointment: the patient, their doctor, admins and the desk (which sees
    every appointment)."""
    return row(LOGIN, OK, HIDE, OK, HIDE, OK, OK, **kwargs)


def own_payment(**kwargs) -> Access:
    """Patient A's payment: the patient, admins and the desk (which takes payments and hands
    out receipts); doctors see payouts, not payments."""
    return row(LOGIN, OK, HIDE, HIDE, HIDE, OK, OK, **kwargs)


def doctors_schedule(**kwargs) -> Access:
    """Doctor A's schedule, slots, blocks and overrides: the doctor and admins. The desk does
    not manage doctors: its staff are refused by role, as patients are."""
    return row(LOGIN, DENY, DENY, OK, HIDE, OK, DENY, **kwargs)


def doctors_only(**kwargs) -> Access:
    """A doctor's own page (no id: each doctor gets their own); admins, the desk and patients
    may not."""
    return row(LOGIN, DENY, DENY, OK, OK, DENY, DENY, **kwargs)


def runs_queue(**kwargs) -> Access:
    """Doctor A's queue today: the doctor, admins and the desk."""
    return row(LOGIN, DENY, DENY, OK, HIDE, OK, OK, **kwargs)


def own_user(**kwargs) -> Access:
    """Patient A's account data by user id: the patient, admins and the desk (which sees
    every patient of the clinic)."""
    return row(LOGIN, OK, HIDE, HIDE, HIDE, OK, OK, **kwargs)


def own_messages(**kwargs) -> Access:
    """Patient A's notifications and their settings: the patient and admins only."""
    return row(LOGIN, OK, HIDE, HIDE, HIDE, OK, HIDE, **kwargs)


def own_dependent(**kwargs) -> Access:
    """Patient A's family member: patient A only (staff roles may not use the route)."""
    return row(LOGIN, OK, HIDE, DENY, DENY, DENY, DENY, **kwargs)


def own_waitlist(**kwargs) -> Access:
    """Patient A's waitlist entry or offer: patient A only; staff roles may not use the route
    (doctors see how many wait per day, admins the conversion; neither sees the entries)."""
    return row(LOGIN, OK, HIDE, DENY, DENY, DENY, DENY, **kwargs)


def _join_waitlist_form(w) -> dict:
    return {"date_from": "2026-12-09", "date_to": "2026-12-10", "day_parts": "MORNING"}


def doctors_photo(**kwargs) -> Access:
    """Doctor A's photo: the doctor and admins; the other doctor, patients and the desk get 404
    (like a missing doctor: it is no role's business whether the id exists)."""
    return row(LOGIN, HIDE, HIDE, OK, HIDE, OK, HIDE, **kwargs)


def _stored_photo(w) -> str:
    """A photo file of doctor A's under MEDIA_ROOT: a file only, so no table changes."""
    key = photo_key(w.doctor.id, 1, 96)
    storage.write_files(current_app.config["MEDIA_ROOT"], {key: b"RIFF\x04\0\0\0WEBP"})
    return key


def _reserve_form(w) -> dict:
    return {"slot_id": str(w.free_slot.id), "doctor_id": str(w.doctor.id),
            "idempotency_key": ""}


_device_numbers = itertools.count()


TABLE: dict[tuple[str, str], Access] = {
    # --- public pages and plumbing ----------------------------------------------------------
    ("main.index", "GET"): public("the landing page; signed-in users are sent home"),
    ("healthz", "GET"): public("liveness probe; says only ok"),
    ("readyz", "GET"): public(
        "readiness probe; says only which of PostgreSQL and Redis is unavailable"),
    ("metrics", "GET"): public(
        "Prometheus scrapes pods directly; answers 404 to anything that came through a proxy "
        "(the Ingress, Caddy) and wants METRICS_TOKEN when it is set; counts only, no names"),
    ("static", "GET"): public("our CSS and JavaScript"),
    ("push.service_worker", "GET"): public("the service worker script must load for anyone"),
    ("push.vapid_public_key", "GET"): public("a public key by definition"),
    ("doctors.directory", "GET"): public("the doctor directory is for visitors too"),
    ("booking.doctor", "GET"): public("a doctor's public page with free times"),
    ("dev.mailbox", "GET"): public(
        "the development sandbox's mailbox; not registered in production "
        "(test_cookies_and_logs checks)", no_leak_check="shows every sandbox email"),
    ("dev.mailbox_json", "GET"): public("as dev.mailbox", no_leak_check="as dev.mailbox"),
    ("dev.message", "GET"): public("as dev.mailbox", no_leak_check="as dev.mailbox"),
    ("api.openapi_document", "GET"): public("the API's documentation"),
    ("api.docs_page", "GET"): public("the API's documentation"),
    ("api.doctors_api.list_doctors", "GET"): public("the directory, as JSON"),
    ("api.doctors_api.get_doctor", "GET"): public("a doctor's public profile, as JSON"),
    ("api.doctors_api.update_doctor", "PATCH"): doctors_schedule(
        json={"bio": "Sees adults and children."}),
    ("api.availability_api.get_schedule", "GET"): public(
        "weekly hours are public; blocks and reasons only for the doctor and admins "
        "(the private-details check covers that)"),
    ("api.availability_api.list_slots", "GET"): public("free times are public"),
    # --- accounts ------------------------------------------------------------------------------
    ("auth.login", "GET"): public("the login page"),
    ("auth.login", "POST"): public("logging in", form={"email": "nobody@example.com",
                                                       "password": "wrong-guess-1"}),
    ("auth.login_verify", "GET"): public(
        "the second step of logging in; without the password step in this session it sends "
        "visitors to the login page (and signed-in people home)", lands_on_login=True),
    ("auth.login_verify", "POST"): public(
        "as the GET: a code is only checked for a sign-in whose password was right",
        form={"code": "000000"}, lands_on_login=True),
    ("auth.two_factor", "GET"): logged_in(),  # or a sign-in that must set it up first
    ("auth.two_factor", "POST"): logged_in(form={"code": "000000"}),
    ("auth.two_factor_disable", "POST"): logged_in(
        form={"password": "wrong-guess-1", "code": "000000"}),
    ("auth.register", "GET"): public("patient self-registration"),
    ("auth.register", "POST"): public("patient self-registration", form={"name": ""}),
    ("auth.forgot_password", "GET"): public("asking for a reset link"),
    ("auth.forgot_password", "POST"): public(
        "asking for a reset link; the answer is the same for any address",
        form={"email": "nobody@example.com"}, lands_on_login=True),
    ("auth.reset_password", "GET"): public(
        "the emailed reset link: the signed token is the credential",
        args={"token": lambda w: w.reset_token}),
    ("auth.reset_password", "POST"): public(
        "as the GET; a too-short password changes nothing",
        args={"token": lambda w: w.reset_token}, form={"password": "x", "confirm": "y"}),
    ("auth.logout", "POST"): public("ends the caller's own session, if any",
                                    lands_on_login=True),
    ("auth.profile", "GET"): logged_in(),
    ("auth.profile", "POST"): logged_in(form={"name": "", "phone": "+919876543210"}),
    ("auth.change_email", "POST"): logged_in(form={
        "email_change-email": "new.address@example.com",
        "email_change-password": "wrong-guess-1"}),
    ("auth.confirm_email", "GET"): signed(
        400, "the link emailed to the new address: its signed token is the credential "
             "(a bad one here: 400); the GET only shows the address",
        args={"token": "not-a-token"}),
    ("auth.confirm_email", "POST"): signed(
        400, "as the GET; only the POST changes the address (a bad token here: 400)",
        args={"token": "not-a-token"}),
    ("auth.change_password", "GET"): logged_in(),
    ("auth.change_password", "POST"): logged_in(
        form={"current_password": "wrong-guess-1", "password": "new-lantern-77",
              "confirm": "new-lantern-77"}),
    ("api.auth_api.register", "POST"): public("API self-registration", json={}),
    ("api.auth_api.token", "POST"): public(
        "exchanges credentials for a token: whoever has them gets it",
        json={"email": PATIENT_EMAIL, "password": PASSWORD}),
    ("api.auth_api.me", "GET"): logged_in(),
    ("api.auth_api.update_me", "PATCH"): logged_in(json={"timezone": "Asia/Kolkata"}),
    ("api.auth_api.change_email", "POST"): logged_in(
        json={"email": "new.address@example.com", "password": "wrong-guess-1"}),
    ("api.auth_api.confirm_email", "POST"): signed(
        401, "the link emailed to the new address: its signed token is the credential "
             "(a bad one here: 401)", json={"token": "not-a-token"}),
    ("api.auth_api.change_password", "POST"): logged_in(
        json={"current_password": "wrong-guess-1", "new_password": "new-lantern-77"}),
    # --- family (API): only the account holder ---------------------------------------------------
    ("api.family_api.list_dependents", "GET"): patients(),
    ("api.family_api.add_dependent", "POST"): patients(json={
        "name": "Mira", "relation": "CHILD", "date_of_birth": "2019-05-04", "sex": "FEMALE"}),
    ("api.family_api.update_dependent", "PATCH"): own_dependent(json={"name": "Mira K"}),
    ("api.family_api.remove_dependent", "DELETE"): own_dependent(
        args={"dependent_id": lambda w: w.fresh_dependent()}),
    # --- family (HTML): only the account holder --------------------------------------------------
    ("family.index", "GET"): patients(),
    ("family.index", "POST"): patients(form={
        "name": "Kabir", "relation": "CHILD", "date_of_birth": "2021-02-03", "sex": "MALE"}),
    ("family.edit", "GET"): own_dependent(),
    ("family.edit", "POST"): own_dependent(form={
        "name": "Mira K", "relation": "CHILD", "date_of_birth": "2019-05-04", "sex": "FEMALE"}),
    ("family.remove", "POST"): own_dependent(
        args={"dependent_id": lambda w: w.fresh_dependent()}),
    # --- appointments (HTML) -------------------------------------------------------------------
    ("appointments.reserve", "POST"): patients(form=_reserve_form),
    ("appointments.index", "GET"): row(LOGIN, OK, OK, OK, OK, DENY, DENY),  # doctors: to practice
    ("appointments.practice", "GET"): doctors_only(),
    ("main.dashboard", "GET"): doctors_only(),
    ("appointments.detail", "GET"): patients_appointment(),
    ("appointments.status", "GET"): patients_appointment(),
    ("appointments.ics", "GET"): patients_appointment(),
    # The video call: only its doctor and patient (admins and the desk are not in the room).
    ("appointments.video_panel", "GET"): row(LOGIN, OK, HIDE, OK, HIDE, HIDE, HIDE),
    ("appointments.video_join", "GET"): row(LOGIN, OK, HIDE, OK, HIDE, HIDE, HIDE),
    ("api.appointments_api.video_join", "GET"): row(LOGIN, OK, HIDE, OK, HIDE, HIDE, HIDE),
    ("appointments.reason", "POST"): row(LOGIN, OK, HIDE, DENY, DENY, DENY, DENY,
                                         form={"reason": "Still coughing"}),
    ("appointments.visit_for", "POST"): row(
        LOGIN, OK, HIDE, DENY, DENY, DENY, DENY,
        form=lambda w: {"for_dependent_id": str(w.dependent.id)}),
    ("appointments.confirm", "POST"): row(LOGIN, OK, HIDE, HIDE, HIDE, OK, OK),
    ("appointments.cancel", "GET"): patients_appointment(),
    ("appointments.cancel", "POST"): patients_appointment(form={"reason": "Unwell"}),
    ("appointments.reschedule", "GET"): patients_appointment(),
    ("appointments.reschedule", "POST"): patients_appointment(
        form=lambda w: {"slot_id": str(w.free_slot.id)}),
    # Outcomes are the doctor's; the desk's "Done" is in the queue (queue.done).
    ("appointments.complete", "POST"): row(LOGIN, DENY, DENY, OK, HIDE, OK, OK),
    ("appointments.no_show", "POST"): row(LOGIN, DENY, DENY, OK, HIDE, OK, OK),
    # --- appointments (API) --------------------------------------------------------------------
    ("api.appointments_api.reserve", "POST"): patients(
        json=lambda w: {"slot_id": str(w.free_slot.id)}),
    ("api.appointments_api.get_appointment", "GET"): patients_appointment(),
    ("api.appointments_api.cancellation_quote", "GET"): patients_appointment(),
    ("api.appointments_api.set_visit_for", "PUT"): row(
        LOGIN, OK, HIDE, DENY, DENY, DENY, DENY,
        json=lambda w: {"for_dependent_id": str(w.dependent.id)}),
    ("api.appointments_api.confirm", "POST"): row(LOGIN, OK, HIDE, HIDE, HIDE, OK, OK,
                                                        json={}),
    ("api.appointments_api.cancel", "POST"): patients_appointment(json={"reason": "Unwell"}),
    ("api.appointments_api.reschedule", "POST"): patients_appointment(
        json=lambda w: {"slot_id": str(w.free_slot.id)}),
    ("api.appointments_api.complete", "POST"): row(LOGIN, DENY, DENY, OK, HIDE, OK, OK),
    ("api.appointments_api.no_show", "POST"): row(LOGIN, DENY, DENY, OK, HIDE, OK, OK),
    ("api.appointments_api.doctor_list", "GET"): row(LOGIN, DENY, DENY, OK, HIDE, OK,
                                                            DENY),
    ("api.appointments_api.patient_list", "GET"): own_user(),
    # --- the doctor's schedule (HTML; ?doctor= names doctor A) ---------------------------------
    ("availability.calendar", "GET"): doctors_schedule(),
    ("availability.weekly_hours", "GET"): doctors_schedule(),
    ("availability.weekly_hours", "POST"): doctors_schedule(form={"effective_from": "x"}),
    ("availability.overrides", "GET"): doctors_schedule(),
    ("availability.overrides", "POST"): doctors_schedule(form={"off-kind": "OFF"}),
    ("availability.delete_override", "POST"): doctors_schedule(
        args={"override_id": lambda w: w.fresh_override()}),
    ("availability.slot_detail", "GET"): doctors_schedule(),
    ("availability.block_slot", "POST"): doctors_schedule(
        args={"slot_id": lambda w: w.fresh_slot()}, form={"reason": "Meeting"}),
    ("availability.unblock", "POST"): doctors_schedule(
        args={"block_id": lambda w: w.fresh_block()}),
    # --- the doctor's profile (HTML; ?doctor= names doctor A) ----------------------------------
    ("doctor_profile.edit", "GET"): doctors_schedule(),
    ("doctor_profile.edit", "POST"): doctors_schedule(form={"name": ""}),
    # --- the doctor's schedule (API) -----------------------------------------------------------
    ("api.availability_api.set_weekly", "POST"): doctors_schedule(json=lambda w: {
        "doctor_id": str(w.doctor.id), "effective_from": "2026-12-21", "ranges": [
            {"weekday": 0, "start": "09:00", "end": "12:00", "consultation_type": "VIDEO",
             "slot_minutes": 30}]}),
    ("api.availability_api.block", "POST"): doctors_schedule(json=lambda w: {
        "doctor_id": str(w.doctor.id), "start": w.slots[3].start_at.isoformat(),
        "end": w.slots[3].end_at.isoformat(), "reason": "Meeting"}),
    ("api.availability_api.unblock", "DELETE"): doctors_schedule(
        args={"block_id": lambda w: w.fresh_block()}),
    ("api.availability_api.add_override", "POST"): doctors_schedule(json=lambda w: {
        "doctor_id": str(w.doctor.id), "start_date": "2027-01-04", "end_date": "2027-01-04",
        "kind": "OFF"}),
    ("api.availability_api.remove_override", "DELETE"): doctors_schedule(
        args={"override_id": lambda w: w.fresh_override()}),
    # --- doctors' photos (a form or body without a file: 422, or a redirect saying so) --------
    ("doctors.photo", "GET"): doctors_photo(),
    ("doctors.upload_photo", "POST"): doctors_photo(),
    ("doctors.delete_photo", "POST"): doctors_photo(),
    ("api.doctors_api.upload_photo", "POST"): doctors_photo(json={}),
    ("api.doctors_api.delete_photo", "DELETE"): doctors_photo(),
    ("media.serve", "GET"): public("doctors' photos, shown on the public directory and pages",
                                   args={"key": _stored_photo}),
    # --- the waitlist (HTML): patient A waits for doctor A (for their family member) and has
    # an offer of Monday 11:30 ----------------------------------------------------------------
    ("waitlist.index", "GET"): patients(),
    ("waitlist.join", "GET"): patients(query={"doctor": lambda w: w.doctor.id}),
    ("waitlist.join", "POST"): patients(query={"doctor": lambda w: w.doctor.id},
                                        form=_join_waitlist_form),
    ("waitlist.leave", "POST"): own_waitlist(),
    ("waitlist.offer", "GET"): own_waitlist(),
    ("waitlist.take", "POST"): own_waitlist(),
    ("admin_waitlist.conversion", "GET"): admins(),
    # --- the waitlist (API) --------------------------------------------------------------------
    ("api.waitlist_api.join", "POST"): patients(json=lambda w: {
        "doctor_id": str(w.doctor.id), **_join_waitlist_form(w), "day_parts": ["MORNING"]}),
    ("api.waitlist_api.list_entries", "GET"): patients(),
    ("api.waitlist_api.leave", "DELETE"): own_waitlist(),
    ("api.waitlist_api.list_offers", "GET"): patients(),
    ("api.waitlist_api.take", "POST"): own_waitlist(),
    ("api.waitlist_api.waiting_days", "GET"): doctors_schedule(),
    ("api.waitlist_api.conversion", "GET"): admins(),
    # --- payments (HTML) -----------------------------------------------------------------------
    ("payments.start", "GET"): row(LOGIN, OK, HIDE, DENY, DENY, DENY, DENY),
    ("payments.start", "POST"): row(LOGIN, OK, HIDE, DENY, DENY, DENY, DENY),
    ("payments.callback", "GET"): own_payment(),
    ("payments.verify", "POST"): own_payment(form=lambda w: dict(w.checkout_fields)),
    ("payments.cancelled", "GET"): own_payment(),
    ("payments.index", "GET"): logged_in(),  # each patient's own; staff are redirected
    ("payments.receipt", "GET"): own_payment(),
    ("payments.earnings", "GET"): doctors_only(),
    # Doctor A's weekly statement: doctor A only (admins have their own page of it).
    ("payments.earnings_statement", "GET"): row(LOGIN, DENY, DENY, OK, HIDE, DENY, DENY),
    ("payments.earnings_statement_csv", "GET"): row(LOGIN, DENY, DENY, OK, HIDE, DENY, DENY),
    # --- payments (API) ------------------------------------------------------------------------
    ("api.payments_api.initiate", "POST"): row(
        LOGIN, OK, HIDE, DENY, DENY, DENY, DENY,
        json=lambda w: {"appointment_id": str(w.appointment.id)}),
    ("api.payments_api.verify", "POST"): own_payment(json=lambda w: {
        "payment_id": str(w.payment.id), **w.checkout_fields}),
    ("api.payments_api.webhook", "POST"): signed(
        400, "Razorpay's webhook: its signature is the credential (none here: 400)", json={}),
    ("api.payments_api.refund", "POST"): admins(json={"amount": 100, "reason": "Goodwill"}),
    ("api.payments_api.get_payment", "GET"): own_payment(),
    ("api.payments_api.user_payments", "GET"): own_user(),
    # --- desk payments (API): patient A's paid appointment, so admins get 409 already paid ---
    ("api.desk_payments_api.offline_payment", "POST"): desk(
        json={"method": "cash", "reference": "R-4411"}),
    ("api.desk_payments_api.payment_link", "POST"): desk(),
    # --- notifications (HTML) ------------------------------------------------------------------
    ("notifications.inbox", "GET"): logged_in(),
    ("notifications.count", "GET"): logged_in(),
    ("notifications.read", "POST"): row(LOGIN, OK, HIDE, HIDE, HIDE, HIDE, HIDE),
    ("notifications.read_all", "POST"): logged_in(),
    ("notifications.settings", "GET"): logged_in(),
    ("notifications.settings", "POST"): logged_in(form={"language": "xx"}),
    # --- notifications (API) -------------------------------------------------------------------
    ("api.notifications_api.send", "POST"): admins(json=lambda w: {
        "user_ids": [str(w.people["patient"].id)], "title": "Hello", "message": "Hi",
        "channels": ["IN_APP"]}),
    ("api.notifications_api.user_notifications", "GET"): own_messages(),
    ("api.notifications_api.get_preferences", "GET"): own_messages(),
    ("api.notifications_api.put_preferences", "PUT"): logged_in(json={"language": "en"}),
    ("api.notifications_api.register_device", "POST"): logged_in(
        json=lambda w: {"kind": "FCM", "token": f"fcm-token-{next(_device_numbers)}"}),
    ("api.notifications_api.unregister_device", "DELETE"): row(
        LOGIN, OK, HIDE, HIDE, HIDE, HIDE, HIDE, args={"token": lambda w: w.device_token}),
    ("api.notifications_api.sms_status", "POST"): signed(
        403, "Twilio's status callback: its signature is the credential (none here: 403)"),
    # --- admin ---------------------------------------------------------------------------------
    ("admin.doctors", "GET"): admins(),
    ("admin.doctors_list", "GET"): admins(),
    ("admin.new_doctor", "GET"): admins(),
    ("admin.new_doctor", "POST"): admins(form={"name": ""}),
    ("admin.set_active", "POST"): admins(form={"active": "1"}),
    ("admin_payments.dashboard", "GET"): admins(),
    ("admin_payments.payments_csv", "GET"): admins(),
    ("admin_payments.payment", "GET"): admins(),
    ("admin_payments.refund", "GET"): admins(),
    ("admin_payments.refund", "POST"): admins(form={"amount": "1"}),
    ("admin_payments.refunds", "GET"): admins(),
    ("admin_payments.payouts", "GET"): admins(),
    ("admin_payments.recompute", "POST"): admins(),
    ("admin_payments.statement", "GET"): admins(),
    ("admin_payments.statement_csv", "GET"): admins(),
    ("admin_payments.payout_account", "GET"): admins(),
    ("admin_payments.payout_account", "POST"): admins(form={"legal_name": ""}),
    ("admin_notifications.log", "GET"): admins(),
    ("admin_notifications.resend", "POST"): admins(),
    ("admin_notifications.templates", "GET"): admins(),
    ("admin_notifications.edit_template", "GET"): admins(),
    ("admin_notifications.edit_template", "POST"): admins(form={"action": "preview",
                                                                "body_text": "Hi"}),
    ("admin_notifications.reset_template", "POST"): admins(),
    ("admin_notifications.preview", "POST"): admins(form={"body_text": "Hi"}),
    ("admin_notifications.send", "GET"): admins(),
    ("admin_notifications.send", "POST"): admins(form={"title": ""}),
    # --- privacy: the texts are public; consents are each person's own (no ids) -------------
    ("privacy.terms", "GET"): public("the terms of service, read before registering"),
    ("privacy.notice", "GET"): public("the privacy notice, read before registering"),
    ("privacy.index", "GET"): logged_in(),
    ("privacy.update_consents", "POST"): logged_in(form={"action": "marketing"}),
    ("api.privacy_api.get_consents", "GET"): logged_in(),
    ("api.privacy_api.put_consents", "PUT"): logged_in(json={"marketing": False}),
    # --- who read whose records, taking one's data, erasure -------------------------------------
    ("privacy.access_log", "GET"): logged_in(),
    ("privacy.data_page", "GET"): logged_in(),
    ("privacy.data_json", "GET"): logged_in(),
    ("privacy.download", "GET"): row(LOGIN, OK, HIDE, HIDE, HIDE, HIDE, HIDE,
                                     args={"token": lambda w: w.export_token, "kind": "json"}),
    ("privacy.erase", "GET"): patients(),
    ("privacy.erase", "POST"): patients(form={"password": "wrong-guess-1", "understood": "y"}),
    ("privacy.admin_access_log", "GET"): admins(),
    ("privacy.admin_access_log_csv", "GET"): admins(),
    ("api.privacy_api.my_access_log", "GET"): logged_in(),
    ("api.privacy_api.my_export", "GET"): logged_in(),
    ("api.privacy_api.my_prepared_export", "GET"): row(
        LOGIN, OK, HIDE, HIDE, HIDE, HIDE, HIDE, args={"export_id": lambda w: w.export.id}),
    ("api.privacy_api.erase_me", "DELETE"): patients(json={"password": "wrong-guess-1"}),
    ("admin.staff", "GET"): admins(),
    ("admin.staff", "POST"): admins(form={"name": "", "email": ""}),
    # --- the front desk (HTML) -----------------------------------------------------------------
    ("desk.board", "GET"): desk(),
    ("desk.print_day", "GET"): desk(),
    ("desk.patients", "GET"): desk(),
    ("desk.book", "GET"): desk(),
    ("desk.book", "POST"): desk(form=lambda w: {
        "p-slot_id": str(w.fresh_slot()), "p-patient_id": str(w.people["patient"].id)}),
    ("desk.walk_in", "GET"): desk(),
    ("desk.walk_in", "POST"): desk(form=lambda w: {
        "doctor_id": str(w.doctor.id), "name": "Kiran Walkin", "phone": "+919811100077"}),
    ("desk.check_in", "POST"): desk(),  # Tuesday's appointment: 409, check-in is on the day
    ("desk.payment", "GET"): desk(),
    ("desk.payment", "POST"): desk(form={"method": "cash", "reference": "R-5511"}),  # paid: 409
    ("desk.payment_link", "POST"): desk(),  # already paid: back to the page with the reason
    # --- the front desk (API) ------------------------------------------------------------------
    ("api.desk_api.search_patients", "GET"): desk(),
    ("api.desk_api.register_patient", "POST"): desk(json={}),
    ("api.desk_api.book", "POST"): desk(json=lambda w: {
        "slot_id": str(w.fresh_slot()), "patient_id": str(w.people["patient"].id)}),
    ("api.desk_api.walk_in", "POST"): desk(json=lambda w: {
        "doctor_id": str(w.doctor.id), "name": "Kiran Walkin", "phone": "+919811100077"}),
    ("api.desk_api.invite_staff", "POST"): admins(json={}),
    ("api.queue_api.check_in", "POST"): desk(),
    # --- the queue (doctor A's today: patient A is waiting as a walk-in) -----------------------
    ("queue.index", "GET"): row(LOGIN, DENY, DENY, OK, OK, OK, OK),  # doctors: to their own
    ("queue.doctor_queue", "GET"): runs_queue(),
    ("queue.call_next", "POST"): runs_queue(),
    ("queue.done", "POST"): runs_queue(),  # patient A is waiting, not with the doctor: 409
    ("queue.not_here", "POST"): runs_queue(),
    ("queue.running_late", "POST"): runs_queue(form={"minutes": "10", "note": ""}),
    ("queue.display", "GET"): public(
        "the waiting room's TV has no login; it shows token numbers only, never a name "
        "(the private-details check covers that)"),
    ("queue.place", "GET"): patients_appointment(),
    ("api.queue_api.get_queue", "GET"): row(LOGIN, OK, OK, OK, HIDE, OK, OK),  # patients: own
    ("api.queue_api.call_next", "POST"): runs_queue(),
    ("api.queue_api.done", "POST"): runs_queue(),
    ("api.queue_api.not_here", "POST"): runs_queue(),
    ("api.queue_api.running_late", "POST"): runs_queue(json={"minutes": 10}),
    # --- invitations ---------------------------------------------------------------------------
    ("auth.claim", "GET"): public(
        "the invitation link (SMS or email): its signed token is the credential",
        args={"token": lambda w: w.invite_token}),
    ("auth.claim", "POST"): public(
        "as the GET; a too-short password changes nothing",
        args={"token": lambda w: w.invite_token}, form={"password": "x", "confirm": "y"}),
    ("admin_jobs.failed", "GET"): admins(),
    ("admin_jobs.retry", "POST"): admins(),  # an unknown job: the admin is told, 303
    ("admin_jobs.delete", "POST"): admins(),
}


def route_methods(app) -> set[tuple[str, str]]:
    return {(rule.endpoint, method) for rule in app.url_map.iter_rules()
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}}


def test_every_route_has_an_entry(app):
    routes = route_methods(app)
    missing = sorted(routes - TABLE.keys())
    stale = sorted(TABLE.keys() - routes)
    assert not missing, f"routes without an entry in TABLE (say who may call them): {missing}"
    assert not stale, f"entries in TABLE for routes that no longer exist: {stale}"
    for key, access in TABLE.items():
        assert set(access.expect) == set(ACTORS), key
        if access.expect["anonymous"] == OK:
            assert access.reason, f"{key} is public: give the reason"


def test_the_webhooks_are_the_only_csrf_exempt_routes(app):
    exempt = {"api.payments_api.webhook", "api.notifications_api.sms_status"}
    assert exempt == CSRF_EXEMPT_ENDPOINTS
    for endpoint in CSRF_EXEMPT_ENDPOINTS:
        assert [m for e, m in TABLE if e == endpoint] == ["POST"]
        assert TABLE[(endpoint, "POST")].expect["admin"] in (400, 403)  # signature, not role


# --- the world ----------------------------------------------------------------------------------


class World:
    """Patient A with a confirmed, paid appointment with doctor A (a payment, an in-app
    notification, a push device, a reset link, a waitlist entry for their family member with an
    open offer) and a place in doctor A's queue today, patient B, doctor A's schedule with a
    block and a day off, doctor B, an admin, the desk's staff, and an invitation to a staff
    account not yet claimed."""

    def __init__(self, factory, razorpay, mailbox) -> None:
        self.doctor = factory.create_doctor(
            fee_video_paise=50_000, fee_in_person_paise=None, booking_window_days=6,
            hours=factory.weekly_hours("09:00", "12:00", "VIDEO"))
        self.other_doctor = factory.create_doctor(hours=())
        # Opted in to news and offers: the announcement below reaches her.
        patient = factory.create_patient(name=PATIENT_NAME, email=PATIENT_EMAIL, marketing=True)
        self.people = {
            "patient": patient, "other_patient": factory.create_patient(),
            "doctor": self.doctor.user, "other_doctor": self.other_doctor.user,
            "admin": factory.create_admin(), "staff": factory.create_user(Role.STAFF),
        }
        self.slots = factory.free_slots(self.doctor, days=5)
        # Tuesday 09:00 in Kolkata: a day ahead, so it can be rescheduled and cancelled.
        appointment = appointments.reserve(patient, self.slots[6].id, reason=VISIT_REASON)
        payment = payments.initiate(patient, appointment.id)
        fields = razorpay.pay(payment.gateway_order_id)
        self.payment = payments.verify_checkout(payment.id, fields["razorpay_payment_id"],
                                                fields["razorpay_signature"])
        self.checkout_fields = {k: fields[k] for k in (
            "razorpay_payment_id", "razorpay_order_id", "razorpay_signature")}
        self.appointment = appointments.get_visible(patient, appointment.id)
        assert self.appointment.status == "CONFIRMED"
        # Doctor A's payout statement of this week (patient A's payment on it).
        self.payout = payouts.refresh_statement(
            self.doctor.id, payouts.week_start_of(self.payment.captured_at.date()))
        self.free_slot = self.slots[8]
        self.block = availability.block_interval(self.doctor, self.slots[12].start_at,
                                                 self.slots[12].end_at, BLOCK_REASON)
        self.override = availability.add_override(self.doctor, availability.OverrideInput(
            start_date=date(2026, 12, 11), end_date=date(2026, 12, 11), kind="OFF",
            reason=OVERRIDE_REASON))[0]
        send_announcement([patient], "Welcome", "Hello Anaya", {Channel.IN_APP},
                          self.people["admin"])
        self.notification = db.session.scalar(select(NotificationLog).where(
            NotificationLog.user_id == patient.id, NotificationLog.channel == "IN_APP"))
        self.device_token = "fcm-token-of-patient-a"
        # Before the family member: `register_device` adds its row before reading `user.id`,
        # and a patient expired by add_dependent's commit would autoflush that row unowned.
        devices.register_device(patient, "FCM", self.device_token)
        self.dependent = family.add_dependent(patient, family.DependentData(
            DEPENDENT_NAME, "CHILD", date(2019, 5, 4), "FEMALE"))
        self._dependent_numbers = itertools.count()
        # Patient A waits for doctor A on Monday and Tuesday, for their family member, and is
        # offered Monday 11:30 (the only one waiting): an entry and an open offer of theirs.
        self.waitlist_entry = waitlist.join(patient, waitlist.EntryInput(
            self.doctor.id, date(2026, 12, 7), date(2026, 12, 8),
            for_dependent_id=self.dependent.id))
        [self.offer] = waitlist.offer_slot(self.slots[5].id)
        self.reset_token = auth.make_reset_token(patient)
        # Patient A waits in doctor A's queue today (a walk-in), under their own name: the
        # waiting room's screen must never show it.
        self.queue_token = queue.add_walk_in(self.people["staff"], self.doctor.id, PATIENT_NAME,
                                             patient)
        self.invite_token = auth.make_invite_token(desk_service.invite_staff(
            self.people["admin"], "Ivy Invited", "ivy.invited@example.com"))
        # A prepared copy of patient A's data, with its download link.
        self.export = export.build(export.request_export(patient).id)
        self.export_token = export.link_token(self.export)
        mail.send(Message("Sandbox mail", recipients=["someone@example.com"], body="Hello"))
        self.message_id = mailbox.list(limit=1)[0].id
        self._spare = iter(self.slots[13:])
        self._days_off = (date(2026, 12, 14) + timedelta(days=n) for n in itertools.count())
        db.session.commit()

    def fresh_slot(self):
        """Another free slot of doctor A's, for a route that uses it up (one per caller)."""
        return next(self._spare).id

    def fresh_dependent(self):
        """Another family member of patient A's, for a route that removes one."""
        return family.add_dependent(self.people["patient"], family.DependentData(
            f"Kid {next(self._dependent_numbers)}", "CHILD", date(2020, 1, 1), "MALE")).id

    def fresh_block(self):
        """A new block of doctor A's, for a route that removes it (one per caller)."""
        slot = next(self._spare)
        return availability.block_interval(self.doctor, slot.start_at, slot.end_at,
                                           BLOCK_REASON).id

    def fresh_override(self):
        day = next(self._days_off)
        return availability.add_override(self.doctor, availability.OverrideInput(
            start_date=day, end_date=day, kind="OFF", reason=OVERRIDE_REASON))[0].id

    def url_values(self) -> dict[str, Any]:
        return {
            "appointment_id": self.appointment.id, "payment_id": self.payment.id,
            "doctor_id": self.doctor.id, "patient_id": self.people["patient"].id,
            "user_id": self.people["patient"].id, "slot_id": self.free_slot.id,
            "block_id": self.block.id, "override_id": self.override.id,
            "log_id": self.notification.id, "token": self.device_token,
            "kind": "APPOINTMENT_CONFIRMED", "channel": "EMAIL", "language": "en",
            "filename": "css/app.css", "message_id": self.message_id,
            "dependent_id": self.dependent.id, "payout_id": self.payout.id,
            "token_id": self.queue_token.id,
            "entry_id": self.waitlist_entry.id,
            "offer_id": self.offer.id,
            "queue": "default", "job_id": "no-such-job",
        }


class Caller:
    """One person's browser (session cookie, CSRF token) and API token."""

    def __init__(self, app, name: str, user) -> None:
        self.name = name
        self.client = app.test_client()
        self.token = None
        self.csrf = None
        if user is not None:
            self.client.login(user.email, PASSWORD)
            # The token endpoint has tests of its own; minting it here saves two requests.
            self.token = auth.issue_api_token(user)

    def _csrf(self) -> str:
        if self.csrf is None:
            self.csrf = self.client.csrf_token()
        return self.csrf

    def call(self, method: str, url: str, access: Access, world: World):
        if url.startswith("/api/"):
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            body = _resolve(access.json, world)
            if method in SAFE:
                return self.client.open(url, method=method, headers=headers), body
            return self.client.open(url, method=method, headers=headers,
                                    json=body if body is not None else {}), body
        if method in SAFE:
            return self.client.open(url, method=method), None
        form = {**(_resolve(access.form, world) or {}), "csrf_token": self._csrf()}
        return self.client.open(url, method=method, data=form), form


def _resolve(value, world):
    return value(world) if callable(value) else value


@pytest.fixture(autouse=True)
def _media_root(app, tmp_path, monkeypatch):
    """Files the routes store (doctors' photos) go to the test's own directory."""
    monkeypatch.setitem(app.config, "MEDIA_ROOT", str(tmp_path / "media"))
    monkeypatch.setitem(app.config, "EXPORT_ROOT", str(tmp_path / "exports"))


@pytest.fixture
def world(app, factory, frozen_clock, razorpay, mailbox, monkeypatch):
    frozen_clock.freeze(MONDAY_MORNING)
    # Six people log in per test: keep the per-address login limit out of the way here
    # (test_cookies_and_logs and test_accounts prove it).
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "1000 per minute")
    razorpay.control("POST", "/settings", {"auto_capture": True, "auto_process_refunds": True})
    return World(factory, razorpay, mailbox)


@pytest.fixture
def callers(app, world) -> dict[str, Caller]:
    return {name: Caller(app, name, world.people.get(name)) for name in ACTORS}


def build_url(app, endpoint: str, access: Access, world: World) -> str:
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    values = {**world.url_values(), **access.args}
    wanted = {name: _resolve(values[name], world) for name in rule.arguments}
    wanted.update({name: _resolve(value, world) for name, value in access.query.items()})
    if endpoint.startswith(("availability.", "doctor_profile.")):
        wanted["doctor"] = world.doctor.id  # admins name the doctor; doctors may too
    with app.test_request_context():
        return url_for(endpoint, **wanted)


# --- checking an answer -------------------------------------------------------------------------

PRIVATE = [(PATIENT_NAME, PATIENT_SIDE), (PATIENT_EMAIL, PATIENT_SIDE),
           (VISIT_REASON, PATIENT_SIDE), (DEPENDENT_NAME, HOLDER_ONLY), (BLOCK_REASON, DOCTOR_SIDE),
           (OVERRIDE_REASON, DOCTOR_SIDE)]


def verdict(actor: str, expected, response, url: str, access: Access, sent,
            private=PRIVATE) -> str | None:
    """None when the answer is right, else what is wrong with it."""
    status = response.status_code
    api = url.startswith("/api/")
    body = response.get_data(as_text=True)
    if status == 400 and CSRF_TEXT in body:
        return "the harness failed the CSRF check"
    location = response.headers.get("Location", "")
    to_login = status in (301, 302, 303) and location.split("?")[0].endswith("/account/login")
    if expected == OK:
        if status in (401, 403, 404, 405) or status >= 500 or (
                to_login and not access.lands_on_login):
            return f"allowed caller got {status} {location}"
    elif expected == LOGIN:
        if api and not (status == 401 and response.mimetype == "application/problem+json"):
            return f"visitor on the API got {status}, not 401 problem+json"
        if not api and not to_login:
            return f"visitor got {status} {location}, not a redirect to the login page"
    elif status != expected:
        return f"expected {expected}, got {status} {location}"
    if not access.no_leak_check:
        echoed = f"{url} {sent}"
        for secret, allowed in private:
            if actor not in allowed and secret in body and secret not in echoed:
                return f"the answer shows {secret!r} to {actor}"
    return None


# Written by reads on purpose: every read of a patient's records by someone else is logged.
WRITTEN_BY_READS = {"access_log"}


def fingerprint() -> str:
    """A digest of every row of every table but the access log: refused callers must change
    nothing (test_privacy checks what the access log gets)."""
    digest = hashlib.sha256()
    db.session.commit()
    for table in (t for t in db.metadata.sorted_tables if t.name not in WRITTEN_BY_READS):
        rows = db.session.execute(text(f"SELECT * FROM {table.name}")).all()
        for line in sorted(repr(tuple(r)) for r in rows):
            digest.update(line.encode())
    return digest.hexdigest()


def check_route(app, world, callers, endpoint: str, method: str) -> list[str]:
    """Call one route as each person: those refused first (and they must change nothing),
    then those allowed. Returns what went wrong, one line each."""
    access = TABLE[(endpoint, method)]
    refused = [a for a in ACTORS if access.expect[a] != OK]
    allowed = [a for a in ACTORS if access.expect[a] == OK]
    problems = []
    # URLs first: some make a fresh object per caller (a block to remove), before the snapshot.
    urls = {actor: build_url(app, endpoint, access, world) for actor in ACTORS}
    private = [*PRIVATE, (world.people["patient"].phone, PATIENT_SIDE)]
    before = fingerprint() if method not in SAFE else None
    for actor in refused + allowed:
        if actor == next(iter(allowed), None) and before is not None and fingerprint() != before:
            problems.append(f"{method} {endpoint}: refused callers changed the database")
        response, sent = callers[actor].call(method, urls[actor], access, world)
        wrong = verdict(actor, access.expect[actor], response, urls[actor], access, sent,
                        private)
        if wrong:
            problems.append(f"{method} {endpoint} as {actor}: {wrong}")
    if before is not None and not allowed and fingerprint() != before:
        problems.append(f"{method} {endpoint}: refused callers changed the database")
    return problems


# --- the tests ----------------------------------------------------------------------------------

READS = sorted(k for k in TABLE if k[1] in SAFE)
CHANGES = sorted(k for k in TABLE if k[1] not in SAFE)


def test_every_reading_route_shows_each_caller_only_their_own(app, world, callers):
    before = fingerprint()
    problems = [p for endpoint, method in READS
                for p in check_route(app, world, callers, endpoint, method)]
    assert not problems, "\n".join(problems)
    assert fingerprint() == before, "a GET changed the database"


@pytest.mark.parametrize(("endpoint", "method"), CHANGES, ids=[f"{m} {e}" for e, m in CHANGES])
def test_every_changing_route_admits_exactly_the_right_people(app, world, callers, endpoint,
                                                               method):
    problems = check_route(app, world, callers, endpoint, method)
    assert not problems, "\n".join(problems)


def test_the_matrix_knows_the_world_it_tests(world):
    """The ids the table uses exist and belong to the owners, so a 404 means 'not yours'."""
    assert world.appointment.patient_id == world.people["patient"].id
    assert world.appointment.doctor_id == world.doctor.id
    assert world.payment.patient_id == world.people["patient"].id
    assert world.block.doctor_id == world.override.doctor_id == world.doctor.id
    assert world.notification.user_id == world.people["patient"].id
    assert world.free_slot.doctor_id == world.doctor.id
    assert world.free_slot.status == "FREE"
    assert world.queue_token.doctor_id == world.doctor.id
    assert world.queue_token.patient_id == world.people["patient"].id
    assert world.people["staff"].role == Role.STAFF
    assert world.waitlist_entry.patient_id == world.offer.patient_id == world.people["patient"].id
    assert world.offer.entry_id == world.waitlist_entry.id
    assert world.offer.status == "OFFERED"
