"""Images for training and evaluation: decoded once, kept in memory within a budget,
augmented reproducibly, and delivered in batches by a prefetch thread.

Augmentation draws from a numpy generator seeded by (seed, epoch, sample index), never from a
global random state, so results do not depend on thread timing and a resumed run replays the
same epochs as an uninterrupted one. Decoding matches what classification does
(:func:`engine.imaging.decode.load_image` with ``min_side=spec.resize``, then the spec's crop), so the
validation figures measured here are the ones a user gets when classifying those files.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance

from engine.errors import EngineError
from engine.imaging.decode import load_image
from engine.imaging.preprocess import PreprocessSpec
from engine.jobs import CancelToken, ProgressMeter, ordered_map
from engine.training.scan import Sample

log = logging.getLogger(__name__)

ROTATION_DEGREES = 10.0
CROP_SCALE = (0.35, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)
JITTER = 0.2  # brightness, contrast and saturation factors drawn from [1 - JITTER, 1 + JITTER]


@dataclass(frozen=True)
class Batch:
    """``pixels`` uint8 (N, crop, crop, 3) RGB; ``labels`` int64 (N,); ``indices`` into the
    sample list the batch was drawn from (N,)."""

    pixels: np.ndarray
    labels: np.ndarray
    indices: np.ndarray


class ImageStore:
    """Decoded images, cached in memory up to ``budget_bytes`` (then decoded on each use).

    Training samples are kept with their shorter side scaled to ``spec.resize`` (augmentation
    crops from them); evaluation samples as the final uint8 (crop, crop, 3) centre crop.
    Thread-safe: the prefetch thread and the caller may both read it.
    """

    def __init__(self, spec: PreprocessSpec, *, budget_bytes: int) -> None:
        self.spec = spec
        self.budget_bytes = budget_bytes
        self.used_bytes = 0
        self._train: dict[Path, Image.Image] = {}
        self._eval: dict[Path, np.ndarray] = {}
        self._failed: dict[Path, str] = {}
        self._lock = threading.Lock()

    @property
    def failed(self) -> dict[Path, str]:
        """Files that could not be decoded, and why."""
        return dict(self._failed)

    def train_image(self, sample: Sample) -> Image.Image | None:
        key = sample.path
        cached = self._train.get(key)
        if cached is not None:
            return cached
        image = self._decode(sample)
        if image is None:
            return None
        image = _shrink(image, self.spec.resize)
        self._keep(self._train, key, image, image.width * image.height * 3)
        return image

    def eval_pixels(self, sample: Sample) -> np.ndarray | None:
        key = sample.path
        cached = self._eval.get(key)
        if cached is not None:
            return cached
        image = self._decode(sample)
        if image is None:
            return None
        pixels = center_crop_pixels(self.spec, image)
        self._keep(self._eval, key, pixels, pixels.nbytes)
        return pixels

    def preload(
        self,
        train: Sequence[Sample],
        evaluate: Sequence[Sample],
        *,
        workers: int = 2,
        cancel: CancelToken | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Decode everything that fits the budget now, on ``workers`` threads."""
        jobs = [(s, True) for s in train] + [(s, False) for s in evaluate]
        meter = ProgressMeter(len(jobs))

        def load(job: tuple[Sample, bool]) -> None:
            if self.used_bytes < self.budget_bytes:
                sample, for_training = job
                _ = self.train_image(sample) if for_training else self.eval_pixels(sample)

        for _, future in ordered_map(
            load, jobs, workers=workers, in_flight=4 * workers, cancel=cancel
        ):
            future.result()
            meter.advance()
            if on_progress is not None:
                on_progress(meter.done, len(jobs))

    def _decode(self, sample: Sample) -> Image.Image | None:
        try:
            return load_image(sample.path, min_side=self.spec.resize)
        except (EngineError, OSError) as exc:
            key = sample.path
            with self._lock:
                first = key not in self._failed
                self._failed[key] = str(getattr(exc, "reason", exc))
            if first:
                log.warning("leaving out %s: %s", sample.path, self._failed[key])
            return None

    def _keep(self, cache: dict[Path, Any], key: Path, value: object, size: int) -> None:
        with self._lock:
            if key not in cache and self.used_bytes + size <= self.budget_bytes:
                cache[key] = value
                self.used_bytes += size


def center_crop_pixels(spec: PreprocessSpec, image: Image.Image) -> np.ndarray:
    """uint8 (crop, crop, 3): exactly the pixels :meth:`PreprocessSpec.to_array` normalises."""
    box = spec.crop_box(*image.size)
    size = (spec.crop, spec.crop)
    resized = image.convert("RGB").resize(
        size, Image.Resampling.BILINEAR, box=box, reducing_gap=3.0
    )
    return np.asarray(resized, dtype=np.uint8)


def _shrink(image: Image.Image, short_side: int) -> Image.Image:
    scale = short_side / min(image.size)
    if scale >= 1:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)


def augment(image: Image.Image, crop: int, rng: np.random.Generator, *, color: bool) -> np.ndarray:
    """A random view of ``image`` as uint8 (crop, crop, 3).

    Small rotation, random resized crop (area 35-100 %, aspect 3:4 to 4:3), horizontal flip,
    and for colour images brightness/contrast/saturation jitter.
    """
    angle = float(rng.uniform(-ROTATION_DEGREES, ROTATION_DEGREES))
    image = image.rotate(angle, resample=Image.Resampling.BILINEAR)
    box = _random_box(image.width, image.height, rng)
    view = image.resize((crop, crop), Image.Resampling.BILINEAR, box=box)
    if rng.random() < 0.5:
        view = view.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if color:
        for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
            view = enhancer(view).enhance(float(rng.uniform(1 - JITTER, 1 + JITTER)))
    return np.asarray(view, dtype=np.uint8)


def _random_box(width: int, height: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """torchvision's RandomResizedCrop.get_params, drawing from ``rng``."""
    area = width * height
    log_ratio = (math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1]))
    for _ in range(10):
        target = area * rng.uniform(*CROP_SCALE)
        ratio = math.exp(rng.uniform(*log_ratio))
        w = round(math.sqrt(target * ratio))
        h = round(math.sqrt(target / ratio))
        if 0 < w <= width and 0 < h <= height:
            left = int(rng.integers(0, width - w + 1))
            top = int(rng.integers(0, height - h + 1))
            return (left, top, left + w, top + h)
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return (left, top, left + side, top + side)


def epoch_order(labels: np.ndarray, *, seed: int, epoch: int, balanced: bool) -> np.ndarray:
    """The order samples are visited in one epoch (int64 indices, length = len(labels)).

    ``balanced``: drawn with replacement, each class equally likely (a class-balanced sampler).
    """
    rng = np.random.default_rng((seed, epoch, 0))
    if not balanced:
        return rng.permutation(len(labels))
    counts = np.bincount(labels)
    weights = 1.0 / counts[labels]
    return rng.choice(len(labels), size=len(labels), replace=True, p=weights / weights.sum())


def steps_per_epoch(count: int, batch_size: int) -> int:
    """Batches per epoch for ``count`` training images (a lone last image is dropped)."""
    steps = -(-count // batch_size)
    return steps - 1 if steps > 1 and count % batch_size == 1 else steps


def train_batches(
    store: ImageStore,
    samples: Sequence[Sample],
    order: np.ndarray,
    *,
    batch_size: int,
    seed: int,
    epoch: int,
    color: bool,
    start_step: int = 0,
    cancel: CancelToken | None = None,
) -> Generator[Batch, None, None]:
    """Augmented batches in ``order`` from batch ``start_step`` on, prepared one batch ahead
    on a thread.

    A final batch of one image is dropped (batch norm cannot train on it); images that fail
    to decode are left out of their batch.
    """
    steps = steps_per_epoch(len(order), batch_size)
    chunks = [order[i * batch_size : (i + 1) * batch_size] for i in range(start_step, steps)]
    crop = store.spec.crop

    def make(chunk: np.ndarray) -> Batch:
        views, labels, kept = [], [], []
        for index in chunk:
            sample = samples[int(index)]
            image = store.train_image(sample)
            if image is None:
                continue
            rng = np.random.default_rng((seed, epoch, 1, int(index)))
            views.append(augment(image, crop, rng, color=color))
            labels.append(sample.label)
            kept.append(int(index))
        return _batch(views, labels, kept, crop)

    for _, future in ordered_map(make, chunks, workers=1, in_flight=2, cancel=cancel):
        batch = future.result()
        if len(batch.labels):
            yield batch


def eval_batches(
    store: ImageStore,
    samples: Sequence[Sample],
    *,
    batch_size: int,
    cancel: CancelToken | None = None,
) -> Generator[Batch, None, None]:
    """Centre-cropped batches of ``samples`` in order, prepared one batch ahead on a thread."""
    chunks = [
        np.arange(i, min(i + batch_size, len(samples))) for i in range(0, len(samples), batch_size)
    ]

    def make(chunk: np.ndarray) -> Batch:
        views, labels, kept = [], [], []
        for index in chunk:
            pixels = store.eval_pixels(samples[int(index)])
            if pixels is not None:
                views.append(pixels)
                labels.append(samples[int(index)].label)
                kept.append(int(index))
        return _batch(views, labels, kept, store.spec.crop)

    for _, future in ordered_map(make, chunks, workers=1, in_flight=2, cancel=cancel):
        batch = future.result()
        if len(batch.labels):
            yield batch


def _batch(views: list[np.ndarray], labels: list[int], kept: list[int], crop: int) -> Batch:
    pixels = np.stack(views) if views else np.empty((0, crop, crop, 3), dtype=np.uint8)
    return Batch(pixels, np.asarray(labels, dtype=np.int64), np.asarray(kept, dtype=np.int64))
