"""Turn what a user names ("resnet50", "model.reslens", a weights file) into a Classifier.

The backend policy lives here, once, for the CLI and the app alike: see :func:`choose_backend`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from engine.errors import ModelLoadError
from engine.jobs import CancelToken
from engine.models.weights import DownloadProgress
from engine.onnx.cache import load_onnx_classifier
from engine.runtime.build import is_model_file, is_random, load_torch_classifier
from engine.runtime.classifier import Classifier

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx", "auto")


def choose_backend(backend: str, *, weights: str | Path | None, device: str) -> str:
    """The backend that ``backend`` (as the user asked) means for this model and device.

    "auto" runs a verified ONNX Runtime export (made once, cached; about 1.5x eager torch on a
    CPU) unless the model has random weights (nothing to cache an export for: re-exporting
    each run costs more than it saves) or the device is CUDA (PyTorch there). "onnx" and
    "torch" are taken as given. ``.onnx`` files always run in ONNX Runtime.
    """
    if backend not in BACKENDS:
        raise ModelLoadError(f"Unknown backend {backend!r}; use {', '.join(BACKENDS)}.")
    if backend == "auto" and (is_random(weights) or device.lower().startswith("cuda")):
        return "torch"
    return backend


def load_classifier(
    model: str | Path = "resnet50",
    *,
    weights: str | Path | None = None,
    device: str = "auto",
    allow_download: bool = True,
    progress: DownloadProgress | None = None,
    cancel: CancelToken | None = None,
    backend: str = "torch",
) -> Classifier:
    """Load an architecture by name (with ImageNet weights) or one of our model files.

    ``weights``: None finds the pretrained weights (bundle, cache, download); a path loads that
    file; ``"none"`` keeps the random initialisation, whose predictions are meaningless.
    ``backend``: "torch"; "onnx" runs a verified ONNX export (made once, cached) in ONNX
    Runtime; "auto" as :func:`choose_backend` decides, falling back to torch when the export
    fails its parity check. ``.onnx`` files always run in ONNX Runtime.
    """
    chosen = choose_backend(backend, weights=weights, device=device)
    if is_model_file(model) and weights is not None:
        raise ModelLoadError("--weights applies to architectures, not to model files.")
    if chosen != "torch" and Path(model).suffix.lower() != ".onnx":
        return load_onnx_classifier(
            model,
            weights=weights,
            device=device,
            fallback=chosen == "auto",
            allow_download=allow_download,
            progress=progress,
            cancel=cancel,
        )
    return load_torch_classifier(
        model,
        weights=weights,
        device=device,
        allow_download=allow_download,
        progress=progress,
        cancel=cancel,
    )
