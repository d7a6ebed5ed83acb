"""Live learning curves: loss (every few steps and per epoch) and accuracy (per epoch).

Drawn with pyqtgraph (MIT, numpy only; vector drawing, so sharp on HiDPI screens). The
training worker reports progress a few times a second; each report adds a point at once, and
the running-loss curve is redrawn at most every :data:`REDRAW_MS` (a long antialiased line is
the costliest thing the GUI thread draws; a batch classifying meanwhile must not stutter).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QSizePolicy, QWidget

from engine.training.records import EpochRecord, TrainProgress

TRAIN_COLOUR = "#1e88e5"
VAL_COLOUR = "#e53935"
REDRAW_MS = 250
pg.setConfigOptions(antialias=True, background="w", foreground="#333")


class LiveCurves(QWidget):
    """Two plots side by side; :meth:`add_progress` during training, :meth:`set_history` after."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loss_plot = _plot("Loss", "epoch")
        self.accuracy_plot = _plot("Accuracy", "epoch")
        self.accuracy_plot.setYRange(0, 1, padding=0.02)
        self.step_points: list[tuple[float, float]] = []
        self.history: tuple[EpochRecord, ...] = ()
        pen = {"width": 2}
        self._step_loss = self.loss_plot.plot(
            name="training (running)", pen=pg.mkPen(TRAIN_COLOUR, **pen)
        )
        # Thousands of steps on a few hundred pixels: draw the peaks per pixel, not every step.
        self._step_loss.setDownsampling(auto=True, method="peak")
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(REDRAW_MS)
        self._redraw.timeout.connect(self._draw_steps)
        self._val_loss = self.loss_plot.plot(
            name="validation", pen=pg.mkPen(VAL_COLOUR, **pen), symbol="o", symbolSize=6,
            symbolBrush=VAL_COLOUR,
        )  # fmt: skip
        self._train_acc = self.accuracy_plot.plot(
            name="training", pen=pg.mkPen(TRAIN_COLOUR, **pen), symbol="o", symbolSize=6,
            symbolBrush=TRAIN_COLOUR,
        )  # fmt: skip
        self._val_acc = self.accuracy_plot.plot(
            name="validation", pen=pg.mkPen(VAL_COLOUR, **pen), symbol="o", symbolSize=6,
            symbolBrush=VAL_COLOUR,
        )  # fmt: skip
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.loss_plot)
        layout.addWidget(self.accuracy_plot)
        self.setMinimumHeight(180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def clear(self) -> None:
        self._redraw.stop()
        self.step_points = []
        self.history = ()
        for curve in (self._step_loss, self._val_loss, self._train_acc, self._val_acc):
            curve.setData([], [])

    def add_progress(self, progress: TrainProgress) -> None:
        """A step report adds a running-loss point; an epoch's end adds its epoch points."""
        if progress.phase == "training" and progress.loss is not None and progress.steps:
            x = progress.epoch - 1 + progress.step / progress.steps
            self.step_points.append((x, progress.loss))
            if not self._redraw.isActive():
                self._redraw.start()
        if len(progress.history) != len(self.history):
            self.set_history(progress.history)

    def _draw_steps(self) -> None:
        if self.step_points:
            points = np.asarray(self.step_points, dtype=np.float64)
            self._step_loss.setData(points[:, 0], points[:, 1])

    def set_history(self, history: Sequence[EpochRecord]) -> None:
        self.history = tuple(history)
        epochs = [float(r.epoch) for r in self.history]
        self._val_loss.setData(epochs, [r.val_loss for r in self.history])
        self._train_acc.setData(epochs, [r.train_accuracy for r in self.history])
        self._val_acc.setData(epochs, [r.val_accuracy for r in self.history])
        if not self.step_points:  # a resumed or finished run: epoch means only
            self._step_loss.setData(epochs, [r.train_loss for r in self.history])
        else:
            self._draw_steps()

    def points(self) -> int:
        """How many points the curves hold (drawn within REDRAW_MS)."""
        return len(self.step_points) + 3 * len(self.history)


def _plot(title: str, x_label: str) -> pg.PlotWidget:
    plot = pg.PlotWidget()
    plot.setTitle(title)
    plot.setLabel("bottom", x_label)
    plot.showGrid(x=True, y=True, alpha=0.25)
    plot.addLegend(offset=(-10, 10))
    plot.setMouseEnabled(x=False, y=False)
    plot.setMenuEnabled(False)
    plot.setMinimumSize(160, 140)
    return plot
