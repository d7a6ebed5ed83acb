"""From the Train tab to the Classify tab: a model trained in the window classifies there;
retraining it reloads it; an existing model file is never replaced without asking; a report
that no browser can show offers its folder and path."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QPushButton

from engine.inference.loader import load_classifier
from gui.main_window import MainWindow
from tests.engine.labeled_folders import make_labeled_folder
from tests.gui.conftest import drop, wait_until_classified

TIMEOUT_MS = 300_000  # a shared CI machine can be slow; a healthy run takes seconds
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _train(qtbot, window: MainWindow, data: Path, *, seed: int = 0) -> Path:  # type: ignore[no-untyped-def]
    tab = window.training_tab
    assert tab is not None
    if tab.scan is None:
        tab.set_folder(data)
    qtbot.waitUntil(tab.start_button.isEnabled, timeout=TIMEOUT_MS)
    tab.options.epochs.setValue(1)
    tab.options.set_image_size(32)
    tab.options.batch_size.setValue(8)
    tab.options.seed.setValue(seed)
    tab.result = None
    qtbot.mouseClick(tab.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.result is not None, timeout=TIMEOUT_MS)
    return tab.result.model_path


def test_train_use_retrain_reloads_and_nothing_is_overwritten_silently(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    data = make_labeled_folder(tmp_path / "labeled", per_class=6, size=32)
    photos = tmp_path / "photos"
    make_labeled_folder(photos, per_class=2, size=32, seed=7)
    out = tmp_path / "labeled.reslens"
    size = window.size()
    window.tabs.setCurrentIndex(1)
    tab = window.training_tab
    assert tab is not None
    tab.set_folder(data)
    qtbot.waitUntil(lambda: tab.output_edit.text() == str(out), timeout=10_000)
    assert _train(qtbot, window, data) == out

    # Use This Model: the Classify tab, the new model, and a line that says so.
    said: list[str] = []
    window.messages.shown.connect(lambda _level, text: said.append(text))
    with qtbot.waitSignal(window.controller.model_loaded, timeout=TIMEOUT_MS):
        qtbot.mouseClick(tab.use_button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentIndex() == 0
    assert window.controller.choice.spec == str(out)
    assert any("Now classifying with your new model labeled.reslens" in t for t in said)
    assert window.controller.classifier.class_names == ("checks", "horizontal", "vertical")
    drop(window, [photos])
    wait_until_classified(qtbot, window, rows=6)

    # Training again to the same name keeps the file in use: the new one is labeled-2.
    original = out.read_bytes()
    window.tabs.setCurrentIndex(1)
    second = _train(qtbot, window, data, seed=1)
    assert second == tmp_path / "labeled-2.reslens" and out.read_bytes() == original
    assert "saved as labeled-2.reslens" in tab.status.text()
    assert window.controller.choice.spec == str(out)  # not the model in use: no reload

    # Chosen in the save dialog, the file is replaced, and Classify reloads it by itself.
    tab.set_output(out, replace=True)
    with qtbot.waitSignal(window.controller.model_loaded, timeout=TIMEOUT_MS):
        _train(qtbot, window, data, seed=2)
    assert out.read_bytes() != original
    assert any("labeled.reslens was retrained" in t for t in said)
    wait_until_classified(qtbot, window, rows=6)
    fresh = load_classifier(out, device="cpu")
    model = window.controller.results
    for row in range(model.rowCount()):
        shown = model.result(row).prediction
        expected = fresh.predict([_image(model.path(row))], top_k=3)[0]
        assert shown.labels == expected.labels
        assert max(abs(a - b) for a, b in zip(shown.probs, expected.probs, strict=True)) < 1e-3
    assert window.size() == size  # no step of all this grew the window


def test_a_report_no_browser_can_open_offers_the_folder_and_the_path(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    data = make_labeled_folder(tmp_path / "labeled", per_class=6, size=32)
    window.tabs.setCurrentIndex(1)
    tab = window.training_tab
    _train(qtbot, window, data)
    asked: list[str] = []

    def no_browser(url: QUrl) -> bool:
        asked.append(url.toLocalFile())
        return False

    tab.report.open_url = no_browser
    qtbot.mouseClick(tab.report_button, Qt.MouseButton.LeftButton)
    box = tab.report.fallback
    assert box is not None and box.isVisible()
    report = str(tab.result.report_path)
    assert asked == [report] and report in box.text()
    buttons = {b.text(): b for b in box.findChildren(QPushButton)}
    qtbot.mouseClick(buttons["Copy Path"], Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == report
    qtbot.mouseClick(buttons["Open Folder"], Qt.MouseButton.LeftButton)
    assert asked[-1] == str(Path(report).parent)
    assert "copied" in box.text()  # the folder failed too: the path is on the clipboard
    box.close()


def _image(path: Path):  # type: ignore[no-untyped-def]
    from engine.imaging.decode import load_image

    return load_image(path)
