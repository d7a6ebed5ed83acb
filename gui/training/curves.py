"""Live learning curves: loss (every few steps and per epoch) and accuracy (per epoch).

Drawn with pyqtgraph (MIT, numpy only; vector drawing, so sharp on HiDPI screens). The
training worker reports progress a few times a second; each report adds a point at once, and
the running-loss curve is redrawn at most every :data:`REDRAW_MS` (a long antialiased line is
the costliest thing the GUI thread draws; a batch classifying meanwhile must not stutter).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

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
        # Thousands of steps on a few hundred pixels: draw the peaks per pixel, not every step,
        # without antialiasing (the costliest part of a repaint; the epoch curves keep it).
        self._step_loss.setDownsampling(auto=True, method="peak")
        self._step_loss.opts["antialias"] = False
        # Drawing is coalesced: the loss plot at most every REDRAW_MS, the accuracy plot half a
        # period after it, so the two never repaint in the same turn of the event loop.
        self._redraw_loss = _single_shot(self, REDRAW_MS, self._draw_loss)
        self._redraw_accuracy = _single_shot(self, REDRAW_MS // 2, self._draw_accuracy)
        self._accuracy_dirty = False
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
        self._redraw_loss.stop()
        self._redraw_accuracy.stop()
        self._accuracy_dirty = False
        self.step_points = []
        self.history = ()
        for curve in (self._step_loss, self._val_loss, self._train_acc, self._val_acc):
            curve.setData([], [])

    def add_progress(self, progress: TrainProgress) -> None:
        """A step report adds a running-loss point; an epoch's end adds its epoch points."""
        if progress.phase == "training" and progress.loss is not None and progress.steps:
            x = progress.epoch - 1 + progress.step / progress.steps
            self.step_points.append((x, progress.loss))
            self._schedule()
        if len(progress.history) != len(self.history):
            self.set_history(progress.history)

    def set_history(self, history: Sequence[EpochRecord]) -> None:
        """The epoch records so far (drawn within REDRAW_MS)."""
        self.history = tuple(history)
        self._accuracy_dirty = True
        self._schedule()

    def _schedule(self) -> None:
        if not self._redraw_loss.isActive():
            self._redraw_loss.start()

    def _draw_loss(self) -> None:
        epochs = [float(r.epoch) for r in self.history]
        self._val_loss.setData(epochs, [r.val_loss for r in self.history])
        if self.step_points:
            points = np.asarray(self.step_points, dtype=np.float64)
            self._step_loss.setData(points[:, 0], points[:, 1])
        else:  # a resumed or finished run: epoch means only
            self._step_loss.setData(epochs, [r.train_loss for r in self.history])
        if self._accuracy_dirty and not self._redraw_accuracy.isActive():
            self._redraw_accuracy.start()

    def _draw_accuracy(self) -> None:
        self._accuracy_dirty = False
        epochs = [float(r.epoch) for r in self.history]
        self._train_acc.setData(epochs, [r.train_accuracy for r in self.history])
        self._val_acc.setData(epochs, [r.val_accuracy for r in self.history])

    def drawn(self) -> tuple[int, int]:
        """(running-loss points, accuracy points) on screen now."""
        steps, accuracy = self._step_loss.xData, self._val_acc.xData
        return (0 if steps is None else len(steps)), (0 if accuracy is None else len(accuracy))


def _single_shot(parent: QWidget, ms: int, slot: Callable[[], None]) -> QTimer:
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.setInterval(ms)
    timer.timeout.connect(slot)
    return timer


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
