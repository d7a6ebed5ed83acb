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
from engine.errors import ExportError
from engine.models.registry import Architecture, get_architecture
from engine.onnx.parity import (
    FP32_TOLERANCE,
    ParityReport,
    Tolerance,
    batches,
    compare,
)
from engine.onnx.parity import generated_images as _generated
from engine.runtime.backends.onnx_backend import (
    FEATURES,
    INPUT,
    LOGITS,
    OnnxBackend,
    OnnxModelInfo,
    set_metadata,
)
from engine.versions import version_or_unknown

if TYPE_CHECKING:
    from PIL import Image
    from torch import nn

    from engine.jobs import CancelToken
    from engine.runtime.classifier import Classifier, ModelSource

log = logging.getLogger(__name__)

OPSET = 20
"""The TorchScript exporter's highest opset in torch 2.14."""
EXPORT_REVISION = 1
"""Bump when the exported graph or its metadata change: cached exports are then redone."""
CHECK_IMAGES = 32
"""Generated images used for the parity check when the model records no validation split."""
_WRAPPED = "net."
"""Prefix of every parameter name in the traced graph (the model sits in ``WithFeatures.net``)."""


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
    return f"reslens-export-{EXPORT_REVISION}/torch-{version_or_unknown('torch')}/opset-{OPSET}"


def torch_parts(classifier: Classifier) -> tuple[nn.Module, Architecture]:
    """The torch network behind ``classifier`` and its architecture's record."""
    from engine.runtime.backends.torch_backend import TorchBackend

    backend = classifier.backend
    if not isinstance(backend, TorchBackend):
        raise ExportError(
            f"Only PyTorch models can be exported; this one runs on {backend.name}. "
            "Load the .reslens file or the architecture instead."
        )
    return backend.model, get_architecture(classifier.source.arch)


def _with_features(model: nn.Module, arch: Architecture, *, relu: bool) -> nn.Module:
    """A CPU fp32 copy of ``model`` returning (logits, features of ``arch.cam_layer``)."""
    import torch
    from torch import nn

    class WithFeatures(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = copy.deepcopy(model).float().cpu().to(memory_format=torch.contiguous_format)
            self.net.get_submodule(arch.cam_layer).register_forward_hook(self._keep)
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


def _cam_weight_name(proto: Any, arch: Architecture) -> str:
    """The graph initializer holding the classifier weight (K, C), as the record names it."""
    name = _WRAPPED + arch.head_weight
    if not any(tensor.name == name for tensor in proto.graph.initializer):
        raise ExportError(f"the exported graph lost {name}, so it could not draw heat maps")
    return name


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

    model, arch = torch_parts(classifier)
    wrapper = _with_features(model, arch, relu=arch.relu_before_pool)
    proto = onnx.load_from_string(_trace(wrapper, classifier.preprocess.crop))
    info = OnnxModelInfo(
        arch=arch.name,
        class_names=classifier.class_names,
        preprocess=classifier.preprocess,
        temperature=classifier.temperature,
        source=describe_source(classifier.source),
        cam_weight=_cam_weight_name(proto, arch),
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

    model, arch = torch_parts(classifier)
    reference = _with_features(model, arch, relu=False)

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
