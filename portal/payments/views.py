"""Payment pages (being built): checkout hand-off, the return from checkout, receipts."""

from __future__ import annotations

import uuid

from flask import Blueprint, abort

bp = Blueprint("payments", __name__, url_prefix="/payments")


@bp.route("/<uuid:payment_id>/callback", methods=["GET", "POST"])
def callback(payment_id: uuid.UUID):
    """Where Checkout hands back its signed fields (page follows)."""
    abort(404)
