"""Erasure: a patient asks for their data to be removed (DPDP Act 2023, s. 12).

Future appointments are cancelled first, with the refund the policy gives, and the doctors are
told (the ordinary cancellation and its events). Then, in one unit of work, personal data is
removed or pseudonymised: name, email, phone, family members, reasons for visits, device
tokens, notification contents and addresses, queue names, the contact details Razorpay echoed
in stored webhooks, prepared exports. Payment and invoice records stay, as tax law requires,
without contact details; the access log stays (it holds ids, never names). The person cannot
log in any more, and a new registration with the same email is a new person.

Doctors, staff and admins are not erased this way: an admin deactivates them.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, or_, select, update

from portal.appointments import service as appointments
from portal.appointments.models import ACTIVE_STATUSES, Appointment, AppointmentStatusHistory
from portal.auth.models import RecoveryCode, User
from portal.auth.service import password_matches
from portal.clock import utcnow
from portal.exceptions import Conflict, ValidationFailed
from portal.extensions import db
from portal.family.models import Dependent
from portal.notifications.models import (
    NotificationLog,
    ReminderStatus,
    ScheduledNotification,
    UserDevice,
    UserNotificationPreferences,
)
from portal.payments.models import PaymentTransaction, WebhookEvent
from portal.privacy.export import delete_exports_of
from portal.queue.models import QueueToken
from portal.roles import Role
from portal.transactions import write
from portal.waitlist.models import EntryStatus, OfferStatus, WaitlistEntry, WaitlistOffer

ERASED_NAME = "Erased patient"
ERASED_DOMAIN = "erased.invalid"  # RFC 2606: never a real mailbox
# Keys of Razorpay's entities that name a person (payment, order, refund, link payloads).
CONTACT_KEYS = {"email", "contact", "name", "vpa", "customer", "customer_details",
                "notes", "card", "bank_account", "acquirer_data"}


@dataclass(frozen=True)
class ErasureReport:
    cancelled: int
    family_members: int
    notifications: int


def erase(user: User, password: str, now: datetime | None = None) -> ErasureReport:
    """Erase a patient's personal data (the password again confirms it is them)."""
    now = now or utcnow()
    if user.role != Role.PATIENT:
        raise Conflict("Doctor, desk and admin accounts are deactivated by an admin instead.")
    if not password_matches(user, password):
        raise ValidationFailed({"password": "Your password is not right."})
    cancelled = 0
    for appointment_id in db.session.scalars(select(Appointment.id).where(
            Appointment.patient_id == user.id, Appointment.status.in_(ACTIVE_STATUSES),
            Appointment.start_at > now)).all():
        try:
            appointments.cancel_by_patient(user, appointment_id, "account erased", now)
            cancelled += 1
        except appointments.TransitionNotAllowed:
            pass  # lapsed or started meanwhile: nothing to cancel
    with write():
        report = _pseudonymise(user, now)
    return ErasureReport(cancelled, *report)


def _pseudonymise(user: User, now: datetime) -> tuple[int, int]:
    uid = user.id
    former_name = user.name
    user.name = ERASED_NAME
    user.email = f"erased-{uuid.uuid4().hex}@{ERASED_DOMAIN}"
    user.phone = None
    user.password_hash = f"!erased-{secrets.token_hex(16)}"
    user.active = False
    user.session_version += 1
    # The second factor goes too: its secret and recovery codes are of no use to anyone now.
    user.totp_secret = user.totp_enabled_at = user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == uid)
                       .execution_options(synchronize_session=False))
    family = db.session.execute(
        update(Dependent).where(Dependent.account_holder_id == uid)
        .values(name="Erased", date_of_birth=date(1900, 1, 1), removed_at=now)
        .execution_options(synchronize_session=False)).rowcount or 0
    own = select(Appointment.id).where(Appointment.patient_id == uid)
    db.session.execute(update(Appointment).where(Appointment.patient_id == uid)
                       .values(reason_for_visit="", cancel_reason=None)
                       .execution_options(synchronize_session=False))
    db.session.execute(update(AppointmentStatusHistory)
                       .where(AppointmentStatusHistory.appointment_id.in_(own.scalar_subquery()))
                       .values(reason="")
                       .execution_options(synchronize_session=False))
    notes = db.session.execute(
        update(NotificationLog).where(NotificationLog.user_id == uid)
        .values(recipient="", subject="", body="", body_html=None, context={}, error=None)
        .execution_options(synchronize_session=False)).rowcount or 0
    # Messages to others about this patient (the doctor's "new booking" names them).
    about = [NotificationLog.link.like(f"%/appointments/{appointment_id}%")
             for appointment_id in db.session.scalars(own)]
    if len(former_name) > 2:
        pattern = "%" + former_name.replace("\\", "\\\\").replace("%", "\\%").replace(
            "_", "\\_") + "%"
        about += [NotificationLog.subject.ilike(pattern, escape="\\"),
                  NotificationLog.body.ilike(pattern, escape="\\")]
    if about:
        db.session.execute(update(NotificationLog).where(or_(*about))
                           .values(subject="", body="", body_html=None, context={})
                           .execution_options(synchronize_session=False))
    db.session.execute(update(ScheduledNotification).where(
        ScheduledNotification.user_id == uid,
        ScheduledNotification.status == ReminderStatus.SCHEDULED.value)
        .values(status=ReminderStatus.CANCELLED.value)
        .execution_options(synchronize_session=False))
    db.session.execute(delete(UserDevice).where(UserDevice.user_id == uid)
                       .execution_options(synchronize_session=False))
    prefs = db.session.get(UserNotificationPreferences, uid)
    if prefs is not None:
        db.session.delete(prefs)
    db.session.execute(update(WaitlistEntry).where(WaitlistEntry.patient_id == uid,
                                                   WaitlistEntry.status == EntryStatus.ACTIVE)
                       .values(status=EntryStatus.LEFT, ended_at=now)
                       .execution_options(synchronize_session=False))
    db.session.execute(update(WaitlistOffer).where(WaitlistOffer.patient_id == uid,
                                                   WaitlistOffer.status == OfferStatus.OFFERED)
                       .values(status=OfferStatus.WITHDRAWN, answered_at=now)
                       .execution_options(synchronize_session=False))
    db.session.execute(update(QueueToken).where(QueueToken.patient_id == uid)
                       .values(name=ERASED_NAME).execution_options(synchronize_session=False))
    _scrub_webhooks(uid)
    delete_exports_of(uid)
    return family, notes


def _scrub_webhooks(user_id: uuid.UUID) -> None:
    """Razorpay's webhooks echo the payer's email and phone: keep the events (they are the
    payment's record), without those."""
    orders = {order for order, in db.session.execute(
        select(PaymentTransaction.gateway_order_id).where(
            PaymentTransaction.patient_id == user_id,
            PaymentTransaction.gateway_order_id.is_not(None)))}
    if not orders:
        return
    for event in db.session.scalars(select(WebhookEvent).execution_options(yield_per=500)):
        if _mentions(event.payload, orders):
            event.payload = _without_contacts(event.payload)


def _mentions(payload: Any, orders: set[str]) -> bool:
    if isinstance(payload, dict):
        return payload.get("order_id") in orders or payload.get("id") in orders or any(
            _mentions(value, orders) for value in payload.values())
    if isinstance(payload, list):
        return any(_mentions(value, orders) for value in payload)
    return False


def _without_contacts(payload: Any) -> Any:
    if isinstance(payload, dict):
        return {key: ("" if key in CONTACT_KEYS and not isinstance(value, dict | list)
                      else {} if key in CONTACT_KEYS and isinstance(value, dict)
                      else [] if key in CONTACT_KEYS else _without_contacts(value))
                for key, value in payload.items()}
    if isinstance(payload, list):
        return [_without_contacts(value) for value in payload]
    return payload
