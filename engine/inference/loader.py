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
from engine.runtime.backends.onnx_backend import onnxruntime_problem
from engine.runtime.build import is_model_file, is_random, load_torch_classifier
from engine.runtime.classifier import Classifier

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx", "auto")


def choose_backend(backend: str, *, weights: str | Path | None, onnxruntime: str | None) -> str:
    """What ``backend`` (as the user asked) means for this model: "torch", "onnx" or "tuned".

    "auto" is "tuned": the fastest backend verified for this machine (see
    :mod:`engine.inference.tuner`; measured once per model and machine, then cached), unless
    the model has random weights (nothing to cache a tuning for: PyTorch, as it is) or ONNX
    Runtime is missing, in which case ``onnxruntime`` (why it is) is logged once and the
    tuner chooses among the PyTorch paths. "onnx" and "torch" are taken as given.
    """
    if backend not in BACKENDS:
        raise ModelLoadError(f"Unknown backend {backend!r}; use {', '.join(BACKENDS)}.")
    if backend == "onnx" and onnxruntime is not None:
        raise ModelLoadError(f"{onnxruntime}; use --backend torch.")
    if backend != "auto":
        return backend
    if onnxruntime is not None:
        log.warning("%s; using PyTorch instead", onnxruntime)
    return "torch" if is_random(weights) else "tuned"


def load_classifier(
    model: str | Path = "resnet50",
    *,
    weights: str | Path | None = None,
    device: str = "auto",
    allow_download: bool = True,
    progress: DownloadProgress | None = None,
    cancel: CancelToken | None = None,
    backend: str = "torch",
    allow_int8: bool = False,
) -> Classifier:
    """Load an architecture by name (with ImageNet weights) or one of our model files.

    ``weights``: None finds the pretrained weights (bundle, cache, download); a path loads that
    file; ``"none"`` keeps the random initialisation, whose predictions are meaningless.
    ``backend``: "torch"; "onnx" runs a verified ONNX export (made once, cached) in ONNX
    Runtime; "auto" as :func:`choose_backend` decides. ``allow_int8``: with "auto", an INT8
    copy may be chosen when it is faster and verified (``--fast``). ``.onnx`` files always run
    in ONNX Runtime.
    """
    if is_model_file(model) and weights is not None:
        raise ModelLoadError("--weights applies to architectures, not to model files.")
    onnx_file = Path(model).suffix.lower() == ".onnx"
    problem = None if backend == "torch" and not onnx_file else onnxruntime_problem()
    if onnx_file and problem is not None:
        raise ModelLoadError(f"{problem}, so {Path(model).name} cannot be opened.")
    chosen = choose_backend(backend, weights=weights, onnxruntime=problem)
    if chosen == "tuned" and not onnx_file:
        from engine.inference.tuned import load_tuned

        classifier, _ = load_tuned(
            model,
            weights=weights,
            device=tuning_device(device),
            allow_int8=allow_int8,
            allow_download=allow_download,
            progress=progress,
            cancel=cancel,
        )
        return classifier
    loader = load_onnx_classifier if chosen == "onnx" and not onnx_file else load_torch_classifier
    return loader(
        model,
        weights=weights,
        device=device,
        allow_download=allow_download,
        progress=progress,
        cancel=cancel,
    )


def tuning_device(device: str) -> str:
    """ "auto" -> "cpu" without importing torch when the driver reports no NVIDIA GPU."""
    from engine.runtime.machine import nvidia_gpus

    if device.strip().lower() == "auto" and not nvidia_gpus():
        return "cpu"
    from engine.runtime.backends.torch_backend import resolve_device

    return resolve_device(device)
