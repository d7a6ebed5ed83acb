"""Grad-CAM pictures of the images a trained model got wrong, for the app's results view."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.explain.overlay import blend
from engine.imaging.decode import load_image
from engine.inference.loader import load_classifier
from engine.jobs import TaskContext

if TYPE_CHECKING:
    from engine.runtime.classifier import Classifier


@dataclass(frozen=True)
class CamPicture:
    """A misclassified image with Grad-CAM for the class the model chose: uint8 (H, W, 3)."""

    path: Path
    pixels: np.ndarray
    caption: str


class MistakeExplainer:
    """Grad-CAM for the misclassified images of one trained model, loaded on first use.

    Lives on one worker thread (the runner's), so the classifier is never shared.
    """

    def __init__(self, model_path: Path) -> None:
        self.model_path = model_path
        self._classifier: Classifier | None = None
        self._lock = threading.Lock()

    def task(self, image_path: Path, true_label: str) -> Callable[[TaskContext], CamPicture]:
        def run(ctx: TaskContext) -> CamPicture:

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
