"""The window's engine side, in three parts that share two workers (see :mod:`gui.bridge`):

* :class:`~gui.model_loader.ModelLoader`: which model is in use, loading another;
* :class:`~gui.classification.Classification`: the files in the list and classifying them;
* :class:`~gui.file_actions.FileActions`: exporting, sorting copies, saving a view.

Workers: ``jobs`` loads a model, then classifies (in order; one at a time); ``io`` walks
dropped folders and writes files (quick, never waits for a long classification). The
controller wires the parts together (a new model reclassifies everything) and merges what
they do into one activity for the progress bar.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from engine.explain.display import ViewMode
from engine.inference.session import Activity, LoadedModel, ModelChoice
from engine.inference.sorting import SortPlan
from gui.bridge import TaskRunner
from gui.classification import Classification
from gui.explainer import Explainer
from gui.file_actions import FileActions
from gui.model_loader import ModelLoader
from gui.notices import Notice
from gui.results_model import ResultsModel, RowState
from gui.settings import Settings
from gui.thumbnails import ThumbnailProvider

if TYPE_CHECKING:
    from engine.runtime.classifier import Classifier


class Controller(QObject):
    """Engine objects and long-running work behind the main window."""

    model_loaded = Signal(str)  # Classifier.describe()
    activity_changed = Signal(object)  # Activity | None
    notice = Signal(object)  # Notice
    files_changed = Signal()

    def __init__(self, settings: Settings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.thumbnails = ThumbnailProvider(parent=self)
        self.results = ResultsModel(self.thumbnails, parent=self)
        self.jobs = TaskRunner("jobs", parent=self)
        self.io = TaskRunner("io", parent=self)
        self.explainer = Explainer(parent=self)
        self.loader = ModelLoader(settings, self.jobs, self)
        self.session = Classification(
            self.results, self.jobs, self.io, lambda: self.loader.classifier, self
        )
        self.session.top_k = settings.top_k
        self.files = FileActions(self.results, settings, self.io, self)
        self._after_classified: list[Callable[[], None]] = []
        self._connect()

    def _connect(self) -> None:
        for part in (self.loader, self.session, self.files):
            part.notice.connect(self.notice)
        self.loader.loading.connect(self._emit_activity)
        self.loader.loaded.connect(self._model_ready)
        self.loader.failed.connect(self._model_failed)
        self.session.changed.connect(self._session_changed)
        self.session.files_changed.connect(self.files_changed)
        self.session.finished.connect(self._run_after_classified)
        self.files.changed.connect(self._emit_activity)

    # --- the parts' state, for the window -------------------------------------------------

    @property
    def classifier(self) -> Classifier | None:
        return self.loader.classifier

    @property
    def choice(self) -> ModelChoice | None:
        return self.loader.choice

    @property
    def top_k(self) -> int:
        return self.session.top_k

    @property
    def sources(self) -> list[Path]:
        return self.session.sources

    def waiting(self) -> int:
        return self.results.counts()[RowState.WAITING]

    # --- model ----------------------------------------------------------------------------

    def load_model(self, choice: ModelChoice) -> None:
        """Load ``choice`` on the worker; results are reclassified once it is ready."""
        self.session.cancel(quiet=True)
        self.loader.load(choice)
        self._emit_activity()

    def choose_weights(self, arch: str, path: str) -> None:
        self.load_model(ModelChoice(arch, weights=path, device=self.loader.device()))

    def retry_download(self, arch: str) -> None:
        self.load_model(ModelChoice(arch, weights=None, device=self.loader.device()))

    def _model_ready(self, loaded: LoadedModel) -> None:
        self.explainer.classifier = loaded.classifier
        self.model_loaded.emit(loaded.classifier.describe())
        self.results.reset_results()
        self.session.classify_waiting()
        self._emit_activity()

    def _model_failed(self, _message: str) -> None:
        self.explainer.classifier = None
        self._drop_after_classified("no model is loaded")
        self._emit_activity()

    # --- files and classification ---------------------------------------------------------

    def add_paths(self, paths: Sequence[str | Path]) -> None:
        self.session.add_paths(paths)

    def classify_waiting(self) -> None:
        self.session.classify_waiting()

    def set_top_k(self, value: int) -> None:
        self.session.top_k = value
        self.settings.top_k = value

    def cancel(self) -> None:
        """Esc / Cancel: stop whatever long work is running."""
        if self.session.running:
            self._drop_after_classified("classification was cancelled")
        self.session.cancel()
        self.files.cancel_copying()
        self.loader.cancel()

    def clear(self) -> None:
        self._drop_after_classified("the list was cleared")
        self.session.clear()
        self.thumbnails.clear()

    def after_classified(self, then: Callable[[], None]) -> None:
        """Run ``then`` once every waiting image is classified (starting that if needed)."""
        self._after_classified.append(then)
        if not self.session.running:
            self.session.classify_waiting()
        if not self.session.running:  # nothing could start (no model): do not wait forever
            self._run_after_classified()

    def _session_changed(self) -> None:
        if self._after_classified and not self.session.running:  # stopped (error, new model)
            self._drop_after_classified("classification stopped before every image was done")
        self._emit_activity()

    def _run_after_classified(self) -> None:
        pending, self._after_classified = self._after_classified, []
        for then in pending:
            then()

    def _drop_after_classified(self, why: str) -> None:
        if self._after_classified:
            self._after_classified = []
            text = f"The export or sort that was waiting is off: {why}."
            self.notice.emit(Notice("warning", text))

    # --- export and sort ------------------------------------------------------------------

    def export(self, path: Path) -> None:
        self.files.export(path)

    def sort_copies(self, plan: SortPlan) -> None:
        self.files.sort_copies(plan)

    def save_overlay(self, out: Path, mode: ViewMode, alpha: float) -> bool:
        """Save what the viewer shows, at the photo's full size; False if nothing is shown."""
        view = self.explainer.current
        if view is None:
            return False
        self.files.save_view(view, out, mode, alpha)
        return True

    # --- shutting down --------------------------------------------------------------------

    def shutdown(self) -> None:
        """Cancel everything and wait for the workers (closing the window)."""
        self._after_classified = []
        self.session.cancel(quiet=True)
        for runner in (self.jobs, self.io):
            runner.cancel_all()
        for runner in (self.jobs, self.io):
            runner.shutdown()
        self.explainer.shutdown()
        self.thumbnails.shutdown()

    def is_idle(self) -> bool:
        return self.jobs.is_idle() and self.io.is_idle()

    def _emit_activity(self, *_args: object) -> None:
        activity = self.session.activity() or self.files.copying
        if activity is None and self.loader.busy and self.loader.choice is not None:
            activity = Activity(f"Loading {self.loader.choice.title()}", None, cancellable=True)
        self.activity_changed.emit(activity)
