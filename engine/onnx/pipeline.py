"""``reslens export``: load a model, export it verified, optionally quantize it to INT8.

The steps themselves live in :mod:`engine.onnx.export` and :mod:`engine.onnx.quantize`; this
module chooses the images they are checked and calibrated on.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import TYPE_CHECKING

from engine.atomic import atomic_write_bytes
from engine.errors import ExportError
from engine.imaging.walk import find_images
from engine.models.model_file import MODEL_SUFFIX, read_model_info
from engine.onnx.export import CHECK_IMAGES, ExportResult, export_verified
from engine.onnx.parity import load_images, validation_images
from engine.onnx.quantize import CALIBRATION_IMAGES, QuantizeResult, quantize_int8
from engine.runtime.build import is_model_file, load_torch_classifier

if TYPE_CHECKING:
    from PIL import Image

    from engine.jobs import CancelToken


def export_model(
    model: str | Path,
    out: str | Path,
    *,
    weights: str | Path | None = None,
    quantize: str | None = None,
    calibration: Path | None = None,
    cancel: CancelToken | None = None,
) -> tuple[ExportResult | None, QuantizeResult | None]:
    """``reslens export``: export an architecture or model file to ``out`` (ONNX), verified.

    Parity images: the model file's validation split when it records one, else held-out images
    of ``calibration``, else generated images. ``quantize="int8"`` writes an INT8 model
    (calibrated on ``calibration``'s images) instead of the fp32 one; an ``.onnx`` ``model``
    can only be quantized. Returns the fp32 and INT8 reports (None for a step not taken).
    """
    source, target = _check_request(model, out, quantize)
    calib, held_out = _calibration_split(calibration)
    check, check_source = _validation_check(model)
    if not check and held_out:
        check, check_source = held_out, f"held-out images from {calibration}"
    to_int8 = functools.partial(
        quantize_int8,
        calibration=calib,
        calibration_source=f"images from {calibration}" if calibration else "images",
        images=check,
        image_source=check_source,
        cancel=cancel,
    )
    try:
        if source.suffix.lower() == ".onnx":
            return None, to_int8(source, target)[1]
        classifier = load_torch_classifier(model, weights=weights, device="cpu")
        start = time.perf_counter()
        data, report = export_verified(
            classifier, images=check, image_source=check_source, cancel=cancel
        )
        if quantize is None:
            atomic_write_bytes(target, data)
            return ExportResult(target, report, time.perf_counter() - start, len(data)), None
        fp32 = ExportResult(None, report, time.perf_counter() - start, len(data))
        return fp32, to_int8(data, target)[1]
    except OSError as exc:
        raise ExportError(f"Could not write {target}: {exc.strerror or exc}") from exc


def _check_request(model: str | Path, out: str | Path, quantize: str | None) -> tuple[Path, Path]:
    if quantize not in (None, "int8"):
        raise ExportError(f"Unknown quantization {quantize!r}; only int8 is supported.")
    source, target = Path(model), Path(out)
    if target.suffix.lower() != ".onnx":
        raise ExportError(f"{target}: the output file name must end in .onnx.")
    if is_model_file(model) and source.exists() and source.resolve() == target.resolve():
        raise ExportError(f"{target} is the model being exported; choose another output file.")
    if source.suffix.lower() == ".onnx" and quantize is None:
        raise ExportError(f"{source} is already ONNX; add --quantize int8 for an INT8 copy.")
    return source, target


def _calibration_split(folder: Path | None) -> tuple[list[Image.Image], list[Image.Image]]:
    """Calibration images from ``folder`` and, when there are 16 or more, every other one
    held out for the parity check instead."""
    if folder is None:
        return [], []
    if not folder.is_dir():
        raise ExportError(f"Calibration folder not found: {folder}")
    paths, _ = find_images([folder])
    images = load_images(paths, 2 * CALIBRATION_IMAGES)
    if not images:
        raise ExportError(f"{folder} holds no images that could be read for calibration.")
    if len(images) < 16:
        return images, []
    return images[0::2], images[1::2]


def _validation_check(model: str | Path) -> tuple[list[Image.Image], str]:
    """Images of the validation split recorded in a ``.reslens`` file, if still on disk."""
    if Path(model).suffix.lower() != MODEL_SUFFIX or not Path(model).is_file():
        return [], ""
    images = load_images(validation_images(read_model_info(model).extra), CHECK_IMAGES * 2)
    return images, "images of the model's validation split"
