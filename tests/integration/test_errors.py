"""Error responses: pages for browsers, fragments for HTMX, problem+json for the API, never a
traceback; and the health check."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import PortalClient
from tests.integration.support import build_app, dispose, page_text, problem_errors

HTMX = {"HX-Request": "true"}
SECRET_DETAIL = "database password is hunter2"


@pytest.fixture(scope="module")
def failing_app(app):
    """The portal plus routes that fail with an unexpected exception."""
    failing = build_app(app)

    def boom():
        raise RuntimeError(SECRET_DETAIL)

    failing.add_url_rule("/boom", "boom", boom)
    failing.add_url_rule("/api/v1/boom", "api_boom", boom)
    yield failing
    dispose(failing)


@pytest.fixture
def failing(failing_app) -> PortalClient:
    return PortalClient(failing_app, failing_app.response_class, use_cookies=True)


def test_an_unknown_page_gets_the_404_page(client):
    response = client.get("/no/such/page")

    assert response.status_code == 404
    body = page_text(response)
    assert "<html" in body
    assert "<h1>Not found</h1>" in body
    assert "We could not find that page." in body
    assert 'href="/"' in body


def test_an_unknown_page_asked_for_by_htmx_gets_a_fragment_for_the_message_area(client):
    response = client.get("/no/such/page", headers=HTMX)

    assert response.status_code == 404
    assert response.headers["HX-Retarget"] == "#messages"
    assert response.headers["HX-Reswap"] == "innerHTML"
    body = page_text(response)
    assert "<html" not in body
    assert 'role="alert"' in body
    assert "We could not find that page." in body


def test_a_forbidden_page_gets_the_403_page_and_htmx_a_fragment(client, factory):
    client.login(factory.create_patient().email)

    page = client.get("/admin/doctors")
    fragment = client.get("/admin/doctors", headers=HTMX)

    assert page.status_code == 403
    assert "<html" in page_text(page)
    assert "<h1>Not allowed</h1>" in page_text(page)
    assert fragment.status_code == 403
    assert fragment.headers["HX-Retarget"] == "#messages"
    assert "<html" not in page_text(fragment)
    assert "You do not have access to this page." in page_text(fragment)


def test_an_unknown_api_route_gets_problem_json(client):
    response = client.get("/api/v1/nothing-here")

    assert response.status_code == 404
    problem_errors(response)
    assert response.get_json()["title"] == "Not found"


def test_a_wrong_method_on_the_api_gets_problem_json(client):
    response = client.delete("/api/v1/doctors")

    assert response.status_code == 405
    problem_errors(response)


def test_an_unexpected_error_gets_the_500_page_without_a_traceback(failing, caplog,
                                                                   monkeypatch):
    # Alembic's fileConfig (run by the suite's migrations) disables loggers that exist already.
    monkeypatch.setattr(logging.getLogger("portal.errors"), "disabled", False)
    with caplog.at_level(logging.ERROR, logger="portal.errors"):
        response = failing.get("/boom")

    assert response.status_code == 500
    body = page_text(response)
    assert "<html" in body
    assert "Something went wrong" in body
    assert "Traceback" not in body
    assert SECRET_DETAIL not in body
    assert "RuntimeError" not in body
    assert any(record.exc_info and SECRET_DETAIL in str(record.exc_info[1])
               for record in caplog.records)


def test_an_unexpected_error_in_an_htmx_request_gets_a_fragment(failing):
    response = failing.get("/boom", headers=HTMX)

    assert response.status_code == 500
    assert response.headers["HX-Retarget"] == "#messages"
    assert "<html" not in page_text(response)
    assert "Something went wrong" in page_text(response)


def test_an_unexpected_error_in_the_api_gets_problem_json_without_a_traceback(failing):
    response = failing.get("/api/v1/boom")

    assert response.status_code == 500
    problem_errors(response)
    assert response.get_json()["title"] == "Something went wrong"
    text = response.get_data(as_text=True)
    assert SECRET_DETAIL not in text
    assert "Traceback" not in text


def test_responses_carry_security_headers_and_vary_on_htmx(client):
    response = client.get("/doctors/")

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "HX-Request" in response.headers["Vary"]


def test_the_health_check_answers_200(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
