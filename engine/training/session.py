"""Training as an app runs it: scanning and training as tasks for a worker thread.

Task functions take an :class:`engine.jobs.TaskContext` (the app's task runner is one) and
hand back frozen data. Training is stopped with the caller's own :class:`CancelToken` rather
than the runner's, so that a cancelled training still returns its :class:`TrainResult` (the
best model so far is saved and can be used).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import ImageLoadError
from engine.imaging.thumbnails import make_thumbnail
from engine.jobs import CancelToken, TaskContext
from engine.training.health import HealthReport, assess
from engine.training.scan import DatasetScan, scan_dataset
from engine.training.state import state_path

if TYPE_CHECKING:
    from engine.training.records import TrainConfig, TrainProgress, TrainResult

REPORT_INTERVAL_S = 0.1
"""Step progress reaches the window at most this often; epoch ends always do."""


EXAMPLES_PER_CLASS = 4
EXAMPLE_SIDE = 64


@dataclass(frozen=True)
class ScanDone:
    """The scan, its health report, and a few thumbnails per class: uint8 (h, w, 3) each."""

    scan: DatasetScan
    health: HealthReport
    examples: tuple[tuple[str, tuple[np.ndarray, ...]], ...] = ()


@dataclass(frozen=True)
class ScanProgress:
    done: int
    total: int


def scan_task(folder: Path) -> Callable[[TaskContext], ScanDone]:
    def run(ctx: TaskContext) -> ScanDone:
        def report(progress: object) -> None:
            ctx.report(ScanProgress(progress.done, progress.total or 0))  # type: ignore[attr-defined]

        scan = scan_dataset(folder, cancel=ctx.cancel, on_progress=report)
        return ScanDone(scan, assess(scan), class_examples(scan))

    return run


def class_examples(
    scan: DatasetScan, per_class: int = EXAMPLES_PER_CLASS, side: int = EXAMPLE_SIDE
) -> tuple[tuple[str, tuple[np.ndarray, ...]], ...]:
    """The first few readable images of each class as thumbnails (longer side ``side``)."""
    out = []
    for index, name in enumerate(scan.class_names):
        paths = [s.path for s in scan.samples if s.label == index][:per_class]
        thumbs = []
        for path in paths:
            try:
                thumbs.append(make_thumbnail(path, side))
            except (ImageLoadError, OSError):
                continue  # scanned as readable a moment ago; the health report has the rest
        out.append((name, tuple(thumbs)))
    return tuple(out)


def train_task(
    data: DatasetScan | Path,
    out: Path,
    config: TrainConfig,
    *,
    resume: bool,
    cancel: CancelToken,
) -> Callable[[TaskContext], TrainResult]:
    """Train with ``cancel`` as the stop signal; progress is thinned to a few reports a second."""
    from engine.training.run import train

    def run(ctx: TaskContext) -> TrainResult:
        last = [0.0]

        def report(progress: TrainProgress) -> None:
            now = time.monotonic()
            if progress.phase in ("training", "preparing") and now - last[0] < REPORT_INTERVAL_S:
                return
            last[0] = now
            ctx.report(progress)

        return train(data, out, config, resume=resume, cancel=cancel, on_progress=report)

    return run


def free_model_path(path: Path) -> Path:
    """``path`` if no file is there yet, else the first free ``name-2.reslens``, ``name-3`` …

    Training never replaces a model file unless the user chose to (in a save dialog).
    """
    if not _taken(path):
        return path
    stem, suffix = path.stem, path.suffix
    base, _, number = stem.rpartition("-")
    if base and number.isdigit():
        stem, start = base, int(number) + 1
    else:
        start = 2
    n = start
    while _taken(candidate := path.with_name(f"{stem}-{n}{suffix}")):
        n += 1
    return candidate


def _taken(path: Path) -> bool:
    """A model file is there, or an interrupted run's state that training would resume."""
    return path.exists() or state_path(path).exists()
