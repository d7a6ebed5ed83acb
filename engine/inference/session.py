"""A classifying session as an app shows it: the model the user chose, loading it, the jobs
queued since the window was last idle as one progress bar, and the batch size policy.

Task functions here run on a worker thread (the app's :class:`gui.bridge.TaskRunner`, or any
:class:`engine.jobs.TaskContext`); they report frozen data through ``ctx.report`` and return
frozen data.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import EngineError, ModelLoadError
from engine.imaging.walk import find_images
from engine.inference.chunks import ResultChunk, classify_in_chunks
from engine.inference.loader import load_classifier
from engine.jobs import Progress, TaskContext
from engine.models.registry import ARCHITECTURES, get_architecture
from engine.runtime.build import is_random as random_weights

if TYPE_CHECKING:
    from engine.runtime.classifier import Classifier

BATCH_SIZE = 8
"""Images per forward pass for ResNet-50 on a CPU: about 0.8 s here, so Cancel is quick."""
GPU_BATCH_SIZE = 32


def batch_size_for(classifier: Classifier) -> int:
    """Smaller batches for heavier networks, so that one forward pass stays under a second."""
    if classifier.device.lower().startswith("cuda"):
        return GPU_BATCH_SIZE
    try:
        gflops = get_architecture(classifier.source.arch).gflops
    except ModelLoadError:
        return BATCH_SIZE
    reference = ARCHITECTURES["resnet50"].gflops
    return max(1, min(BATCH_SIZE, round(BATCH_SIZE * reference / gflops)))


@dataclass(frozen=True)
class ModelChoice:
    """What the user picked: an architecture or a model file, its weights, the device."""

    spec: str  # "resnet50" or the path of a model file
    weights: str | None = None  # None: pretrained (found or downloaded); a path; "none"
    device: str = "cpu"

    @property
    def is_random(self) -> bool:
        return random_weights(self.weights)

    @property
    def arch(self) -> str | None:
        return self.spec if self.spec in ARCHITECTURES else None

    def title(self) -> str:
        if self.spec in ARCHITECTURES:
            name = ARCHITECTURES[self.spec].display_name
            return f"{name} (random weights, demo)" if self.is_random else name
        return Path(self.spec).name


@dataclass(frozen=True)
class LoadedModel:
    choice: ModelChoice
    classifier: Classifier
    fell_back_to_cpu: bool = False


@dataclass(frozen=True)
class Download:
    received: int
    total: int | None


@dataclass(frozen=True)
class CudaCheck:
    available: bool


@dataclass(frozen=True)
class ScanResult:
    images: tuple[Path, ...]
    skipped: tuple[tuple[Path, str], ...]


@dataclass(frozen=True)
class Activity:
    """What the progress bar shows: a title, progress if known, whether Cancel applies."""

    title: str
    progress: Progress | None
    cancellable: bool = True


def load_task(ctx: TaskContext, choice: ModelChoice) -> LoadedModel:
    """Import torch, check CUDA, load the model (downloading weights if needed)."""
    with _collector_paused():
        return _load(ctx, choice)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Keep Python's cycle collector from pausing every thread, the GUI's included.

    Importing torch creates about a million long-lived objects; a full collection then walks
    them all (0.2-0.4 s here, with the GIL held). Collection waits during the import, and the
    objects alive afterwards are frozen: later collections skip them.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _load(ctx: TaskContext, choice: ModelChoice) -> LoadedModel:
    from engine.runtime.backends.serialized import shared
    from engine.runtime.backends.torch_backend import cuda_available

    usable = cuda_available()
    ctx.report(CudaCheck(usable))
    fell_back = choice.device.startswith("cuda") and not usable
    if fell_back:
        choice = replace(choice, device="cpu")
    ctx.cancel.raise_if_cancelled("Loading the model")
    classifier = load_classifier(
        choice.spec,
        weights=choice.weights,
        device=choice.device,
        backend="auto",
        progress=lambda received, total: ctx.report(Download(received, total)),
        cancel=ctx.cancel,
    )
    return LoadedModel(choice, shared(classifier), fell_back)


def scan_task(ctx: TaskContext, roots: list[Path]) -> ScanResult:
    images, skipped = find_images(roots)
    return ScanResult(tuple(images), tuple(skipped))


def classify_task(ctx: TaskContext, classifier: Classifier, paths: list[Path], top_k: int) -> int:
    """Classify ``paths``, reporting a :class:`ResultChunk` at most every 100 ms."""
    return classify_in_chunks(
        classifier,
        paths,
        ctx.report,
        min_interval_s=0.1,
        top_k=top_k,
        batch_size=batch_size_for(classifier),
        cancel=ctx.cancel,
    )


class ClassifySession:
    """The classification jobs queued since the window was last idle, as one progress bar."""

    def __init__(self) -> None:
        self.jobs: dict[int, list[int]] = {}  # task id -> the rows it classifies
        self.queued: set[int] = set()
        self.total = 0
        self._done: dict[int, int] = {}
        self._failed: dict[int, int] = {}
        self._rate = 0.0
        self._started = time.monotonic()

    @property
    def done(self) -> int:
        return sum(self._done.values())

    @property
    def failed(self) -> int:
        return sum(self._failed.values())

    def add(self, task: int, rows: list[int]) -> None:
        self.jobs[task] = rows
        self.queued.update(rows)
        self.total += len(rows)

    def take_chunk(self, task: int, chunk: ResultChunk) -> list[int]:
        """The rows ``chunk`` belongs to (empty for a job no longer wanted)."""
        rows = self.jobs.get(task)
        if rows is None:
            return []
        self._done[task] = chunk.progress.done
        self._failed[task] = chunk.progress.failed
        self._rate = chunk.progress.rate
        return rows[chunk.start : chunk.start + len(chunk.results)]

    def finish(self, task: int) -> bool:
        """Forget a job that ended; False if it was not part of this session."""
        rows = self.jobs.pop(task, None)
        if rows is None:
            return False
        self.queued.difference_update(rows)
        return True

    def activity(self) -> Activity:
        done, elapsed = self.done, time.monotonic() - self._started
        eta = (self.total - done) / self._rate if self._rate > 0 else None
        progress = Progress(done, self.total, self.failed, elapsed, self._rate, eta)
        return Activity("Classifying", progress, cancellable=True)


def export_summary(written: int, waiting: int, path: Path | str) -> str:
    """What an export says when done: rows written, and how many images are not in the file."""
    text = f"Saved {written} rows to {path}."
    if waiting:
        text += (
            f" {waiting} {'image is' if waiting == 1 else 'images are'} not classified yet and "
            "not in the file."
        )
    return text


def waiting_question(action: str, waiting: int) -> str:
    """The question asked before exporting or sorting while images still wait."""
    them = "it" if waiting == 1 else "them"
    noun = "image is" if waiting == 1 else "images are"
    return (
        f"{waiting} {noun} not classified yet, so {action} would leave {them} out. "
        f"Wait until {them} {'is' if waiting == 1 else 'are'} classified?"
    )


def describe_failure(exc: object) -> str:
    """A worker's exception in words for a window (the traceback is in the log)."""
    if isinstance(exc, EngineError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    return f"Unexpected error ({type(exc).__name__}: {exc}); details are in the log."
