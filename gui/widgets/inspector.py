"""The panel for the selected image: viewer, view mode, opacity, zoom, top-k bars."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.explain.display import VIEW_MODES, ViewMode
from engine.runtime.classifier import Explanation
from gui.explainer import CamView, ImageView
from gui.widgets.image_viewer import ImageViewer
from gui.widgets.topk_bars import TopKBars

MODE_LABELS = {"image": "Image", "overlay": "Overlay", "heatmap": "Heat map"}


class Inspector(QWidget):
    """Shows one image and its explanation; asks for another class via ``class_chosen``."""

    class_chosen = Signal(int)
    mode_changed = Signal(str)
    opacity_changed = Signal(int)  # percent
    save_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._explanation: Explanation | None = None
        self.title = QLabel("No image selected")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setWordWrap(True)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.viewer = ImageViewer(self)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.bars = TopKBars(self)
        self.bars.class_chosen.connect(self._on_class_chosen)
        self.save_button = QPushButton("Save View as PNG…")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.save_requested)
        self._build_controls()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.title)
        layout.addWidget(self.viewer, stretch=1)
        layout.addLayout(self._controls)
        self.caption = QLabel("Top classes: click one to see where the network finds it")
        self.caption.setWordWrap(True)
        layout.addWidget(self.caption)
        layout.addWidget(self.bars)
        layout.addWidget(self.status)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.save_button)
        layout.addLayout(bottom)

    def _build_controls(self) -> None:
        self._controls = QHBoxLayout()
        self.mode_buttons: dict[str, QToolButton] = {}
        self._modes = QButtonGroup(self)
        for mode in VIEW_MODES:
            button = QToolButton(self)
            button.setText(MODE_LABELS[mode])
            button.setCheckable(True)
            button.setToolTip(f"Show the {MODE_LABELS[mode].lower()}")
            self._modes.addButton(button)
            self.mode_buttons[mode] = button
            button.clicked.connect(lambda _=False, m=mode: self.set_mode(m))
            self._controls.addWidget(button)
        self.opacity = QSlider(Qt.Orientation.Horizontal, self)
        self.opacity.setRange(0, 100)
        self.opacity.setToolTip("Heat map opacity over the photo")
        self.opacity.setMinimumWidth(80)
        self.opacity.valueChanged.connect(self._on_opacity)
        self.opacity_label = QLabel("50 %")
        self._controls.addSpacing(8)
        self._controls.addWidget(QLabel("Opacity"))
        self._controls.addWidget(self.opacity, stretch=1)
        self._controls.addWidget(self.opacity_label)
        self._controls.addSpacing(8)
        for text, tip, slot in (
            ("Fit", "Fit the image to the view (0)", self.viewer.fit),
            ("1:1", "Actual pixels", self.viewer.actual_size),
            ("−", "Zoom out (-)", lambda: self.viewer.zoom_by(0.8)),  # noqa: RUF001
            ("+", "Zoom in (+)", lambda: self.viewer.zoom_by(1.25)),
        ):
            button = QToolButton(self)
            button.setText(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            self._controls.addWidget(button)

    # --- settings -------------------------------------------------------------------------

    def set_mode(self, mode: ViewMode) -> None:
        self.mode_buttons[mode].setChecked(True)
        self.viewer.set_mode(mode)
        self.opacity.setEnabled(mode == "overlay")
        self._describe_explanation()
        self.mode_changed.emit(mode)

    def set_opacity(self, percent: int) -> None:
        self.opacity.setValue(percent)
        self._on_opacity(percent)

    def _on_opacity(self, percent: int) -> None:
        self.opacity_label.setText(f"{percent} %")
        self.viewer.set_opacity(percent / 100)
        self.opacity_changed.emit(percent)

    # --- content --------------------------------------------------------------------------

    def show_loading(self, path: Path) -> None:
        self.title.setText(path.name)
        self.status.setText("Loading…")

    def show_image(self, view: ImageView) -> None:
        self._explanation = None
        self.title.setText(view.path.name)
        self.title.setToolTip(str(view.path))
        self.viewer.set_image(view.image)
        self.status.setText("Computing Grad-CAM…")
        self.save_button.setEnabled(False)

    def show_explanation(self, view: CamView) -> None:
        self._explanation = view.explanation
        self.viewer.set_heat(view.heat_rgba, view.heat_rgb)
        self.bars.set_prediction(view.explanation.prediction, view.explanation.class_index)
        self._describe_explanation()
        self.save_button.setEnabled(True)

    def _describe_explanation(self) -> None:
        explanation = self._explanation
        if explanation is None:
            return
        what = f"Grad-CAM for “{explanation.label}” ({explanation.prob:.1%})"
        if self.viewer.mode == "image":
            self.status.setText(f"{what} is ready: choose Overlay or Heat map to see it.")
        else:
            self.status.setText(f"{what}: warm colours mark what made the network choose it.")

    def show_status(self, text: str) -> None:
        self.bars.set_prediction(None)
        self.status.setText(text)

    def show_error(self, path: Path | None, message: str) -> None:
        self._explanation = None
        if path is not None:
            self.title.setText(path.name)
        self.viewer.show_message(message)
        self.bars.set_prediction(None)
        self.status.setText("")
        self.save_button.setEnabled(False)

    def clear(self) -> None:
        self._explanation = None
        self.title.setText("No image selected")
        self.viewer.clear()
        self.bars.set_prediction(None)
        self.status.setText("")
        self.save_button.setEnabled(False)

    def _on_class_chosen(self, class_index: int) -> None:
        self.status.setText("Computing Grad-CAM…")
        self.class_chosen.emit(class_index)
