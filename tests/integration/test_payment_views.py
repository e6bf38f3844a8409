"""Payment pages: the checkout hand-off and the way back, receipts, the admin's dashboard,
CSV, refunds and payouts, the doctor's earnings, and who may open each page.

Money goes through the real `razorpay` client against the sandbox over HTTP (the `razorpay`
fixture); `razorpay.pay(order_id)` pays an order as the sandbox's checkout page would.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from portal.appointments import service as appointments
from portal.appointments.models import Appointment
from portal.extensions import db
from portal.payments import payouts, service
from portal.payments.models import DoctorPayout, PaymentTransaction, Refund
from tests.factories import MONDAY_MORNING, pay
from tests.integration.support import page_text, reload, sync

FEE = 50_000


@pytest.fixture
def booking(factory, frozen_clock, razorpay):
    """Dr. Meera Iyer (Dermatology, ₹500 video consultations) and Pat Kumar, who holds her
    first free time: Monday 7 December 2026, 09:00 in Kolkata."""
    frozen_clock.freeze(MONDAY_MORNING)
    doctor = factory.create_doctor(name="Dr. Meera Iyer", specialty="Dermatology",
                                   fee_video_paise=FEE, fee_in_person_paise=None,
                                   hours=factory.weekly_hours("09:00", "12:00", "VIDEO"),
                                   booking_window_days=3)
    razorpay.control("POST", "/settings", {"auto_capture": True, "auto_process_refunds": True})
    patient = factory.create_patient(name="Pat Kumar", email="pat@example.com")
    slots = factory.free_slots(doctor)
    appointment = factory.book(patient, slots[0])
    return {"doctor": doctor, "patient": patient, "appointment": appointment, "slots": slots}


def book_and_pay(factory, booking, razorpay, slot_index: int, **patient) -> PaymentTransaction:
    other = factory.create_patient(**patient)
    return pay(other, factory.book(other, booking["slots"][slot_index]), razorpay)


def hidden_inputs(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


def words(response) -> str:
    """The page's text without tags, whitespace collapsed, for sentence checks."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page_text(response)))


def flashes(response) -> list[str]:
    return [re.sub(r"\s+", " ", m).strip() for m in re.findall(
        r'<p class="flash[^"]*"[^>]*>(.*?)</p>', page_text(response), re.S)]


# --- the payment step and Checkout ---------------------------------------------------------


def test_starting_a_payment_sends_the_patient_to_the_sandbox_checkout(app, client, booking,
                                                                       razorpay):
    appointment = booking["appointment"]
    client.login("pat@example.com")

    response = client.post_form(f"/payments/start/{appointment.id}")

    assert response.status_code == 303
    sync()
    payment = service.payment_for_appointment(appointment.id)
    assert payment.amount_paise == FEE
    assert payment.status == "CREATED"
    location = urlsplit(response.location)
    assert f"{location.scheme}://{location.netloc}{location.path}" == \
        f"{razorpay.url}/checkout/{payment.gateway_order_id}"
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["callback_url"] == f"http://localhost/payments/{payment.id}/callback"
    assert query["cancel_url"] == f"http://localhost/payments/{payment.id}/cancelled"
    assert query["name"] == app.config["CLINIC_NAME"]
    assert query["prefill_email"] == "pat@example.com"
    assert query["description"] == ("Video consultation with Dr. Meera Iyer, 07 Dec 2026, "
                                    "09:00 (Asia/Kolkata)")
    # The sandbox shows the order's amount, which the server computed.
    checkout = requests.get(response.location, timeout=10)
    assert checkout.status_code == 200
    assert "₹500.00" in checkout.text

    again = client.post_form(f"/payments/start/{appointment.id}")
    assert again.location == response.location  # the same order, not a second one


def test_the_payment_step_page_shows_the_amount_and_the_time_left(client, booking, razorpay):
    appointment = booking["appointment"]
    client.login("pat@example.com")

    response = client.get(f"/payments/start/{appointment.id}")

    page = page_text(response)
    assert "Pay ₹500 securely" in words(response)
    assert "Pay within 5 minutes , while your hold lasts." in words(response)
    assert f'action="/payments/start/{appointment.id}"' in page
    assert hidden_inputs(page)["csrf_token"]


def test_with_real_keys_the_page_loads_razorpay_checkout(app, client, booking, razorpay,
                                                         monkeypatch):
    monkeypatch.setitem(app.config, "RAZORPAY_CHECKOUT_URL", "")
    client.login("pat@example.com")

    response = client.post_form(f"/payments/start/{booking['appointment'].id}")

    assert response.status_code == 200
    html = page_text(response)
    sync()
    payment = service.payment_for_appointment(booking["appointment"].id)
    assert '<script src="https://checkout.razorpay.com/v1/checkout.js" defer></script>' in html
    assert "js/razorpay-checkout.js" in html
    assert f'data-order-id="{payment.gateway_order_id}"' in html
    assert 'data-amount="50000"' in html
    assert f'data-key="{app.config["RAZORPAY_KEY_ID"]}"' in html
    assert app.config["RAZORPAY_KEY_SECRET"] not in html
    verify = re.search(r'<form id="razorpay-verify" method="post" action="([^"]+)"', html)
    assert verify.group(1) == f"/payments/{payment.id}/verify"
    assert set(hidden_inputs(html)) >= {"csrf_token", "razorpay_payment_id",
                                        "razorpay_order_id", "razorpay_signature"}


def test_a_callback_without_the_signed_fields_goes_back_to_the_appointment(client, booking,
                                                                          razorpay):
    client.login("pat@example.com")
    payment = service.initiate(booking["patient"], booking["appointment"].id)

    response = client.get(f"/payments/{payment.id}/callback", follow_redirects=True)

    assert "The payment details did not come back from the checkout." in flashes(response)[-1]


@pytest.mark.parametrize("problem", ["hold lapsed", "free", "gateway down"])
def test_a_payment_that_cannot_start_goes_back_to_the_appointment_with_the_reason(
        app, client, booking, razorpay, factory, frozen_clock, monkeypatch, problem):
    appointment = booking["appointment"]
    expected = {
        "hold lapsed": "Your hold on this time has lapsed.",
        "free": "This consultation is free; confirm it without paying.",
        "gateway down": "The payment service is not answering right now. Nothing was charged",
    }[problem]
    if problem == "hold lapsed":
        frozen_clock.advance(timedelta(minutes=6))
    elif problem == "free":
        appointment.fee_paise = 0
        db.session.commit()
    else:
        monkeypatch.setitem(app.config, "RAZORPAY_BASE_URL", "http://127.0.0.1:9")
    client.login("pat@example.com")

    response = client.post_form(f"/payments/start/{appointment.id}")

    assert response.status_code == 303
    assert response.location == f"/appointments/{appointment.id}"
    page = client.get(response.location)
    assert any(expected in message for message in flashes(page)), flashes(page)


def test_the_callback_page_posts_the_signed_fields_to_verify(client, booking, razorpay):
    client.login("pat@example.com")
    payment = service.initiate(booking["patient"], booking["appointment"].id)
    fields = razorpay.pay(payment.gateway_order_id)

    response = client.get(f"/payments/{payment.id}/callback", query_string=fields)

    assert response.status_code == 200
    html = page_text(response)
    assert "Confirming your payment…" in html
    form = re.search(r'<form method="post" action="([^"]+)" data-auto-submit>', html)
    assert form
    assert form.group(1) == f"/payments/{payment.id}/verify"
    inputs = hidden_inputs(html)
    assert inputs["csrf_token"]
    assert {k: inputs[k] for k in fields} == fields
    assert "js/checkout-return.js" in html
    assert re.search(r"<button type=\"submit\">Continue</button>", html)  # works without JS
    assert reload(payment).status == "CREATED"  # the GET settles nothing


def test_verify_confirms_the_booking_and_says_so(client, booking, razorpay):
    client.login("pat@example.com")
    payment = service.initiate(booking["patient"], booking["appointment"].id)
    fields = razorpay.pay(payment.gateway_order_id)

    response = client.post_form(f"/payments/{payment.id}/verify", fields)

    assert response.status_code == 303
    assert response.location == f"/appointments/{booking['appointment'].id}"
    assert flashes(client.get(response.location)) == [
        "Payment of ₹500 received. Your booking is confirmed."]
    assert reload(payment).status == "CAPTURED"
    assert db.session.get(Appointment, booking["appointment"].id).status == "CONFIRMED"


def test_verify_needs_the_csrf_token(client, booking, razorpay):
    client.login("pat@example.com")
    payment = service.initiate(booking["patient"], booking["appointment"].id)
    fields = razorpay.pay(payment.gateway_order_id)

    response = client.post(f"/payments/{payment.id}/verify", data=fields)

    assert response.status_code == 400
    assert reload(payment).status == "CREATED"


def test_a_bad_signature_is_refused_with_a_clear_page(client, booking, razorpay):
    client.login("pat@example.com")
    payment = service.initiate(booking["patient"], booking["appointment"].id)
    fields = {**razorpay.pay(payment.gateway_order_id), "razorpay_signature": "0" * 64}

    response = client.post_form(f"/payments/{payment.id}/verify", fields)

    assert response.status_code == 400
    page = page_text(response)
    assert "We could not confirm this payment" in page
    assert "The payment confirmation could not be verified." in page
    assert reload(payment).status == "CREATED"
    assert db.session.get(Appointment, booking["appointment"].id).status == "RESERVED"


def test_a_slot_lost_while_paying_is_refunded_and_the_patient_told(client, booking, razorpay,
                                                                   factory, frozen_clock):
    client.login("pat@example.com")
    payment = service.initiate(booking["patient"], booking["appointment"].id)
    fields = razorpay.pay(payment.gateway_order_id)
    frozen_clock.advance(timedelta(minutes=6))
    appointments.reserve(factory.create_patient(), booking["appointment"].slot_id)

    response = client.post_form(f"/payments/{payment.id}/verify", fields,
                                follow_redirects=True)

    assert flashes(response) == [
        "Your slot was taken while you paid — the full amount of ₹500 is being refunded to "
        "the way you paid, usually within 5–7 working days. Nothing was booked."]
    assert reload(payment).status == "REFUNDED"


def test_coming_back_without_paying_says_how_long_the_hold_lasts(client, booking, razorpay,
                                                                 frozen_clock):
    client.login("pat@example.com")
    payment = service.initiate(booking["patient"], booking["appointment"].id)
    back = f"/appointments/{booking['appointment'].id}"

    failed = client.get(f"/payments/{payment.id}/cancelled?error=payment_failed")
    assert (failed.status_code, failed.location) == (303, back)
    assert flashes(client.get(back))[-1] == (
        "The payment did not go through. You can try again while your hold lasts "
        "(5 minutes left).")

    frozen_clock.advance(timedelta(minutes=4, seconds=30))
    closed = client.get(f"/payments/{payment.id}/cancelled?error=closed", follow_redirects=True)
    assert flashes(closed) == ["You closed the payment window; nothing was charged. You can "
                               "still pay while your hold lasts (1 minute left)."]

    frozen_clock.advance(timedelta(minutes=1))
    lapsed = client.get(f"/payments/{payment.id}/cancelled?error=payment_failed",
                        follow_redirects=True)
    assert flashes(lapsed) == ["The payment did not go through, and the hold on this time has "
                               "ended. Choose a time again to book."]


# --- history and receipts ------------------------------------------------------------------


def test_the_patient_sees_their_payments_newest_first(client, booking, razorpay, factory,
                                                      frozen_clock):
    first = pay(booking["patient"], booking["appointment"], razorpay)
    frozen_clock.advance(timedelta(minutes=1))
    second_appt = appointments.reserve(booking["patient"], booking["slots"][3].id)
    second = service.initiate(booking["patient"], second_appt.id)  # started, not paid
    book_and_pay(factory, booking, razorpay, 5)  # someone else's
    client.login("pat@example.com")

    page = page_text(client.get("/payments/"))

    assert "2 payments" in page
    assert page.index(f"/appointments/{second_appt.id}") < page.index(
        f"/appointments/{first.appointment_id}")
    assert f"/payments/{first.id}/receipt" in page
    assert f"/payments/{second.id}/receipt" not in page  # not paid: no receipt
    assert "Awaiting payment" in page
    assert "Paid" in page


def test_the_receipt_shows_the_fee_its_gst_and_the_refunds(client, booking, razorpay,
                                                           frozen_clock):
    payment = pay(booking["patient"], booking["appointment"], razorpay)
    service.refund(payment.id, 10_000, service.RefundSource.ADMIN, "Goodwill",
                   idempotency_key="receipt-refund")
    patient = booking["patient"]
    patient.timezone = "Europe/London"  # the receipt follows the patient's zone
    db.session.commit()
    client.login("pat@example.com")

    response = client.get(f"/payments/{payment.id}/receipt")

    assert response.status_code == 200
    page = re.sub(r"\s+", " ", page_text(response))
    assert "CareConnect Clinic" in page or "Payment receipt" in page
    assert f"RCP-20261207-{payment.id.hex[:8].upper()}" in page
    assert "Dr. Meera Iyer" in page
    assert "Dermatology" in page
    assert "Monday 07 December 2026, 03:30–04:00 (Europe/London)" in page
    assert "Video consultation fee" in page
    assert re.search(r"of which GST \(18%\)</th>\s*<td class=\"num\">₹76.27</td>", page)
    assert "−₹100" in page
    assert "Net paid" in page
    assert "₹400" in page
    assert payment.gateway_payment_id in page
    assert "Card" in page
    assert 'data-print hidden>Print this receipt</button>' in page
    assert "js/print.js" in page


def test_gst_is_the_part_of_the_fee_it_is_included_in(app_ctx):
    assert service.tax_included(50_000) == 7_627  # ₹500 includes ₹76.27 at 18%
    assert service.tax_included(118_00) == 18_00


def test_receipts_are_only_for_their_patient_and_admins(client, new_client, booking, razorpay,
                                                        factory):
    payment = pay(booking["patient"], booking["appointment"], razorpay)
    unpaid = service.initiate(booking["patient"], appointments.reserve(
        booking["patient"], booking["slots"][2].id).id)
    stranger = factory.create_patient(email="stranger@example.com")
    admin = factory.create_admin(email="boss@example.com")

    client.login(stranger.email)
    for url in (f"/payments/{payment.id}/receipt", f"/payments/{payment.id}/cancelled",
                f"/payments/{payment.id}/callback?razorpay_payment_id=x&razorpay_signature=y"):
        assert client.get(url).status_code == 404, url
    assert client.post_form(f"/payments/{payment.id}/verify").status_code == 404
    assert client.post_form(f"/payments/start/{booking['appointment'].id}").status_code == 404

    doctor = new_client()
    doctor.login(booking["doctor"].user.email)
    assert doctor.get(f"/payments/{payment.id}/receipt").status_code == 404

    boss = new_client()
    boss.login(admin.email)
    assert boss.get(f"/payments/{payment.id}/receipt").status_code == 200

    owner = new_client()
    owner.login("pat@example.com")
    assert owner.get(f"/payments/{unpaid.id}/receipt").status_code == 404


# --- the admin dashboard -------------------------------------------------------------------


@pytest.fixture
def ledger(booking, razorpay, factory, frozen_clock):
    """Three payments on Monday 7 December: Pat's ₹500 (₹200 refunded), Ravi's ₹500 and
    Sam's ₹800 with another doctor; and an order Lee started but never paid."""
    pat = pay(booking["patient"], booking["appointment"], razorpay)
    service.refund(pat.id, 20_000, service.RefundSource.ADMIN, "Goodwill",
                   idempotency_key="ledger-refund")
    ravi = book_and_pay(factory, booking, razorpay, 1, name="Ravi Shah")
    other = factory.create_doctor(name="Dr. Anil Gupta", fee_video_paise=None,
                                  fee_in_person_paise=80_000)  # in person, 09:00-12:00
    sam_user = factory.create_patient(name="Sam Rao")
    sam = pay(sam_user, factory.book(sam_user, doctor=other), razorpay)
    lee = factory.create_patient(name="Lee Das")
    unpaid = service.initiate(lee, appointments.reserve(lee, booking["slots"][2].id).id)
    return {"pat": pat, "ravi": ravi, "sam": sam, "unpaid": unpaid, "other": other}


@pytest.fixture
def admin_client(new_client, factory):
    admin = factory.create_admin(email="boss@example.com")
    browser = new_client()
    browser.login(admin.email)
    return browser


def totals(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-total="(\w+)">(?:<strong>)?([^<]+)<', html))


def test_the_dashboard_shows_totals_a_chart_and_the_rows(admin_client, ledger):
    response = admin_client.get("/admin/payments?from=2026-12-01&to=2026-12-07")

    assert response.status_code == 200
    html = page_text(response)
    assert totals(html) == {"gross": "₹1,800", "refunded": "₹200", "net": "₹1,600"}
    assert "<strong>4</strong> payments" in html  # the unpaid order is listed, adds no money
    assert "3 paid" in html
    svg = re.search(r"<svg .*?</svg>", html, re.S).group(0)
    assert 'role="img"' in svg
    assert "<title id=\"chart-title\">Captured revenue per day, 01 Dec 2026 to 07 Dec 2026" \
           "</title>" in svg
    assert len(re.findall(r'<rect class="chart-bar"', svg)) == 7
    assert "<title>Mon 07 Dec: ₹1,800 (3 payments)</title>" in svg
    table = re.search(r"Captured revenue per day as a table.*?</table>", html, re.S).group(0)
    assert re.search(r"Mon 07 Dec</th><td class=\"num\">3</td><td class=\"num\">₹1,800", table)
    assert re.search(r"Sun 06 Dec</th><td class=\"num\">0</td><td class=\"num\">₹0", table)
    for name in ("Pat Kumar", "Ravi Shah", "Sam Rao", "Lee Das"):
        assert name in html


def test_the_dashboard_filters_by_status_doctor_and_method(admin_client, ledger, booking):
    by_doctor = page_text(admin_client.get(
        f"/admin/payments?from=2026-12-07&to=2026-12-07&doctor={ledger['other'].id}"))
    assert totals(by_doctor) == {"gross": "₹800", "refunded": "₹0", "net": "₹800"}
    assert "Sam Rao" in by_doctor
    assert "Pat Kumar" not in by_doctor

    refunded = page_text(admin_client.get("/admin/payments?status=PARTIALLY_REFUNDED"))
    assert totals(refunded) == {"gross": "₹500", "refunded": "₹200", "net": "₹300"}
    assert "Pat Kumar" in refunded
    assert "Ravi Shah" not in refunded

    by_upi = page_text(admin_client.get("/admin/payments?method=upi"))
    assert "No payments match these filters." in by_upi
    assert totals(by_upi)["gross"] == "₹0"

    before = page_text(admin_client.get("/admin/payments?from=2026-11-01&to=2026-11-30"))
    assert "No payments match these filters." in before


def test_dates_are_days_in_the_admins_zone(new_client, factory, ledger):
    # 06:00 in Kolkata on 7 December is still 6 December in Los Angeles.
    admin = factory.create_admin(email="la@example.com", timezone="America/Los_Angeles")
    browser = new_client()
    browser.login(admin.email)
    sixth = page_text(browser.get("/admin/payments?from=2026-12-06&to=2026-12-06"))
    assert totals(sixth)["gross"] == "₹1,800"
    seventh = page_text(browser.get("/admin/payments?from=2026-12-07&to=2026-12-07"))
    assert totals(seventh)["gross"] == "₹0"


def test_htmx_gets_only_the_results_and_bad_filters_are_reported(admin_client, ledger):
    response = admin_client.get("/admin/payments?status=CAPTURED",
                                headers={"HX-Request": "true"})

    html = page_text(response)
    assert html.lstrip().startswith('<section id="results"')
    assert "<html" not in html
    assert totals(html) == {"gross": "₹1,300", "refunded": "₹0", "net": "₹1,300"}

    bad = page_text(admin_client.get("/admin/payments?from=2026-12-07&to=2026-12-01"))
    assert "To: The end date is before the start date. (ignored)" in bad
    assert 'value="2026-12-07"' in bad  # the range used is shown


def test_the_csv_export_has_the_filtered_rows(admin_client, ledger):
    response = admin_client.get("/admin/payments.csv?from=2026-12-07&to=2026-12-07"
                                "&status=PARTIALLY_REFUNDED")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == \
        'attachment; filename="payments-2026-12-07-to-2026-12-07.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 1
    row = rows[0]
    pat = ledger["pat"]
    assert row["payment_id"] == str(pat.id)
    assert (row["amount"], row["amount_paise"]) == ("500.00", "50000")
    assert (row["refunded"], row["refunded_paise"]) == ("200.00", "20000")
    assert (row["net"], row["net_paise"]) == ("300.00", "30000")
    assert (row["gst_included"], row["gst_included_paise"]) == ("76.27", "7627")
    assert row["patient"] == "Pat Kumar"
    assert row["doctor"] == "Dr. Meera Iyer"
    assert row["appointment_start"] == "2026-12-07T09:00+05:30"
    assert row["status"] == "PARTIALLY_REFUNDED"
    assert row["method"] == "card"
    assert row["gateway_payment_id"] == pat.gateway_payment_id

    everything = admin_client.get("/admin/payments.csv?from=2026-12-07&to=2026-12-07")
    assert len(list(csv.reader(io.StringIO(everything.get_data(as_text=True))))) == 5


def test_csv_cells_are_never_formulas(admin_client, booking, razorpay, factory):
    book_and_pay(factory, booking, razorpay, 1, name="=HYPERLINK(\"http://x\")")
    text = admin_client.get("/admin/payments.csv").get_data(as_text=True)
    assert "'=HYPERLINK" in text


# --- refunds -------------------------------------------------------------------------------


def test_a_refund_is_confirmed_first_and_made_once_even_when_posted_twice(admin_client, ledger):
    ravi = ledger["ravi"]
    detail = page_text(admin_client.get(f"/admin/payments/{ravi.id}"))
    assert 'value="500.00"' in detail  # the default: everything left

    confirm = admin_client.get(f"/admin/payments/{ravi.id}/refund",
                               query_string={"amount": "150.50", "reason": "Late start"})

    assert confirm.status_code == 200
    page = page_text(confirm)
    assert "Refund ₹150.50 to Ravi Shah?" in page
    assert ravi.refunds == []
    assert reload(ravi).refunded_paise == 0
    form = hidden_inputs(page)
    assert form["amount"] == "150.50"
    assert form["reason"] == "Late start"
    assert form["idempotency_key"]
    assert form["csrf_token"]

    first = admin_client.post(f"/admin/payments/{ravi.id}/refund", data=form,
                              follow_redirects=True)
    second = admin_client.post(f"/admin/payments/{ravi.id}/refund", data=form,
                               follow_redirects=True)

    assert "Refunded ₹150.50 to Ravi Shah." in flashes(first)
    assert "This refund was already made; it was not repeated." in flashes(second)
    sync()
    rows = db.session.scalars(select(Refund).where(Refund.payment_id == ravi.id)).all()
    assert [(r.amount_paise, r.source, r.status, r.reason) for r in rows] == [
        (15_050, "ADMIN", "PROCESSED", "Late start")]
    assert reload(ravi).status == "PARTIALLY_REFUNDED"
    assert "Late start" in page_text(second)  # listed on the payment page


def test_a_refund_needs_a_reason_and_at_most_what_is_left(admin_client, ledger):
    pat = ledger["pat"]  # ₹200 of ₹500 refunded already
    too_much = admin_client.get(f"/admin/payments/{pat.id}/refund",
                                query_string={"amount": "300.01", "reason": "x"})
    assert too_much.status_code == 422
    assert "At most ₹300 is left to refund." in page_text(too_much)

    no_reason = admin_client.get(f"/admin/payments/{pat.id}/refund",
                                 query_string={"amount": "10", "reason": ""})
    assert no_reason.status_code == 422
    assert "Give a reason" in page_text(no_reason)

    nonsense = admin_client.get(f"/admin/payments/{pat.id}/refund",
                                query_string={"amount": "1.234", "reason": "x"})
    assert nonsense.status_code == 422
    assert "Enter an amount in rupees" in page_text(nonsense)

    unpaid = admin_client.get(f"/admin/payments/{ledger['unpaid'].id}")
    assert "Nothing can be refunded: no money was taken." in page_text(unpaid)


def test_the_refunds_list(admin_client, ledger):
    page = page_text(admin_client.get("/admin/refunds"))
    assert "1 refund, newest first" in page
    assert "Pat Kumar" in page
    assert "₹200" in page
    assert "Goodwill" in page
    assert "Manual" in page
    assert "No refunds match these filters." in page_text(
        admin_client.get("/admin/refunds?status=FAILED"))


# --- payouts and earnings ------------------------------------------------------------------


def test_payouts_are_recomputed_and_listed_by_week(admin_client, ledger, frozen_clock):
    frozen_clock.freeze(MONDAY_MORNING + timedelta(days=7))
    assert "No payouts computed yet." in page_text(admin_client.get("/admin/payouts"))

    response = admin_client.post_form("/admin/payouts/recompute", follow_redirects=True)

    assert "Recomputed 2 payouts for the week of 7 Dec 2026." in flashes(response)
    page = re.sub(r"\s+", " ", page_text(response))
    assert "Week of Mon 07 Dec 2026" in page
    # Dr. Meera Iyer: ₹1,000 gross, ₹100 commission, her ₹180 share of the ₹200 refunded
    # (the clinic gives back its ₹20 commission), ₹720 net.
    meera = re.search(r"Dr\. Meera Iyer</th>(.*?)</tr>", page).group(1)
    assert re.findall(r"₹[\d,]+", meera) == ["₹1,000", "₹100", "₹180", "₹720"]
    assert "Calculated" in meera
    assert db.session.scalar(select(DoctorPayout.net_paise).where(
        DoctorPayout.doctor_id == ledger["other"].id)) == 72_000


def test_a_doctor_sees_their_earnings(new_client, booking, ledger, frozen_clock):
    doctor = new_client()
    doctor.login(booking["doctor"].user.email)
    now = re.sub(r"\s+", " ", page_text(doctor.get("/payments/earnings")))
    assert "This week so far" in now
    assert "₹1,000" in now
    assert "2 payments" in now
    assert "−₹100" in now
    assert "−₹180" in now  # her share of the ₹200 refunded
    assert "No payouts yet." in now

    frozen_clock.freeze(MONDAY_MORNING + timedelta(days=7))

    payouts.compute_week()
    later = re.sub(r"\s+", " ", page_text(doctor.get("/payments/earnings")))
    row = re.search(r"Mon 07 Dec 2026</th>(.*?)</tr>", later).group(1)
    assert re.findall(r"₹[\d,]+", row) == ["₹1,000", "₹100", "₹180", "₹720"]
    assert "Sam Rao" not in later  # another doctor's money is not here


# --- who may open what ---------------------------------------------------------------------

ADMIN_PAGES = ["/admin/payments", "/admin/payments.csv", "/admin/payments/{payment}",
               "/admin/payments/{payment}/refund?amount=1&reason=x", "/admin/refunds",
               "/admin/payouts"]
ADMIN_POSTS = ["/admin/payments/{payment}/refund", "/admin/payouts/recompute"]


@pytest.fixture
def paid(booking, razorpay):
    return pay(booking["patient"], booking["appointment"], razorpay)


def test_visitors_are_sent_to_log_in(client, paid):
    urls = [u.format(payment=paid.id) for u in ADMIN_PAGES] + [
        "/payments/", f"/payments/{paid.id}/receipt", "/payments/earnings",
        f"/payments/{paid.id}/cancelled", f"/payments/{paid.id}/callback",
        f"/payments/start/{paid.appointment_id}"]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.location.startswith("/account/login?next="), url
    for url in [*ADMIN_POSTS, "/payments/{payment}/verify", "/payments/start/{appointment}"]:
        response = client.post_form(url.format(payment=paid.id,
                                               appointment=paid.appointment_id))
        assert response.status_code == 302, url
        assert response.location.startswith("/account/login"), url


@pytest.mark.parametrize("role", ["patient", "doctor"])
def test_patients_and_doctors_may_not_open_admin_pages(client, paid, booking, role):
    client.login("pat@example.com" if role == "patient" else booking["doctor"].user.email)
    for url in ADMIN_PAGES:
        assert client.get(url.format(payment=paid.id)).status_code == 403, url
    for url in ADMIN_POSTS:
        assert client.post_form(url.format(payment=paid.id)).status_code == 403, url
    assert db.session.scalar(select(Refund.id)) is None


def test_role_pages_belong_to_their_role(client, new_client, paid, booking, factory):
    client.login("pat@example.com")
    assert client.get("/payments/earnings").status_code == 403
    doctor = new_client()
    doctor.login(booking["doctor"].user.email)
    assert doctor.get("/payments/").location == "/payments/earnings"
    assert doctor.post_form(f"/payments/start/{paid.appointment_id}").status_code == 403
    admin = new_client()
    admin.login(factory.create_admin().email)
    assert admin.get("/payments/").location == "/admin/payments"
    assert admin.get("/payments/earnings").status_code == 403
