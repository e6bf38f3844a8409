"""GET /media/<key>: the stored files, cached for a year.

A file's key changes whenever its content does (a doctor's new photo has a new version in its
name), so browsers and proxies may keep each response for a year without asking again. Only
finished files of the types we store are served: temporary files (".name.part") and anything
else under the root answer 404, and no key reaches outside MEDIA_ROOT.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from flask import Blueprint, abort, current_app, send_from_directory

bp = Blueprint("media", __name__, url_prefix="/media")

SERVED_TYPES = {".webp": "image/webp"}
A_YEAR = 365 * 24 * 3600
CACHE_CONTROL = f"public, max-age={A_YEAR}, immutable"


@bp.get("/<path:key>")
def serve(key: str):
    """One stored file (404 for anything missing, hidden or of another type)."""
    path = PurePosixPath(key)
    mimetype = SERVED_TYPES.get(path.suffix)
    if mimetype is None or any(part.startswith(".") for part in path.parts):
        abort(404)
    # send_from_directory refuses keys that leave the directory ("..", absolute) with a 404.
    response = send_from_directory(current_app.config["MEDIA_ROOT"], key, mimetype=mimetype,
                                   max_age=A_YEAR, conditional=True)
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response
