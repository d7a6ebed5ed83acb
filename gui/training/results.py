"""What a finished training shows: metrics, confusion matrix, misclassified images + Grad-CAM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QPixmap
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QSizePolicy,
    QWidget,
)

from engine.training.records import TrainResult
from engine.training.report import confusion_image
from gui.bridge import to_qimage

_PATH_ROLE = Qt.ItemDataRole.UserRole
_CAM_SIDE = 256


def pixmap_of(image: Image.Image | np.ndarray) -> QPixmap:
    """A Pillow image or uint8 (h, w, 3) pixels as a pixmap (GUI thread only)."""
    pixels = np.asarray(image, dtype=np.uint8)
    return QPixmap.fromImage(to_qimage(pixels))


class ResultsPanel(QWidget):
    """Filled by :meth:`show_result`; asks for Grad-CAM of the misclassified image the user
    selects (``explain_requested(path, true label)``) and shows it with :meth:`show_cam`."""

    explain_requested = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.metrics = QPlainTextEdit(readOnly=True)
        self.metrics.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.confusion = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.mistakes = QListWidget()
        self.mistakes.currentItemChanged.connect(self._selected)
        self.cam = QLabel("Select a misclassified image to see where the network looked.")
        self.cam.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.cam.setWordWrap(True)
        self.cam.setMinimumSize(_CAM_SIDE, _CAM_SIDE)
        self.cam_caption = QLabel(wordWrap=True)
        self.cam_caption.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Validation metrics</b>"), 0, 0)
        layout.addWidget(QLabel("<b>Confusion matrix</b>"), 0, 1)
        layout.addWidget(self.metrics, 1, 0)
        layout.addWidget(self.confusion, 1, 1)
        layout.addWidget(QLabel("<b>Misclassified validation images</b>"), 2, 0)
        layout.addWidget(QLabel("<b>Grad-CAM</b>"), 2, 1)
        layout.addWidget(self.mistakes, 3, 0)
        layout.addWidget(self.cam, 3, 1)
        layout.addWidget(self.cam_caption, 4, 1)

    def clear(self) -> None:
        self.metrics.clear()
        self.confusion.clear()
        self.mistakes.clear()
        self.cam.clear()
        self.cam_caption.clear()

    def show_result(self, result: TrainResult) -> None:
        self.metrics.setPlainText(result.summary())
        image = confusion_image(result.metrics.confusion, result.class_names)
        self.confusion.setPixmap(pixmap_of(image))
        self.mistakes.clear()
        for m in result.misclassified:
            text = f"{m.path.name}: {m.true_label} taken for {m.predicted_label} ({m.prob:.0%})"
            item = QListWidgetItem(text)
            item.setData(_PATH_ROLE, (str(m.path), m.true_label))
            item.setToolTip(str(m.path))
            self.mistakes.addItem(item)
        if not result.misclassified:
            self.mistakes.addItem("None: every validation image was classified correctly.")

    def show_cam(self, pixels: np.ndarray, caption: str) -> None:
        pixmap = pixmap_of(pixels).scaled(
            _CAM_SIDE, _CAM_SIDE, Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )  # fmt: skip
        self.cam.setPixmap(pixmap)
        self.cam_caption.setText(caption)

    def show_cam_error(self, message: str) -> None:
        self.cam.clear()
        self.cam_caption.setText(message)

    def _selected(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        data = item.data(_PATH_ROLE) if item is not None else None
        if data:
            path, true_label = data
            self.cam_caption.setText(f"Computing Grad-CAM for {Path(path).name}…")
            self.explain_requested.emit(path, true_label)
