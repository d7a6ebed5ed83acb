"""The Train tab's layout: a step bar, one scrolling page per step, a status line.

Pages scroll rather than grow, so the window keeps its size on a small screen whatever a
page holds (a long health report, a large confusion matrix, many mistakes).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.models.model_file import MODEL_SUFFIX
from gui.training.curves import LiveCurves
from gui.training.data_page import DataPage
from gui.training.options import TrainingOptions
from gui.training.results import ResultsPanel

STEPS = ("1  Data", "2  Settings", "3  Train", "4  Results")


class Pages(QWidget):
    """Holds every widget of the tab; :class:`~gui.training.tab.TrainingTab` drives them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data = DataPage()
        self.stack = QStackedWidget()
        self.steps = QButtonGroup(self)
        self.status = QLabel(wordWrap=True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.next_button = QPushButton("Next")
        self.next_button.clicked.connect(lambda: self.go(self.stack.currentIndex() + 1))
        for page in (self.data, self._settings_page(), self._train_page(), self._results_page()):
            self.stack.addWidget(_scrolling(page))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(self._step_bar())
        layout.addWidget(self.stack, stretch=1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, stretch=1)
        bottom.addWidget(self.next_button)
        layout.addLayout(bottom)
        self.go(0)

    def _step_bar(self) -> QHBoxLayout:
        row = QHBoxLayout()
        for index, title in enumerate(STEPS):
            button = QToolButton()
            button.setText(title)
            button.setCheckable(True)
            button.setAutoRaise(True)
            button.setStyleSheet("QToolButton { padding: 4px 14px; font-weight: bold; }"
                                 "QToolButton:checked { background: #e3f2fd; color: #0d47a1; }")  # fmt: skip
            self.steps.addButton(button, index)
            row.addWidget(button)
            if index < len(STEPS) - 1:
                row.addWidget(QLabel("→"))
        row.addStretch(1)
        self.steps.idClicked.connect(self.go)
        return row

    def _settings_page(self) -> QWidget:
        self.options = TrainingOptions()
        self.output_edit = QLineEdit(placeholderText=f"model{MODEL_SUFFIX}")
        self.output_button = QPushButton("Save As…")
        self.resume_box = QCheckBox("Continue the interrupted training")
        self.resume_box.setToolTip(
            "Picks up where the last run into this model file stopped, with that run's settings."
        )
        self.start_button = QPushButton("Start Training")
        self.start_button.setDefault(True)
        page = QWidget()
        column = QVBoxLayout(page)
        column.addWidget(QLabel("<b>2. Settings</b>: the defaults suit most data sets"))
        column.addWidget(self.options)
        column.addLayout(_row(QLabel("Model file"), self.output_edit, self.output_button))
        column.addWidget(self.resume_box)
        start = QHBoxLayout()
        start.addWidget(self.start_button)
        start.addStretch(1)
        column.addLayout(start)
        column.addStretch(1)
        page.setMaximumWidth(760)  # a form, not a banner: fields stay a readable width
        return page

    def _train_page(self) -> QWidget:
        self.progress_bar = QProgressBar()
        self.cancel_button = QPushButton("Cancel")
        self.curves = LiveCurves()
        page = QWidget()
        column = QVBoxLayout(page)
        column.addWidget(QLabel("<b>3. Train</b>: the curves update while the network learns"))
        column.addLayout(_row(self.progress_bar, self.cancel_button))
        column.addWidget(self.curves, stretch=1)
        return page

    def _results_page(self) -> QWidget:
        self.results = ResultsPanel()
        self.use_button = QPushButton("Use This Model")
        self.use_button.setToolTip("Classify images with the model just trained (Classify tab)")
        self.report_button = QPushButton("Open Report")
        page = QWidget()
        column = QVBoxLayout(page)
        column.addWidget(
            QLabel("<b>4. Results</b>: how well it does on images it never trained on")
        )
        column.addWidget(self.results, stretch=1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.report_button)
        row.addWidget(self.use_button)
        column.addLayout(row)
        return page

    def go(self, index: int) -> None:
        button = self.steps.button(index)
        if button is None or (not button.isEnabled() and index != 0):
            return
        self.stack.setCurrentIndex(index)
        button.setChecked(True)
        following = self.steps.button(index + 1)
        self.next_button.setVisible(index == 0)  # later steps have their own buttons
        self.next_button.setEnabled(following is not None and following.isEnabled())

    def enable_steps(self, *, settings: bool, train: bool, results: bool) -> None:
        for index, enabled in ((1, settings), (2, train), (3, results)):
            self.steps.button(index).setEnabled(enabled)
        self.go(self.stack.currentIndex())

    def progress(self, value: int, maximum: int, text: str) -> None:
        self.progress_bar.setRange(0, maximum)
        self.progress_bar.setValue(value)
        self.progress_bar.setFormat(text)


class ReportOpener:
    """Open the HTML report in a browser; when none can be started, offer the folder or the
    path instead of failing silently. ``open_url`` is the system's (a test may give its own)."""

    def __init__(self, parent: QWidget) -> None:
        self.parent = parent
        self.open_url: Callable[[QUrl], bool] = QDesktopServices.openUrl
        self.fallback: QMessageBox | None = None

    def open(self, report: Path) -> None:
        if self.open_url(QUrl.fromLocalFile(str(report))):
            return
        box = QMessageBox(QMessageBox.Icon.Warning, "Could Not Open the Report",
                          f"No web browser could be started to show the report:\n{report}",
                          parent=self.parent)  # fmt: skip
        folder = box.addButton("Open Folder", QMessageBox.ButtonRole.ActionRole)
        copy = box.addButton("Copy Path", QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Close)
        folder.clicked.connect(lambda: self._open_folder(report, box))
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(str(report)))
        self.fallback = box
        box.open()

    def _open_folder(self, report: Path, box: QMessageBox) -> None:
        if not self.open_url(QUrl.fromLocalFile(str(report.parent))):
            QGuiApplication.clipboard().setText(str(report))
            box.setText(f"The folder could not be opened either; its path is copied:\n{report}")
            box.open()


def _scrolling(page: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(page)
    return area


def _row(*widgets: QWidget) -> QHBoxLayout:
    layout = QHBoxLayout()
    for widget in widgets:
        layout.addWidget(widget, stretch=1 if isinstance(widget, (QLineEdit, QProgressBar)) else 0)
    return layout
