"""Static INT8 quantization (QDQ) of an exported model, calibrated on the user's images.

Weights are quantized per channel (int8, symmetric), activations per tensor (uint8) from ranges
seen on calibration images. The classifier head stays in float: it is a sliver of the work, and
keeping its weights intact lets heat maps use them. The ``features`` output survives
quantization (dequantized to float32), so heat maps still work. The quantized model is checked
against the fp32 model, itself already verified against PyTorch; everything here runs without
torch.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.atomic import atomic_write_bytes
from engine.errors import ExportError
from engine.onnx.parity import INT8_TOLERANCE, ParityReport, Tolerance, batches, compare
from engine.onnx.parity import generated_images as _generated
from engine.runtime.backends.onnx_backend import (
    FEATURES,
    INPUT,
    OnnxBackend,
    OnnxModelInfo,
    import_onnxruntime,
    set_metadata,
)

if TYPE_CHECKING:
    from PIL import Image

    from engine.jobs import CancelToken

log = logging.getLogger(__name__)

CALIBRATION_IMAGES = 64
"""At most this many images calibrate the activation ranges (more adds time, not accuracy)."""


@dataclass(frozen=True)
class QuantizeResult:
    """An INT8 model, its agreement with the fp32 model and both measured speeds (images/s)."""

    path: Path | None
    parity: ParityReport
    seconds: float
    size_bytes: int
    calibration: str
    fp32_rate: float
    int8_rate: float

    def describe(self) -> str:
        where = f"wrote {self.path}" if self.path else "quantized"
        return (
            f"{where} (INT8 QDQ, {self.size_bytes / 1e6:.1f} MB, {self.seconds:.1f} s, "
            f"calibrated on {self.calibration})\n"
            f"parity: {self.parity.describe()}\n"
            f"speed on the check images: fp32 {self.fp32_rate:.1f} images/s, "
            f"int8 {self.int8_rate:.1f} images/s ({self.int8_rate / self.fp32_rate:.2f}x)"
        )


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over preprocessed batches."""

    def __init__(self, batches: list[np.ndarray], cancel: CancelToken | None) -> None:
        self._batches: Iterator[np.ndarray] = iter(batches)
        self._cancel = cancel

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._cancel is not None:
            self._cancel.raise_if_cancelled()
        batch = next(self._batches, None)
        return None if batch is None else {INPUT: batch}

    def rewind(self) -> None:  # part of the protocol; calibration reads the data once
        return None


def _head_nodes(proto: Any) -> list[str]:
    """Names of the nodes after the last stage (pool, flatten, classifier), kept in float:
    they cost next to nothing, and the classifier weights stay readable for heat maps."""
    reached, names = {FEATURES}, []
    for node in proto.graph.node:  # ONNX nodes are topologically sorted
        if reached.intersection(node.input):
            reached.update(node.output)
            names.append(node.name)
    return names


def _quantize(fp32: bytes, calibration: list[np.ndarray], cancel: CancelToken | None) -> bytes:
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    with tempfile.TemporaryDirectory(prefix="reslens-quant-") as tmp:
        source, prepared = Path(tmp) / "fp32.onnx", Path(tmp) / "prepared.onnx"
        target = Path(tmp) / "int8.onnx"
        source.write_bytes(fp32)
        # Folds the exporter's Identity nodes (shared initializers) into plain initializers;
        # without it the convolution biases stay float and no QLinearConv is formed (3.5x slower).
        quant_pre_process(source, prepared, skip_symbolic_shape=True)
        exclude = _head_nodes(onnx.load(str(prepared)))
        quantize_static(
            prepared,
            target,
            _Reader(calibration, cancel),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=exclude,
            calibrate_method=CalibrationMethod.MinMax,
            calibration_providers=["CPUExecutionProvider"],
            extra_options={"WeightSymmetric": True, "ActivationSymmetric": False},
        )
        return target.read_bytes()


def _rate(backend: OnnxBackend, check: list[np.ndarray]) -> float:
    """Images/s of ``backend`` over the check batches, after one warm-up batch."""
    backend.logits(check[0])
    start = time.perf_counter()
    for batch in check:
        backend.logits(batch)
    return sum(len(b) for b in check) / max(time.perf_counter() - start, 1e-9)


def quantize_int8(
    model: str | Path | bytes,
    out: str | Path | None,
    *,
    calibration: Sequence[Image.Image] | None = None,
    calibration_source: str = "images",
    images: Sequence[Image.Image] | None = None,
    image_source: str = "check images",
    tolerance: Tolerance | None = INT8_TOLERANCE,
    cancel: CancelToken | None = None,
) -> tuple[bytes, QuantizeResult]:
    """Quantize an exported fp32 model (path or bytes) to INT8; write it to ``out`` if given.

    ``calibration``: RGB images for activation ranges (default: generated images, which give
    worse ranges than real photos). ``images``: parity-check images (default: generated).
    Raises ExportError with the figures when top-1 agreement with the fp32 model is below
    ``tolerance``; then nothing is written.
    """
    start = time.perf_counter()
    import_onnxruntime()  # telemetry off before onnxruntime.quantization loads it
    fp32 = model if isinstance(model, bytes) else Path(model).read_bytes()
    reference = OnnxBackend(fp32, device="cpu")
    info = reference.info
    if info.quantization:
        raise ExportError(f"{reference.label} is already quantized ({info.quantization}).")
    if not calibration:
        calibration = _generated(32, info.preprocess.resize, seed=2)
        calibration_source = "generated images"
    calibration = list(calibration[:CALIBRATION_IMAGES])
    described = f"{len(calibration)} {calibration_source}"
    quantized = replace(info, quantization=f"int8 static QDQ, calibrated on {described}")
    calibrated = _quantize(fp32, batches(calibration, info.preprocess, 8), cancel)
    data = _with_metadata(calibrated, quantized)
    if not images:
        images, image_source = _generated(32, info.preprocess.resize, seed=1), "generated images"
    check = batches(images, info.preprocess)
    candidate = OnnxBackend(data, device="cpu")
    report = _agreement(reference, candidate, check, image_source, tolerance)
    rates = _rate(reference, check), _rate(candidate, check)
    data = _with_metadata(data, replace(quantized, parity=report.to_dict()))
    if out is not None:
        atomic_write_bytes(out, data)
    target = Path(out) if out is not None else None
    seconds = time.perf_counter() - start
    return data, QuantizeResult(target, report, seconds, len(data), described, *rates)


def _agreement(
    reference: OnnxBackend,
    candidate: OnnxBackend,
    check: list[np.ndarray],
    image_source: str,
    tolerance: Tolerance | None,
) -> ParityReport:
    """Compare INT8 against fp32 on the check batches; raise ExportError beyond tolerance."""
    report = compare(
        reference.logits,
        candidate.logits,
        check,
        names=("onnxruntime fp32", "onnxruntime int8"),
        image_source=image_source,
        temperature=reference.info.temperature,
    )
    if tolerance is not None:
        tolerance.enforce(report, "INT8 quantization")
    return report


def _with_metadata(data: bytes, info: OnnxModelInfo) -> bytes:
    import onnx

    proto = onnx.load_from_string(data)
    set_metadata(proto, info)
    return bytes(proto.SerializeToString())
