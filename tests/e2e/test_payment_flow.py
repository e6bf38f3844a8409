"""Paying in a real browser (Chromium) through the Razorpay sandbox's checkout page: a patient
books a paid consultation, pays and opens the receipt; an admin finds the payment, exports
the CSV and refunds it.

The server's clock is frozen on Monday 7 December 2026, 06:00 in Kolkata, where everyone
lives; the `razorpay` fixture serves the sandbox and points the app's checkout URL at it.
Selectors are roles and labels; every wait is an `expect` that retries, never a sleep.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from playwright.sync_api import Page, expect

from portal.appointments import service as appointments
from portal.payments import service as payments
from tests.factories import MONDAY_MORNING, PASSWORD, book, pay

pytestmark = pytest.mark.e2e

NOT_THE_LOGIN_PAGE = re.compile(r"^(?!.*/account/login)")
APPOINTMENT_PAGE = re.compile(r"/appointments/[0-9a-f-]{36}$")


def log_in(page: Page, email: str) -> None:
    page.goto("/account/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(NOT_THE_LOGIN_PAGE, wait_until="load")


def flash(page: Page, text: str):
    return page.locator("#messages").get_by_text(text)


@pytest.fixture
def clinic(factory, frozen_clock, razorpay):
    """Dr. Meera Iyer: ₹500 video consultations 09:00-12:00 on weekdays; Pat Kumar, a patient;
    an admin. Everyone in Asia/Kolkata. The sandbox captures payments and processes refunds
    at once, as a Razorpay account with auto-capture does."""
    frozen_clock.freeze(MONDAY_MORNING)
    doctor = factory.create_doctor(name="Dr. Meera Iyer", email="meera@example.com",
                                   specialty="Dermatology", fee_video_paise=50_000,
                                   fee_in_person_paise=None,
                                   hours=factory.weekly_hours("09:00", "12:00", "VIDEO"))
    razorpay.control("POST", "/settings", {"auto_capture": True, "auto_process_refunds": True})
    patient = factory.create_patient(name="Pat Kumar", email="pat@example.com")
    factory.create_admin(name="Asha Admin", email="admin@example.com")
    return {"doctor": doctor, "patient": patient, "slots": factory.free_slots(doctor)}


def hold_first_slot(page: Page, clinic) -> None:
    """On the doctor's page, hold Monday 09:00 and land on the appointment page.

    Until the picker's buttons are wired (they show "Online booking opens soon", disabled),
    the hold is made through the booking service and the test starts on its page.
    """
    page.goto(f"/doctors/{clinic['doctor'].id}")
    picker = page.get_by_role("region", name="Book a consultation")
    slot = picker.get_by_role("button", name=re.compile(r"^09:00 Video ₹500"))
    expect(slot).to_be_visible()
    if slot.is_disabled():
        expect(picker.get_by_text("Online booking opens soon.")).to_be_visible()
        held = book(clinic["patient"], clinic["slots"][0])
        page.goto(f"/appointments/{held.id}")
    else:
        slot.click()
    expect(page).to_have_url(APPOINTMENT_PAGE)
    expect(page.get_by_role("heading", name="Complete your booking", level=1)).to_be_visible()


def open_payment_step(page: Page) -> None:
    """The appointment page's Pay button (payments/_pay_step.html in its payment_step block)."""
    expect(page.get_by_role("button", name="Pay ₹500 securely")).to_be_visible()
    expect(page.get_by_text("Pay within 5 minutes, while your hold lasts.")).to_be_visible()


def test_a_patient_pays_for_a_consultation_and_opens_the_receipt(page: Page, clinic):
    log_in(page, "pat@example.com")
    hold_first_slot(page, clinic)
    appointment_url = page.url
    open_payment_step(page)

    page.get_by_role("button", name="Pay ₹500 securely").click()

    # The sandbox's stand-in for Razorpay Checkout, with the amount the server computed.
    expect(page.get_by_role("heading", name="CareConnect Clinic")).to_be_visible()
    expect(page.get_by_test_id("amount")).to_have_text("₹500.00")
    expect(page.get_by_text("Video consultation with Dr. Meera Iyer, 07 Dec 2026, 09:00 "
                            "(Asia/Kolkata)")).to_be_visible()
    page.get_by_role("button", name="Pay ₹500.00 (succeeds)").click()

    # Back on our site (through the confirming page), confirmed.
    expect(page).to_have_url(appointment_url)
    expect(flash(page, "Payment of ₹500 received. Your booking is confirmed.")).to_be_visible()
    expect(page.get_by_role("heading", name="Your booking is confirmed", level=1)).to_be_visible()

    page.goto("/payments/")
    expect(page.get_by_role("heading", name="My payments", level=1)).to_be_visible()
    row = page.get_by_role("row").filter(has_text="Dr. Meera Iyer")
    expect(row).to_contain_text("Paid")
    expect(row).to_contain_text("₹500")
    row.get_by_role("link", name=re.compile(r"^Receipt")).click()

    receipt = page.get_by_role("article", name="Payment receipt")
    expect(receipt).to_be_visible()
    expect(receipt).to_contain_text("CareConnect Clinic")
    expect(receipt).to_contain_text("Dermatology")
    expect(receipt).to_contain_text("Monday 07 December 2026, 09:00–09:30 (Asia/Kolkata)")
    expect(receipt.get_by_role("row", name=re.compile(r"of which GST \(18%\)"))).to_contain_text(
        "₹76.27")
    expect(receipt.get_by_role("row", name="Total paid")).to_contain_text("₹500")
    expect(receipt).to_contain_text(re.compile(r"pay_\w{14}"))
    expect(page.get_by_role("button", name="Print this receipt")).to_be_visible()


def test_an_admin_finds_a_payment_exports_it_and_refunds_it(page: Page, clinic, razorpay):
    payment = pay(clinic["patient"], book(clinic["patient"], clinic["slots"][0]), razorpay)

    log_in(page, "admin@example.com")
    page.goto("/admin/payments")
    expect(page.get_by_role("heading", name="Payments", level=1)).to_be_visible()
    filters = page.get_by_role("search", name="Filter payments")
    filters.get_by_label("Doctor").select_option(label="Dr. Meera Iyer")
    expect(page).to_have_url(re.compile(r"doctor=[0-9a-f-]{36}"))  # HTMX pushed the filter
    results = page.locator("#results")
    expect(results.get_by_role("status")).to_contain_text("1 payment")
    expect(results.locator("[data-total=net]")).to_have_text("₹500")
    expect(page.get_by_role("img", name=re.compile(r"^Captured revenue per day"))).to_be_visible()
    row = results.get_by_role("row").filter(has_text="Pat Kumar")
    expect(row).to_contain_text("Paid")

    with page.expect_download() as download_info:
        results.get_by_role("button", name="Download CSV").click()
    download = download_info.value
    assert re.fullmatch(r"payments-\d{4}-\d{2}-\d{2}-to-2026-12-07\.csv",
                        download.suggested_filename)
    with open(download.path(), encoding="utf-8") as exported:
        rows = list(csv.DictReader(io.StringIO(exported.read())))
    assert [(r["payment_id"], r["patient"], r["amount"], r["amount_paise"]) for r in rows] == [
        (str(payment.id), "Pat Kumar", "500.00", "50000")]

    row.get_by_role("link", name=re.compile(r"payment by Pat Kumar")).click()
    expect(page.get_by_role("heading", name="Payment by Pat Kumar", level=1)).to_be_visible()
    refund = page.get_by_role("region", name="Refund")
    expect(refund.get_by_label("Amount to refund (₹)")).to_have_value("500.00")
    refund.get_by_label("Reason").fill("Doctor unavailable")
    refund.get_by_role("button", name="Refund…").click()

    expect(page.get_by_role("heading", name="Refund ₹500 to Pat Kumar?", level=1)).to_be_visible()
    page.get_by_role("button", name="Refund ₹500").click()

    expect(flash(page, "Refunded ₹500 to Pat Kumar.")).to_be_visible()
    expect(page.get_by_role("heading", name="Payment by Pat Kumar", level=1)).to_be_visible()
    expect(page.locator(".page-head")).to_contain_text("Refunded")
    expect(page.get_by_test_id("refunded")).to_have_text("₹500")
    history = page.get_by_role("region", name="Refunds of this payment")
    expect(history).to_contain_text("Doctor unavailable")
    expect(page.get_by_text("Nothing can be refunded: the whole amount has been refunded."))\
        .to_be_visible()

    page.get_by_role("link", name="Refunds", exact=True).click()
    expect(page.get_by_role("table")).to_contain_text("Pat Kumar")


FAKE_CHECKOUT_JS = """
// Stands in for https://checkout.razorpay.com/v1/checkout.js: records the options and, when
// opened, answers like Checkout after a successful payment (the sandbox signed the fields).
window.Razorpay = function (options) {
  sessionStorage.setItem("checkoutOptions", JSON.stringify(options));  // survives the submit
  this.options = options;
};
window.Razorpay.prototype.on = function () {};
window.Razorpay.prototype.open = function () { this.options.handler(%s); };
"""


def test_with_real_keys_the_page_opens_razorpay_checkout_and_verifies(
        page: Page, clinic, razorpay, app, monkeypatch):
    # Real keys: no sandbox checkout page; the page loads checkout.js, which the CSP allows.
    monkeypatch.setitem(app.config, "RAZORPAY_SANDBOX", False)
    monkeypatch.setitem(app.config, "RAZORPAY_CHECKOUT_URL", "")
    held = appointments.reserve(clinic["patient"], clinic["slots"][0].id)
    order = payments.initiate(clinic["patient"], held.id)  # the page finds this order again
    signed = razorpay.pay(order.gateway_order_id)
    page.route("https://checkout.razorpay.com/v1/checkout.js", lambda route: route.fulfill(
        content_type="application/javascript", body=FAKE_CHECKOUT_JS % json.dumps(signed)))

    log_in(page, "pat@example.com")
    page.goto(f"/appointments/{held.id}")
    open_payment_step(page)
    page.get_by_role("button", name="Pay ₹500 securely").click()
    expect(page.get_by_role("heading", name="Pay ₹500", level=1)).to_be_visible()
    page.get_by_role("button", name="Pay ₹500", exact=True).click()

    expect(flash(page, "Payment of ₹500 received. Your booking is confirmed.")).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/appointments/{held.id}$"))
    options = json.loads(page.evaluate("() => sessionStorage.getItem('checkoutOptions')"))
    assert {k: options[k] for k in ("key", "order_id", "amount", "currency", "name")} == {
        "key": app.config["RAZORPAY_KEY_ID"], "order_id": order.gateway_order_id,
        "amount": 50_000, "currency": "INR", "name": "CareConnect Clinic"}
    assert options["prefill"]["email"] == "pat@example.com"
