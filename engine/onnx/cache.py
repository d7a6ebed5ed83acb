"""A verified ONNX copy of each model, exported once and kept in the user's cache folder.

On CPU, ONNX Runtime runs our ResNets about twice as fast as eager PyTorch. The first time a
model runs on it, the model is exported and checked against PyTorch (see :mod:`engine.onnx.export`);
the ``.onnx`` file is then cached, keyed by a hash of the weights file, the architecture, the
preprocessing and the exporter version, so later runs open it without importing torch. An
export that fails its parity check is remembered too (a ``.failed.txt`` note with the figures),
so it is not retried on every start.

The cache lives in ``platformdirs.user_cache_dir("ResLens")/onnx``; ``RESLENS_CACHE_DIR``
overrides it (tests, portable installs).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from engine.atomic import atomic_write_bytes, atomic_write_text
from engine.errors import ExportError, ModelLoadError
from engine.imaging.preprocess import PreprocessSpec
from engine.models.registry import get_architecture
from engine.runtime.backends.onnx_backend import OnnxBackend
from engine.versions import version_or_unknown

if TYPE_CHECKING:
    from engine.jobs import CancelToken
    from engine.models.weights import DownloadProgress, WeightsSource
    from engine.runtime.classifier import Classifier, ModelSource

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


def cache_dir() -> Path:
    """Where cached exports live (created on first write)."""
    override = os.environ.get("RESLENS_CACHE_DIR")
    if override:
        return Path(override) / "onnx"
    import platformdirs

    return Path(platformdirs.user_cache_dir("ResLens", appauthor=False)) / "onnx"


def file_digest(path: Path) -> str:
    """sha256 hex digest of a file's bytes (about 0.2 s for ResNet-50's 100 MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def cache_key(weights_file: Path, arch: str, preprocess: PreprocessSpec | str) -> str:
    """Hex key of (weights bytes, architecture, preprocessing, exporter); no torch import.

    ``preprocess`` is the spec, or a string standing for it where reading the spec would import
    torch (torchvision's default transforms for pretrained weights).
    """
    from engine.onnx.export import exporter_version

    described = preprocess if isinstance(preprocess, str) else preprocess.to_dict()
    record = {
        "weights": file_digest(weights_file),
        "arch": get_architecture(arch).name,
        "preprocess": described,
        "exporter": exporter_version(),
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def cached_onnx(
    weights_file: Path,
    arch: str,
    preprocess: PreprocessSpec | str,
    *,
    build: Callable[[], Classifier],
    folder: Path | None = None,
    cancel: CancelToken | None = None,
) -> Path:
    """The cached, verified export for these weights; made with ``build()`` on a miss.

    ``build`` returns the torch Classifier (only called on a miss, so a hit never imports
    torch). Raises ExportError with the parity figures when the export does not match PyTorch,
    now or on an earlier attempt.
    """
    from engine.onnx.export import export_verified

    key = cache_key(weights_file, arch, preprocess)
    path = (folder or cache_dir()) / f"{get_architecture(arch).name}-{key[:32]}.onnx"
    failed = path.with_suffix(".failed.txt")
    if path.is_file():
        return path
    if failed.is_file():
        raise ExportError(failed.read_text(encoding="utf-8", errors="replace").strip())
    log.info("exporting %s to ONNX for ONNX Runtime (once; cached in %s)", arch, path.parent)
    try:
        data, report = export_verified(build(), cancel=cancel)
    except ExportError as exc:
        atomic_write_text(failed, f"{exc}\n")
        raise
    atomic_write_bytes(path, data)
    log.info("cached %s: %s", path, report.describe())
    return path


def cached_backend(
    weights_file: Path,
    arch: str,
    preprocess: PreprocessSpec | str,
    *,
    build: Callable[[], Classifier],
    device: str = "auto",
    folder: Path | None = None,
    cancel: CancelToken | None = None,
) -> OnnxBackend:
    """An ONNX Runtime session over the cached export; a damaged cache file is made again."""
    path = cached_onnx(weights_file, arch, preprocess, build=build, folder=folder, cancel=cancel)
    try:
        return OnnxBackend(path, device=device)
    except ModelLoadError as exc:
        if "CUDA was requested" in str(exc):
            raise
        log.warning("cached export %s is unusable (%s); exporting again", path, exc)
        path.unlink(missing_ok=True)
        path = cached_onnx(weights_file, arch, preprocess, build=build, folder=folder)
        return OnnxBackend(path, device=device)


def load_onnx_classifier(
    model: str | Path,
    *,
    weights: str | Path | None = None,
    device: str = "auto",
    fallback: bool = False,
    allow_download: bool = True,
    progress: DownloadProgress | None = None,
    cancel: CancelToken | None = None,
) -> Classifier:
    """Like :func:`engine.inference.loader.load_classifier`, but running on ONNX Runtime from the cache.

    ``fallback``: when the export fails its parity check, log why and return the PyTorch
    classifier instead of raising ExportError. Random weights (``weights="none"``) are exported
    in memory each time, never cached.
    """
    from engine.runtime import build as torch_build
    from engine.runtime.classifier import Classifier

    built: list[Classifier] = []

    def build() -> Classifier:
        if not built:
            built.append(torch_build.load_torch_classifier(model, weights=weights, device=device))
        return built[0]

    try:
        if torch_build.is_random(weights):
            return _uncached(build())
        if torch_build.is_model_file(model):
            backend, source = _from_model_file(Path(model), build, device)
        else:
            found = _resolve(str(model), weights, allow_download, progress, cancel)
            backend, source = _from_weights(str(model), found, build, device)
    except ExportError as exc:
        if not fallback:
            raise
        log.warning("ONNX Runtime is not used for this model: %s", exc)
        return build()
    info = backend.info
    return Classifier(
        backend,
        class_names=info.class_names,
        preprocess=info.preprocess,
        source=source,
        temperature=info.temperature,
    )


def _from_model_file(
    path: Path, build: Callable[[], Classifier], device: str
) -> tuple[OnnxBackend, ModelSource]:
    from engine.models.model_file import read_model_info
    from engine.runtime.classifier import ModelSource

    info = read_model_info(path)
    backend = cached_backend(path, info.arch, info.preprocess, build=build, device=device)
    return backend, ModelSource(path.name, info.arch, str(path), True)


def _resolve(
    arch: str,
    weights: str | Path | None,
    allow_download: bool,
    progress: DownloadProgress | None,
    cancel: CancelToken | None,
) -> WeightsSource:
    from engine.models.weights import resolve_weights

    return resolve_weights(
        get_architecture(arch).name,
        user_file=weights,
        allow_download=allow_download,
        progress=progress,
        cancel=cancel,
    )


def _from_weights(
    arch: str, found: WeightsSource, build: Callable[[], Classifier], device: str
) -> tuple[OnnxBackend, ModelSource]:
    """Pretrained weights: their preprocessing is torchvision's for the architecture, named
    here by torchvision's version so that computing the key needs no torch."""
    from engine.runtime.classifier import ModelSource

    spec = get_architecture(arch)
    transforms = f"torchvision {version_or_unknown('torchvision')} default transforms"
    backend = cached_backend(found.path, spec.name, transforms, build=build, device=device)
    described = f"ImageNet ({found.origin}: {found.path})"
    return backend, ModelSource(spec.display_name, spec.name, described, True)


def _uncached(classifier: Classifier) -> Classifier:
    from engine.onnx.export import export_verified
    from engine.runtime.classifier import Classifier

    data, _ = export_verified(classifier)
    return Classifier(
        OnnxBackend(data, device=classifier.device),
        class_names=classifier.class_names,
        preprocess=classifier.preprocess,
        source=classifier.source,
        temperature=classifier.temperature,
    )
