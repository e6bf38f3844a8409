"""Admins manage doctor accounts: in the portal (create, deactivate, reactivate) and with the
`flask create-doctor` and `flask deactivate-doctor` commands."""

from __future__ import annotations

import uuid

import pytest

from portal.auth.models import Role, User
from portal.doctors.models import Doctor
from portal.doctors.service import doctor_by_email
from tests.integration.support import (
    PASSWORD,
    count,
    field_error,
    logged_in,
    page_text,
    reload,
    sync,
)

NEW_DOCTOR = {
    "name": "Dr. Meera Pillai", "email": "Meera.Pillai@Example.com", "phone": "+919845012345",
    "password": "stethoscope-77", "specialty": "Endocrinology",
    "qualifications": "MBBS, DM (Endocrinology)", "languages": "English, Malayalam",
    "bio": "Diabetes and thyroid care.", "timezone": "Asia/Kolkata", "slot_minutes": "20",
    "fee_video": "600", "fee_in_person": "",
}


@pytest.fixture
def admin_client(client, factory):
    client.login(factory.create_admin().email)
    return client


# --- creating doctors in the portal ------------------------------------------------------------


def test_an_admin_creates_a_doctor_who_can_then_log_in(admin_client, new_client, app_ctx):
    response = admin_client.post_form("/admin/doctors/new", NEW_DOCTOR)

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/doctors"
    sync()
    doctor = doctor_by_email("meera.pillai@example.com")
    assert doctor.user.role == Role.DOCTOR
    assert doctor.user.phone == "+919845012345"
    assert doctor.specialty == "Endocrinology"
    assert doctor.language_list == ["English", "Malayalam"]
    assert doctor.slot_minutes == 20
    assert (doctor.fee_video_paise, doctor.fee_in_person_paise) == (60_000, None)
    assert "Doctor account created for Dr. Meera Pillai." in page_text(
        admin_client.get("/admin/doctors"))
    doctor_browser = new_client()
    assert doctor_browser.login("meera.pillai@example.com", "stethoscope-77").headers[
        "Location"] == "/dashboard"
    assert "Dr. Meera Pillai" in page_text(new_client().get("/doctors/?specialty=Endocrinology"))


def test_the_new_doctor_form_shows_each_invalid_field_and_writes_nothing(admin_client, app_ctx):
    users_before = count(User)

    response = admin_client.post_form("/admin/doctors/new", {
        **NEW_DOCTOR, "phone": "98450 12345", "timezone": "Asia/Nowhere", "fee_video": "",
        "password": "password123"})

    assert response.status_code == 422
    assert "international format" in field_error(response, "phone")
    assert "Unknown time zone" in field_error(response, "timezone")
    assert "at least one consultation type" in field_error(response, "fee_video")
    assert "too common" in field_error(response, "password")
    assert field_error(response, "email") is None
    assert count(User) == users_before
    assert count(Doctor) == 0


@pytest.mark.parametrize(("field", "value"), [
    ("name", ""), ("specialty", ""), ("slot_minutes", "3"), ("slot_minutes", "abc"),
    ("fee_video", "-5"), ("fee_in_person", "100001"),
])
def test_the_new_doctor_form_checks_each_field(admin_client, app_ctx, field, value):
    users_before = count(User)

    response = admin_client.post_form("/admin/doctors/new", {**NEW_DOCTOR, field: value})

    assert response.status_code == 422
    assert field_error(response, field)
    assert count(User) == users_before
    assert count(Doctor) == 0


def test_a_valid_account_with_an_invalid_profile_is_not_half_written(admin_client, factory):
    users_before = count(User)

    response = admin_client.post_form("/admin/doctors/new", {**NEW_DOCTOR, "fee_video": ""})

    assert response.status_code == 422
    assert count(User) == users_before
    assert count(Doctor) == 0


def test_a_doctor_cannot_reuse_a_registered_email_in_another_case(admin_client, factory):
    factory.create_patient(email="meera.pillai@example.com")

    response = admin_client.post_form("/admin/doctors/new",
                                      {**NEW_DOCTOR, "email": "MEERA.PILLAI@example.com"})

    assert response.status_code == 422
    assert "already exists" in field_error(response, "email")
    assert count(Doctor) == 0


# --- deactivating and reactivating ---------------------------------------------------------


def test_deactivating_a_doctor_hides_them_and_ends_their_sessions(admin_client, new_client,
                                                                  factory):
    doctor = factory.create_doctor(name="Dr. Anil Kapoor", specialty="Urology", hours=())
    doctor_browser = new_client()
    doctor_browser.login(doctor.user.email)

    response = admin_client.post_form(f"/admin/doctors/{doctor.id}/active", {"active": "0"})

    assert response.status_code == 302
    assert "Dr. Anil Kapoor is now deactivated." in page_text(admin_client.get("/admin/doctors"))
    assert reload(doctor).active is False
    assert doctor.user.active is False
    assert not logged_in(doctor_browser)
    assert new_client().post_form("/account/login", {
        "email": doctor.user.email, "password": PASSWORD}).status_code == 422
    visitor = new_client()
    assert "Dr. Anil Kapoor" not in page_text(visitor.get("/doctors/"))
    assert visitor.get(f"/doctors/{doctor.id}").status_code == 404


def test_the_admin_list_keeps_deactivated_doctors_with_their_status(admin_client, factory):
    active = factory.create_doctor(name="Dr. Still Here", hours=())
    gone = factory.create_doctor(name="Dr. Gone Away", hours=())
    admin_client.post_form(f"/admin/doctors/{gone.id}/active", {"active": "0"})

    body = page_text(admin_client.get("/admin/doctors"))

    assert "Dr. Still Here" in body
    assert "Dr. Gone Away" in body
    assert "Deactivated" in body
    assert f'action="/admin/doctors/{active.id}/active"' in body


def test_reactivating_a_doctor_brings_them_back(admin_client, new_client, factory):
    doctor = factory.create_doctor(name="Dr. Back Again", hours=())
    admin_client.post_form(f"/admin/doctors/{doctor.id}/active", {"active": "0"})

    response = admin_client.post_form(f"/admin/doctors/{doctor.id}/active", {"active": "1"})

    assert response.status_code == 302
    assert reload(doctor).active is True
    assert "Dr. Back Again" in page_text(new_client().get("/doctors/"))
    assert new_client().login(doctor.user.email)


def test_deactivating_an_unknown_doctor_is_404(admin_client):
    response = admin_client.post_form(f"/admin/doctors/{uuid.uuid4()}/active", {"active": "0"})

    assert response.status_code == 404


def test_the_admin_list_searches_and_answers_htmx_with_the_table_only(admin_client, factory):
    factory.create_doctor(name="Dr. Findable One", hours=())
    factory.create_doctor(name="Dr. Someone Else", hours=())

    response = admin_client.get("/admin/doctors?q=findable", headers={"HX-Request": "true"})

    body = page_text(response)
    assert "<html" not in body
    assert "Dr. Findable One" in body
    assert "Dr. Someone Else" not in body


# --- the CLI -------------------------------------------------------------------------------

CLI_DOCTOR = ["create-doctor", "--name", "Dr. Ravi Menon", "--email", "ravi.menon@example.com",
              "--phone", "+919812300000", "--specialty", "Nephrology", "--timezone",
              "Asia/Kolkata", "--fee-video", "70000", "--fee-in-person", "90000",
              "--slot-minutes", "15", "--languages", "English, Tamil", "--password",
              "kidney-bean-44"]


def test_the_cli_creates_a_doctor(runner, app_ctx):
    result = runner.invoke(args=CLI_DOCTOR)

    assert result.exit_code == 0, result.output
    assert "Created doctor Dr. Ravi Menon <ravi.menon@example.com>" in result.output
    doctor = doctor_by_email("ravi.menon@example.com")
    assert (doctor.fee_video_paise, doctor.fee_in_person_paise) == (70_000, 90_000)
    assert doctor.slot_minutes == 15
    assert doctor.language_list == ["English", "Tamil"]
    assert doctor.user.role == Role.DOCTOR


def test_the_cli_works_without_an_app_context_of_the_caller(runner):
    result = runner.invoke(args=CLI_DOCTOR)

    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--phone", "12345", "phone: "),
    ("--timezone", "Mars/Base", "timezone: Unknown time zone"),
    ("--slot-minutes", "1", "slot_minutes: "),
    ("--password", "short", "password: Use at least 8 characters."),
])
def test_the_cli_refuses_bad_input_with_exit_code_2(runner, app_ctx, option, value, message):
    args = list(CLI_DOCTOR)
    args[args.index(option) + 1] = value

    result = runner.invoke(args=args)

    assert result.exit_code == 2
    assert message in result.stderr
    assert count(User) == 0


def test_the_cli_refuses_a_doctor_without_any_fee(runner, app_ctx):
    args = [a for a in CLI_DOCTOR if a not in ("--fee-video", "70000", "--fee-in-person",
                                               "90000")]

    result = runner.invoke(args=args)

    assert result.exit_code == 2
    assert "fee_video_paise: Offer at least one consultation type" in result.stderr
    assert count(User) == 0


def test_the_cli_refuses_a_duplicate_email(runner, factory):
    factory.create_patient(email="ravi.menon@example.com")

    result = runner.invoke(args=CLI_DOCTOR)

    assert result.exit_code == 2
    assert "email: An account with this email already exists" in result.stderr
    assert count(Doctor) == 0


def test_the_cli_deactivates_and_reactivates_a_doctor(runner, factory):
    doctor = factory.create_doctor(name="Dr. Cli Target", email="cli.target@example.com", hours=())

    off = runner.invoke(args=["deactivate-doctor", "CLI.Target@example.com"])
    assert off.exit_code == 0, off.output
    assert "Dr. Cli Target is now deactivated." in off.output
    assert reload(doctor).active is False

    on = runner.invoke(args=["deactivate-doctor", "cli.target@example.com", "--reactivate"])
    assert on.exit_code == 0, on.output
    assert reload(doctor).active is True


def test_the_cli_refuses_to_deactivate_an_unknown_doctor(runner, factory):
    patient = factory.create_patient()

    unknown = runner.invoke(args=["deactivate-doctor", "nobody@example.com"])
    not_a_doctor = runner.invoke(args=["deactivate-doctor", patient.email])

    assert unknown.exit_code == 2
    assert "No doctor with the email nobody@example.com." in unknown.stderr
    assert not_a_doctor.exit_code == 2
    assert reload(patient).active is True
