"""The selected image: a screen-sized copy of it, its top-k and a Grad-CAM map, on demand.

Selecting an image shows it at once and then its heat map; picking another class recomputes
the map for that class. Requests run on their own worker, newest first (arrowing through 20
images computes the last one, not all 20), and take turns with a running batch per forward
pass (see :mod:`engine.runtime.backends.serialized`), so they never wait for a whole folder.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from engine.errors import EngineError
from engine.explain.display import heat_layers, load_display_image
from engine.explain.whole_photo import explain_whole_photo
from engine.imaging.decode import load_image
from engine.imaging.thumbnails import LruCache
from engine.runtime.classifier import Explanation
from gui.bridge import TaskContext, TaskRunner, to_qimage

if TYPE_CHECKING:
    from PIL import Image

    from engine.runtime.classifier import Classifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageView:
    path: Path
    image: QImage
    size: tuple[int, int]  # the displayed copy's (width, height)


@dataclass(frozen=True)
class CamView:
    path: Path
    explanation: Explanation  # heatmap has the displayed copy's geometry
    heat_rgba: QImage  # colour with alpha = heat, painted over the photo
    heat_rgb: QImage  # the heat map alone
    scope_text: str = "on the centre square the network classified"


class Explainer(QObject):
    """Loads the selected image and explains it, on the ``interactive`` worker."""

    image_ready = Signal(object)  # ImageView
    explained = Signal(object)  # CamView
    failed = Signal(str)  # message for the viewer
    unexplained = Signal(str)  # the image is shown, but there is no map (and why)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.classifier: Classifier | None = None
        self.current: CamView | None = None
        self.path: Path | None = None
        self._task: int | None = None
        # Only ever touched on the worker thread (tasks there run one at a time).
        self._images: LruCache[str, tuple[Image.Image, QImage]] = LruCache(3)
        self._runner = TaskRunner("interactive", max_pending=1, parent=self)

    def show(
        self, path: Path, class_index: int | None = None, top_k: int = 5, *, whole: bool = False
    ) -> None:
        """Show ``path`` and explain ``class_index`` (None: the top-1 class); ``whole``: the
        map covers the whole photo, not only the centre crop the network classified."""
        self.path = path
        if class_index is None or self.current is None or self.current.path != path:
            self.current = None
        classifier = self.classifier

        def if_current(then):  # type: ignore[no-untyped-def]
            # Only the newest request counts: an older one may still finish meanwhile.
            return lambda value: then(value) if self._task == task else None

        task = self._runner.submit(
            lambda ctx: self._work(ctx, path, classifier, class_index, top_k, whole),
            progress=if_current(self.image_ready.emit),
            result=if_current(self._on_finished),
            error=if_current(self._on_failed),
        )
        self._task = task

    def clear(self) -> None:
        self.path = None
        self.current = None
        self._task = None

    def shutdown(self) -> None:
        self._runner.shutdown()

    def _work(
        self,
        ctx: TaskContext,
        path: Path,
        classifier: Classifier | None,
        class_index: int | None,
        top_k: int,
        whole: bool,
    ) -> CamView | None:
        cached = self._images.get(str(path))
        if cached is None:
            image = load_display_image(path)
            cached = (image, to_qimage(np.asarray(image.convert("RGB"), dtype=np.uint8)))
            self._images.put(str(path), cached)
        image, qimage = cached
        ctx.report(ImageView(path, qimage, image.size))
        ctx.cancel.raise_if_cancelled("Explaining")
        if classifier is None:
            return None
        # Decoded as the batch decodes it, so the bars agree with the tile to the last digit.
        model_image = load_image(path, min_side=classifier.preprocess.resize)
        explanation = classifier.explain(image, class_index, top_k_=top_k, model_image=model_image)
        if not whole:
            rgba, rgb = heat_layers(explanation.heatmap)
            return CamView(path, explanation, to_qimage(rgba), to_qimage(rgb))
        ctx.cancel.raise_if_cancelled("Explaining")
        covered = explain_whole_photo(classifier, image, explanation.class_index)
        explanation = replace(explanation, heatmap=covered.heatmap)
        rgba, rgb = heat_layers(covered.heatmap)
        passes = "one pass" if covered.passes == 1 else f"{covered.passes} overlapping squares"
        text = f"over the whole photo ({passes}, no crop)"
        return CamView(path, explanation, to_qimage(rgba), to_qimage(rgb), text)

    def _on_finished(self, view: CamView | None) -> None:
        if view is None:
            self.unexplained.emit("No model is loaded yet, so there is no heat map.")
        else:
            self.current = view
            self.explained.emit(view)

    def _on_failed(self, exc: BaseException) -> None:
        self.failed.emit(str(exc) if isinstance(exc, EngineError) else f"Error: {exc}")
