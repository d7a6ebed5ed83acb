"""The Train tab, a guided flow: 1 Data → 2 Settings → 3 Train → 4 Results (→ Use This Model).

Scanning, training and Grad-CAM run on worker threads (:class:`gui.bridge.TaskRunner`), each
task with its own callbacks; this widget only shows what they hand back. Every page scrolls,
so the tab never makes the window taller than the screen. ``model_ready(path)``: the user
wants to classify with the new model; ``model_saved(path)``: a training wrote that file.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QApplication, QFileDialog, QVBoxLayout, QWidget

from engine.inference.session import describe_failure
from engine.jobs import CancelToken
from engine.models.model_file import MODEL_SUFFIX
from engine.training.health import HealthReport
from engine.training.mistakes import MistakeExplainer
from engine.training.records import TrainProgress, TrainResult
from engine.training.scan import DatasetScan
from engine.training.session import ScanDone, ScanProgress, free_model_path, scan_task, train_task
from engine.training.state import state_path
from gui.bridge import TaskRunner
from gui.settings import Settings
from gui.training.pages import Pages, ReportOpener

log = logging.getLogger(__name__)
DATA, SETTINGS, TRAIN, RESULTS = range(4)


class TrainingTab(QWidget):
    """Fine-tune a model on the user's labelled folder, then hand it to the classifier."""

    model_ready = Signal(str)
    model_saved = Signal(str)

    def __init__(self, settings: Settings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.scan: DatasetScan | None = None
        self._health: HealthReport | None = None
        self._folder: Path | None = None
        self._output_automatic = True
        self._replace: Path | None = None  # a file the user chose to replace in a dialog
        self._renamed = ""  # why the model file got another name than the one shown
        self.result: TrainResult | None = None
        self._cancel = CancelToken()
        self._scan_id = -1
        self._explainer: MistakeExplainer | None = None
        self._runner = TaskRunner("training", parent=self)
        self._cam_runner = TaskRunner("training-cam", parent=self)
        self.pages = Pages(self)
        self._alias_widgets()
        QVBoxLayout(self).addWidget(self.pages)
        self.report = ReportOpener(self)
        self._connect()
        self._restore()
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self._set_running(False)

    def _alias_widgets(self) -> None:
        p = self.pages
        self.folder_edit, self.folder_button = p.data.folder_edit, p.data.folder_button
        self.options, self.output_edit, self.output_button = (
            p.options,
            p.output_edit,
            p.output_button,
        )
        self.resume_box, self.start_button, self.cancel_button = (
            p.resume_box,
            p.start_button,
            p.cancel_button,
        )
        self.progress_bar, self.status, self.curves = p.progress_bar, p.status, p.curves
        self.results, self.use_button, self.report_button = p.results, p.use_button, p.report_button

    def _connect(self) -> None:
        self.folder_button.clicked.connect(self._choose_folder)
        self.pages.data.folder_entered.connect(self._folder_typed)
        self.folder_edit.editingFinished.connect(
            lambda: self._folder_typed(self.folder_edit.text())
        )
        self.output_button.clicked.connect(self._choose_output)
        self.output_edit.textEdited.connect(self._output_typed)
        self.output_edit.textChanged.connect(self._refresh_resume)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.use_button.clicked.connect(self._use_model)
        self.report_button.clicked.connect(self._open_report)
        self.results.explain_requested.connect(self._explain)
        self.pages.stack.currentChanged.connect(self._on_step)

    def _restore(self) -> None:
        s = self.settings
        if s is None:
            return
        if s.train_epochs:
            self.options.epochs.setValue(s.train_epochs)
        if s.train_image_size:
            self.options.set_image_size(s.train_image_size)
        if s.train_folder:
            self.folder_edit.setText(s.train_folder)

    def focus_folder(self) -> None:
        """Ctrl+2: the data-folder field, ready to type a path and press Enter."""
        self.pages.go(DATA)
        self.folder_edit.setFocus()
        self.folder_edit.selectAll()

    def _on_step(self, index: int) -> None:
        if index == SETTINGS and not self.cancel_button.isEnabled():
            self._say("The defaults suit most data sets: press Start Training.")

    # --- step 1: data ---------------------------------------------------------------------

    def set_folder(self, folder: str | Path) -> None:
        """Scan ``folder`` in the background and show its health report."""
        path = self._folder = Path(folder).expanduser()
        self.folder_edit.setText(str(path))
        if self._output_automatic:
            self._set_automatic_output(path.parent / f"{path.name}{MODEL_SUFFIX}")
        self.scan, self._health = None, None
        self._runner.cancel(self._scan_id)
        self.pages.data.show_checking("Checking every image…")
        self._scan_id = self._runner.submit(
            scan_task(path),
            progress=self._scan_progress,
            result=lambda done: self._scanned(path, done),
            error=lambda exc: self._scan_failed(path, exc),
        )
        self._set_running(False)

    def _folder_typed(self, text: str) -> None:
        text = text.strip()
        if text and (Path(text).expanduser() != self._folder or self.scan is None):
            self.set_folder(text)

    def _scan_progress(self, progress: ScanProgress) -> None:
        self.pages.data.summary.setText(f"Checking every image… {progress.done}/{progress.total}")

    def _scanned(self, folder: Path, done: ScanDone) -> None:
        if folder != self._folder:
            return
        self.scan, self._health = done.scan, done.health
        self.pages.data.show_health(done)
        if self.settings is not None:
            self.settings.train_folder = str(folder)
        self._set_running(False)
        self._say("Data looks good: go on to 2. Settings." if done.health.ok else "")

    def _scan_failed(self, folder: Path, exc: BaseException) -> None:
        if folder == self._folder:
            self.pages.data.show_failure(describe_failure(exc))
        self._set_running(False)

    # --- step 2: settings and the model file ----------------------------------------------

    def set_output(self, path: str | Path, *, replace: bool = False) -> None:
        """Train into ``path``; ``replace``: the user agreed to replace an existing file."""
        self._output_automatic = False
        self._replace = Path(path).expanduser() if replace else None
        self.output_edit.setText(str(path))

    def _set_automatic_output(self, wanted: Path) -> None:
        # An interrupted run into ``wanted`` keeps its name, so that it can be resumed.
        path = wanted if state_path(wanted).is_file() else free_model_path(wanted)
        self.output_edit.setText(str(path))

    def _output_typed(self, _text: str) -> None:
        self._output_automatic = False
        self._replace = None

    def _choose_output(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save the Model As", self.output_edit.text(), f"ResLens model (*{MODEL_SUFFIX})"
        )  # the dialog itself asks before an existing file is replaced
        if path:
            self.set_output(path, replace=True)

    def _output_path(self) -> Path:
        out = Path(self.output_edit.text()).expanduser()
        if out.suffix.lower() != MODEL_SUFFIX:
            out = out.with_name(out.name + MODEL_SUFFIX)
        resume = self.resume_box.isChecked()
        self._renamed = ""
        if not resume and out.exists() and out != self._replace:
            free = free_model_path(out)
            self._renamed = (f" {out.name} already existed, so this model was saved as "
                             f"{free.name} (choose Save As… to replace a file).")  # fmt: skip
            out = free
        self.output_edit.blockSignals(True)
        self.output_edit.setText(str(out))
        self.output_edit.blockSignals(False)
        return out

    # --- step 3: training -----------------------------------------------------------------

    def start(self) -> None:
        if self.scan is None or not self.start_button.isEnabled():
            return
        try:
            config = self.options.config()
        except ValueError as exc:
            self._say(f"These settings do not work together: {exc}", error=True)
            return
        out = self._output_path()
        self._remember(config.epochs, config.image_size)
        self._cancel = CancelToken()
        self.result, self._explainer = None, None
        self.results.clear()
        self.curves.clear()
        task = train_task(
            self.scan, out, config, resume=self.resume_box.isChecked(), cancel=self._cancel
        )
        self._runner.submit(
            task, progress=self._show_progress, result=self._show_result,
            error=self._train_failed, cancelled=self._train_cancelled,
        )  # fmt: skip
        self._set_running(True)
        self.pages.progress(0, 0, "preparing")
        self.pages.go(TRAIN)
        self._say("Preparing…" + self._renamed)

    def _remember(self, epochs: int, image_size: int) -> None:
        if self.settings is not None:
            self.settings.train_epochs = epochs
            self.settings.train_image_size = image_size

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

    def _show_progress(self, progress: TrainProgress) -> None:
        if progress.phase == "preparing":
            self.pages.progress(progress.step, max(progress.steps, 1), "preparing images %p%")
        else:
            total = max(progress.epochs * progress.steps, 1)
            done = (progress.epoch - 1) * progress.steps + progress.step
            self.pages.progress(done, total, "%p%")
        self.curves.add_progress(progress)
        self._say(progress.message or progress.describe())

    def _show_result(self, result: TrainResult) -> None:
        self.result = result
        self.curves.set_history(result.history)
        self._explainer = MistakeExplainer(result.model_path)  # before the grid asks for CAMs
        self.results.show_result(result)
        done = self.progress_bar.maximum()
        how = {
            "completed": ("Training finished.", done, "done"),
            "early_stopped": ("Training stopped early: the validation figure the model is chosen by (balanced accuracy unless set otherwise) stopped improving.",
                              done, "stopped early: done"),
            "cancelled": (f"Cancelled. The best model so far (epoch {result.best_epoch}) is saved; "
                          "tick “Continue the interrupted training” to resume.",
                          self.progress_bar.value(), "cancelled at %p%"),
        }[result.stopped]  # fmt: skip
        self.pages.progress(how[1], done, how[2])
        self._say(f"{how[0]} Model: {result.model_path}.{self._renamed}")
        self._set_running(False)
        self.pages.go(RESULTS)
        self.model_saved.emit(str(result.model_path))

    def _train_failed(self, exc: BaseException) -> None:
        self._say(describe_failure(exc), error=True)
        self.pages.progress(self.progress_bar.value(), self.progress_bar.maximum(), "failed")
        self._set_running(False)

    def _train_cancelled(self) -> None:
        self._say("Cancelled before the first epoch finished; no model was saved.")
        self.pages.progress(0, 1, "cancelled")
        self._set_running(False)

    # --- step 4: results ------------------------------------------------------------------

    def _use_model(self) -> None:
        if self.result is not None:
            self.model_ready.emit(str(self.result.model_path))

    def _open_report(self) -> None:
        if self.result is not None and self.result.report_path is not None:
            self.report.open(self.result.report_path)

    def _explain(self, path: str, true_label: str) -> None:
        if self._explainer is None:
            return
        image = Path(path)
        self._cam_runner.submit(
            self._explainer.task(image, true_label),
            result=lambda cam: self.results.show_cam(image, cam.pixels, cam.caption),
            error=lambda exc: self.results.show_cam_error(describe_failure(exc)),
        )

    # --- state ----------------------------------------------------------------------------

    def _set_running(self, running: bool) -> None:
        ready = self.scan is not None and self._health is not None and self._health.ok
        for widget in (self.folder_edit, self.folder_button, self.options, self.output_edit,
                       self.output_button):  # fmt: skip
            widget.setEnabled(not running)
        self.start_button.setEnabled(ready and not running)
        self.cancel_button.setEnabled(running)
        has_result = self.result is not None and not running
        self.use_button.setEnabled(has_result)
        self.report_button.setEnabled(has_result and self.result.report_path is not None)  # type: ignore[union-attr]
        self.pages.enable_steps(settings=ready or running, train=running or self.result is not None,
                                results=has_result)  # fmt: skip
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

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Choose the Labelled Folder", self.folder_edit.text()
        )
        if folder:
            self.set_folder(folder)
