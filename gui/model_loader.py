"""Loading the model the user chose, on the ``jobs`` worker, and remembering the choice."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from engine.errors import WeightsNotFoundError
from engine.inference.session import CudaCheck, Download, LoadedModel, ModelChoice, load_task
from engine.inference.session import describe_failure as message_of
from engine.models.registry import ARCHITECTURES
from gui.bridge import TaskRunner
from gui.notices import Notice
from gui.settings import Settings

if TYPE_CHECKING:
    from engine.runtime.classifier import Classifier

DEMO_WARNING = (
    "Demo mode: this model has random weights, so its predictions are meaningless. "
    "Choose a model with real weights for actual use."
)


class ModelLoader(QObject):
    """Which model is in use; loading another one runs as a task with its own callbacks."""

    loading = Signal(str)  # what is being loaded, in words
    loaded = Signal(object)  # LoadedModel
    failed = Signal(str)  # why no model is loaded
    weights_missing = Signal(object)  # WeightsNotFoundError
    download_progress = Signal(int, object)  # bytes received, total bytes or None
    cuda_checked = Signal(bool)
    notice = Signal(object)  # Notice

    def __init__(self, settings: Settings, jobs: TaskRunner, parent: QObject | None = None):
        super().__init__(parent)
        self.settings = settings
        self.jobs = jobs
        self.classifier: Classifier | None = None
        self.choice: ModelChoice | None = None
        self.cuda_ok: bool | None = None
        self.task: int | None = None

    @property
    def busy(self) -> bool:
        return self.task is not None

    def load(self, choice: ModelChoice) -> None:
        if self.task is not None:
            self.jobs.cancel(self.task)
        self.choice = choice

        def if_current(then):  # type: ignore[no-untyped-def]
            # A load replaced by a newer one may still report: only the newest one counts.
            return lambda *args: then(*args) if self.task == task_id else None

        task_id = self.jobs.submit(
            lambda ctx: load_task(ctx, choice),
            progress=if_current(self._progress),
            result=if_current(self._ready),
            error=if_current(self._failed),
            cancelled=if_current(lambda: self._failed(None)),
        )
        self.task = task_id
        self.loading.emit(choice.title())

    def cancel(self) -> None:
        if self.task is not None:
            self.jobs.cancel(self.task)

    def device(self) -> str:
        return self.choice.device if self.choice is not None else self.settings.device

    def _progress(self, payload: object) -> None:
        if isinstance(payload, Download):
            self.download_progress.emit(payload.received, payload.total)
        elif isinstance(payload, CudaCheck):
            self.cuda_ok = payload.available
            self.cuda_checked.emit(payload.available)

    def _ready(self, loaded: LoadedModel) -> None:
        self.task = None
        self.classifier, self.choice = loaded.classifier, loaded.choice
        if loaded.choice.is_random:
            self.notice.emit(Notice("warning", DEMO_WARNING))
        else:
            self._remember(loaded.choice)
        if loaded.fell_back_to_cpu:
            self.notice.emit(Notice("warning", "CUDA is not usable here; running on the CPU."))
        self.loaded.emit(loaded)

    def _failed(self, exc: BaseException | None) -> None:
        self.task = None
        self.classifier = None
        if isinstance(exc, WeightsNotFoundError):
            self.weights_missing.emit(exc)
        self.failed.emit("Loading the model was cancelled." if exc is None else message_of(exc))

    def _remember(self, choice: ModelChoice) -> None:
        self.settings.model = choice.spec
        self.settings.device = "cuda" if choice.device.startswith("cuda") else "cpu"
        if choice.spec in ARCHITECTURES:
            if choice.weights is not None:
                self.settings.set_weights_file(choice.spec, choice.weights)
        else:
            self.settings.add_recent_model(choice.spec)
