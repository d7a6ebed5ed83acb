"""DICOM decoding: first frame -> 8-bit RGB, the way a radiology viewer would show it.

Modality LUT (rescale slope/intercept) first, then the VOI window when the file has one,
otherwise the image's own range; MONOCHROME1 is inverted; colour and palette images become
RGB. pydicom is imported only when a DICOM file is actually opened.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np
from PIL import Image

from engine.errors import ImageLoadError
from engine.imaging.pixels import (
    DECODE_ERRORS,
    DICOM_MAGIC_AT,
    pixel_limit,
    scale_to_uint8,
    too_large,
)

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

logger = logging.getLogger(__name__)


def decode_dicom(fh: IO[bytes], path: Path, header: bytes) -> Image.Image:
    import pydicom
    from pydicom.errors import InvalidDicomError

    has_magic = header[DICOM_MAGIC_AT] == b"DICM"
    try:
        ds = pydicom.dcmread(fh, force=not has_magic)
    except (InvalidDicomError, *DECODE_ERRORS) as exc:
        raise ImageLoadError(path, "not a valid DICOM file") from exc
    if not any(key in ds for key in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        dicom_like = has_magic or "SOPClassUID" in ds
        reason = "DICOM file holds no image (no pixel data)" if dicom_like else "not a DICOM file"
        raise ImageLoadError(path, reason)
    _guess_transfer_syntax(ds)
    rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    if rows * columns > pixel_limit():
        raise ImageLoadError(path, too_large(rows * columns))
    try:
        return Image.fromarray(_dicom_to_rgb(ds))
    except MemoryError as exc:
        raise ImageLoadError(path, f"not enough memory to decode {columns}x{rows}") from exc
    except NotImplementedError as exc:
        reason = f"DICOM compression not supported ({_syntax_name(ds)}): no decoder for it"
        raise ImageLoadError(path, reason) from exc
    except RuntimeError as exc:  # pydicom: every installed decoder failed
        reason = f"cannot decode the DICOM pixel data ({_syntax_name(ds)}): corrupt, or "
        raise ImageLoadError(path, reason + "it needs a decoder that is not installed") from exc
    except (AttributeError, *DECODE_ERRORS) as exc:
        raise ImageLoadError(path, "DICOM pixel data is truncated or corrupt") from exc


def _syntax_name(ds: Dataset) -> str:
    return str(getattr(ds.file_meta.get("TransferSyntaxUID"), "name", "unknown transfer syntax"))


def _guess_transfer_syntax(ds: Dataset) -> None:
    """Old files without file meta: take the transfer syntax the data set was read with."""
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    implicit, little = ds.original_encoding
    if "TransferSyntaxUID" not in ds.file_meta and implicit is not None:
        syntax = ExplicitVRLittleEndian if little else ExplicitVRBigEndian
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else syntax


def _dicom_to_rgb(ds: Dataset) -> np.ndarray:
    """First frame of a DICOM data set as uint8 (H, W, 3), ready for display."""
    from pydicom.pixels import apply_color_lut

    # Decode only frame 0; YBR colour is converted to RGB by pydicom (as_rgb default).
    ds.pixel_array_options(index=0)
    frame = ds.pixel_array
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    if photometric == "PALETTE COLOR":
        colour = apply_color_lut(frame, ds)
        return _by_depth(colour, 8 * colour.dtype.itemsize)
    if frame.ndim == 3:
        return _by_depth(frame, int(ds.get("BitsStored") or 8 * frame.dtype.itemsize))
    grey = _monochrome_to_uint8(frame, ds)
    if photometric == "MONOCHROME1":
        grey = 255 - grey
    return np.repeat(grey[:, :, None], 3, axis=2)


def _by_depth(colour: np.ndarray, bits: int) -> np.ndarray:
    """Integer colour (H, W, 3) with ``bits`` significant bits -> uint8 (H, W, 3)."""
    if colour.dtype == np.uint8 and bits <= 8:
        return np.ascontiguousarray(colour)
    scale = 255.0 / float((1 << bits) - 1)
    return np.clip(np.rint(colour.astype(np.float64) * scale), 0, 255).astype(np.uint8)


def _monochrome_to_uint8(frame: np.ndarray, ds: Dataset) -> np.ndarray:
    """Stored values (H, W) -> uint8 (H, W): modality LUT, then VOI window or own range."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    values = apply_modality_lut(frame, ds)
    has_voi = "VOILUTSequence" in ds or ("WindowCenter" in ds and "WindowWidth" in ds)
    if not has_voi:
        return scale_to_uint8(values)
    # The window's output range, probed with the extreme stored values, maps onto 0..255
    # so that a window that clips shows as black/white and one that does not stays grey.
    bits = int(ds.get("BitsStored") or 16)
    signed = int(ds.get("PixelRepresentation") or 0) == 1
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    try:
        probe = apply_modality_lut(np.array([low, high], dtype=np.int64), ds)
        windowed = apply_voi_lut(values, ds, index=0).astype(np.float64)
        bounds = apply_voi_lut(probe.astype(values.dtype), ds, index=0)
    except (ValueError, TypeError, IndexError) as exc:
        logger.warning("ignoring unusable DICOM window (%s)", exc)
        return scale_to_uint8(values)
    out_low, out_high = float(bounds.min()), float(bounds.max())
    if out_high <= out_low:
        return scale_to_uint8(windowed)
    scaled = (windowed - out_low) * (255.0 / (out_high - out_low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
