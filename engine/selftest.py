"""Check that an installed or packaged ResLens works end to end, without Qt.

:func:`run_selftest` loads a model (pretrained weights bundled with the app or cached on this
machine when present, otherwise random weights, labelled as such), classifies the sample
photos, computes one Grad-CAM, and, when ONNX Runtime is installed, exports the model in
memory and checks that ONNX Runtime agrees with PyTorch. It never downloads anything. The
packaged app runs it for ``ResLens --self-test`` (``packaging/launcher.py``), adding the
window check from ``gui/selftest.py``.

>>> report = run_selftest()          # doctest: +SKIP
>>> report.ok, report.summary()      # doctest: +SKIP
(True, 'ResLens self-test passed: model ResNet-50 ... in 9.1 s')
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

import numpy as np

from engine.errors import EngineError, WeightsNotFoundError
from engine.imaging.decode import load_image
from engine.imaging.walk import SUPPORTED_SUFFIXES, find_images
from engine.models.registry import ARCHITECTURES, DEFAULT_ARCH
from engine.resources import bundled_weights_dir, samples_dir
from engine.versions import versions

if TYPE_CHECKING:
    from PIL import Image

    from engine.runtime.classifier import Classifier, Prediction

log = logging.getLogger(__name__)

Status = Literal["ok", "failed", "skipped"]
_T = TypeVar("_T")
ONNX_PROB_TOLERANCE = 1e-3
"""Largest probability difference between PyTorch and ONNX Runtime (fp32) that passes."""
_DISTRIBUTIONS = (
    "reslens",
    "torch",
    "torchvision",
    "onnxruntime-gpu",
    "onnxruntime",
    "PySide6-Essentials",
    "PySide6",
)


@dataclass(frozen=True)
class Check:
    """One step of the self-test: its name ("model", "classify" ...), outcome and detail."""

    name: str
    status: Status
    detail: str
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def line(self) -> str:
        return f"{self.status.upper():7} {self.name:9} {self.detail} ({self.seconds:.1f} s)"


@dataclass(frozen=True)
class SelfTestReport:
    """Every check, in the order run; ``ok`` when none failed (skipped ones do not fail)."""

    checks: tuple[Check, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.failed)

    def plus(self, *checks: Check) -> SelfTestReport:
        """This report with more checks (e.g. the GUI's) appended and their time added."""
        extra = sum(c.seconds for c in checks)
        return replace(self, checks=self.checks + checks, seconds=self.seconds + extra)

    def summary(self) -> str:
        """One line: passed or what failed, with each check's short detail."""
        if self.failures:
            failed = "; ".join(f"{c.name}: {c.detail}" for c in self.failures)
            return f"ResLens self-test FAILED ({failed})"
        parts = ", ".join(f"{c.name} {_short(c)}" for c in self.checks)
        return f"ResLens self-test passed in {self.seconds:.1f} s: {parts}"

    def lines(self) -> list[str]:
        """One line per check, for a log file or a verbose terminal."""
        return [c.line() for c in self.checks]


def _short(check: Check) -> str:
    if check.status == "skipped":
        return "skipped"
    return check.detail.split(";")[0]


def describe_versions() -> str:
    """``ResLens 0.1.0 (Python 3.11.7, torch 2.14.1, ...)``; "frozen" inside the packaged app."""
    found = versions(_DISTRIBUTIONS)
    app = found.pop("reslens", "unknown version")
    parts = [f"{k} {v}" for k, v in found.items()]
    if getattr(sys, "frozen", False):
        parts.append("packaged")
    return f"ResLens {app} ({', '.join(parts)})"


@dataclass
class _State:
    """What earlier checks produced for the later ones."""

    classifier: Classifier | None = None
    images: list[tuple[Path, Image.Image]] | None = None
    predictions: list[Prediction] | None = None


def _timed(name: str, step: Callable[[], str]) -> Check:
    """Run one step; an exception becomes a failed check naming it (the test goes on)."""
    start = time.perf_counter()
    try:
        detail = step()
        status: Status = "ok"
    except _Skip as skip:
        detail, status = str(skip), "skipped"
    except Exception as exc:  # a self-test reports every failure instead of crashing
        log.exception("self-test step %s failed", name)
        detail, status = f"{type(exc).__name__}: {exc}", "failed"
    return Check(name, status, detail, time.perf_counter() - start)


class _Skip(Exception):
    """A step that cannot run here (e.g. onnxruntime not installed); not a failure."""


def _check_torch() -> str:
    """torch imports, and torchvision's compiled operators load (a packaging trap: the frozen
    app otherwise fails with "operator torchvision::nms does not exist")."""
    import torch
    import torchvision
    from torchvision.ops import nms

    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=torch.float32)
    kept = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5).tolist()
    if kept != [0, 2]:
        raise EngineError(f"torchvision.ops.nms gave {kept}, expected [0, 2]")
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU build"
    gpu = "GPU available" if torch.cuda.is_available() else "no GPU"
    return (
        f"{torch.__version__} ({build}, {gpu}, {torch.get_num_threads()} threads); "
        f"torchvision {torchvision.__version__} compiled ops load"
    )


def default_arch() -> str:
    """The architecture whose pretrained weights are bundled (the default one first)."""
    order = [DEFAULT_ARCH, *(a for a in ARCHITECTURES if a != DEFAULT_ARCH)]
    for arch in order:
        if (bundled_weights_dir() / ARCHITECTURES[arch].weights_url.rsplit("/", 1)[-1]).is_file():
            return arch
    return DEFAULT_ARCH


def load_selftest_model(model: str | Path | None, device: str) -> tuple[Classifier, str]:
    """``model`` (an architecture or a model file), else the default architecture with
    pretrained weights from the bundle or cache, else random weights -> (classifier, note)."""
    from engine.inference.loader import load_classifier
    from engine.runtime.build import RANDOM_WEIGHTS

    if model is not None:
        return load_classifier(model, device=device, allow_download=False), ""
    arch = default_arch()
    try:
        return load_classifier(arch, device=device, allow_download=False), ""
    except WeightsNotFoundError as exc:
        note = (
            f"no pretrained weights bundled or cached ({exc.filename}), so this used RANDOM "
            "weights: the labels below are meaningless, the pipeline is what is tested"
        )
        return load_classifier(arch, weights=RANDOM_WEIGHTS, device=device), note


def _check_model(state: _State, model: str | Path | None, device: str) -> str:
    classifier, note = load_selftest_model(model, device)
    state.classifier = classifier
    label = classifier.source.name
    weights = "pretrained" if classifier.source.pretrained else "RANDOM weights"
    return f"{label} ({weights}, {classifier.backend.name} on {classifier.device})" + (
        f"; {note}" if note else f"; {classifier.describe()}"
    )


def _check_classify(state: _State, folder: Path, limit: int | None) -> str:
    classifier = _need(state.classifier, "no model")
    paths, skipped = find_images([folder])
    broken = [f"{p.name}: {why}" for p, why in skipped if p.suffix.lower() in SUPPORTED_SUFFIXES]
    if broken:
        raise EngineError(f"unreadable sample photos: {'; '.join(broken)}")
    if not paths:
        raise EngineError(f"no sample images in {folder}")
    state.images = [(p, load_image(p)) for p in sorted(paths)[:limit]]
    predictions = classifier.predict([img for _, img in state.images], top_k=3)
    for pred in predictions:
        if not (np.isfinite(pred.probs).all() and 0.0 <= sum(pred.probs) <= 1.0 + 1e-4):
            raise EngineError(f"probabilities out of range: {pred.probs}")
    state.predictions = predictions
    each = ", ".join(
        f"{p.name} -> {pred.label} {pred.prob:.0%}"
        for (p, _), pred in zip(state.images, predictions, strict=True)
    )
    return f"{len(predictions)} sample photos; {each}"


def _check_heatmap(heatmap: np.ndarray, size: tuple[int, int]) -> None:
    """``heatmap`` must be float (height, width) for an image of ``size`` (w, h), in [0, 1]."""
    if heatmap.shape != (size[1], size[0]):
        raise EngineError(f"heat map shape {heatmap.shape} does not fit the image {size}")
    if not np.isfinite(heatmap).all() or heatmap.min() < 0 or heatmap.max() > 1:
        raise EngineError("heat map values outside [0, 1]")


def _check_gradcam(state: _State) -> str:
    classifier = _need(state.classifier, "no model")
    path, image = _need(state.images, "no sample photos")[0]
    explanation = classifier.explain(image)
    _check_heatmap(explanation.heatmap, image.size)
    width, height = image.size
    return f"{path.name} {width}x{height} for '{explanation.label}'"


def _onnx_classifier(classifier: Classifier, images: list[Image.Image]) -> Classifier:
    """``classifier`` exported to ONNX in memory, opened in ONNX Runtime on the CPU."""
    if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None:
        raise _Skip("onnxruntime/onnx not installed")
    from engine.onnx.export import export_verified
    from engine.runtime.backends.onnx_backend import onnx_classifier

    data, _ = export_verified(
        classifier, images=images, image_source="sample photos", tolerance=None
    )
    return onnx_classifier(data, device="cpu")


def _check_onnx(state: _State) -> str:
    classifier = _need(state.classifier, "no model")
    images = _need(state.images, "no sample photos")
    reference = _need(state.predictions, "no PyTorch predictions")
    onnx = _onnx_classifier(classifier, [img for _, img in images])
    got = onnx.predict([img for _, img in images], top_k=len(classifier.class_names))
    worst, agree = 0.0, 0
    for ref, pred in zip(reference, got, strict=True):
        probs = dict(zip(pred.indices, pred.probs, strict=True))
        worst = max(
            worst, *(abs(p - probs[i]) for i, p in zip(ref.indices, ref.probs, strict=True))
        )
        agree += ref.index == pred.index
    if worst > ONNX_PROB_TOLERANCE:
        raise EngineError(f"ONNX Runtime differs from PyTorch by {worst:.2g} in probability")
    _check_heatmap(onnx.explain(images[0][1]).heatmap, images[0][1].size)
    return (
        f"top-1 agrees {agree}/{len(got)}, max prob diff {worst:.1e}; "
        f"{onnx.describe()}, CAM from ONNX features"
    )


def _need(value: _T | None, what: str) -> _T:
    if value is None:
        raise _Skip(f"skipped: {what}")
    return value


def run_selftest(
    *,
    model: str | Path | None = None,
    samples: str | Path | None = None,
    onnx: bool = True,
    device: str = "cpu",
    limit: int | None = None,
) -> SelfTestReport:
    """Run every check and report; never raises for a failing check, never downloads.

    ``model``: an architecture or model file (default: see :func:`load_selftest_model`).
    ``samples``: folder of photos (default: the bundled ``assets/samples``); ``limit``: use
    at most this many. ``onnx``: False skips the ONNX Runtime check.
    """
    start = time.perf_counter()
    state = _State()
    folder = Path(samples) if samples is not None else samples_dir()
    steps: list[tuple[str, Callable[[], str]]] = [
        ("torch", _check_torch),
        ("model", lambda: _check_model(state, model, device)),
        ("classify", lambda: _check_classify(state, folder, limit)),
        ("gradcam", lambda: _check_gradcam(state)),
        ("onnx", (lambda: _check_onnx(state)) if onnx else _skip_onnx),
    ]
    checks = tuple(_timed(name, step) for name, step in steps)
    return SelfTestReport(checks, time.perf_counter() - start)


def _skip_onnx() -> str:
    raise _Skip("not requested")
