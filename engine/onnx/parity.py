"""Do two runtimes agree on a model? Check images, the comparison, and its report.

Exports and quantized models verify themselves on a set of images: the user's validation split
when the model file records one, otherwise generated photo-like images. Everything here is numpy
and Pillow only (the one softmax is :func:`engine.probabilities.softmax`), so the ONNX
side never imports torch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine.errors import EngineError, ExportError
from engine.imaging.preprocess import PreprocessSpec
from engine.probabilities import softmax

log = logging.getLogger(__name__)

Runner = Callable[[np.ndarray], np.ndarray]
"""float32 (N, 3, crop, crop) batch -> float32 (N, K) logits."""

_VAL_KEYS = ("val", "validation")


@dataclass(frozen=True)
class ParityReport:
    """How closely ``candidate`` reproduced ``reference`` on ``images`` inputs.

    ``top1_agreement`` in [0, 1]; ``max_prob_diff`` is the largest absolute difference of any
    class probability (after softmax with the model's temperature) over all images.
    """

    reference: str
    candidate: str
    images: int
    image_source: str
    top1_agreement: float
    max_prob_diff: float

    def describe(self) -> str:
        return (
            f"{self.candidate} vs {self.reference} on {self.images} {self.image_source}: "
            f"top-1 agreement {self.top1_agreement:.1%}, "
            f"largest probability difference {self.max_prob_diff:.2e}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Tolerance:
    """The most disagreement an export may show; ``None`` skips the probability bound."""

    max_prob_diff: float | None
    min_top1_agreement: float

    def violation(self, report: ParityReport) -> str | None:
        """Why ``report`` is beyond tolerance, or None when it is within."""
        if self.max_prob_diff is not None and not report.max_prob_diff <= self.max_prob_diff:
            return (
                f"probabilities differ by up to {report.max_prob_diff:.2e} "
                f"(tolerance {self.max_prob_diff:.0e})"
            )
        if report.top1_agreement < self.min_top1_agreement:
            return (
                f"top-1 agreement is {report.top1_agreement:.1%} "
                f"(at least {self.min_top1_agreement:.0%} needed)"
            )
        return None

    def enforce(self, report: ParityReport, what: str) -> None:
        """Raise ExportError with the figures when ``report`` is beyond tolerance."""
        reason = self.violation(report)
        if reason is not None:
            raise ExportError(f"{what} refused: {reason}. {report.describe()}.")


FP32_TOLERANCE = Tolerance(max_prob_diff=1e-3, min_top1_agreement=0.95)
"""fp32 runtimes differ by rounding only; top-1 may flip on near-ties, hence not 100%."""
INT8_TOLERANCE = Tolerance(max_prob_diff=None, min_top1_agreement=0.90)


def compare(
    reference: Runner,
    candidate: Runner,
    batches: Iterable[np.ndarray],
    *,
    names: tuple[str, str],
    image_source: str,
    temperature: float = 1.0,
) -> ParityReport:
    """Run both on every batch and measure how far the candidate's probabilities stray."""
    agree = total = 0
    worst = 0.0
    for batch in batches:
        ref = softmax(reference(batch), temperature)
        cand = softmax(candidate(batch), temperature)
        if ref.shape != cand.shape:
            raise ExportError(f"outputs differ in shape: {ref.shape} vs {cand.shape}")
        agree += int((ref.argmax(axis=1) == cand.argmax(axis=1)).sum())
        total += len(batch)
        diff = float(np.abs(ref - cand).max()) if ref.size else 0.0
        worst = max(worst, diff) if np.isfinite(diff) else float("inf")
    if total == 0:
        raise ExportError("no images to check the export with")
    return ParityReport(names[0], names[1], total, image_source, agree / total, worst)


def batches(
    images: Sequence[Image.Image], spec: PreprocessSpec, size: int = 16
) -> list[np.ndarray]:
    """Images -> float32 (<=size, 3, crop, crop) batches, preprocessed as the model expects."""
    return [spec.to_batch(images[i : i + size]) for i in range(0, len(images), size)]


def generated_images(count: int, side: int, seed: int = 0) -> list[Image.Image]:
    """``count`` RGB photo-like images (smooth colour fields, a bright shape, sensor noise)
    whose shorter side is ``side`` px, in varied aspect ratios; deterministic per seed."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        aspect = float(rng.choice([1.0, 4 / 3, 3 / 4, 16 / 9]))
        width, height = (
            (round(side * aspect), side) if aspect >= 1 else (side, round(side / aspect))
        )
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        channels = []
        for _ in range(3):
            fx, fy, phase = rng.uniform(0.5, 4.0), rng.uniform(0.5, 4.0), rng.uniform(0, 6.3)
            channels.append(np.sin(x / width * fx * 6 + phase) * np.cos(y / height * fy * 6))
        pixels = np.stack(channels, axis=-1) * 0.4 + 0.5
        cx, cy, r = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height, side / 6
        pixels[(x - cx) ** 2 + (y - cy) ** 2 < r**2] = rng.uniform(0, 1, 3)
        pixels += rng.normal(0, 0.03, pixels.shape)
        images.append(Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8), "RGB"))
    return images


def load_images(paths: Iterable[Path], limit: int) -> list[Image.Image]:
    """Decode up to ``limit`` images, skipping (and logging) the ones that fail."""
    from engine.imaging.decode import load_image

    images: list[Image.Image] = []
    for path in paths:
        if len(images) >= limit:
            break
        try:
            images.append(load_image(path))
        except EngineError as exc:
            log.warning("skipping %s: %s", path, exc)
    return images


def validation_images(extra: Mapping[str, Any], limit: int = 64) -> list[Path]:
    """Files of the validation split recorded in a model file's ``ModelInfo.extra``.

    Reads the fine-tuning record: ``extra["split"]["files"]``, entries ``{"path", "split",
    ...}`` with paths relative to ``extra["dataset"]["root"]``; also a plain list under
    ``extra["split"]["val"]``. Returns the validation files that still exist (at most
    ``limit``), or [] when the model records no split (e.g. ImageNet weights).
    """
    split = extra.get("split")
    if not isinstance(split, Mapping):
        return []
    entries: list[Any] = [
        entry
        for entry in split.get("files") or []
        if isinstance(entry, Mapping) and entry.get("split") in _VAL_KEYS
    ] or list(next((split[k] for k in _VAL_KEYS if isinstance(split.get(k), list)), []))
    dataset = extra.get("dataset")
    root_text = next(
        (str(d["root"]) for d in (split, dataset) if isinstance(d, Mapping) and "root" in d),
        None,
    )
    found: list[Path] = []
    for entry in entries:
        raw = entry.get("path") if isinstance(entry, Mapping) else entry
        if not isinstance(raw, str):
            continue
        path = Path(raw)
        if not path.is_absolute() and root_text is not None:
            path = Path(root_text) / path
        if path.is_file():
            found.append(path)
        if len(found) >= limit:
            break
    if entries and not found:
        log.warning("the validation split recorded in the model file is no longer on disk")
    return found
