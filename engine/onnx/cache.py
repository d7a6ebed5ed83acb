"""A verified ONNX copy of each model, exported once and kept in the user's cache folder.

On CPU, ONNX Runtime runs our ResNets about twice as fast as eager PyTorch. The first time a
model runs on it, the model is exported and checked against PyTorch (see :mod:`engine.onnx.export`);
the ``.onnx`` file is then cached, keyed by a hash of the weights file, the architecture, the
preprocessing and the exporter version, so later runs open it without importing torch. An
export that fails its parity check is remembered too (a ``.failed.txt`` note with the figures),
so it is not retried on every start.

The cache lives in ``platformdirs.user_cache_dir("ResLens")/onnx``; ``RESLENS_CACHE_DIR``
overrides it (tests, portable installs). A packaged app may carry verified copies of its bundled
weights (``assets/onnx``, see ``packaging/build.py``): they are used first, never written.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.atomic import atomic_write_bytes, atomic_write_text
from engine.errors import ExportError, ModelLoadError
from engine.imaging.preprocess import PreprocessSpec
from engine.models.registry import get_architecture
from engine.onnx import digests
from engine.resources import bundled_onnx_dir
from engine.runtime.backends.onnx_backend import OnnxBackend
from engine.versions import version_or_unknown

if TYPE_CHECKING:
    from engine.jobs import CancelToken
    from engine.models.weights import DownloadProgress
    from engine.runtime.classifier import Classifier, ModelSource

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """Where cached exports live (created on first write)."""
    override = os.environ.get("RESLENS_CACHE_DIR")
    if override:
        return Path(override) / "onnx"
    import platformdirs

    return Path(platformdirs.user_cache_dir("ResLens", appauthor=False)) / "onnx"


def file_digest(path: Path) -> str:
    """sha256 hex digest of a file's bytes (hashed once while the file stays the same)."""
    return digests.file_digest(path, cache_dir().parent / "digests")


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


@dataclass(frozen=True)
class CachedModel:
    """A model whose verified exports (and tuning record) live in the cache, named by the key
    of its weights file, architecture, preprocessing and exporter."""

    weights_file: Path
    arch: str
    preprocess: PreprocessSpec | str
    source: ModelSource
    folder: Path

    @functools.cached_property
    def key(self) -> str:
        return cache_key(self.weights_file, self.arch, self.preprocess)

    def path(self, suffix: str = ".onnx") -> Path:
        """Where this model's cached file with ``suffix`` lives (".onnx", ".int8.onnx" ...)."""
        return self.folder / f"{get_architecture(self.arch).name}-{self.key[:32]}{suffix}"


def cached_model(
    model: str | Path,
    *,
    weights: str | Path | None = None,
    allow_download: bool = True,
    progress: DownloadProgress | None = None,
    cancel: CancelToken | None = None,
) -> CachedModel:
    """Where ``model`` (an architecture with its weights, or a ``.reslens`` file) is cached."""
    from engine.models.model_file import read_model_info
    from engine.models.weights import resolve_weights
    from engine.runtime.build import is_model_file
    from engine.runtime.classifier import ModelSource

    if is_model_file(model):
        path = Path(model)
        info = read_model_info(path)
        source = ModelSource(path.name, info.arch, str(path), True)
        return CachedModel(path, info.arch, info.preprocess, source, cache_dir())
    spec = get_architecture(str(model))
    found = resolve_weights(
        spec.name,
        user_file=weights,
        allow_download=allow_download,
        progress=progress,
        cancel=cancel,
    )
    # Pretrained weights use torchvision's transforms for the architecture, named here by
    # torchvision's version so that computing the key needs no torch.
    transforms = f"torchvision {version_or_unknown('torchvision')} default transforms"
    described = f"ImageNet ({found.origin}: {found.path})"
    source = ModelSource(spec.display_name, spec.name, described, True)
    return CachedModel(found.path, spec.name, transforms, source, cache_dir())


def cached_onnx(
    model: CachedModel,
    *,
    build: Callable[[], Classifier],
    cancel: CancelToken | None = None,
    use_bundle: bool = True,
) -> Path:
    """The cached, verified export for these weights; made with ``build()`` on a miss.

    ``build`` returns the torch Classifier (only called on a miss, so a hit never imports
    torch). Raises ExportError with the parity figures when the export does not match PyTorch,
    now or on an earlier attempt.
    """
    from engine.onnx.export import export_verified

    path = model.path()
    bundled = bundled_onnx_dir() / path.name
    if use_bundle and bundled.is_file():  # made and verified when the app was packaged
        return bundled
    failed = model.path(".failed.txt")
    if path.is_file():
        return path
    if failed.is_file():
        raise ExportError(failed.read_text(encoding="utf-8", errors="replace").strip())
    log.info("exporting %s to ONNX for ONNX Runtime (once; cached in %s)", model.arch, path.parent)
    try:
        data, report = export_verified(build(), cancel=cancel)
    except ExportError as exc:
        atomic_write_text(failed, f"{exc}\n")
        raise
    atomic_write_bytes(path, data)
    log.info("cached %s: %s", path, report.describe())
    return path


def cached_backend(
    model: CachedModel,
    *,
    build: Callable[[], Classifier],
    device: str = "auto",
    cancel: CancelToken | None = None,
) -> OnnxBackend:
    """An ONNX Runtime session over the cached export; a damaged cache file is made again."""
    path = cached_onnx(model, build=build, cancel=cancel)
    copy = optimized_copy(model, "fp32")
    try:
        return OnnxBackend(path, device=device, optimized_copy=copy)
    except ModelLoadError as exc:
        if "CUDA was requested" in str(exc):
            raise
        log.warning("cached export %s is unusable (%s); exporting again", path, exc)
        if path.parent != bundled_onnx_dir():  # never touch the bundle: export to the cache
            path.unlink(missing_ok=True)
        copy.unlink(missing_ok=True)
        path = cached_onnx(model, build=build, use_bundle=False)
        return OnnxBackend(path, device=device, optimized_copy=copy)


def optimized_copy(model: CachedModel, kind: str) -> Path:
    """Where the ``kind`` ("fp32", "int8") export's graph optimised for this machine lives
    (in the cache, named by the machine); copies made for another machine are removed."""
    from engine.runtime.machine import this_machine

    path = model.path(f".{kind}-{this_machine().key()[:16]}.opt.onnx")
    if not path.exists():
        for stale in path.parent.glob(model.path(f".{kind}-*.opt.onnx").name):
            stale.unlink(missing_ok=True)
    return path


def torch_builder(
    model: str | Path, weights: str | Path | None, device: str
) -> Callable[[], Classifier]:
    """A function that loads the torch classifier once, on first call (a cache hit never does)."""
    from engine.runtime import build as torch_build

    built: list[Classifier] = []

    def build() -> Classifier:
        if not built:
            built.append(torch_build.load_torch_classifier(model, weights=weights, device=device))
        return built[0]

    return build


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
    from engine.runtime.build import is_random

    build = torch_builder(model, weights, device)
    try:
        if is_random(weights):
            return _uncached(build())
        found = cached_model(
            model,
            weights=weights,
            allow_download=allow_download,
            progress=progress,
            cancel=cancel,
        )
        backend = cached_backend(found, build=build, device=device, cancel=cancel)
    except ExportError as exc:
        if not fallback:
            raise
        log.warning("ONNX Runtime is not used for this model: %s", exc)
        return build()
    return onnx_backed(backend, found.source)


def onnx_backed(backend: OnnxBackend, source: ModelSource) -> Classifier:
    """A Classifier over an ONNX Runtime session, named and preprocessed by its metadata."""
    from engine.runtime.classifier import Classifier

    info = backend.info
    return Classifier(
        backend,
        class_names=info.class_names,
        preprocess=info.preprocess,
        source=source,
        temperature=info.temperature,
    )


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
