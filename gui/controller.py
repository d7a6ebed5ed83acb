"""The window's engine side: which model is loaded, which files are in, what runs now.

The controller owns the engine objects (the :class:`~engine.runtime.classifier.Classifier`, the rows of
results) and the task runners; widgets call its methods and listen to its signals. Every call
into the engine that takes time runs as a task on a worker (see :mod:`gui.bridge`):

* ``jobs``: loading a model, then classifying (in order; one at a time);
* ``io``: walking dropped folders, exporting results, copying files (quick, never waits for
  a long classification).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from engine.errors import EngineError, WeightsNotFoundError
from engine.explain.display import ViewMode, save_view
from engine.inference.chunks import ResultChunk
from engine.inference.results import write_results
from engine.inference.session import (
    Activity,
    ClassifySession,
    CudaCheck,
    Download,
    LoadedModel,
    ModelChoice,
    ScanResult,
    classify_task,
    load_task,
    scan_task,
)
from engine.inference.sorting import SortPlan, SortReport, execute_sort
from engine.jobs import Progress
from engine.models.registry import ARCHITECTURES
from gui.bridge import TaskRunner
from gui.explainer import Explainer
from gui.results_model import ResultsModel
from gui.settings import Settings
from gui.thumbnails import ThumbnailProvider

if TYPE_CHECKING:
    from engine.runtime.classifier import Classifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notice:
    level: str  # "info", "warning" or "error"
    text: str


class Controller(QObject):
    """Engine objects and long-running work behind the main window."""

    model_loading = Signal(str)  # what is being loaded, in words
    model_loaded = Signal(str)  # Classifier.describe()
    model_failed = Signal(str)  # why no model is loaded
    weights_missing = Signal(object)  # WeightsNotFoundError
    download_progress = Signal(int, object)  # bytes received, total bytes or None
    cuda_checked = Signal(bool)
    activity_changed = Signal(object)  # Activity | None
    notice = Signal(object)  # Notice
    files_changed = Signal()

    def __init__(self, settings: Settings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.thumbnails = ThumbnailProvider(parent=self)
        self.results = ResultsModel(self.thumbnails, parent=self)
        self.classifier: Classifier | None = None
        self.choice: ModelChoice | None = None
        self.cuda_ok: bool | None = None
        self.sources: list[Path] = []
        self.top_k = settings.top_k
        self.jobs = TaskRunner("jobs", parent=self)
        self.io = TaskRunner("io", parent=self)
        self.explainer = Explainer(parent=self)
        self._load_task: int | None = None
        self._session = ClassifySession()
        self._tasks: dict[int, str] = {}  # io task id -> what it does, for messages
        self._copy: Activity | None = None
        self._connect()

    def _connect(self) -> None:
        self.jobs.progress.connect(self._on_job_progress)
        self.jobs.finished.connect(self._on_job_finished)
        self.jobs.failed.connect(self._on_job_failed)
        self.jobs.cancelled.connect(self._on_job_cancelled)
        self.io.progress.connect(self._on_io_progress)
        self.io.finished.connect(self._on_io_finished)
        self.io.failed.connect(self._on_io_failed)
        self.io.cancelled.connect(self._on_io_cancelled)

    # --- model ----------------------------------------------------------------------------

    def load_model(self, choice: ModelChoice) -> None:
        """Load ``choice`` on the worker; results are reclassified once it is ready."""
        self.cancel_classification(quiet=True)
        if self._load_task is not None:
            self.jobs.cancel(self._load_task)
        self.choice = choice
        self._load_task = self.jobs.submit(lambda ctx: load_task(ctx, choice))
        self.model_loading.emit(choice.title())
        self._emit_activity()

    def choose_weights(self, arch: str, path: str) -> None:
        self.load_model(ModelChoice(arch, weights=path, device=self._device()))

    def retry_download(self, arch: str) -> None:
        self.load_model(ModelChoice(arch, weights=None, device=self._device()))

    def _device(self) -> str:
        return self.choice.device if self.choice is not None else self.settings.device

    def _model_ready(self, loaded: LoadedModel) -> None:
        choice = loaded.choice
        self.classifier = self.explainer.classifier = loaded.classifier
        self.choice = choice
        if choice.is_random:
            self.notice.emit(
                Notice(
                    "warning",
                    "Demo mode: this model has random weights, so its predictions are "
                    "meaningless. Choose a model with real weights for actual use.",
                )
            )
        else:
            self._remember(choice)
        if loaded.fell_back_to_cpu:
            self.notice.emit(Notice("warning", "CUDA is not usable here; running on the CPU."))
        self.model_loaded.emit(loaded.classifier.describe())
        self.results.reset_results()
        self.classify_waiting()

    def _remember(self, choice: ModelChoice) -> None:
        self.settings.model = choice.spec
        self.settings.device = "cuda" if choice.device.startswith("cuda") else "cpu"
        if choice.spec in ARCHITECTURES:
            if choice.weights is not None:
                self.settings.set_weights_file(choice.spec, choice.weights)
        else:
            self.settings.add_recent_model(choice.spec)

    # --- files and classification ---------------------------------------------------------

    def add_paths(self, paths: Sequence[str | Path]) -> None:
        """Add files and folders (walked recursively on a worker), then classify them."""
        roots = [Path(p) for p in paths]
        if not roots:
            return
        self.sources.extend(r if r.is_dir() else r.parent for r in roots)
        task = self.io.submit(lambda ctx: scan_task(ctx, roots))
        self._tasks[task] = "scan"

    def classify_waiting(self) -> None:
        """Classify every row still waiting (new files, or all after a model change)."""
        if self.classifier is None:
            return
        rows = [r for r in self.results.waiting_rows() if r not in self._session.queued]
        if not rows:
            return
        paths = [self.results.path(r) for r in rows]
        classifier, top_k = self.classifier, self.top_k
        task = self.jobs.submit(lambda ctx: classify_task(ctx, classifier, paths, top_k))
        self._session.add(task, rows)
        self._emit_activity()

    def cancel_classification(self, *, quiet: bool = False) -> None:
        if not self._session.jobs:
            return
        for task in list(self._session.jobs):
            self.jobs.cancel(task)
        done, total = self._session.done, self._session.total
        self._session = ClassifySession()
        self._emit_activity()
        if not quiet:
            self.notice.emit(Notice("info", f"Cancelled: {done} of {total} images classified."))

    def cancel(self) -> None:
        """Esc / Cancel: stop whatever long work is running."""
        self.cancel_classification()
        if self._copy is not None:
            self.io.cancel_all()
        if self._load_task is not None:
            self.jobs.cancel(self._load_task)

    def clear(self) -> None:
        self.cancel_classification(quiet=True)
        self.thumbnails.clear()
        self.results.clear()
        self.sources.clear()
        self.files_changed.emit()

    def set_top_k(self, value: int) -> None:
        self.top_k = value
        self.settings.top_k = value

    # --- export and sort ------------------------------------------------------------------

    def export(self, path: Path) -> None:
        results = self.results.results()
        top_k = max((len(r.prediction.labels) for r in results if r.prediction), default=1)
        task = self.io.submit(lambda ctx: write_results(path, results, top_k=top_k))
        self._tasks[task] = f"export:{path}"

    def sort_copies(self, plan: SortPlan) -> None:
        def copy(ctx):  # type: ignore[no-untyped-def]
            return execute_sort(
                plan, cancel=ctx.cancel, on_progress=lambda d, t: ctx.report((d, t))
            )

        task = self.io.submit(copy)
        self._tasks[task] = f"sort:{plan.destination}"
        self._copy = Activity("Copying files", None, cancellable=True)
        self._emit_activity()

    def save_overlay(self, out: Path, mode: ViewMode, alpha: float) -> bool:
        """Save what the viewer shows, at the photo's full size; False if nothing is shown."""
        view = self.explainer.current
        if view is None:
            return False
        source, heatmap = view.path, view.explanation.heatmap
        task = self.io.submit(lambda ctx: save_view(source, heatmap, out, mode=mode, alpha=alpha))
        self._tasks[task] = f"overlay:{out}"
        return True

    # --- shutting down --------------------------------------------------------------------

    def shutdown(self) -> None:
        """Cancel everything and wait for the workers (closing the window)."""
        self._session = ClassifySession()
        for runner in (self.jobs, self.io):
            runner.cancel_all()
        for runner in (self.jobs, self.io):
            runner.shutdown()
        self.explainer.shutdown()
        self.thumbnails.shutdown()

    def is_idle(self) -> bool:
        return self.jobs.is_idle() and self.io.is_idle()

    # --- worker messages (GUI thread) -----------------------------------------------------

    @Slot(int, object)
    def _on_job_progress(self, task: int, payload: object) -> None:
        if isinstance(payload, ResultChunk):
            rows = self._session.take_chunk(task, payload)
            if rows:
                self.results.set_results(rows, payload.results)
                self._emit_activity()
        elif isinstance(payload, Download) and task == self._load_task:
            self.download_progress.emit(payload.received, payload.total)
        elif isinstance(payload, CudaCheck):
            self.cuda_ok = payload.available
            self.cuda_checked.emit(payload.available)

    @Slot(int, object)
    def _on_job_finished(self, task: int, value: object) -> None:
        if task == self._load_task and isinstance(value, LoadedModel):
            self._load_task = None
            self._model_ready(value)
        elif self._session.finish(task) and not self._session.jobs:
            self._report_session()
        self._emit_activity()

    @Slot(int, object)
    def _on_job_failed(self, task: int, exc: object) -> None:
        if task == self._load_task:
            self._load_task = None
            self.classifier = self.explainer.classifier = None
            if isinstance(exc, WeightsNotFoundError):
                self.weights_missing.emit(exc)
            self.model_failed.emit(_message(exc))
        elif self._session.finish(task):
            self.notice.emit(Notice("error", f"Classification stopped: {_message(exc)}"))
        self._emit_activity()

    @Slot(int)
    def _on_job_cancelled(self, task: int) -> None:
        if task == self._load_task:
            self._load_task = None
            self.model_failed.emit("Loading the model was cancelled.")
        self._session.finish(task)
        self._emit_activity()

    @Slot(int, object)
    def _on_io_progress(self, task: int, payload: object) -> None:
        if isinstance(payload, tuple) and self._copy is not None:
            done, total = payload
            self._copy = Activity(
                "Copying files", Progress(done, total, 0, 0.0, 0.0, None), cancellable=True
            )
            self._emit_activity()

    @Slot(int, object)
    def _on_io_finished(self, task: int, value: object) -> None:
        what = self._tasks.pop(task, "")
        if isinstance(value, ScanResult):
            self._files_found(value)
        elif what.startswith("export:"):
            self.settings.set_folder("export", Path(what[7:]).parent)
            self.notice.emit(Notice("info", f"Saved {value} rows to {what[7:]}."))
        elif what.startswith("overlay:"):
            self.settings.set_folder("overlay", Path(what[8:]).parent)
            self.notice.emit(Notice("info", f"Saved the view to {what[8:]}."))
        elif isinstance(value, SortReport):
            self._copy = None
            self._report_sort(value, what[5:])
        self._emit_activity()

    @Slot(int, object)
    def _on_io_failed(self, task: int, exc: object) -> None:
        what = self._tasks.pop(task, "")
        if what.startswith("sort:"):
            self._copy = None
        self.notice.emit(Notice("error", _message(exc)))
        self._emit_activity()

    @Slot(int)
    def _on_io_cancelled(self, task: int) -> None:
        if self._tasks.pop(task, "").startswith("sort:"):
            self._copy = None
            self.notice.emit(Notice("info", "Copying cancelled; files already copied stay."))
        self._emit_activity()

    def _files_found(self, scan: ScanResult) -> None:
        images = [p for p in scan.images if not self.results.knows(p)]
        self.results.add_files(images, scan.skipped)
        self.files_changed.emit()
        skipped = f" ({len(scan.skipped)} skipped: not images)" if scan.skipped else ""
        if not images and not scan.skipped:
            self.notice.emit(Notice("warning", "No new images found there."))
        elif self.classifier is None:
            self.notice.emit(
                Notice("info", f"Added {len(images)} images{skipped}; waiting for a model.")
            )
        else:
            self.notice.emit(Notice("info", f"Added {len(images)} images{skipped}."))
        self.classify_waiting()

    def _report_session(self) -> None:
        session = self._session
        failed = f", {session.failed} could not be read" if session.failed else ""
        self.notice.emit(Notice("info", f"Classified {session.done} images{failed}."))
        self._session = ClassifySession()

    def _report_sort(self, report: SortReport, destination: str) -> None:
        self.settings.set_folder("sort", destination)
        text = f"Copied {len(report.copied)} files into {destination}."
        if report.failed:
            first_path, first_reason = report.failed[0]
            text += f" {len(report.failed)} could not be copied (first: {first_path.name}: {first_reason})."
        self.notice.emit(Notice("warning" if report.failed else "info", text))

    def _emit_activity(self) -> None:
        activity: Activity | None = None
        if self._session.jobs:
            activity = self._session.activity()
        elif self._copy is not None:
            activity = self._copy
        elif self._load_task is not None and self.choice is not None:
            activity = Activity(f"Loading {self.choice.title()}", None, cancellable=True)
        self.activity_changed.emit(activity)


def _message(exc: object) -> str:
    if isinstance(exc, EngineError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    return f"Unexpected error ({type(exc).__name__}: {exc}); details are in the log."
