"""Notification pages: the bell in the header, the inbox and the settings page.

Endpoints (blueprint `notifications`, under /notifications; logged-in users only):
  inbox     GET  /               in-app notifications, newest first (?page=)
  count     GET  /count          the bell's badge, and its latest five out of band (HTMX polls it)
  read      POST /<id>/read      mark one of your notifications read (another's: 404)
  read_all  POST /read-all       mark all of yours read
  settings  GET, POST /settings  language, reminder times, which types go out on which channel

The two POSTs answer HTMX with the inbox list and `HX-Trigger: notifications-changed` (the bell
listens for it); without JavaScript they redirect back to the inbox page they came from.
The template global `notification_bell()` feeds templates/notifications/_bell.html.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from portal.auth.models import Role
from portal.exceptions import ValidationFailed
from portal.notifications import inbox as in_app
from portal.notifications.forms import CHANNEL_LABELS, ChannelGrid, PreferencesForm, type_label
from portal.notifications.models import NotificationLog
from portal.notifications.preferences import preferences_for, update_preferences
from portal.notifications.templates import offered_pairs
from portal.security import login_required
from portal.web import apply_errors, page_number, render_page

bp = Blueprint("notifications", __name__, url_prefix="/notifications")

PER_PAGE = 20
BELL_LATEST = 5
CHANGED = "notifications-changed"  # the event the bell refreshes on


@dataclass(frozen=True)
class Bell:
    unread: int
    latest: list[NotificationLog]


@bp.app_template_global()
def notification_bell() -> Bell | None:
    """The bell's data for the logged-in user (None for visitors)."""
    if not current_user.is_authenticated:
        return None
    return Bell(in_app.unread_count(current_user.id),
                in_app.inbox(current_user.id, limit=BELL_LATEST))


@bp.app_template_filter("notification_href")
def notification_href(link: str | None) -> str | None:
    """Where a notification leads, as a link on this site: our own absolute links (built from
    PUBLIC_URL for emails) become paths, so they work on whatever host serves the page. Only
    http(s) URLs and site paths are links; anything else is shown as text."""
    if not link:
        return None
    base = current_app.config["PUBLIC_URL"].rstrip("/")
    if link.startswith(base + "/"):
        link = link[len(base):]
    if link.startswith("/") and not link.startswith("//"):
        return link
    if link.startswith(("https://", "http://")):
        return link
    return None


@bp.app_template_filter("notification_kind")
def notification_kind(kind: str) -> str:
    return type_label(kind)


@bp.app_template_filter("channel_label")
def channel_label(channel: str) -> str:
    return CHANNEL_LABELS.get(channel, channel)


def _inbox_context(page: int, message: str = "") -> dict:
    rows = in_app.inbox(current_user.id, limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE)
    return {"items": rows[:PER_PAGE], "page": page, "has_next": len(rows) > PER_PAGE,
            "unread": in_app.unread_count(current_user.id), "message": message}


@bp.get("/")
@login_required
def inbox():
    """Your in-app notifications, newest first, 20 a page; unread ones are marked."""
    page = page_number(request.args.get("page"))
    return render_page("notifications/inbox.html", block="inbox", **_inbox_context(page))


@bp.get("/count")
def count():
    """The bell's unread badge, plus its latest five (hx-swap-oob). HTMX polls this every 30 s
    and on `notifications-changed`. A visitor (a session that ended) stops the polling (286)."""
    if not current_user.is_authenticated:
        if getattr(request, "htmx", False):
            return "", 286
        return redirect(url_for("auth.login", next=url_for(".inbox")))
    return render_template("notifications/_bell_count.html", bell=notification_bell(), oob=True)


def _after_change(page: int, message: str):
    """HTMX: the inbox list, and tell the bell. Plain form: back to the same inbox page."""
    if getattr(request, "htmx", False):
        response = make_response(render_page("notifications/inbox.html", block="inbox",
                                             **_inbox_context(page, message)))
        response.headers["HX-Trigger"] = CHANGED
        return response
    flash(message, "success")
    return redirect(url_for(".inbox", page=page) if page > 1 else url_for(".inbox"))


@bp.post("/<uuid:log_id>/read")
@login_required
def read(log_id: uuid.UUID):
    """Mark one of your in-app notifications read. Raises NotFound for anyone else's."""
    in_app.get_in_app(current_user.id, log_id)
    in_app.mark_read(current_user.id, log_id)
    return _after_change(page_number(request.form.get("page")), "Marked as read.")


@bp.post("/read-all")
@login_required
def read_all():
    """Mark every in-app notification of yours read."""
    in_app.mark_read(current_user.id)
    return _after_change(page_number(request.form.get("page")),
                         "All notifications are marked as read.")


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings():
    """Language, reminder times (patients) and the type x channel grid. Errors come back next
    to their fields with 422; a save redirects here with a message."""
    prefs = preferences_for(current_user.id)
    offsets = list(prefs.reminder_offsets or [])
    form = PreferencesForm(offsets=offsets,
                           data={"language": prefs.language, "reminder_offsets": offsets})
    has_reminders = current_user.role == Role.PATIENT
    if not has_reminders:
        del form.reminder_offsets
    grid = ChannelGrid(current_user.role, prefs, offered_pairs(),
                       request.form if form.is_submitted() else None)
    if form.validate_on_submit():
        try:
            update_preferences(
                current_user, language=form.language.data,
                reminder_offsets=form.reminder_offsets.data if has_reminders else None,
                channels_=grid.as_preferences())
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            flash("Your notification settings are saved.", "success")
            return redirect(url_for(".settings"))
    status = 422 if form.is_submitted() and (form.errors or form.form_errors) else 200
    return render_template("notifications/settings.html", form=form, grid=grid,
                           has_reminders=has_reminders), status
