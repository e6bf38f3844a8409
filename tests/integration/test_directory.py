"""The public doctor directory: the page (with and without JavaScript), HTMX fragments, a
doctor's page, and the same data over GET /api/v1/doctors."""

from __future__ import annotations

import re
import uuid

import pytest

from portal.doctors.service import set_doctor_active
from tests.integration.support import is_uuid, page_text, problem_errors

HTMX = {"HX-Request": "true"}


def names_on(response) -> list[str]:
    """Doctor names in the order the result cards show them."""
    return re.findall(r'<h2><a href="/doctors/[0-9a-f-]+">([^<]+)</a></h2>', page_text(response))


@pytest.fixture
def clinic(factory):
    """Three cardiologists, a dermatologist and a psychiatrist in London."""
    return {
        "mehta": factory.create_doctor(name="Dr. Asha Mehta", specialty="Cardiology", hours=()),
        "iyer": factory.create_doctor(name="Dr. Rohan Iyer", specialty="Cardiology",
                                      fee_video_paise=120_000, fee_in_person_paise=150_000,
                                      hours=()),
        "bose": factory.create_doctor(name="Dr. Tara Bose", specialty="Cardiology",
                                      fee_in_person_paise=None, hours=()),
        "nair": factory.create_doctor(name="Dr. Priya Nair", specialty="Dermatology", hours=()),
        "collins": factory.create_doctor(name="Dr. Sarah Collins", specialty="Psychiatry",
                                         timezone="Europe/London", hours=()),
    }


# --- the HTML directory ----------------------------------------------------------------------


def test_the_directory_page_works_without_javascript(client, clinic):
    response = client.get("/doctors/")

    assert response.status_code == 200
    body = page_text(response)
    assert "<html" in body
    assert re.search(r'<form id="doctor-search" method="get" action="/doctors/"', body)
    assert '<select id="specialty" name="specialty">' in body
    assert '<input id="q" type="search" name="q"' in body
    assert '<button type="submit"' in body
    assert '<label for="specialty">' in body
    assert names_on(response) == ["Dr. Asha Mehta", "Dr. Priya Nair", "Dr. Rohan Iyer",
                                  "Dr. Sarah Collins", "Dr. Tara Bose"]
    assert "5 doctors" in body


def test_the_specialty_filter_lists_the_specialties_of_active_doctors(client, clinic):
    body = page_text(client.get("/doctors/"))

    options = re.findall(r'<option value="([^"]*)"', body)
    assert options == ["", "Cardiology", "Dermatology", "Psychiatry"]


def test_an_htmx_request_gets_only_the_results_fragment(client, clinic):
    response = client.get("/doctors/?specialty=Dermatology", headers=HTMX)

    assert response.status_code == 200
    body = page_text(response)
    assert "<html" not in body
    assert 'id="doctor-search"' not in body
    assert body.lstrip().startswith('<section id="results"')
    assert names_on(response) == ["Dr. Priya Nair"]
    assert "HX-Request" in response.headers["Vary"]


def test_a_boosted_or_history_restore_request_gets_the_full_page(client, clinic):
    boosted = client.get("/doctors/", headers={**HTMX, "HX-Boosted": "true"})
    restore = client.get("/doctors/", headers={**HTMX, "HX-History-Restore-Request": "true"})

    assert "<html" in page_text(boosted)
    assert "<html" in page_text(restore)


def test_the_specialty_filter_ignores_case_and_keeps_the_choice_selected(client, clinic):
    response = client.get("/doctors/?specialty=cardiology")

    assert names_on(response) == ["Dr. Asha Mehta", "Dr. Rohan Iyer", "Dr. Tara Bose"]
    assert '<option value="Cardiology" selected>' in page_text(response)
    assert "3 doctors in cardiology" in page_text(response)


def test_the_search_matches_names_in_any_case(client, clinic):
    response = client.get("/doctors/?q=MEHTA")

    assert names_on(response) == ["Dr. Asha Mehta"]
    assert 'value="MEHTA"' in page_text(response)


def test_search_and_specialty_combine(client, clinic):
    response = client.get("/doctors/?specialty=Cardiology&q=iyer")

    assert names_on(response) == ["Dr. Rohan Iyer"]


def test_a_search_without_results_shows_the_empty_state(client, clinic):
    response = client.get("/doctors/?q=nobody-by-this-name", headers=HTMX)

    body = page_text(response)
    assert names_on(response) == []
    assert "No doctors match your search." in body
    assert 'href="/doctors/"' in body


def test_the_directory_pages_twelve_doctors_at_a_time_keeping_the_filter(client, factory):
    for n in range(13):
        factory.create_doctor(name=f"Dr. Page {n:02d}", specialty="Neurology", hours=())
    factory.create_doctor(name="Dr. Other", specialty="Oncology", hours=())

    first = client.get("/doctors/?specialty=Neurology")
    second = client.get("/doctors/?specialty=Neurology&page=2", headers=HTMX)

    assert names_on(first) == [f"Dr. Page {n:02d}" for n in range(12)]
    assert "Page 1 of 2" in page_text(first)
    assert 'href="/doctors/?specialty=Neurology&amp;page=2" rel="next"' in first.get_data(
        as_text=True)
    assert names_on(second) == ["Dr. Page 12"]
    assert "<html" not in page_text(second)
    assert 'href="/doctors/?specialty=Neurology&amp;page=1" rel="prev"' in second.get_data(
        as_text=True)


@pytest.mark.parametrize("number", ["0", "-3", "abc", "99"])
def test_an_out_of_range_page_number_does_not_fail(client, clinic, number):
    response = client.get(f"/doctors/?page={number}")

    assert response.status_code == 200


def test_a_doctor_page_shows_fees_in_rupees(client, factory):
    doctor = factory.create_doctor(name="Dr. Rohan Iyer", specialty="Cardiology",
                                   fee_video_paise=120_000, fee_in_person_paise=1_234_550,
                                   hours=())

    response = client.get(f"/doctors/{doctor.id}")

    assert response.status_code == 200
    body = page_text(response)
    assert "<h1>Dr. Rohan Iyer</h1>" in body
    assert "Video: <strong>₹1,200</strong>" in body
    assert "In person: <strong>₹12,345.50</strong>" in body
    assert "Asia/Kolkata" in body


def test_a_doctor_page_lists_only_the_consultations_offered(client, factory):
    doctor = factory.create_doctor(fee_video_paise=None, fee_in_person_paise=90_000, hours=())

    body = page_text(client.get(f"/doctors/{doctor.id}"))

    assert "In person: <strong>₹900</strong>" in body
    assert "Video:" not in body


def test_a_deactivated_doctor_leaves_the_directory_and_their_page_404s(client, clinic):
    set_doctor_active(clinic["collins"], False)

    listing = client.get("/doctors/")
    page = client.get(f"/doctors/{clinic['collins'].id}")

    assert "Dr. Sarah Collins" not in names_on(listing)
    assert "Psychiatry" not in re.findall(r'<option value="([^"]*)"', page_text(listing))
    assert page.status_code == 404
    assert client.get("/doctors/?q=collins").status_code == 200
    assert names_on(client.get("/doctors/?q=collins")) == []


@pytest.mark.parametrize("path", [f"/doctors/{uuid.uuid4()}", "/doctors/12", "/doctors/abc"])
def test_an_unknown_doctor_page_is_404(client, path):
    assert client.get(path).status_code == 404


# --- the JSON directory --------------------------------------------------------------------


def test_the_api_lists_doctors_with_uuids_and_money_objects(client, clinic):
    response = client.get("/api/v1/doctors")

    assert response.status_code == 200
    body = response.get_json()
    assert (body["page"], body["per_page"], body["total"], body["pages"]) == (1, 20, 5, 1)
    iyer = next(item for item in body["items"] if item["name"] == "Dr. Rohan Iyer")
    assert is_uuid(iyer["id"])
    assert uuid.UUID(iyer["id"]).version == 4
    assert iyer["specialty"] == "Cardiology"
    assert iyer["timezone"] == "Asia/Kolkata"
    assert iyer["slot_minutes"] == 30
    assert iyer["languages"] == ["English"]
    assert iyer["consultations"] == [
        {"type": "VIDEO", "fee": {"amount": 120_000, "currency": "INR"}},
        {"type": "IN_PERSON", "fee": {"amount": 150_000, "currency": "INR"}},
    ]
    bose = next(item for item in body["items"] if item["name"] == "Dr. Tara Bose")
    assert [c["type"] for c in bose["consultations"]] == ["VIDEO"]


def test_the_api_filters_by_specialty_ignoring_case(client, clinic):
    body = client.get("/api/v1/doctors?specialty=CARDIOLOGY").get_json()

    assert [item["name"] for item in body["items"]] == [
        "Dr. Asha Mehta", "Dr. Rohan Iyer", "Dr. Tara Bose"]
    assert body["total"] == 3


def test_the_api_searches_names_ignoring_case(client, clinic):
    body = client.get("/api/v1/doctors?q=sArAh").get_json()

    assert [item["name"] for item in body["items"]] == ["Dr. Sarah Collins"]


@pytest.mark.parametrize(("search", "found"), [
    ("100%", ["Dr. 100% Care"]),
    ("m_l", ["Dr. Tom_Lee"]),
    ("%", ["Dr. 100% Care"]),
    ("_", ["Dr. Tom_Lee"]),
    ("\\", ["Dr. Back\\Slash"]),
])
def test_the_api_search_takes_like_wildcards_literally(client, factory, search, found):
    for name in ("Dr. 100% Care", "Dr. 1000 Cares", "Dr. Tom_Lee", "Dr. Tomalee",
                 "Dr. Back\\Slash"):
        factory.create_doctor(name=name, hours=())

    body = client.get("/api/v1/doctors", query_string={"q": search}).get_json()

    assert [item["name"] for item in body["items"]] == found


def test_the_api_paginates(client, clinic):
    first = client.get("/api/v1/doctors?per_page=2").get_json()
    last = client.get("/api/v1/doctors?per_page=2&page=3").get_json()

    assert (first["total"], first["pages"], len(first["items"])) == (5, 3, 2)
    assert (last["page"], len(last["items"])) == (3, 1)
    assert last["items"][0]["name"] == "Dr. Tara Bose"


@pytest.mark.parametrize(("query", "field"), [
    ("per_page=0", "per_page"), ("per_page=101", "per_page"), ("page=0", "page"),
    ("page=abc", "page"),
])
def test_the_api_rejects_bad_paging_naming_the_parameter(client, query, field):
    response = client.get(f"/api/v1/doctors?{query}")

    assert response.status_code == 422
    assert field in problem_errors(response)


def test_the_api_serves_one_doctor_by_id(client, clinic):
    response = client.get(f"/api/v1/doctors/{clinic['nair'].id}")

    assert response.status_code == 200
    assert response.get_json()["name"] == "Dr. Priya Nair"
    assert response.get_json()["id"] == str(clinic["nair"].id)


def test_the_api_hides_a_deactivated_doctor(client, clinic):
    set_doctor_active(clinic["nair"], False)

    listing = client.get("/api/v1/doctors").get_json()
    one = client.get(f"/api/v1/doctors/{clinic['nair'].id}")

    assert "Dr. Priya Nair" not in [item["name"] for item in listing["items"]]
    assert listing["total"] == 4
    assert one.status_code == 404
    problem_errors(one)


@pytest.mark.parametrize("doctor_id", [str(uuid.uuid4()), "1", "not-a-uuid"])
def test_the_api_answers_404_problem_json_for_an_unknown_doctor(client, doctor_id):
    response = client.get(f"/api/v1/doctors/{doctor_id}")

    assert response.status_code == 404
    problem_errors(response)
