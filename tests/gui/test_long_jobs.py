"""Cancelling, closing during a job, and errors on workers, with the real window and engine."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from gui.bridge import TaskRunner
from gui.main_window import MainWindow
from gui.results_model import RowState
from tests.gui.conftest import drop, photo_folder, wait_until_classified

MANY = 300


@pytest.fixture(scope="module")
def many_photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return photo_folder(tmp_path_factory.mktemp("many"), MANY, distinct=50)


def _when_first_results_arrive(window: MainWindow, action) -> None:  # type: ignore[no-untyped-def]
    """Run ``action`` on the GUI thread as soon as the first chunk of results is shown."""

    def on_activity(activity: object) -> None:
        progress = getattr(activity, "progress", None)
        if progress is not None and progress.done > 0:
            window.controller.activity_changed.disconnect(on_activity)
            action()

    window.controller.activity_changed.connect(on_activity)


def test_escape_cancels_a_long_job_and_the_next_job_runs(
    qtbot, window: MainWindow, many_photos: Path
) -> None:
    _when_first_results_arrive(
        window, lambda: qtbot.keyClick(window.results_view, Qt.Key.Key_Escape)
    )
    drop(window, [many_photos])
    qtbot.waitUntil(lambda: "Cancelled" in window.messages.text(), timeout=60_000)
    assert not window.progress.isVisible()
    qtbot.waitUntil(window.controller.is_idle, timeout=30_000)
    counts = window.controller.results.counts()
    assert counts[RowState.WAITING] > MANY // 2  # it stopped early
    assert counts[RowState.CLASSIFIED] > 0
    assert window.commands.classify_waiting.isEnabled()
    window.commands.classify_waiting.trigger()  # F5: classify the rest
    wait_until_classified(qtbot, window, rows=MANY)
    assert window.controller.results.counts()[RowState.CLASSIFIED] == MANY


def test_cancel_button_stops_the_job(qtbot, window: MainWindow, many_photos: Path) -> None:
    _when_first_results_arrive(
        window,
        lambda: qtbot.mouseClick(window.progress.cancel_button, Qt.MouseButton.LeftButton),
    )
    drop(window, [many_photos])
    qtbot.waitUntil(lambda: "Cancelled" in window.messages.text(), timeout=60_000)
    qtbot.waitUntil(window.controller.is_idle, timeout=30_000)
    assert window.controller.results.counts()[RowState.WAITING] > 0


def test_closing_the_window_during_a_job_stops_every_worker(
    qtbot, window: MainWindow, many_photos: Path
) -> None:
    closed = threading.Event()

    def close() -> None:
        window.close()
        closed.set()

    _when_first_results_arrive(window, close)
    drop(window, [many_photos])
    qtbot.waitUntil(closed.is_set, timeout=60_000)
    assert not window.isVisible()
    workers = [t.name for t in threading.enumerate() if t.name.startswith("reslens-")]
    assert workers == []  # close waited for them; the thread fixture double-checks


def test_each_task_reports_to_its_own_callbacks_on_the_gui_thread(qtbot) -> None:
    runner = TaskRunner("test")
    seen: list[tuple[str, object, bool]] = []
    main = threading.get_ident()

    def note(kind: str):  # type: ignore[no-untyped-def]
        return lambda value=None: seen.append((kind, value, threading.get_ident() == main))

    def broken(ctx):  # type: ignore[no-untyped-def]
        ctx.report("half way")
        raise RuntimeError("boom")

    runner.submit(broken, progress=note("progress"), error=note("error"), result=note("wrong"))
    with qtbot.waitSignal(runner.finished, timeout=10_000):
        runner.submit(lambda ctx: 42, result=note("result"), error=note("wrong"))
    runner.shutdown()
    assert [k for k, _, _ in seen] == ["progress", "error", "result"]
    assert seen[0][1] == "half way"
    assert isinstance(seen[1][1], RuntimeError) and seen[2][1] == 42
    assert all(on_gui for _, _, on_gui in seen)


def test_latest_first_runner_drops_old_requests_and_says_so(qtbot) -> None:
    runner = TaskRunner("latest", max_pending=1)
    gate = threading.Event()
    done: list[int] = []
    dropped: list[int] = []
    runner.submit(lambda ctx: gate.wait(10) and 0)
    qtbot.waitUntil(lambda: not runner._queue, timeout=5_000)  # the first one is running
    runner.submit(lambda ctx: 1, result=done.append, cancelled=lambda: dropped.append(1))
    runner.submit(lambda ctx: 2, result=done.append, cancelled=lambda: dropped.append(2))
    assert dropped == [1]
    with qtbot.waitSignal(runner.finished, timeout=10_000, check_params_cb=lambda t, v: v == 2):
        gate.set()
    runner.shutdown()
    assert done == [2]


def test_an_unexpected_error_while_classifying_is_shown_and_the_next_job_runs(
    qtbot, window: MainWindow, image_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    classifier = window.controller.classifier
    calls = {"n": 0}
    original = classifier.predict_batch

    def flaky(batch, top_k=5):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("simulated crash inside the model")
        return original(batch, top_k)

    monkeypatch.setattr(classifier, "predict_batch", flaky)
    drop(window, [image_folder])
    qtbot.waitUntil(lambda: window.messages.level == "error", timeout=30_000)
    assert "simulated crash" in window.messages.text()
    assert not window.progress.isVisible()
    window.commands.classify_waiting.trigger()
    wait_until_classified(qtbot, window, rows=7)
    assert window.controller.results.counts()[RowState.CLASSIFIED] == 5
