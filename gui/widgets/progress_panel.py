"""A strip under the results: what runs, a progress bar with count, rate and ETA, Cancel."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from engine.inference.session import Activity
from engine.jobs import format_duration


class ProgressPanel(QWidget):
    """Hidden while nothing runs."""

    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel()
        self.bar = QProgressBar(self)
        self.bar.setTextVisible(True)
        self.bar.setMinimumWidth(200)
        self.detail = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop (Esc)")
        self.cancel_button.clicked.connect(self.cancel_requested)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        layout.addWidget(self.title)
        layout.addWidget(self.bar, stretch=1)
        layout.addWidget(self.detail)
        layout.addWidget(self.cancel_button)
        self.setVisible(False)

    def show_activity(self, activity: Activity | None) -> None:
        if activity is None:
            self.setVisible(False)
            return
        self.setVisible(True)
        self.title.setText(activity.title)
        self.cancel_button.setEnabled(activity.cancellable)
        progress = activity.progress
        if progress is None or not progress.total:
            self.bar.setRange(0, 0)  # busy indicator
            self.detail.setText("")
            return
        self.bar.setRange(0, progress.total)
        self.bar.setValue(min(progress.done, progress.total))
        self.bar.setFormat(f"{progress.done:,} / {progress.total:,}")
        parts = []
        if progress.rate > 0:
            parts.append(f"{progress.rate:.1f}/s")
        if progress.eta_s is not None:
            parts.append(f"{format_duration(progress.eta_s)} left")
        if progress.failed:
            parts.append(f"{progress.failed} failed")
        self.detail.setText("  ·  ".join(parts))
