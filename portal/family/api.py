"""Family API: the account holder's dependents, under /api/v1/me/dependents."""

from __future__ import annotations

import uuid

from flask import Blueprint
from flask_login import current_user

from portal.api import operation, parse_body, respond
from portal.clock import utcnow
from portal.family import service
from portal.family.schemas import DependentIn, DependentList, DependentOut, DependentPatch
from portal.roles import Role
from portal.security import roles_required

bp = Blueprint("family_api", __name__, url_prefix="/me/dependents")

patients_only = roles_required(Role.PATIENT)


def _out(dependent) -> DependentOut:
    return DependentOut.of(dependent, utcnow().date())


@bp.get("")
@patients_only
@operation("Your family members", tags=("family",), response=DependentList)
def list_dependents():
    return respond(DependentList(items=[_out(d) for d in service.dependents_of(current_user)]))


@bp.post("")
@patients_only
@operation("Add a family member", tags=("family",), body=DependentIn, response=DependentOut,
           status=201)
def add_dependent():
    data = parse_body(DependentIn)
    return respond(_out(service.add_dependent(current_user, service.DependentData(
        data.name, data.relation, data.date_of_birth, data.sex))), 201)


@bp.patch("/<uuid:dependent_id>")
@patients_only
@operation("Change a family member's details", tags=("family",), body=DependentPatch,
           response=DependentOut, errors=(404,))
def update_dependent(dependent_id: uuid.UUID):
    data = parse_body(DependentPatch)
    return respond(_out(service.update_dependent(current_user, dependent_id,
                                                 service.DependentData(
                                                     data.name, data.relation,
                                                     data.date_of_birth, data.sex))))


@bp.delete("/<uuid:dependent_id>")
@patients_only
@operation("Remove a family member", tags=("family",), status=204, errors=(404, 409),
           description="Refused while they have upcoming appointments.")
def remove_dependent(dependent_id: uuid.UUID):
    service.remove_dependent(current_user, dependent_id)
    return "", 204
