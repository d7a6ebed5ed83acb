"""The Training tab's work, run on worker threads through :class:`gui.bridge.TaskRunner`.

Task functions call the engine and hand back frozen data (engine records, uint8 pixels); none
touches a widget. Training is stopped with the tab's own :class:`CancelToken` rather than the
runner's, so that a cancelled training still returns its :class:`TrainResult` (the best model
so far is saved and can be used).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.datasets import DatasetScan, HealthReport, scan_dataset
from engine.jobs import CancelToken

if TYPE_CHECKING:
    from engine.predictor import Classifier
    from engine.training_records import TrainConfig, TrainProgress, TrainResult
    from gui.bridge import TaskContext

REPORT_INTERVAL_S = 0.1
"""Step progress reaches the window at most this often; epoch ends always do."""


@dataclass(frozen=True)
class ScanDone:
    scan: DatasetScan
    health: HealthReport


@dataclass(frozen=True)
class ScanProgress:
    done: int
    total: int


@dataclass(frozen=True)
class CamPicture:
    """A misclassified image with Grad-CAM for the class the model chose: uint8 (H, W, 3)."""

    path: Path
    pixels: np.ndarray
    caption: str


def scan_task(folder: Path) -> Callable[[TaskContext], ScanDone]:
    def run(ctx: TaskContext) -> ScanDone:
        def report(progress: object) -> None:
            ctx.report(ScanProgress(progress.done, progress.total or 0))  # type: ignore[attr-defined]

        scan = scan_dataset(folder, cancel=ctx.cancel, on_progress=report)
        return ScanDone(scan, scan.health())

    return run


def train_task(
    data: DatasetScan | Path,
    out: Path,
    config: TrainConfig,
    *,
    resume: bool,
    cancel: CancelToken,
) -> Callable[[TaskContext], TrainResult]:
    """Train with ``cancel`` as the stop signal; progress is thinned to a few reports a second."""
    from engine.finetune import train

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


class Explainer:
    """Grad-CAM for the misclassified images of one trained model, loaded on first use.

    Lives on one worker thread (the runner's), so the classifier is never shared.
    """

    def __init__(self, model_path: Path) -> None:
        self.model_path = model_path
        self._classifier: Classifier | None = None
        self._lock = threading.Lock()

    def task(self, image_path: Path, true_label: str) -> Callable[[TaskContext], CamPicture]:
        def run(ctx: TaskContext) -> CamPicture:
            from engine.images import load_image
            from engine.loader import load_classifier
            from engine.overlay import blend

            with self._lock:
                if self._classifier is None:
                    self._classifier = load_classifier(self.model_path, device="cpu")
                classifier = self._classifier
            image = load_image(image_path, min_side=classifier.preprocess.resize)
            ctx.cancel.raise_if_cancelled("Grad-CAM")
            explanation = classifier.explain(image)
            overlay = blend(image, explanation.heatmap, alpha=0.5)
            caption = (
                f"{image_path.name}: predicted {explanation.label} ({explanation.prob:.0%}), "
                f"true class {true_label}. Heat = where the network looked for {explanation.label}."
            )
            return CamPicture(image_path, np.asarray(overlay, dtype=np.uint8), caption)

        return run
