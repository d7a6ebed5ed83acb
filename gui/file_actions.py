"""What the window writes: exported results, sorted copies, a saved view (on the ``io`` worker).

Each task reports to its own callbacks; a failure is always a message in the window.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from engine.explain.display import ViewMode, save_view
from engine.inference.results import write_results
from engine.inference.session import Activity, export_summary
from engine.inference.session import describe_failure as message_of
from engine.inference.sorting import SortPlan, SortReport, execute_sort
from engine.jobs import Progress
from gui.bridge import TaskRunner
from gui.explainer import CamView
from gui.notices import Notice
from gui.results_model import ResultsModel, RowState
from gui.settings import Settings


class FileActions(QObject):
    changed = Signal()  # copying started, progressed or ended
    notice = Signal(object)  # Notice

    def __init__(
        self, results: ResultsModel, settings: Settings, io: TaskRunner, parent: QObject | None
    ) -> None:
        super().__init__(parent)
        self.results = results
        self.settings = settings
        self.io = io
        self.copying: Activity | None = None

    def export(self, path: Path) -> None:
        """Write every row with a known outcome; say how many images are not in the file."""
        results = self.results.results()
        waiting = self.results.counts()[RowState.WAITING]
        top_k = max((len(r.prediction.labels) for r in results if r.prediction), default=1)

        def saved(rows: int) -> None:
            self.settings.set_folder("export", path.parent)
            level = "warning" if waiting else "info"
            self.notice.emit(Notice(level, export_summary(rows, waiting, path)))

        self.io.submit(
            lambda ctx: write_results(path, results, top_k=top_k),
            result=saved,
            error=lambda exc: self._failed(f"Could not export the results to {path}", exc),
        )

    def sort_copies(self, plan: SortPlan) -> None:
        def copy(ctx):  # type: ignore[no-untyped-def]
            return execute_sort(
                plan, cancel=ctx.cancel, on_progress=lambda d, t: ctx.report((d, t))
            )

        self.io.submit(
            copy,
            progress=self._copy_progress,
            result=lambda report: self._sorted(report, plan.destination),
            error=self._copy_failed,
            cancelled=self._copy_cancelled,
        )
        self.copying = Activity("Copying files", None, cancellable=True)
        self.changed.emit()

    def cancel_copying(self) -> None:
        if self.copying is not None:
            self.io.cancel_all()

    def save_view(self, view: CamView, out: Path, mode: ViewMode, alpha: float) -> None:
        """Save what the viewer shows, at the photo's full size."""
        source, heatmap = view.path, view.explanation.heatmap

        def saved(_value: object) -> None:
            self.settings.set_folder("overlay", out.parent)
            self.notice.emit(Notice("info", f"Saved the view to {out}."))

        self.io.submit(
            lambda ctx: save_view(source, heatmap, out, mode=mode, alpha=alpha),
            result=saved,
            error=lambda exc: self._failed(f"Could not save the view to {out}", exc),
        )

    def _copy_progress(self, payload: tuple[int, int]) -> None:
        if self.copying is not None:
            done, total = payload
            progress = Progress(done, total, 0, 0.0, 0.0, None)
            self.copying = Activity("Copying files", progress, cancellable=True)
            self.changed.emit()

    def _sorted(self, report: SortReport, destination: Path) -> None:
        self.copying = None
        self.settings.set_folder("sort", destination)
        text = f"Copied {len(report.copied)} files into {destination}."
        if report.failed:
            path, reason = report.failed[0]
            text += f" {len(report.failed)} could not be copied (first: {path.name}: {reason})."
        self.notice.emit(Notice("warning" if report.failed else "info", text))
        self.changed.emit()

    def _copy_cancelled(self) -> None:
        self.copying = None
        self.notice.emit(Notice("info", "Copying cancelled; files already copied stay."))
        self.changed.emit()

    def _copy_failed(self, exc: BaseException) -> None:
        self.copying = None
        self.changed.emit()
        self._failed("Could not sort the copies", exc)

    def _failed(self, what: str, exc: BaseException) -> None:
        self.notice.emit(Notice("error", f"{what}: {message_of(exc)}"))
