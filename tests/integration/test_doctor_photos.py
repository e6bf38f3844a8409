"""Doctors' photos: an upload is decoded and encoded again, so only its pixels are kept. A
non-image, an oversized file and a decompression bomb are refused with a clear message, and a
script hidden in an image's metadata does not survive. Also covered: who may set a photo, how
the files are served, and the pages that show a photo or the doctor's initials.

Every image is made here with Pillow; no binary fixture is committed.
"""

from __future__ import annotations

import io
import re
import resource
import struct
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import ExifTags, Image, ImageCms, ImageFile, PngImagePlugin

from portal.auth.service import issue_api_token
from portal.doctors import photos
from portal.media.images import RejectedImage, square_renditions
from tests.integration.support import page_text, problem_errors, reload

SCRIPT = "<script>alert(1)</script>"
NOT_AN_IMAGE = "Upload a JPEG, PNG or WebP image."
MIB = 1024 * 1024
RED, BLUE = (220, 20, 20), (20, 20, 220)


@pytest.fixture(autouse=True)
def media_root(app, tmp_path, monkeypatch) -> Path:
    """Each test's photos go to a directory of its own."""
    root = tmp_path / "media"
    monkeypatch.setitem(app.config, "MEDIA_ROOT", str(root))
    return root


def bearer(user) -> dict:
    return {"Authorization": f"Bearer {issue_api_token(user)}"}


def upload(client, doctor, data: bytes, filename: str = "photo.jpg",
           content_type: str = "image/jpeg", *, as_user):
    """POST /api/v1/doctors/<id>/photo as `as_user`, with a bearer token."""
    return client.post(f"/api/v1/doctors/{doctor.id}/photo", headers=bearer(as_user),
                       data={"photo": (io.BytesIO(data), filename, content_type)},
                       content_type="multipart/form-data")


def stored(root: Path) -> list[str]:
    """Every file under the media root, as keys."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# --- images made for the tests -----------------------------------------------------------------


def two_tone(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """Left half red, right half blue, so a turn or a crop shows in the pixels."""
    image = Image.new("RGB", (width, height), BLUE)
    image.paste(RED, (0, 0, width // 2, height))
    return image.convert(mode) if mode != "RGB" else image


def jpeg_with_metadata() -> bytes:
    """A camera-like JPEG, stored landscape and turned upright by EXIF orientation 6, whose
    EXIF holds a GPS position and a script (ImageDescription, UserComment), plus a script in its
    XMP and its comment, and an ICC profile."""
    exif = Image.Exif()
    exif[ExifTags.Base.ImageDescription] = SCRIPT
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "PhoneCam"
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.UserComment] = b"ASCII\0\0\0" + SCRIPT.encode()
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (12.0, 58.0, 17.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (77.0, 35.0, 40.0)
    xmp = (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><dc:description>{SCRIPT}'
           "</dc:description></rdf:RDF></x:xmpmeta>").encode()
    buffer = io.BytesIO()
    two_tone(600, 400).save(buffer, "JPEG", quality=90, exif=exif, xmp=xmp,
                            comment=SCRIPT.encode(), icc_profile=ImageCms.ImageCmsProfile(
                                ImageCms.createProfile("sRGB")).tobytes())
    data = buffer.getvalue()
    # The file really carries all that: otherwise the test below would prove nothing.
    with Image.open(io.BytesIO(data)) as check:
        assert check.getexif().get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] == "N"
        assert {"exif", "xmp", "comment", "icc_profile"} <= set(check.info)
    assert data.count(SCRIPT.encode()) >= 3
    return data


def png_with_text() -> bytes:
    """A half-transparent PNG with a script in tEXt, zTXt and iTXt chunks."""
    image = two_tone(300, 200, "RGBA")
    image.putalpha(Image.new("L", image.size, 255))
    image.paste((0, 0, 0, 0), (0, 0, 300, 40))  # a transparent band at the top
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", SCRIPT)
    info.add_text("Description", SCRIPT, zip=True)
    info.add_itxt("Software", SCRIPT, lang="en")
    buffer = io.BytesIO()
    image.save(buffer, "PNG", pnginfo=info)
    data = buffer.getvalue()
    assert SCRIPT.encode() in data
    return data


def png_declaring(width: int, height: int) -> bytes:
    """A PNG of a few hundred bytes whose header declares `width` x `height` grey pixels: the
    data holds four rows of them, which no reader ever gets to."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * (width + 1) * 4)) + chunk(b"IEND", b""))


def encoded(image: Image.Image, kind: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()


def assert_only_pixels(path: Path, size: int) -> Image.Image:
    """The stored file is a WebP of `size` x `size` RGB pixels and nothing else."""
    raw = path.read_bytes()
    assert raw[:4] == b"RIFF"
    assert raw[8:12] == b"WEBP"
    for chunk in (b"EXIF", b"XMP ", b"ICCP"):
        assert chunk not in raw, f"{path.name} has a {chunk!r} chunk"
    for trace in (SCRIPT.encode(), b"alert(1)", b"PhoneCam", b"GPS", b"xmpmeta"):
        assert trace not in raw, f"{path.name} still holds {trace!r}"
    image = Image.open(io.BytesIO(raw))
    assert (image.format, image.size, image.mode) == ("WEBP", (size, size), "RGB")
    assert not image.getexif()
    assert not set(image.info) & {"exif", "xmp", "icc_profile", "comment"}
    return image


def near(pixel, colour, tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=False))


# --- what is kept of an upload ------------------------------------------------------------------


def test_a_jpeg_with_a_gps_position_and_scripts_in_its_metadata_keeps_only_its_pixels(
        client, factory, media_root):
    doctor = factory.create_doctor(hours=(), name="Dr. Asha Mehta")

    response = upload(client, doctor, jpeg_with_metadata(), as_user=doctor.user)

    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    version = reload(doctor).photo_version
    assert version is not None
    assert set(body["photo_urls"]) == {"96", "256", "512"}
    assert body["photo_url"] == body["photo_urls"]["512"]
    assert body["photo_url"].endswith(f"/media/doctors/{doctor.id}/{version}-512.webp")
    assert stored(media_root) == [f"doctors/{doctor.id}/{version}-{size}.webp"
                                  for size in (256, 512, 96)]
    for size in photos.PHOTO_SIZES:
        image = assert_only_pixels(media_root / photos.photo_key(doctor.id, version, size), size)
        # Stored landscape with its left half red, shown upright (orientation 6 turns it a
        # quarter clockwise): red on top, blue below, in the centred square.
        assert near(image.getpixel((size // 2, size // 10)), RED)
        assert near(image.getpixel((size // 2, size - size // 10)), BLUE)


def test_a_png_with_a_script_in_its_text_chunks_is_cleaned(client, factory, media_root):
    doctor = factory.create_doctor(hours=())
    client.login(doctor.user.email)

    response = client.post_form(f"/doctors/{doctor.id}/photo", {
        "photo": (io.BytesIO(png_with_text()), "portrait.png", "image/png"),
        "next": "/dashboard"}, content_type="multipart/form-data")

    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"
    version = reload(doctor).photo_version
    image = assert_only_pixels(media_root / photos.photo_key(doctor.id, version, 256), 256)
    assert near(image.getpixel((128, 2)), (255, 255, 255))  # transparency: on white
    assert near(image.getpixel((20, 200)), RED)
    assert near(image.getpixel((236, 200)), BLUE)
    assert "Photo saved" in page_text(client.get("/dashboard"))


@pytest.mark.parametrize("name", ["webp-with-broken-exif", "grey-16-bit-png", "cmyk-jpeg",
                                  "palette-png"])
def test_every_kind_of_jpeg_png_and_webp_comes_out_as_rgb_webp(name):
    source = {
        "webp-with-broken-exif": lambda: encoded(two_tone(120, 90), "WEBP",
                                                 exif=b"Exif\0\0" + SCRIPT.encode()),
        "grey-16-bit-png": lambda: encoded(Image.new("I;16", (90, 90), 40_000), "PNG"),
        "cmyk-jpeg": lambda: encoded(two_tone(90, 90, "CMYK"), "JPEG"),
        "palette-png": lambda: encoded(two_tone(90, 90, "P"), "PNG", transparency=0),
    }[name]()

    files = square_renditions(source, (96, 32), max_bytes=MIB, max_pixels=10**6)

    assert sorted(files) == [32, 96]
    for size, data in files.items():
        image = Image.open(io.BytesIO(data))
        assert (image.format, image.size, image.mode) == ("WEBP", (size, size), "RGB")
        assert SCRIPT.encode() not in data
    if name == "grey-16-bit-png":  # 40,000 of 65,535 is a mid grey, not clipped to white
        assert 140 < Image.open(io.BytesIO(files[32])).getpixel((16, 16))[0] < 170


# --- what is refused ----------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "filename", "content_type"), [
    (b"Dear doctor, this is not a picture.\n", "photo.jpg", "image/jpeg"),
    (b"", "empty.png", "image/png"),
    (f'<svg xmlns="http://www.w3.org/2000/svg"><script>{SCRIPT}</script></svg>'.encode(),
     "photo.svg", "image/svg+xml"),
    (encoded(two_tone(40, 40), "GIF"), "photo.gif", "image/gif"),
    (encoded(two_tone(40, 40), "BMP"), "photo.jpg", "image/jpeg"),
    (encoded(two_tone(400, 400), "JPEG")[:600], "half.jpg", "image/jpeg"),
], ids=["text-named-jpg", "empty", "svg", "gif", "bmp-named-jpg", "truncated-jpeg"])
def test_a_file_that_is_not_a_jpeg_png_or_webp_is_refused(client, factory, media_root, data,
                                                          filename, content_type):
    doctor = factory.create_doctor(hours=())

    response = upload(client, doctor, data, filename, content_type, as_user=doctor.user)

    assert response.status_code == 422
    assert problem_errors(response) == {"photo": NOT_AN_IMAGE}
    assert reload(doctor).photo_version is None
    assert stored(media_root) == []


def test_an_upload_without_a_file_asks_for_one(client, factory):
    doctor = factory.create_doctor(hours=())

    response = client.post(f"/api/v1/doctors/{doctor.id}/photo", headers=bearer(doctor.user),
                           json={"photo": "not a file"})

    assert response.status_code == 422
    assert problem_errors(response) == {"photo": photos.NO_FILE}


def test_a_file_over_5_mb_is_refused_and_a_far_larger_body_is_not_even_read(
        client, factory, media_root):
    doctor = factory.create_doctor(hours=())
    just_over = b"\xff\xd8\xff" + b"\0" * (5 * MIB - 2)
    assert len(just_over) == 5 * MIB + 1

    response = upload(client, doctor, just_over, as_user=doctor.user)

    assert response.status_code == 422
    message = problem_errors(response)["photo"]
    assert message.startswith("The photo is larger than 5 MB;")

    far_larger = upload(client, doctor, b"\0" * (8 * MIB), as_user=doctor.user)

    assert far_larger.status_code == 413
    assert far_larger.mimetype == "application/problem+json"
    assert reload(doctor).photo_version is None
    assert stored(media_root) == []


@pytest.mark.parametrize(("width", "height"), [(30_000, 30_000), (8_000, 8_000)],
                         ids=["past-pillows-own-limit", "past-ours"])
def test_a_decompression_bomb_is_refused_without_decoding_it(client, factory, monkeypatch,
                                                             width, height):
    doctor = factory.create_doctor(hours=())
    bomb = png_declaring(width, height)
    assert len(bomb) < 2_000  # for 900 million pixels (or 64 million)
    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda image: decoded.append(image))
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux

    response = upload(client, doctor, bomb, "tiny.png", "image/png", as_user=doctor.user)

    assert response.status_code == 422
    assert "million pixels" in problem_errors(response)["photo"]
    assert decoded == [], "the pixels were decoded"
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    assert grown < 50 * 1024, f"the process grew by {grown} KiB"  # decoding: 64 MB to 2.7 GB


def test_an_html_upload_that_is_refused_says_why_on_the_page_it_came_from(client, factory):
    doctor = factory.create_doctor(hours=())
    client.login(doctor.user.email)

    response = client.post_form(f"/doctors/{doctor.id}/photo", {
        "photo": (io.BytesIO(b"plain text"), "photo.jpg", "image/jpeg"),
        "next": "/dashboard"}, content_type="multipart/form-data", follow_redirects=True)

    assert response.status_code == 200
    assert re.search(r'class="flash flash-error" role="alert">Upload a JPEG, PNG or WebP image.<',
                     page_text(response))
    assert reload(doctor).photo_version is None


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example",
                                    "javascript:alert(1)"])
def test_the_form_goes_back_only_to_a_page_of_this_site(client, factory, target):
    doctor = factory.create_doctor(hours=())
    client.login(doctor.user.email)

    response = client.post_form(f"/doctors/{doctor.id}/photo/delete", {"next": target})

    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"


# --- who may --------------------------------------------------------------------------------------


def test_only_the_doctor_and_admins_may_set_or_remove_a_doctors_photo(client, factory,
                                                                      new_client, media_root):
    doctor, other_doctor = factory.create_doctor(hours=()), factory.create_doctor(hours=())
    patient, admin = factory.create_patient(), factory.create_admin()
    jpeg = encoded(two_tone(64, 64), "JPEG")

    for stranger in (other_doctor.user, patient):
        assert upload(client, doctor, jpeg, as_user=stranger).status_code == 404
        assert client.delete(f"/api/v1/doctors/{doctor.id}/photo",
                             headers=bearer(stranger)).status_code == 404
        browser = new_client()
        browser.login(stranger.email)
        for url in (f"/doctors/{doctor.id}/photo", f"/doctors/{doctor.id}/photo/delete"):
            assert browser.post_form(url, {"photo": (io.BytesIO(jpeg), "p.jpg")},
                                     content_type="multipart/form-data").status_code == 404
        assert browser.get(f"/doctors/{doctor.id}/photo").status_code == 404
    visitor = client.post(f"/api/v1/doctors/{doctor.id}/photo",
                          data={"photo": (io.BytesIO(jpeg), "p.jpg")})
    assert visitor.status_code == 401
    assert reload(doctor).photo_version is None
    assert stored(media_root) == []

    assert upload(client, doctor, jpeg, as_user=admin).status_code == 200
    assert reload(doctor).photo_version is not None
    removed = client.delete(f"/api/v1/doctors/{doctor.id}/photo", headers=bearer(doctor.user))
    assert removed.status_code == 200
    assert removed.get_json() == {"doctor_id": str(doctor.id), "photo_url": None,
                                  "photo_urls": None}


def test_an_admin_sets_a_photo_from_the_doctors_photo_page(client, factory):
    doctor, admin = factory.create_doctor(hours=(), name="Dr. Rohan Iyer"), factory.create_admin()
    client.login(admin.email)
    listing = page_text(client.get("/admin/doctors"))
    assert f'href="/doctors/{doctor.id}/photo"' in listing

    page = page_text(client.get(f"/doctors/{doctor.id}/photo"))
    assert '<h1>Dr. Rohan Iyer</h1>' in page
    assert 'accept="image/jpeg,image/png,image/webp"' in page
    assert "Remove photo" not in page
    response = client.post_form(f"/doctors/{doctor.id}/photo", {
        "photo": (io.BytesIO(encoded(two_tone(64, 64), "PNG")), "p.png"),
        "next": f"/doctors/{doctor.id}/photo"}, content_type="multipart/form-data",
        follow_redirects=True)

    assert "Photo saved" in page_text(response)
    assert "Remove photo" in page_text(response)
    assert reload(doctor).photo_version is not None


# --- serving --------------------------------------------------------------------------------------


def test_a_photo_is_served_with_its_type_and_cached_for_a_year(client, factory, media_root):
    doctor = factory.create_doctor(hours=())
    urls = upload(client, doctor, encoded(two_tone(64, 64), "JPEG"),
                  as_user=doctor.user).get_json()["photo_urls"]

    response = client.get(urls["256"])

    assert response.status_code == 200
    assert response.mimetype == "image/webp"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert Image.open(io.BytesIO(response.data)).size == (256, 256)
    again = client.get(urls["256"], headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_only_stored_photos_are_served(client, factory, media_root):
    doctor = factory.create_doctor(hours=())
    upload(client, doctor, encoded(two_tone(64, 64), "JPEG"), as_user=doctor.user)
    (media_root / "notes.txt").write_text("private")
    (media_root / ".half.webp.part").write_bytes(b"RIFF")
    outside = media_root.parent / "secret.webp"
    outside.write_bytes(b"RIFF")

    for path in (f"/media/doctors/{doctor.id}/999-256.webp", "/media/notes.txt",
                 "/media/.half.webp.part", "/media/../secret.webp", "/media/%2e%2e/secret.webp",
                 "/media/doctors/..%2f..%2fsecret.webp", f"/media/{outside}",
                 f"/media/doctors/{doctor.id}"):
        assert client.get(path, follow_redirects=True).status_code == 404, path


# --- pages ----------------------------------------------------------------------------------------


def test_the_directory_and_the_doctors_page_show_the_photo_or_the_initials(client, factory):
    mehta = factory.create_doctor(hours=(), name="Dr. Asha Mehta")
    nair = factory.create_doctor(hours=(), name="Dr. Priya Nair")
    upload(client, mehta, encoded(two_tone(64, 64), "JPEG"), as_user=mehta.user)
    version = reload(mehta).photo_version
    base = f"/media/doctors/{mehta.id}/{version}"

    directory = page_text(client.get("/doctors/"))
    assert re.search(rf'<img class="avatar avatar-64" src="{base}-96.webp"\s+'
                     rf'srcset="{base}-96.webp 96w, {base}-256.webp 256w, {base}-512.webp 512w"'
                     r'\s+sizes="64px" width="64" height="64" alt="Photo of Dr. Asha Mehta"'
                     r'\s+loading="lazy" decoding="async">', directory)
    assert re.search(r'<span class="avatar avatar-64 avatar-initials" role="img"\s+'
                     r'aria-label="Initials of Dr. Priya Nair \(no photo\)">PN</span>', directory)

    with_photo = page_text(client.get(f"/doctors/{mehta.id}"))
    assert re.search(rf'<img class="avatar avatar-128" src="{base}-256.webp"[^>]*'
                     r'alt="Photo of Dr. Asha Mehta"\s+decoding="async">', with_photo)
    without = page_text(client.get(f"/doctors/{nair.id}"))
    assert 'aria-label="Initials of Dr. Priya Nair (no photo)">PN</span>' in without
    assert "<img" not in without

    api = {d["name"]: d for d in client.get("/api/v1/doctors").get_json()["items"]}
    assert api["Dr. Asha Mehta"]["photo_url"] == f"http://localhost{base}-512.webp"
    assert api["Dr. Priya Nair"]["photo_url"] is None
    assert api["Dr. Priya Nair"]["photo_urls"] is None


def test_the_doctors_dashboard_has_the_photo_form(client, factory):
    doctor = factory.create_doctor(hours=(), name="Dr. Tara Bose")
    client.login(doctor.user.email)

    page = page_text(client.get("/dashboard"))

    assert re.search(rf'<form method="post" action="/doctors/{doctor.id}/photo"\s+'
                     r'enctype="multipart/form-data">', page)
    assert 'type="file" name="photo" accept="image/jpeg,image/png,image/webp"' in page
    assert '<input type="hidden" name="next" value="/dashboard">' in page
    assert 'aria-label="Initials of Dr. Tara Bose (no photo)">TB</span>' in page
    assert "Remove photo" not in page


# --- versions -------------------------------------------------------------------------------------


def test_a_new_photo_replaces_the_old_files_and_a_removed_photos_urls_are_never_reused(
        client, factory, media_root, frozen_clock):
    frozen_clock.freeze(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    doctor = factory.create_doctor(hours=())
    first = upload(client, doctor, encoded(two_tone(64, 64), "JPEG"),
                   as_user=doctor.user).get_json()
    old = reload(doctor).photo_version

    second = upload(client, doctor, encoded(two_tone(80, 80), "PNG"),
                    as_user=doctor.user).get_json()

    new = reload(doctor).photo_version
    assert new > old
    assert stored(media_root) == sorted(photos.photo_keys(doctor.id, new).values())
    assert client.get(first["photo_url"]).status_code == 404
    assert client.get(second["photo_url"]).status_code == 200

    client.delete(f"/api/v1/doctors/{doctor.id}/photo", headers=bearer(doctor.user))
    assert reload(doctor).photo_version is None
    assert stored(media_root) == []
    assert not (media_root / "doctors" / str(doctor.id)).exists()

    frozen_clock.advance(timedelta(seconds=30))
    third = upload(client, doctor, encoded(two_tone(64, 64), "JPEG"),
                   as_user=doctor.user).get_json()
    assert reload(doctor).photo_version > new  # browsers may still hold the old URLs
    assert third["photo_url"] not in (first["photo_url"], second["photo_url"])


def test_a_photo_that_fails_to_save_leaves_the_previous_one(client, factory, media_root,
                                                            monkeypatch):
    doctor = factory.create_doctor(hours=())
    first = upload(client, doctor, encoded(two_tone(64, 64), "JPEG"), as_user=doctor.user)
    kept = stored(media_root)

    def full_disk(root, files):
        first = Path(root) / next(iter(files))  # one file half written, then the disk is full
        first.write_bytes(b"RIFF")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(photos.storage, "write_files", full_disk)
    failed = upload(client, doctor, encoded(two_tone(80, 80), "JPEG"), as_user=doctor.user)

    assert failed.status_code == 500
    assert stored(media_root) == kept
    assert client.get(first.get_json()["photo_url"]).status_code == 200


def test_the_pure_functions_refuse_before_decoding():
    with pytest.raises(RejectedImage, match="larger than 1 MB"):
        square_renditions(b"\0" * (MIB + 1), (96,), max_bytes=MIB, max_pixels=10**6)
    with pytest.raises(RejectedImage, match=r"more than 0\.01 million pixels"):
        square_renditions(encoded(two_tone(200, 200), "PNG"), (96,), max_bytes=MIB,
                          max_pixels=10_000)
