"""Decode an uploaded image and encode it again as square WebP files that carry only pixels.

The upload is decoded by Pillow as JPEG, PNG or WebP, whatever its file name or declared type
says. It is turned upright by its EXIF orientation, converted to sRGB, put on white where it is
transparent, cropped to a centred square and encoded again at each size. Nothing else is copied:
not the EXIF (GPS position included), XMP, ICC profile or JPEG comment, and not the PNG text
chunks. So nothing a camera or an attacker put there reaches a page.

Pure functions: bytes in, bytes out, no Flask.
"""

from __future__ import annotations

import contextlib
import io
import struct
from collections.abc import Iterable

from PIL import Image, ImageCms, ImageOps

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
WEBP_QUALITY = 82
BACKGROUND = (255, 255, 255)  # under transparent pixels
_SRGB = ImageCms.createProfile("sRGB")
_SIXTEEN_BIT_GREY = {"I", "I;16", "I;16L", "I;16B", "I;16N"}

NOT_AN_IMAGE = "Upload a JPEG, PNG or WebP image."
# What Pillow may raise on a file that starts like an image and then turns out broken
# (truncated data, bad chunk lengths, bad Huffman tables, a zTXt chunk that inflates too far).
_UNREADABLE = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)


class RejectedImage(Exception):
    """The upload is not an image we take. The message says why, for the person uploading."""


def too_large_message(max_bytes: int) -> str:
    return (f"The photo is larger than {_megabytes(max_bytes)}; choose a smaller one or save "
            "it at a lower resolution, then upload it again.")


def too_many_pixels_message(max_pixels: int) -> str:
    return (f"The image has more than {max_pixels / 1_000_000:g} million pixels; save it at a "
            "lower resolution and upload it again.")


def square_renditions(data: bytes, sizes: Iterable[int], *, max_bytes: int,
                      max_pixels: int) -> dict[int, bytes]:
    """WebP files of the image in `data`, cropped to a centred square, one per size in pixels.

    Raises RejectedImage when `data` is larger than `max_bytes`, is not a JPEG, PNG or WebP
    image that decodes, or would decode to more than `max_pixels` pixels. The pixel count comes
    from the header, before any pixel is decoded, so a small file that declares a huge image
    (a decompression bomb) is refused without using memory.
    """
    if len(data) > max_bytes:
        raise RejectedImage(too_large_message(max_bytes))
    wanted = sorted(set(sizes))
    square = _decoded_square(data, max_pixels, wanted[-1])
    return {size: _webp(square, size) for size in wanted}


def _decoded_square(data: bytes, max_pixels: int, largest: int) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
            # JPEG only (a no-op for the others): decode at 1/2, 1/4 or 1/8 scale when that
            # still covers the largest size, so a 48-megapixel photo costs a fraction.
            image.draft("RGB", (largest, largest))
            width, height = image.size
            if width < 1 or height < 1:
                raise RejectedImage(NOT_AN_IMAGE)
            if width * height > max_pixels:
                raise RejectedImage(too_many_pixels_message(max_pixels))
            image.load()
            upright = _upright_srgb(image)
    except Image.DecompressionBombError as exc:  # Pillow's own limit, past ours
        raise RejectedImage(too_many_pixels_message(max_pixels)) from exc
    except _UNREADABLE as exc:  # UnidentifiedImageError (not one of the three) is an OSError
        raise RejectedImage(NOT_AN_IMAGE) from exc
    side = min(upright.size)
    left, top = (upright.width - side) // 2, (upright.height - side) // 2
    square = upright.crop((left, top, left + side, top + side))
    square.info = {}  # pixels only from here on
    return square


def _upright_srgb(image: Image.Image) -> Image.Image:
    """An 8-bit RGB copy of `image`, turned by its EXIF orientation, in sRGB, on white."""
    profile = image.info.get("icc_profile")
    try:
        image = ImageOps.exif_transpose(image)  # a copy, upright
    except _UNREADABLE:  # EXIF that does not parse: the pixels are fine, as they are stored
        image = image.copy()
    if image.mode in _SIXTEEN_BIT_GREY:
        # 16-bit grey PNGs: Pillow would clip every value above 255 to white.
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
            image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.new("RGB", rgba.size, BACKGROUND)
        image.paste(rgba, mask=rgba.getchannel("A"))
    if profile and image.mode in ("RGB", "CMYK", "L"):
        # An unusable profile (broken, or for another colour space): keep the pixels as they are.
        with contextlib.suppress(ImageCms.PyCMSError, OSError, ValueError, TypeError):
            image = ImageCms.profileToProfile(image, ImageCms.ImageCmsProfile(io.BytesIO(
                profile)), _SRGB, outputMode="RGB")
    return image.convert("RGB")


def _webp(square: Image.Image, size: int) -> bytes:
    scaled = (square.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
              if square.size != (size, size) else square.copy())
    scaled.info = {}
    buffer = io.BytesIO()
    scaled.save(buffer, "WEBP", quality=WEBP_QUALITY, method=4)
    return buffer.getvalue()


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"
