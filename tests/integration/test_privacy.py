"""Health data (issue 15): who saw it (the access log), take it with you (export), erase it."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pyotp
import pytest
from sqlalchemy import String, Text, select, text
from sqlalchemy.exc import DBAPIError

from portal.appointments import service as appointments
from portal.auth import service as auth
from portal.auth import twofactor
from portal.auth.models import RecoveryCode, User
from portal.clock import utcnow
from portal.extensions import db
from portal.family import service as family
from portal.payments import service as payments
from portal.payments.models import PaymentTransaction, RefundSource
from portal.privacy import access, erasure, export
from portal.privacy.models import AccessKind, AccessLogEntry
from portal.waitlist import service as waitlist
from tests.factories import MONDAY_MORNING
from tests.integration.test_notifications import settle


@pytest.fixture
def clinic(factory, frozen_clock, client):
    frozen_clock.freeze(MONDAY_MORNING)
    doctor = factory.create_doctor(fee_video_paise=50_000, fee_in_person_paise=0)
    patient = factory.create_patient(name="Meera Privatepatient", email="meera.p@example.com")
    return {"doctor": doctor, "patient": patient, "admin": factory.create_admin()}


def bearer(client, user) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.api_token(user.email)}"}


def entries(subject) -> list[AccessLogEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AccessLogEntry).where(
        AccessLogEntry.subject_id == subject.id).order_by(AccessLogEntry.id)))


# --- the access log --------------------------------------------------------------------------


def test_a_doctor_viewing_an_appointment_leaves_an_entry_the_patient_can_see(client, clinic,
                                                                             factory):
    booked = factory.book(clinic["patient"], doctor=clinic["doctor"], kind="IN_PERSON",
                          confirm=True)
    own = client.get(f"/api/v1/appointments/{booked.id}", headers=bearer(client,
                                                                        clinic["patient"]))
    assert own.status_code == 200
    assert entries(clinic["patient"]) == []  # the patient reading their own is not logged
    seen = client.get(f"/api/v1/appointments/{booked.id}",
                      headers=bearer(client, clinic["doctor"].user))
    assert seen.status_code == 200
    [entry] = entries(clinic["patient"])
    assert (entry.actor_id, entry.actor_role, entry.kind, entry.object_id, entry.via) == (
        clinic["doctor"].user.id, "doctor", AccessKind.APPOINTMENT, booked.id, "api")
    assert entry.route == "api.appointments_api.get_appointment"
    page = access.about(clinic["patient"])
    assert [e.id for e in page.items] == [entry.id]


def test_the_doctors_list_and_an_admins_reading_are_logged_per_appointment(client, clinic,
                                                                           factory):
    first = factory.book(clinic["patient"], doctor=clinic["doctor"], kind="IN_PERSON",
                         confirm=True)
    client.get(f"/api/v1/appointments/doctor/{clinic['doctor'].id}",
               headers=bearer(client, clinic["doctor"].user))
    client.get(f"/api/v1/appointments/patient/{clinic['patient'].id}",
               headers=bearer(client, clinic["admin"]))
    logged = [(e.actor_role, e.object_id) for e in entries(clinic["patient"])]
    assert logged == [("doctor", first.id), ("admin", first.id)]


def test_the_access_log_cannot_be_changed(app, clinic, factory):
    factory.book(clinic["patient"], doctor=clinic["doctor"], kind="IN_PERSON", confirm=True)
    appointments.get_visible(clinic["admin"], appointments.patient_appointments(
        clinic["patient"].id).items[0].id)
    # Outside a request (a test, the CLI) the read is written at once.
    [entry] = entries(clinic["patient"])
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the append-only trigger exists on PostgreSQL (CI runs it there)")
    for statement in (f"UPDATE access_log SET actor_role = 'x' WHERE id = {entry.id}",
                      f"DELETE FROM access_log WHERE id = {entry.id}"):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))
    assert entries(clinic["patient"])[0].actor_role == "admin"


# --- export ----------------------------------------------------------------------------------


def test_the_export_holds_family_a_paid_and_refunded_visit_and_a_waitlist_entry(
        clinic, factory, razorpay):
    razorpay.control("POST", "/settings", {"auto_capture": True, "auto_process_refunds": True})
    patient = clinic["patient"]
    child = family.add_dependent(patient, family.DependentData(
        "Tara Privatepatient", "CHILD", date(2018, 2, 3), "FEMALE"))
    paid = factory.book(patient, doctor=clinic["doctor"], kind="VIDEO", paid=True,
                        razorpay=razorpay)
    payment = payments.payment_for_appointment(paid.id)
    payments.refund(payment.id, 20_000, RefundSource.ADMIN, "goodwill",
                    idempotency_key="test-refund", actor_id=clinic["admin"].id)
    waitlist.join(patient, waitlist.EntryInput(clinic["doctor"].id, date(2026, 12, 9),
                                               date(2026, 12, 10)))
    appointments.get_visible(clinic["doctor"].user, paid.id)  # a read, in the access log
    data = export.collect(patient)
    assert data["profile"]["email"] == "meera.p@example.com"
    assert [d["name"] for d in data["family"]] == [child.name]
    assert [a["id"] for a in data["appointments"]] == [str(paid.id)]
    assert [h["to_status"] for h in data["appointments"][0]["history"]] == [
        "RESERVED", "CONFIRMED"]
    assert [p["amount_paise"] for p in data["payments"]] == [50_000]
    assert [r["amount_paise"] for r in data["refunds"]] == [20_000]
    assert [w["date_from"] for w in data["waitlist"]] == ["2026-12-09"]
    assert [e["actor_role"] for e in data["access_log"]] == ["doctor"]


def test_a_large_export_is_built_by_a_job_and_its_link_expires(app, clinic, frozen_clock,
                                                                monkeypatch, tmp_path):
    monkeypatch.setitem(app.config, "EXPORT_ROOT", str(tmp_path))
    made = export.request_export(clinic["patient"])
    built = export.build(made.id)
    assert built.status == "READY"
    token = export.link_token(built)
    body = export.file_for(token, "json").read_text()
    assert "meera.p@example.com" in body
    assert "Meera Privatepatient" in export.file_for(token, "html").read_text()
    frozen_clock.advance(timedelta(hours=25))
    with pytest.raises(export.NotFound):
        export.file_for(token, "json")
    assert export.expire_old() == 1
    assert not (tmp_path / str(made.id) / "data.json").exists()


# --- erasure ---------------------------------------------------------------------------------


def text_columns() -> list[tuple[str, str]]:
    return [(table.name, column.name) for table in db.metadata.sorted_tables
            for column in table.columns
            if isinstance(column.type, String | Text) or column.type.__class__.__name__ == "JSON"]


def find_everywhere(needles: list[str]) -> list[str]:
    found = []
    for table, column in text_columns():
        rows = db.session.execute(text(f"SELECT CAST({column} AS TEXT) FROM {table}")).scalars()
        for value in rows:
            for needle in needles:
                if value and needle.lower() in value.lower():
                    found.append(f"{table}.{column} holds {needle!r}")
    return found


def test_after_erasure_nothing_names_the_person_payments_remain_and_login_fails(
        app, client, clinic, factory, razorpay, frozen_clock):
    razorpay.control("POST", "/settings", {"auto_capture": True, "auto_process_refunds": True})
    patient = clinic["patient"]
    name, email, phone = patient.name, patient.email, patient.phone
    family.add_dependent(patient, family.DependentData("Tara Privatepatient", "CHILD",
                                                       date(2018, 2, 3), "FEMALE"))
    paid = factory.book(patient, doctor=clinic["doctor"], kind="VIDEO", paid=True,
                        razorpay=razorpay, reason="Persistent headaches")
    razorpay.deliver_webhooks()
    settle(app)
    assert find_everywhere([email])  # the data was there
    report = erasure.erase(patient, "correct-horse-9")
    settle(app)
    assert report.cancelled == 1
    leaks = find_everywhere([email, phone, name, "Tara Privatepatient", "Persistent headaches"])
    assert leaks == []
    kept = db.session.scalar(select(PaymentTransaction).where(
        PaymentTransaction.appointment_id == paid.id))
    assert kept.amount_paise == 50_000
    with pytest.raises(auth.InvalidCredentials):
        auth.authenticate(email, "correct-horse-9")
    again = factory.create_patient(email=email)
    assert again.id != patient.id


def test_erasure_removes_the_second_factor_and_its_recovery_codes(clinic):
    patient = clinic["patient"]
    secret = twofactor.new_secret()
    codes = twofactor.enable(patient, secret, pyotp.TOTP(secret).at(utcnow()))
    assert len(codes) == 10

    erasure.erase(patient, "correct-horse-9")

    assert db.session.scalars(select(RecoveryCode)).all() == []
    erased = db.session.get(User, patient.id)
    assert (erased.totp_secret, erased.totp_enabled_at) == (None, None)


def test_erasure_needs_the_password_and_is_for_patients(clinic):
    with pytest.raises(erasure.ValidationFailed):
        erasure.erase(clinic["patient"], "wrong-password-1")
    with pytest.raises(erasure.Conflict):
        erasure.erase(clinic["doctor"].user, "correct-horse-9")


# --- the pages and the API -------------------------------------------------------------------


def test_the_patient_sees_who_read_their_records_on_the_page_and_in_the_api(client, clinic,
                                                                            factory):
    booked = factory.book(clinic["patient"], doctor=clinic["doctor"], kind="IN_PERSON",
                          confirm=True)
    client.get(f"/api/v1/appointments/{booked.id}", headers=bearer(client,
                                                                   clinic["doctor"].user))
    listed = client.get("/api/v1/me/access-log",
                        headers=bearer(client, clinic["patient"])).get_json()
    assert [(i["reader_name"], i["reader_role"], i["kind"]) for i in listed["items"]] == [
        (clinic["doctor"].name, "doctor", "APPOINTMENT")]
    client.login(clinic["patient"].email)
    page = client.get("/account/privacy/access-log").get_data(as_text=True)
    assert clinic["doctor"].name in page
    assert "An appointment" in page


def test_the_admin_searches_the_log_by_patient_and_downloads_it(client, clinic, factory):
    booked = factory.book(clinic["patient"], doctor=clinic["doctor"], kind="IN_PERSON",
                          confirm=True)
    appointments.get_visible(clinic["doctor"].user, booked.id)
    other = factory.create_patient()
    client.login(clinic["admin"].email)
    found = client.get(f"/admin/access-log?patient={clinic['patient'].id}")
    assert clinic["patient"].name in found.get_data(as_text=True)
    assert "1 read." in found.get_data(as_text=True)
    empty = client.get(f"/admin/access-log?patient={other.id}").get_data(as_text=True)
    assert "No reads match" in empty
    csv_text = client.get(f"/admin/access-log.csv?patient={clinic['patient'].id}").get_data(
        as_text=True)
    assert csv_text.splitlines()[0].startswith("at_utc,actor_id")
    assert str(booked.id) in csv_text
    assert client.get("/admin/access-log?since=not-a-date").status_code == 200


def test_the_export_api_answers_small_at_once_and_large_through_a_job(app, client, clinic,
                                                                      monkeypatch, tmp_path):
    token = bearer(client, clinic["patient"])
    small = client.get("/api/v1/me/export", headers=token)
    assert small.status_code == 200
    assert small.get_json()["profile"]["email"] == "meera.p@example.com"
    monkeypatch.setitem(app.config, "EXPORT_INLINE_MAX_ROWS", -1)
    monkeypatch.setitem(app.config, "EXPORT_ROOT", str(tmp_path))
    large = client.get("/api/v1/me/export", headers=token)
    assert large.status_code == 202
    assert large.get_json()["status"] == "PENDING"
    export.build(uuid.UUID(large.get_json()["id"]))
    ready = client.get(f"/api/v1/me/exports/{large.get_json()['id']}", headers=token).get_json()
    assert ready["status"] == "READY"
    client.login(clinic["patient"].email)
    path = ready["json_url"].split("://", 1)[1].split("/", 1)[1]
    got = client.get("/" + path)
    assert got.status_code == 200
    assert b"meera.p@example.com" in got.data
    assert got.headers["Cache-Control"] == "no-store"


def test_erasing_through_the_api_needs_the_password_and_ends_every_session(client, clinic):
    token = bearer(client, clinic["patient"])
    wrong = client.delete("/api/v1/me", json={"password": "wrong-password-1"}, headers=token)
    assert wrong.status_code == 422
    assert wrong.get_json()["errors"][0]["field"] == "password"
    done = client.delete("/api/v1/me", json={"password": "correct-horse-9"}, headers=token)
    assert done.status_code == 200
    assert client.get("/api/v1/me", headers=token).status_code == 401


def test_the_erase_page_logs_out_after_erasing(client, clinic):
    client.login(clinic["patient"].email)
    page = client.get("/account/privacy/erase")
    assert page.status_code == 200
    refused = client.post_form("/account/privacy/erase", {"password": "correct-horse-9"})
    assert refused.status_code == 422  # "I understand" was not ticked
    done = client.post_form("/account/privacy/erase", {"password": "correct-horse-9",
                                                      "understood": "y"})
    assert done.status_code == 303
    assert client.get("/account/privacy").status_code == 302  # logged out: to the login page
