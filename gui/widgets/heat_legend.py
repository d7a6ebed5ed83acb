"""The heat map's colour scale: a gradient from "no evidence" to "strongest evidence"."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QImage, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

from engine.explain.overlay import colormap
from gui.bridge import to_qimage

GRADIENT_HEIGHT = 10


class HeatLegend(QWidget):
    """Paints the colour map used for heat maps, labelled at both ends."""

    def __init__(
        self, low: str = "no evidence", high: str = "strongest", parent: QWidget | None = None
    ):
        super().__init__(parent)
        self.low, self.high = low, high
        self._gradient: QImage = to_qimage(colormap(np.linspace(0.0, 1.0, 256)[None, :]))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Heat map colours: how strongly each place speaks for the class")

    def sizeHint(self) -> QSize:
        return QSize(240, self.fontMetrics().height() + 4)

    def minimumSizeHint(self) -> QSize:
        return QSize(120, self.sizeHint().height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        metrics = self.fontMetrics()
        low_width = metrics.horizontalAdvance(self.low) + 8
        high_width = metrics.horizontalAdvance(self.high) + 8
        height = self.height()
        top = (height - GRADIENT_HEIGHT) // 2
        width = max(10, self.width() - low_width - high_width)
        bar = QRect(low_width, top, width, GRADIENT_HEIGHT)
        painter.drawImage(bar, self._gradient)
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        middle = Qt.AlignmentFlag.AlignVCenter
        left = QRect(0, 0, low_width - 4, height)
        painter.drawText(left, middle | Qt.AlignmentFlag.AlignRight, self.low)
        right = QRect(bar.right() + 5, 0, high_width, height)
        painter.drawText(right, middle | Qt.AlignmentFlag.AlignLeft, self.high)
        painter.end()
