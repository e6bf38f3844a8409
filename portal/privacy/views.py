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

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.privacy import consents
from portal.privacy.forms import ConsentForm
from portal.privacy.models import ConsentKind
from portal.security import login_required
from portal.web import render_page

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
    return render_page("privacy/index.html", block="consents", form=form,
                       states={s.kind.value: s for s in consents.current(user)},
                       message=message, **_texts()), status


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
