"""Step 4 of the Train tab: metrics, a clickable confusion matrix, the mistakes with Grad-CAM.

Clicking a confusion-matrix cell (true class, predicted class) shows only those mistakes in
the thumbnail grid; clicking a thumbnail shows its Grad-CAM large. Each thumbnail is the
image with its Grad-CAM for the class the model wrongly chose, filled in as it is computed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFontDatabase, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHeaderView,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from engine.training.records import Misclassified, TrainResult
from gui.bridge import to_qimage
from gui.widgets.heat_legend import HeatLegend

_MISTAKE_ROLE = Qt.ItemDataRole.UserRole
ICON_SIDE = 96
CAM_SIDE = 240
AUTO_CAMS = 48  # mistakes explained as soon as training ends


def pixmap_of(pixels: np.ndarray) -> QPixmap:
    """uint8 (h, w, 3) pixels as a pixmap (GUI thread only)."""
    return QPixmap.fromImage(to_qimage(np.asarray(pixels, dtype=np.uint8)))


class ConfusionTable(QTableWidget):
    """``cell_chosen(true, predicted)`` class names; ("", "") for "all mistakes"."""

    cell_chosen = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.names: tuple[str, ...] = ()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        # Long class names keep their start and end ("hubble…field"); the tooltip has it all.
        self.horizontalHeader().setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.verticalHeader().setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.verticalHeader().setMaximumWidth(180)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.setToolTip(
            "Rows: true class. Columns: predicted class. Click a cell to see those images."
        )
        self.cellClicked.connect(self._clicked)

    def show_matrix(self, confusion: tuple[tuple[int, ...], ...], names: tuple[str, ...]) -> None:
        self.names = names
        self.setRowCount(len(names))
        self.setColumnCount(len(names))
        for j, name in enumerate(names):
            header = QTableWidgetItem(name)
            header.setToolTip(f"predicted as {name}")
            self.setHorizontalHeaderItem(j, header)
            true = QTableWidgetItem(name)
            true.setToolTip(f"true class {name}")
            self.setVerticalHeaderItem(j, true)
        for i, row in enumerate(confusion):
            total = max(1, sum(row))
            for j, count in enumerate(row):
                item = QTableWidgetItem(str(count))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                share = count / total
                hue = QColor(46, 125, 50) if i == j else QColor(198, 40, 40)
                hue.setAlphaF(0.1 + 0.7 * share if count else 0.0)
                item.setBackground(QBrush(hue))
                item.setToolTip(f"{count} {names[i]} image(s) predicted as {names[j]}")
                self.setItem(i, j, item)

    def _clicked(self, row: int, column: int) -> None:
        if row == column:
            self.cell_chosen.emit("", "")  # the diagonal: no mistakes there; show them all
        else:
            self.cell_chosen.emit(self.names[row], self.names[column])


class ResultsPanel(QWidget):
    """Filled by :meth:`show_result`; ``explain_requested(path, true label)`` for each mistake
    whose Grad-CAM is wanted; :meth:`show_cam` puts the answer on its thumbnail."""

    explain_requested = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.metrics = QPlainTextEdit(readOnly=True)
        self.metrics.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.metrics.setMinimumHeight(90)
        self.confusion = ConfusionTable()
        self.confusion.setMinimumHeight(90)
        self.confusion.cell_chosen.connect(self.filter_mistakes)
        self.filter_label = QLabel()
        self.show_all = QPushButton("Show All Mistakes")
        self.show_all.clicked.connect(lambda: self.filter_mistakes("", ""))
        self.mistakes = _grid()
        self.mistakes.currentItemChanged.connect(self._selected)
        self.cam = QLabel("Click a mistake to see where the network looked.")
        self.cam.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.cam.setWordWrap(True)
        self.cam.setMinimumSize(160, 160)
        self.cam.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.cam_caption = QLabel(wordWrap=True)
        self.legend = HeatLegend(parent=self)
        self._cams: dict[str, tuple[np.ndarray, str]] = {}
        self._build()

    def _build(self) -> None:
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Validation metrics</b>"), 0, 0)
        layout.addWidget(
            QLabel("<b>Confusion matrix</b>: rows true, columns predicted (click a cell)"), 0, 1
        )
        layout.addWidget(self.metrics, 1, 0)
        layout.addWidget(self.confusion, 1, 1)
        layout.addWidget(self.filter_label, 2, 0)
        layout.addWidget(self.show_all, 2, 1, Qt.AlignmentFlag.AlignRight)
        layout.addWidget(self.mistakes, 3, 0)
        layout.addWidget(self.cam, 3, 1)
        layout.addWidget(self.legend, 4, 1)
        layout.addWidget(self.cam_caption, 5, 0, 1, 2)
        layout.setRowStretch(1, 2)
        layout.setRowStretch(3, 3)

    def clear(self) -> None:
        self.metrics.clear()
        self.confusion.setRowCount(0)
        self.confusion.setColumnCount(0)
        self.mistakes.clear()
        self._cams.clear()
        self.cam.clear()
        self.cam_caption.clear()
        self.filter_label.clear()

    def show_result(self, result: TrainResult) -> None:
        self.clear()
        self.metrics.setPlainText(result.summary())
        self.confusion.show_matrix(result.metrics.confusion, result.class_names)
        for n, mistake in enumerate(result.misclassified):
            self.mistakes.addItem(_mistake_item(mistake))
            if n < AUTO_CAMS:  # the rest when clicked
                self.explain_requested.emit(str(mistake.path), mistake.true_label)
        self.filter_mistakes("", "")

    def visible_mistakes(self) -> list[Misclassified]:
        items = (self.mistakes.item(i) for i in range(self.mistakes.count()))
        return [item.data(_MISTAKE_ROLE) for item in items if not item.isHidden()]

    def filter_mistakes(self, true_label: str, predicted: str) -> None:
        shown = 0
        for i in range(self.mistakes.count()):
            item = self.mistakes.item(i)
            m: Misclassified = item.data(_MISTAKE_ROLE)
            hide = bool(true_label) and (m.true_label, m.predicted_label) != (true_label, predicted)
            item.setHidden(hide)
            shown += not hide
        total = self.mistakes.count()
        if not total:
            self.filter_label.setText(
                "No mistakes: every validation image was classified correctly."
            )
        elif true_label:
            self.filter_label.setText(f"{shown} {true_label} image(s) taken for {predicted}")
        else:
            self.filter_label.setText(f"All {total} misclassified validation images")
        self.show_all.setEnabled(bool(true_label))

    def show_cam(self, path: Path, pixels: np.ndarray, caption: str) -> None:
        self._cams[str(path)] = (pixels, caption)
        for i in range(self.mistakes.count()):
            item = self.mistakes.item(i)
            if str(item.data(_MISTAKE_ROLE).path) == str(path):
                item.setIcon(QIcon(_scaled(pixmap_of(pixels), ICON_SIDE)))
                if self.mistakes.currentItem() is item:
                    self._show_large(str(path))

    def show_cam_error(self, message: str) -> None:
        self.cam_caption.setText(message)

    def has_cam(self, path: Path) -> bool:
        return str(path) in self._cams

    def _selected(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if item is None:
            return
        mistake: Misclassified = item.data(_MISTAKE_ROLE)
        path = str(mistake.path)
        if path in self._cams:
            self._show_large(path)
        else:
            self.cam.clear()
            self.cam_caption.setText(f"Computing Grad-CAM for {mistake.path.name}…")
            self.explain_requested.emit(path, mistake.true_label)

    def _show_large(self, path: str) -> None:
        pixels, caption = self._cams[path]
        self.cam.setPixmap(_scaled(pixmap_of(pixels), CAM_SIDE))
        self.cam_caption.setText(caption)


def _grid() -> QListWidget:
    grid = QListWidget()
    grid.setViewMode(QListView.ViewMode.IconMode)
    grid.setIconSize(QSize(ICON_SIDE, ICON_SIDE))
    grid.setGridSize(QSize(ICON_SIDE + 24, ICON_SIDE + 40))
    grid.setResizeMode(QListView.ResizeMode.Adjust)
    grid.setMovement(QListView.Movement.Static)
    grid.setWordWrap(True)
    grid.setUniformItemSizes(False)
    grid.setMinimumHeight(ICON_SIDE + 48)
    return grid


def _mistake_item(m: Misclassified) -> QListWidgetItem:
    item = QListWidgetItem(f"{m.true_label} → {m.predicted_label} {m.prob:.0%}")
    blank = QPixmap(ICON_SIDE, ICON_SIDE)
    blank.fill(QColor("#eeeeee"))  # the tile's size from the start; its Grad-CAM comes later
    item.setIcon(QIcon(blank))
    item.setData(_MISTAKE_ROLE, m)
    item.setToolTip(
        f"{m.path}\ntrue class {m.true_label}, predicted {m.predicted_label} ({m.prob:.0%})"
    )
    return item


def _scaled(pixmap: QPixmap, side: int) -> QPixmap:
    return pixmap.scaled(
        side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
    )
