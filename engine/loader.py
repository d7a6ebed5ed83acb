"""Turn what a user names ("resnet50", "model.reslens", a weights file) into a Classifier."""

from __future__ import annotations

import logging
from pathlib import Path

from engine.checkpoint import MODEL_SUFFIX, load_model_file
from engine.errors import ModelLoadError
from engine.jobs import CancelToken
from engine.models import (
    build_model,
    cam_target_layer,
    get_architecture,
    imagenet_categories,
    pretrained_preprocess,
)
from engine.predictor import Classifier, ModelSource
from engine.weights import DownloadProgress, load_pretrained_into, resolve_weights

log = logging.getLogger(__name__)

RANDOM_WEIGHTS = "none"
"""Pass as ``weights`` for a randomly initialised network (benchmarks and pipeline checks)."""
BACKENDS = ("torch", "onnx", "auto")


def is_model_file(spec: str | Path) -> bool:
    path = Path(spec)
    return path.suffix.lower() in (MODEL_SUFFIX, ".onnx") or path.is_file()


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
    Runtime; "auto" does so unless the export fails its parity check, then uses torch.
    ``.onnx`` files always run in ONNX Runtime.
    """
    if backend not in BACKENDS:
        raise ModelLoadError(f"Unknown backend {backend!r}; use {', '.join(BACKENDS)}.")
    onnx_file = Path(model).suffix.lower() == ".onnx"
    if is_model_file(model) and weights is not None:
        raise ModelLoadError("--weights applies to architectures, not to model files.")
    if backend != "torch" and not onnx_file:
        from engine.onnx_cache import load_onnx_classifier

        return load_onnx_classifier(
            model,
            weights=weights,
            device=device,
            fallback=backend == "auto",
            allow_download=allow_download,
            progress=progress,
            cancel=cancel,
        )
    if is_model_file(model):
        return load_model_classifier(Path(model), device=device)
    return load_pretrained_classifier(
        str(model),
        weights=weights,
        device=device,
        allow_download=allow_download,
        progress=progress,
        cancel=cancel,
    )


def load_pretrained_classifier(
    arch: str,
    *,
    weights: str | Path | None = None,
    device: str = "auto",
    allow_download: bool = True,
    progress: DownloadProgress | None = None,
    cancel: CancelToken | None = None,
) -> Classifier:
    from engine.backends.torch_backend import TorchBackend, resolve_device

    spec = get_architecture(arch)
    torch_device = resolve_device(device)
    network = build_model(spec.name)
    if isinstance(weights, str) and weights.lower() == RANDOM_WEIGHTS:
        log.warning("%s uses random weights: its predictions are meaningless", spec.display_name)
        described, pretrained = "random init", False
    else:
        source = resolve_weights(
            spec.name,
            user_file=weights,
            allow_download=allow_download,
            progress=progress,
            cancel=cancel,
        )
        load_pretrained_into(network, spec.name, source.path)
        described, pretrained = f"ImageNet ({source.origin}: {source.path})", True
    backend = TorchBackend(network, cam_target_layer(network, spec.name), device=torch_device)
    return Classifier(
        backend,
        class_names=imagenet_categories(spec.name),
        preprocess=pretrained_preprocess(spec.name),
        source=ModelSource(spec.display_name, spec.name, described, pretrained),
    )


def load_model_file_classifier(path: Path, *, device: str = "auto") -> Classifier:
    """A fine-tuned ``.reslens`` model file."""
    from engine.backends.torch_backend import TorchBackend, resolve_device

    state, info = load_model_file(path)
    network = build_model(info.arch, num_classes=len(info.class_names))
    try:
        network.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelLoadError(f"{path} is damaged: its weights do not fit {info.arch}.") from exc
    backend = TorchBackend(
        network, cam_target_layer(network, info.arch), device=resolve_device(device)
    )
    return Classifier(
        backend,
        class_names=info.class_names,
        preprocess=info.preprocess,
        source=ModelSource(path.name, info.arch, str(path), True),
        temperature=info.temperature,
    )


def load_model_classifier(path: Path, *, device: str = "auto") -> Classifier:
    """Any model file the app can open, chosen by its suffix."""
    if not path.is_file():
        raise ModelLoadError(f"Model file not found: {path}")
    if path.suffix.lower() == ".onnx":
        from engine.backends.onnx_backend import onnx_classifier

        return onnx_classifier(path, device=device)
    return load_model_file_classifier(path, device=device)
