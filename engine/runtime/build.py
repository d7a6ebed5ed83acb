"""Build a PyTorch :class:`Classifier` from an architecture name (with its weights) or a file.

This is the torch half of loading; :mod:`engine.inference.loader` adds the backend policy
(ONNX Runtime on a verified export) on top. torch is imported only inside the functions.
"""

from __future__ import annotations

import logging
from pathlib import Path

from engine.errors import ModelLoadError
from engine.jobs import CancelToken
from engine.models.model_file import MODEL_SUFFIX, build_network, load_model_file
from engine.models.registry import (
    build_model,
    cam_target_layer,
    get_architecture,
    imagenet_categories,
    pretrained_preprocess,
)
from engine.models.weights import DownloadProgress, load_pretrained_into, resolve_weights
from engine.runtime.classifier import Classifier, ModelSource

log = logging.getLogger(__name__)

RANDOM_WEIGHTS = "none"
"""Pass as ``weights`` for a randomly initialised network (benchmarks and pipeline checks)."""


def is_random(weights: str | Path | None) -> bool:
    """Whether ``weights`` asks for the random initialisation."""
    return isinstance(weights, str) and weights.lower() == RANDOM_WEIGHTS


def is_model_file(spec: str | Path) -> bool:
    path = Path(spec)
    return path.suffix.lower() in (MODEL_SUFFIX, ".onnx") or path.is_file()


def load_torch_classifier(
    model: str | Path,
    *,
    weights: str | Path | None = None,
    device: str = "auto",
    allow_download: bool = True,
    progress: DownloadProgress | None = None,
    cancel: CancelToken | None = None,
) -> Classifier:
    """An architecture by name (``weights`` as in :func:`engine.inference.loader.load_classifier`)
    or a model file (``.reslens`` in PyTorch, ``.onnx`` in ONNX Runtime)."""
    if is_model_file(model):
        if weights is not None:
            raise ModelLoadError("--weights applies to architectures, not to model files.")
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
    from engine.runtime.backends.torch_backend import TorchBackend, resolve_device

    spec = get_architecture(arch)
    torch_device = resolve_device(device)
    network = build_model(spec.name)
    if is_random(weights):
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
    from engine.runtime.backends.torch_backend import TorchBackend, resolve_device

    state, info = load_model_file(path)
    network = build_network(info)  # a pruned model's own layer widths, from its card
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
        from engine.runtime.backends.onnx_backend import onnx_classifier

        return onnx_classifier(path, device=device)
    return load_model_file_classifier(path, device=device)
