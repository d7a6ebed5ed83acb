"""ONNX export of any model the app can load, verified against PyTorch before it is written.

The exported graph takes ``input`` float32 (N, 3, crop, crop) with a dynamic batch axis and gives
``logits`` (N, K) and ``features`` (N, C, h, w), the activations that the pooled linear head
averages, so ONNX Runtime can draw class activation maps without torch. Metadata (class names,
preprocessing, architecture, temperature, where it came from, the parity figures) makes the
``.onnx`` file alone enough to classify.

Exporter: torch 2.14's default (``dynamo=True``) needs onnxscript, which we do not depend on, so
this uses the TorchScript exporter (``dynamo=False``) at its highest opset, 20.

>>> clf = load_classifier("resnet18", weights="none", device="cpu")   # doctest: +SKIP
>>> export_onnx(clf, "resnet18.onnx").parity.describe()               # doctest: +SKIP
"""

from __future__ import annotations

import copy
import functools
import importlib.metadata as md
import io
import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.atomic import atomic_write_bytes
from engine.backends.onnx_backend import (
    FEATURES,
    INPUT,
    LOGITS,
    OnnxBackend,
    OnnxModelInfo,
    set_metadata,
)
from engine.errors import ExportError
from engine.models import classifier_layer
from engine.parity import (
    FP32_TOLERANCE,
    ParityReport,
    Tolerance,
    batches,
    compare,
    load_images,
    validation_images,
)
from engine.parity import generated_images as _generated

if TYPE_CHECKING:
    from PIL import Image
    from torch import nn

    from engine.jobs import CancelToken
    from engine.predictor import Classifier, ModelSource
    from engine.quantize import QuantizeResult

log = logging.getLogger(__name__)

OPSET = 20
"""The TorchScript exporter's highest opset in torch 2.14."""
EXPORT_REVISION = 1
"""Bump when the exported graph or its metadata change: cached exports are then redone."""
CHECK_IMAGES = 32
"""Generated images used for the parity check when the model records no validation split."""
# Whose last stage is followed by a ReLU before pooling (ResNets end their stages with one).
_RELU_BEFORE_POOL = frozenset({"densenet121"})


@dataclass(frozen=True)
class ExportResult:
    """A verified export: where it went (None when kept in memory), its parity figures."""

    path: Path | None
    parity: ParityReport
    seconds: float
    size_bytes: int

    def describe(self) -> str:
        where = f"wrote {self.path}" if self.path else "exported"
        return (
            f"{where} ({self.size_bytes / 1e6:.1f} MB, opset {OPSET}, {self.seconds:.1f} s)\n"
            f"parity: {self.parity.describe()}"
        )


def exporter_version() -> str:
    """Identifies what produces the graph (changes invalidate cached exports); no torch import."""
    return f"reslens-export-{EXPORT_REVISION}/torch-{md.version('torch')}/opset-{OPSET}"


def torch_parts(classifier: Classifier) -> tuple[nn.Module, nn.Module, str]:
    """The torch network, its CAM layer and architecture name behind ``classifier``."""
    from engine.backends.torch_backend import TorchBackend

    backend: Any = classifier.backend
    backend = getattr(backend, "inner", backend)  # SerializedBackend wraps another backend
    if not isinstance(backend, TorchBackend):
        raise ExportError(
            f"Only PyTorch models can be exported; this one runs on {backend.name}. "
            "Load the .reslens file or the architecture instead."
        )
    return backend.model, backend.cam_layer, classifier.source.arch


def _with_features(model: nn.Module, cam_layer: nn.Module, relu: bool) -> nn.Module:
    """A CPU fp32 copy of ``model`` returning (logits, features) for one traced graph."""
    import torch
    from torch import nn

    class WithFeatures(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = copy.deepcopy(model).float().cpu().to(memory_format=torch.contiguous_format)
            index = dict(model.named_modules())
            name = next(n for n, m in index.items() if m is cam_layer)
            self.net.get_submodule(name).register_forward_hook(self._keep)
            self._features: torch.Tensor | None = None

        def _keep(self, module: nn.Module, args: object, output: torch.Tensor) -> None:
            self._features = output

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            logits = self.net(x)
            features = self._features
            if features is None:
                raise RuntimeError("the CAM layer did not run")
            self._features = None
            return logits, torch.relu(features) if relu else features

    return WithFeatures().eval()


def _trace(wrapper: nn.Module, crop: int) -> bytes:
    import torch

    buffer = io.BytesIO()
    example = torch.zeros(2, 3, crop, crop)  # batch 2, so no size-1 specialisation sneaks in
    axes = {INPUT: {0: "batch"}, LOGITS: {0: "batch"}, FEATURES: {0: "batch"}}
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        # The TorchScript exporter announces its deprecation on every call.
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", message="The feature will be removed")
        try:
            torch.onnx.export(
                wrapper,
                (example,),
                buffer,  # type: ignore[arg-type]  # the TorchScript exporter writes to streams
                dynamo=False,
                opset_version=OPSET,
                input_names=[INPUT],
                output_names=[LOGITS, FEATURES],
                dynamic_axes=axes,
                do_constant_folding=True,
            )
        except (RuntimeError, TypeError, ValueError) as exc:
            raise ExportError(f"PyTorch could not export this model to ONNX: {exc}") from exc
    return buffer.getvalue()


def _find_cam_weight(proto: Any, weight: np.ndarray, preferred: str) -> tuple[str, bool]:
    """Name of the initializer equal to the classifier weight (K, C), and whether transposed."""
    from onnx import numpy_helper

    for tensor in sorted(proto.graph.initializer, key=lambda t: t.name != preferred):
        if tuple(tensor.dims) not in (weight.shape, weight.shape[::-1]):
            continue
        value = numpy_helper.to_array(tensor)
        if value.shape == weight.shape and np.array_equal(value, weight):
            return tensor.name, False
        if value.shape == weight.T.shape and np.array_equal(value, weight.T):
            return tensor.name, True
    log.warning("classifier weights not found in the exported graph; no heat maps from it")
    return "", False


def describe_source(source: ModelSource) -> str:
    """Where a model came from, without local paths (exported files get shared)."""
    if not source.pretrained:
        return f"{source.name}, random weights (not for real use)"
    if source.name.lower().endswith(".reslens"):
        return f"fine-tuned model {source.name}"
    return f"{source.name} with ImageNet weights"


def build_onnx(classifier: Classifier) -> tuple[Any, OnnxModelInfo]:
    """Trace ``classifier``'s torch model -> (``onnx.ModelProto`` with metadata, its metadata)."""
    import onnx

    model, cam_layer, arch = torch_parts(classifier)
    wrapper = _with_features(model, cam_layer, relu=arch in _RELU_BEFORE_POOL)
    proto = onnx.load_from_string(_trace(wrapper, classifier.preprocess.crop))
    head = classifier_layer(model, arch)
    weight = head.weight.detach().float().cpu().numpy()
    head_name = next(n for n, m in model.named_modules() if m is head)
    cam_name, transposed = _find_cam_weight(proto, weight, f"net.{head_name}.weight")
    info = OnnxModelInfo(
        arch=arch,
        class_names=classifier.class_names,
        preprocess=classifier.preprocess,
        temperature=classifier.temperature,
        source=describe_source(classifier.source),
        cam_weight=cam_name,
        cam_weight_transposed=transposed,
        exporter=exporter_version(),
        extra={"pretrained": classifier.source.pretrained},
    )
    set_metadata(proto, info)
    return proto, info


def verify(
    classifier: Classifier,
    data: bytes,
    *,
    images: Sequence[Image.Image],
    image_source: str,
    tolerance: Tolerance | None = FP32_TOLERANCE,
) -> ParityReport:
    """Run ``images`` through the torch model (CPU, fp32) and the ONNX bytes (ONNX Runtime CPU);
    raise ExportError with the figures when they disagree beyond ``tolerance``."""
    import torch

    model, cam_layer, _ = torch_parts(classifier)
    reference = _with_features(model, cam_layer, relu=False)

    def run_torch(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return reference(torch.from_numpy(batch))[0].numpy()

    backend = OnnxBackend(data, device="cpu")
    report = compare(
        run_torch,
        backend.logits,
        batches(images, classifier.preprocess),
        names=("torch fp32", "onnxruntime fp32"),
        image_source=image_source,
        temperature=classifier.temperature,
    )
    if tolerance is not None:
        tolerance.enforce(report, "Export")
    return report


def export_verified(
    classifier: Classifier,
    *,
    images: Sequence[Image.Image] | None = None,
    image_source: str = "check images",
    tolerance: Tolerance | None = FP32_TOLERANCE,
    cancel: CancelToken | None = None,
) -> tuple[bytes, ParityReport]:
    """Export to ONNX bytes and verify them (default: on generated images); the parity figures
    go into the metadata."""
    proto, info = build_onnx(classifier)
    if cancel is not None:
        cancel.raise_if_cancelled()
    if not images:
        images = _generated(CHECK_IMAGES, classifier.preprocess.resize, seed=1)
        image_source = "generated images"
    data = bytes(proto.SerializeToString())
    report = verify(classifier, data, images=images, image_source=image_source, tolerance=tolerance)
    set_metadata(proto, replace(info, parity=report.to_dict()))
    return bytes(proto.SerializeToString()), report


def export_onnx(
    classifier: Classifier,
    out: str | Path,
    *,
    images: Sequence[Image.Image] | None = None,
    image_source: str = "check images",
    tolerance: Tolerance | None = FP32_TOLERANCE,
    cancel: CancelToken | None = None,
) -> ExportResult:
    """Export ``classifier`` (a torch model) to ``out``, verified first; written atomically.

    ``images``: RGB images for the parity check (default: generated images). Raises
    ExportError, with the figures, when ONNX Runtime disagrees beyond ``tolerance``; then
    nothing is written.
    """
    start = time.perf_counter()
    data, report = export_verified(
        classifier, images=images, image_source=image_source, tolerance=tolerance, cancel=cancel
    )
    atomic_write_bytes(out, data)
    return ExportResult(Path(out), report, time.perf_counter() - start, len(data))


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
    from engine.loader import load_classifier
    from engine.quantize import quantize_int8

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
        classifier = load_classifier(model, weights=weights, device="cpu", backend="torch")
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
    from engine.loader import is_model_file

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
    from engine.images import find_images
    from engine.quantize import CALIBRATION_IMAGES

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
    from engine.checkpoint import MODEL_SUFFIX, read_model_info

    if Path(model).suffix.lower() != MODEL_SUFFIX or not Path(model).is_file():
        return [], ""
    images = load_images(validation_images(read_model_info(model).extra), CHECK_IMAGES * 2)
    return images, "images of the model's validation split"
