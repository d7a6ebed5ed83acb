"""Choosing models: missing pretrained weights, weights files, model files, the Train tab."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from gui.main_window import MainWindow
from gui.options import StartOptions
from gui.settings import Settings
from tests.gui.conftest import ScriptedPrompts, drop, wait_until_classified


@pytest.fixture
def offline_window(qtbot, settings: Settings, prompts: ScriptedPrompts):  # type: ignore[no-untyped-def]
    """A first run offline: the default-style choice of a stock architecture without weights."""
    win = MainWindow(settings, prompts=prompts, options=StartOptions(model="resnet18"))
    win.show()
    with qtbot.waitSignal(win.controller.loader.weights_missing, timeout=120_000):
        win.start()
    yield win
    win.close()
    win.deleteLater()


@pytest.fixture(scope="module")
def resnet18_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from engine.models.registry import build_model

    path = tmp_path_factory.mktemp("weights") / "my-resnet18.pth"
    torch.save(build_model("resnet18").state_dict(), path)
    return path


def test_missing_weights_dialog_names_the_file_and_the_folder(
    qtbot, offline_window: MainWindow, torch_home: Path
) -> None:
    dialog = offline_window.models.missing_weights
    assert dialog is not None and dialog.isVisible()
    assert not dialog.isModal()  # the window stays usable behind it
    assert dialog.file_label.text() == "resnet18-f37072fd.pth"
    assert dialog.folder_label.text() == str(torch_home / "hub" / "checkpoints")
    assert dialog.url_label.text().startswith("https://download.pytorch.org/models/")
    assert "downloading them failed" in dialog.reason.text()
    assert offline_window.model_status.text() == "No model loaded"
    # Retrying offline fails again: the dialog says so, nothing crashes or freezes.
    with qtbot.waitSignal(offline_window.controller.loader.weights_missing, timeout=30_000):
        qtbot.mouseClick(dialog.retry_button, Qt.MouseButton.LeftButton)
    assert offline_window.models.missing_weights is dialog and dialog.retry_button.isEnabled()
    assert "network access is disabled" in dialog.reason.text()


def test_choosing_a_weights_file_loads_the_model_and_remembers_it(
    qtbot,
    offline_window: MainWindow,
    prompts: ScriptedPrompts,
    resnet18_weights: Path,
    settings: Settings,
    image_folder: Path,
) -> None:
    drop(offline_window, [image_folder / "img0.jpg"])  # files wait for a model meanwhile
    qtbot.waitUntil(lambda: offline_window.controller.results.rowCount() == 1, timeout=30_000)
    dialog = offline_window.models.missing_weights
    prompts.weights_path = str(resnet18_weights)
    with qtbot.waitSignal(offline_window.controller.model_loaded, timeout=120_000):
        qtbot.mouseClick(dialog.choose_button, Qt.MouseButton.LeftButton)
    assert offline_window.models.missing_weights is None
    assert "ResNet-18" in offline_window.model_status.text()
    assert str(resnet18_weights) in offline_window.model_status.text()
    assert settings.weights_file("resnet18") == str(resnet18_weights)
    wait_until_classified(qtbot, offline_window, rows=1)


def test_picking_a_model_file_while_weights_are_missing(
    qtbot, offline_window: MainWindow, prompts: ScriptedPrompts, tiny_model_file: Path
) -> None:
    offline_window.models.missing_weights.reject()
    prompts.model_path = str(tiny_model_file)
    with qtbot.waitSignal(offline_window.controller.model_loaded, timeout=120_000):
        offline_window.commands.open_model.trigger()
    assert "tiny.reslens" in offline_window.model_status.text()
    assert offline_window.model_bar.model.currentData() == str(tiny_model_file)


def test_random_weights_are_labelled_as_a_demo(qtbot, settings: Settings) -> None:
    options = StartOptions(model="resnet18", weights="none")
    win = MainWindow(settings, options=options)
    win.show()
    with qtbot.waitSignal(win.controller.model_loaded, timeout=120_000):
        win.start()
    assert win.model_status.text().startswith("DEMO, random weights")
    assert "meaningless" in win.messages.text()
    win.close()
    win.deleteLater()
    # A demo is never remembered: the next start does not come back to random weights.
    again = Settings.at(settings.q.fileName())
    assert again.model != "resnet18"
    assert not again.q.contains("weights/resnet18")


def test_a_broken_model_file_is_a_message_not_a_crash(
    qtbot, window: MainWindow, prompts: ScriptedPrompts, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.reslens"
    bad.write_bytes(b"definitely not safetensors")
    prompts.model_path = str(bad)
    with qtbot.waitSignal(window.controller.loader.failed, timeout=30_000):
        window.commands.open_model.trigger()
    assert window.messages.level == "error"
    assert "bad.reslens" in window.messages.text()


def test_an_onnx_model_file_classifies_and_explains(
    qtbot,
    window: MainWindow,
    prompts: ScriptedPrompts,
    tiny_model_file: Path,
    image_folder: Path,
    tmp_path: Path,
) -> None:
    from engine.inference.loader import load_classifier
    from engine.onnx.export import export_verified

    data, _ = export_verified(load_classifier(tiny_model_file, device="cpu"))
    onnx_file = tmp_path / "tiny.onnx"
    onnx_file.write_bytes(data)
    prompts.model_path = str(onnx_file)
    with qtbot.waitSignal(window.controller.model_loaded, timeout=120_000):
        window.commands.open_model.trigger()
    assert "onnxruntime" in window.model_status.text()
    drop(window, [image_folder / "img2.jpg"])
    wait_until_classified(qtbot, window, rows=1)
    qtbot.waitUntil(lambda: window.controller.explainer.current is not None, timeout=30_000)
    assert window.inspector.viewer.has_heat()


def test_a_weights_file_of_another_network_says_why_in_the_dialog(
    qtbot, offline_window: MainWindow, prompts: ScriptedPrompts, tmp_path: Path
) -> None:
    import torch

    from engine.models.registry import build_model

    wrong = tmp_path / "three-classes.pth"  # a ResNet-18 with a 3-class head: does not fit
    torch.save(build_model("resnet18", num_classes=3).state_dict(), wrong)
    dialog = offline_window.models.missing_weights
    prompts.weights_path = str(wrong)
    with qtbot.waitSignal(offline_window.controller.loader.failed, timeout=120_000):
        qtbot.mouseClick(dialog.choose_button, Qt.MouseButton.LeftButton)
    assert offline_window.models.missing_weights is dialog and dialog.isVisible()
    assert "cannot be used" in dialog.reason.text()
    assert "does not fit resnet18" in dialog.reason.text()
    assert dialog.choose_button.isEnabled()
