"""The Train tab: pick a labelled folder, read its health report, train, judge, use the model.

Scanning, training and Grad-CAM run on worker threads (:class:`gui.bridge.TaskRunner`); this
widget only shows what they report. ``model_ready(path)`` is emitted when the user chooses to
classify with the new model.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal, Slot
from PySide6.QtGui import QCloseEvent, QDesktopServices
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from engine.errors import EngineError
from engine.jobs import CancelToken
from engine.models.model_file import MODEL_SUFFIX
from engine.training.health import HealthReport
from engine.training.mistakes import CamPicture, MistakeExplainer
from engine.training.records import EpochRecord, TrainProgress, TrainResult
from engine.training.report import curves_image
from engine.training.scan import DatasetScan
from engine.training.session import ScanDone, ScanProgress, scan_task, train_task
from engine.training.state import state_path
from gui.bridge import TaskRunner
from gui.training.options import TrainingOptions
from gui.training.results import ResultsPanel, pixmap_of

log = logging.getLogger(__name__)
_CURVES = (760, 240)  # size of the learning-curves picture, px


class TrainingTab(QWidget):
    """Fine-tune a model on the user's labelled folder, then hand it to the classifier."""

    model_ready = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scan: DatasetScan | None = None
        self._health: HealthReport | None = None
        self._output_was_automatic = False
        self._folder: Path | None = None
        self.result: TrainResult | None = None
        self.history: tuple[EpochRecord, ...] = ()
        self._cancel = CancelToken()
        self._scan_id = self._train_id = self._cam_id = -1
        self._explainer: MistakeExplainer | None = None
        self._runner = TaskRunner("training", parent=self)
        self._cam_runner = TaskRunner("training-cam", max_pending=1, parent=self)
        self._build()
        self._connect()
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self._set_running(False)

    # --- layout ---------------------------------------------------------------------------

    def _build(self) -> None:
        self.folder_edit = QLineEdit(placeholderText="A folder with one subfolder per class")
        self.folder_button = QPushButton("Choose Folder…")
        self.health_text = QPlainTextEdit(readOnly=True)
        self.health_text.setPlaceholderText("The data set's health report appears here.")
        self.options = TrainingOptions(self)
        self.output_edit = QLineEdit(placeholderText=f"model{MODEL_SUFFIX}")
        self.output_button = QPushButton("Save As…")
        self.resume_box = QCheckBox("Continue the interrupted training")
        self.resume_box.setToolTip(
            "Picks up where the last run into this model file stopped, with that run's settings."
        )
        self.start_button = QPushButton("Start Training")
        self.cancel_button = QPushButton("Cancel")
        self.progress_bar = QProgressBar()
        self.status = QLabel(wordWrap=True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.curves = QLabel("Loss and accuracy curves appear after the first epoch.")
        self.curves.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.curves.setMinimumHeight(_CURVES[1] + 8)
        self.results = ResultsPanel(self)
        self.use_button = QPushButton("Use This Model")
        self.use_button.setToolTip("Classify images with the model just trained")
        self.report_button = QPushButton("Open Report")

        left = QWidget()
        column = QVBoxLayout(left)
        column.addWidget(QLabel("<b>Data</b>"))
        column.addLayout(_row(self.folder_edit, self.folder_button))
        column.addWidget(self.health_text, stretch=1)
        column.addWidget(QLabel("<b>Training</b>"))
        column.addWidget(self.options)
        column.addLayout(_row(QLabel("Model file"), self.output_edit, self.output_button))
        column.addWidget(self.resume_box)
        column.addLayout(_row(self.start_button, self.cancel_button))
        right = QWidget()
        column = QVBoxLayout(right)
        column.addLayout(_row(self.progress_bar))
        column.addWidget(self.status)
        column.addWidget(self.curves)
        column.addWidget(self.results, stretch=1)
        column.addLayout(_row(self.use_button, self.report_button))
        splitter = QSplitter(self)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 2)
        QVBoxLayout(self).addWidget(splitter)

    def _connect(self) -> None:
        self.folder_button.clicked.connect(self._choose_folder)
        self.folder_edit.editingFinished.connect(self._folder_typed)
        self.output_button.clicked.connect(self._choose_output)
        self.output_edit.textChanged.connect(self._refresh_resume)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.use_button.clicked.connect(self._use_model)
        self.report_button.clicked.connect(self._open_report)
        self.results.explain_requested.connect(self._explain)
        for runner in (self._runner, self._cam_runner):
            runner.progress.connect(self._on_progress)
            runner.finished.connect(self._on_finished)
            runner.failed.connect(self._on_failed)
            runner.cancelled.connect(self._on_cancelled)

    # --- user actions ---------------------------------------------------------------------

    def set_folder(self, folder: str | Path) -> None:
        """Scan ``folder`` in the background and show its health report."""
        path = self._folder = Path(folder).expanduser()
        self.folder_edit.setText(str(path))
        if not self.output_edit.text() or self._output_was_automatic:
            self.output_edit.setText(str(path.parent / f"{path.name}{MODEL_SUFFIX}"))
            self._output_was_automatic = True
        self.scan, self._health = None, None
        self._runner.cancel(self._scan_id)
        self.health_text.setPlainText("Checking every image…")
        self._scan_id = self._runner.submit(scan_task(path))
        self._set_running(False)

    def _folder_typed(self) -> None:
        text = self.folder_edit.text().strip()
        if text and Path(text).expanduser() != self._folder:
            self.set_folder(text)

    def set_output(self, path: str | Path) -> None:
        self._output_was_automatic = False
        self.output_edit.setText(str(path))

    def start(self) -> None:
        out = Path(self.output_edit.text()).expanduser()
        if self.scan is None or not self.start_button.isEnabled():
            return
        try:
            config = self.options.config()
        except ValueError as exc:
            self._say(f"These settings do not work together: {exc}", error=True)
            return
        if out.suffix.lower() != MODEL_SUFFIX:
            out = out.with_name(out.name + MODEL_SUFFIX)
            self.set_output(out)
        self._cancel = CancelToken()
        self.result, self.history, self._explainer = None, (), None
        self.results.clear()
        self.curves.clear()
        task = train_task(
            self.scan, out, config, resume=self.resume_box.isChecked(), cancel=self._cancel
        )
        self._train_id = self._runner.submit(task)
        self._set_running(True)
        self._say("Preparing…")

    def cancel(self) -> None:
        """Stop after the current step; the best model so far stays saved."""
        self._cancel.cancel()
        self._runner.cancel(self._scan_id)
        self._say("Stopping after the current step…")

    def shutdown(self, timeout: float = 30.0) -> None:
        """Cancel all work and wait for the worker threads to end (call before closing)."""
        self._cancel.cancel()
        self._runner.shutdown(timeout)
        self._cam_runner.shutdown(timeout)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        event.accept()

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Choose the Labelled Folder", self.folder_edit.text()
        )
        if folder:
            self.set_folder(folder)

    def _choose_output(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save the Model As", self.output_edit.text(), f"ResLens model (*{MODEL_SUFFIX})"
        )
        if path:
            self.set_output(path)

    def _use_model(self) -> None:
        if self.result is not None:
            self.model_ready.emit(str(self.result.model_path))

    def _open_report(self) -> None:
        if self.result is not None and self.result.report_path is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.result.report_path)))

    def _explain(self, path: str, true_label: str) -> None:
        if self._explainer is not None:
            self._cam_id = self._cam_runner.submit(self._explainer.task(Path(path), true_label))

    # --- what the workers report (GUI thread) ---------------------------------------------

    @Slot(int, object)
    def _on_progress(self, task_id: int, payload: object) -> None:
        if task_id == self._scan_id and isinstance(payload, ScanProgress):
            self.progress_bar.setRange(0, max(payload.total, 1))
            self.progress_bar.setValue(payload.done)
        elif task_id == self._train_id and isinstance(payload, TrainProgress):
            self._show_progress(payload)

    def _show_progress(self, progress: TrainProgress) -> None:
        if progress.phase == "preparing":
            self.progress_bar.setRange(0, max(progress.steps, 1))
            self.progress_bar.setValue(progress.step)
        else:
            total = max(progress.epochs * progress.steps, 1)
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue((progress.epoch - 1) * progress.steps + progress.step)
        self._say(progress.message or progress.describe())
        if len(progress.history) != len(self.history):
            self.history = progress.history
            self.curves.setPixmap(pixmap_of(curves_image(self.history, size=_CURVES)))

    @Slot(int, object)
    def _on_finished(self, task_id: int, value: object) -> None:
        if task_id == self._scan_id and isinstance(value, ScanDone):
            self.scan, self._health = value.scan, value.health
            self.health_text.setPlainText(value.health.describe())
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(1 if value.health.ok else 0)
            self._set_running(False)
        elif task_id == self._train_id and isinstance(value, TrainResult):
            self._show_result(value)
        elif task_id == self._cam_id and isinstance(value, CamPicture):
            self.results.show_cam(value.pixels, value.caption)

    def _show_result(self, result: TrainResult) -> None:
        self.result = result
        self.history = result.history
        self.curves.setPixmap(pixmap_of(curves_image(result.history, size=_CURVES)))
        self.results.show_result(result)
        self._explainer = MistakeExplainer(result.model_path)
        how = {
            "completed": "Training finished.",
            "early_stopped": "Training stopped early: validation balanced accuracy stopped improving.",
            "cancelled": f"Cancelled. The best model so far (epoch {result.best_epoch}) is saved; "
            "tick “Continue the interrupted training” to resume.",
        }[result.stopped]
        self._say(f"{how} Model: {result.model_path}")
        self._set_running(False)

    @Slot(int, object)
    def _on_failed(self, task_id: int, exc: object) -> None:
        message = str(exc) if isinstance(exc, EngineError) else f"Unexpected error: {exc!r}"
        if task_id == self._scan_id:
            self.health_text.setPlainText(message)
        elif task_id == self._train_id:
            self._say(message, error=True)
        elif task_id == self._cam_id:
            self.results.show_cam_error(message)
        self._set_running(False)

    @Slot(int)
    def _on_cancelled(self, task_id: int) -> None:
        if task_id == self._train_id:
            self._say("Cancelled before the first epoch finished; no model was saved.")
        self._set_running(False)

    # --- state ----------------------------------------------------------------------------

    def _set_running(self, running: bool) -> None:
        ready = self.scan is not None and self._health is not None and self._health.ok
        for widget in (self.folder_edit, self.folder_button, self.options, self.output_edit,
                       self.output_button):  # fmt: skip
            widget.setEnabled(not running)
        self.start_button.setEnabled(ready and not running)
        self.cancel_button.setEnabled(running)
        self.use_button.setEnabled(self.result is not None and not running)
        self.report_button.setEnabled(
            self.result is not None and self.result.report_path is not None and not running
        )
        self._refresh_resume()

    def _refresh_resume(self) -> None:
        text = self.output_edit.text()
        exists = bool(text) and state_path(Path(text).expanduser()).is_file()
        self.resume_box.setEnabled(exists and not self.cancel_button.isEnabled())
        if not exists:
            self.resume_box.setChecked(False)

    def _say(self, text: str, *, error: bool = False) -> None:
        self.status.setStyleSheet("color: #b00020;" if error else "")
        self.status.setText(text)


def _row(*widgets: QWidget) -> QHBoxLayout:
    layout = QHBoxLayout()
    for widget in widgets:
        layout.addWidget(widget, stretch=1 if isinstance(widget, (QLineEdit, QProgressBar)) else 0)
    return layout
