"""Doctors' Razorpay Route linked accounts: onboarding and following their state. No request.

Onboarding is Route's documented sequence, through the razorpay client:
1. ``POST /v2/accounts`` (``client.account.create``): the linked account, an individual in
   healthcare, with the doctor's legal name, contact, email, phone and address;
2. ``POST /v2/accounts/<id>/products`` (``client.product.requestProductConfiguration``): its
   Route product, terms accepted;
3. ``PATCH /v2/accounts/<id>/products/<product_id>`` (``client.product.edit``): the bank
   account settlements go to. Razorpay then activates the product (at once, or after its checks:
   ``product.route.*`` webhooks, or reconciliation fetching the product).

The account number goes to Razorpay in step 3 and is kept nowhere: the row holds its last four
digits, the IFSC and the beneficiary. A step that fails leaves what the earlier ones made (the
row records the gateway's ids and the error), and submitting the form again carries on from
there. Stakeholders and KYC documents are not collected here (Razorpay's dashboard does that).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from portal.clock import utcnow
from portal.doctors.models import Doctor
from portal.exceptions import Conflict, NotFound, ValidationFailed
from portal.extensions import db
from portal.payments import gateway
from portal.payments.models import LinkedAccount, LinkedAccountStatus
from portal.transactions import write

log = logging.getLogger(__name__)

A = LinkedAccountStatus
IFSC_RE = re.compile(r"^[A-Z]{4}0[A-Z0-9]{6}$")
ACCOUNT_NUMBER_RE = re.compile(r"^[0-9]{9,18}$")
PHONE_RE = re.compile(r"^\+[1-9][0-9]{7,14}$")  # E.164
POSTAL_CODE_RE = re.compile(r"^[1-9][0-9]{5}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
STATUS_LABELS = {A.CREATED: "Waiting for Razorpay", A.ACTIVATED: "Active",
                 A.NEEDS_CLARIFICATION: "Needs clarification", A.SUSPENDED: "Suspended"}


class OnboardingFailed(Conflict):
    """Razorpay refused or could not take the linked account; `message` says why."""

    title = "Linked account not set up"


@dataclass(frozen=True)
class AccountDetails:
    """What the onboarding form collects. `account_number` is sent to Razorpay, never stored."""

    legal_name: str
    contact_name: str
    email: str
    phone: str
    account_number: str
    ifsc: str
    beneficiary_name: str
    street: str
    city: str
    state: str
    postal_code: str


def validate(details: AccountDetails) -> AccountDetails:
    """The details, tidied (spaces, upper-case IFSC); ValidationFailed names every bad field."""
    clean = AccountDetails(
        legal_name=" ".join(details.legal_name.split()),
        contact_name=" ".join(details.contact_name.split()),
        email=details.email.strip(), phone=details.phone.strip().replace(" ", ""),
        account_number=details.account_number.strip().replace(" ", ""),
        ifsc=details.ifsc.strip().upper(),
        beneficiary_name=" ".join(details.beneficiary_name.split()),
        street=" ".join(details.street.split()), city=" ".join(details.city.split()),
        state=" ".join(details.state.split()).upper(), postal_code=details.postal_code.strip())
    errors: dict[str, str] = {}
    if not 4 <= len(clean.legal_name) <= 200:
        errors["legal_name"] = "Give the legal name, 4 to 200 characters."
    if not 1 <= len(clean.contact_name) <= 120:
        errors["contact_name"] = "Give a contact name, up to 120 characters."
    if len(clean.email) > 132 or not EMAIL_RE.match(clean.email):
        errors["email"] = "Give an email address such as name@example.com."
    if not PHONE_RE.match(clean.phone):
        errors["phone"] = "Give the phone number in international format, e.g. +919876543210."
    if not ACCOUNT_NUMBER_RE.match(clean.account_number):
        errors["account_number"] = "A bank account number is 9 to 18 digits."
    if not IFSC_RE.match(clean.ifsc):
        errors["ifsc"] = "An IFSC is 11 characters: 4 letters, a zero, then 6 letters or digits."
    if not 4 <= len(clean.beneficiary_name) <= 120:
        errors["beneficiary_name"] = "Give the account holder's name as the bank has it."
    if not 1 <= len(clean.street) <= 100:
        errors["street"] = "Give the street address, up to 100 characters."
    if not 1 <= len(clean.city) <= 100:
        errors["city"] = "Give the city."
    if not 2 <= len(clean.state) <= 32:
        errors["state"] = "Give the state, e.g. KARNATAKA."
    if not POSTAL_CODE_RE.match(clean.postal_code):
        errors["postal_code"] = "A PIN code is 6 digits."
    if errors:
        raise ValidationFailed(errors)
    return clean


# --- reading ---------------------------------------------------------------------------------


def account_for(doctor_id: uuid.UUID) -> LinkedAccount | None:
    return db.session.scalar(select(LinkedAccount).where(LinkedAccount.doctor_id == doctor_id))


def active_account_for(doctor_id: uuid.UUID) -> LinkedAccount | None:
    """The doctor's linked account if transfers can be made to it now."""
    account = account_for(doctor_id)
    return account if account is not None and account.status == A.ACTIVATED and \
        account.gateway_account_id else None


def accounts_by_doctor() -> dict[uuid.UUID, LinkedAccount]:
    return {a.doctor_id: a for a in db.session.scalars(select(LinkedAccount))}


def why_not_payable(doctor: Doctor) -> str | None:
    """Why the doctor's share cannot be transferred now, in words for the admin; None if it can."""
    account = account_for(doctor.id)
    if account is None or account.gateway_account_id is None:
        return f"No linked account: onboard {doctor.name}."
    if account.status != A.ACTIVATED:
        reason = f" ({account.error})" if account.error else ""
        return (f"{doctor.name}'s linked account is {STATUS_LABELS[account.status].lower()}"
                f"{reason}: transfers wait until Razorpay activates it.")
    return None


# --- onboarding ------------------------------------------------------------------------------


def _account_body(doctor: Doctor, d: AccountDetails) -> dict[str, Any]:
    return {
        "email": d.email, "phone": d.phone, "type": "route",
        "reference_id": f"doctor_{doctor.id.hex[:16]}", "legal_business_name": d.legal_name,
        "customer_facing_business_name": d.legal_name, "business_type": "individual",
        "contact_name": d.contact_name,
        "profile": {"category": "healthcare", "subcategory": "doctors", "addresses": {
            "registered": {"street1": d.street, "street2": d.city, "city": d.city,
                           "state": d.state, "postal_code": d.postal_code, "country": "IN"}}},
        "notes": {"doctor_id": str(doctor.id)},
    }


def onboard(doctor: Doctor, details: AccountDetails,
            now: datetime | None = None) -> LinkedAccount:
    """Create (or update) the doctor's linked account at Razorpay with these bank details.

    Raises ValidationFailed for bad details and OnboardingFailed when Razorpay refuses or is
    unreachable (what it made so far is kept; submitting again carries on).
    """
    now = now or utcnow()
    details = validate(details)
    row = account_for(doctor.id)
    try:
        if row is None or row.gateway_account_id is None:
            entity = gateway.create_linked_account(_account_body(doctor, details))
            with write():
                row = account_for(doctor.id) or LinkedAccount(doctor_id=doctor.id,
                                                               created_at=now)
                db.session.add(row)
                row.gateway_account_id = entity["id"]
                _take_details(row, details, now)
        else:
            # Razorpay does not change a linked account's email; ours stays what it has.
            details = dataclasses.replace(details, email=row.email)
            gateway.edit_linked_account(row.gateway_account_id, {
                "phone": details.phone, "legal_business_name": details.legal_name,
                "customer_facing_business_name": details.legal_name,
                "contact_name": details.contact_name})
            with write():
                row = _lock(row.id)
                _take_details(row, details, now)
        if row.gateway_product_id is None:
            product = gateway.request_route_product(row.gateway_account_id)
            with write():
                _lock(row.id).gateway_product_id = product["id"]
        product = gateway.set_route_settlements(row.gateway_account_id, row.gateway_product_id,
                                                details.account_number, details.ifsc,
                                                details.beneficiary_name)
    except (gateway.GatewayRejected, gateway.GatewayUnavailable) as exc:
        if row is not None:
            with write():
                _lock(row.id).error = exc.message[:500]
        raise OnboardingFailed(exc.message) from exc
    return apply_product(row.id, product, now=now)


def _take_details(row: LinkedAccount, d: AccountDetails, now: datetime) -> None:
    row.legal_name, row.contact_name, row.email, row.phone = (d.legal_name, d.contact_name,
                                                               d.email, d.phone)
    row.account_last4 = d.account_number[-4:]
    row.ifsc, row.beneficiary_name = d.ifsc, d.beneficiary_name
    row.status = row.status or A.CREATED
    row.updated_at = now


def _lock(account_id: uuid.UUID) -> LinkedAccount:
    row = db.session.scalar(select(LinkedAccount).where(LinkedAccount.id == account_id)
                            .with_for_update(of=LinkedAccount)
                            .execution_options(populate_existing=True))
    if row is None:
        raise NotFound("No such linked account.")
    return row


def status_of(product: dict[str, Any],
              account: dict[str, Any] | None = None) -> LinkedAccountStatus:
    """Our status from Razorpay's product ``activation_status`` (and the account's ``status``)."""
    if (account or {}).get("status") == "suspended":
        return A.SUSPENDED
    return {"activated": A.ACTIVATED, "needs_clarification": A.NEEDS_CLARIFICATION,
            "suspended": A.SUSPENDED}.get(product.get("activation_status"), A.CREATED)


def apply_product(account_id: uuid.UUID, product: dict[str, Any],
                  account: dict[str, Any] | None = None,
                  now: datetime | None = None) -> LinkedAccount:
    """Follow the Route product's state at Razorpay (its answer, or a fresh fetch)."""
    now = now or utcnow()
    with write():
        row = _lock(account_id)
        if product.get("account_id") not in (None, row.gateway_account_id):
            log.warning("product %s is not linked account %s's; ignored", product.get("id"),
                        row.gateway_account_id)
            return row
        row.gateway_product_id = row.gateway_product_id or product.get("id")
        status = status_of(product, account)
        if status == A.ACTIVATED and row.status != A.ACTIVATED:
            row.activated_at = now
        row.status = status
        missing = [r.get("field_reference", "") for r in product.get("requirements") or []]
        row.error = (("Razorpay asks for: " + ", ".join(missing))[:500]
                     if missing and status != A.ACTIVATED else None)
        row.updated_at = now
    return row


def refresh(account_id: uuid.UUID, now: datetime | None = None) -> LinkedAccount:
    """Ask Razorpay how the linked account stands (a webhook, or reconciliation)."""
    row = db.session.get(LinkedAccount, account_id)
    if row.gateway_product_id is None:
        return row
    account = gateway.fetch_linked_account(row.gateway_account_id)
    product = gateway.fetch_route_product(row.gateway_account_id, row.gateway_product_id)
    return apply_product(row.id, product, account, now=now)


def process_product_event(payload: dict[str, Any], now: datetime | None = None) -> None:
    """A ``product.route.*`` webhook: fetch the product and apply it (the webhook only says
    that something changed; what Razorpay says now wins over events arriving out of order)."""
    entity = payload.get("merchant_product", {}).get("entity", {})
    row = db.session.scalar(select(LinkedAccount).where(
        LinkedAccount.gateway_account_id == entity.get("merchant_id")))
    if row is None:
        log.info("linked account %s is not one of ours; ignored", entity.get("merchant_id"))
        return
    refresh(row.id, now)


def accounts_to_refresh(cutoff: datetime, limit: int = 100) -> list[uuid.UUID]:
    """Linked accounts Razorpay has not activated yet, untouched since `cutoff`."""
    return list(db.session.scalars(select(LinkedAccount.id).where(
        LinkedAccount.status.in_([A.CREATED, A.NEEDS_CLARIFICATION]),
        LinkedAccount.gateway_product_id.is_not(None),
        LinkedAccount.updated_at <= cutoff).limit(limit)))


def touch(account_id: uuid.UUID, now: datetime) -> None:
    with write():
        _lock(account_id).updated_at = now
