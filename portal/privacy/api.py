"""Privacy API: your consents, under /api/v1/me/consents."""

from __future__ import annotations

from flask import Blueprint
from flask_login import current_user

from portal.api import operation, parse_body, respond
from portal.privacy import consents
from portal.privacy.schemas import ConsentList, ConsentOut, ConsentsIn
from portal.security import login_required

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
