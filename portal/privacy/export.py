"""Taking one's data away: everything the portal holds about a person and their family.

`collect(user)` gathers it as plain JSON-ready data: the profile, family members, appointments
with their history, payments and refunds, notifications sent, preferences, devices, waitlist
entries and offers, consents, and the access log about them. A small export is answered at
once; a large one (more than EXPORT_INLINE_MAX_ROWS rows) is built by a job into a JSON file
and a readable HTML page under EXPORT_ROOT, downloaded through a signed link that expires after
EXPORT_LINK_HOURS.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import current_app, render_template
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select

from portal.appointments.models import Appointment, AppointmentStatusHistory
from portal.auth.models import User
from portal.clock import utcnow
from portal.exceptions import NotFound
from portal.extensions import db
from portal.family.models import Dependent
from portal.jobqueue import get_queue
from portal.notifications.models import (
    NotificationLog,
    UserDevice,
    UserNotificationPreferences,
)
from portal.payments.models import PaymentTransaction, Refund
from portal.privacy.models import AccessLogEntry, Consent, DataExport, ExportStatus
from portal.transactions import write
from portal.waitlist.models import WaitlistEntry, WaitlistOffer

log = logging.getLogger(__name__)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _row(obj, *names: str) -> dict[str, Any]:
    return {name: _plain(getattr(obj, name)) for name in names}


def _all(stmt) -> list:
    return list(db.session.scalars(stmt))


def row_count(user: User) -> int:
    """How big an export would be (its rows), to decide between now and a job."""
    counts = [
        select(func.count()).select_from(Appointment).where(Appointment.patient_id == user.id),
        select(func.count()).select_from(NotificationLog)
        .where(NotificationLog.user_id == user.id),
        select(func.count()).select_from(AccessLogEntry)
        .where(AccessLogEntry.subject_id == user.id),
        select(func.count()).select_from(PaymentTransaction)
        .where(PaymentTransaction.patient_id == user.id),
    ]
    return sum(db.session.scalar(stmt) or 0 for stmt in counts)


def collect(user: User) -> dict[str, Any]:
    """Everything about `user` and their family, as JSON-ready data."""
    appointments = _all(select(Appointment).where(Appointment.patient_id == user.id)
                        .order_by(Appointment.start_at))
    ids = [a.id for a in appointments]
    history: dict[uuid.UUID, list] = {}
    for row in _all(select(AppointmentStatusHistory)
                    .where(AppointmentStatusHistory.appointment_id.in_(ids))
                    .order_by(AppointmentStatusHistory.id)) if ids else []:
        history.setdefault(row.appointment_id, []).append(_row(
            row, "from_status", "to_status", "reason", "created_at", "old_start_at"))
    payments = _all(select(PaymentTransaction).where(PaymentTransaction.patient_id == user.id)
                    .order_by(PaymentTransaction.created_at))
    pay_ids = [p.id for p in payments]
    refunds = _all(select(Refund).where(Refund.payment_id.in_(pay_ids))
                   .order_by(Refund.created_at)) if pay_ids else []
    prefs = db.session.get(UserNotificationPreferences, user.id)
    return {
        "exported_at": utcnow().isoformat(),
        "clinic": current_app.config["CLINIC_NAME"],
        "profile": _row(user, "id", "name", "email", "phone", "timezone", "language", "role",
                        "created_at"),
        "family": [_row(d, "id", "name", "relation", "date_of_birth", "sex", "created_at",
                        "removed_at")
                   for d in _all(select(Dependent).where(Dependent.account_holder_id == user.id))],
        "appointments": [{
            **_row(a, "id", "doctor_id", "for_dependent_id", "start_at", "end_at",
                   "consultation_type", "status", "fee_paise", "currency", "reason_for_visit",
                   "cancelled_by", "cancel_reason", "refund_paise", "created_at",
                   "confirmed_at", "cancelled_at"),
            "doctor": a.doctor.name, "history": history.get(a.id, [])} for a in appointments],
        "payments": [_row(p, "id", "appointment_id", "amount_paise", "currency", "status",
                          "channel", "method", "gateway_payment_id", "refunded_paise",
                          "captured_at", "created_at") for p in payments],
        "refunds": [_row(r, "id", "payment_id", "amount_paise", "status", "source", "reason",
                         "created_at", "processed_at") for r in refunds],
        "notifications": [_row(n, "id", "type", "channel", "status", "recipient", "subject",
                               "body", "created_at", "sent_at")
                          for n in _all(select(NotificationLog)
                                        .where(NotificationLog.user_id == user.id)
                                        .order_by(NotificationLog.created_at))],
        "preferences": _row(prefs, "language", "reminder_offsets", "channels")
        if prefs else None,
        "devices": [_row(d, "id", "kind", "user_agent", "active", "created_at", "last_used_at")
                    for d in _all(select(UserDevice).where(UserDevice.user_id == user.id))],
        "waitlist": [_row(e, "id", "doctor_id", "for_dependent_id", "date_from", "date_to",
                          "day_parts", "consultation_type", "status", "created_at")
                     for e in _all(select(WaitlistEntry)
                                   .where(WaitlistEntry.patient_id == user.id))],
        "waitlist_offers": [_row(o, "id", "entry_id", "start_at", "status", "offered_at",
                                 "expires_at", "answered_at")
                            for o in _all(select(WaitlistOffer)
                                          .where(WaitlistOffer.patient_id == user.id))],
        "consents": [_row(c, "kind", "version", "granted_at", "withdrawn_at")
                     for c in _all(select(Consent).where(Consent.user_id == user.id))],
        "access_log": [_row(e, "at", "actor_id", "actor_role", "kind", "object_id", "route",
                            "via")
                       for e in _all(select(AccessLogEntry)
                                     .where(AccessLogEntry.subject_id == user.id)
                                     .order_by(AccessLogEntry.at))],
    }


# --- large exports: a job, a file, a link that expires -------------------------------------------


def _root() -> Path:
    return Path(current_app.config["EXPORT_ROOT"])


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="data-export")


def request_export(user: User, now: datetime | None = None) -> DataExport:
    """Start a job that builds the export (one at a time per person)."""
    now = now or utcnow()
    pending = db.session.scalar(select(DataExport).where(
        DataExport.user_id == user.id, DataExport.status == ExportStatus.PENDING))
    if pending is not None:
        return pending
    with write():
        export = DataExport(user_id=user.id, status=ExportStatus.PENDING, created_at=now)
        db.session.add(export)
    get_queue("default").enqueue("jobs.exports.build", str(export.id),
                                 job_id=f"export-{export.id}")
    return export


def build(export_id: uuid.UUID, now: datetime | None = None) -> DataExport:
    """The job: write the JSON and the readable page, then offer them until they expire."""
    now = now or utcnow()
    export = db.session.get(DataExport, export_id)
    if export is None or export.status != ExportStatus.PENDING:
        return export
    user = db.session.get(User, export.user_id)
    data = collect(user)
    folder = _root() / str(export.id)
    folder.mkdir(parents=True, exist_ok=True)
    body = json.dumps(data, ensure_ascii=False, indent=2)
    (folder / "data.json").write_text(body, encoding="utf-8")
    (folder / "data.html").write_text(render_template("privacy/export.html", data=data),
                                      encoding="utf-8")
    with write():
        export.status = ExportStatus.READY
        export.path = str(export.id)
        export.size_bytes = len(body.encode())
        export.ready_at = now
        export.expires_at = now + timedelta(hours=current_app.config["EXPORT_LINK_HOURS"])
    return export


def latest_of(user: User) -> DataExport | None:
    """The person's most recent prepared export, if any."""
    return db.session.scalar(select(DataExport).where(DataExport.user_id == user.id)
                             .order_by(DataExport.created_at.desc()).limit(1))


def owner_of_token(token: str) -> str | None:
    """The user id a download link was made for (the link is checked by `file_for`)."""
    try:
        return _signer().loads(token, max_age=None).get("uid")
    except (BadSignature, AttributeError):
        return None


def link_token(export: DataExport) -> str:
    return _signer().dumps({"id": str(export.id), "uid": str(export.user_id)})


def get_own_export(user: User, export_id: uuid.UUID) -> DataExport:
    export = db.session.get(DataExport, export_id)
    if export is None or export.user_id != user.id:
        raise NotFound("No such export.")
    return export


def file_for(token: str, kind: str, now: datetime | None = None) -> Path:
    """The file a download link names, while the link and the export last."""
    now = now or utcnow()
    max_age = current_app.config["EXPORT_LINK_HOURS"] * 3600
    try:
        data = _signer().loads(token, max_age=max_age)
        export = db.session.get(DataExport, uuid.UUID(data["id"]))
    except SignatureExpired:
        raise NotFound("This download link has expired; ask for a new export.") from None
    except (BadSignature, KeyError, ValueError, TypeError):
        raise NotFound("This download link is not valid.") from None
    if export is None or export.status != ExportStatus.READY or str(export.user_id) != \
            data.get("uid") or (export.expires_at and export.expires_at <= now):
        raise NotFound("This export is no longer available; ask for a new one.")
    name = {"json": "data.json", "html": "data.html"}.get(kind)
    if name is None:
        raise NotFound("No such file.")
    return _root() / export.path / name


def expire_old(now: datetime | None = None) -> int:
    """Delete the files of exports whose link has expired (the cron job)."""
    now = now or utcnow()
    old = _all(select(DataExport).where(DataExport.status == ExportStatus.READY,
                                        DataExport.expires_at <= now))
    for export in old:
        _delete_files(export)
    with write():
        for export in old:
            export.status = ExportStatus.EXPIRED
    return len(old)


def delete_exports_of(user_id: uuid.UUID) -> None:
    """Erasure: no prepared copy of someone's data outlives them (inside the caller's write)."""
    for export in _all(select(DataExport).where(DataExport.user_id == user_id)):
        _delete_files(export)
        db.session.delete(export)


def _delete_files(export: DataExport) -> None:
    if not export.path:
        return
    folder = _root() / export.path
    for name in ("data.json", "data.html"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(folder / name)
    try:
        folder.rmdir()
    except OSError:
        log.warning("export folder %s not empty or missing", folder)
