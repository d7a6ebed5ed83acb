"""GUI test fixtures: isolated settings, scripted file pickers, no leftover threads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gui.settings import Settings


def photo_folder(folder: Path, count: int, distinct: int) -> Path:
    """``count`` small PNG photos (``distinct`` different ones, repeated) in ``folder``: enough
    for a batch to be still running when a test acts on it."""
    from tests.conftest import photo

    for i in range(count):
        photo(80, 64, seed=i % distinct).save(folder / f"p{i:04d}.png", compress_level=1)
    return folder


@pytest.fixture(autouse=True)
def no_leftover_threads() -> Iterator[None]:
    """Fail a test that leaves a thread running (a worker someone forgot to stop)."""
    before = set(threading.enumerate())
    yield
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    for thread in leftover:
        thread.join(timeout=10)
    still = [t.name for t in leftover if t.is_alive()]
    assert not still, f"threads still running after the test: {still}"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings in a fresh INI file: nothing from this machine, nothing left behind."""
    return Settings.at(tmp_path / "settings" / "reslens.ini")


class ScriptedPrompts:
    """Answers the window's file and folder questions from attributes set by a test."""

    def __init__(self) -> None:
        self.files: list[str] = []
        self.folder: str | None = None
        self.results_path: str | None = None
        self.png_path: str | None = None
        self.model_path: str | None = None
        self.weights_path: str | None = None
        self.wait_answer: str | None = "now"
        self.clear_answer = True
        self.close_answer: str | None = "close"
        self.asked: list[str] = []

    def open_files(self, start: str) -> list[str]:
        self.asked.append("open_files")
        return self.files

    def open_folder(self, start: str) -> str | None:
        self.asked.append("open_folder")
        return self.folder

    def choose_folder(self, title: str, start: str) -> str | None:
        self.asked.append("choose_folder")
        return self.folder

    def save_results(self, start: str) -> str | None:
        self.asked.append("save_results")
        return self.results_path

    def save_png(self, start: str, name: str) -> str | None:
        self.asked.append("save_png")
        return self.png_path

    def open_model_file(self, start: str) -> str | None:
        self.asked.append("open_model_file")
        return self.model_path

    def open_weights_file(self, start: str) -> str | None:
        self.asked.append("open_weights_file")
        return self.weights_path

    def ask_wait(self, question: str) -> str | None:
        self.asked.append(f"ask_wait: {question}")
        return self.wait_answer

    def confirm_clear(self, rows: int) -> bool:
        self.asked.append(f"confirm_clear: {rows}")
        return self.clear_answer

    def ask_close(self, classified: int, waiting: int) -> str | None:
        self.asked.append(f"ask_close: {classified} {waiting}")
        return self.close_answer


@pytest.fixture
def prompts() -> ScriptedPrompts:
    return ScriptedPrompts()


@pytest.fixture
def window(qtbot, settings: Settings, prompts: ScriptedPrompts, tiny_model_file: Path):  # type: ignore[no-untyped-def]
    """The real main window with the tiny test model loaded, closed after the test."""
    from gui.main_window import MainWindow
    from gui.options import StartOptions

    win = MainWindow(settings, prompts=prompts, options=StartOptions(model=str(tiny_model_file)))
    win.show()
    with qtbot.waitSignal(win.controller.model_loaded, timeout=180_000):  # a busy CI machine
        win.start()
    yield win
    win.close()
    win.deleteLater()


def drop(window, paths: list[Path]) -> None:  # type: ignore[no-untyped-def]
    """Drag ``paths`` over the window and drop them, as a file manager would."""
    from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    where = window.results_view.mapTo(window, QPoint(40, 40))
    buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(QPointF(where), Qt.DropAction.CopyAction, mime, buttons, mods)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    event = QDropEvent(QPointF(where), Qt.DropAction.CopyAction, mime, buttons, mods)
    QApplication.sendEvent(window, event)
    assert event.isAccepted()


def wait_until_classified(qtbot, window, rows: int) -> None:  # type: ignore[no-untyped-def]
    from gui.results_model import RowState

    def done() -> bool:
        model = window.controller.results
        return (
            model.rowCount() == rows
            and model.counts()[RowState.WAITING] == 0
            and not window.progress.isVisible()
        )

    qtbot.waitUntil(done, timeout=60_000)
