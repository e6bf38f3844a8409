"""Doctors' photos: who may set or remove one, and where its files live.

A photo is kept as square WebP files, one per size in PHOTO_SIZES, at
MEDIA_ROOT/doctors/<doctor id>/<version>-<size>.webp (`portal.media` decodes, cleans and stores
them). `Doctor.photo_version` names the current set; NULL means no photo, and pages show the
doctor's initials. Each new photo gets a higher version, so its URLs are new and the content of
a URL never changes: browsers and proxies may keep it for a year. The previous version's files
are deleted once the new version is committed.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from flask import current_app, url_for

from portal.auth.models import User
from portal.clock import utcnow
from portal.doctors.models import Doctor
from portal.doctors.service import doctor_to_manage
from portal.exceptions import ValidationFailed
from portal.extensions import db
from portal.media import storage
from portal.media.images import RejectedImage, square_renditions
from portal.transactions import write

log = logging.getLogger(__name__)

PHOTO_SIZES = (96, 256, 512)
# Decoded pixels at most (after JPEG's cheap downscaling): 25 million RGB pixels are ~75 MB
# while the photo is processed. A 24-megapixel camera's photo fits.
PHOTO_MAX_PIXELS = 25_000_000
NO_FILE = "Choose a photo to upload: a JPEG, PNG or WebP image."
# Versions count seconds from here (see _next_version); an int32 column lasts until 2094.
_VERSION_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Upload:
    """An uploaded file. Only `data` is trusted, once decoded: the name and the declared type
    are whatever the client said."""

    data: bytes
    filename: str = ""
    content_type: str = ""


class FileLike(Protocol):
    """werkzeug's FileStorage, as far as reading an upload goes."""

    filename: str | None
    mimetype: str

    def read(self, size: int = -1) -> bytes: ...


def read_upload(file: FileLike | None) -> Upload | None:
    """The upload in `file`, read up to one byte past PHOTO_MAX_BYTES (enough to tell that it is
    too large); None when no file was chosen (browsers send an empty part without a name)."""
    if file is None:
        return None
    data = file.read(current_app.config["PHOTO_MAX_BYTES"] + 1)
    if not data and not file.filename:
        return None
    return Upload(data, file.filename or "", file.mimetype or "")


def set_photo(user: User, doctor_id: uuid.UUID, upload: Upload | None) -> Doctor:
    """Make `upload` the doctor's photo, for the doctor themself or an admin.

    Raises NotFound for anyone else (as for a missing doctor), and ValidationFailed on `photo`
    when there is no file, or it is too large, or not a JPEG, PNG or WebP image.
    """
    doctor = doctor_to_manage(user, doctor_id)
    if upload is None:
        raise ValidationFailed({"photo": NO_FILE})
    config = current_app.config
    try:  # outside the transaction: decoding takes a while and needs no lock
        renditions = square_renditions(upload.data, PHOTO_SIZES,
                                       max_bytes=config["PHOTO_MAX_BYTES"],
                                       max_pixels=PHOTO_MAX_PIXELS)
    except RejectedImage as exc:
        raise ValidationFailed({"photo": str(exc)}) from exc
    root = config["MEDIA_ROOT"]
    written: list[str] = []
    try:
        with write():
            locked = _locked(doctor.id)
            previous = locked.photo_version
            version = _next_version(previous)
            files = {photo_key(locked.id, version, size): data
                     for size, data in renditions.items()}
            written = list(files)
            storage.write_files(root, files)
            locked.photo_version = version
    except BaseException:
        _discard(root, written)  # never committed: nothing points at them
        raise
    if previous is not None:
        _discard(root, photo_keys(locked.id, previous).values())
    return locked


def remove_photo(user: User, doctor_id: uuid.UUID) -> Doctor:
    """Remove the doctor's photo (pages show their initials again); nothing happens if there is
    none. For the doctor themself or an admin; anyone else gets NotFound."""
    doctor = doctor_to_manage(user, doctor_id)
    with write():
        locked = _locked(doctor.id)
        previous, locked.photo_version = locked.photo_version, None
    if previous is not None:
        _discard(current_app.config["MEDIA_ROOT"], photo_keys(locked.id, previous).values())
    return locked


def photo_key(doctor_id: uuid.UUID, version: int, size: int) -> str:
    """Where one size of one version of a doctor's photo lives, under MEDIA_ROOT."""
    return f"doctors/{doctor_id}/{version}-{size}.webp"


def photo_keys(doctor_id: uuid.UUID, version: int | None) -> dict[int, str]:
    """{size: key} of a version of a doctor's photo; empty for None (no photo)."""
    if version is None:
        return {}
    return {size: photo_key(doctor_id, version, size) for size in PHOTO_SIZES}


def photo_urls(doctor: Doctor, external: bool = False) -> dict[int, str]:
    """{size: URL} of the doctor's current photo, empty when there is none.

    Built with url_for, so it needs a request (or an app context with SERVER_NAME).
    """
    return {size: url_for("media.serve", key=key, _external=external)
            for size, key in photo_keys(doctor.id, doctor.photo_version).items()}


@dataclass(frozen=True)
class PhotoSources:
    """What an <img> needs to show a photo `width` CSS pixels wide on any screen."""

    src: str
    srcset: str
    width: int


def photo_sources(doctor: Doctor, width: int) -> PhotoSources | None:
    """The smallest file that covers `width` as `src`, every size in `srcset`; None when the
    doctor has no photo."""
    urls = photo_urls(doctor)
    if not urls:
        return None
    fallback = next((size for size in PHOTO_SIZES if size >= width), PHOTO_SIZES[-1])
    return PhotoSources(src=urls[fallback],
                        srcset=", ".join(f"{url} {size}w" for size, url in urls.items()),
                        width=width)


def _locked(doctor_id: uuid.UUID) -> Doctor:
    """The doctor's row, re-read and locked, so two uploads at once take turns."""
    return db.session.get(Doctor, doctor_id, with_for_update={"of": Doctor},
                          populate_existing=True)


def _next_version(previous: int | None) -> int:
    """Above the previous version, and above the versions the doctor had before a removal
    (their files are gone, but their URLs may still sit in caches for a year): the seconds
    since 2026, or the previous version plus one when that is higher.

    The column forgets the last version when a photo is removed, so the clock stands in for
    it. It falls short only for a photo removed and replaced within seconds of several
    replacements in the same second (each of those took a version ahead of the clock).
    """
    elapsed = int((utcnow() - _VERSION_EPOCH).total_seconds())
    return max((previous or 0) + 1, elapsed)


def _discard(root: str, keys) -> None:
    """Delete files no row points at. A failure leaves them behind and says so in the log:
    the change they belonged to is committed (or rolled back) either way."""
    try:
        storage.remove_files(root, keys)
    except OSError:
        log.warning("could not delete old photo files under %s", root, exc_info=True)
