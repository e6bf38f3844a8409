"""Privacy API: your consents, under /api/v1/me/consents."""

from __future__ import annotations

import uuid

from flask import Blueprint, current_app, url_for
from flask_login import current_user

from portal.api import operation, parse_body, parse_query, respond
from portal.privacy import access, consents, erasure, export
from portal.privacy.models import DataExport, ExportStatus
from portal.privacy.schemas import (
    AccessEntryOut,
    AccessLogOut,
    ConsentList,
    ConsentOut,
    ConsentsIn,
    EraseIn,
    EraseOut,
    ExportOut,
    PageQuery,
)
from portal.security import login_required, patient_required

bp = Blueprint("privacy_api", __name__)


def _consents_out(user) -> ConsentList:
    return ConsentList(items=[ConsentOut.of(state) for state in consents.current(user)])


@bp.get("/me/consents")
@login_required
@operation("Your consents: terms, privacy notice, news and offers", tags=("privacy",),
           response=ConsentList)
def get_consents():
    return respond(_consents_out(current_user))


@bp.put("/me/consents")
@login_required
@operation("Opt in or out of news and offers, or accept the current terms or notice",
           tags=("privacy",), body=ConsentsIn, response=ConsentList,
           description="Withdrawing news and offers takes effect at once: an announcement "
                       "already queued for you is not sent. The terms and the privacy notice "
                       "can be accepted here (the current version) but not withdrawn: without "
                       "them the clinic cannot keep an account, so that is erasure.")
def put_consents():
    data = parse_body(ConsentsIn)
    user = current_user._get_current_object()
    consents.change(user, consents.ConsentChanges(
        marketing=data.marketing, accept_terms=data.terms is True,
        accept_privacy=data.privacy is True))
    return respond(_consents_out(user))


# --- who has looked at my records -------------------------------------------------------------


@bp.get("/me/access-log")
@login_required
@operation("Who has looked at your records", tags=("privacy",), query=PageQuery,
           response=AccessLogOut,
           description="Every read of your appointments, profile, family or payments by "
                       "anyone other than you, newest first.")
def my_access_log():
    query = parse_query(PageQuery)
    page = access.about(current_user, query.page, query.per_page)
    readers = access.readers_of(page.items)
    return respond(AccessLogOut(
        items=[AccessEntryOut(
            at=e.at, reader_id=str(e.actor_id) if e.actor_id else None,
            reader_name=readers.get(e.actor_id, (None, None))[0], reader_role=e.actor_role,
            kind=e.kind.value, object_id=str(e.object_id) if e.object_id else None,
            route=e.route, via=e.via) for e in page.items],
        page=page.page, per_page=page.per_page, total=page.total, pages=page.pages))


# --- take your data with you -----------------------------------------------------------------


def export_out(item: DataExport) -> ExportOut:
    ready = item.status == ExportStatus.READY
    token = export.link_token(item) if ready else None
    return ExportOut(
        id=str(item.id), status=item.status.value, created_at=item.created_at,
        ready_at=item.ready_at, expires_at=item.expires_at,
        json_url=url_for("privacy.download", token=token, kind="json", _external=True)
        if ready else None,
        html_url=url_for("privacy.download", token=token, kind="html", _external=True)
        if ready else None)


@bp.get("/me/export")
@login_required
@operation("Everything the portal holds about you and your family", tags=("privacy",),
           description="Small: the data itself (200). Large: a job prepares it and the answer "
                       "is 202 with the export to follow at /me/exports/{id}, whose links "
                       "expire after EXPORT_LINK_HOURS.")
def my_export():
    if export.row_count(current_user) <= current_app.config["EXPORT_INLINE_MAX_ROWS"]:
        return export.collect(current_user), 200
    return respond(export_out(export.request_export(current_user)), 202)


@bp.get("/me/exports/<uuid:export_id>")
@login_required
@operation("A prepared export: its state and, when ready, its links", tags=("privacy",),
           response=ExportOut, errors=(404,))
def my_prepared_export(export_id: uuid.UUID):
    return respond(export_out(export.get_own_export(current_user, export_id)))


# --- erasure ---------------------------------------------------------------------------------


@bp.delete("/me")
@patient_required
@operation("Erase your account and personal data", tags=("privacy",), body=EraseIn,
           response=EraseOut, errors=(409,),
           description="Needs your password. Future appointments are cancelled with the "
                       "refund the policy gives; your name, contact details, family members, "
                       "reasons for visits, devices and messages are removed. Payment records "
                       "stay (tax law), without contact details. You cannot log in again.")
def erase_me():
    data = parse_body(EraseIn)
    report = erasure.erase(current_user._get_current_object(), data.password)
    return respond(EraseOut(cancelled=report.cancelled))
