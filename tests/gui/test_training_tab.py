"""The Train tab driven like a user: pick a folder, read its health, train, cancel, resume, use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QLabel

from gui.training.tab import TrainingTab
from tests.engine.labeled_folders import make_labeled_folder, pattern

TIMEOUT_MS = 300_000  # a shared CI machine can be slow; a healthy run takes seconds


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def tab(qtbot) -> Iterator[TrainingTab]:  # type: ignore[no-untyped-def]
    widget = TrainingTab()
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    widget.shutdown()


def _pick(qtbot, tab: TrainingTab, folder: Path, out: Path, *, epochs: int) -> None:  # type: ignore[no-untyped-def]
    tab.set_output(out)
    tab.set_folder(folder)
    qtbot.waitUntil(tab.start_button.isEnabled, timeout=TIMEOUT_MS)
    tab.options.epochs.setValue(epochs)
    tab.options.set_image_size(32)
    tab.options.batch_size.setValue(8)


def test_health_report_training_curves_grad_cam_and_use_model(
    qtbot,  # type: ignore[no-untyped-def]
    tab: TrainingTab,
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    make_labeled_folder(data / "train", per_class=10, size=36, seed=1)
    make_labeled_folder(data / "val", per_class=3, size=36, seed=2)
    # A vertical-stripe image filed under "horizontal": the model should get it "wrong".
    odd = pattern("vertical", 36, np.random.default_rng(5))
    Image.fromarray(odd).save(data / "val" / "horizontal" / "odd_one.png")
    out = tmp_path / "model.reslens"
    _pick(qtbot, tab, data, out, epochs=2)
    data_page = tab.pages.data
    assert "3 classes, 40 images" in data_page.summary.text()
    assert "train/ and val/ folders" in data_page.summary.text()
    assert data_page.classes.rowCount() == 3  # one row per class, with example thumbnails
    assert data_page.classes.item(1, 0).text() == "horizontal"
    assert data_page.classes.item(1, 1).text() == "14"
    assert data_page.classes.cellWidget(1, 2).findChildren(QLabel)[0].pixmap().width() > 0

    tab.pages.go(1)
    qtbot.mouseClick(tab.start_button, _left())
    assert tab.cancel_button.isEnabled() and not tab.start_button.isEnabled()
    assert tab.pages.stack.currentIndex() == 2  # step 3: the live curves
    steps_seen: list[int] = []
    qtbot.waitUntil(
        lambda: steps_seen.append(len(tab.curves.step_points)) or len(tab.curves.history) >= 1,
        timeout=TIMEOUT_MS,
    )
    assert tab.curves.step_points  # the loss curve moved within the first epoch
    qtbot.waitUntil(lambda: tab.result is not None, timeout=TIMEOUT_MS)
    result = tab.result
    assert result is not None and result.stopped == "completed" and out.is_file()
    assert len(tab.curves.history) == 2
    assert tab.progress_bar.value() == tab.progress_bar.maximum()
    assert tab.pages.stack.currentIndex() == 3  # step 4: results
    assert "balanced accuracy" in tab.results.metrics.toPlainText()
    assert "Training finished" in tab.status.text()

    names = [m.path.name for m in result.misclassified]
    assert "odd_one.png" in names and tab.results.mistakes.count() == len(names)
    # Every mistake's thumbnail becomes its Grad-CAM; clicking one shows it large.
    qtbot.waitUntil(
        lambda: all(tab.results.has_cam(m.path) for m in result.misclassified), timeout=TIMEOUT_MS
    )
    tab.results.mistakes.setCurrentRow(names.index("odd_one.png"))
    assert not tab.results.cam.pixmap().isNull()
    assert "odd_one.png: predicted" in tab.results.cam_caption.text()
    # A confusion-matrix cell filters the grid to that pair of classes.
    odd = result.misclassified[names.index("odd_one.png")]
    row = result.class_names.index(odd.true_label)
    column = result.class_names.index(odd.predicted_label)
    confusion = tab.results.confusion
    qtbot.mouseClick(
        confusion.viewport(),
        _left(),
        pos=confusion.visualItemRect(confusion.item(row, column)).center(),
    )
    shown = tab.results.visible_mistakes()
    assert odd in shown
    assert all(
        (m.true_label, m.predicted_label) == (odd.true_label, odd.predicted_label) for m in shown
    )
    assert f"taken for {odd.predicted_label}" in tab.results.filter_label.text()

    with qtbot.waitSignal(tab.model_ready, timeout=5_000) as ready:
        qtbot.mouseClick(tab.use_button, _left())
    assert ready.args == [str(out)]


def test_cancel_keeps_best_model_then_resume_finishes(
    qtbot,  # type: ignore[no-untyped-def]
    tab: TrainingTab,
    tmp_path: Path,
) -> None:
    data = make_labeled_folder(tmp_path / "data", per_class=10, size=36)
    out = tmp_path / "m.reslens"
    _pick(qtbot, tab, data, out, epochs=3)
    qtbot.mouseClick(tab.start_button, _left())
    qtbot.waitUntil(lambda: len(tab.curves.history) >= 1, timeout=TIMEOUT_MS)
    qtbot.mouseClick(tab.cancel_button, _left())
    qtbot.waitUntil(lambda: tab.result is not None, timeout=TIMEOUT_MS)
    assert tab.result is not None and tab.result.stopped == "cancelled"
    assert out.is_file() and "best model so far" in tab.status.text()
    assert tab.resume_box.isEnabled() and tab.use_button.isEnabled()

    tab.resume_box.setChecked(True)
    qtbot.mouseClick(tab.start_button, _left())
    qtbot.waitUntil(
        lambda: tab.result is not None and tab.result.stopped == "completed", timeout=TIMEOUT_MS
    )
    assert len(tab.result.history) == 3
    assert not tab.resume_box.isEnabled()  # finished: the state file is gone


def test_unusable_folder_shows_why_and_cannot_start(
    qtbot,  # type: ignore[no-untyped-def]
    tab: TrainingTab,
    tmp_path: Path,
) -> None:
    data = make_labeled_folder(tmp_path / "data", per_class=4, size=16, classes=("checks",))
    tab.set_folder(data)
    problems = tab.pages.data.problem_texts
    qtbot.waitUntil(lambda: any("at least two" in p for p in problems()), timeout=TIMEOUT_MS)
    assert not tab.start_button.isEnabled()
    assert not tab.pages.steps.button(1).isEnabled()  # step 2 stays closed
    tab.set_folder(tmp_path / "nowhere")
    qtbot.waitUntil(lambda: any("is not a folder" in p for p in problems()), timeout=TIMEOUT_MS)


def _left():  # type: ignore[no-untyped-def]
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton
