"""Who may call what: every route of the app, for anonymous, a patient, another patient, the
patient's doctor, another doctor and an admin (invariant 6: each user sees and changes only what
is theirs; admins see payments; doctors only their own calendar).

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
name, email, phone and reason for the visit; doctor A's block and override reasons): only the
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
from flask_mail import Message
from sqlalchemy import select, text

from portal import CSRF_EXEMPT_ENDPOINTS
from portal.appointments import service as appointments
from portal.auth import service as auth
from portal.availability import service as availability
from portal.extensions import db, mail
from portal.notifications import devices
from portal.notifications import service as notifications
from portal.notifications.models import Channel, NotificationLog
from portal.payments import service as payments
from tests.factories import MONDAY_MORNING, PASSWORD

ACTORS = ("anonymous", "patient", "other_patient", "doctor", "other_doctor", "admin")
SAFE = {"GET", "HEAD", "OPTIONS"}

OK, LOGIN, HIDE, DENY = "ok", "login", 404, 403
CSRF_TEXT = "the form is stale"

# Private details of the owners, and who may see each.
PATIENT_NAME = "Anaya Ownerpatient"
PATIENT_EMAIL = "anaya.owner@example.com"
VISIT_REASON = "Private-visit-reason-7731"
BLOCK_REASON = "Private-block-reason-5512"
OVERRIDE_REASON = "Private-override-reason-9204"
PATIENT_SIDE = {"patient", "doctor", "admin"}
DOCTOR_SIDE = {"doctor", "admin"}


@dataclass
class Access:
    """Who may call one (endpoint, method), and how to call it."""

    expect: dict[str, Any]
    reason: str = ""  # why a route is public
    form: dict | Callable | None = None  # HTML form fields (the CSRF token is added)
    json: dict | Callable | None = None  # API body
    args: dict = field(default_factory=dict)  # URL values over the world's defaults
    no_leak_check: str = ""  # why the private-details check does not apply
    lands_on_login: bool = False  # the login page is where this route sends everyone


def row(anonymous, patient, other_patient, doctor, other_doctor, admin, **kwargs) -> Access:
    return Access(dict(zip(ACTORS, (anonymous, patient, other_patient, doctor, other_doctor,
                                    admin), strict=True)), **kwargs)


def public(reason: str, **kwargs) -> Access:
    return row(OK, OK, OK, OK, OK, OK, reason=reason, **kwargs)


def signed(status: int, reason: str, **kwargs) -> Access:
    return row(status, status, status, status, status, status, reason=reason, **kwargs)


def logged_in(**kwargs) -> Access:
    return row(LOGIN, OK, OK, OK, OK, OK, **kwargs)


def patients(**kwargs) -> Access:
    """Any patient (nothing of anyone else's is involved); staff may not."""
    return row(LOGIN, OK, OK, DENY, DENY, DENY, **kwargs)


def admins(**kwargs) -> Access:
    return row(LOGIN, DENY, DENY, DENY, DENY, OK, **kwargs)


def patients_appointment(**kwargs) -> Access:
    """Patient A's appointment: the patient, their doctor and admins."""
    return row(LOGIN, OK, HIDE, OK, HIDE, OK, **kwargs)


def own_payment(**kwargs) -> Access:
    """Patient A's payment: the patient and admins (doctors see payouts, not payments)."""
    return row(LOGIN, OK, HIDE, HIDE, HIDE, OK, **kwargs)


def doctors_schedule(**kwargs) -> Access:
    """Doctor A's schedule, slots, blocks and overrides: the doctor and admins."""
    return row(LOGIN, DENY, DENY, OK, HIDE, OK, **kwargs)


def doctors_only(**kwargs) -> Access:
    """A doctor's own page (no id: each doctor gets their own); admins and patients may not."""
    return row(LOGIN, DENY, DENY, OK, OK, DENY, **kwargs)


def own_user(**kwargs) -> Access:
    """Patient A's account data by user id: the patient and admins."""
    return row(LOGIN, OK, HIDE, HIDE, HIDE, OK, **kwargs)


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
    ("api.availability_api.get_schedule", "GET"): public(
        "weekly hours are public; blocks and reasons only for the doctor and admins "
        "(the private-details check covers that)"),
    ("api.availability_api.list_slots", "GET"): public("free times are public"),
    # --- accounts ------------------------------------------------------------------------------
    ("auth.login", "GET"): public("the login page"),
    ("auth.login", "POST"): public("logging in", form={"email": "nobody@example.com",
                                                       "password": "wrong-guess-1"}),
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
    ("auth.change_password", "GET"): logged_in(),
    ("auth.change_password", "POST"): logged_in(
        form={"current_password": "wrong-guess-1", "password": "new-lantern-77",
              "confirm": "new-lantern-77"}),
    ("api.auth_api.register", "POST"): public("API self-registration", json={}),
    ("api.auth_api.token", "POST"): public(
        "exchanges credentials for a token: whoever has them gets it",
        json={"email": PATIENT_EMAIL, "password": PASSWORD}),
    ("api.auth_api.me", "GET"): logged_in(),
    # --- appointments (HTML) -------------------------------------------------------------------
    ("appointments.reserve", "POST"): patients(form=_reserve_form),
    ("appointments.index", "GET"): row(LOGIN, OK, OK, OK, OK, DENY),  # doctors: to practice
    ("appointments.practice", "GET"): doctors_only(),
    ("main.dashboard", "GET"): doctors_only(),
    ("appointments.detail", "GET"): patients_appointment(),
    ("appointments.status", "GET"): patients_appointment(),
    ("appointments.ics", "GET"): patients_appointment(),
    ("appointments.reason", "POST"): row(LOGIN, OK, HIDE, DENY, DENY, DENY,
                                         form={"reason": "Still coughing"}),
    ("appointments.confirm", "POST"): row(LOGIN, OK, HIDE, HIDE, HIDE, OK),
    ("appointments.cancel", "GET"): patients_appointment(),
    ("appointments.cancel", "POST"): patients_appointment(form={"reason": "Unwell"}),
    ("appointments.reschedule", "GET"): patients_appointment(),
    ("appointments.reschedule", "POST"): patients_appointment(
        form=lambda w: {"slot_id": str(w.free_slot.id)}),
    ("appointments.complete", "POST"): row(LOGIN, DENY, DENY, OK, HIDE, OK),
    ("appointments.no_show", "POST"): row(LOGIN, DENY, DENY, OK, HIDE, OK),
    # --- appointments (API) --------------------------------------------------------------------
    ("api.appointments_api.reserve", "POST"): patients(
        json=lambda w: {"slot_id": str(w.free_slot.id)}),
    ("api.appointments_api.get_appointment", "GET"): patients_appointment(),
    ("api.appointments_api.cancellation_quote", "GET"): patients_appointment(),
    ("api.appointments_api.confirm", "POST"): row(LOGIN, OK, HIDE, HIDE, HIDE, OK, json={}),
    ("api.appointments_api.cancel", "POST"): patients_appointment(json={"reason": "Unwell"}),
    ("api.appointments_api.reschedule", "POST"): patients_appointment(
        json=lambda w: {"slot_id": str(w.free_slot.id)}),
    ("api.appointments_api.complete", "POST"): row(LOGIN, DENY, DENY, OK, HIDE, OK),
    ("api.appointments_api.no_show", "POST"): row(LOGIN, DENY, DENY, OK, HIDE, OK),
    ("api.appointments_api.doctor_list", "GET"): row(LOGIN, DENY, DENY, OK, HIDE, OK),
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
    # --- payments (HTML) -----------------------------------------------------------------------
    ("payments.start", "GET"): row(LOGIN, OK, HIDE, DENY, DENY, DENY),
    ("payments.start", "POST"): row(LOGIN, OK, HIDE, DENY, DENY, DENY),
    ("payments.callback", "GET"): own_payment(),
    ("payments.verify", "POST"): own_payment(form=lambda w: dict(w.checkout_fields)),
    ("payments.cancelled", "GET"): own_payment(),
    ("payments.index", "GET"): logged_in(),  # each patient's own; staff are redirected
    ("payments.receipt", "GET"): own_payment(),
    ("payments.earnings", "GET"): doctors_only(),
    # --- payments (API) ------------------------------------------------------------------------
    ("api.payments_api.initiate", "POST"): row(
        LOGIN, OK, HIDE, DENY, DENY, DENY,
        json=lambda w: {"appointment_id": str(w.appointment.id)}),
    ("api.payments_api.verify", "POST"): own_payment(json=lambda w: {
        "payment_id": str(w.payment.id), **w.checkout_fields}),
    ("api.payments_api.webhook", "POST"): signed(
        400, "Razorpay's webhook: its signature is the credential (none here: 400)", json={}),
    ("api.payments_api.refund", "POST"): admins(json={"amount": 100, "reason": "Goodwill"}),
    ("api.payments_api.get_payment", "GET"): own_payment(),
    ("api.payments_api.user_payments", "GET"): own_user(),
    # --- notifications (HTML) ------------------------------------------------------------------
    ("notifications.inbox", "GET"): logged_in(),
    ("notifications.count", "GET"): logged_in(),
    ("notifications.read", "POST"): row(LOGIN, OK, HIDE, HIDE, HIDE, HIDE),
    ("notifications.read_all", "POST"): logged_in(),
    ("notifications.settings", "GET"): logged_in(),
    ("notifications.settings", "POST"): logged_in(form={"language": "xx"}),
    # --- notifications (API) -------------------------------------------------------------------
    ("api.notifications_api.send", "POST"): admins(json=lambda w: {
        "user_ids": [str(w.people["patient"].id)], "title": "Hello", "message": "Hi",
        "channels": ["IN_APP"]}),
    ("api.notifications_api.user_notifications", "GET"): own_user(),
    ("api.notifications_api.get_preferences", "GET"): own_user(),
    ("api.notifications_api.put_preferences", "PUT"): logged_in(json={"language": "en"}),
    ("api.notifications_api.register_device", "POST"): logged_in(
        json=lambda w: {"kind": "FCM", "token": f"fcm-token-{next(_device_numbers)}"}),
    ("api.notifications_api.unregister_device", "DELETE"): row(
        LOGIN, OK, HIDE, HIDE, HIDE, HIDE, args={"token": lambda w: w.device_token}),
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
    notification, a push device, a reset link), patient B, doctor A's schedule with a block and
    a day off, doctor B, and an admin."""

    def __init__(self, factory, razorpay, mailbox) -> None:
        self.doctor = factory.create_doctor(
            fee_video_paise=50_000, fee_in_person_paise=None, booking_window_days=6,
            hours=factory.weekly_hours("09:00", "12:00", "VIDEO"))
        self.other_doctor = factory.create_doctor(hours=())
        patient = factory.create_patient(name=PATIENT_NAME, email=PATIENT_EMAIL)
        self.people = {
            "patient": patient, "other_patient": factory.create_patient(),
            "doctor": self.doctor.user, "other_doctor": self.other_doctor.user,
            "admin": factory.create_admin(),
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
        self.free_slot = self.slots[8]
        self.block = availability.block_interval(self.doctor, self.slots[12].start_at,
                                                 self.slots[12].end_at, BLOCK_REASON)
        self.override = availability.add_override(self.doctor, availability.OverrideInput(
            start_date=date(2026, 12, 11), end_date=date(2026, 12, 11), kind="OFF",
            reason=OVERRIDE_REASON))[0]
        notifications.send_announcement([patient], "Welcome", "Hello Anaya", {Channel.IN_APP},
                                        self.people["admin"])
        self.notification = db.session.scalar(select(NotificationLog).where(
            NotificationLog.user_id == patient.id, NotificationLog.channel == "IN_APP"))
        self.device_token = "fcm-token-of-patient-a"
        devices.register_device(patient, "FCM", self.device_token)
        self.reset_token = auth.make_reset_token(patient)
        mail.send(Message("Sandbox mail", recipients=["someone@example.com"], body="Hello"))
        self.message_id = mailbox.list(limit=1)[0].id
        self._spare = iter(self.slots[13:])
        self._days_off = (date(2026, 12, 14) + timedelta(days=n) for n in itertools.count())
        db.session.commit()

    def fresh_slot(self):
        """Another free slot of doctor A's, for a route that uses it up (one per caller)."""
        return next(self._spare).id

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
    from flask import url_for

    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    values = {**world.url_values(), **access.args}
    wanted = {name: _resolve(values[name], world) for name in rule.arguments}
    if endpoint.startswith("availability."):
        wanted["doctor"] = world.doctor.id  # admins name the doctor; doctors may too
    with app.test_request_context():
        return url_for(endpoint, **wanted)


# --- checking an answer -------------------------------------------------------------------------

PRIVATE = [(PATIENT_NAME, PATIENT_SIDE), (PATIENT_EMAIL, PATIENT_SIDE),
           (VISIT_REASON, PATIENT_SIDE), (BLOCK_REASON, DOCTOR_SIDE),
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


def fingerprint() -> str:
    """A digest of every row of every table: refused callers must change nothing."""
    digest = hashlib.sha256()
    db.session.commit()
    for table in db.metadata.sorted_tables:
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
