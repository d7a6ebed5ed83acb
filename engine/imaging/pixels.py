"""Pixel facts shared by every decoder: the size limit, the error types, deep-data scaling."""

from __future__ import annotations

import struct
import zlib

import numpy as np
from PIL import Image

MAX_PIXELS: int = 200_000_000
"""Largest image (width x height) ResLens decodes. Pillow's own bomb check
(``2 * PIL.Image.MAX_IMAGE_PIXELS``, about 179 MP by default) applies as well."""

HEADER_BYTES = 512
"""How much of a file is read to sniff its format."""
DICOM_MAGIC_AT = slice(128, 132)
"""Where a DICOM file (Part 10) has ``DICM``."""
# Pillow's plugins (and pydicom) report malformed data through many exception types.
DECODE_ERRORS = (
    OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError,
    struct.error, zlib.error,
)  # fmt: skip


def has_dicom_magic(header: bytes) -> bool:
    return header[DICOM_MAGIC_AT] == b"DICM"


def pixel_limit() -> int:
    """The effective size limit: ours, or Pillow's bomb error threshold if lower."""
    pillow = Image.MAX_IMAGE_PIXELS
    return MAX_PIXELS if pillow is None else min(MAX_PIXELS, 2 * pillow)


def too_large(pixels: int | None) -> str:
    """The reason given for an image over :func:`pixel_limit` (``pixels`` if known)."""

    def mp(count: int) -> str:
        return f"{count / 1e6:.1f}" if count < 10_000_000 else f"{count / 1e6:.0f}"

    size = "" if pixels is None else f"{mp(pixels)} megapixels; "
    return f"image is too large ({size}limit {mp(pixel_limit())} megapixels)"


def scale_to_uint8(values: np.ndarray) -> np.ndarray:
    """Stretch a numeric array of any shape from its finite min..max onto uint8 0..255.

    NaN and infinities become 0; a constant (or all non-finite) array becomes all 0.
    """
    data = values.astype(np.float32, copy=False)
    finite = np.isfinite(data)
    if not finite.any():
        return np.zeros(data.shape, dtype=np.uint8)
    low, high = float(data[finite].min()), float(data[finite].max())
    if high <= low:
        return np.zeros(data.shape, dtype=np.uint8)
    scaled = (data - low) * np.float32(255.0 / (high - low))
    scaled[~finite] = 0.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
