"""Shown when an architecture's pretrained weights are not on this computer.

It says which file is missing and where to put it, and offers to pick the file or to try the
download again (with progress). The window stays usable: the dialog is not modal.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.errors import WeightsNotFoundError
from engine.models.registry import get_architecture


class MissingWeightsDialog(QDialog):
    choose_file = Signal(str)  # arch: the user wants to pick the weights file
    retry_download = Signal(str)  # arch

    def __init__(self, error: WeightsNotFoundError, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.error = error
        self.setWindowTitle("Pretrained Weights Missing")
        self.setMinimumWidth(560)
        name = get_architecture(error.arch).display_name
        heading = QLabel(f"<b>{name} needs its pretrained ImageNet weights.</b>")
        self.reason = QLabel()
        self.reason.setWordWrap(True)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.file_label = _selectable(error.filename)
        self.folder_label = _selectable(str(error.folder))
        self.url_label = _selectable(error.url)
        form.addRow("Missing file:", self.file_label)
        form.addRow("Put it in:", self.folder_label)
        form.addRow("Download from:", self.url_label)
        hint = QLabel(
            "Copy the file into that folder and press Retry, or choose the file wherever it "
            "is. You can also pick another model, or a model file of your own, in the toolbar."
        )
        hint.setWordWrap(True)
        self.progress = QProgressBar(self)
        self.progress.setVisible(False)
        self.choose_button = QPushButton("Choose Weights File…")
        self.retry_button = QPushButton("Retry Download")
        copy_button = QPushButton("Copy Folder Path")
        close_button = QPushButton("Close")
        self.choose_button.clicked.connect(lambda: self.choose_file.emit(self.error.arch))
        self.retry_button.clicked.connect(self._on_retry)
        copy_button.clicked.connect(
            lambda: QGuiApplication.clipboard().setText(str(self.error.folder))
        )
        close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(copy_button)
        buttons.addStretch(1)
        buttons.addWidget(self.choose_button)
        buttons.addWidget(self.retry_button)
        buttons.addWidget(close_button)
        self.choose_button.setDefault(True)
        self.choose_button.setFocus()
        layout = QVBoxLayout(self)
        for widget in (heading, self.reason):
            layout.addWidget(widget)
        layout.addLayout(form)
        layout.addWidget(hint)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        self.show_error(error)

    def show_error(self, error: WeightsNotFoundError) -> None:
        """(Again) missing: say why, and let the user act."""
        self.error = error
        failed = error.reason.removeprefix("download failed: ")
        if failed != error.reason:
            text = f"They are not on this computer, and downloading them failed ({failed})."
        else:
            text = f"They are not on this computer ({error.reason})."
        self.reason.setText(text)
        self.progress.setVisible(False)
        self._busy(False)

    def show_failure(self, message: str) -> None:
        """The chosen file did not work (another network's weights, a broken file): why."""
        self.reason.setText(
            f"<span style='color:#b71c1c'>That file cannot be used: {html.escape(message)}</span>"
        )
        self.progress.setVisible(False)
        self._busy(False)

    def show_progress(self, received: int, total: int | None) -> None:
        self.progress.setVisible(True)
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(received)
            self.progress.setFormat(f"{received / 1e6:.1f} / {total / 1e6:.1f} MB")
        else:
            self.progress.setRange(0, 0)

    def _on_retry(self) -> None:
        self.reason.setText("Downloading…")
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self._busy(True)
        self.retry_download.emit(self.error.arch)

    def _busy(self, busy: bool) -> None:
        self.choose_button.setEnabled(not busy)
        self.retry_button.setEnabled(not busy)


def _selectable(text: str) -> QLabel:
    label = QLabel(text)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    return label
