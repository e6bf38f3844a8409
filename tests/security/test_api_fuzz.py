"""Schemathesis over every operation of /api/v1/openapi.json: no 5xx, and every response
(status code, content type, body) is one the document describes.

Who calls: every operation runs as an anonymous caller and as a patient; operations doctors or
admins may call run as them too; public operations also run with a stale bearer token. All
with bearer tokens from POST /api/v1/auth/token. Nothing is excluded: the Razorpay webhook and
the Twilio callback are fuzzed too and answer their documented 400 and 403 (their signatures
cannot be forged, so their success paths are covered by the payment and SMS tests instead).

What is sent: schemathesis' examples, coverage and fuzzing phases, valid (positive) and
schema-violating (negative) inputs, derandomized so a failure reproduces, 25 fuzzed examples per
operation and role (API_FUZZ_EXAMPLES=200 digs deeper by hand). A dictionary of hostile values
(NUL characters, markup, 10,000 characters, bidi overrides, emoji, dates at the ends of the
calendar, huge integers) is mixed into every string and integer field, and half the time a
body's ids, dates and credentials are made valid (`anchors`) so the hostile free text reaches
the service and the database instead of stopping at a 404 or a 422.

Against what: each test starts from a database holding a doctor with slots, a confirmed and a
held appointment, a payment order, a block, an override and a push device. Path ids are those
rows half of the time, and random UUIDs otherwise, which answer a documented 404.

The document is read at collection time from an app built on an in-memory SQLite database
(pytest parametrizes over the operations before any fixture exists; schemathesis' lazy
`from_fixture` loader fails on pytest 9.2), and the requests go to the suite's app on the test
database; `test_the_fuzzed_document_is_the_one_served` checks the two documents are the same.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from portal import create_app
from portal.api import build_openapi
from portal.appointments.models import Appointment
from portal.auth.models import User
from portal.availability import service as availability
from portal.doctors.models import Doctor
from portal.extensions import db
from portal.payments import service as payments
from tests import factories
from tests.factories import MONDAY_MORNING, PASSWORD
from tests.integration.support import count

# A 10,000-character value in the session cookie is one of the inputs, on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:The 'session' cookie is too large:UserWarning")

OPENAPI_PATH = "/api/v1/openapi.json"
# Examples per operation and role in the fuzzing phase (the coverage phase adds its own); the
# suite's 25 keep this file near two minutes. API_FUZZ_EXAMPLES=200 digs deeper by hand.
MAX_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "25"))

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]

# Values that break servers, mixed into generated strings and integers wherever the schema
# allows them (positive cases) or not (negative cases): NUL bytes (PostgreSQL refuses them),
# markup, overlong text, bidi overrides, emoji, dates at the ends of the calendar, huge ints.
HOSTILE_STRINGS = [
    "a\x00b", "\x00", "<script>alert(1)</script>\x00", "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>', '"><img src=x onerror=alert(1)>\x00', "x" * 10_000,
    "\u202eevil\u202c\x00", "\U0001f469\u200d\u2695\ufe0f \U0001f489",
    "Robert'); DROP TABLE users;--\x00", "  ", "9999-12-31", "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+14:00",
]
HOSTILE_INTEGERS = [0, -1, 2**31, 2**63, 10**30, -(10**30)]


def _leaves(node: dict, components: dict, path: tuple[str, ...] = ()):
    """(binding path, JSON type) of every string and integer field under `node`."""
    if "$ref" in node:
        yield from _leaves(components[node["$ref"].rsplit("/", 1)[1]], components, path)
        return
    for branch in node.get("anyOf", ()):
        yield from _leaves(branch, components, path)
    kind = node.get("type")
    if kind in ("string", "integer") and path:
        yield ".".join(path), kind
    elif kind == "array" and isinstance(node.get("items"), dict) and path:
        yield from _leaves(node["items"], components, (*path[:-1], f"{path[-1]}[*]"))
    for name, child in (node.get("properties") or {}).items():
        yield from _leaves(child, components, (*path, name))


def _config(document: dict) -> dict:
    """Bounded and reproducible generation (the same inputs on every run, no example database
    on disk), with the hostile values bound to every query, path and body field."""
    components = document["components"]["schemas"]
    body_fields = {
        f"body.{field}": {"dictionary": f"hostile-{kind}s", "probability": 0.5}
        for methods in document["paths"].values() for operation in methods.values()
        for content in [operation.get("requestBody", {}).get("content", {})]
        if "application/json" in content
        for field, kind in _leaves(content["application/json"]["schema"], components)}
    parameters = {
        f"{parameter['in']}.{parameter['name']}": {"dictionary": f"hostile-{kind}s",
                                                   "probability": 0.5}
        for methods in document["paths"].values() for operation in methods.values()
        for parameter in operation.get("parameters", ())
        for _, kind in _leaves({"properties": {"p": parameter["schema"]}}, components)}
    return {
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large",
                                  "large_base_example"],
        "dictionaries": {"hostile-strings": {"values": HOSTILE_STRINGS},
                         "hostile-integers": {"values": HOSTILE_INTEGERS}},
        "parameters": {**parameters, **body_fields},
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none",
                       "dictionaries": {
                           "string": {"dictionary": "hostile-strings", "probability": 0.3},
                           "integer": {"dictionary": "hostile-integers", "probability": 0.3}}},
    }


def _load_schema():
    collecting = create_app({
        "TESTING": True, "SECRET_KEY": "collection-only", "SQLALCHEMY_DATABASE_URI": "sqlite://",
        "RATELIMIT_STORAGE_URI": "memory://", "VAPID_PRIVATE_KEY": "unused-at-collection"})
    with collecting.app_context():
        document = build_openapi()
    return document, schemathesis.openapi.from_dict(
        document, config=schemathesis.Config.from_dict(_config(document)))


DOCUMENT, schema = _load_schema()


@dataclass
class World:
    client: Any = None
    emails: dict[str, str] = field(default_factory=dict)
    ids: dict[str, list[str]] = field(default_factory=dict)
    # Per operation label: body fields and the valid values that reach past validation.
    anchors: dict[str, dict[str, st.SearchStrategy]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    spare_slot: str = ""  # a free slot no fuzzed request is steered to

    def headers(self, role: str) -> dict[str, str]:
        if role not in self.emails:
            return {}
        if role not in self.tokens:
            self.tokens[role] = self.client.api_token(self.emails[role], PASSWORD)
        return {"Authorization": f"Bearer {self.tokens[role]}"}


# The current test's world, for the generation hooks (which get no fixtures).
_current: dict[str, World] = {}


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """Half the time, the ids in the path are rows that exist."""
    world = _current.get("world")
    known = {name: st.sampled_from(world.ids[name])
             for name in path_parameters or () if world and name in world.ids}
    if not known:
        return st.just(path_parameters)
    return st.one_of(st.just(path_parameters), st.fixed_dictionaries(
        {**{k: st.just(v) for k, v in path_parameters.items()}, **known}))


@schema.hook
def flatmap_body(context, body):
    """Half the time, the ids, dates and credentials of a generated body are valid ones, and the
    other fields (free text with NUL bytes, emoji, 10,000 characters...) are what reaches the
    service and the database."""
    world = _current.get("world")
    anchors = world.anchors.get(context.operation.label) if world else None
    if not anchors or not isinstance(body, dict):
        return st.just(body)
    return st.one_of(st.just(body), st.fixed_dictionaries(
        {**{k: st.just(v) for k, v in body.items()}, **anchors}))


@pytest.fixture
def no_world():
    """An anonymous caller of an operation that needs a login: it never gets past the 401."""
    return World()


@pytest.fixture
def world(app, client, frozen_clock, razorpay, monkeypatch):
    """Real rows for path ids to hit, made through the services the portal uses."""

    # The login limit would answer most register/token examples with 429 before validation.
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "100000 per minute")
    frozen_clock.freeze(MONDAY_MORNING)
    with app.app_context():
        doctor = factories.create_doctor(fee_video_paise=50_000, fee_in_person_paise=0)
        patient, admin = factories.create_patient(), factories.create_admin()
        in_person = factories.free_slots(doctor, "IN_PERSON")
        video = factories.free_slots(doctor, "VIDEO")
        confirmed = factories.book(patient, in_person[0], confirm=True)
        held = factories.book(patient, video[0])
        payment = payments.initiate(patient, held.id)
        block = availability.block_interval(doctor, MONDAY_MORNING + timedelta(days=3, hours=4),
                                            MONDAY_MORNING + timedelta(days=3, hours=5), "meeting")
        override, _ = availability.add_override(doctor, availability.OverrideInput(
            start_date=date(2026, 12, 11), end_date=date(2026, 12, 11), kind="OFF",
            reason="holiday", start=None, end=None, consultation_type=None, slot_minutes=None,
            buffer_minutes=0))
        db.session.commit()
        ids = {
            "doctor_id": [str(doctor.id)],
            "appointment_id": [str(confirmed.id), str(held.id)],
            "patient_id": [str(patient.id)],
            "user_id": [str(patient.id), str(admin.id)],
            "payment_id": [str(payment.id)],
            "block_id": [str(block.id)],
            "override_id": [str(override.id)],
            "token": ["fcm-token-of-the-fuzz-patient"],
        }
        free_ids = [str(s.id) for s in in_person[1:6] + video[1:6]]
        spare_slot = str(in_person[7].id)
        emails = {"patient": patient.email, "doctor": doctor.user.email, "admin": admin.email}
        patient_email, doctor_id = patient.email, str(doctor.id)
    days = st.sampled_from(["2026-12-08", "2026-12-09", "2026-12-10"])
    world = World(client=client, emails=emails, ids=ids, spare_slot=spare_slot, anchors={
        "POST /api/v1/appointments/reserve": {"slot_id": st.sampled_from(free_ids)},
        "POST /api/v1/appointments/{appointment_id}/reschedule": {
            "slot_id": st.sampled_from(free_ids)},
        "POST /api/v1/payments/initiate": {"appointment_id": st.sampled_from(
            ids["appointment_id"])},
        "POST /api/v1/payments/verify": {"payment_id": st.sampled_from(ids["payment_id"])},
        "POST /api/v1/notifications/send": {"user_ids": st.just(ids["patient_id"])},
        "POST /api/v1/auth/token": {"email": st.just(patient_email)},
        "POST /api/v1/auth/register": {
            "email": st.integers(1, 10**6).map(lambda n: f"fuzz{n}@example.com"),
            "phone": st.integers(10**7, 10**8 - 1).map(lambda n: f"+9198{n}"),
            "timezone": st.just("Asia/Kolkata"), "password": st.just("a-fine-passphrase"),
            "accept_terms": st.just(True)},
        "POST /api/v1/availability/block": {
            "doctor_id": st.just(doctor_id),
            "start": days.map(lambda d: f"{d}T05:00:00+05:30"),
            "end": days.map(lambda d: f"{d}T23:00:00+05:30")},
        "POST /api/v1/availability/overrides": {
            "doctor_id": st.just(doctor_id), "start_date": days, "end_date": st.just("2026-12-10")},
        "POST /api/v1/availability/weekly": {"doctor_id": st.just(doctor_id)},
    })
    device = client.post("/api/v1/notifications/devices/register", headers=world.headers(
        "patient"), json={"kind": "FCM", "token": ids["token"][0]})
    assert device.status_code == 201, device.get_json()
    _current["world"] = world
    yield world
    _current.clear()


# The world is built once per operation and shared by its examples on purpose (they may change
# it, like any client would); too_slow: each example is a full request on PostgreSQL.
fuzz_settings = settings(suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                HealthCheck.too_slow], deadline=None)


def test_the_fuzzed_document_is_the_one_served(client):
    assert client.get(OPENAPI_PATH).get_json() == DOCUMENT


# An expired or forged token, as a client that always sends its last one would.
STALE_TOKEN = {"Authorization": "Bearer not-a-token-this-portal-issued"}


def _fuzz(role: str, needs_world: bool):
    if needs_world:
        def test(case, app, world):
            case.call_and_validate(app=app, headers=world.headers(role), checks=CHECKS)
    else:
        headers = STALE_TOKEN if role == "stale_token" else None

        def test(case, app, no_world):
            case.call_and_validate(app=app, headers=headers, checks=CHECKS)

    return fuzz_settings(test)


# Operations where an admin is just another caller (their own account, patient-only steps):
# the patient and anonymous runs cover them.
NOT_ADMIN_SPECIFIC = {
    "api.auth_api.me.get", "api.notifications_api.register_device.post",
    "api.notifications_api.unregister_device.delete", "api.notifications_api.put_preferences.put",
    "api.appointments_api.reserve.post", "api.appointments_api.confirm.post",
    "api.appointments_api.reschedule.post", "api.payments_api.initiate.post",
    "api.payments_api.verify.post",
}


def _roles(operation: dict) -> tuple[str, ...]:
    """Everyone calls everything; doctors their domain; admins what admins may do more of; a
    stale token the routes that need none (the others get it from schemathesis already)."""
    roles = ["anonymous", "patient"]
    if not operation["security"]:
        return (*roles, "stale_token")
    if set(operation.get("tags", ())) & {"availability", "appointments"}:
        roles.append("doctor")
    if operation["operationId"] not in NOT_ADMIN_SPECIFIC:
        roles.append("admin")
    return tuple(roles)


# One test function per operation and role, so every pytest item has its own node id (pytest
# 9.2 names schemathesis' per-operation items after the function alone) and `-k` selects by
# role or operation: test_api_patient__appointments_api_reserve_post.
for _path, _methods in DOCUMENT["paths"].items():
    for _method, _operation in _methods.items():
        _op_id = _operation["operationId"]
        for _role in _roles(_operation):
            _name = f"test_api_{_role}__{_op_id.removeprefix('api.').replace('.', '_')}"
            # Callers who never get past the 401 need no data.
            _test = _fuzz(_role, needs_world=_role != "stale_token" and (
                _role != "anonymous" or not _operation["security"]))
            globals()[_name] = schema.include(operation_id=_op_id).parametrize()(_test)


# --- what the fuzzer found, pinned down ---------------------------------------------------------
# Each of these answered 500 or broke the document before the fix named in the test.


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    return response.get_json()


def test_wall_times_are_documented_and_read_without_an_offset(client, world):
    """portal/api.py WallTime: the document said format "time" (RFC 3339, offset required) for
    "09:00:00"; an offset in the input made an aware time the schedule cannot use."""
    doctor_id = world.ids["doctor_id"][0]
    schedule = client.get(f"/api/v1/availability/doctors/{doctor_id}").get_json()
    range_schema = DOCUMENT["components"]["schemas"]["RangeOut"]["properties"]["start"]
    assert "format" not in range_schema
    assert schedule["weekly"][0]["start"] == "09:00:00"

    response = client.post("/api/v1/availability/weekly", headers=world.headers("doctor"), json={
        "ranges": [{"weekday": 0, "start": "09:00+05:30", "end": "12:00",
                    "consultation_type": "IN_PERSON", "slot_minutes": 30}]})
    assert _problem(response, 422)["errors"][0]["field"] == "ranges.0.start"


def test_a_non_ascii_signature_is_refused_not_a_500(client, world):
    """portal/payments/gateway.py: hmac.compare_digest raised TypeError on non-ASCII text."""
    response = client.post("/api/v1/payments/verify", headers=world.headers("patient"), json={
        "payment_id": world.ids["payment_id"][0], "razorpay_payment_id": "pay_x",
        "razorpay_order_id": "order_x", "razorpay_signature": "é"})
    assert _problem(response, 400)["errors"][0]["field"] == "razorpay_signature"

    webhook = client.post("/api/v1/payments/webhook", data=b'{"event": "payment.captured"}',
                          headers={"X-Razorpay-Signature": "é",
                                   "Content-Type": "application/json"})
    _problem(webhook, 400)


@pytest.mark.parametrize(("method", "url", "json", "headers", "field"), [
    ("POST", "/api/v1/appointments/reserve", {"slot_id": "SLOT", "reason": "a\x00b"}, {},
     "reason"),
    ("POST", "/api/v1/auth/register", {"name": "a\x00b", "email": "n@example.com",
                                       "phone": "+919812345678", "timezone": "Asia/Kolkata",
                                       "password": "a-fine-passphrase", "accept_terms": True},
     {}, "name"),
    ("PUT", "/api/v1/notifications/preferences", {"channels": {"EMAIL": {"X\x00": True}}},
     {}, "channels.EMAIL"),
    ("GET", "/api/v1/doctors?q=a%00b", None, {}, "q"),
    ("DELETE", "/api/v1/notifications/devices/a%00b", None, {}, "path"),
    ("POST", "/api/v1/appointments/reserve", {"slot_id": "SLOT"}, {"Idempotency-Key": "k\x00"},
     "Idempotency-Key"),
])
def test_nul_characters_are_a_400_naming_the_field_and_write_nothing(client, world, app,
                                                                     method, url, json,
                                                                     headers, field):
    """portal/errors.py reject_nul_bytes: PostgreSQL refuses NUL in text ("cannot contain NUL
    (0x00) bytes"), so every such field was a 500."""

    if json and json.get("slot_id") == "SLOT":
        json = {**json, "slot_id": world.spare_slot}
    with app.app_context():
        before = (count(Appointment), count(User))
    response = client.open(url, method=method, json=json,
                           headers={**world.headers("patient"), **headers})

    problem = _problem(response, 400)
    assert problem["errors"] == [{"field": field, "message": problem["detail"]}]
    assert "NUL" in problem["detail"]
    with app.app_context():
        assert (count(Appointment), count(User)) == before


@pytest.mark.parametrize(("method", "url", "json", "field"), [
    ("GET", "/api/v1/availability/doctors/DOCTOR/slots?from=9999-12-31", None, "from"),
    ("GET", "/api/v1/availability/doctors/DOCTOR/slots?from=0001-01-01T00:00:00%2B14:00", None,
     "from"),
    ("GET", "/api/v1/availability/doctors/DOCTOR/slots?from=2026-12-08&to=9999-12-31", None,
     "to"),
    ("POST", "/api/v1/availability/block", {"start": "9999-12-31T23:00:00+00:00",
                                            "end": "9999-12-31T23:59:59-23:59"}, "start"),
])
def test_instants_at_the_ends_of_the_calendar_are_a_422(client, world, method, url, json,
                                                        field):
    """portal/api.py in_calendar (SlotQuery, BlockIn): moving year 1 or 9999 to UTC, or adding
    14 days to it, raised OverflowError."""
    url = url.replace("DOCTOR", world.ids["doctor_id"][0])
    response = client.open(url, method=method, json=json, headers=world.headers("doctor"))

    assert _problem(response, 422)["errors"][0]["field"] == field


def test_a_stale_token_on_a_public_route_is_a_documented_401(client):
    """portal/api.py build_openapi: a bad bearer token is refused on every route, and the
    document said so only for routes that need a login."""
    response = client.get("/api/v1/doctors", headers=STALE_TOKEN)

    _problem(response, 401)
    assert "401" in DOCUMENT["paths"]["/api/v1/doctors"]["get"]["responses"]
    assert all("400" in op["responses"] and "401" in op["responses"]
               for methods in DOCUMENT["paths"].values() for op in methods.values())


def test_a_refused_schedule_change_writes_nothing(client, world, app):
    """Booking rules and hours are one change: invalid hours keep the old booking window."""

    response = client.post("/api/v1/availability/weekly", headers=world.headers("doctor"), json={
        "booking_window_days": 30, "ranges": [{"weekday": 0, "start": "12:00", "end": "09:00",
                                               "consultation_type": "IN_PERSON",
                                               "slot_minutes": 30}]})

    _problem(response, 422)
    with app.app_context():
        doctor = db.session.get(Doctor, world.ids["doctor_id"][0])
        assert doctor.booking_window_days == 8
