"""What a patient, a doctor and an admin do first, in a real browser (Chromium via Playwright).

Selectors are roles and labels, so each step also checks that the page is usable with assistive
technology. Waits are `expect` assertions that retry until the page gets there (and, after a
login, the new page's load event, when HTMX has bound its triggers); never fixed sleeps.
"""

from __future__ import annotations

import re

import itsdangerous
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import TIMEOUT_MS
from tests.factories import PASSWORD

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
NOT_THE_LOGIN_PAGE = re.compile(r"^(?!.*/account/login)")


# --- steps a person takes, named as they would say them ---------------------------------------

def main_nav(page: Page):
    return page.get_by_role("navigation", name="Main")


def results(page: Page):
    return page.get_by_role("region", name="Search results")


def doctor_names(page: Page):
    """The doctors listed in the directory's results, one heading per doctor."""
    return results(page).get_by_role("heading", level=2)


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Log in and wait for the home page to finish loading (HTMX binds its triggers on load)."""
    page.goto("/account/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(NOT_THE_LOGIN_PAGE, wait_until="load")


def log_out(page: Page, name: str) -> None:
    main_nav(page).get_by_label(f"Account menu for {name}").click()
    main_nav(page).get_by_role("button", name="Log out").click()


def expect_flash(page: Page, message: str) -> None:
    expect(page.get_by_role("status").filter(has_text=message)).to_have_text(message)


def expect_logged_in_as(page: Page, name: str) -> None:
    expect(main_nav(page).get_by_label(f"Account menu for {name}")).to_be_visible()
    expect(main_nav(page).get_by_role("link", name="Log in")).to_have_count(0)


def expect_logged_out(page: Page) -> None:
    expect_flash(page, "You have been logged out.")
    expect(main_nav(page).get_by_role("link", name="Log in")).to_be_visible()
    expect(main_nav(page).get_by_label(re.compile("^Account menu"))).to_have_count(0)


def expect_no_horizontal_scroll(page: Page) -> None:
    overflow = page.evaluate(
        "() => document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


def open_page(new_context, **context_args) -> Page:
    """A page in a context of its own (no JavaScript, a phone screen...)."""
    context: BrowserContext = new_context(**context_args)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    return context.new_page()


@pytest.fixture
def directory_doctors(factory):
    """Two dermatologists and a cardiologist, listed by name."""
    factory.create_doctor(name="Dr. Priya Nair", specialty="Dermatology", fee_video_paise=80_000,
                          fee_in_person_paise=None, slot_minutes=20, hours=())
    factory.create_doctor(name="Dr. Meera Shah", specialty="Dermatology", fee_video_paise=60_000,
                          fee_in_person_paise=95_000, hours=())
    factory.create_doctor(name="Dr. Rohan Iyer", specialty="Cardiology", fee_video_paise=120_000,
                          fee_in_person_paise=150_000, hours=())


# --- 1. accounts -------------------------------------------------------------------------------

def test_a_newcomer_registers_logs_out_and_logs_in_again(page: Page):
    page.goto("/")
    # Styled as a button (Pico's role="button" on the link).
    main_nav(page).get_by_role("button", name="Register").click()
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()

    page.get_by_label("Full name").fill("Neha Verma")
    page.get_by_label("Email").fill("neha.verma@example.com")
    page.get_by_label("Mobile number").fill("+919876543210")
    page.get_by_label("Time zone").select_option("Europe/London")
    page.get_by_label("Password").fill("lantern-orbit-47")
    page.get_by_label("I accept the terms of service and the privacy notice").check()
    page.get_by_role("button", name="Create account").click()

    expect_flash(page, "Welcome, Neha Verma. Your account is ready.")
    expect(page.get_by_role("heading", name="Find a doctor", level=1)).to_be_visible()
    expect_logged_in_as(page, "Neha Verma")

    log_out(page, "Neha Verma")
    expect_logged_out(page)
    expect(page).to_have_url(re.compile(r"/account/login$"))

    log_in(page, "neha.verma@example.com", "lantern-orbit-47")
    expect_flash(page, "Logged in as Neha Verma.")
    expect_logged_in_as(page, "Neha Verma")


# --- 2. the directory with HTMX ------------------------------------------------------------------

def test_a_visitor_filters_by_specialty_searches_by_name_and_opens_a_doctor(
        page: Page, directory_doctors):
    page.goto("/doctors/")
    expect(doctor_names(page)).to_have_text(["Dr. Meera Shah", "Dr. Priya Nair", "Dr. Rohan Iyer"])
    # Survives only as long as the document does: a full page load would wipe it.
    page.evaluate("() => { window.sameDocument = true; }")

    page.get_by_label("Specialty", exact=True).select_option("Dermatology")
    expect(page).to_have_url(re.compile(r"/doctors/\?specialty=Dermatology(&q=)?$"))
    expect(doctor_names(page)).to_have_text(["Dr. Meera Shah", "Dr. Priya Nair"])
    expect(results(page)).to_contain_text("2 doctors in Dermatology")

    page.get_by_label("Name or specialty").fill("Nair")
    expect(page).to_have_url(re.compile(r"specialty=Dermatology&q=Nair$"))
    expect(doctor_names(page)).to_have_text(["Dr. Priya Nair"])
    assert page.evaluate("() => window.sameDocument") is True, "the results were not swapped in"

    results(page).get_by_role("link", name="Dr. Priya Nair").click()
    expect(page.get_by_role("heading", name="Dr. Priya Nair", level=1)).to_be_visible()
    expect(page.get_by_text("Dermatology", exact=True)).to_be_visible()
    expect(page.get_by_role("listitem").filter(has_text="Video:")).to_have_text(
        "Video: ₹800 for 20 minutes")
    expect(page.get_by_role("listitem").filter(has_text="In person")).to_have_count(0)


# --- 3. the directory without JavaScript ---------------------------------------------------------

def test_the_directory_filters_without_javascript(new_context, directory_doctors):
    page = open_page(new_context, java_script_enabled=False)
    page.goto("/doctors/")
    expect(doctor_names(page)).to_have_count(3)

    page.get_by_label("Specialty", exact=True).select_option("Cardiology")
    page.get_by_role("button", name="Search").click()

    expect(page).to_have_url(re.compile(r"/doctors/\?specialty=Cardiology&q=$"))
    expect(doctor_names(page)).to_have_text(["Dr. Rohan Iyer"])
    expect(page.get_by_label("Specialty", exact=True)).to_have_value("Cardiology")


# --- 4. navigation per role ----------------------------------------------------------------------

def test_a_doctor_sees_their_practice_not_the_admin_navigation(page: Page, factory):
    factory.create_doctor(name="Dr. Asha Mehta", email="asha@example.com",
                          specialty="General Medicine", hours=())

    log_in(page, "asha@example.com")

    expect(page.get_by_role("heading", name="My practice", level=1)).to_be_visible()
    nav = main_nav(page)
    expect(nav.get_by_role("link", name="My practice")).to_be_visible()
    expect(nav.get_by_role("link", name="Add doctor")).to_have_count(0)
    expect(nav.get_by_role("link", name="Doctors", exact=True)).to_have_count(0)
    expect(nav.get_by_role("link", name="Find a doctor")).to_have_count(0)


def test_an_admin_sees_the_admin_navigation_and_opens_the_add_doctor_form(
        page: Page, factory):
    factory.create_admin(name="Clinic Admin", email="admin@example.com")

    log_in(page, "admin@example.com")

    expect(page.get_by_role("heading", name="Doctors", level=1)).to_be_visible()
    nav = main_nav(page)
    expect(nav.get_by_role("link", name="Doctors", exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="My practice")).to_have_count(0)

    nav.get_by_role("link", name="Add doctor").click()
    expect(page.get_by_role("heading", name="Add a doctor", level=1)).to_be_visible()
    for label in ("Full name", "Email", "Mobile number", "Password", "Specialty", "Time zone"):
        expect(page.get_by_label(label)).to_be_editable()
    expect(page.get_by_role("button", name="Create doctor account")).to_be_enabled()


def test_a_patient_sees_find_a_doctor(page: Page, factory):
    factory.create_patient(name="Pat Kumar", email="pat@example.com")

    log_in(page, "pat@example.com")

    nav = main_nav(page)
    expect(nav.get_by_role("link", name="Find a doctor")).to_be_visible()
    expect(nav.get_by_role("link", name="My practice")).to_have_count(0)
    expect(nav.get_by_role("link", name="Add doctor")).to_have_count(0)
    nav.get_by_role("link", name="Find a doctor").click()
    expect(page.get_by_role("heading", name="Find a doctor", level=1)).to_be_visible()


# --- 5. a phone ----------------------------------------------------------------------------------

def test_on_a_phone_the_directory_and_navigation_fit_the_screen(
        new_context, factory, directory_doctors):
    factory.create_patient(name="Pat Kumar", email="pat@example.com")
    page = open_page(new_context, viewport=PHONE, is_mobile=True, has_touch=True)

    page.goto("/doctors/")
    expect(doctor_names(page)).to_have_count(3)
    for link in ("Find a doctor", "Log in"):
        expect(main_nav(page).get_by_role("link", name=link)).to_be_in_viewport()
    expect(main_nav(page).get_by_role("button", name="Register")).to_be_in_viewport()
    expect_no_horizontal_scroll(page)

    main_nav(page).get_by_role("link", name="Log in").click()
    page.get_by_label("Email").fill("pat@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect_logged_in_as(page, "Pat Kumar")
    expect(doctor_names(page)).to_have_count(3)
    expect_no_horizontal_scroll(page)

    main_nav(page).get_by_label("Account menu for Pat Kumar").click()
    log_out_button = main_nav(page).get_by_role("button", name="Log out")
    expect(log_out_button).to_be_in_viewport()
    expect_no_horizontal_scroll(page)
    log_out_button.click()
    expect_logged_out(page)


# --- 6. a page left open -------------------------------------------------------------------------

def test_a_page_left_open_for_hours_still_filters_and_logs_out(
        page: Page, factory, directory_doctors, monkeypatch):
    factory.create_patient(name="Pat Kumar", email="pat@example.com")
    log_in(page, "pat@example.com")
    expect(doctor_names(page)).to_have_count(3)

    # Six hours pass on the server: signed cookies and tokens minted now look that much older.
    real_timestamp = itsdangerous.TimestampSigner.get_timestamp
    monkeypatch.setattr(itsdangerous.TimestampSigner, "get_timestamp",
                        lambda signer: real_timestamp(signer) + 6 * 3600)

    with page.expect_request(lambda r: r.headers.get("hx-request") == "true") as htmx_request:
        page.get_by_label("Specialty", exact=True).select_option("Cardiology")
    assert htmx_request.value.headers.get("x-csrftoken"), "HTMX requests carry the CSRF token"
    expect(doctor_names(page)).to_have_text(["Dr. Rohan Iyer"])
    expect_logged_in_as(page, "Pat Kumar")

    # A plain form POST from the same, long-open page: its CSRF token is still accepted.
    log_out(page, "Pat Kumar")
    expect_logged_out(page)


def test_htmx_posts_carry_the_csrf_token_that_bare_posts_lack(page: Page, factory):
    """The base layout's hx-headers put the CSRF token on every HTMX request, POSTs included."""
    factory.create_patient(name="Pat Kumar", email="pat@example.com")
    log_in(page, "pat@example.com")

    refused = page.evaluate("() => fetch('/account/logout', {method: 'POST'}).then(r => r.status)")
    assert refused == 400, "a POST without the CSRF token must be refused"
    page.reload()
    expect_logged_in_as(page, "Pat Kumar")

    with page.expect_response(re.compile(r"/account/logout$")) as response:
        page.evaluate("() => htmx.ajax('POST', '/account/logout', "
                      "{source: document.body, swap: 'none'})")
    assert response.value.status == 302, "the HTMX POST was refused"
    page.reload()
    expect(main_nav(page).get_by_role("link", name="Log in")).to_be_visible()
