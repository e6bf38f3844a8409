"""Privacy pages: the terms of service and the privacy notice (public), and each person's
privacy page (`/account/privacy`), where consents are seen and changed.

Endpoints (blueprint `privacy`):
  terms     GET  /terms                     the terms of service (public)
  notice    GET  /privacy                   the privacy notice (public)
  index     GET  /account/privacy           your consents (block `consents` of the page)
  update_consents POST /account/privacy/consents
                                            opt in or out of news and offers, or accept the
                                            current version of the terms or the notice;
                                            HTMX gets the `consents` block back

The rules are in `portal/privacy/consents.py`.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, time, timedelta

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_login import current_user, logout_user

from portal.exceptions import NotFound, ValidationFailed
from portal.privacy import access, consents, erasure, export
from portal.privacy.forms import AccessLogFilterForm, ConsentForm, EraseForm
from portal.privacy.models import ConsentKind
from portal.security import admin_required, login_required, patient_required
from portal.web import apply_errors, page_number, render_page

bp = Blueprint("privacy", __name__)


def _texts() -> dict:
    """What both texts quote from the configuration."""
    config = current_app.config
    return {"terms_version": config["TERMS_VERSION"],
            "privacy_version": config["PRIVACY_VERSION"],
            "reason_days": config["RETENTION_REASON_DAYS"],
            "notification_days": config["RETENTION_NOTIFICATION_DAYS"]}


@bp.get("/terms")
def terms():
    """The terms of service, version TERMS_VERSION (public: read before registering)."""
    return render_template("privacy/terms.html", **_texts())


@bp.get("/privacy")
def notice():
    """The privacy notice, version PRIVACY_VERSION: what is kept, why, for how long, and the
    person's rights (public: read before registering)."""
    return render_template("privacy/notice.html", **_texts())


def _page(form: ConsentForm, status: int = 200, message: str | None = None):
    user = current_user._get_current_object()
    prepared = export.latest_of(user)
    return render_page("privacy/index.html", block="consents", form=form,
                       states={s.kind.value: s for s in consents.current(user)},
                       message=message, prepared=prepared,
                       prepared_token=export.link_token(prepared)
                       if prepared and prepared.status == "READY" else None, **_texts()), status


@bp.get("/account/privacy")
@login_required
def index():
    """Your privacy page: the consents you gave (with the version of the text and when), and
    the switch for news and offers."""
    form = ConsentForm(formdata=None, marketing=consents.has_consent(current_user.id,
                                                                     ConsentKind.MARKETING))
    return _page(form)


MESSAGES = {
    ("marketing", True): "You will receive news and offers from the clinic.",
    ("marketing", False): "You will no longer receive news and offers. Messages about your "
                          "own appointments and payments still come.",
    ("accept-TERMS", True): "Thank you: you have accepted the current terms of service.",
    ("accept-PRIVACY", True): "Thank you: you have accepted the current privacy notice.",
}


@bp.post("/account/privacy/consents")
@login_required
def update_consents():
    """Opt in to or out of news and offers (at once: an announcement already queued for you is
    not sent), or accept the current version of the terms or the privacy notice. A plain form
    goes back to the page; HTMX gets the section. An unknown action is 422."""
    form = ConsentForm()
    if not form.validate_on_submit():
        return _page(form, 422)
    action = form.action.data
    consents.change(current_user._get_current_object(), consents.ConsentChanges(
        marketing=form.marketing.data if action == "marketing" else None,
        accept_terms=action == "accept-TERMS", accept_privacy=action == "accept-PRIVACY"))
    message = MESSAGES[(action, form.marketing.data if action == "marketing" else True)]
    if getattr(request, "htmx", False):
        return _page(ConsentForm(formdata=None, marketing=consents.has_consent(
            current_user.id, ConsentKind.MARKETING)), message=message)
    flash(message, "success")
    return redirect(url_for(".index"), 303)


# --- who has looked at my records, my data, erasure -------------------------------------------


@bp.get("/account/privacy/access-log")
@login_required
def access_log():
    """Who has looked at my records: each read by a doctor, the desk or an admin, newest
    first, paginated."""
    page = access.about(current_user, page_number(), 50)
    return render_page("privacy/access_log.html", block="entries", page=page,
                       readers=access.readers_of(page.items), tz=current_user.timezone)


def _small() -> bool:
    return export.row_count(current_user) <= current_app.config["EXPORT_INLINE_MAX_ROWS"]


@bp.get("/account/privacy/data")
@login_required
def data_page():
    """Everything the portal holds about me, readable (a large export is prepared by a job:
    the page then says so and links to it when it is ready)."""
    if _small():
        return render_template("privacy/export.html", data=export.collect(current_user))
    prepared = export.request_export(current_user)
    flash("Your data is large: it is being prepared. This page links to it when it is ready.",
          "info")
    return redirect(url_for(".index", export=prepared.id), 303)


@bp.get("/account/privacy/data.json")
@login_required
def data_json():
    """Everything the portal holds about me, as a JSON file to keep."""
    if not _small():
        return redirect(url_for(".data_page"), 303)
    body = json.dumps(export.collect(current_user), ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": 'attachment; filename="my-data.json"',
        "Cache-Control": "no-store"})


@bp.get("/account/privacy/exports/<token>/<kind>")
@login_required
def download(token: str, kind: str):
    """A prepared export's file, through its signed link, until it expires."""
    path = export.file_for(token, kind)
    if export.owner_of_token(token) != str(current_user.id):
        raise NotFound("This download is not yours.")
    response = send_file(path, as_attachment=kind == "json",
                         download_name=f"my-data.{kind}", max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/account/privacy/erase", methods=["GET", "POST"])
@patient_required
def erase():
    """Erase my account: future appointments are cancelled (refunds by the policy), my
    personal data is removed, payments stay without contact details; then I am logged out."""
    form = EraseForm()
    if form.validate_on_submit():
        try:
            report = erasure.erase(current_user._get_current_object(), form.password.data)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            logout_user()
            session.clear()
            flash("Your account and personal data are erased"
                  + (f"; {report.cancelled} future appointment"
                     f"{'s' if report.cancelled != 1 else ''} cancelled" if report.cancelled
                     else "") + ". Thank you for having been with us.", "success")
            return redirect(url_for("main.index"), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("privacy/erase.html", form=form), status


# --- the admin's search of the access log -----------------------------------------------------


def _log_filter(form: AccessLogFilterForm) -> access.LogFilter:
    """The filter the form means; a field with an error filters nothing (and shows it)."""
    form.validate()

    def value(field):
        return field.data if field.data and not field.errors else None

    def midnight(day):
        return datetime.combine(day, time(0), tzinfo=UTC) if day else None

    until = value(form.until)
    return access.LogFilter(
        subject_id=uuid.UUID(value(form.patient)) if value(form.patient) else None,
        actor_id=uuid.UUID(value(form.user)) if value(form.user) else None,
        since=midnight(value(form.since)),
        until=midnight(until + timedelta(days=1)) if until else None)


@bp.get("/admin/access-log")
@admin_required
def admin_access_log():
    """Search the access log by patient, by reader and by date; export it as CSV."""
    form = AccessLogFilterForm(request.args)
    f = _log_filter(form)
    page = access.search(current_user, f, page_number(), 50)
    return render_page("privacy/admin_access_log.html", block="results", form=form, page=page,
                       names=access.people_names({e.actor_id for e in page.items}
                                                 | {e.subject_id for e in page.items}),
                       tz=current_user.timezone)


@bp.get("/admin/access-log.csv")
@admin_required
def admin_access_log_csv():
    form = AccessLogFilterForm(request.args)
    lines = access.csv_lines(current_user._get_current_object(), _log_filter(form))
    return Response("".join(lines), mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="access-log.csv"'})
