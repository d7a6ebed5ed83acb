"""The panel for the selected image: viewer, view mode, opacity, zoom, top-k bars.

The heat map is either the network's own view (the centre square it classified) or the whole
photo (see :mod:`engine.explain.whole_photo`); the status line says which, with a colour legend.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.explain.display import VIEW_MODES, ViewMode
from engine.runtime.classifier import Explanation, Prediction
from gui.explainer import CamView, ImageView
from gui.widgets.heat_legend import HeatLegend
from gui.widgets.image_viewer import ImageViewer
from gui.widgets.topk_bars import BAR_HEIGHT, TopKBars

MODE_LABELS = {"image": "Image", "overlay": "Overlay", "heatmap": "Heat map"}
SCOPES = (("crop", "Centre crop"), ("whole", "Whole photo"))
BARS_SHOWN = 6  # more than this scroll, so a top-20 never makes the window taller


class Inspector(QWidget):
    """Shows one image and its explanation; asks for another class via ``class_chosen``."""

    class_chosen = Signal(int)
    mode_changed = Signal(str)
    scope_changed = Signal(str)
    opacity_changed = Signal(int)  # percent
    save_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._explanation: Explanation | None = None
        self._scope_text = ""
        self.title = QLabel("No image selected")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.viewer = ImageViewer(self)
        self.viewer.setMinimumHeight(120)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.legend = HeatLegend(parent=self)
        self.bars = TopKBars(self)
        self.bars.class_chosen.connect(self._on_class_chosen)
        self.bars_area = QScrollArea(self)
        self.bars_area.setWidget(self.bars)
        self.bars_area.setWidgetResizable(True)
        self.bars_area.setFrameShape(QFrame.Shape.NoFrame)
        self.bars_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.save_button = QPushButton("Save View as PNG…")
        self.save_button.clicked.connect(self.save_requested)
        self._build_controls()
        self._layout()
        self._refresh_controls()

    def _layout(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.title)
        layout.addWidget(self.viewer, stretch=1)
        layout.addLayout(self._controls)
        layout.addLayout(self._scope_row)
        layout.addWidget(self.status)
        self.caption = QLabel("Top classes: click one to see where the network finds it")
        self.caption.setWordWrap(True)
        layout.addWidget(self.caption)
        layout.addWidget(self.bars_area)
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
        self.opacity.setMinimumWidth(60)
        self.opacity.valueChanged.connect(self._on_opacity)
        self.opacity_label = QLabel("50 %")
        self._controls.addSpacing(8)
        self._controls.addWidget(QLabel("Opacity"))
        self._controls.addWidget(self.opacity, stretch=1)
        self._controls.addWidget(self.opacity_label)
        self._controls.addSpacing(8)
        self.zoom_buttons: list[QToolButton] = []
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
            self.zoom_buttons.append(button)
        self._scope_row = QHBoxLayout()
        self.scope_box = QComboBox(self)
        for value, text in SCOPES:
            self.scope_box.addItem(text, value)
        self.scope_box.setToolTip(
            "Centre crop: the square the network classified. Whole photo: the network run over "
            "all of the photo, for wide pictures and panoramas."
        )
        self.scope_box.activated.connect(
            lambda i: self.set_scope(self.scope_box.itemData(i), emit=True)
        )
        self._scope_row.addWidget(QLabel("Heat map of"))
        self._scope_row.addWidget(self.scope_box)
        self._scope_row.addWidget(self.legend, stretch=1)

    # --- settings -------------------------------------------------------------------------

    @property
    def scope(self) -> str:
        return str(self.scope_box.currentData())

    def set_scope(self, scope: str, *, emit: bool = False) -> None:
        self.scope_box.setCurrentIndex(max(0, self.scope_box.findData(scope)))
        if emit:
            self.status.setText("Computing Grad-CAM…")
            self.scope_changed.emit(self.scope)

    def set_mode(self, mode: ViewMode) -> None:
        self.mode_buttons[mode].setChecked(True)
        self.viewer.set_mode(mode)
        self._refresh_controls()
        self._describe_explanation()
        self.mode_changed.emit(mode)

    def set_opacity(self, percent: int) -> None:
        self.opacity.setValue(percent)
        self._on_opacity(percent)

    def _on_opacity(self, percent: int) -> None:
        self.opacity_label.setText(f"{percent} %")
        self.viewer.set_opacity(percent / 100)
        self.opacity_changed.emit(percent)

    def _refresh_controls(self) -> None:
        """Controls work only on what is shown: no image, no zoom; no map, no opacity."""
        has_image = self.viewer.has_image()
        has_heat = self._explanation is not None
        for button in (*self.mode_buttons.values(), *self.zoom_buttons):
            button.setEnabled(has_image)
        self.opacity.setEnabled(has_heat and self.viewer.mode == "overlay")
        self.scope_box.setEnabled(has_image)
        self.legend.setVisible(has_heat and self.viewer.mode != "image")
        self.save_button.setEnabled(has_heat)

    # --- content --------------------------------------------------------------------------

    def show_loading(self, path: Path, prediction: Prediction | None = None) -> None:
        """A newly selected image: its own top-k (from its tile) at once, or none yet."""
        self._explanation = None
        self.title.setText(path.name)
        self.title.setToolTip(str(path))
        self._set_bars(prediction)
        self.status.setText("Loading…")
        self._refresh_controls()

    def show_image(self, view: ImageView) -> None:
        self._explanation = None
        self.title.setText(view.path.name)
        self.title.setToolTip(str(view.path))
        self.viewer.set_image(view.image)
        self.status.setText("Computing Grad-CAM…")
        self._refresh_controls()

    def show_explanation(self, view: CamView) -> None:
        self._explanation = view.explanation
        self._scope_text = view.scope_text
        self.viewer.set_heat(view.heat_rgba, view.heat_rgb)
        self._set_bars(view.explanation.prediction, view.explanation.class_index)
        self._describe_explanation()
        self._refresh_controls()

    def _set_bars(self, prediction: Prediction | None, chosen: int | None = None) -> None:
        self.bars.set_prediction(prediction, chosen)
        shown = min(len(self.bars.bars), BARS_SHOWN)
        self.bars_area.setFixedHeight(shown * (BAR_HEIGHT + 2) + 2 if shown else 0)

    def _describe_explanation(self) -> None:
        explanation = self._explanation
        if explanation is None:
            return
        what = f"Grad-CAM for “{explanation.label}” ({explanation.prob:.1%}) {self._scope_text}"
        if self.viewer.mode == "image":
            self.status.setText(f"{what}. Choose Overlay or Heat map to see it.")
        else:
            self.status.setText(f"{what}: warm colours mark what made the network choose it.")

    def show_status(self, text: str) -> None:
        self._set_bars(None)
        self.status.setText(text)
        self._refresh_controls()

    def show_error(self, path: Path | None, message: str) -> None:
        self._explanation = None
        if path is not None:
            self.title.setText(path.name)
        self.viewer.show_message(message)
        self._set_bars(None)
        self.status.setText("")
        self._refresh_controls()

    def clear(self) -> None:
        self._explanation = None
        self.title.setText("No image selected")
        self.viewer.clear()
        self._set_bars(None)
        self.status.setText("")
        self._refresh_controls()

    def _on_class_chosen(self, class_index: int) -> None:
        self.status.setText("Computing Grad-CAM…")
        self.class_chosen.emit(class_index)
