"""The classifying session: files dropped in are walked, queued and classified in order.

Walking folders runs on the ``io`` worker (it never waits for a long classification);
classifying runs on the ``jobs`` worker after any model load. Each task hands its chunks,
result or error to its own callbacks (see :mod:`gui.bridge`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from engine.inference.chunks import ResultChunk
from engine.inference.session import Activity, ClassifySession, ScanResult, classify_task, scan_task
from engine.inference.session import describe_failure as message_of
from gui.bridge import TaskRunner
from gui.notices import Notice
from gui.results_model import ResultsModel, RowState

if TYPE_CHECKING:
    from engine.runtime.classifier import Classifier


class Classification(QObject):
    """Rows in the results model and the jobs classifying the waiting ones."""

    changed = Signal()  # progress or the set of running jobs changed
    files_changed = Signal()
    finished = Signal()  # every queued image got its result (not on cancel)
    notice = Signal(object)  # Notice

    def __init__(
        self,
        results: ResultsModel,
        jobs: TaskRunner,
        io: TaskRunner,
        classifier: Callable[[], Classifier | None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.results = results
        self.jobs = jobs
        self.io = io
        self.classifier = classifier
        self.sources: list[Path] = []
        self.top_k = 5
        self.session = ClassifySession()

    @property
    def running(self) -> bool:
        return bool(self.session.jobs)

    def activity(self) -> Activity | None:
        return self.session.activity() if self.session.jobs else None

    def add_paths(self, paths: Sequence[str | Path]) -> None:
        """Add files and folders (walked recursively on a worker), then classify them."""
        roots = [Path(p) for p in paths]
        if not roots:
            return
        self.sources.extend(r if r.is_dir() else r.parent for r in roots)
        self.io.submit(
            lambda ctx: scan_task(ctx, roots),
            result=self._files_found,
            error=lambda exc: self.notice.emit(Notice("error", message_of(exc))),
        )

    def classify_waiting(self) -> None:
        """Classify every row still waiting (new files, or all after a model change)."""
        classifier = self.classifier()
        if classifier is None:
            return
        session = self.session
        rows = [r for r in self.results.waiting_rows() if r not in session.queued]
        if not rows:
            return
        paths = [self.results.path(r) for r in rows]
        top_k = self.top_k
        task = self.jobs.submit(
            lambda ctx: classify_task(ctx, classifier, paths, top_k),
            progress=lambda chunk: self._chunk(session, task, chunk),
            result=lambda _count: self._ended(session, task),
            error=lambda exc: self._ended(session, task, exc),
            cancelled=lambda: self._ended(session, task, cancelled=True),
        )
        session.add(task, rows)
        self.changed.emit()

    def cancel(self, *, quiet: bool = False) -> None:
        if not self.session.jobs:
            return
        for task in list(self.session.jobs):
            self.jobs.cancel(task)
        done, total = self.session.done, self.session.total
        self.session = ClassifySession()
        self.changed.emit()
        if not quiet:
            waiting = self.results.counts()[RowState.WAITING]
            self.notice.emit(
                Notice(
                    "info",
                    f"Cancelled: {done} of {total} images classified. "
                    f"{waiting} still waiting: press F5 (Classify Waiting Images) to go on.",
                )
            )

    def clear(self) -> None:
        self.cancel(quiet=True)
        self.results.clear()
        self.sources.clear()
        self.files_changed.emit()

    # --- what the tasks hand back (GUI thread) --------------------------------------------

    def _chunk(self, session: ClassifySession, task: int, chunk: ResultChunk) -> None:
        if session is not self.session:
            return  # a cancelled session's last chunk
        rows = session.take_chunk(task, chunk)
        if rows:
            self.results.set_results(rows, chunk.results)
            self.changed.emit()

    def _ended(
        self,
        session: ClassifySession,
        task: int,
        exc: BaseException | None = None,
        *,
        cancelled: bool = False,
    ) -> None:
        if session is not self.session or not session.finish(task):
            return
        if exc is not None:
            self.notice.emit(Notice("error", f"Classification stopped: {message_of(exc)}"))
        if not session.jobs:
            self.session = ClassifySession()
            if exc is None and not cancelled:
                failed = f", {session.failed} could not be read" if session.failed else ""
                self.notice.emit(Notice("info", f"Classified {session.done} images{failed}."))
                self.finished.emit()
        self.changed.emit()

    def _files_found(self, scan: ScanResult) -> None:
        images = [p for p in scan.images if not self.results.knows(p)]
        self.results.add_files(images, scan.skipped)
        self.files_changed.emit()
        skipped = f" ({len(scan.skipped)} skipped: not images)" if scan.skipped else ""
        if not images and not scan.skipped:
            self.notice.emit(Notice("warning", "No new images found there."))
        elif self.classifier() is None:
            text = f"Added {len(images)} images{skipped}; waiting for a model."
            self.notice.emit(Notice("info", text))
        else:
            self.notice.emit(Notice("info", f"Added {len(images)} images{skipped}."))
        self.classify_waiting()
