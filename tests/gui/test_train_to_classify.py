"""From the Train tab to the Classify tab: a model trained in the window classifies there."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from gui.main_window import MainWindow
from tests.engine.labeled_folders import make_labeled_folder

TIMEOUT_MS = 120_000
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _train(qtbot, window: MainWindow, data: Path, out: Path) -> None:  # type: ignore[no-untyped-def]
    tab = window.training_tab
    assert tab is not None
    tab.set_output(out)
    tab.set_folder(data)
    qtbot.waitUntil(tab.start_button.isEnabled, timeout=TIMEOUT_MS)
    tab.options.epochs.setValue(1)
    tab.options.set_image_size(32)
    tab.options.batch_size.setValue(8)
    tab.result = None
    qtbot.mouseClick(tab.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.result is not None, timeout=TIMEOUT_MS)


def test_use_this_model_classifies_with_the_model_just_trained(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    data = make_labeled_folder(tmp_path / "labeled", per_class=6, size=32)
    out = tmp_path / "labeled.reslens"
    window.tabs.setCurrentIndex(1)
    assert window.tabs.tabText(1) == "Train" and window.training_tab is not None
    _train(qtbot, window, data, out)
    with qtbot.waitSignal(window.controller.model_loaded, timeout=60_000):
        qtbot.mouseClick(window.training_tab.use_button, Qt.MouseButton.LeftButton)
    assert window.controller.choice is not None and window.controller.choice.spec == str(out)
    assert "labeled.reslens" in window.model_status.text()
    assert window.controller.classifier.class_names == ("checks", "horizontal", "vertical")
