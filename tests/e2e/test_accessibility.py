"""axe-core (npm, copied to static/vendor by `make setup`) on the portal's pages in Chromium.

Each page is audited against WCAG 2.0 and 2.1, levels A and AA; a serious or critical violation
fails the test. Moderate and minor ones, and axe's best practices, are listed in the failure
message (and printed, `pytest -rP` shows them) without failing it; so are the checks axe
could not decide ("needs review": mostly text over a gradient or in a scrolled strip). Every
page is audited at a desktop size, at a phone's (390x844), where the layouts differ, and on the
phone in dark mode: Pico follows the system's colour scheme unless the page pins one.

axe is loaded like any of our scripts, from /static/vendor/axe.min.js, which the strict
Content-Security-Policy (script-src 'self') allows: the CSP is never bypassed. The Razorpay
sandbox's checkout page lives on another origin with a CSP of its own, so there the script is
requested from the sandbox's origin and Playwright answers that one request with the same file.

The server's clock is frozen on Monday 7 December 2026, 06:00 in Kolkata, where everyone lives.
Every wait is an `expect`, never a sleep.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Page, expect

from portal.appointments import service as appointments
from portal.availability import service as availability
from portal.family import service as family
from portal.privacy import consents
from portal.privacy.models import ConsentKind
from portal.queue import service as queue
from portal.roles import Role
from portal.waitlist import service as waitlist
from tests.factories import MONDAY_MORNING, PASSWORD, book

pytestmark = pytest.mark.e2e

NOT_THE_LOGIN_PAGE = re.compile(r"^(?!.*/account/login)")
AXE_FILE = Path(__file__).resolve().parents[2] / "static" / "vendor" / "axe.min.js"
AXE_URL = "/static/vendor/axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FAILING_IMPACTS = {"serious", "critical"}
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SHOWN_NODES = 8  # per rule, in a report

# WCAG 2.2 dropped 4.1.1 (Parsing), so axe no longer runs its duplicate-id rules by default; a
# focusable element sharing its id still breaks labels and skip links: audited too, and failing.
EXTRA_RULES = ["duplicate-id", "duplicate-id-active"]
FAILING_EXTRA_RULES = {"duplicate-id-active"}

RUN_AXE = """async ([tags, extra]) => {
  const results = await axe.run(document, {
    runOnly: {type: "tag", values: tags}, resultTypes: ["violations", "incomplete"],
    rules: Object.fromEntries(extra.map((id) => [id, {enabled: true}]))});
  const describe = (v) => ({
    id: v.id, impact: v.impact, tags: v.tags, help: v.help,
    nodes: v.nodes.map((n) => ({target: n.target.join(" "), summary: n.failureSummary,
                                html: n.html.slice(0, 200)})),
  });
  return {violations: results.violations.map(describe),
          incomplete: results.incomplete.map(describe)};
}"""


# --- the audit -----------------------------------------------------------------------------------

def _describe(violation: dict) -> str:
    nodes = "\n".join(f"      {n['target']}: {n['html']}\n        {n['summary']}".replace(
        "\n  ", "\n          ") for n in violation["nodes"][:SHOWN_NODES])
    more = len(violation["nodes"]) - SHOWN_NODES
    return (f"  [{violation['impact']}] {violation['id']}: {violation['help']}\n{nodes}"
            + (f"\n      ... and {more} more" if more > 0 else ""))


def audit(page: Page, what: str, *, axe_url: str = AXE_URL) -> None:
    """Run axe on the page as it is now; fail on serious or critical WCAG violations."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(url=axe_url)
    results = page.evaluate(RUN_AXE, [[*WCAG_TAGS, "best-practice"], EXTRA_RULES])
    violations = results["violations"]
    failing = [v for v in violations if v["impact"] in FAILING_IMPACTS and (
        set(v["tags"]) & set(WCAG_TAGS) or v["id"] in FAILING_EXTRA_RULES)]
    reported = [v for v in violations if v not in failing]
    report = "\n".join(_describe(v) for v in reported) or "  none"
    review = ", ".join(f"{v['id']} ({len(v['nodes'])})" for v in results["incomplete"]) or "none"
    print(f"\naxe on {what} ({page.url}), not failing:\n{report}\n  needs review: {review}")
    assert not failing, (
        f"axe on {what} ({page.url}): serious or critical WCAG violations\n"
        + "\n".join(_describe(v) for v in failing)
        + f"\nNot failing (moderate, minor, best practice):\n{report}")


def audit_both_sizes(page: Page, what: str, ready, **kwargs) -> None:
    """Audit at a desktop size, then at a phone's (media queries re-lay the same page out),
    then on the phone in dark mode (Pico follows the system's colour scheme)."""
    page.set_viewport_size(DESKTOP)
    expect(ready).to_be_visible()
    audit(page, f"{what} (desktop)", **kwargs)
    page.set_viewport_size(PHONE)
    expect(ready).to_be_visible()
    audit(page, f"{what} (phone)", **kwargs)
    in_dark_mode(page)
    audit(page, f"{what} (phone, dark mode)", **kwargs)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(DESKTOP)


def in_dark_mode(page: Page) -> None:
    """The system prefers dark; reduced motion too, so Pico's colour transitions are instant
    and axe never measures a colour halfway through one."""
    page.emulate_media(color_scheme="dark", reduced_motion="reduce")


def log_in(page: Page, email: str) -> None:
    page.goto("/account/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(NOT_THE_LOGIN_PAGE, wait_until="load")


def h1(page: Page, name: str | re.Pattern):
    return page.get_by_role("heading", name=name, level=1)


# --- the clinic ----------------------------------------------------------------------------------

@pytest.fixture
def clinic(factory, frozen_clock, razorpay):
    """Dr. Meera Iyer: free in-person consultations 09:00-12:00 and ₹500 video ones 17:00-19:00
    on weekdays; Pat Kumar, a patient; an admin. Everyone in Asia/Kolkata."""
    frozen_clock.freeze(MONDAY_MORNING)
    doctor = factory.create_doctor(name="Dr. Meera Iyer", email="meera@example.com",
                                   specialty="Dermatology", fee_video_paise=50_000,
                                   fee_in_person_paise=0)
    factory.create_doctor(name="Dr. Rohan Shah", specialty="Cardiology", hours=())
    patient = factory.create_patient(name="Pat Kumar", email="pat@example.com")
    factory.create_admin(name="Asha Admin", email="admin@example.com")
    razorpay.control("POST", "/settings", {"auto_capture": True, "auto_process_refunds": True})
    return {"doctor": doctor, "patient": patient,
            "in_person": factory.free_slots(doctor, "IN_PERSON"),
            "video": factory.free_slots(doctor, "VIDEO")}


def paid_booking(clinic, razorpay, slot) -> None:
    """A video consultation paid for through the sandbox: confirmed, with a payment."""
    book(clinic["patient"], slot, reason="Rash on the left arm", paid=True, razorpay=razorpay)


# --- patients ------------------------------------------------------------------------------------

def test_the_directory(page: Page, clinic):
    page.goto("/doctors/")
    audit_both_sizes(page, "the doctor directory",
                     page.get_by_role("region", name="Search results"))


def test_a_doctors_page(page: Page, clinic):
    log_in(page, "pat@example.com")
    page.goto(f"/doctors/{clinic['doctor'].id}")
    audit_both_sizes(page, "a doctor's page",
                     page.get_by_role("region", name="Book a consultation"))


def test_a_doctors_page_for_a_visitor(page: Page, clinic):
    page.goto(f"/doctors/{clinic['doctor'].id}")
    audit_both_sizes(page, "a doctor's page, logged out",
                     page.get_by_role("link", name=re.compile(r"^09:00 In person Free")))


def test_the_slot_picker_on_another_day(page: Page, clinic, factory):
    log_in(page, "pat@example.com")
    page.goto(f"/doctors/{clinic['doctor'].id}")
    picker = page.get_by_role("region", name="Book a consultation")
    page.evaluate("() => { window.sameDocument = true; }")
    picker.get_by_role("link", name=re.compile(r"^Wed 9 Dec")).click()
    expect(picker.get_by_role("heading", level=3)).to_have_text("Wednesday 9 December")
    assert page.evaluate("() => window.sameDocument") is True, "the picker was not swapped in"
    audit_both_sizes(page, "the slot picker on Wednesday (swapped in by HTMX)",
                     picker.get_by_role("group", name="Evening"))

    # Someone else holds 17:00 meanwhile: the error is swapped in place of that slot.
    taken = next(s for s in clinic["video"] if s.start_at.date() == date(2026, 12, 9))
    appointments.reserve(factory.create_patient(name="Ravi Menon"), taken.id)
    picker.get_by_role("button", name=re.compile(r"^17:00 Video ₹500")).click()
    audit_both_sizes(page, "the slot picker with a slot just taken",
                     picker.get_by_role("alert"))


def test_the_hold_page_of_a_paid_consultation(page: Page, clinic, frozen_clock):
    held = appointments.reserve(clinic["patient"], clinic["video"][0].id)
    log_in(page, "pat@example.com")
    page.goto(f"/appointments/{held.id}")
    expect(h1(page, "Complete your booking")).to_be_visible()
    expect(page.get_by_role("button", name="Pay ₹500 securely")).to_be_visible()
    audit_both_sizes(page, "the hold page", page.get_by_role("timer"))

    frozen_clock.advance(timedelta(minutes=6))
    page.reload()
    audit_both_sizes(page, "the page of a lapsed hold",
                     page.get_by_role("status").filter(has_text="Your hold has expired."))


def test_the_sandbox_checkout_page(page: Page, clinic, razorpay):
    held = appointments.reserve(clinic["patient"], clinic["video"][0].id)
    log_in(page, "pat@example.com")
    page.goto(f"/appointments/{held.id}")
    page.get_by_role("button", name="Pay ₹500 securely").click()
    expect(page).to_have_url(re.compile(re.escape(razorpay.url)))
    # The sandbox's CSP allows its own origin's scripts: serve axe from there.
    axe_url = f"{razorpay.url}/__axe__/axe.min.js"
    page.route(axe_url, lambda route: route.fulfill(
        path=AXE_FILE, content_type="application/javascript"))
    audit_both_sizes(page, "the sandbox checkout page",
                     page.get_by_role("button", name="Pay ₹500.00 (succeeds)"), axe_url=axe_url)


def test_my_appointments(page: Page, clinic, razorpay):
    paid_booking(clinic, razorpay, clinic["video"][0])
    book(clinic["patient"], clinic["in_person"][7], confirm=True)
    appointments.reserve(clinic["patient"], clinic["in_person"][8].id)  # held
    log_in(page, "pat@example.com")
    page.goto("/appointments/")
    upcoming = page.get_by_role("list", name="Upcoming appointments")
    audit_both_sizes(page, "My appointments", upcoming)

    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_label("Latest notifications").click()
    expect(nav.get_by_role("link", name="See all notifications")).to_be_visible()
    audit(page, "the notification bell, open")
    nav.get_by_label("Latest notifications").click()  # closed again (Pico's overlay goes)
    nav.get_by_label("Account menu for Pat Kumar").click()
    expect(nav.get_by_role("link", name="Change password")).to_be_visible()
    audit(page, "the account menu, open")
    nav.get_by_label("Account menu for Pat Kumar").click()

    cancelled = book(clinic["patient"], clinic["in_person"][9], confirm=True)
    appointments.cancel_by_patient(clinic["patient"], cancelled.id, "Feeling better")
    page.get_by_role("navigation", name="Which appointments").get_by_role(
        "link", name="Past").click()
    audit_both_sizes(page, "My appointments, past (swapped in by HTMX)",
                     page.get_by_role("list", name="Past appointments"))


def test_the_appointment_page_of_a_paid_booking(page: Page, clinic, razorpay):
    paid_booking(clinic, razorpay, clinic["video"][0])
    log_in(page, "pat@example.com")
    page.goto("/appointments/")
    page.get_by_role("list", name="Upcoming appointments").get_by_role("link").first.click()
    audit_both_sizes(page, "a confirmed appointment",
                     page.get_by_role("region", name="Booking summary"))


def test_the_hold_page_asking_whom_the_appointment_is_for(page: Page, clinic):
    mira = family.add_dependent(clinic["patient"], family.DependentData(
        "Mira Kumar", "CHILD", date(2020, 3, 15), "FEMALE"))
    held = appointments.reserve(clinic["patient"], clinic["in_person"][0].id,
                                for_dependent_id=mira.id)
    log_in(page, "pat@example.com")
    page.goto(f"/appointments/{held.id}")
    audit_both_sizes(page, "the hold page of a booking for a family member",
                     page.get_by_label("Who is this appointment for?"))


def tuesday_nine(clinic):
    """Dr. Meera Iyer's Tuesday 09:00 (in person): 03:30 UTC."""
    return next(s for s in clinic["in_person"] if s.start_at.isoformat().startswith(
        "2026-12-08T03:30"))


def wait_for_tuesday(patient, clinic, **kwargs):
    return waitlist.join(patient, waitlist.EntryInput(
        clinic["doctor"].id, date(2026, 12, 8), date(2026, 12, 8), **kwargs))


def test_the_waitlist_join_form(page: Page, clinic):
    log_in(page, "pat@example.com")
    page.goto(f"/doctors/{clinic['doctor'].id}")
    page.get_by_role("button", name="Join the waitlist").click()
    audit_both_sizes(page, "the waitlist join form",
                     page.get_by_role("group", name="Preferred times of day"))

    page.get_by_role("textbox", name="To", exact=True).fill("2026-12-30")
    page.get_by_role("button", name="Join the waitlist").click()
    expect(page.get_by_role("textbox", name="To", exact=True)).to_have_attribute(
        "aria-invalid", "true")
    audit_both_sizes(page, "the waitlist join form with an error",
                     page.get_by_text("takes bookings up to 14 Dec 2026"))


def test_my_waitlists(page: Page, clinic):
    log_in(page, "pat@example.com")
    page.goto("/waitlist")
    audit_both_sizes(page, "My waitlists, empty", page.get_by_text("You are not on any waitlist."))

    mira = family.add_dependent(clinic["patient"], family.DependentData(
        "Mira Kumar", "CHILD", date(2020, 3, 15), "FEMALE"))
    wait_for_tuesday(clinic["patient"], clinic, day_parts=("MORNING",))
    waitlist.join(clinic["patient"], waitlist.EntryInput(
        clinic["doctor"].id, date(2026, 12, 9), date(2026, 12, 11), ("EVENING",), "VIDEO",
        mira.id))
    waitlist.offer_slot(tuesday_nine(clinic).id)
    page.goto("/waitlist")
    audit_both_sizes(page, "My waitlists with two entries and an offer",
                     page.get_by_role("list", name="Open offers"))


def test_the_waitlist_offer_page(page: Page, clinic, factory):
    ravi = factory.create_patient(name="Ravi Menon", email="ravi@example.com")
    wait_for_tuesday(clinic["patient"], clinic)
    wait_for_tuesday(ravi, clinic)
    batch = waitlist.offer_slot(tuesday_nine(clinic).id)
    mine = next(o for o in batch if o.patient_id == clinic["patient"].id)
    log_in(page, "pat@example.com")
    page.goto(f"/waitlist/offers/{mine.id}")
    expect(h1(page, "A time has come free")).to_be_visible()
    audit_both_sizes(page, "the waitlist offer page", page.get_by_role("timer"))

    waitlist.claim(ravi, next(o for o in batch if o.patient_id == ravi.id).id)
    page.reload()
    audit_both_sizes(page, "an offer someone else took",
                     page.get_by_role("status").filter(has_text="Someone else took this time"))


# --- doctors -------------------------------------------------------------------------------------

def test_the_doctors_calendar(page: Page, clinic, razorpay):
    paid_booking(clinic, razorpay, clinic["video"][0])  # booked
    appointments.reserve(clinic["patient"], clinic["in_person"][1].id)  # held
    blocked = clinic["in_person"][2]
    availability.block_interval(clinic["doctor"], blocked.start_at, blocked.end_at, "Lunch")
    log_in(page, "meera@example.com")
    page.goto("/practice/calendar")
    grid = page.get_by_role("region", name=re.compile(r"^Week of"))
    page.set_viewport_size(DESKTOP)
    expect(grid.get_by_role("columnheader", name=re.compile("^Tue"))).to_be_visible()
    audit(page, "the doctor's calendar, week view (desktop)")

    page.set_viewport_size(PHONE)
    days = page.get_by_role("navigation", name="Days of this week")
    expect(grid.get_by_role("columnheader", name=re.compile("^Tue"))).to_be_hidden()
    audit(page, "the doctor's calendar, day view (phone)")
    days.get_by_role("link", name=re.compile(r"^Tue 8")).click()
    expect(grid.get_by_role("columnheader", name=re.compile("^Tue"))).to_be_visible()
    audit(page, "the doctor's calendar, another day (phone)")
    in_dark_mode(page)
    audit(page, "the doctor's calendar, another day (phone, dark mode)")
    page.emulate_media(color_scheme="light")

    page.set_viewport_size(DESKTOP)
    grid.get_by_role("link", name=re.compile(r"Booked.*: details$")).first.click()
    expect(page.get_by_role("complementary", name="Slot details").get_by_role(
        "heading", name="Booked slot")).to_be_visible()
    audit(page, "the doctor's calendar with a booked slot's details")


def test_the_doctors_profile_page(page: Page, clinic):
    tuesday_nine = clinic["in_person"][6]
    booked = appointments.reserve(clinic["patient"], tuesday_nine.id)
    appointments.confirm(booked.id, actor_id=clinic["patient"].id)
    log_in(page, "meera@example.com")
    page.goto("/practice/profile")
    audit_both_sizes(page, "the doctor's profile page", page.get_by_label("Time zone"))

    # A new zone leaves the booked Tuesday 09:00 outside the hours: the page lists it.
    page.get_by_label("Time zone").select_option("Europe/London")
    page.get_by_label("Video consultation fee (₹)").fill("600")
    page.get_by_role("button", name="Save the profile").click()
    audit_both_sizes(page, "the doctor's profile page after a change",
                     page.get_by_role("heading", name="1 appointment now outside your hours"))


# --- admins --------------------------------------------------------------------------------------

def test_the_admin_payments_dashboard(page: Page, clinic, razorpay):
    paid_booking(clinic, razorpay, clinic["video"][0])
    log_in(page, "admin@example.com")
    page.goto("/admin/payments")
    expect(h1(page, "Payments")).to_be_visible()
    audit_both_sizes(page, "the admin payments dashboard",
                     page.get_by_role("img", name=re.compile(r"^Captured revenue per day")))

    page.get_by_role("search", name="Filter payments").get_by_label("Doctor").select_option(
        label="Dr. Meera Iyer")
    expect(page).to_have_url(re.compile(r"doctor=[0-9a-f-]{36}"))
    audit_both_sizes(page, "the admin payments dashboard, filtered (swapped in by HTMX)",
                     page.locator("#results").get_by_role("status"))


def test_the_admin_waitlist_conversion(page: Page, clinic):
    wait_for_tuesday(clinic["patient"], clinic)
    waitlist.offer_slot(tuesday_nine(clinic).id)
    log_in(page, "admin@example.com")
    page.goto("/admin/waitlist")
    audit_both_sizes(page, "the admin waitlist conversion page",
                     page.get_by_role("table", name="Offers made in the last 7, 30 and 90 days"))


def test_the_admin_template_editor(page: Page, clinic):
    log_in(page, "admin@example.com")
    page.goto("/admin/notifications/templates/APPOINTMENT_CONFIRMED/EMAIL/en")
    audit_both_sizes(page, "the admin template editor", page.get_by_label("Subject"))


# --- the front desk and the waiting room --------------------------------------------------------

@pytest.fixture
def busy_morning(clinic, factory, frozen_clock):
    """Monday 08:30: Dr. Meera Iyer's day with a patient seen, one with the doctor, one checked
    in, one booked, a hold, a block, a walk-in and free times; Rita at the desk."""
    staff = factory.create_user(Role.STAFF, name="Rita Reception", email="rita@example.com")
    doctor, slots = clinic["doctor"], clinic["in_person"]
    people = [factory.create_patient(name=name) for name in (
        "Asha Seen", "Bala Inside", "Chitra Waiting", "Dev Booked")]
    booked = [book(person, slots[i], confirm=True) for i, person in enumerate(people)]
    appointments.reserve(clinic["patient"], slots[4].id)
    availability.block_interval(doctor, slots[5].start_at, slots[5].end_at, "Staff meeting")
    frozen_clock.advance(timedelta(hours=2, minutes=30))
    for appointment in booked[:3]:
        queue.check_in(staff, appointment.id)
    queue.add_walk_in(staff, doctor.id, "Walter Walkin", None)
    queue.finish(staff, queue.call_next(staff, doctor.id).id)
    queue.call_next(staff, doctor.id)
    return clinic


def test_the_day_board(page: Page, busy_morning):
    log_in(page, "rita@example.com")
    expect(h1(page, "Day board")).to_be_visible()
    audit_both_sizes(page, "the day board",
                     page.get_by_role("region", name="Doctors on duty (scrolls sideways)"))
    # The timeline swapped in by the desk's own refresh (the event an action sends).
    page.evaluate("() => htmx.trigger(document.body, 'desk-changed')")
    expect(page.get_by_role("button", name=re.compile(r"^Check in Dev Booked"))).to_be_visible()
    audit(page, "the day board after a refresh (swapped in by HTMX)")


def test_the_waiting_room_display(page: Page, busy_morning):
    page.goto(f"/queue/{busy_morning['doctor'].id}/display")
    audit_both_sizes(page, "the waiting-room display",
                     page.get_by_role("heading", name="Now serving"))


# --- accounts and settings -----------------------------------------------------------------------

def test_the_login_form_with_an_error(page: Page, clinic):
    page.goto("/account/login")
    audit_both_sizes(page, "the login form", page.get_by_label("Email"))
    page.get_by_label("Email").fill("pat@example.com")
    page.get_by_label("Password").fill("wrong-password-1")
    page.get_by_role("button", name="Log in").click()
    audit_both_sizes(page, "the login form after a wrong password", page.get_by_role("alert"))


def test_the_registration_form_with_errors(page: Page, clinic):
    page.goto("/account/register")
    audit_both_sizes(page, "the registration form",
                     page.get_by_role("heading", name="Create your account"))
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_label("Full name")).to_have_attribute("aria-invalid", "true")
    # The consent to the terms is required too; news and offers are not.
    expect(page.get_by_label("I accept the terms of service and the privacy notice")
           ).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Send me news and offers")).not_to_be_checked()
    audit_both_sizes(page, "the registration form with errors",
                     page.get_by_text("This field is required.").first)


def test_the_terms_and_the_privacy_notice(page: Page, clinic):
    page.goto("/terms")
    audit_both_sizes(page, "the terms of service", h1(page, "Terms of service"))
    page.goto("/privacy")
    audit_both_sizes(page, "the privacy notice", h1(page, "Privacy notice"))


def test_the_privacy_page(page: Page, clinic):
    consents.grant(clinic["patient"], ConsentKind.TERMS)
    consents.grant(clinic["patient"], ConsentKind.MARKETING)
    log_in(page, "pat@example.com")
    page.goto("/account/privacy")
    audit_both_sizes(page, "the privacy page", h1(page, "Your privacy"))

    page.get_by_label("Send me news and offers").uncheck()
    page.get_by_role("button", name="Save my choice").click()
    audit_both_sizes(page, "the privacy page after withdrawing (swapped in by HTMX)",
                     page.get_by_role("status").filter(has_text="no longer receive"))
    page.get_by_role("button", name="Accept version 2026-12 of the privacy notice").click()
    audit_both_sizes(page, "the privacy page with every text accepted",
                     page.get_by_role("status").filter(has_text="current privacy notice"))


def test_the_profile_page(page: Page, clinic):
    log_in(page, "pat@example.com")
    page.goto("/account/profile")
    audit_both_sizes(page, "the profile page", h1(page, "Your profile"))
    page.get_by_label("Mobile number").fill("98765")
    page.get_by_role("button", name="Save your details").click()
    expect(page.get_by_label("Mobile number")).to_have_attribute("aria-invalid", "true")
    audit_both_sizes(page, "the profile page with an error",
                     page.get_by_text("Enter the number in international format"))


def test_the_two_factor_setup_and_code_pages(page: Page, clinic, frozen_clock):
    log_in(page, "pat@example.com")
    page.goto("/account/two-factor")
    code = page.get_by_label("Code from the app")
    audit_both_sizes(page, "the two-factor setup page", code)
    code.fill("000000")
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.get_by_label("Code from the app")).to_have_attribute("aria-invalid", "true")
    audit_both_sizes(page, "the two-factor setup page with a wrong code",
                     page.get_by_text("That code is not right"))
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).at(frozen_clock.now()))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    audit_both_sizes(page, "the recovery codes", h1(page, "Your recovery codes"))

    page.context.clear_cookies()
    frozen_clock.advance(timedelta(seconds=30))  # a code is good once: the next one
    page.goto("/account/login")
    page.get_by_label("Email").fill("pat@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    audit_both_sizes(page, "the code step of logging in", h1(page, "Enter your code"))
    page.get_by_label("Code").fill("000000")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_label("Code")).to_have_attribute("aria-invalid", "true")
    audit_both_sizes(page, "the code step with a wrong code",
                     page.get_by_text("That code is not right"))
    page.get_by_label("Code").fill(pyotp.TOTP(secret).at(frozen_clock.now()))
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/doctors/$"))


def test_the_family_page(page: Page, clinic):
    log_in(page, "pat@example.com")
    page.goto("/account/family")
    audit_both_sizes(page, "the family page, empty", page.get_by_text("No family members yet"))
    add = page.get_by_role("region", name="Add a family member")
    add.get_by_role("button", name="Add to your family").click()
    expect(add.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    audit_both_sizes(page, "the family page with errors", add.get_by_text("Enter their name."))

    family.add_dependent(clinic["patient"], family.DependentData(
        "Mira Kumar", "CHILD", date(2020, 3, 15), "FEMALE"))
    family.add_dependent(clinic["patient"], family.DependentData(
        "Kamala Kumar", "PARENT", date(1950, 8, 1), "FEMALE"))
    page.goto("/account/family")
    audit_both_sizes(page, "the family page with two members",
                     page.get_by_role("table", name="Your family members"))


def test_the_notification_settings(page: Page, clinic):
    log_in(page, "pat@example.com")
    page.goto("/notifications/settings")
    audit_both_sizes(page, "the notification settings", h1(page, re.compile("Notification")))
