"""Admin notification pages: the delivery log with "send again", the template editor with a
live preview, and announcements.

Endpoints (blueprint `admin_notifications`, under /admin/notifications; admins only, others 403):
  log             GET  /                                   the delivery log: filters, pages
  resend          POST /<id>/resend                        send a FAILED notification again
  templates       GET  /templates                          every type x channel x language
  edit_template   GET, POST /templates/<type>/<channel>/<language>
                                                           the editor; POST saves (or, with
                                                           action=preview, only previews)
  reset_template  POST /templates/<type>/<channel>/<language>/reset
                                                           delete the stored words: the
                                                           built-in default applies again
  preview         POST /templates/preview                  subject and body rendered on sample
                                                           data, or the error (HTMX fragment)
  send            GET, POST /send                          an announcement to all patients,
                                                           all doctors or one person

The log's filters are a plain GET form; HTMX swaps only the results block. The rules and the
queries are in portal/notifications/: history.py (the log), delivery.py (resend), templates.py
(rendering, saving, the table of templates) and announcements.py (audiences, sending).
"""

from __future__ import annotations

import uuid

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.exceptions import Conflict, ValidationFailed
from portal.notifications.announcements import announce, audience_sizes
from portal.notifications.context import sample_context
from portal.notifications.defaults import DEFAULTS, LANGUAGES
from portal.notifications.delivery import resend as resend_notification
from portal.notifications.forms import (
    CHANNEL_LABELS,
    AnnouncementForm,
    LogFilterForm,
    TemplateForm,
    type_label,
)
from portal.notifications.history import LogFilter, log_page, users_of
from portal.notifications.models import Channel
from portal.notifications.templates import (
    NEVER_DETAILED,
    SENSITIVE_VARIABLES,
    Rendered,
    check_template_key,
    editable_template,
    minimum_necessary,
    render_source,
    save_template,
    template_table,
)
from portal.notifications.templates import reset_template as forget_template
from portal.security import admin_required
from portal.web import apply_errors, page_number, render_page

bp = Blueprint("admin_notifications", __name__, url_prefix="/admin/notifications")

PER_PAGE = 25


# --- the delivery log --------------------------------------------------------------------------


def _filters() -> tuple[LogFilterForm, LogFilter]:
    """The filter form from the query string; a field that does not parse is left out."""
    form = LogFilterForm(request.args)
    form.validate()

    def ok(field) -> str | None:
        return (field.data or "").strip() or None if not field.errors else None

    return form, LogFilter(status=ok(form.status), channel=ok(form.channel), kind=ok(form.type),
                           email=ok(form.email))


@bp.get("/")
@admin_required
def log():
    """The delivery log: every notification on every channel with its status, attempts,
    provider id and error; filter by status, channel, type and user email."""
    form, f = _filters()
    found = log_page(f, page_number(), PER_PAGE)
    return render_page("admin/notifications/log.html", block="results", form=form, filter=f,
                       page=found.page, users=found.users, failed=found.failed,
                       here=request.full_path if request.query_string else request.path)


def _back_to_log() -> str:
    """The log page the form came from (only a path under the log itself)."""
    back = request.form.get("next", "")
    if back.startswith(url_for(".log")) and not back.startswith("//"):
        return back
    return url_for(".log")


@bp.post("/<uuid:log_id>/resend")
@admin_required
def resend(log_id: uuid.UUID):
    """Send a failed notification again: a fresh set of attempts. HTMX gets the updated row;
    a plain form goes back to the log. Raises NotFound for an unknown id."""
    try:
        row = resend_notification(log_id, current_user)
    except Conflict as exc:
        if getattr(request, "htmx", False):
            raise
        flash(exc.message, "error")
        return redirect(_back_to_log())
    message = f"Sending again to {row.recipient}."
    if getattr(request, "htmx", False):
        return render_template("admin/notifications/_log_row.html", row=row,
                               users=users_of([row]), here=_back_to_log(), message=message)
    flash(message, "success")
    return redirect(_back_to_log())


# --- templates ---------------------------------------------------------------------------------


@bp.get("/templates")
@admin_required
def templates():
    """The words of every notification type on every channel, per language: stored in the
    database (edited, or the seeded default) or the built-in default."""
    rows = template_table()
    return render_template("admin/notifications/templates.html",
                           rows=[r for r in rows if r.offered],
                           unsent=[r for r in rows if not r.offered], languages=LANGUAGES)


def _preview(subject: str, body: str, channel: str,
             include_details: bool) -> tuple[Rendered | None, str | None]:
    """The words rendered on sample data as they would go out on `channel` (the sensitive
    variables emptied where the message may not carry them), or the template's error."""
    try:
        return render_source(subject, body, minimum_necessary(
            sample_context(), channel, include_details)), None
    except ValidationFailed as exc:
        return None, exc.message


def _include_details(form: TemplateForm, channel: str) -> bool:
    """The editor's checkbox; only email templates have it (the others are fixed)."""
    return bool(form.include_details.data) if channel == Channel.EMAIL.value else True


@bp.route("/templates/<kind>/<channel>/<language>", methods=["GET", "POST"])
@admin_required
def edit_template(kind: str, channel: str, language: str):
    """Edit the words of one type on one channel in one language, with a preview on sample
    data. POST saves (errors next to the fields, 422); action=preview only previews (the
    no-JavaScript path of the live preview). Raises NotFound for an unknown key."""
    editing = editable_template(kind, channel, language)
    source = editing.source
    included = editing.stored.include_details if editing.stored is not None else True
    form = TemplateForm(data={"subject": source[0], "body_text": source[1],
                              "include_details": included} if source else
                        {"include_details": included})
    rendered = error = None
    if form.is_submitted() and request.form.get("action") == "preview":
        rendered, error = _preview(form.subject.data or "", form.body_text.data or "", channel,
                                   _include_details(form, channel))
    elif form.validate_on_submit():
        try:
            save_template(kind, channel, language, form.subject.data or "",
                          form.body_text.data, current_user,
                          include_details=_include_details(form, channel))
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            flash(f"Saved: {type_label(kind)}, {CHANNEL_LABELS[Channel(channel)]}, "
                  f"{LANGUAGES[language]}.", "success")
            return redirect(url_for(".edit_template", kind=kind, channel=channel,
                                    language=language))
    if rendered is None and error is None and form.body_text.data:
        rendered, error = _preview(form.subject.data or "", form.body_text.data, channel,
                                   _include_details(form, channel))
    status = 422 if form.is_submitted() and request.form.get("action") != "preview" and (
        form.errors or form.form_errors) else 200
    return render_template(
        "admin/notifications/edit_template.html", form=form, kind=kind, channel=channel,
        language=language, stored=editing.stored, has_default=editing.has_default,
        borrowed=editing.stored is None and not editing.has_default and source is not None,
        rendered=rendered, error=error, variables=sorted(sample_context()),
        sensitive=SENSITIVE_VARIABLES, never_detailed=channel in NEVER_DETAILED,
        channel_label=CHANNEL_LABELS[Channel(channel)], language_label=LANGUAGES[language],
        kind_label=type_label(kind)), status


@bp.post("/templates/<kind>/<channel>/<language>/reset")
@admin_required
def reset_template(kind: str, channel: str, language: str):
    """Delete the stored words of this key, so the built-in default applies again (or, where
    there is none, the message is no longer sent on this channel)."""
    check_template_key(kind, channel, language)
    removed = forget_template(kind, channel, language)
    has_default = DEFAULTS.get(language, {}).get(kind, {}).get(channel) is not None
    if not removed:
        flash("These words were already the built-in default.", "info")
    elif has_default:
        flash("Reset to the built-in default words.", "success")
    else:
        flash("The stored words are removed.", "success")
    return redirect(url_for(".edit_template", kind=kind, channel=channel, language=language))


@bp.post("/templates/preview")
@admin_required
def preview():
    """The subject and message rendered on sample data, or the template's error (role=alert):
    the editor's live preview posts here as you type."""
    channel = request.form.get("channel", "")
    # The checkbox is on the email editor only: unticked, it is absent from the form.
    include_details = channel != Channel.EMAIL.value or "include_details" in request.form
    rendered, error = _preview(request.form.get("subject", ""),
                               request.form.get("body_text", ""), channel, include_details)
    return render_template("admin/notifications/_preview.html", rendered=rendered, error=error,
                           channel=channel)


# --- announcements -----------------------------------------------------------------------------


@bp.route("/send", methods=["GET", "POST"])
@admin_required
def send():
    """Send an announcement to all patients, all doctors or one person, on the chosen
    channels. Announcements are news and offers: only patients who opted in receive them (the
    page says how many); each person's preferences still apply."""
    form = AnnouncementForm()
    if form.validate_on_submit():
        try:
            sent = announce(form.audience.data, form.email.data, form.title.data,
                            form.message.data, {Channel(c) for c in form.channels.data},
                            current_user)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            people = f"{sent.people} {'person' if sent.people == 1 else 'people'}"
            left_out = (f" {sent.left_out} patient{'' if sent.left_out == 1 else 's'} without "
                        "the news-and-offers consent left out." if sent.left_out else "")
            flash(f"Announcement sent to {people}: {sent.notifications} notification"
                  f"{'' if sent.notifications == 1 else 's'}.{left_out}", "success")
            return redirect(url_for(".send"))
    status = 422 if form.is_submitted() and (form.errors or form.form_errors) else 200
    return render_template("admin/notifications/send.html", form=form,
                           sizes=audience_sizes()), status
