"""The window's file commands as the user goes through them: open, paste, export, sort, save,
clear, close. Each asks what it must (via :class:`~gui.dialogs.prompts.Prompts`) and hands
the work to the controller.

Export and Sort say how many images are not classified yet and offer to wait for them;
Clear asks first; closing during a batch offers to keep what was classified.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMainWindow

from engine.inference.results import write_results
from engine.inference.session import describe_failure, waiting_question
from gui.controller import Controller
from gui.dialogs.prompts import Prompts
from gui.dialogs.sort_copies import SortCopiesDialog
from gui.notices import Notice
from gui.results_model import RowState
from gui.settings import Settings
from gui.widgets.drop import paths_from_mime


class FileFlows:
    def __init__(
        self,
        window: QMainWindow,
        controller: Controller,
        settings: Settings,
        prompts: Prompts,
        notify: Callable[[Notice], None],
    ) -> None:
        self.window = window
        self.controller = controller
        self.settings = settings
        self.prompts = prompts
        self.notify = notify
        self.sort_dialog: SortCopiesDialog | None = None

    def open_files(self) -> None:
        paths = self.prompts.open_files(self.settings.folder("open"))
        if paths:
            self.settings.set_folder("open", Path(paths[0]).parent)
            self.controller.add_paths(paths)

    def open_folder(self) -> None:
        folder = self.prompts.open_folder(self.settings.folder("open"))
        if folder:
            self.settings.set_folder("open", Path(folder).parent)
            self.controller.add_paths([folder])

    def paste(self) -> None:
        paths = paths_from_mime(QGuiApplication.clipboard().mimeData())
        if paths:
            self.controller.add_paths(paths)
        else:
            self.notify(Notice("warning", "The clipboard holds no paths of files or folders."))

    def export(self) -> None:
        path = self.prompts.save_results(self.settings.folder("export"))
        if path:
            self._when_ready("exporting", lambda: self.controller.export(Path(path)))

    def sort_copies(self) -> None:
        self._when_ready("sorting", self._open_sort_dialog)

    def _when_ready(self, action: str, then: Callable[[], None]) -> None:
        """Run ``then`` now, or after the waiting images are classified if the user says so."""
        waiting = self.controller.waiting()
        if not waiting or self.controller.classifier is None:
            then()
            return
        answer = self.prompts.ask_wait(waiting_question(action, waiting))
        if answer == "wait":
            self.notify(
                Notice(
                    "info",
                    f"{action.capitalize()} once the {waiting} waiting images are classified…",
                )
            )
            self.controller.after_classified(then)
        elif answer == "now":
            then()

    def _open_sort_dialog(self) -> None:
        c = self.controller
        dialog = SortCopiesDialog(
            c.results.results(include_skipped=False),
            c.sources,
            self.settings.folder("sort") if self.settings.q.contains("folders/sort") else "",
            lambda start: self.prompts.choose_folder("Sort Copies into…", start),
            self.window,
            waiting=c.waiting(),
        )
        dialog.accepted.connect(lambda: self._start_sort(dialog))
        self.sort_dialog = dialog
        dialog.open()

    def _start_sort(self, dialog: SortCopiesDialog) -> None:
        plan = dialog.plan()
        if plan is not None:
            self.controller.sort_copies(plan)

    def save_view(self, mode: str, alpha: float) -> None:
        view = self.controller.explainer.current
        if view is None:
            self.notify(Notice("warning", "Select an image and wait for its heat map first."))
            return
        path = self.prompts.save_png(
            self.settings.folder("overlay"), f"{view.path.stem}-{mode}.png"
        )
        if path:
            self.controller.save_overlay(Path(path), mode, alpha)  # type: ignore[arg-type]

    def clear(self) -> bool:
        """Empty the list after asking; False if the user kept it."""
        rows = self.controller.results.rowCount()
        if rows and not self.prompts.confirm_clear(rows):
            return False
        self.controller.clear()
        return True

    def may_close(self) -> bool:
        """Closing during a batch: offer to save what is classified. False: stay open."""
        c = self.controller
        if not c.session.running:
            return True
        counts = c.results.counts()
        answer = self.prompts.ask_close(counts[RowState.CLASSIFIED], counts[RowState.WAITING])
        if answer == "save":
            return self._save_before_closing()
        return answer == "close"

    def _save_before_closing(self) -> bool:
        path = self.prompts.save_results(self.settings.folder("export"))
        if not path:
            return False
        results = self.controller.results.results()
        top_k = max((len(r.prediction.labels) for r in results if r.prediction), default=1)
        try:
            write_results(path, results, top_k=top_k)  # small, and the window is closing
        except (OSError, ValueError) as exc:
            self.notify(
                Notice("error", f"Could not save the results to {path}: {describe_failure(exc)}")
            )
            return False
        self.settings.set_folder("export", Path(path).parent)
        return True
