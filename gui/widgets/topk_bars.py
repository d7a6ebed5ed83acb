"""The top-k classes as bars with percentages; clicking one shows its Grad-CAM map."""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QAbstractButton, QButtonGroup, QVBoxLayout, QWidget

from engine.runtime.classifier import Prediction

BAR_HEIGHT = 26
BAR_COLOUR = QColor("#90caf9")
CHOSEN_COLOUR = QColor("#42a5f5")
CHOSEN_BORDER = QColor("#1565c0")


class ClassBar(QAbstractButton):
    """One class: its name and probability, drawn as a horizontal bar."""

    def __init__(self, label: str, prob: float, class_index: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.label = label
        self.prob = prob
        self.class_index = class_index
        self.setCheckable(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(f"Show where the network sees “{label}”")
        self.setAccessibleName(f"{label} {prob:.1%}")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def sizeHint(self) -> QSize:
        return QSize(220, BAR_HEIGHT)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self.rect().adjusted(1, 2, -1, -2)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 18))
        painter.drawRoundedRect(rect, 4, 4)
        filled = QRect(rect)
        filled.setWidth(max(3, round(rect.width() * self.prob)))
        painter.setBrush(CHOSEN_COLOUR if self.isChecked() else BAR_COLOUR)
        painter.drawRoundedRect(filled, 4, 4)
        if self.hasFocus() or self.isChecked():
            painter.setPen(CHOSEN_BORDER)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect, 4, 4)
        font = QFont(self.font())
        font.setBold(self.isChecked())
        painter.setFont(font)
        painter.setPen(self.palette().color(QPalette.ColorRole.Text))
        text = rect.adjusted(8, 0, -8, 0)
        percent = f"{self.prob:.1%}"
        width = painter.fontMetrics().horizontalAdvance(percent) + 12
        name = painter.fontMetrics().elidedText(
            self.label, Qt.TextElideMode.ElideRight, text.width() - width
        )
        painter.drawText(text, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, name)
        painter.drawText(text, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, percent)
        painter.end()


class TopKBars(QWidget):
    """A column of :class:`ClassBar`; ``class_chosen`` when the user picks another class."""

    class_chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(2)
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        self._group.idClicked.connect(self._on_clicked)
        self.bars: list[ClassBar] = []

    def set_prediction(self, prediction: Prediction | None, chosen: int | None = None) -> None:
        """Show ``prediction``'s classes, with ``chosen`` (a class index) highlighted."""
        for bar in self.bars:
            # Out of the layout now, not when Qt gets round to deleting it: a nested event
            # loop (a dialog, a script) may run long before deferred deletes do.
            self._group.removeButton(bar)
            self._layout.removeWidget(bar)
            bar.hide()
            bar.deleteLater()
        self.bars = []
        if prediction is None:
            return
        for label, index, prob in zip(
            prediction.labels, prediction.indices, prediction.probs, strict=True
        ):
            bar = ClassBar(label, prob, index, self)
            self._group.addButton(bar, index)
            self._layout.addWidget(bar)
            self.bars.append(bar)
        self.set_chosen(chosen)

    def set_chosen(self, class_index: int | None) -> None:
        for bar in self.bars:
            bar.setChecked(bar.class_index == class_index)

    def _on_clicked(self, class_index: int) -> None:
        self.class_chosen.emit(class_index)
