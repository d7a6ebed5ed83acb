"""Decode one image file (JPEG, PNG, BMP, GIF, TIFF, WebP or DICOM) to 8-bit RGB.

Every failure a user can cause becomes an :class:`~engine.errors.ImageLoadError` naming the
file and the reason. Files are only ever read. Pillow's global settings are left alone: this
module checks its own size limit (:data:`~engine.imaging.pixels.MAX_PIXELS`) and never turns
on ``LOAD_TRUNCATED_IMAGES``, so a truncated file is always an error rather than a half-grey
picture.
"""

from __future__ import annotations

import logging
import re
import stat
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.errors import ImageLoadError
from engine.imaging.dicom import decode_dicom
from engine.imaging.pixels import (
    DECODE_ERRORS,
    HEADER_BYTES,
    has_dicom_magic,
    pixel_limit,
    scale_to_uint8,
    too_large,
)
from engine.imaging.walk import DICOM_SUFFIXES, os_reason

logger = logging.getLogger(__name__)

# Only these Pillow plugins may open a file: no EPS (runs Ghostscript), no exotic formats.
_PILLOW_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP")  # JPEG also opens MPO
_JPEG_FORMATS = frozenset({"JPEG", "MPO"})
_HIGH_DEPTH_MODES = frozenset({"I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")
_OTHER_MAGIC = {b"%PDF": "a PDF document", b"PK\x03\x04": "a ZIP archive",
                b"\x1f\x8b": "a gzip archive", b"8BPS": "a Photoshop file"}  # fmt: skip
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


def load_image(path: str | Path, *, min_side: int | None = None) -> Image.Image:
    """Decode an image file to an 8-bit RGB Pillow image.

    Args:
        path: a JPEG, PNG, BMP, GIF (first frame), TIFF (first page; 1-bit to 32-bit
            float), WebP or DICOM (first frame) file.
        min_side: the caller only needs the shorter side to be at least this many pixels.
            Large JPEGs then decode at 1/2, 1/4 or 1/8 scale (Pillow's draft mode) and
            other images are box-reduced by an integer factor, always keeping the shorter
            side >= ``min_side``. Smaller images are never enlarged. None: full size.

    Returns:
        A fully loaded image of mode ``"RGB"`` (uint8, 0..255 per channel), independent of
        the file, which is closed. EXIF orientation is applied; transparency is composited
        onto white; 16-bit, 32-bit and float data is stretched from the image's own
        min..max onto 0..255; DICOM gets its rescale, window (VOI) and MONOCHROME1 inversion.

    Raises:
        ImageLoadError: the file is missing, unreadable, empty, not a supported image,
            truncated or corrupt, or larger than :data:`MAX_PIXELS`.
        ValueError: ``min_side`` is not a positive int or None.
    """
    path = Path(path)
    if min_side is not None and (
        isinstance(min_side, bool) or not isinstance(min_side, int) or min_side < 1
    ):
        raise ValueError(f"min_side must be a positive int or None, got {min_side!r}")
    with _open_regular_file(path) as fh:
        header = fh.read(HEADER_BYTES)
        fh.seek(0)
        if path.suffix.lower() in DICOM_SUFFIXES or has_dicom_magic(header):
            image = decode_dicom(fh, path, header)
        else:
            image = _decode_pillow(fh, path, header, min_side)
    if min_side is not None and (factor := min(image.size) // min_side) >= 2:
        image = image.reduce(factor)
    return image


# --- opening and sniffing -------------------------------------------------------------


def _open_regular_file(path: Path) -> IO[bytes]:
    """Open ``path`` for reading after checking it is a non-empty regular file."""
    try:
        mode, size = (st := path.stat()).st_mode, st.st_size
    except OSError as exc:
        raise ImageLoadError(path, os_reason(exc)) from exc
    if stat.S_ISDIR(mode):
        raise ImageLoadError(path, "is a folder, not an image file")
    if not stat.S_ISREG(mode):
        raise ImageLoadError(path, "not a regular file (a pipe, socket or device)")
    if size == 0:
        raise ImageLoadError(path, "file is empty")
    try:
        return path.open("rb")
    except OSError as exc:
        raise ImageLoadError(path, os_reason(exc)) from exc


def _describe_unknown(header: bytes) -> str:
    """Say why Pillow could not identify a file, from its first bytes."""
    if header.startswith(_IMAGE_MAGIC) or (header[:4] == b"RIFF" and header[8:12] == b"WEBP"):
        return "image is truncated or corrupt"
    for magic, kind in _OTHER_MAGIC.items():
        if header.startswith(magic):
            return f"not a supported image (looks like {kind})"
    if header[4:8] == b"ftyp":
        return "not a supported image (HEIC, AVIF or video); convert it to JPEG or PNG"
    control = sum(1 for byte in header if byte < 32 and byte not in b"\t\n\f\r")
    if b"\x00" not in header and control <= len(header) // 100:
        return "not a supported image (looks like text)"
    return "not a supported image (unknown format)"


# --- Pillow formats ---------------------------------------------------------------------


def _decode_pillow(fh: IO[bytes], path: Path, header: bytes, min_side: int | None) -> Image.Image:
    # Pillow's DecompressionBombWarning (above ~89 MP) is left to the warnings module:
    # silencing it with catch_warnings() would race between decoding threads.
    try:
        image = Image.open(fh, formats=_PILLOW_FORMATS)
    except Image.DecompressionBombError as exc:
        found = _BOMB_PIXELS.search(str(exc))
        raise ImageLoadError(path, too_large(int(found[1]) if found else None)) from exc
    except UnidentifiedImageError as exc:
        raise ImageLoadError(path, _describe_unknown(header)) from exc
    except DECODE_ERRORS as exc:
        raise ImageLoadError(path, "image is truncated or corrupt") from exc
    width, height = image.size
    if width * height > pixel_limit():
        raise ImageLoadError(path, too_large(width * height))
    if min_side is not None and image.format in _JPEG_FORMATS:
        # Picks the largest 1/2^k scale that keeps both sides >= min_side.
        image.draft(None, (min_side, min_side))
    try:
        image.load()
    except MemoryError as exc:
        raise ImageLoadError(path, f"not enough memory to decode {width}x{height}") from exc
    except DECODE_ERRORS as exc:
        raise ImageLoadError(path, "image is truncated or corrupt") from exc
    oriented = _apply_exif_orientation(image, path)
    try:
        rgb = _to_rgb(oriented)
    except ValueError as exc:
        raise ImageLoadError(path, f"unsupported colour mode {oriented.mode!r}") from exc
    # A copy never shares its file pointer with the (soon closed) file.
    return rgb.copy() if rgb is image else rgb


def _apply_exif_orientation(image: Image.Image, path: Path) -> Image.Image:
    try:
        turned = ImageOps.exif_transpose(image)
    except DECODE_ERRORS as exc:
        logger.warning("%s: ignoring unreadable EXIF orientation (%s)", path, exc)
        return image
    return image if turned is None else turned


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> ``"RGB"``; alpha composited onto white; deep data stretched."""
    if image.mode in _HIGH_DEPTH_MODES:
        grey = scale_to_uint8(np.asarray(image))
        return Image.fromarray(np.repeat(grey[:, :, None], 3, axis=2))
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")
